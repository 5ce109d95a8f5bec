//! The threshold clock: the time window of one Alert Events Threshold trigger of one
//! playbook. Every few minutes it looks at the alerts the trigger keeps a state for, and
//! stores a time-check event for each whose new events have waited the window (at most one
//! per waiting spell: the dedup key names when the spell began). The run of that event
//! reads the alert and decides. States of alerts unchanged for `state_cleanup_days` are
//! forgotten here too.

use std::sync::Arc;
use std::time::Duration;

use alertsync_engine::{Cancellation, now_ms};
use alertsync_store::{EventSource, Store};
use async_trait::async_trait;

use crate::sekoia::triggers::threshold::{
    TIME_CHECK_EVERY_SECS, ThresholdSettings, ThresholdState,
};
use crate::source::{
    InboxPayload, InboxWriter, IncomingEvent, Source, SourceError, TriggerAt, keys,
};

/// One Alert Events Threshold trigger's time window.
pub struct ThresholdClock {
    trigger: TriggerAt,
    /// The Sekoia.io account the trigger's alerts are read with.
    account: String,
    settings: ThresholdSettings,
    /// Where the alerts' states are kept.
    store: Arc<dyn Store>,
}

impl ThresholdClock {
    /// The time window of the trigger at `trigger`, whose alerts are read with `account`.
    pub fn new(
        trigger: TriggerAt,
        settings: ThresholdSettings,
        account: String,
        store: Arc<dyn Store>,
    ) -> Self {
        Self {
            trigger,
            account,
            settings,
            store,
        }
    }

    async fn check(&self, inbox: &dyn InboxWriter) -> Result<(), SourceError> {
        let (playbook_id, node_id) = (&self.trigger.playbook_id, &self.trigger.node_id);
        let prefix = keys::threshold_states(playbook_id, node_id);
        let now = now_ms();
        self.store
            .forget_checkpoints(&prefix, now.saturating_sub(self.settings.keep_state_ms()))
            .await
            .map_err(SourceError::store("forget old alert states"))?;
        let states = self
            .store
            .checkpoints_under(&prefix)
            .await
            .map_err(SourceError::store("read the alert states"))?;
        let mut due = Vec::new();
        for checkpoint in states {
            let alert_uuid = checkpoint.key[prefix.len()..].to_owned();
            let Ok(state) = serde_json::from_str::<ThresholdState>(&checkpoint.value) else {
                continue;
            };
            if state.time_check_due(&self.settings, now) {
                due.push(IncomingEvent {
                    source: EventSource::Timer,
                    account: self.account.clone(),
                    dedup_key: keys::threshold_time_check(
                        playbook_id,
                        node_id,
                        &alert_uuid,
                        state.waiting_mark(),
                    ),
                    payload: InboxPayload::ThresholdTimeCheck {
                        playbook_id: playbook_id.clone(),
                        trigger_node: node_id.clone(),
                        alert_uuid,
                    },
                });
            }
        }
        if !due.is_empty() {
            inbox
                .accept_batch(due, None)
                .await
                .map_err(SourceError::store("store the time checks"))?;
        }
        Ok(())
    }
}

#[async_trait]
impl Source for ThresholdClock {
    fn describe(&self) -> String {
        format!("Alert Events Threshold of {}", self.trigger)
    }

    /// Looks at the trigger's alerts every few minutes until `stop`.
    async fn run(self: Box<Self>, inbox: Arc<dyn InboxWriter>, stop: Cancellation) {
        let mut ticks = tokio::time::interval(Duration::from_secs(TIME_CHECK_EVERY_SECS));
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            if let Err(why) = self.check(inbox.as_ref()).await {
                tracing::warn!("{}: {why}", self.describe());
            }
        }
    }
}
