//! The inbox: where trigger sources put events. It works out which playbook triggers an
//! event fires — queued as runs in the same transaction as the event — stores it, and wakes
//! the scheduler. An event is acknowledged (webhook 202, checkpoint moved) only once
//! [`Inbox::accept`] has returned.
//!
//! Sources store the **change** (an alert was created, a webhook was called), not the
//! trigger's output: the alert is read when the run starts, so an event is stored and
//! acknowledged even while Sekoia.io cannot be read, and a run sees the alert as it is
//! when it runs.
//!
//! Every deployed playbook gets its runs, disabled ones included: a playbook disabled at
//! run time holds its runs until it is enabled again. Playbooks disabled in the
//! configuration file are not deployed to run, and get none.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use alertsync_engine::{ActionContext, ActionError};
use alertsync_integrations::ilert::alert_changed::IlertAlertChange;
use alertsync_integrations::sekoia::{ApiPath, SekoiaClient, triggers};
use alertsync_store::{
    Checkpoint, Enqueued, EventSource, InboxEvent, NewInboxEvent, RunAlert, RunTarget, Store,
    StoreResult,
};
use axum::http::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::deploy::{AlertChangeKind, Deployment, TriggerKind, Webhook};

/// What an inbox event says happened.
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
    /// A playbook's webhook (Manual Trigger node `trigger_node`) was called for an alert.
    Webhook {
        playbook_id: String,
        trigger_node: String,
        alert_uuid: String,
    },
    /// ilert's webhook reported a change of an ilert alert to a playbook (Alert Changed in
    /// ilert node `trigger_node`); `alert_uuid` is the Sekoia.io alert it belongs to, if one
    /// was found.
    IlertAlertChanged {
        playbook_id: String,
        trigger_node: String,
        change: Box<IlertAlertChange>,
        alert_uuid: Option<String>,
    },
    /// A playbook's schedule (Cron trigger node `trigger_node`) fired.
    Cron {
        playbook_id: String,
        trigger_node: String,
        scheduled_at: String,
    },
}

impl InboxPayload {
    /// The alert the event is about, if any.
    pub fn alert_uuid(&self) -> Option<&str> {
        match self {
            Self::AlertChange { alert_uuid, .. } | Self::Webhook { alert_uuid, .. } => {
                Some(alert_uuid)
            }
            Self::IlertAlertChanged { alert_uuid, .. } => alert_uuid.as_deref(),
            Self::Cron { .. } => None,
        }
    }

    /// The trigger node's output for this event, the directory of files made for the run,
    /// and the alert as the run keeps it: alert events read the alert (and a comment event
    /// its comment) through Sekoia.io account `account` with `cx` (its retry policy and the
    /// run's retry journal) and write it to a file of the data directory, as Sekoia.io's
    /// triggers do. An ilert change that belongs to no Sekoia.io alert fails, saying what was
    /// tried.
    pub async fn trigger_event(
        &self,
        account: &str,
        sekoia: Option<&SekoiaClient>,
        cx: &ActionContext,
        data_dir: &Path,
    ) -> Result<TriggerEvent, ActionError> {
        match self {
            Self::Cron { scheduled_at, .. } => {
                Ok(TriggerEvent::of(json!({ "scheduled_at": scheduled_at })))
            }
            Self::Webhook { alert_uuid, .. } => {
                Ok(TriggerEvent::of(triggers::manual_event(alert_uuid)))
            }
            Self::IlertAlertChanged {
                change, alert_uuid, ..
            } => match alert_uuid {
                Some(alert_uuid) => Ok(TriggerEvent::of(change.event(alert_uuid))),
                None => Err(ActionError::permanent(change.untraced())),
            },
            Self::AlertChange {
                change,
                alert_uuid,
                comment,
            } => {
                let client = sekoia.ok_or_else(|| {
                    ActionError::permanent("no Sekoia.io account to read the alert with")
                })?;
                let alert = read_alert(client, alert_uuid, cx).await?;
                let event_type = match change {
                    AlertChangeKind::CommentCreated => "alert-comment",
                    _ => "alert",
                };
                let mut output = triggers::alert_event(&alert, event_type);
                if let Some(comment) = comment {
                    let comment = read_comment(client, alert_uuid, comment, cx).await?;
                    output["comment"] = triggers::comment_of(&comment);
                }
                let files = triggers::attach_alert_file(data_dir, &alert, &mut output)
                    .await
                    .map_err(ActionError::permanent)?;
                Ok(TriggerEvent {
                    output,
                    files: Some(files),
                    alert: Some(run_alert(account, &alert)),
                })
            }
        }
    }
}

/// What a run starts from: the trigger node's output, the files made for the run, and the
/// alert the trigger read, if it read one.
#[derive(Debug)]
pub struct TriggerEvent {
    pub output: Value,
    /// Removed when the run ends.
    pub files: Option<PathBuf>,
    pub alert: Option<RunAlert>,
}

impl TriggerEvent {
    /// An event that read nothing and made no file.
    fn of(output: Value) -> Self {
        Self {
            output,
            files: None,
            alert: None,
        }
    }
}

/// What a run keeps of a Sekoia.io alert (as the REST API serves it) read through
/// `account`.
pub fn run_alert(account: &str, alert: &Value) -> RunAlert {
    let text = |key: &str| alert.get(key).and_then(Value::as_str).map(str::to_owned);
    RunAlert {
        account: Some(account.to_owned()),
        short_id: text("short_id"),
        title: text("title"),
        urgency: alert
            .pointer("/urgency/current_value")
            .and_then(Value::as_i64),
    }
}

/// The comment a notification names (`{"uuid": ...}`), read from Sekoia.io.
async fn read_comment(
    client: &SekoiaClient,
    alert_uuid: &str,
    comment: &Value,
    cx: &ActionContext,
) -> Result<Value, ActionError> {
    let comment_uuid = comment
        .get("uuid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let path = ApiPath::alert(alert_uuid)
        .then("comments")
        .value(comment_uuid);
    client
        .call(cx, Method::GET, &path, &[], None)
        .await
        .map_err(|err| ActionError {
            message: format!(
                "reading comment {comment_uuid} of alert {alert_uuid}: {}",
                err.message
            ),
            ..err
        })
}

async fn read_alert(
    client: &SekoiaClient,
    alert_uuid: &str,
    cx: &ActionContext,
) -> Result<Value, ActionError> {
    client
        .get_alert(cx, alert_uuid)
        .await
        .map_err(|err| ActionError {
            message: format!("reading alert {alert_uuid}: {}", err.message),
            ..err
        })
}

/// An event a source has received, before it is stored.
#[derive(Debug, Clone)]
pub struct IncomingEvent {
    pub source: EventSource,
    /// The account (Sekoia.io community connection) it came through, if any.
    pub account: String,
    /// What makes two deliveries of one change the same event.
    pub dedup_key: String,
    pub payload: InboxPayload,
}

/// The inbox of one service.
#[derive(Clone)]
pub struct Inbox {
    store: Arc<dyn Store>,
    deployment: Arc<Deployment>,
    wake: Arc<Notify>,
}

impl Inbox {
    pub fn new(store: Arc<dyn Store>, deployment: Arc<Deployment>, wake: Arc<Notify>) -> Self {
        Self {
            store,
            deployment,
            wake,
        }
    }

    /// Stores `event` with its runs; returns once it is committed.
    pub async fn accept(&self, event: IncomingEvent) -> StoreResult<Enqueued> {
        let stored = self.store.enqueue(self.prepare(event)).await?;
        if stored.is_new() {
            self.wake.notify_one();
        }
        Ok(stored)
    }

    /// Stores `events` with their runs and moves `checkpoint`, in one transaction.
    pub async fn accept_batch(
        &self,
        events: Vec<IncomingEvent>,
        checkpoint: Option<Checkpoint>,
    ) -> StoreResult<Vec<Enqueued>> {
        let events = events.into_iter().map(|e| self.prepare(e)).collect();
        let stored = self.store.enqueue_batch(events, checkpoint).await?;
        if stored.iter().any(|s| s.is_new()) {
            self.wake.notify_one();
        }
        Ok(stored)
    }

    /// Queues the runs of the open events an older alertsync stored without them.
    pub async fn route_unrouted(&self) -> StoreResult<usize> {
        let events = self.store.unrouted_events().await?;
        for event in &events {
            let targets = self.targets_of_stored(event);
            self.store.route_event(event.id, targets).await?;
        }
        if !events.is_empty() {
            self.wake.notify_one();
        }
        Ok(events.len())
    }

    fn prepare(&self, event: IncomingEvent) -> NewInboxEvent {
        NewInboxEvent {
            runs: self.targets(&event.payload),
            source: event.source,
            account: event.account,
            alert_uuid: event.payload.alert_uuid().map(str::to_owned),
            dedup_key: event.dedup_key,
            payload: json!(event.payload),
            received_at_ms: alertsync_engine::now_ms(),
        }
    }

    /// The playbook triggers a stored event fires; none if its payload is unreadable.
    fn targets_of_stored(&self, event: &InboxEvent) -> Vec<RunTarget> {
        match serde_json::from_value::<InboxPayload>(event.payload.clone()) {
            Ok(payload) => self.targets(&payload),
            Err(err) => {
                tracing::error!(
                    "inbox event {}: unreadable payload ({err}); it starts no run",
                    event.id
                );
                Vec::new()
            }
        }
    }

    /// The playbook triggers an event fires.
    pub fn targets(&self, payload: &InboxPayload) -> Vec<RunTarget> {
        let mut targets = Vec::new();
        for playbook in self.deployment.enabled() {
            for trigger in &playbook.triggers {
                let fires = match (payload, trigger.kind) {
                    (InboxPayload::AlertChange { change, .. }, TriggerKind::Alert(kind)) => {
                        kind.fires_on(*change)
                    }
                    (
                        InboxPayload::Webhook {
                            playbook_id,
                            trigger_node,
                            ..
                        },
                        TriggerKind::Webhook(Webhook::Manual),
                    )
                    | (
                        InboxPayload::IlertAlertChanged {
                            playbook_id,
                            trigger_node,
                            ..
                        },
                        TriggerKind::Webhook(Webhook::IlertAlertChanged),
                    )
                    | (
                        InboxPayload::Cron {
                            playbook_id,
                            trigger_node,
                            ..
                        },
                        TriggerKind::Cron,
                    ) => *playbook_id == playbook.id && *trigger_node == trigger.node_id,
                    _ => false,
                };
                if fires {
                    targets.push(RunTarget {
                        playbook_id: playbook.id.clone(),
                        trigger_node: trigger.node_id.clone(),
                    });
                }
            }
        }
        targets
    }
}
