//! Trigger sources: where the events that start runs come from.
//!
//! A [`Source`] is built from a trigger's configuration, then runs until its stop signal,
//! handing every event it receives to an [`InboxWriter`]. An event counts as received
//! (a checkpoint moves past it, a webhook answers 202) only once the writer has returned:
//! the writer commits it first. The sources:
//!
//! * [`crate::sekoia::sources::LiveSource`]: Sekoia.io live notifications of one account
//!   (alert and case changes) with the back-fill of alert changes;
//! * [`crate::sekoia::sources::FeedSource`]: one feed trigger reading its intelligence feed;
//! * [`crate::sekoia::sources::ThresholdClock`]: one Alert Events Threshold trigger's time
//!   window;
//! * [`crate::cron::CronSource`]: one Cron trigger's schedule;
//! * webhooks (Manual Trigger, Alert Changed in ilert) arrive through the service's HTTP
//!   server, whose handler builds the same [`IncomingEvent`] and hands it to the same
//!   writer.
//!
//! Sources store the **change** (an alert was created, a webhook was called), not the
//! trigger's output: the alert is read when the run starts, so an event is stored even
//! while Sekoia.io cannot be read, and a run sees the alert as it is when it runs.

mod event;
pub mod keys;

use std::sync::Arc;

use alertsync_engine::{ActionError, Cancellation};
use alertsync_store::{Checkpoint, Enqueued, StoreError, StoreResult};
use async_trait::async_trait;

pub use event::{InboxPayload, IncomingEvent};

/// Where a source puts what it receives: the service's inbox, which works out the runs an
/// event starts and stores both in one transaction.
#[async_trait]
pub trait InboxWriter: Send + Sync {
    /// Stores `event`; returns once it is committed.
    async fn accept(&self, event: IncomingEvent) -> StoreResult<Enqueued>;

    /// Stores `events` and moves `checkpoint`, in one transaction: a page of a feed or a
    /// back-fill and the position after it are committed together or not at all.
    async fn accept_batch(
        &self,
        events: Vec<IncomingEvent>,
        checkpoint: Option<Checkpoint>,
    ) -> StoreResult<Vec<Enqueued>>;
}

/// A source of trigger events, built from its trigger's configuration.
#[async_trait]
pub trait Source: Send {
    /// What logs call it: the account, or the playbook and its trigger node.
    fn describe(&self) -> String;

    /// Receives events into `inbox` until `stop` is cancelled. Failures to read or to store
    /// are logged and retried: a source ends only when it is stopped (or, for a schedule,
    /// when it can never fire again).
    async fn run(self: Box<Self>, inbox: Arc<dyn InboxWriter>, stop: Cancellation);
}

/// Where a trigger node is: the playbook it belongs to and its node id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerAt {
    pub playbook_id: String,
    pub node_id: String,
}

impl std::fmt::Display for TriggerAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "playbook {} node {}", self.playbook_id, self.node_id)
    }
}

/// Why a source could not take in what it received. It logs the error and tries again
/// later; nothing it had received is acknowledged meanwhile.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The store failed while the source was `doing` something.
    #[error("cannot {doing}: {source}")]
    Store {
        doing: &'static str,
        #[source]
        source: StoreError,
    },
    /// Sekoia.io (or another upstream) could not be read.
    #[error(transparent)]
    Upstream(#[from] ActionError),
}

impl SourceError {
    /// A store failure while `doing` something, for `map_err`.
    pub fn store(doing: &'static str) -> impl FnOnce(StoreError) -> Self {
        move |source| Self::Store { doing, source }
    }
}
