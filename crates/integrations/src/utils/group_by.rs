//! GroupBy: the items of a list grouped by the value of a key, optionally keeping only the
//! items whose filter key is set (or has a given value).

use alertsync_engine::{Action, ActionContext, ActionError, ActionManifest, ActionOutput};
use async_trait::async_trait;
use serde_json::{Value, json};

use crate::args::required_str;

/// Groups items by a key.
pub struct GroupBy {
    manifest: ActionManifest,
}

impl GroupBy {
    pub fn new() -> Self {
        Self {
            manifest: ActionManifest {
                uuid: "576c1fcd-bcec-4c7e-b96d-185faaf770b6",
                name: "GroupBy",
                slug: "groupby",
                command: "action_groupby",
                description: "Group the items of a list by the value of a key",
                arguments: json!({
                    "type": "object",
                    "properties": {
                        "group_key": {"type": "string", "description": "The key whose value groups the items"},
                        "filter_key": {"type": "string", "description": "Keep only the items where this key is set"},
                        "filter_value": {"type": "string", "description": "...and has this value"},
                        "input": {"type": "array", "description": "The items (objects)"}
                    },
                    "required": ["group_key", "input"]
                }),
                secrets: Vec::new(),
                results: json!({"type": "object", "properties": {"results": {"type": "array", "items": {
                    "type": "object",
                    "properties": {"group_index": {"type": "integer"}, "total_groups": {"type": "integer"},
                                   "group_value": {}, "group_data": {"type": "array"}}
                }}}}),
                outputs: Vec::new(),
            },
        }
    }
}

impl Default for GroupBy {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Action for GroupBy {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, _cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let key = required_str(&args, "group_key")?;
        let items = match args.get("input") {
            Some(Value::Array(items)) => items,
            _ => return Err(ActionError::invalid_argument("input", "must be a list")),
        };
        let filter_key = args.get("filter_key").and_then(Value::as_str);
        let filter_value = args.get("filter_value").filter(|v| !v.is_null());
        Ok(ActionOutput::new(json!({
            "results": grouped(items, key, filter_key, filter_value)
        })))
    }
}

/// The groups in order of first appearance of their value; an item without the key groups
/// under null.
fn grouped(
    items: &[Value],
    key: &str,
    filter_key: Option<&str>,
    filter_value: Option<&Value>,
) -> Vec<Value> {
    let mut groups: Vec<(Value, Vec<Value>)> = Vec::new();
    for item in items {
        let kept = match filter_key {
            None => true,
            Some(filter) => match (item.get(filter), filter_value) {
                (Some(value), Some(wanted)) => value == wanted,
                (Some(value), None) => !value.is_null(),
                (None, _) => false,
            },
        };
        let value = item.get(key).cloned().unwrap_or(Value::Null);
        let index = match groups.iter().position(|(known, _)| *known == value) {
            Some(index) => index,
            None => {
                groups.push((value, Vec::new()));
                groups.len() - 1
            }
        };
        if kept {
            groups[index].1.push(item.clone());
        }
    }
    groups.retain(|(_, members)| !members.is_empty());
    let total = groups.len();
    groups
        .into_iter()
        .enumerate()
        .map(|(index, (value, members))| {
            json!({"group_index": index, "total_groups": total, "group_value": value, "group_data": members})
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_group_by_value_and_filter() {
        let items = vec![
            json!({"host": "a", "user": "x"}),
            json!({"host": "b"}),
            json!({"host": "a", "user": "y"}),
        ];
        let groups = grouped(&items, "host", None, None);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0]["group_value"], "a");
        assert_eq!(groups[0]["group_data"].as_array().unwrap().len(), 2);
        assert_eq!(groups[1]["total_groups"], 2);
        let filtered = grouped(&items, "host", Some("user"), Some(&json!("y")));
        assert_eq!(filtered.len(), 1);
        assert_eq!(
            filtered[0]["group_data"],
            json!([{"host": "a", "user": "y"}])
        );
    }
}
