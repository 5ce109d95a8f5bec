//! What an inbox event carries, and how it becomes the event a trigger node outputs.
//!
//! Sources store the **change** (an alert was created, a webhook was called), not the
//! trigger's output: the alert is read when the event is processed, so an event is stored
//! and acknowledged even while Sekoia.io cannot be read, and a run sees the alert as it is
//! when the run starts.

use std::path::{Path, PathBuf};

use alertsync_engine::{ActionError, RetryPolicy};
use alertsync_integrations::sekoia::{ApiPath, SekoiaClient, triggers};
use axum::http::Method;
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
    /// The trigger node's output for this event, and the directory of files made for the
    /// run: alert events read the alert (and a comment event its comment) and write it to a
    /// file of the data directory, as Sekoia.io's triggers do.
    pub async fn trigger_event(
        &self,
        sekoia: Option<&SekoiaClient>,
        retry: RetryPolicy,
        data_dir: &Path,
    ) -> Result<(Value, Option<PathBuf>), String> {
        match self {
            Self::Cron { scheduled_at } => Ok((json!({ "scheduled_at": scheduled_at }), None)),
            Self::Webhook { alert_uuid } => Ok((triggers::manual_event(alert_uuid), None)),
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
                if let Some(comment) = comment {
                    let comment = read_comment(sekoia, alert_uuid, comment, retry).await?;
                    event["comment"] = triggers::comment_of(&comment);
                }
                let files = triggers::attach_alert_file(data_dir, &alert, &mut event).await?;
                Ok((event, Some(files)))
            }
        }
    }
}

/// The comment a notification names (`{"uuid": ...}`), read from Sekoia.io.
async fn read_comment(
    sekoia: Option<&SekoiaClient>,
    alert_uuid: &str,
    comment: &Value,
    retry: RetryPolicy,
) -> Result<Value, String> {
    let client = sekoia.ok_or("no Sekoia.io account to read the comment with")?;
    let comment_uuid = comment
        .get("uuid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let cx = client.service_context(retry);
    let path = ApiPath::alert(alert_uuid)
        .then("comments")
        .value(comment_uuid);
    client
        .call(&cx, Method::GET, &path, &[], None)
        .await
        .map_err(|err: ActionError| {
            format!(
                "reading comment {comment_uuid} of alert {alert_uuid}: {}",
                err.message
            )
        })
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
