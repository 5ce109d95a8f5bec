//! Get Event Field Common Values: the most common values of some event fields among the
//! events an event search finds (e.g. the source addresses of an alert's events).
//!
//! The search is Get Events' own; Sekoia.io counts the values of every field of the job's
//! events, and the action reads the job's field list (`.../fields`) page by page until it has
//! every field asked for.

use alertsync_engine::{Action, ActionContext, ActionError, ActionManifest, ActionOutput};
use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Value, json};

use super::arguments::properties;
use super::events::{EventSearch, SEARCH_ARGUMENTS, job_path};
use super::shapes::Shape;
use super::{RestAction, rest_client};

/// Fields read per page of the job's field list.
const FIELDS_PAGE: u64 = 1000;
/// Pages of the field list read at most (a misbehaving server).
const MAX_FIELD_PAGES: u64 = 100;

/// Reads the most common values of event fields.
pub struct GetEventFieldCommonValues {
    manifest: ActionManifest,
}

impl GetEventFieldCommonValues {
    pub fn new() -> Self {
        let (mut properties, mut required) = properties(SEARCH_ARGUMENTS);
        properties["fields"] = json!({"type": "string", "description": "The fields to read the values of, separated by commas (e.g. source.ip,destination.ip)"});
        required.push("fields");
        let manifest = RestAction {
            uuid: "e26662f6-c40d-45ae-bd3f-4f1a13684ffb",
            name: "Get Event Field Common Values",
            slug: "get_event_field_common_values",
            command: "get-event-field-common-values",
            description: "The most common values of event fields among the events a search finds",
            properties,
            required,
            results: Shape::FieldValues.schema(),
        };
        Self {
            manifest: manifest.manifest(),
        }
    }
}

impl Default for GetEventFieldCommonValues {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Action for GetEventFieldCommonValues {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let wanted = field_names(&args)?;
        let search = EventSearch::from_args(&args)?;
        let client = rest_client(cx, &args)?;
        let job_uuid = search.start(cx, &client).await?;
        let path = job_path(&job_uuid).then("fields");
        let mut found: Vec<Value> = Vec::new();
        let mut offset = 0;
        for _ in 0..MAX_FIELD_PAGES {
            let query = [
                ("limit", FIELDS_PAGE.to_string()),
                ("offset", offset.to_string()),
            ];
            let page = client.call(cx, Method::GET, &path, &query, None).await?;
            let items = page
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            offset += items.len() as u64;
            for item in &items {
                let name = item.get("name").and_then(Value::as_str).unwrap_or_default();
                if wanted.iter().any(|w| w == name) && !found.iter().any(|f| f["name"] == name) {
                    let values = item.get("most_common_values").cloned().unwrap_or(json!([]));
                    found.push(json!({"name": name, "common_values": values}));
                }
            }
            let total = page.get("total").and_then(Value::as_u64).unwrap_or(offset);
            if items.is_empty() || offset >= total || found.len() == wanted.len() {
                break;
            }
        }
        Ok(ActionOutput::new(json!({"fields": found})))
    }
}

/// The `fields` argument: names separated by commas; blanks and repeats are ignored, at
/// least one name is required.
fn field_names(args: &Value) -> Result<Vec<String>, ActionError> {
    let names: Vec<&str> = match args.get("fields") {
        Some(Value::String(text)) => text.split(',').collect(),
        _ => {
            return Err(ActionError::invalid_argument(
                "fields",
                "is required: field names separated by commas",
            ));
        }
    };
    let mut unique: Vec<String> = Vec::new();
    for name in names
        .into_iter()
        .map(str::trim)
        .filter(|name| !name.is_empty())
    {
        if !unique.iter().any(|known| known == name) {
            unique.push(name.to_owned());
        }
    }
    if unique.is_empty() {
        return Err(ActionError::invalid_argument(
            "fields",
            "names no field (expected e.g. source.ip,destination.ip)",
        ));
    }
    Ok(unique)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_are_split_on_commas_and_trimmed() {
        assert_eq!(
            field_names(&json!({"fields": " source.ip, ,host.name,source.ip "})).unwrap(),
            ["source.ip", "host.name"]
        );
        assert!(field_names(&json!({"fields": " , "})).is_err());
        assert!(field_names(&json!({})).is_err());
    }
}
