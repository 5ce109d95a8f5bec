//! Trigger sources: where inbox events come from. Each stores an event durably before it
//! counts as received, then wakes the scheduler.
//!
//! * [`LiveSource`]: Sekoia.io live notifications (alerts and cases) of one account, with
//!   the back-fill of alert changes;
//! * [`CronSource`]: one Cron trigger's schedule;
//! * [`FeedSource`]: one feed trigger reading an intelligence feed page by page;
//! * [`ThresholdClock`]: one Alert Events Threshold trigger's time window.
//!
//! Webhooks are in [`crate::hooks`].

mod cron;
mod feed;
mod live;
mod threshold;

pub use cron::CronSource;
pub(crate) use cron::Schedule;
pub use feed::FeedSource;
pub use live::{CheckpointTiming, LiveSource};
pub use threshold::ThresholdClock;
