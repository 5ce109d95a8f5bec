//! The Trigger Alert action.

use alertsync_engine::redact::MASK;
use alertsync_engine::{Action, ActionContext, ActionError, ActionManifest, ActionOutput};
use async_trait::async_trait;
use serde_json::{Value, json};

use super::alert_changed::{LINK_SYSTEM, is_ilert_alert_id};
use crate::alert::{Forwarder, OnCallAction, alert_link, forwarded_status, integration_account};
use crate::args::{alert_id, is_alert_id};
use crate::delivery::{JsonPost, accepted_answer};
use crate::sekoia;

pub const ACTION_UUID: &str = "7675796a-393d-42f2-9648-709483a22bc0";

/// What a 404 from ilert means.
const NOT_FOUND: &str = "wrong integration key or URL — check the ilert account's \
                         integration_key and integration_url";

/// Sends a Sekoia.io alert to ilert.
pub struct TriggerAlert {
    manifest: ActionManifest,
}

impl TriggerAlert {
    pub fn new() -> Self {
        let forwarder = Forwarder {
            uuid: ACTION_UUID,
            name: "Trigger Alert",
            slug: "trigger_alert",
            command: "ilert_trigger_alert",
            description: "Trigger alert to ilert",
            results: "The payload sent to ilert",
        };
        Self {
            manifest: forwarder.manifest(json!({})),
        }
    }
}

impl Default for TriggerAlert {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Action for TriggerAlert {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let alert_uuid = alert_id(&args, "alert_uuid")?;
        let sekoia = sekoia::client_from_args(cx, &args)?;
        let destination = Destination::from_account(cx)?;

        // The alert as Sekoia.io serves it by default, as Sekoia.io's module forwards it
        // (not the trimmed form of `get_alert`).
        let alert = sekoia.get_served_alert(cx, alert_uuid).await?;
        let status = forwarded_status(&alert);
        let forwarded_uuid = alert
            .get("uuid")
            .and_then(Value::as_str)
            .filter(|uuid| is_alert_id(uuid))
            .map(str::to_owned);
        cx.log.info(format!(
            "alert {alert_uuid} fetched; forwarding with status `{status}`"
        ));

        let (body, results) = match destination.form {
            EndpointForm::SekoiaTyped => {
                let mut body = alert;
                if let Some(obj) = body.as_object_mut() {
                    obj.insert("status".to_owned(), Value::String(status));
                }
                (body.clone(), body)
            }
            EndpointForm::Generic => {
                let event = generic_event(&alert, &status, sekoia.base_url(), &destination.key);
                let mut results = event.clone();
                results["integrationKey"] = Value::String(MASK.to_owned());
                (event, results)
            }
        };
        let answer = destination.post(cx, &body).await?;
        if let Some(alert_uuid) = &forwarded_uuid {
            link_named_alert(cx, &answer, alert_uuid).await;
        }
        Ok(ActionOutput::new(results))
    }
}

/// Records the ilert alert ilert's answer names as the forwarded alert's, so that the
/// changes its webhook reports can be traced back to the Sekoia.io alert (see
/// [`super::alert_changed`]).
async fn link_named_alert(cx: &ActionContext, answer: &Value, alert_uuid: &str) {
    let (Some(links), Some(ilert_id)) = (&cx.links, alert_named_in(answer)) else {
        return;
    };
    links.link(LINK_SYSTEM, &ilert_id, alert_uuid).await;
    cx.log.info(format!(
        "ilert holds alert {alert_uuid} as its alert {ilert_id}"
    ));
}

/// The ilert alert an answer of ilert names: `alertId`, or the id `alertUrl` ends with
/// (`?id=<id>` or `/<id>`); older accounts say `incidentId` and `incidentUrl`.
fn alert_named_in(answer: &Value) -> Option<String> {
    let field = |name: &str| match answer.get(name)? {
        Value::String(text) => Some(text.trim().to_owned()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    };
    let by_id = ["alertId", "incidentId"].into_iter().filter_map(field);
    let by_url = ["alertUrl", "incidentUrl"]
        .into_iter()
        .filter_map(field)
        .filter_map(|url| id_at_end_of(&url));
    by_id.chain(by_url).find(|id| is_ilert_alert_id(id))
}

/// The `id` query parameter of `url`, else its last path segment.
fn id_at_end_of(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    let from_query = url
        .query_pairs()
        .find(|(key, _)| key == "id")
        .map(|(_, id)| id.into_owned());
    from_query.or_else(|| {
        url.path_segments()?
            .rfind(|segment| !segment.is_empty())
            .map(str::to_owned)
    })
}

/// Which of ilert's two endpoint forms an integration URL is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndpointForm {
    /// `<integration_url>/<integration_key>` with the alert as body.
    SekoiaTyped,
    /// ilert's generic Events API: the key in the body.
    Generic,
}

/// Where the alert goes: the account's URL and key.
struct Destination {
    url: String,
    /// The URL with the key masked, for logs and errors.
    shown_url: String,
    key: String,
    form: EndpointForm,
}

impl Destination {
    fn from_account(cx: &ActionContext) -> Result<Self, ActionError> {
        let (key, base, parsed) =
            integration_account(cx, super::SLUG, "ilert", super::DEFAULT_INTEGRATION_URL)?;
        let base = base.trim_end_matches('/');
        let path = parsed.path().trim_end_matches('/');
        let form = if path.ends_with("/api/events") || path.ends_with("/api/v1/events") {
            EndpointForm::Generic
        } else {
            EndpointForm::SekoiaTyped
        };
        let (url, shown_url) = match form {
            EndpointForm::SekoiaTyped => (format!("{base}/{key}"), format!("{base}/{MASK}")),
            EndpointForm::Generic => (base.to_owned(), base.to_owned()),
        };
        Ok(Self {
            url,
            shown_url,
            key,
            form,
        })
    }

    /// POSTs the body, retrying transient failures; 404 is a wrong key or URL. Returns
    /// ilert's answer (`null` when it is not JSON or cannot be read: the event was accepted
    /// all the same, and is not sent again).
    async fn post(&self, cx: &ActionContext, body: &Value) -> Result<Value, ActionError> {
        let what = format!("ilert POST {}", self.shown_url);
        let response = JsonPost::new(&self.url, &what)
            .throttled(super::SLUG, &self.key)
            .explaining_not_found(NOT_FOUND)
            .send(cx, body)
            .await?;
        cx.log.info(format!("{what}: accepted"));
        Ok(accepted_answer(cx, response, &what).await)
    }
}

/// Sends the account an event that changes nothing — resolve an alert key no alert has — to
/// prove the integration key and URL work (see [`crate::probe`]).
pub async fn resolve_nothing(cx: &ActionContext) -> Result<String, ActionError> {
    let destination = Destination::from_account(cx)?;
    let alert_key = format!("alertsync-check-{}", uuid::Uuid::new_v4());
    let body = match destination.form {
        EndpointForm::SekoiaTyped => json!({
            "uuid": alert_key,
            "status": "resolved",
            "title": "alertsync check: resolves no alert",
        }),
        EndpointForm::Generic => json!({
            "integrationKey": destination.key,
            "eventType": "RESOLVE",
            "summary": "alertsync check: resolves no alert",
            "alertKey": alert_key,
        }),
    };
    destination.post(cx, &body).await?;
    Ok(format!(
        "POST {} accepted a resolve event for {alert_key}, which no alert has",
        destination.shown_url
    ))
}

/// ilert's generic event for an alert: `alertKey` is the Sekoia.io alert uuid so that later
/// status changes act on the same ilert alert.
fn generic_event(alert: &Value, status: &str, base_url: &str, key: &str) -> Value {
    let event_type = match OnCallAction::for_status(status) {
        OnCallAction::Trigger => "ALERT",
        OnCallAction::Acknowledge => "ACCEPT",
        OnCallAction::Resolve => "RESOLVE",
    };
    let text = |field: &str| {
        alert
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let rule = alert
        .pointer("/rule/name")
        .and_then(Value::as_str)
        .unwrap_or("unknown rule");
    let urgency = alert
        .pointer("/urgency/current_value")
        .map(Value::to_string)
        .unwrap_or_default();
    let link = alert_link(base_url, None, alert);
    json!({
        "integrationKey": key,
        "eventType": event_type,
        "alertKey": text("uuid"),
        "summary": text("title"),
        "details": format!(
            "**Sekoia.io alert {}** ({status})\n\n* Rule: {rule}\n* Urgency: {urgency}\n* Source: {}\n* Target: {}",
            text("short_id"), text("source"), text("target")
        ),
        "links": [{"href": link, "text": "Open in Sekoia.io"}],
        "customDetails": alert,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::alert_named_in;

    #[test]
    fn an_answer_names_the_alert_by_id_or_by_url() {
        let named = |answer| alert_named_in(&answer);
        assert_eq!(named(json!({"alertId": 42})).as_deref(), Some("42"));
        assert_eq!(named(json!({"incidentId": "7"})).as_deref(), Some("7"));
        assert_eq!(
            named(json!({"alertUrl": "https://acme.ilert.com/alert/view?id=9001"})).as_deref(),
            Some("9001")
        );
        assert_eq!(
            named(json!({"incidentUrl": "https://acme.ilert.com/incidents/55/"})).as_deref(),
            Some("55")
        );
        assert_eq!(named(json!({"alertKey": "3f2b1c9a"})), None);
        assert_eq!(
            named(json!({"alertUrl": "https://acme.ilert.com/alerts"})),
            None
        );
        assert_eq!(named(json!(null)), None);
    }
}
