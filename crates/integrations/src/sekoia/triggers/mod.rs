//! The Sekoia.io triggers: the alert triggers (live alert notifications) and Manual Trigger
//! here; the case triggers, the feed triggers and Alert Events Threshold in their modules.

pub mod cases;
pub mod feeds;
pub mod threshold;

use alertsync_engine::TriggerManifest;
use serde_json::{Value, json};

pub const ALERT_CREATED: &str = "785583cf-4377-43ce-a5fb-f4572eb57456";
pub const ALERT_UPDATED: &str = "7e092f68-5e35-40ac-ac0a-46b7bdbbe3ff";
pub const ALERT_STATUS_CHANGED: &str = "26df593b-6513-45bb-83e5-7b09effa34dc";
pub const ALERT_COMMENT_CREATED: &str = "5bd0d367-3332-48ed-8fe9-d4eda0d7de4a";
pub const ANY_ALERT_UPDATE: &str = "fe249825-c8c5-4321-8791-f476b505072d";
pub const MANUAL_TRIGGER: &str = "fc26eb9f-b272-4c15-b3bf-ace397c0dc57";

/// The folder of the data directory where alert triggers write the alert of each run (one
/// folder per run, removed when the run ends).
pub const ALERT_FILES: &str = "alerts";

/// Every folder of the data directory where triggers write the files of a run.
pub const RUN_FILE_FOLDERS: [&str; 2] = [ALERT_FILES, feeds::FEED_FILES];

/// What is wrong with the arguments of a trigger node that takes more than filters (Alert
/// Events Threshold, the feed triggers); each names the argument.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("`{name}` must be an integer from 1 to {max}")]
    OutOfRange { name: &'static str, max: u64 },
    #[error("`{name}` must be true or false")]
    NotAFlag { name: &'static str },
    #[error("`feed_id` must be a feed id")]
    NotAFeedId,
    #[error("`modified_after` must be an RFC 3339 date-time ({0})")]
    ModifiedAfterNotRfc3339(#[source] time::error::Parse),
    #[error("`modified_after` must be a date-time string")]
    ModifiedAfterNotAString,
    #[error(
        "`enable_volume_threshold` and `enable_time_threshold` are both false: the trigger \
         could never fire"
    )]
    NeverFires,
}

/// Why a file of a run's event (the alert, its events, a feed page's objects) could not be
/// written.
#[derive(Debug, thiserror::Error)]
pub enum EventFileError {
    #[error("the event has no alert file to put the events beside")]
    NoAlertFile,
    #[error(transparent)]
    Encode(#[from] serde_json::Error),
    #[error(transparent)]
    Write(#[from] alertsync_engine::ActionError),
}

pub fn manifests() -> Vec<TriggerManifest> {
    let mut all = vec![
        alert_trigger(
            ALERT_CREATED,
            "Alert Created",
            "alert_created",
            "Starts a run when an alert is created.",
        ),
        alert_trigger(
            ALERT_UPDATED,
            "Alert Updated",
            "alert_updated",
            "Starts a run when an alert changes (status changes included).",
        ),
        alert_trigger(
            ALERT_STATUS_CHANGED,
            "Alert Status Changed",
            "alert_status_changed",
            "Starts a run when an alert's status changes.",
        ),
        alert_trigger(
            ALERT_COMMENT_CREATED,
            "Alert Comment Created",
            "alert_comment_created",
            "Starts a run when a comment is added to an alert.",
        ),
        alert_trigger(
            ANY_ALERT_UPDATE,
            "Any Alert Update",
            "any_alert_update",
            "Starts a run when an alert is created, changes, or is commented.",
        ),
        TriggerManifest {
            uuid: MANUAL_TRIGGER,
            name: "Manual Trigger",
            slug: "manual_trigger",
            description: "Starts a run when the playbook's webhook is called with {\"alert_uuid\": ...}.",
            arguments: json!({"type": "object", "properties": {}}),
            results: json!({"type": "object", "properties": {"alert_uuid": {"type": "string"}}, "required": ["alert_uuid"]}),
            extension: false,
        },
        threshold::manifest(),
    ];
    all.extend(cases::manifests());
    all.extend(feeds::manifests());
    all
}

fn alert_trigger(
    uuid: &'static str,
    name: &'static str,
    slug: &'static str,
    description: &'static str,
) -> TriggerManifest {
    TriggerManifest {
        uuid,
        name,
        slug,
        description,
        arguments: rule_filter_arguments(),
        results: alert_event_schema(),
        extension: false,
    }
}

/// The rule filters every alert trigger takes.
fn rule_filter_arguments() -> Value {
    json!({
        "type": "object",
        "properties": {
            "rule_filter": {"type": "string", "description": "Only alerts of this rule (name or uuid)"},
            "rule_names_filter": {"type": "array", "items": {"type": "string"}, "description": "Only alerts of these rules (names)"}
        }
    })
}

fn alert_event_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "file_path": {"type": "string"}, "event_type": {"type": "string"}, "alert_uuid": {"type": "string"}, "short_id": {"type": "string"},
            "status": {"type": "object"}, "created_at": {"type": "integer"}, "urgency": {"type": "integer"},
            "entity": {"type": "object"}, "alert_type": {"type": "object"}, "rule": {"type": "object"},
            "first_seen_at": {"type": "string"}, "last_seen_at": {"type": "string"}
        }
    })
}

/// The event an alert trigger emits for `alert` (as the REST API returns it): the trigger
/// node's output, read by later nodes as `node.<trigger id>`.
///
/// `event_type` is the notification type, `alert` or `alert-comment`.
pub fn alert_event(alert: &Value, event_type: &str) -> Value {
    let copied = |key: &str| alert.get(key).cloned().unwrap_or(Value::Null);
    json!({
        "event_type": event_type,
        "alert_uuid": copied("uuid"),
        "short_id": copied("short_id"),
        "status": copied("status"),
        "created_at": copied("created_at"),
        "urgency": alert.pointer("/urgency/current_value").cloned().unwrap_or(Value::Null),
        "entity": copied("entity"),
        "alert_type": copied("alert_type"),
        "rule": copied("rule"),
        "first_seen_at": copied("first_seen_at"),
        "last_seen_at": copied("last_seen_at"),
    })
}

/// The event Manual Trigger emits for a webhook call: what Sekoia.io's does, the alert's
/// uuid (later nodes read the alert with Get Alert).
pub fn manual_event(alert_uuid: &str) -> Value {
    json!({ "alert_uuid": alert_uuid })
}

/// The comment of a comment trigger's event, from the comment Sekoia.io answers:
/// `{uuid, content, author, date}`, the author being who wrote it.
pub fn comment_of(comment: &Value) -> Value {
    let copied = |key: &str| comment.get(key).cloned().unwrap_or(Value::Null);
    json!({
        "uuid": copied("uuid"),
        "content": copied("content"),
        "author": copied("created_by"),
        "date": copied("date"),
    })
}

/// The field of an alert trigger's event that names the alert's file.
pub const ALERT_FILE_FIELD: &str = "file_path";

/// Writes `alert` to `alerts/<fresh uuid>/alert.json` in the data directory, as Sekoia.io's
/// alert triggers do, and adds the file's path (relative to the data directory, where
/// actions read files) to the event as `file_path`. Returns the directory to remove once the
/// run has ended.
pub async fn attach_alert_file(
    data_dir: &std::path::Path,
    alert: &Value,
    event: &mut Value,
) -> Result<std::path::PathBuf, EventFileError> {
    let relative = format!("{ALERT_FILES}/{}/alert.json", uuid::Uuid::new_v4());
    let path = crate::files::write(data_dir, &relative, alert.to_string().as_bytes()).await?;
    event[ALERT_FILE_FIELD] = Value::String(relative);
    Ok(path
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or(path))
}

/// Whether `alert` passes an alert trigger's `rule_filter` (rule name or uuid) and
/// `rule_names_filter` (rule names); both must pass when both are set.
pub fn rule_filters_pass(trigger_arguments: &Value, alert: &Value) -> bool {
    let name = alert.pointer("/rule/name").and_then(Value::as_str);
    let uuid = alert.pointer("/rule/uuid").and_then(Value::as_str);
    let single = match trigger_arguments.get("rule_filter").and_then(Value::as_str) {
        None | Some("") => true,
        Some(wanted) => name == Some(wanted) || uuid == Some(wanted),
    };
    let listed = match trigger_arguments
        .get("rule_names_filter")
        .and_then(Value::as_array)
    {
        None => true,
        Some(names) if names.is_empty() => true,
        Some(names) => names
            .iter()
            .any(|n| n.as_str().is_some_and(|n| Some(n) == name)),
    };
    single && listed
}
