//! The Trigger Alert action: a Sekoia.io alert as a PagerDuty Events v2 event.

use alertsync_engine::redact::MASK;
use alertsync_engine::{Action, ActionContext, ActionError, ActionManifest, ActionOutput};
use async_trait::async_trait;
use serde_json::{Value, json};

use crate::alert::{Forwarder, OnCallAction, alert_link, forwarded_status, integration_account};
use crate::delivery::JsonPost;
use crate::sekoia;

pub const ACTION_UUID: &str = "34e0bd73-a7d2-426a-b9fd-21b1124bb395";

/// Sends a Sekoia.io alert to PagerDuty.
pub struct TriggerAlert {
    manifest: ActionManifest,
}

impl TriggerAlert {
    pub fn new() -> Self {
        let forwarder = Forwarder {
            uuid: ACTION_UUID,
            name: "Trigger Alert",
            slug: "trigger_alert",
            command: "pagerduty_trigger_alert",
            description: "Trigger a PagerDuty alert from a Sekoia.io alert",
            results: "The event sent to PagerDuty (routing_key masked)",
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
        let (url, routing_key) = destination(cx)?;
        let (client, alert) = sekoia::alert_from_args(cx, &args).await?;
        let event = pagerduty_event(&alert, &routing_key, client.base_url());
        let what = format!("PagerDuty POST {url}");
        JsonPost::new(&url, &what).send(cx, &event).await?;
        let mut results = event;
        results["routing_key"] = Value::String(MASK.to_owned());
        Ok(ActionOutput::new(results))
    }
}

/// The Events v2 URL and the routing key, from the account.
fn destination(cx: &ActionContext) -> Result<(String, String), ActionError> {
    let (key, url, _) =
        integration_account(cx, super::SLUG, "PagerDuty", super::DEFAULT_INTEGRATION_URL)?;
    Ok((url, key))
}

/// The event: `trigger` for open alerts, `acknowledge` / `resolve` as the status says,
/// deduplicated by the alert's short id.
fn pagerduty_event(alert: &Value, routing_key: &str, base_url: &str) -> Value {
    let text = |pointer: &str| {
        alert
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let event_action = match OnCallAction::for_status(&forwarded_status(alert)) {
        OnCallAction::Trigger => "trigger",
        OnCallAction::Acknowledge => "acknowledge",
        OnCallAction::Resolve => "resolve",
    };
    let urgency = alert
        .pointer("/urgency/current_value")
        .and_then(Value::as_f64)
        .unwrap_or_default();
    let source = Some(text("/entity/name"))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "Sekoia.io".to_owned());
    json!({
        "routing_key": routing_key,
        "event_action": event_action,
        "dedup_key": text("/short_id"),
        "payload": {
            "summary": text("/title"),
            "source": source,
            "severity": severity(urgency),
            "class": format!("{} - {}", text("/alert_type/category"), text("/alert_type/value")),
            "custom_details": {
                "source": alert.get("source").cloned().unwrap_or(Value::Null),
                "target": alert.get("target").cloned().unwrap_or(Value::Null),
                "details": alert.get("details").cloned().unwrap_or(Value::Null),
            }
        },
        "links": [{"href": alert_link(base_url, None, alert), "text": "Open in Sekoia.io"}],
        "client": "alertsync",
    })
}

/// PagerDuty severity from an urgency of 0–100.
fn severity(urgency: f64) -> &'static str {
    match urgency {
        u if u < 25.0 => "info",
        u if u < 50.0 => "warning",
        u if u < 75.0 => "error",
        _ => "critical",
    }
}

#[cfg(test)]
mod tests {
    use super::severity;

    #[test]
    fn severity_follows_urgency() {
        assert_eq!(severity(0.0), "info");
        assert_eq!(severity(24.0), "info");
        assert_eq!(severity(25.0), "warning");
        assert_eq!(severity(50.0), "error");
        assert_eq!(severity(75.0), "critical");
        assert_eq!(severity(100.0), "critical");
    }
}
