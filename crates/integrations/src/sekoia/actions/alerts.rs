//! Get Alert, Search Alerts and Edit Alert.

use alertsync_engine::{Action, ActionContext, ActionError, ActionManifest, ActionOutput};
use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::arguments::{Arg, Kind::*, opt, properties};
use super::shapes::Shape;
use super::{RestAction, rest_client};
use crate::args::{alert_id, optional_bool};
use crate::sekoia::client::ApiPath;

/// Reads one alert.
pub struct GetAlert {
    manifest: ActionManifest,
}

impl GetAlert {
    pub fn new() -> Self {
        let manifest = RestAction {
            uuid: "8d189665-5401-4098-8d60-944de9a6199a",
            name: "Get Alert",
            slug: "get_alert",
            command: "get-alerts/{uuid}",
            description: "Get an alert by its UUID or short id",
            properties: json!({
                "uuid": {"type": "string", "description": "The alert's UUID or short id"},
                "stix": {"type": "boolean", "description": "Return the alert's STIX bundle"},
                "cases": {"type": "boolean", "description": "Return the cases the alert belongs to"}
            }),
            required: vec!["uuid"],
            results: Shape::Alert.schema(),
        };
        Self {
            manifest: manifest.manifest(),
        }
    }
}

impl Default for GetAlert {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Action for GetAlert {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let id = alert_id(&args, "uuid")?;
        let mut query = Vec::new();
        for name in ["stix", "cases"] {
            if let Some(value) = optional_bool(&args, name)? {
                query.push((name, value.to_string()));
            }
        }
        let client = rest_client(cx, &args)?;
        let alert = client
            .call(cx, Method::GET, &ApiPath::alert(id), &query, None)
            .await?;
        Ok(ActionOutput::new(alert))
    }
}

/// Lists alerts matching filters.
pub struct SearchAlerts {
    manifest: ActionManifest,
}

/// The listing's parameters that are not filters.
const PLAIN_PARAMETERS: [&str; 10] = [
    "limit",
    "offset",
    "sort",
    "direction",
    "stix",
    "cases",
    "visible",
    "is_assigned_to_case",
    "similar_to",
    "with_count",
];

/// Filter families of the alert listing: `match[status_name]=Pending,Ongoing`, ...
const FILTER_FAMILIES: [&str; 4] = ["match", "nomatch", "date", "range"];

/// Search Alerts' arguments, as Sekoia.io declares them.
const SEARCH_ARGUMENTS: &[Arg] = &[
    opt("match[community_uuid]", Str),
    opt("match[entity_name]", Str),
    opt("match[entity_uuid]", Str),
    opt("match[status_uuid]", Str),
    opt("match[status_name]", Str),
    opt("match[type_category]", Str),
    opt("match[type_value]", Str),
    opt("match[source]", Str),
    opt("match[target]", Str),
    opt("match[node]", Str),
    opt("match[stix_object]", Str),
    opt("match[rule_uuid]", Str),
    opt("match[rule_name]", Str),
    opt("match[detection_type]", Str),
    opt("match[uuid]", Str),
    opt("match[title]", Str),
    opt("match[asset_uuid]", Str),
    opt("match[urgency_display]", Str),
    opt("match[case_short_id]", Str),
    opt("match[assignee]", Str),
    opt("match[custom_status_uuid]", Str),
    opt("match[verdict_uuid]", Str),
    opt("match[short_id]", Str),
    opt("date[created_at]", Str),
    opt("date[updated_at]", Str),
    opt("range[urgency]", Str),
    opt("range[similar]", Str),
    opt("nomatch[asset_uuid]", Str),
    opt("nomatch[entity_uuid]", Str),
    opt("nomatch[rule_uuid]", Str),
    opt("nomatch[rule_name]", Str),
    opt("nomatch[detection_type]", Str),
    opt("nomatch[source]", Str),
    opt("nomatch[target]", Str),
    opt("nomatch[status_uuid]", Str),
    opt("nomatch[stix_object]", Str),
    opt("nomatch[type_value]", Str),
    opt("nomatch[urgency_display]", Str),
    opt("nomatch[assignee]", Str),
    opt("nomatch[custom_status_uuid]", Str),
    opt("nomatch[verdict_uuid]", Str),
    opt("visible", Bool),
    opt("is_assigned_to_case", Bool),
    opt("similar_to", Str),
    opt("limit", Int),
    opt("offset", Int),
    opt("stix", Bool),
    opt("cases", Bool),
    opt("sort", Str),
    opt("direction", Str),
    opt("with_count", Bool),
];

impl SearchAlerts {
    pub fn new() -> Self {
        let (properties, required) = properties(SEARCH_ARGUMENTS);
        let manifest = RestAction {
            uuid: "050b7bc1-4df8-47bc-84e2-ec265821e18a",
            name: "Search Alerts",
            slug: "search_alerts",
            command: "get-alerts",
            description: "Search alerts with filters (match[...], nomatch[...], date[...], range[...])",
            properties,
            required,
            results: Shape::Page.schema(),
        };
        Self {
            manifest: manifest.manifest(),
        }
    }
}

impl Default for SearchAlerts {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Action for SearchAlerts {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let query = search_query(&args)?;
        let client = rest_client(cx, &args)?;
        let query: Vec<(&str, String)> =
            query.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let page = client
            .call(cx, Method::GET, &ApiPath::new("sic/alerts"), &query, None)
            .await?;
        Ok(ActionOutput::new(page))
    }
}

/// The listing's query string: paging, sorting, flags and every filter, given either as
/// `"match[field]": value` or as `"match": {"field": value}`.
fn search_query(args: &Value) -> Result<Vec<(String, String)>, ActionError> {
    let mut query = Vec::new();
    for name in PLAIN_PARAMETERS {
        if let Some(value) = args.get(name).filter(|v| !v.is_null()) {
            query.push((name.to_owned(), query_value(name, value)?));
        }
    }
    let Some(args) = args.as_object() else {
        return Ok(query);
    };
    for (name, value) in args.iter().filter(|(_, v)| !v.is_null()) {
        if is_filter(name) {
            query.push((name.clone(), query_value(name, value)?));
        } else if let (true, Some(fields)) =
            (FILTER_FAMILIES.contains(&name.as_str()), value.as_object())
        {
            for (field, value) in fields.iter().filter(|(_, v)| !v.is_null()) {
                query.push((
                    format!("{name}[{field}]"),
                    query_value(&format!("{name}.{field}"), value)?,
                ));
            }
        }
    }
    Ok(query)
}

/// `match[...]`, `nomatch[...]`, `date[...]` or `range[...]`.
fn is_filter(name: &str) -> bool {
    name.split_once('[').is_some_and(|(family, rest)| {
        FILTER_FAMILIES.contains(&family) && rest.len() > 1 && rest.ends_with(']')
    })
}

/// A query-string value: lists are comma-separated (OR within a field).
fn query_value(name: &str, value: &Value) -> Result<String, ActionError> {
    match value {
        Value::String(s) => Ok(s.trim().to_owned()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Array(items) => items
            .iter()
            .map(|item| query_value(name, item))
            .collect::<Result<Vec<_>, _>>()
            .map(|items| items.join(",")),
        Value::Null | Value::Object(_) => Err(ActionError::invalid_argument(
            name,
            "must be a string, a number, a boolean or a list of them",
        )),
    }
}

/// Changes an alert's title, details, urgency, type or kill chain step.
pub struct EditAlert {
    manifest: ActionManifest,
}

/// The alert fields Edit Alert may change.
const EDITABLE_FIELDS: [&str; 6] = [
    "title",
    "details",
    "urgency",
    "alert_type_category",
    "alert_type_value",
    "kill_chain_short_id",
];

impl EditAlert {
    pub fn new() -> Self {
        let manifest = RestAction {
            uuid: "113a06db-3cef-48ac-908b-45f3ebc4d1bf",
            name: "Edit Alert",
            slug: "edit_alert",
            command: "patch-alerts/{uuid}",
            description: "Change an alert's title, details, urgency, type or kill chain step",
            properties: json!({
                "uuid": {"type": "string", "description": "The alert's UUID or short id"},
                "title": {"type": "string"},
                "details": {"type": "string"},
                "urgency": {"type": "integer", "minimum": 0, "maximum": 100},
                "alert_type_category": {"type": "string"},
                "alert_type_value": {"type": "string"},
                "kill_chain_short_id": {"type": "string"}
            }),
            required: vec!["uuid"],
            results: Shape::Alert.schema(),
        };
        Self {
            manifest: manifest.manifest(),
        }
    }
}

impl Default for EditAlert {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Action for EditAlert {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let id = alert_id(&args, "uuid")?;
        let changes: Map<String, Value> = EDITABLE_FIELDS
            .iter()
            .filter_map(|field| {
                args.get(*field)
                    .filter(|v| !v.is_null())
                    .map(|v| ((*field).to_owned(), v.clone()))
            })
            .collect();
        if changes.is_empty() {
            return Err(ActionError::invalid_argument(
                "uuid",
                format!(
                    "nothing to change: give at least one of {}",
                    EDITABLE_FIELDS.join(", ")
                ),
            ));
        }
        let client = rest_client(cx, &args)?;
        let alert = client
            .call(
                cx,
                Method::PATCH,
                &ApiPath::alert(id),
                &[],
                Some(&Value::Object(changes)),
            )
            .await?;
        Ok(ActionOutput::new(alert))
    }
}
