//! The cron source: one schedule of one playbook's Cron trigger; the dedup key is the
//! scheduled time, so a restart never fires one tick twice.

use std::time::Duration;

use alertsync_engine::Cancellation;
use alertsync_store::EventSource;
use chrono::{DateTime, SecondsFormat, Utc};

use crate::deploy::{DeployedPlaybook, TriggerNode};
use crate::inbox::{Inbox, InboxPayload, IncomingEvent};
use crate::keys;

/// One Cron trigger of one playbook.
pub struct CronSource {
    playbook_id: String,
    node_id: String,
    schedule: Schedule,
    inbox: Inbox,
}

/// When a Cron trigger fires.
pub(crate) enum Schedule {
    Cron(Box<croner::Cron>),
    Every(Duration),
}

impl Schedule {
    /// The schedule a Cron trigger's arguments describe: `cron` (5 fields, UTC), else a
    /// positive `interval` in seconds.
    pub(crate) fn from_arguments(arguments: &serde_json::Value) -> Result<Self, String> {
        match (
            arguments.get("cron").and_then(|v| v.as_str()),
            arguments.get("interval").and_then(|v| v.as_u64()),
        ) {
            (Some(expression), _) => expression
                .parse::<croner::Cron>()
                .map(|cron| Self::Cron(Box::new(cron)))
                .map_err(|err| format!("cron `{expression}`: {err}")),
            (None, Some(seconds)) if seconds > 0 => Ok(Self::Every(Duration::from_secs(seconds))),
            _ => Err("a Cron trigger needs `cron` or a positive `interval`".to_owned()),
        }
    }
}

impl CronSource {
    /// The source of `trigger` (its `cron` expression or `interval` seconds).
    pub fn new(
        playbook: &DeployedPlaybook,
        trigger: &TriggerNode,
        inbox: Inbox,
    ) -> Result<Self, String> {
        let schedule = trigger
            .settings(playbook, Schedule::from_arguments)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            playbook_id: playbook.id.clone(),
            node_id: trigger.node_id.clone(),
            schedule,
            inbox,
        })
    }

    pub async fn run(self, stop: Cancellation) {
        loop {
            let Some(due) = self.next_due() else {
                tracing::warn!("Cron trigger of {} never fires again", self.playbook_id);
                return;
            };
            let wait = (due - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            self.fire(due).await;
        }
    }

    /// The next whole second the trigger fires at (chrono, as croner works in it).
    fn next_due(&self) -> Option<DateTime<Utc>> {
        let now = DateTime::from_timestamp(Utc::now().timestamp(), 0)?;
        match &self.schedule {
            Schedule::Every(every) => {
                let step = every.as_secs().max(1) as i64;
                DateTime::from_timestamp((now.timestamp() / step + 1) * step, 0)
            }
            Schedule::Cron(cron) => cron.find_next_occurrence(&now, false).ok(),
        }
    }

    async fn fire(&self, due: DateTime<Utc>) {
        let scheduled_at = due.to_rfc3339_opts(SecondsFormat::Secs, true);
        let event = IncomingEvent {
            source: EventSource::Cron,
            account: String::new(),
            dedup_key: keys::cron_tick(&self.playbook_id, &self.node_id, &scheduled_at),
            payload: InboxPayload::Cron {
                playbook_id: self.playbook_id.clone(),
                trigger_node: self.node_id.clone(),
                scheduled_at,
            },
        };
        if let Err(err) = self.inbox.accept(event).await {
            tracing::error!(
                "Cron trigger of {}: cannot store the event: {err}",
                self.playbook_id
            );
        }
    }
}
