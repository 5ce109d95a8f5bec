//! The cron source: one schedule of one playbook's Cron trigger; the dedup key is the
//! scheduled time, so a restart never fires one tick twice, and a tick the store does not
//! take is tried again until the next one is due.

use std::sync::Arc;
use std::time::Duration;

use alertsync_engine::Cancellation;
use alertsync_store::EventSource;
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};

use crate::source::{InboxPayload, InboxWriter, IncomingEvent, Source, TriggerAt, keys};

/// How long a tick the store did not take waits before it is tried again; the wait doubles
/// up to [`STORE_RETRY_MAX`].
const STORE_RETRY: Duration = Duration::from_millis(500);
const STORE_RETRY_MAX: Duration = Duration::from_secs(15);

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

    /// Stores the tick due at `due`, trying again while the store fails, until it is
    /// stored, `stop` is cancelled, or the next tick would be due before the next try: this
    /// tick is then skipped, and the log says so (a schedule does not pile up ticks through
    /// an outage).
    async fn fire(&self, inbox: &dyn InboxWriter, due: DateTime<Utc>, stop: &Cancellation) {
        let event = self.tick(due);
        let mut wait = STORE_RETRY;
        loop {
            let err = match inbox.accept(event.clone()).await {
                Ok(_) => return,
                Err(err) => err,
            };
            let retry_at = Utc::now() + wait;
            if self.next_due().is_none_or(|next| retry_at >= next) {
                tracing::error!(
                    "{}: the tick of {due} is skipped: it could not be stored before the next \
                     one: {err}",
                    self.describe()
                );
                return;
            }
            tracing::warn!(
                "{}: cannot store the tick of {due} ({err}); trying again in {wait:?}",
                self.describe()
            );
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(STORE_RETRY_MAX);
        }
    }

    /// The inbox event of the tick due at `due`: its dedup key is the scheduled time.
    fn tick(&self, due: DateTime<Utc>) -> IncomingEvent {
        let scheduled_at = due.to_rfc3339_opts(SecondsFormat::Secs, true);
        IncomingEvent {
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
            self.fire(inbox.as_ref(), due, &stop).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use alertsync_store::{Checkpoint, Enqueued, InboxId, StoreError, StoreResult};

    use super::*;

    /// An inbox whose store refuses the first `refusals` writes, then keeps what it gets.
    struct FailingThenUp {
        refusals: Mutex<usize>,
        attempts: Mutex<usize>,
        kept: Mutex<Vec<String>>,
    }

    impl FailingThenUp {
        fn new(refusals: usize) -> Self {
            Self {
                refusals: Mutex::new(refusals),
                attempts: Mutex::new(0),
                kept: Mutex::default(),
            }
        }
    }

    #[async_trait]
    impl InboxWriter for FailingThenUp {
        async fn accept(&self, event: IncomingEvent) -> StoreResult<Enqueued> {
            *self.attempts.lock().unwrap() += 1;
            let mut refusals = self.refusals.lock().unwrap();
            if *refusals > 0 {
                *refusals -= 1;
                return Err(StoreError::Backend {
                    operation: "enqueue",
                    cause: "connection closed".into(),
                });
            }
            self.kept.lock().unwrap().push(event.dedup_key);
            Ok(Enqueued::New(InboxId(1)))
        }

        async fn accept_batch(
            &self,
            _: Vec<IncomingEvent>,
            _: Option<Checkpoint>,
        ) -> StoreResult<Vec<Enqueued>> {
            unreachable!("a Cron trigger stores one tick at a time")
        }
    }

    fn every(seconds: u64) -> CronSource {
        let trigger = TriggerAt {
            playbook_id: "pb".to_owned(),
            node_id: "1".to_owned(),
        };
        CronSource::new(trigger, Schedule::Every(Duration::from_secs(seconds)))
    }

    fn due_now() -> DateTime<Utc> {
        DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap()
    }

    #[tokio::test]
    async fn a_tick_the_store_refused_is_stored_once_it_is_back() {
        let inbox = FailingThenUp::new(2);
        let due = due_now();
        every(60).fire(&inbox, due, &Cancellation::new()).await;
        let key = keys::cron_tick("pb", "1", &due.to_rfc3339_opts(SecondsFormat::Secs, true));
        assert_eq!(*inbox.kept.lock().unwrap(), [key]);
        assert_eq!(*inbox.attempts.lock().unwrap(), 3);
    }

    #[tokio::test]
    async fn a_tick_still_refused_when_the_next_is_due_is_skipped() {
        let inbox = FailingThenUp::new(usize::MAX);
        let started = std::time::Instant::now();
        every(1).fire(&inbox, due_now(), &Cancellation::new()).await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!(inbox.kept.lock().unwrap().is_empty());
    }
}
