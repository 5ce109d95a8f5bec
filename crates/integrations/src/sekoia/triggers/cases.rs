//! The case triggers: Case Created, Case Updated and Case Alerts Updated fire on the `case`
//! notifications of the live connection. A run reads the case (`GET /v1/sic/cases/{uuid}`),
//! applies the trigger's filters to it, and starts from the event built here.

use alertsync_engine::TriggerManifest;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

pub const CASE_CREATED: &str = "408814cf-993b-43a6-ae9d-f6d9a9cd762f";
pub const CASE_UPDATED: &str = "d420e76e-c4e7-42fd-ba15-a6b6df6a2cb3";
pub const CASE_ALERTS_UPDATED: &str = "93a34848-06f3-4ed9-b2c9-e5fdaf1a8157";

/// What a case notification says happened (`case` / `created`, `updated`,
/// `alerts-updated`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseChangeKind {
    Created,
    Updated,
    AlertsUpdated,
}

impl CaseChangeKind {
    /// The kind a notification's `action` names.
    pub fn from_action(action: &str) -> Option<Self> {
        Some(match action {
            "created" => Self::Created,
            "updated" => Self::Updated,
            "alerts-updated" => Self::AlertsUpdated,
            _ => return None,
        })
    }

    /// The trigger that fires on this kind of change.
    pub fn trigger_uuid(self) -> &'static str {
        match self {
            Self::Created => CASE_CREATED,
            Self::Updated => CASE_UPDATED,
            Self::AlertsUpdated => CASE_ALERTS_UPDATED,
        }
    }

    /// The kind of change a case trigger fires on.
    pub fn of_trigger(trigger_uuid: &str) -> Option<Self> {
        [Self::Created, Self::Updated, Self::AlertsUpdated]
            .into_iter()
            .find(|kind| kind.trigger_uuid() == trigger_uuid)
    }
}

pub fn manifests() -> Vec<TriggerManifest> {
    vec![
        TriggerManifest {
            uuid: CASE_CREATED,
            name: "Case Created",
            slug: "case_created",
            description: "Starts a run when a case is created.",
            arguments: filters(false),
            results: json!({"type": "object", "properties": {
                "uuid": {"type": "string"}, "short_id": {"type": "string"},
                "created_at": {"type": "string"}, "created_by": {"type": "string"},
                "mode": {"type": "string", "enum": ["automatic", "manual"]},
                "title": {"type": "string"}, "description": {"type": "string"},
                "community_uuid": {"type": "string"},
                "assignees": {"type": "array", "items": {"type": "string"}},
                "priority_uuid": {"type": "string"}, "status_uuid": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}}
            }, "required": ["uuid", "short_id", "created_at", "created_by", "mode", "title",
                            "description", "community_uuid", "assignees", "priority_uuid",
                            "status_uuid", "tags"]}),
            extension: false,
        },
        TriggerManifest {
            uuid: CASE_UPDATED,
            name: "Case Updated",
            slug: "case_updated",
            description: "Starts a run when a case changes; the event carries the fields that changed.",
            arguments: filters(true),
            results: json!({"type": "object", "properties": {
                "uuid": {"type": "string"}, "short_id": {"type": "string"},
                "created_at": {"type": "string"}, "updated_at": {"type": "string"},
                "updated_by": {"type": "string"}, "title": {"type": "string"},
                "description": {"type": "string"},
                "assignees": {"type": "array", "items": {"type": "string"}},
                "tags": {"type": "array", "items": {"type": "string"}},
                "status_uuid": {"type": "string"}, "priority_uuid": {"type": "string"},
                "verdict_uuid": {"type": "string"}
            }, "required": ["uuid", "short_id", "created_at", "updated_at", "updated_by"]}),
            extension: false,
        },
        TriggerManifest {
            uuid: CASE_ALERTS_UPDATED,
            name: "Case Alerts Updated",
            slug: "case_alerts_updated",
            description: "Starts a run when alerts are added to or removed from a case.",
            arguments: filters(true),
            results: json!({"type": "object", "properties": {
                "uuid": {"type": "string"}, "short_id": {"type": "string"},
                "added_alerts": {"type": "array", "items": {"type": "string"}},
                "deleted_alerts": {"type": "array", "items": {"type": "string"}}
            }, "required": ["uuid", "short_id"]}),
            extension: false,
        },
    ]
}

/// The filter arguments of the case triggers; `by_case` adds `case_uuids_filter`.
fn filters(by_case: bool) -> Value {
    let strings =
        |what: &str| json!({"type": "array", "items": {"type": "string"}, "description": what});
    let mut properties = json!({
        "mode_filter": {"type": "string", "enum": ["automatic", "manual"],
                        "description": "Only cases created this way"},
        "priority_uuids_filter": strings("Only cases with one of these priorities (uuids)"),
        "assignees_filter": strings("Only cases one of these people (avatar uuids) follows"),
    });
    if by_case {
        properties["case_uuids_filter"] = strings("Only these cases (uuids or short ids)");
    }
    json!({"type": "object", "properties": properties})
}

/// Whether `case` (as `GET /v1/sic/cases/{uuid}` answers it) passes the trigger's filters:
/// each one set must pass. Case Created has no `case_uuids_filter`.
pub fn case_filters_pass(kind: CaseChangeKind, arguments: &Value, case: &Value) -> bool {
    let listed = |name: &str| -> Option<Vec<&str>> {
        let items = arguments.get(name)?.as_array()?;
        let items: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
        (!items.is_empty()).then_some(items)
    };
    let text = |key: &str| case.get(key).and_then(Value::as_str);
    let mode = match arguments.get("mode_filter").and_then(Value::as_str) {
        None | Some("") => true,
        Some(wanted) => is_manual(case) == (wanted == "manual"),
    };
    let priority = listed("priority_uuids_filter")
        .is_none_or(|wanted| text("custom_priority_uuid").is_some_and(|p| wanted.contains(&p)));
    let assignees = listed("assignees_filter").is_none_or(|wanted| {
        case.get("subscribers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s.get("avatar_uuid").and_then(Value::as_str))
            .any(|avatar| wanted.contains(&avatar))
    });
    let cases = kind == CaseChangeKind::Created
        || listed("case_uuids_filter").is_none_or(|wanted| {
            [text("uuid"), text("short_id")]
                .into_iter()
                .flatten()
                .any(|id| wanted.contains(&id))
        });
    mode && priority && assignees && cases
}

fn is_manual(case: &Value) -> bool {
    case.get("manual").and_then(Value::as_bool).unwrap_or(false)
}

/// The event a case trigger emits for a change of `case` (as the REST API answers it);
/// `attributes` are the notification's, whose `updated` says what changed.
pub fn case_event(kind: CaseChangeKind, case: &Value, attributes: &Value) -> Value {
    let from_case = |key: &str| case.get(key).cloned().unwrap_or(Value::Null);
    // The notification's value, else the case's.
    let noted = |key: &str| {
        attributes
            .get(key)
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or_else(|| from_case(key))
    };
    let updated = attributes.get("updated").and_then(Value::as_object);
    let mut event = Map::new();
    event.insert("uuid".into(), from_case("uuid"));
    event.insert("short_id".into(), noted("short_id"));
    match kind {
        CaseChangeKind::Created => {
            let mode = if is_manual(case) {
                "manual"
            } else {
                "automatic"
            };
            event.insert("created_at".into(), noted("created_at"));
            event.insert("created_by".into(), from_case("created_by"));
            event.insert("mode".into(), json!(mode));
            event.insert("title".into(), noted("title"));
            event.insert("description".into(), from_case("description"));
            event.insert("community_uuid".into(), from_case("community_uuid"));
            event.insert("assignees".into(), listed_or_empty(case, "assignees"));
            event.insert("priority_uuid".into(), noted("custom_priority_uuid"));
            event.insert("status_uuid".into(), from_case("status_uuid"));
            event.insert("tags".into(), listed_or_empty(case, "tags"));
        }
        CaseChangeKind::Updated => {
            for key in ["created_at", "updated_at", "updated_by"] {
                event.insert(key.into(), from_case(key));
            }
            const CHANGED: [&str; 8] = [
                "title",
                "description",
                "community_uuid",
                "assignees",
                "tags",
                "custom_priority_uuid",
                "status_uuid",
                "verdict_uuid",
            ];
            for (key, value) in updated.into_iter().flatten() {
                if CHANGED.contains(&key.as_str()) {
                    event.insert(key.clone(), value.clone());
                }
            }
            if let Some(priority) = updated.and_then(|u| u.get("custom_priority_uuid")) {
                event.insert("priority_uuid".into(), priority.clone());
            }
        }
        CaseChangeKind::AlertsUpdated => {
            let uuids = |key: &str| {
                updated
                    .and_then(|u| u.get(key))
                    .cloned()
                    .unwrap_or_else(|| json!([]))
            };
            event.insert("added_alerts".into(), uuids("added_alerts_uuid"));
            event.insert("deleted_alerts".into(), uuids("deleted_alerts_uuid"));
        }
    }
    Value::Object(event)
}

fn listed_or_empty(case: &Value, key: &str) -> Value {
    case.get(key)
        .filter(|v| v.is_array())
        .cloned()
        .unwrap_or_else(|| json!([]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case() -> Value {
        json!({"uuid": "c1", "short_id": "CA1", "manual": true, "custom_priority_uuid": "p1",
               "subscribers": [{"avatar_uuid": "u1"}], "created_by": "me", "tags": ["x"],
               "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-02T00:00:00Z",
               "updated_by": "you", "description": "d", "status_uuid": "s1"})
    }

    #[test]
    fn every_filter_set_must_pass() {
        let kind = CaseChangeKind::Updated;
        assert!(case_filters_pass(kind, &json!({}), &case()));
        assert!(case_filters_pass(
            kind,
            &json!({"mode_filter": "manual", "priority_uuids_filter": ["p1"],
            "assignees_filter": ["u1"], "case_uuids_filter": ["CA1"]}),
            &case()
        ));
        assert!(!case_filters_pass(
            kind,
            &json!({"mode_filter": "automatic"}),
            &case()
        ));
        assert!(!case_filters_pass(
            kind,
            &json!({"priority_uuids_filter": ["p2"]}),
            &case()
        ));
        assert!(!case_filters_pass(
            kind,
            &json!({"assignees_filter": ["u2"]}),
            &case()
        ));
        assert!(!case_filters_pass(
            kind,
            &json!({"case_uuids_filter": ["c2"]}),
            &case()
        ));
        assert!(
            case_filters_pass(
                CaseChangeKind::Created,
                &json!({"case_uuids_filter": ["c2"]}),
                &case()
            ),
            "Case Created has no case filter"
        );
    }

    #[test]
    fn events_carry_what_each_trigger_says() {
        let created = case_event(CaseChangeKind::Created, &case(), &json!({"title": "T"}));
        assert_eq!(created["mode"], "manual");
        assert_eq!(created["title"], "T");
        assert_eq!(created["priority_uuid"], "p1");
        let updated = case_event(
            CaseChangeKind::Updated,
            &case(),
            &json!({"updated": {"status_uuid": "s2", "manual": false}}),
        );
        assert_eq!(updated["status_uuid"], "s2");
        assert_eq!(updated["updated_by"], "you");
        assert!(updated.get("manual").is_none(), "only the listed fields");
        let alerts = case_event(
            CaseChangeKind::AlertsUpdated,
            &case(),
            &json!({"updated": {"added_alerts_uuid": ["a1"]}}),
        );
        assert_eq!(alerts["added_alerts"], json!(["a1"]));
        assert_eq!(alerts["deleted_alerts"], json!([]));
    }
}
