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

use std::sync::Arc;

use alertsync_integrations::ilert::alert_changed::IlertAlertChange;
use alertsync_integrations::sekoia::triggers::cases::CaseChangeKind;
use alertsync_store::{
    Checkpoint, Enqueued, EventSource, InboxEvent, NewInboxEvent, RunTarget, Store, StoreResult,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::deploy::{AlertTrigger, Deployment, TriggerKind, Webhook};
use alertsync_integrations::sekoia::live::ChangeKind;

/// What an inbox event says happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InboxPayload {
    /// A Sekoia.io alert changed (live notification or back-fill).
    AlertChange {
        change: ChangeKind,
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
    /// A Sekoia.io case changed (live notification); `attributes` are the notification's.
    CaseChange {
        change: CaseChangeKind,
        case_uuid: String,
        attributes: Value,
    },
    /// A page of the intelligence feed a playbook's feed trigger (node `trigger_node`)
    /// reads.
    FeedPage {
        playbook_id: String,
        trigger_node: String,
        objects: Vec<Value>,
    },
    /// New events on an alert waited the time window of a playbook's Alert Events
    /// Threshold trigger (node `trigger_node`).
    ThresholdTimeCheck {
        playbook_id: String,
        trigger_node: String,
        alert_uuid: String,
    },
}

impl InboxPayload {
    /// The alert the event is about, if any.
    pub fn alert_uuid(&self) -> Option<&str> {
        match self {
            Self::AlertChange { alert_uuid, .. }
            | Self::Webhook { alert_uuid, .. }
            | Self::ThresholdTimeCheck { alert_uuid, .. } => Some(alert_uuid),
            Self::IlertAlertChanged { alert_uuid, .. } => alert_uuid.as_deref(),
            Self::Cron { .. } | Self::CaseChange { .. } | Self::FeedPage { .. } => None,
        }
    }

    /// The playbook trigger node a targeted event is for (webhooks, schedules, feeds,
    /// time checks); `None` for the changes every matching trigger sees.
    fn target(&self) -> Option<(&str, &str)> {
        match self {
            Self::Webhook {
                playbook_id,
                trigger_node,
                ..
            }
            | Self::IlertAlertChanged {
                playbook_id,
                trigger_node,
                ..
            }
            | Self::Cron {
                playbook_id,
                trigger_node,
                ..
            }
            | Self::FeedPage {
                playbook_id,
                trigger_node,
                ..
            }
            | Self::ThresholdTimeCheck {
                playbook_id,
                trigger_node,
                ..
            } => Some((playbook_id, trigger_node)),
            Self::AlertChange { .. } | Self::CaseChange { .. } => None,
        }
    }

    /// Whether the event fires a trigger of this kind (for a targeted event, the target
    /// is checked apart).
    fn fires(&self, kind: TriggerKind) -> bool {
        match (self, kind) {
            (Self::AlertChange { change, .. }, TriggerKind::Alert(alert)) => {
                alert.fires_on(*change)
            }
            (Self::CaseChange { change, .. }, TriggerKind::Case(case)) => *change == case,
            (Self::Webhook { .. }, TriggerKind::Webhook(Webhook::Manual))
            | (Self::IlertAlertChanged { .. }, TriggerKind::Webhook(Webhook::IlertAlertChanged))
            | (Self::Cron { .. }, TriggerKind::Cron)
            | (Self::FeedPage { .. }, TriggerKind::Feed(_))
            | (
                Self::ThresholdTimeCheck { .. },
                TriggerKind::Alert(AlertTrigger::EventsThreshold),
            ) => true,
            _ => false,
        }
    }
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
        let target = payload.target();
        self.deployment
            .enabled()
            .flat_map(|playbook| playbook.triggers.iter().map(move |t| (playbook, t)))
            .filter(|(playbook, trigger)| {
                payload.fires(trigger.kind)
                    && target.is_none_or(|(playbook_id, node)| {
                        playbook_id == playbook.id && node == trigger.node_id
                    })
            })
            .map(|(playbook, trigger)| RunTarget {
                playbook_id: playbook.id.clone(),
                trigger_node: trigger.node_id.clone(),
            })
            .collect()
    }
}
