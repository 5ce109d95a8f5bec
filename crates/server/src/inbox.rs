//! What an inbox event carries, and how it becomes the event a trigger node outputs.
//!
//! Sources store the **change** (an alert was created, a webhook was called), not the
//! trigger's output: the alert is read when the event is processed, so an event is stored
//! and acknowledged even while Sekoia.io cannot be read, and a run sees the alert as it is
//! when the run starts.

use alertsync_engine::{ActionError, RetryPolicy};
use alertsync_integrations::sekoia::{SekoiaClient, triggers};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::deploy::AlertChangeKind;

/// The payload of an inbox event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InboxPayload {
    /// A Sekoia.io alert changed (live notification or back-fill).
    AlertChange {
        change: AlertChangeKind,
        alert_uuid: String,
        /// The comment, for a comment notification.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<Value>,
    },
    /// A playbook's webhook was called for an alert.
    Webhook { alert_uuid: String },
    /// A schedule fired.
    Cron { scheduled_at: String },
}

impl InboxPayload {
    /// The trigger node's output for this event: alert events read the alert first.
    pub async fn trigger_event(
        &self,
        sekoia: Option<&SekoiaClient>,
        retry: RetryPolicy,
    ) -> Result<Value, String> {
        match self {
            Self::Cron { scheduled_at } => Ok(json!({ "scheduled_at": scheduled_at })),
            Self::Webhook { alert_uuid } => {
                let alert = read_alert(sekoia, alert_uuid, retry).await?;
                Ok(triggers::alert_event(&alert, "alert"))
            }
            Self::AlertChange {
                change,
                alert_uuid,
                comment,
            } => {
                let alert = read_alert(sekoia, alert_uuid, retry).await?;
                let event_type = match change {
                    AlertChangeKind::CommentCreated => "alert-comment",
                    _ => "alert",
                };
                let mut event = triggers::alert_event(&alert, event_type);
                if let (Some(comment), Some(map)) = (comment, event.as_object_mut()) {
                    map.insert("comment".to_owned(), comment.clone());
                }
                Ok(event)
            }
        }
    }
}

async fn read_alert(
    sekoia: Option<&SekoiaClient>,
    alert_uuid: &str,
    retry: RetryPolicy,
) -> Result<Value, String> {
    let client = sekoia.ok_or("no Sekoia.io account to read the alert with")?;
    let cx = client.service_context(retry);
    client
        .get_alert(&cx, alert_uuid)
        .await
        .map_err(|err: ActionError| format!("reading alert {alert_uuid}: {}", err.message))
}
