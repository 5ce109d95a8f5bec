//! The sources of Sekoia.io's triggers (see [`crate::source`]): the live notifications of
//! an account with their back-fill, the feed triggers' reads and the Alert Events
//! Threshold's time window.

mod feed;
mod live;
mod threshold;

pub use feed::{FeedSource, SekoiaReader};
pub use live::{BACKFILLED_ALERTS, CheckpointTiming, LiveSource};
pub use threshold::ThresholdClock;
