//! The Alert Changed in ilert trigger, an alertsync extension of the ilert module: ilert's
//! webhook alert action reports a change of one of its alerts (accepted, resolved, ...).
//!
//! [`parse`] reads the body ilert posts, in its default form or in a custom form made of
//! its template variables, into an [`IlertAlertChange`] and the Sekoia.io alert the body
//! itself names, if any: the `alertKey` when it is a Sekoia.io alert uuid or short id (what
//! alertsync sends as the key), else a short id `AL…` written in the summary or the
//! details. The service falls back on the ilert alert ids alertsync recorded when ilert
//! answered its deliveries ([`LINK_SYSTEM`]); [`IlertAlertChange::event`] is the trigger
//! node's output once the alert is known, [`IlertAlertChange::untraced`] the reason a run
//! fails when it is not.

use alertsync_engine::TriggerManifest;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::args::{is_alert_id, shown_id};

pub const ALERT_CHANGED: &str = "dd6bc561-d049-4bfb-beab-f76ed534f2e5";

/// The system name alert links to ilert alerts are recorded under (ilert's alert id as the
/// remote id).
pub const LINK_SYSTEM: &str = super::SLUG;

/// The longest ilert alert id accepted: ilert's ids are 64-bit integers.
const MAX_ALERT_ID_DIGITS: usize = 20;

/// The manifest of the trigger.
pub fn trigger_manifest() -> TriggerManifest {
    TriggerManifest {
        uuid: ALERT_CHANGED,
        name: "Alert Changed in ilert",
        slug: "alert_changed_in_ilert",
        description: "Starts a run when ilert's webhook alert action reports a change of an alert \
                      alertsync forwarded (accepted, resolved, ...): POST /hooks/<playbook>/<node> \
                      with the playbook's webhook_token as the HTTP Basic password or a Bearer token.",
        arguments: json!({"type": "object", "properties": {}}),
        results: json!({
            "type": "object",
            "properties": {
                "event_type": {"type": ["string", "null"], "description": "ilert's event type, e.g. alert-accepted"},
                "ilert_alert_id": {"type": "string", "description": "The ilert alert's id"},
                "status": {"type": "string", "enum": ["pending", "accepted", "resolved"]},
                "alert_key": {"type": ["string", "null"]},
                "alert_uuid": {"type": "string", "description": "The Sekoia.io alert the ilert alert belongs to (uuid or short id)"},
                "summary": {"type": ["string", "null"]},
                "priority": {"type": ["string", "null"], "description": "HIGH or LOW"},
                "alert_url": {"type": ["string", "null"], "description": "The alert in ilert"},
                "report_time": {"type": ["string", "null"], "description": "When ilert opened the alert (ISO 8601)"},
                "assigned_to": {
                    "type": ["object", "null"],
                    "properties": {
                        "username": {"type": ["string", "null"]}, "email": {"type": ["string", "null"]},
                        "first_name": {"type": ["string", "null"]}, "last_name": {"type": ["string", "null"]}
                    }
                }
            },
            "required": ["ilert_alert_id", "status", "alert_uuid"]
        }),
        extension: true,
    }
}

/// An ilert alert's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IlertStatus {
    Pending,
    Accepted,
    Resolved,
}

impl IlertStatus {
    /// ilert's name (`PENDING`, `ACCEPTED`, `RESOLVED`), in any case.
    fn from_ilert(name: &str) -> Option<Self> {
        [Self::Pending, Self::Accepted, Self::Resolved]
            .into_iter()
            .find(|status| status.ilert_name().eq_ignore_ascii_case(name.trim()))
    }

    /// The name ilert gives the status.
    pub fn ilert_name(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Accepted => "ACCEPTED",
            Self::Resolved => "RESOLVED",
        }
    }
}

/// Who an ilert alert is assigned to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignee {
    pub username: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

/// One change of an ilert alert, as its webhook reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IlertAlertChange {
    pub event_type: Option<String>,
    pub ilert_alert_id: String,
    pub status: IlertStatus,
    pub alert_key: Option<String>,
    pub summary: Option<String>,
    pub priority: Option<String>,
    pub alert_url: Option<String>,
    pub report_time: Option<String>,
    pub assigned_to: Option<Assignee>,
}

/// A webhook body, read.
#[derive(Debug, Clone, PartialEq)]
pub struct IlertWebhook {
    pub change: IlertAlertChange,
    /// The Sekoia.io alert (uuid or short id) the body names, if it names one.
    pub named_alert: Option<String>,
}

/// Why a webhook body cannot be read; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BodyError(String);

/// Reads a webhook body: ilert's default body (`id`, `status`, `eventType`, `alertKey`,
/// `summary`, `details`, `priority`, `reportTime`, `assignedTo`) or a custom one with its
/// template variables (`alertId`, `alertStatus`, `alertKey`, `alertSummary`,
/// `alertDetails`, `alertPriority`, `alertUrl`, `reportTime`, `eventType`). The alert id and
/// status are required.
pub fn parse(body: &[u8]) -> Result<IlertWebhook, BodyError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|err| BodyError(format!("the body is not JSON: {err}")))?;
    let Value::Object(body) = value else {
        return Err(BodyError(
            "the body must be a JSON object, as ilert's webhook sends".to_owned(),
        ));
    };
    let ilert_alert_id = alert_id(&body)?;
    let status = status(&body)?;
    let alert_key = text(&body, &["alertKey"]);
    let summary = text(&body, &["summary", "alertSummary"]);
    let details = text(&body, &["details", "alertDetails"]);
    let named_alert = alert_key
        .as_deref()
        .filter(|key| is_alert_id(key))
        .or_else(|| summary.as_deref().and_then(short_id_in))
        .or_else(|| details.as_deref().and_then(short_id_in))
        .map(str::to_owned);
    let change = IlertAlertChange {
        event_type: text(&body, &["eventType"]),
        ilert_alert_id,
        status,
        alert_key,
        summary,
        priority: text(&body, &["priority", "alertPriority"]),
        alert_url: text(&body, &["alertUrl"]),
        report_time: text(&body, &["reportTime"]),
        assigned_to: body.get("assignedTo").and_then(assignee),
    };
    Ok(IlertWebhook {
        change,
        named_alert,
    })
}

impl IlertAlertChange {
    /// The trigger node's output for this change of the Sekoia.io alert `alert_uuid`.
    pub fn event(&self, alert_uuid: &str) -> Value {
        json!({
            "event_type": self.event_type,
            "ilert_alert_id": self.ilert_alert_id,
            "status": self.status,
            "alert_key": self.alert_key,
            "alert_uuid": alert_uuid,
            "summary": self.summary,
            "priority": self.priority,
            "alert_url": self.alert_url,
            "report_time": self.report_time,
            "assigned_to": self.assigned_to,
        })
    }

    /// Why no Sekoia.io alert was found for this change: everything that was tried.
    pub fn untraced(&self) -> String {
        let key = match &self.alert_key {
            Some(key) => format!(
                "its alertKey {} is not a Sekoia.io alert uuid or short id",
                shown_id(key)
            ),
            None => "it has no alertKey".to_owned(),
        };
        format!(
            "ilert alert {id} belongs to no Sekoia.io alert alertsync can find: {key}, its \
             summary and details name no alert short id (AL…), and ilert named no alert {id} \
             when alertsync forwarded an alert to it",
            id = self.ilert_alert_id
        )
    }
}

/// The first of `names` that is a non-blank string or a number, as text.
fn text(body: &Map<String, Value>, names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| match body.get(*name)? {
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    })
}

/// `id` (default body) or `alertId` (custom body): ilert's numeric alert id.
fn alert_id(body: &Map<String, Value>) -> Result<String, BodyError> {
    let id = text(body, &["id", "alertId"]).ok_or_else(|| {
        BodyError(
            "the alert id is missing: ilert's default body has `id`, a custom body needs \
             `alertId` (the {{alertId}} variable)"
                .to_owned(),
        )
    })?;
    if is_ilert_alert_id(&id) {
        Ok(id)
    } else {
        Err(BodyError(format!(
            "the alert id {} must be ilert's numeric alert id",
            shown_id(&id)
        )))
    }
}

/// Whether `id` is an ilert alert id: a number of at most 20 digits.
pub fn is_ilert_alert_id(id: &str) -> bool {
    (1..=MAX_ALERT_ID_DIGITS).contains(&id.len()) && id.chars().all(|c| c.is_ascii_digit())
}

/// `status` (default body) or `alertStatus` (custom body).
fn status(body: &Map<String, Value>) -> Result<IlertStatus, BodyError> {
    let status = text(body, &["status", "alertStatus"]).ok_or_else(|| {
        BodyError(
            "the alert status is missing: ilert's default body has `status`, a custom body \
             needs `alertStatus` (the {{alertStatus}} variable)"
                .to_owned(),
        )
    })?;
    IlertStatus::from_ilert(&status).ok_or_else(|| {
        BodyError(format!(
            "the alert status {} must be PENDING, ACCEPTED or RESOLVED",
            shown_id(&status)
        ))
    })
}

/// `assignedTo` of the default body; `None` when it is not an object.
fn assignee(value: &Value) -> Option<Assignee> {
    let person = value.as_object()?;
    Some(Assignee {
        username: text(person, &["username"]),
        email: text(person, &["email"]),
        first_name: text(person, &["firstName"]),
        last_name: text(person, &["lastName"]),
    })
}

/// The first Sekoia.io alert short id written in `text`: a word of twelve letters and digits
/// starting with `AL`, with a digit or a lower-case letter after it (so that a capitalised
/// word such as `ALTERNATIVES` is not taken for one).
fn short_id_in(text: &str) -> Option<&str> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .find(|word| {
            word.len() == 12
                && word.starts_with("AL")
                && word[2..]
                    .chars()
                    .any(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
                && is_alert_id(word)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "3f2b1c9a-7d4e-4a6b-9c1d-2e5f8a0b7c61";

    fn parsed(body: Value) -> IlertWebhook {
        parse(body.to_string().as_bytes()).expect("the body is read")
    }

    fn refused(body: &str) -> String {
        parse(body.as_bytes()).expect_err("the body is refused").0
    }

    #[test]
    fn the_default_body_gives_every_output_field() {
        let webhook = parsed(json!({
            "id": "2983781", "status": "ACCEPTED", "summary": "Suspicious logon",
            "details": "details", "reportTime": "2019-08-29T09:52:39.551Z",
            "eventType": "alert-accepted", "priority": "LOW", "alertKey": UUID,
            "alertSource": {"id": 2101194, "name": "Sekoia.io"},
            "assignedTo": {"username": "ada", "email": "ada@example.com",
                           "firstName": "Ada", "lastName": "Lovelace"}
        }));
        assert_eq!(webhook.named_alert.as_deref(), Some(UUID));
        assert_eq!(
            webhook.change.event(UUID),
            json!({
                "event_type": "alert-accepted", "ilert_alert_id": "2983781",
                "status": "accepted", "alert_key": UUID, "alert_uuid": UUID,
                "summary": "Suspicious logon", "priority": "LOW", "alert_url": null,
                "report_time": "2019-08-29T09:52:39.551Z",
                "assigned_to": {"username": "ada", "email": "ada@example.com",
                                "first_name": "Ada", "last_name": "Lovelace"}
            })
        );
    }

    #[test]
    fn a_custom_body_of_template_variables_is_read_too() {
        let webhook = parsed(json!({
            "alertId": 42, "alertStatus": "resolved", "alertKey": "ALZG0v7JU7O4",
            "alertSummary": "s", "alertPriority": "HIGH",
            "alertUrl": "https://example.ilert.com/alert/view?id=42",
            "eventType": "incident-resolved"
        }));
        assert_eq!(webhook.named_alert.as_deref(), Some("ALZG0v7JU7O4"));
        let change = webhook.change;
        assert_eq!(change.ilert_alert_id, "42");
        assert_eq!(change.status, IlertStatus::Resolved);
        assert_eq!(change.priority.as_deref(), Some("HIGH"));
        assert_eq!(
            change.alert_url.as_deref(),
            Some("https://example.ilert.com/alert/view?id=42")
        );
        assert_eq!(change.event_type.as_deref(), Some("incident-resolved"));
        assert_eq!(change.assigned_to, None);
    }

    #[test]
    fn without_an_alert_id_as_key_a_short_id_in_the_summary_or_details_names_the_alert() {
        let in_summary = parsed(
            json!({"id": "1", "status": "PENDING", "alertKey": "disk-full",
            "summary": "Sekoia.io alert AL9Cwu6sQooz: ransomware", "details": "ALfH9MVLQQNB"}),
        );
        assert_eq!(in_summary.named_alert.as_deref(), Some("AL9Cwu6sQooz"));
        let in_details = parsed(json!({"id": "1", "status": "PENDING",
            "summary": "ALTERNATIVES ALERT", "details": "**Sekoia.io alert ALfH9MVLQQNB** (pending)"}));
        assert_eq!(in_details.named_alert.as_deref(), Some("ALfH9MVLQQNB"));
        let nowhere = parsed(
            json!({"id": "1", "status": "PENDING", "alertKey": "disk-full",
            "summary": "ALTERNATIVES and ALERT are words", "details": "no AL123 here"}),
        );
        assert_eq!(nowhere.named_alert, None);
        let reason = nowhere.change.untraced();
        assert!(reason.contains("ilert alert 1"), "{reason}");
        assert!(reason.contains("alertKey \"disk-full\""), "{reason}");
        assert!(reason.contains("summary and details"), "{reason}");
        assert!(reason.contains("forwarded"), "{reason}");
    }

    #[test]
    fn statuses_are_read_in_any_case() {
        for (given, status) in [
            ("PENDING", IlertStatus::Pending),
            ("Accepted", IlertStatus::Accepted),
            (" resolved ", IlertStatus::Resolved),
        ] {
            let webhook = parsed(json!({"id": "7", "status": given}));
            assert_eq!(webhook.change.status, status, "{given}");
        }
    }

    #[test]
    fn a_body_without_what_is_needed_is_refused_naming_the_field() {
        let cases = [
            ("not json", "not JSON"),
            ("[1, 2]", "JSON object"),
            (r#"{"status": "ACCEPTED"}"#, "`alertId`"),
            (r#"{"id": " ", "status": "ACCEPTED"}"#, "`id`"),
            (r#"{"id": "12a", "status": "ACCEPTED"}"#, "numeric"),
            (r#"{"id": "12"}"#, "`alertStatus`"),
            (
                r#"{"alertId": "12", "alertStatus": "DONE"}"#,
                "PENDING, ACCEPTED or RESOLVED",
            ),
        ];
        for (body, named) in cases {
            let message = refused(body);
            assert!(message.contains(named), "{body}: {message}");
        }
    }
}
