//! The cron source: one schedule of one playbook's Cron trigger; the dedup key is the
//! scheduled time, so a restart never fires one tick twice.

use std::sync::Arc;
use std::time::Duration;

use alertsync_engine::Cancellation;
use alertsync_store::EventSource;
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};

use crate::source::{InboxPayload, InboxWriter, IncomingEvent, Source, TriggerAt, keys};

/// One Cron trigger of one playbook.
pub struct CronSource {
    trigger: TriggerAt,
    schedule: Schedule,
}

/// When a Cron trigger fires.
pub enum Schedule {
    Cron(Box<croner::Cron>),
    Every(Duration),
}

impl Schedule {
    /// The schedule a Cron trigger's arguments describe: `cron` (5 fields, UTC), else a
    /// positive `interval` in seconds.
    pub fn from_arguments(arguments: &serde_json::Value) -> Result<Self, ScheduleError> {
        match (
            arguments.get("cron").and_then(|v| v.as_str()),
            arguments.get("interval").and_then(|v| v.as_u64()),
        ) {
            (Some(expression), _) => expression
                .parse::<croner::Cron>()
                .map(|cron| Self::Cron(Box::new(cron)))
                .map_err(|source| ScheduleError::Cron {
                    expression: expression.to_owned(),
                    source,
                }),
            (None, Some(seconds)) if seconds > 0 => Ok(Self::Every(Duration::from_secs(seconds))),
            _ => Err(ScheduleError::Missing),
        }
    }
}

/// Why a Cron trigger's arguments give no schedule.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("cron `{expression}`: {source}")]
    Cron {
        expression: String,
        #[source]
        source: croner::errors::CronError,
    },
    #[error("a Cron trigger needs `cron` or a positive `interval`")]
    Missing,
}

impl CronSource {
    /// The source of the Cron trigger at `trigger`, firing on `schedule`.
    pub fn new(trigger: TriggerAt, schedule: Schedule) -> Self {
        Self { trigger, schedule }
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

    async fn fire(&self, inbox: &dyn InboxWriter, due: DateTime<Utc>) {
        let scheduled_at = due.to_rfc3339_opts(SecondsFormat::Secs, true);
        let event = IncomingEvent {
            source: EventSource::Cron,
            account: String::new(),
            dedup_key: keys::cron_tick(
                &self.trigger.playbook_id,
                &self.trigger.node_id,
                &scheduled_at,
            ),
            payload: InboxPayload::Cron {
                playbook_id: self.trigger.playbook_id.clone(),
                trigger_node: self.trigger.node_id.clone(),
                scheduled_at,
            },
        };
        if let Err(err) = inbox.accept(event).await {
            tracing::error!("{}: cannot store the event: {err}", self.describe());
        }
    }
}

#[async_trait]
impl Source for CronSource {
    fn describe(&self) -> String {
        format!("Cron trigger of {}", self.trigger)
    }

    async fn run(self: Box<Self>, inbox: Arc<dyn InboxWriter>, stop: Cancellation) {
        loop {
            let Some(due) = self.next_due() else {
                tracing::warn!("{} never fires again", self.describe());
                return;
            };
            let wait = (due - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            self.fire(inbox.as_ref(), due).await;
        }
    }
}
