//! Get Event Field Common Values: the most common values of some event fields among the
//! events an event search finds (e.g. the source addresses of an alert's events).
//!
//! The search is Get Events' own; the counting is done here, on the events read. A value
//! counts once per event holding it; values are listed most common first, ties in the
//! order they were first seen.

use std::collections::{HashMap, HashSet};

use alertsync_engine::{Action, ActionContext, ActionError, ActionManifest, ActionOutput};
use async_trait::async_trait;
use serde_json::{Value, json};

use super::RestAction;
use super::events::{EventSearch, search_properties};

/// Events read when `limit` is not given.
const DEFAULT_LIMIT: u64 = 1000;

/// Counts the values of event fields.
pub struct GetEventFieldCommonValues {
    manifest: ActionManifest,
}

impl GetEventFieldCommonValues {
    pub fn new() -> Self {
        let mut properties = search_properties(DEFAULT_LIMIT);
        properties["fields"] = json!({
            "type": ["string", "array"],
            "items": {"type": "string"},
            "description": "The fields to count the values of, separated by commas (e.g. source.ip,destination.ip)"
        });
        let manifest = RestAction {
            uuid: "e26662f6-c40d-45ae-bd3f-4f1a13684ffb",
            name: "Get Event Field Common Values",
            slug: "get_event_field_common_values",
            command: "get-event-field-common-values",
            description: "The most common values of event fields among the events a search finds",
            properties,
            required: vec!["fields", "latest_time"],
            results: json!({
                "type": "object",
                "properties": {"fields": {"type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "common_values": {"type": "array", "items": {
                            "type": "object",
                            "properties": {"name": {}, "count": {"type": "integer"}}
                        }}
                    }
                }}}
            }),
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
        let fields = field_names(&args)?;
        let events = EventSearch::from_args(&args, DEFAULT_LIMIT)?
            .run(cx, &args)
            .await?;
        let fields: Vec<Value> = fields
            .iter()
            .map(|field| json!({"name": field, "common_values": common_values(&events, field)}))
            .collect();
        Ok(ActionOutput::new(json!({"fields": fields})))
    }
}

/// The `fields` argument: a comma-separated string (as Sekoia.io's playbooks write it) or a
/// list of names; blanks are ignored, at least one name is required.
fn field_names(args: &Value) -> Result<Vec<String>, ActionError> {
    let names: Vec<String> = match args.get("fields") {
        Some(Value::String(text)) => text.split(',').map(str::to_owned).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str().map(str::to_owned).ok_or_else(|| {
                    ActionError::invalid_argument("fields", "must list field names (strings)")
                })
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(ActionError::invalid_argument(
                "fields",
                "is required: field names separated by commas",
            ));
        }
    };
    let names: Vec<String> = names
        .iter()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .collect();
    if names.is_empty() {
        return Err(ActionError::invalid_argument(
            "fields",
            "names no field (expected e.g. source.ip,destination.ip)",
        ));
    }
    Ok(names)
}

/// `[{"name": value, "count": events holding it}]` for one field, most common first.
fn common_values(events: &[Value], field: &str) -> Vec<Value> {
    let path: Vec<&str> = field.split('.').collect();
    // (value, count), in order of first appearance, and each value's position by JSON text.
    let mut counted: Vec<(Value, u64)> = Vec::new();
    let mut position: HashMap<String, usize> = HashMap::new();
    for event in events {
        let mut values = Vec::new();
        field_values(event, &path, &mut values);
        let mut seen_here = HashSet::new();
        for value in values {
            let key = value.to_string();
            if !seen_here.insert(key.clone()) {
                continue;
            }
            match position.get(&key) {
                Some(&at) => counted[at].1 += 1,
                None => {
                    position.insert(key, counted.len());
                    counted.push((value.clone(), 1));
                }
            }
        }
    }
    // Stable: equal counts keep their order of first appearance.
    counted.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
    counted
        .into_iter()
        .map(|(name, count)| json!({"name": name, "count": count}))
        .collect()
}

/// The non-null values at a dotted field path, whether the event holds it flat
/// (`"source.ip": ...`, as search results do), nested (`"source": {"ip": ...}`) or a mix;
/// list values contribute each of their elements.
fn field_values<'a>(value: &'a Value, path: &[&str], found: &mut Vec<&'a Value>) {
    if path.is_empty() {
        match value {
            Value::Null => {}
            Value::Array(items) => found.extend(items.iter().filter(|item| !item.is_null())),
            other => found.push(other),
        }
        return;
    }
    let Value::Object(object) = value else {
        return;
    };
    for taken in 1..=path.len() {
        if let Some(inner) = object.get(&path[..taken].join(".")) {
            field_values(inner, &path[taken..], found);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_counted_once_per_event_most_common_first() {
        let events = vec![
            json!({"source.ip": "10.0.0.2", "tags": ["a", "a", "b"]}),
            json!({"source": {"ip": "10.0.0.1"}, "tags": ["b"]}),
            json!({"source.ip": "10.0.0.1", "tags": null}),
            json!({"other": 1}),
        ];
        assert_eq!(
            common_values(&events, "source.ip"),
            vec![
                json!({"name": "10.0.0.1", "count": 2}),
                json!({"name": "10.0.0.2", "count": 1})
            ]
        );
        assert_eq!(
            common_values(&events, "tags"),
            vec![
                json!({"name": "b", "count": 2}),
                json!({"name": "a", "count": 1})
            ]
        );
        assert!(common_values(&events, "missing.field").is_empty());
    }

    #[test]
    fn mixed_flat_and_nested_paths_are_found_and_numbers_stay_numbers() {
        let events = vec![
            json!({"source": {"geo.country": "FR"}, "destination.port": 443}),
            json!({"source.geo": {"country": "FR"}, "destination": {"port": 443}}),
        ];
        assert_eq!(
            common_values(&events, "source.geo.country"),
            vec![json!({"name": "FR", "count": 2})]
        );
        assert_eq!(
            common_values(&events, "destination.port"),
            vec![json!({"name": 443, "count": 2})]
        );
    }

    #[test]
    fn field_names_are_split_on_commas_and_trimmed() {
        assert_eq!(
            field_names(&json!({"fields": " source.ip, ,host.name "})).unwrap(),
            ["source.ip", "host.name"]
        );
        assert_eq!(
            field_names(&json!({"fields": ["user.name"]})).unwrap(),
            ["user.name"]
        );
        assert!(field_names(&json!({"fields": " , "})).is_err());
        assert!(field_names(&json!({})).is_err());
    }
}
