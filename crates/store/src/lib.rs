//! The durable state of `alertsync serve`, behind the [`Store`] trait.
//!
//! What it keeps, and what for:
//!
//! * the **inbox**: every accepted trigger event, committed before the trigger
//!   acknowledges it, deduplicated by a key such as `<alert uuid>/<change id>`;
//! * **ordering**: [`Store::claim_ready_events`] hands out, for each alert, only its oldest
//!   unprocessed event, so events of one alert run in arrival order while different alerts
//!   run in parallel; a claim lasts as long as the store instance that made it, so after a
//!   crash every unfinished event is ready again;
//! * **runs** (one per inbox event and playbook) and their **node runs**, updated as the
//!   executor reports them ([`NodeRunRecorder`]), so a restart resumes unfinished runs
//!   without re-running the nodes that completed ([`Store::begin_run`],
//!   [`Store::unfinished_runs`]);
//! * **retry state** of deliveries, **checkpoints** of triggers, and **playbook health**
//!   (a playbook failing for technical reasons [`DISABLE_AFTER_FAILURES`] runs in a row is
//!   disabled, saying why);
//! * the **queries** of the API and console: runs by playbook, status or alert, newest
//!   first and paginated, one run with its node runs, counts by status.
//!
//! [`SqliteStore`] is the embedded backend (one file, WAL, embedded migrations). Every
//! method is async and never blocks the runtime; a write has been committed to disk when
//! its future returns `Ok`. [`Store::write_behind`] queues the writes whose loss in a crash
//! costs at most a repeat the guarantees allow, without waiting for them.

mod error;
mod model;
mod observer;
pub mod sqlite;

use alertsync_engine::{NodeRecord, RunRecord};
use async_trait::async_trait;

pub use error::{StoreError, StoreResult};
pub use model::{
    Checkpoint, DISABLE_AFTER_FAILURES, Enqueued, EventSource, EventState, InboxCounts, InboxEvent,
    InboxId, MAX_PAGE_SIZE, NewInboxEvent, NewRun, PlaybookDisabled, PlaybookHealth, RetryState,
    RunCountFilter, RunCounts, RunDetail, RunId, RunPage, RunQuery, RunStart, RunSummary,
    UnfinishedRun,
};
pub use observer::NodeRunRecorder;
pub use sqlite::{SqliteOptions, SqliteStore};

/// A write queued with [`Store::write_behind`].
#[derive(Debug, Clone)]
pub enum WriteBehind {
    /// A node run that started (lost in a crash: the node, in flight, runs again anyway).
    NodeStarted { run: RunId, node: Box<NodeRecord> },
    /// A run's end (lost: the run resumes and ends again without repeating the actions
    /// whose end was committed).
    RunFinished { run: RunId, record: RunRecord },
    /// An event whose runs all ended (lost: it is taken again and finds its runs ended).
    EventDone { id: InboxId },
    /// A run of the playbook that succeeded (lost: its failure count is not reset).
    PlaybookSucceeded { playbook_id: String },
}

/// The durable state of the service. Writes return once committed: what a call reported as
/// stored survives a crash of the process right after it.
#[async_trait]
pub trait Store: Send + Sync {
    /// Queues `write` without waiting for its commit. It is committed in order with the
    /// other writes: before every write queued after it, so a write that returns `Ok` later
    /// has brought it to disk too. A failure is logged.
    fn write_behind(&self, write: WriteBehind);

    // ----- inbox -----

    /// Stores a trigger event unless an event with the same dedup key is already stored.
    /// Returns only after the commit, so the trigger may acknowledge the event then.
    async fn enqueue(&self, event: NewInboxEvent) -> StoreResult<Enqueued>;

    /// Stores several events and, if given, moves a checkpoint, all in one transaction:
    /// a back-fill page and the position after it are committed together or not at all.
    /// Outcomes are in the order of `events`.
    async fn enqueue_batch(
        &self,
        events: Vec<NewInboxEvent>,
        checkpoint: Option<Checkpoint>,
    ) -> StoreResult<Vec<Enqueued>>;

    /// Events that could be claimed now, oldest first, at most `limit`, without claiming
    /// them: for each alert only its oldest unfinished event, and only if no scheduler of this
    /// store instance holds it; events without an alert are each ready on their own.
    async fn next_ready_events(&self, limit: u32) -> StoreResult<Vec<InboxEvent>>;

    /// Like [`Store::next_ready_events`], and claims the events in the same transaction, so
    /// no event is handed out twice. Claims made by an earlier instance of the store (before
    /// a restart) do not hold: those events are ready again.
    async fn claim_ready_events(&self, limit: u32) -> StoreResult<Vec<InboxEvent>>;

    /// Marks an event as processed (all its runs finished): the next event of its alert
    /// becomes ready.
    async fn complete_event(&self, id: InboxId) -> StoreResult<()>;

    /// Gives up a claim without completing the event: it is ready again at once.
    async fn release_event(&self, id: InboxId) -> StoreResult<()>;

    async fn event(&self, id: InboxId) -> StoreResult<Option<InboxEvent>>;

    async fn inbox_counts(&self) -> StoreResult<InboxCounts>;

    /// Lets the dedup keys starting with `prefix` of done events received before
    /// `received_before_ms` expire: a later event with the same key is stored as new.
    /// Returns how many expired. A source calls it for keys that can no longer name a
    /// change it might see again (older than its back-fill window).
    async fn expire_dedup_keys(&self, prefix: &str, received_before_ms: u64) -> StoreResult<u64>;

    // ----- runs -----

    /// Starts the run of a playbook for an inbox event, or finds the one that exists: after
    /// a restart, an unfinished run comes back with its completed node runs so it can be
    /// resumed, and a finished one is reported as such.
    async fn begin_run(&self, run: NewRun) -> StoreResult<RunStart>;

    /// Inserts or updates a node run, keyed by (run, `seq`).
    async fn record_node_run(&self, run: RunId, node: NodeRecord) -> StoreResult<()>;

    /// Records the end of a run: its status, end time and error, and the final version of
    /// every node run, in one transaction; the run's retry state is dropped.
    async fn finish_run(&self, run: RunId, record: RunRecord) -> StoreResult<()>;

    /// Runs still `running`, oldest first, with what it takes to resume them.
    async fn unfinished_runs(&self) -> StoreResult<Vec<UnfinishedRun>>;

    async fn run(&self, id: RunId) -> StoreResult<Option<RunDetail>>;

    async fn list_runs(&self, query: RunQuery) -> StoreResult<RunPage>;

    async fn run_counts(&self, filter: RunCountFilter) -> StoreResult<RunCounts>;

    // ----- retry state -----

    /// Inserts or replaces the retry state of a node run.
    async fn save_retry_state(&self, state: RetryState) -> StoreResult<()>;

    async fn retry_state(&self, run: RunId, seq: usize) -> StoreResult<Option<RetryState>>;

    /// Forgets the retry state of a node run (e.g. once it was delivered).
    async fn clear_retry_state(&self, run: RunId, seq: usize) -> StoreResult<()>;

    // ----- checkpoints -----

    async fn checkpoint(&self, key: &str) -> StoreResult<Option<String>>;

    async fn set_checkpoint(&self, checkpoint: Checkpoint) -> StoreResult<()>;

    // ----- playbook health -----

    /// Counts a run of the playbook that failed for technical reasons; the failure that
    /// makes [`DISABLE_AFTER_FAILURES`] (or the configured number) in a row disables it.
    async fn record_playbook_failure(
        &self,
        playbook_id: &str,
        error: &str,
    ) -> StoreResult<PlaybookHealth>;

    /// Counts a successful run: the consecutive failures start again from zero. A disabled
    /// playbook stays disabled.
    async fn record_playbook_success(&self, playbook_id: &str) -> StoreResult<PlaybookHealth>;

    /// Enables a disabled playbook again and forgets its failures.
    async fn enable_playbook(&self, playbook_id: &str) -> StoreResult<PlaybookHealth>;

    /// Disables a playbook for `reason` (an operator's decision), keeping its failure
    /// count; a playbook already disabled keeps its first reason.
    async fn disable_playbook(
        &self,
        playbook_id: &str,
        reason: &str,
    ) -> StoreResult<PlaybookHealth>;

    async fn playbook_health(&self, playbook_id: &str) -> StoreResult<PlaybookHealth>;

    /// The health of every playbook with a recorded outcome, by playbook id.
    async fn all_playbook_health(&self) -> StoreResult<Vec<PlaybookHealth>>;
}
