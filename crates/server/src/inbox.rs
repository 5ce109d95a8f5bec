//! The inbox: where trigger sources put events (see
//! [`alertsync_integrations::source`]). It works out which playbook triggers an event
//! fires — queued as runs in the same transaction as the event — stores it, and wakes the
//! scheduler. An event is acknowledged (webhook 202, checkpoint moved) only once
//! [`InboxWriter::accept`] has returned.
//!
//! Every deployed playbook gets its runs, disabled ones included: a playbook disabled at
//! run time holds its runs until it is enabled again. Playbooks disabled in the
//! configuration file are not deployed to run, and get none.

use std::sync::Arc;

use alertsync_integrations::source::{InboxPayload, InboxWriter, IncomingEvent};
use alertsync_store::{
    Checkpoint, Enqueued, InboxEvent, NewInboxEvent, RunTarget, Store, StoreResult,
};
use async_trait::async_trait;
use serde_json::json;
use tokio::sync::Notify;

use crate::deploy::{AlertTrigger, Deployment, TriggerKind, Webhook};

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
                fires(payload, trigger.kind)
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

#[async_trait]
impl InboxWriter for Inbox {
    /// Stores `event` with its runs; returns once it is committed.
    async fn accept(&self, event: IncomingEvent) -> StoreResult<Enqueued> {
        let stored = self.store.enqueue(self.prepare(event)).await?;
        if stored.is_new() {
            self.wake.notify_one();
        }
        Ok(stored)
    }

    /// Stores `events` with their runs and moves `checkpoint`, in one transaction.
    async fn accept_batch(
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
}

/// Whether `payload` fires a trigger of this kind (for a targeted event, the target is
/// checked apart).
fn fires(payload: &InboxPayload, kind: TriggerKind) -> bool {
    match (payload, kind) {
        (InboxPayload::AlertChange { change, .. }, TriggerKind::Alert(alert)) => {
            alert.fires_on(*change)
        }
        (InboxPayload::CaseChange { change, .. }, TriggerKind::Case(case)) => *change == case,
        (InboxPayload::Webhook { .. }, TriggerKind::Webhook(Webhook::Manual))
        | (
            InboxPayload::IlertAlertChanged { .. },
            TriggerKind::Webhook(Webhook::IlertAlertChanged),
        )
        | (InboxPayload::Cron { .. }, TriggerKind::Cron)
        | (InboxPayload::FeedPage { .. }, TriggerKind::Feed(_))
        | (
            InboxPayload::ThresholdTimeCheck { .. },
            TriggerKind::Alert(AlertTrigger::EventsThreshold),
        ) => true,
        _ => false,
    }
}
