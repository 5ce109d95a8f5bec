//! Manifests of the Sekoia.io triggers (live alert notifications, manual webhook) and of the
//! cron trigger seen in exported playbooks.

use alertsync_engine::TriggerManifest;
use serde_json::{Value, json};

pub const ALERT_CREATED: &str = "785583cf-4377-43ce-a5fb-f4572eb57456";
pub const ALERT_UPDATED: &str = "7e092f68-5e35-40ac-ac0a-46b7bdbbe3ff";
pub const ALERT_STATUS_CHANGED: &str = "26df593b-6513-45bb-83e5-7b09effa34dc";
pub const ALERT_COMMENT_CREATED: &str = "5bd0d367-3332-48ed-8fe9-d4eda0d7de4a";
pub const ANY_ALERT_UPDATE: &str = "fe249825-c8c5-4321-8791-f476b505072d";
pub const MANUAL_TRIGGER: &str = "fc26eb9f-b272-4c15-b3bf-ace397c0dc57";

pub fn manifests() -> Vec<TriggerManifest> {
    vec![
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
            results: alert_event_schema(),
        },
    ]
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
        arguments: json!({
            "type": "object",
            "properties": {
                "rule_filter": {"type": "string", "description": "Only alerts of this rule (name or uuid)"},
                "rule_names_filter": {"type": "array", "items": {"type": "string"}, "description": "Only alerts of these rules (names)"}
            }
        }),
        results: alert_event_schema(),
    }
}

fn alert_event_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "event_type": {"type": "string"}, "alert_uuid": {"type": "string"}, "short_id": {"type": "string"},
            "status": {"type": "object"}, "created_at": {"type": "integer"}, "urgency": {"type": "integer"},
            "entity": {"type": "object"}, "alert_type": {"type": "object"}, "rule": {"type": "object"},
            "first_seen_at": {"type": "string"}, "last_seen_at": {"type": "string"}
        }
    })
}
