//! The Post Sekoia.io Alert action: one attachment, coloured by urgency.

use alertsync_engine::{Action, ActionContext, ActionError, ActionManifest, ActionOutput};
use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Hook, add_overrides};
use crate::alert::{Forwarder, alert_link};
use crate::sekoia;

/// Posts a Sekoia.io alert.
pub struct PostAlert {
    manifest: ActionManifest,
}

impl PostAlert {
    pub fn new() -> Self {
        let forwarder = Forwarder {
            uuid: "ef3794ca-b5fa-4cee-af3f-fd5ffac01c88",
            name: "Post Sekoia.io Alert",
            slug: "post_alert",
            command: "mattermost_post_alert",
            description: "Post a Sekoia.io alert to a Mattermost channel",
            results: "The message posted",
        };
        Self {
            manifest: forwarder.manifest(json!({
                "channel": {"type": "string", "description": "The channel (default: the webhook's)"},
                "pretext": {"type": "string", "description": "Text shown above the alert"}
            })),
        }
    }
}

impl Default for PostAlert {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Action for PostAlert {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let hook = Hook::from_account(cx)?;
        let pretext = crate::args::optional_str(&args, "pretext")?;
        let (client, alert) = sekoia::alert_from_args(cx, &args).await?;
        let mut attachment = alert_attachment(&alert, client.base_url());
        if let Some(pretext) = pretext {
            attachment["pretext"] = Value::String(pretext.to_owned());
        }
        let mut message = json!({"attachments": [attachment]});
        add_overrides(&mut message, &args, &["channel"])?;
        hook.post(cx, &message).await?;
        Ok(ActionOutput::new(message))
    }
}

/// The attachment describing an alert.
fn alert_attachment(alert: &Value, base_url: &str) -> Value {
    let text = |pointer: &str| {
        alert
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let urgency = alert
        .pointer("/urgency/current_value")
        .and_then(Value::as_f64)
        .unwrap_or_default();
    let urgency_value = alert
        .pointer("/urgency/value")
        .and_then(Value::as_f64)
        .unwrap_or(urgency);
    let field = |title: &str, value: String, short: bool| json!({"title": title, "value": value, "short": short});
    let title = text("/title");
    json!({
        "fallback": format!("Sekoia.io alert {}: {title}", text("/short_id")),
        "color": urgency_colour(urgency),
        "author_name": text("/entity/name"),
        "title": title,
        "title_link": alert_link(base_url, None, alert),
        "fields": [
            field("Alert type", format!("{} / {}", text("/alert_type/category"), text("/alert_type/value")), true),
            field("Urgency", format!("{} - {urgency_value}", text("/urgency/display")), true),
            field("Source", text("/source"), true),
            field("Target", text("/target"), true),
            field("Description", text("/details"), false),
        ],
    })
}

/// A colour from green (urgency 0) through yellow to red (urgency 100).
fn urgency_colour(urgency: f64) -> String {
    let u = urgency.clamp(0.0, 100.0) / 100.0;
    let red = (2.0 * u).min(1.0) * 255.0;
    let green = (2.0 * (1.0 - u)).min(1.0) * 255.0;
    format!("#{:02x}{:02x}00", red.round() as u8, green.round() as u8)
}

#[cfg(test)]
mod tests {
    use super::urgency_colour;

    #[test]
    fn colour_goes_from_green_to_red() {
        assert_eq!(urgency_colour(0.0), "#00ff00");
        assert_eq!(urgency_colour(50.0), "#ffff00");
        assert_eq!(urgency_colour(100.0), "#ff0000");
        assert_eq!(urgency_colour(250.0), "#ff0000");
    }
}
