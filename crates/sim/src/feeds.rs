//! Intelligence feeds: STIX objects in the order they were added, read a page at a time
//! with a cursor (`GET /v2/inthreat/collections/{feed}/objects`), and objects looked up by
//! id (`GET /v2/inthreat/objects?match[id]=...`). A cursor is an opaque position in the
//! feed: objects added later come after every cursor already given.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::SimError;

/// Objects a page holds when `limit` is not given, and at most.
const DEFAULT_LIMIT: usize = 200;
const MAX_LIMIT: usize = 2000;

#[derive(Default)]
pub(crate) struct Feeds {
    by_id: HashMap<String, Vec<Value>>,
}

/// What a page read asks for.
pub(crate) struct PageQuery<'a> {
    pub(crate) limit: Option<&'a str>,
    pub(crate) cursor: Option<&'a str>,
    pub(crate) modified_after: Option<&'a str>,
    pub(crate) object_type: Option<&'a str>,
    pub(crate) include_revoked: bool,
}

impl Feeds {
    /// Appends objects to a feed (made on first use).
    pub(crate) fn add(&mut self, feed: &str, objects: Vec<Value>) -> usize {
        let stored = self.by_id.entry(feed.to_owned()).or_default();
        stored.extend(objects);
        stored.len()
    }

    /// The page after the query's cursor: `{items, next_cursor}`.
    pub(crate) fn page(&self, feed: &str, query: &PageQuery<'_>) -> Result<Value, SimError> {
        let objects = self
            .by_id
            .get(feed)
            .ok_or_else(|| SimError::unknown("feed", feed))?;
        let limit = match query.limit {
            None => DEFAULT_LIMIT,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| SimError::invalid("limit", format!("expected 1 to {MAX_LIMIT}")))?,
        };
        let start = match query.cursor {
            None => 0,
            Some(cursor) => cursor
                .strip_prefix("position-")
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| *n <= objects.len())
                .ok_or_else(|| SimError::invalid("cursor", "not a cursor of this feed"))?,
        };
        let mut items = Vec::new();
        let mut position = start;
        for object in &objects[start..] {
            if items.len() == limit {
                break;
            }
            position += 1;
            if wanted(object, query) {
                items.push(object.clone());
            }
        }
        Ok(json!({"items": items, "next_cursor": format!("position-{position}")}))
    }

    /// The objects of any feed whose id is one of `ids`.
    pub(crate) fn by_ids(&self, ids: &[&str]) -> Vec<Value> {
        self.by_id
            .values()
            .flatten()
            .filter(|object| object["id"].as_str().is_some_and(|id| ids.contains(&id)))
            .cloned()
            .collect()
    }
}

fn wanted(object: &Value, query: &PageQuery<'_>) -> bool {
    let text = |key: &str| object.get(key).and_then(Value::as_str);
    let type_ok = query.object_type.is_none_or(|t| text("type") == Some(t));
    let revoked = object.get("revoked").and_then(Value::as_bool) == Some(true);
    // RFC 3339 dates of one format compare as text.
    let recent = query
        .modified_after
        .is_none_or(|after| text("modified").is_some_and(|m| m > after));
    type_ok && (query.include_revoked || !revoked) && recent
}
