//! The feed triggers: Feed Consumption (every object of an intelligence feed) and Feed IOC
//! Consumption (its valid indicators) read the feed a page at a time
//! (`GET /v2/inthreat/collections/{feed_id}/objects`), following the cursor each page
//! gives. Each page that holds objects starts one run, whose event names the file the
//! objects were written to (`stix_objects_path`).

use std::path::{Path, PathBuf};

use alertsync_engine::{ActionContext, ActionError, TriggerManifest};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use super::{EventFileError, SettingsError};
use crate::sekoia::{ApiPath, ApiVersion, SekoiaClient};

pub const FEED_CONSUMPTION: &str = "ac6100ed-3fb7-4355-83ac-049c14aa44fd";
pub const FEED_IOC_CONSUMPTION: &str = "9859df5d-a743-41e9-ad6c-cca078b3e054";
/// The feed read when `feed_id` is not given (Sekoia.io's default).
pub const DEFAULT_FEED: &str = "d6092c37-d8d7-45c3-8aff-c4dc26030608";
/// The folder of the data directory where feed runs find their objects (one folder per
/// run, removed when the run ends).
pub const FEED_FILES: &str = "feeds";
/// Objects a page holds when `batch_size_limit` is not given.
const DEFAULT_BATCH: u64 = 200;
/// The largest page alertsync asks for: a page is stored with its event.
const MAX_BATCH: u64 = 2000;

/// Which objects of the feed a trigger reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedKind {
    /// Feed Consumption: every object (revoked ones too once the first pass is done).
    AllObjects,
    /// Feed IOC Consumption: indicators, neither revoked nor expired.
    Indicators,
}

impl FeedKind {
    pub fn of_trigger(trigger_uuid: &str) -> Option<Self> {
        match trigger_uuid {
            FEED_CONSUMPTION => Some(Self::AllObjects),
            FEED_IOC_CONSUMPTION => Some(Self::Indicators),
            _ => None,
        }
    }
}

pub fn manifests() -> Vec<TriggerManifest> {
    let arguments = json!({"type": "object", "properties": {
        "feed_id": {"type": "string", "default": DEFAULT_FEED,
                    "description": "The intelligence feed to read"},
        "batch_size_limit": {"type": "integer", "default": DEFAULT_BATCH, "minimum": 1, "maximum": MAX_BATCH,
                             "description": "Objects read at a time (one run per page)"},
        "modified_after": {"type": "string", "format": "date-time",
                           "description": "Only objects changed after this RFC 3339 date (on the first pass)"},
        "resolve_sources": {"type": "boolean", "default": false,
                            "description": "Add x_inthreat_sources: the names and confidences of each object's sources"}
    }});
    let results = json!({"type": "object", "properties": {
        "stix_objects_path": {"type": "string", "description": "The file holding the page's STIX objects"}
    }, "required": ["stix_objects_path"]});
    vec![
        TriggerManifest {
            uuid: FEED_CONSUMPTION,
            name: "Feed Consumption",
            slug: "feed_consumption",
            description: "Reads the objects of a Sekoia.io intelligence feed; starts a run per page.",
            arguments: arguments.clone(),
            results: results.clone(),
            extension: false,
        },
        TriggerManifest {
            uuid: FEED_IOC_CONSUMPTION,
            name: "Feed IOC Consumption",
            slug: "feed_ioc_consumption",
            description: "Reads the valid indicators of a Sekoia.io intelligence feed; starts a run per page.",
            arguments,
            results,
            extension: false,
        },
    ]
}

/// What a feed trigger's arguments ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedSettings {
    pub kind: FeedKind,
    pub feed_id: String,
    pub batch_size_limit: u64,
    pub modified_after: Option<String>,
    pub resolve_sources: bool,
}

impl FeedSettings {
    /// The settings of a feed trigger node; `Err` names the argument that is wrong.
    pub fn from_arguments(kind: FeedKind, arguments: &Value) -> Result<Self, SettingsError> {
        let feed_id = match arguments.get("feed_id") {
            None | Some(Value::Null) => DEFAULT_FEED.to_owned(),
            Some(Value::String(id)) if !id.trim().is_empty() => id.trim().to_owned(),
            Some(_) => return Err(SettingsError::NotAFeedId),
        };
        let batch_size_limit = match arguments.get("batch_size_limit") {
            None | Some(Value::Null) => DEFAULT_BATCH,
            Some(n) => n.as_u64().filter(|n| (1..=MAX_BATCH).contains(n)).ok_or(
                SettingsError::OutOfRange {
                    name: "batch_size_limit",
                    max: MAX_BATCH,
                },
            )?,
        };
        let modified_after = match arguments.get("modified_after") {
            None | Some(Value::Null) => None,
            Some(Value::String(date)) if date.trim().is_empty() => None,
            Some(Value::String(date)) => {
                time::OffsetDateTime::parse(date.trim(), &Rfc3339)
                    .map_err(SettingsError::ModifiedAfterNotRfc3339)?;
                Some(date.trim().to_owned())
            }
            Some(_) => return Err(SettingsError::ModifiedAfterNotAString),
        };
        let resolve_sources = match arguments.get("resolve_sources") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(SettingsError::NotAFlag {
                    name: "resolve_sources",
                });
            }
        };
        Ok(Self {
            kind,
            feed_id,
            batch_size_limit,
            modified_after,
            resolve_sources,
        })
    }

    /// The query of the page after `cursor` (the first page without one).
    fn query(&self, cursor: Option<&str>) -> Vec<(&'static str, String)> {
        let revoked = self.kind == FeedKind::AllObjects && cursor.is_some();
        let mut query = vec![
            ("limit", self.batch_size_limit.to_string()),
            ("include_revoked", revoked.to_string()),
            ("skip_expired", "true".to_owned()),
        ];
        if self.kind == FeedKind::Indicators {
            query.push(("match[type]", "indicator".to_owned()));
        }
        match (cursor, &self.modified_after) {
            (Some(cursor), _) => query.push(("cursor", cursor.to_owned())),
            (None, Some(after)) => query.push(("modified_after", after.clone())),
            (None, None) => {}
        }
        query
    }
}

/// One page of a feed.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedPage {
    pub objects: Vec<Value>,
    /// Where the next page starts, if the feed said.
    pub next_cursor: Option<String>,
}

/// Reads the page after `cursor`, with the objects' sources resolved when asked.
pub async fn read_page(
    client: &SekoiaClient,
    cx: &ActionContext,
    settings: &FeedSettings,
    cursor: Option<&str>,
) -> Result<FeedPage, ActionError> {
    let path = ApiPath::in_version(ApiVersion::V2, "inthreat/collections")
        .value(&settings.feed_id)
        .then("objects");
    let page = client
        .call(cx, Method::GET, &path, &settings.query(cursor), None)
        .await?;
    let mut objects = match page.get("items") {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    if settings.resolve_sources {
        resolve_sources(client, cx, &mut objects).await;
    }
    let next_cursor = page
        .get("next_cursor")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    Ok(FeedPage {
        objects,
        next_cursor,
    })
}

/// Adds `x_inthreat_sources` to each object: for each of its `x_inthreat_sources_refs`, the
/// source's `{name, confidence}`, or the reference itself when it cannot be read.
async fn resolve_sources(client: &SekoiaClient, cx: &ActionContext, objects: &mut [Value]) {
    let mut refs: Vec<&str> = objects
        .iter()
        .flat_map(source_refs)
        .filter_map(Value::as_str)
        .collect();
    refs.sort_unstable();
    refs.dedup();
    if refs.is_empty() {
        return;
    }
    let query = [("match[id]", refs.join(","))];
    let path = ApiPath::in_version(ApiVersion::V2, "inthreat/objects");
    let sources = match client.call(cx, Method::GET, &path, &query, None).await {
        Ok(answer) => answer
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        Err(err) => {
            tracing::warn!(
                "cannot resolve the sources of feed objects: {}",
                err.message
            );
            Vec::new()
        }
    };
    let resolved = |reference: &Value| {
        sources
            .iter()
            .find(|s| s.get("id") == Some(reference))
            .map(|s| json!({"name": s.get("name"), "confidence": s.get("confidence").cloned().unwrap_or(json!(0))}))
            .unwrap_or_else(|| reference.clone())
    };
    for object in objects.iter_mut() {
        let named: Vec<Value> = source_refs(object).map(resolved).collect();
        object["x_inthreat_sources"] = Value::Array(named);
    }
}

fn source_refs(object: &Value) -> impl Iterator<Item = &Value> {
    object
        .get("x_inthreat_sources_refs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Writes a page's objects to `feeds/<fresh uuid>/stix_objects.json` in the data directory;
/// returns the event (`stix_objects_path` relative to the data directory, where actions
/// read files) and the directory to remove once the run has ended.
pub async fn objects_event(
    data_dir: &Path,
    objects: &[Value],
) -> Result<(Value, PathBuf), EventFileError> {
    let relative = format!("{FEED_FILES}/{}/stix_objects.json", uuid::Uuid::new_v4());
    let text = serde_json::to_vec(objects)?;
    let path = crate::files::write(data_dir, &relative, &text).await?;
    let directory = path.parent().map(Path::to_path_buf).unwrap_or(path);
    Ok((json!({ "stix_objects_path": relative }), directory))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_checked_and_defaulted() {
        let all = FeedSettings::from_arguments(FeedKind::AllObjects, &json!({})).unwrap();
        assert_eq!(all.feed_id, DEFAULT_FEED);
        assert_eq!(all.batch_size_limit, DEFAULT_BATCH);
        for wrong in [
            json!({"batch_size_limit": 0}),
            json!({"modified_after": "yesterday"}),
            json!({"resolve_sources": "yes"}),
            json!({"feed_id": 3}),
        ] {
            assert!(
                FeedSettings::from_arguments(FeedKind::AllObjects, &wrong).is_err(),
                "{wrong}"
            );
        }
    }

    #[test]
    fn the_query_follows_the_cursor_and_the_kind() {
        let settings = FeedSettings::from_arguments(
            FeedKind::Indicators,
            &json!({"modified_after": "2024-04-12T23:20:50.52Z", "batch_size_limit": 5}),
        )
        .unwrap();
        let first = settings.query(None);
        assert!(first.contains(&("modified_after", "2024-04-12T23:20:50.52Z".to_owned())));
        assert!(first.contains(&("match[type]", "indicator".to_owned())));
        let next = settings.query(Some("abc"));
        assert!(next.contains(&("cursor", "abc".to_owned())));
        assert!(!next.iter().any(|(k, _)| *k == "modified_after"));
        assert!(next.contains(&("include_revoked", "false".to_owned())));
        let all = FeedSettings::from_arguments(FeedKind::AllObjects, &json!({})).unwrap();
        assert!(
            all.query(Some("abc"))
                .contains(&("include_revoked", "true".to_owned()))
        );
    }
}
