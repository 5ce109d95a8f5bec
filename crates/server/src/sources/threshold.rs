//! The threshold clock: the time window of one Alert Events Threshold trigger of one
//! playbook. Every few minutes it looks at the alerts the trigger keeps a state for, and
//! stores a time-check event for each whose new events have waited the window (at most one
//! per waiting spell: the dedup key names when the spell began). The run of that event
//! reads the alert and decides. States of alerts unchanged for `state_cleanup_days` are
//! forgotten here too.

use std::sync::Arc;
use std::time::Duration;

use alertsync_engine::{Cancellation, now_ms};
use alertsync_integrations::sekoia::triggers::threshold::{
    TIME_CHECK_EVERY_SECS, ThresholdSettings, ThresholdState,
};
use alertsync_store::{EventSource, Store};

use crate::deploy::{DeployedPlaybook, TriggerNode};
use crate::inbox::{Inbox, InboxPayload, IncomingEvent};
use crate::keys;

/// One Alert Events Threshold trigger's time window.
pub struct ThresholdClock {
    playbook_id: String,
    node_id: String,
    /// The Sekoia.io account the trigger's alerts are read with.
    account: String,
    settings: ThresholdSettings,
    inbox: Inbox,
    store: Arc<dyn Store>,
}

impl ThresholdClock {
    pub fn new(
        playbook: &DeployedPlaybook,
        trigger: &TriggerNode,
        account: String,
        inbox: Inbox,
        store: Arc<dyn Store>,
    ) -> Result<Self, String> {
        let settings = trigger
            .settings(playbook, ThresholdSettings::from_arguments)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            playbook_id: playbook.id.clone(),
            node_id: trigger.node_id.clone(),
            account,
            settings,
            inbox,
            store,
        })
    }

    /// Looks at the trigger's alerts every few minutes until `stop`.
    pub async fn run(self, stop: Cancellation) {
        let mut ticks = tokio::time::interval(Duration::from_secs(TIME_CHECK_EVERY_SECS));
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            if let Err(why) = self.check().await {
                tracing::warn!(
                    "Alert Events Threshold of playbook {} node {}: {why}",
                    self.playbook_id,
                    self.node_id
                );
            }
        }
    }

    async fn check(&self) -> Result<(), String> {
        let prefix = keys::threshold_states(&self.playbook_id, &self.node_id);
        let now = now_ms();
        self.store
            .forget_checkpoints(&prefix, now.saturating_sub(self.settings.keep_state_ms()))
            .await
            .map_err(|err| format!("cannot forget old alert states: {err}"))?;
        let states = self
            .store
            .checkpoints_under(&prefix)
            .await
            .map_err(|err| format!("cannot read the alert states: {err}"))?;
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
                        &self.playbook_id,
                        &self.node_id,
                        &alert_uuid,
                        state.waiting_mark(),
                    ),
                    payload: InboxPayload::ThresholdTimeCheck {
                        playbook_id: self.playbook_id.clone(),
                        trigger_node: self.node_id.clone(),
                        alert_uuid,
                    },
                });
            }
        }
        if !due.is_empty() {
            self.inbox
                .accept_batch(due, None)
                .await
                .map_err(|err| format!("cannot store the time checks: {err}"))?;
        }
        Ok(())
    }
}
