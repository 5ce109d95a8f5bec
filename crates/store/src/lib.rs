//! The durable state of `alertsync serve`, behind the [`Store`] trait.
//!
//! What it keeps, and what for:
//!
//! * the **inbox**: every accepted trigger event, committed before the trigger
//!   acknowledges it, deduplicated by a key such as `<alert uuid>/<change id>`, together
//!   with the **runs** it starts (one per playbook trigger it fires), queued in the same
//!   transaction;
//! * the **run queue**: [`Store::claim_runs`] hands out runs in arrival order, for each
//!   alert and playbook only the oldest open run, so the runs one playbook makes for one
//!   alert happen one at a time and in order while everything else runs in parallel. Runs
//!   of a disabled playbook wait (held, not dropped) until it is enabled; a run held by a
//!   failing destination waits until its next attempt is due ([`Store::park_run`]); a
//!   claim lasts as long as the store instance that made it, so after a crash every
//!   unfinished run is handed out again, resumable, and counted as interrupted;
//! * **node runs**, updated as the executor reports them, so a resumed run does not
//!   repeat the actions that completed, and the **retry state** of deliveries, so it
//!   continues their retries;
//! * **dead letters**: runs that can never run or succeed end in status `dead` with their
//!   reason, until someone replays ([`Store::rerun`]) or dismisses them;
//! * **checkpoints** of triggers, **playbook health** (failures in a row, disabled or not);
//! * **alert links**: the ids other systems gave to Sekoia.io alerts (ilert's alert id),
//!   so that a change they report under their own id finds its alert ([`StoredAlertLinks`]);
//! * the **queries** of the API and console: runs by playbook, status, alert (uuid or
//!   short id), time and text, newest first and paginated, one run with its node runs,
//!   counts by status, queue health.
//!
//! An event is done when its last run ends. [`SqliteStore`] is the embedded backend (one
//! file, WAL, embedded migrations, one service per file). Every method is async and never
//! blocks the runtime; a write has been committed to disk when its future returns `Ok`.
//! [`Store::write_behind`] queues the writes whose loss in a crash costs at most a repeat
//! the guarantees allow, without waiting for them. [`PostgresStore`] keeps the same state
//! in a database several instances share; [`copy`] moves a SQLite store's state into one.

mod claims;
pub mod copy;
mod error;
mod fault;
mod lease;
mod model;
mod observer;
pub mod postgres;
pub mod sqlite;

use alertsync_engine::{Hold, NodeRecord, RunRecord};
use async_trait::async_trait;
use serde::Serialize;

pub use error::{StoreError, StoreResult};
pub use lease::Lease;
pub use model::{
    AlertLink, Checkpoint, ClaimedRun, ClusterInstance, ClusterLease, ClusterView, Enqueued,
    EventSource, InboxCounts, InboxEvent, InboxId, MAX_PAGE_SIZE, NewInboxEvent, PlaybookDisabled,
    PlaybookHealth, Pruned, QueueHealth, Rerun, RetryState, RunAlert, RunCountFilter, RunCounts,
    RunDetail, RunId, RunPage, RunQuery, RunSummary, RunTarget, SchemaMigration,
};
pub use observer::{NodeRunRecorder, StoredAlertLinks, StoredQuotas};
pub use postgres::{PostgresOptions, PostgresStore};
pub use sqlite::{SqliteOptions, SqliteStore};

/// A write queued with [`Store::write_behind`].
#[derive(Debug, Clone)]
pub enum WriteBehind {
    /// A run that started running (lost in a crash: it is resumed anyway, without counting
    /// the interruption).
    RunStarted { run: RunId, at_ms: u64 },
    /// A node run's record as it starts or ends. Lost in a crash, the node runs again at
    /// the resume: harmless for a node in flight, or for the trigger. An action that ended
    /// must not run again, so the executor's observer brings its record to disk
    /// ([`Store::sync_writes`]) before the next action acts, and the run's end writes
    /// every record anyway.
    NodeRecorded { run: RunId, node: Box<NodeRecord> },
    /// A run of the playbook that succeeded (lost: its failure count is not reset).
    PlaybookSucceeded { playbook_id: String },
    /// What a run read of its alert (lost in a crash: the resumed run reads it again).
    AlertRead { run: RunId, alert: RunAlert },
    /// The id a destination gave to an alert ([`StoredAlertLinks`]). It is queued while
    /// its action runs, so before the action's end record: lost in a crash, that record is
    /// lost too, and the action runs again at the resume and links the alert again. A link
    /// whose write fails (the batch it rode in could not be committed) is logged and lost:
    /// a later change ilert reports for that alert then cannot be traced back to it.
    AlertLinked(AlertLink),
}

/// The health of the store's writes, for `/healthz`: whether the last ones went to disk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WriteHealth {
    /// When the last write was committed.
    pub last_success_ms: Option<u64>,
    /// The last write that failed, and when, if it failed after the last success.
    pub failing_since_ms: Option<u64>,
    pub last_error: Option<String>,
}

/// The [`WriteHealth`] a store and its writer threads or tasks share.
#[derive(Debug, Clone, Default)]
pub(crate) struct WriteHealthCell(std::sync::Arc<std::sync::Mutex<WriteHealth>>);

impl WriteHealthCell {
    /// Records how a write went: `failure` is why it did not reach the storage.
    pub(crate) fn note(&self, failure: Option<String>) {
        self.lock().note(failure);
    }

    /// The health now.
    pub(crate) fn get(&self) -> WriteHealth {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WriteHealth> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl WriteHealth {
    /// Records how a write went: `failure` is why it did not reach the storage.
    fn note(&mut self, failure: Option<String>) {
        let now = alertsync_engine::now_ms();
        match failure {
            None => {
                self.last_success_ms = Some(now);
                self.failing_since_ms = None;
                self.last_error = None;
            }
            Some(why) => {
                self.failing_since_ms.get_or_insert(now);
                self.last_error = Some(why);
            }
        }
    }
}

/// The durable state of the service. Writes return once committed: what a call reported as
/// stored survives a crash of the process right after it.
#[async_trait]
pub trait Store: Send + Sync {
    /// Queues `write` without waiting for its commit. It is committed in order with the
    /// other writes: before every write queued after it, so a write that returns `Ok` later
    /// has brought it to disk too. A failure is logged.
    fn write_behind(&self, write: WriteBehind);

    /// Whether writes reach the disk (a full disk, a broken file, ...).
    fn write_health(&self) -> WriteHealth;

    /// Returns once every write queued before it is on disk (write-behind ones included).
    async fn sync_writes(&self) -> StoreResult<()>;

    // ----- inbox -----

    /// Stores a trigger event and queues its runs, unless an event with the same dedup key
    /// is already stored. Returns only after the commit, so the trigger may acknowledge the
    /// event then.
    async fn enqueue(&self, event: NewInboxEvent) -> StoreResult<Enqueued>;

    /// Stores several events and, if given, moves a checkpoint, all in one transaction:
    /// a back-fill page and the position after it are committed together or not at all.
    /// Outcomes are in the order of `events`.
    async fn enqueue_batch(
        &self,
        events: Vec<NewInboxEvent>,
        checkpoint: Option<Checkpoint>,
    ) -> StoreResult<Vec<Enqueued>>;

    async fn event(&self, id: InboxId) -> StoreResult<Option<InboxEvent>>;

    async fn inbox_counts(&self) -> StoreResult<InboxCounts>;

    /// Open events stored by an older alertsync, before events queued their runs: the
    /// caller works out their runs and hands them to [`Store::route_event`].
    async fn unrouted_events(&self) -> StoreResult<Vec<InboxEvent>>;

    /// Queues the runs of an unrouted event that it does not have yet (by playbook), and
    /// marks it routed (done if it has no open run).
    async fn route_event(&self, id: InboxId, runs: Vec<RunTarget>) -> StoreResult<()>;

    /// Lets the dedup keys starting with `prefix` of done events received before
    /// `received_before_ms` expire: a later event with the same key is stored as new.
    /// Returns how many expired. A source calls it for keys that can no longer name a
    /// change it might see again (older than its back-fill window).
    async fn expire_dedup_keys(&self, prefix: &str, received_before_ms: u64) -> StoreResult<u64>;

    // ----- the run queue -----

    /// Claims up to `limit` runs that may start now, oldest first: queued, waiting and due,
    /// or left unfinished by an earlier instance of the store (a crash or a stop); for each
    /// alert and playbook only the oldest open run; none of a disabled playbook. A claim
    /// lasts until the run is finished, parked or released, or the store instance ends.
    async fn claim_runs(&self, limit: u32) -> StoreResult<Vec<ClaimedRun>>;

    /// Queues a run again for the event of an earlier run (its alert's order puts it after
    /// the runs already queued). Replaying a dead letter dismisses it.
    async fn rerun(&self, rerun: Rerun) -> StoreResult<RunId>;

    /// Ends a claimed run with `record` (status `succeeded`, `failed` or `dead`, its end
    /// time and error, and the final version of every node run), drops its retry state
    /// and, if it was the event's last open run, completes the event — in one transaction.
    async fn finish_run(&self, run: RunId, record: RunRecord) -> StoreResult<()>;

    /// Removes a claimed run that turned out not to apply (its trigger's filter did not
    /// match the alert), completing its event if it was the last open run.
    async fn discard_run(&self, run: RunId) -> StoreResult<()>;

    /// Puts a claimed run aside until `hold.until_ms`: status `waiting`, its node runs as
    /// `record` has them; its retry state stays. The claim is released.
    async fn park_run(&self, run: RunId, record: RunRecord, hold: Hold) -> StoreResult<()>;

    /// Releases the claim of a run stopped before its end by a shutdown: it is resumed by
    /// the next claim, without counting an interruption.
    async fn release_run(&self, run: RunId) -> StoreResult<()>;

    /// Makes the runs waiting for `destination` due now (it answered again); returns how
    /// many.
    async fn wake_waiting(&self, destination: &str) -> StoreResult<u64>;

    /// Marks a dead letter as handled by a person, without replaying it; `false` if the run
    /// is not a dead letter waiting for someone.
    async fn dismiss_dead_letter(&self, run: RunId) -> StoreResult<bool>;

    async fn queue_health(&self) -> StoreResult<QueueHealth>;

    // ----- retention -----

    /// Removes at most `limit` finished runs that ended before `ended_before_ms` —
    /// succeeded, failed, cancelled, and dead letters someone replayed or dismissed — with
    /// their node runs and retry state, then at most `limit` done events received before it
    /// that no run refers to any more and whose dedup key no source can repeat (webhook and
    /// schedule events, and live or back-fill events whose key expired), then at most `limit`
    /// alert links made before it. Open runs and unhandled dead letters are never removed.
    /// Call again while it removes something: each call is one short transaction, so
    /// deliveries keep flowing between them.
    async fn prune(&self, ended_before_ms: u64, limit: u32) -> StoreResult<Pruned>;

    // ----- queries -----

    async fn run(&self, id: RunId) -> StoreResult<Option<RunDetail>>;

    async fn list_runs(&self, query: RunQuery) -> StoreResult<RunPage>;

    async fn run_counts(&self, filter: RunCountFilter) -> StoreResult<RunCounts>;

    // ----- retry state -----

    /// Inserts or replaces the retry state of a node run.
    async fn save_retry_state(&self, state: RetryState) -> StoreResult<()>;

    /// Forgets the retry state of a node run (e.g. once it was delivered).
    async fn clear_retry_state(&self, run: RunId, seq: usize) -> StoreResult<()>;

    // ----- checkpoints -----

    async fn checkpoint(&self, key: &str) -> StoreResult<Option<String>>;

    async fn set_checkpoint(&self, checkpoint: Checkpoint) -> StoreResult<()>;

    /// The checkpoints whose key starts with `prefix`, in key order.
    async fn checkpoints_under(&self, prefix: &str) -> StoreResult<Vec<Checkpoint>>;

    /// Forgets the checkpoints under `prefix` last set before `updated_before_ms`; answers
    /// how many.
    async fn forget_checkpoints(&self, prefix: &str, updated_before_ms: u64) -> StoreResult<u64>;

    // ----- alert links (written with [`WriteBehind::AlertLinked`]) -----

    /// The Sekoia.io alert `system` knows as `remote_id`, if a link was recorded; a later
    /// link for the same remote id replaces an earlier one.
    async fn linked_alert(&self, system: &str, remote_id: &str) -> StoreResult<Option<String>>;

    // ----- playbook health -----

    /// Counts a run of the playbook that failed permanently; returns the new health (the
    /// caller decides whether that many failures in a row disable it).
    async fn record_playbook_failure(
        &self,
        playbook_id: &str,
        error: &str,
    ) -> StoreResult<PlaybookHealth>;

    /// Enables a disabled playbook again and forgets its failures: its held runs become
    /// ready.
    async fn enable_playbook(&self, playbook_id: &str) -> StoreResult<PlaybookHealth>;

    /// Disables a playbook for `reason`, keeping its failure count; a playbook already
    /// disabled keeps its first reason. Its runs are held until it is enabled.
    async fn disable_playbook(
        &self,
        playbook_id: &str,
        reason: &str,
    ) -> StoreResult<PlaybookHealth>;

    async fn playbook_health(&self, playbook_id: &str) -> StoreResult<PlaybookHealth>;

    /// The health of every playbook with a recorded outcome, by playbook id.
    async fn all_playbook_health(&self) -> StoreResult<Vec<PlaybookHealth>>;

    // ----- the cluster -----

    /// Takes the lease `name` (e.g. the live connection of an account) unless another
    /// instance on the same store holds it; `None` then. A store with one instance
    /// answers [`Lease::sole`].
    async fn try_lease(&self, name: &str) -> StoreResult<Option<Lease>> {
        Ok(Some(Lease::sole(name)))
    }

    /// The instances sharing the store and their leases; `None` for a store with one
    /// instance.
    async fn cluster(&self) -> StoreResult<Option<ClusterView>> {
        Ok(None)
    }

    /// Woken whenever runs were queued by another instance sharing the store, so that this
    /// one claims them at once; `None` for a store with one instance.
    fn queue_changes(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        None
    }

    /// Whether the store keeps quotas for several instances ([`Store::take_quota`]).
    fn shares_quotas(&self) -> bool {
        false
    }

    /// Counts one request to `slot` against a quota of `limit` per `window` that every
    /// instance on the store shares, if it fits; else answers how long to wait. Only
    /// stores that [`Store::shares_quotas`] keep such counts; the others let everything
    /// through (their one instance counts for itself).
    async fn take_quota(
        &self,
        slot: &str,
        limit: u32,
        window: std::time::Duration,
    ) -> StoreResult<Option<std::time::Duration>> {
        let _ = (slot, limit, window);
        Ok(None)
    }
}
