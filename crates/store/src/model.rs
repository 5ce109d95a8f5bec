//! The values the store keeps and answers with: inbox events, runs and node runs, retry
//! state, checkpoints, playbook health, and the queries of the API and console.
//!
//! Times are milliseconds since the Unix epoch, as in the engine's run records.

use std::fmt;
use std::str::FromStr;

use alertsync_engine::{NodeRecord, RetryProgress, RunRecord, RunStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Consecutive technical failures after which a playbook is disabled.
pub const DISABLE_AFTER_FAILURES: u32 = 5;

/// The most rows one page of [`RunQuery`] returns.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// The id of an inbox event. Ids grow in arrival order and are never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InboxId(pub i64);

impl fmt::Display for InboxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The id of a run. Ids grow in creation order and are never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a trigger event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventSource {
    /// The Sekoia.io live notification stream.
    Live,
    /// The list API, read after a (re)connect from the last checkpoint.
    Backfill,
    /// A Manual Trigger webhook call.
    Webhook,
    /// A Cron trigger firing.
    Cron,
}

impl EventSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Backfill => "backfill",
            Self::Webhook => "webhook",
            Self::Cron => "cron",
        }
    }
}

impl fmt::Display for EventSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventSource {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "live" => Ok(Self::Live),
            "backfill" => Ok(Self::Backfill),
            "webhook" => Ok(Self::Webhook),
            "cron" => Ok(Self::Cron),
            other => Err(format!("unknown event source `{other}`")),
        }
    }
}

/// A trigger event to put in the inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewInboxEvent {
    pub source: EventSource,
    /// The account (Sekoia.io community connection) the event came through.
    pub account: String,
    /// For events meant for one playbook (webhook, cron): that playbook's id.
    pub playbook_id: Option<String>,
    /// For events meant for one trigger node (webhook, cron): that node's id.
    pub trigger_node: Option<String>,
    /// The alert the event is about: events of one alert are handed out strictly in
    /// arrival order. `None` for events about no alert, which are independent of all others.
    pub alert_uuid: Option<String>,
    /// What makes two deliveries of one change the same event, e.g. `<alert uuid>/<change
    /// id>`: an event whose key is already in the inbox is not stored again.
    pub dedup_key: String,
    /// The trigger's event, as the trigger node outputs it.
    pub payload: Value,
    pub received_at_ms: u64,
}

/// An event in the inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxEvent {
    pub id: InboxId,
    pub source: EventSource,
    pub account: String,
    pub playbook_id: Option<String>,
    pub trigger_node: Option<String>,
    pub alert_uuid: Option<String>,
    pub dedup_key: String,
    pub payload: Value,
    pub received_at_ms: u64,
    pub state: EventState,
}

/// Where an inbox event is in its processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventState {
    /// Waiting to be claimed.
    Pending,
    /// Claimed by a scheduler and not completed yet. A claim made by an earlier store
    /// instance (before a restart) no longer holds: such an event is ready again.
    Claimed,
    /// All its runs finished.
    Done,
}

/// What [`crate::Store::enqueue`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "id", rename_all = "lowercase")]
pub enum Enqueued {
    /// The event was stored (and committed) under this id.
    New(InboxId),
    /// An event with the same dedup key was already stored, under this id; nothing changed.
    Duplicate(InboxId),
}

impl Enqueued {
    /// The id of the stored event (the new one, or the earlier one with the same key).
    pub fn id(self) -> InboxId {
        match self {
            Self::New(id) | Self::Duplicate(id) => id,
        }
    }

    pub fn is_new(self) -> bool {
        matches!(self, Self::New(_))
    }
}

/// How many inbox events are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxCounts {
    pub pending: u64,
    pub claimed: u64,
    pub done: u64,
}

/// A run to start: one per inbox event and playbook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRun {
    pub inbox_id: InboxId,
    pub playbook_id: String,
    /// The trigger node the run starts at.
    pub trigger_node: String,
    pub started_at_ms: u64,
}

/// A run without its node runs: what lists show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub id: RunId,
    pub inbox_id: InboxId,
    pub playbook_id: String,
    pub trigger_node: String,
    /// The alert of the run's inbox event, if any.
    pub alert_uuid: Option<String>,
    pub status: RunStatus,
    pub started_at_ms: u64,
    pub ended_at_ms: Option<u64>,
    pub error: Option<String>,
}

/// A run with its node runs and their retry state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDetail {
    pub run: RunSummary,
    /// Node runs in `seq` order.
    pub nodes: Vec<NodeRecord>,
    /// Retry state of the node runs that were retried, in `seq` order.
    pub retries: Vec<RetryState>,
}

impl RunDetail {
    /// The run as the engine records it.
    pub fn to_record(&self) -> RunRecord {
        RunRecord {
            status: self.run.status,
            trigger_node: self.run.trigger_node.clone(),
            started_at_ms: self.run.started_at_ms,
            ended_at_ms: self.run.ended_at_ms,
            error: self.run.error.clone(),
            nodes: self.nodes.clone(),
        }
    }
}

/// A run that was still running when the process stopped, with what it takes to resume it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnfinishedRun {
    pub run: RunSummary,
    /// The inbox event the run is for.
    pub event: InboxEvent,
    /// Node runs that ended (succeeded, failed or skipped), in `seq` order: not to be run
    /// again.
    pub completed_nodes: Vec<NodeRecord>,
    /// Node runs that had started and not ended (in flight at the stop), in `seq` order:
    /// to be run again.
    pub interrupted_nodes: Vec<NodeRecord>,
    /// Retry state of the run's node runs, in `seq` order, so retries continue where they
    /// were.
    pub retries: Vec<RetryState>,
}

/// What [`crate::Store::begin_run`] found for an inbox event and playbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RunStart {
    /// No run existed: this one was created, status `running`.
    Started { id: RunId },
    /// A run existed and had not finished (the process stopped during it): resume it.
    Resume { run: Box<UnfinishedRun> },
    /// A run existed and had finished (the process stopped before the event was
    /// completed): nothing to run.
    Finished { run: RunSummary },
}

/// Which runs to list, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunQuery {
    pub playbook_id: Option<String>,
    pub status: Option<RunStatus>,
    pub alert_uuid: Option<String>,
    pub inbox_id: Option<InboxId>,
    /// Only runs older than this one: the `next_before` of the previous page.
    pub before: Option<RunId>,
    /// Page size, at most [`MAX_PAGE_SIZE`].
    pub limit: u32,
}

impl Default for RunQuery {
    fn default() -> Self {
        Self {
            playbook_id: None,
            status: None,
            alert_uuid: None,
            inbox_id: None,
            before: None,
            limit: 50,
        }
    }
}

/// One page of runs, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPage {
    pub runs: Vec<RunSummary>,
    /// Set when older runs match: pass it as [`RunQuery::before`] for the next page.
    pub next_before: Option<RunId>,
}

/// Which runs to count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCountFilter {
    pub playbook_id: Option<String>,
    pub alert_uuid: Option<String>,
}

/// How many runs are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    pub running: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub cancelled: u64,
}

impl RunCounts {
    pub fn total(&self) -> u64 {
        self.running + self.succeeded + self.failed + self.cancelled
    }
}

/// Delivery retry state of one node run, kept so a restart continues the retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryState {
    pub run_id: RunId,
    /// The node run's `seq` in its run.
    pub seq: usize,
    /// The node's id in the playbook.
    pub node_id: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due; `None` when no further attempt is planned.
    pub next_attempt_at_ms: Option<u64>,
    /// Why the last attempt failed (secrets masked).
    pub last_error: Option<String>,
    pub updated_at_ms: u64,
    /// The operation retried, as the action names it (e.g. `POST https://…`, masked).
    pub operation: String,
    /// When its first attempt failed: the retry age limit counts from here.
    pub first_failed_at_ms: Option<u64>,
}

impl RetryState {
    /// The state of node run `seq` of `run_id` (node `node_id`) waiting as `progress` says.
    pub fn waiting(run_id: RunId, seq: usize, node_id: &str, progress: &RetryProgress) -> Self {
        Self {
            run_id,
            seq,
            node_id: node_id.to_owned(),
            attempts: progress.attempts,
            next_attempt_at_ms: Some(progress.next_attempt_at_ms),
            last_error: Some(progress.last_error.clone()),
            updated_at_ms: alertsync_engine::now_ms(),
            operation: progress.operation.clone(),
            first_failed_at_ms: Some(progress.first_failed_at_ms),
        }
    }

    /// Where the retries stand, for the engine to continue them; `None` for a state that
    /// plans no further attempt.
    pub fn progress(&self) -> Option<RetryProgress> {
        Some(RetryProgress {
            operation: self.operation.clone(),
            attempts: self.attempts,
            first_failed_at_ms: self.first_failed_at_ms.unwrap_or(self.updated_at_ms),
            next_attempt_at_ms: self.next_attempt_at_ms?,
            last_error: self.last_error.clone().unwrap_or_default(),
        })
    }
}

/// A named position a trigger resumes from, e.g. the last back-filled alert update time of
/// an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub key: String,
    pub value: String,
}

impl Checkpoint {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// How a playbook has been doing: consecutive technical failures, and whether it was
/// disabled for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaybookHealth {
    pub playbook_id: String,
    /// Runs in a row that failed for technical reasons; a success resets it.
    pub consecutive_failures: u32,
    /// The error of the latest technical failure since the last success.
    pub last_error: Option<String>,
    /// Set once the playbook was disabled, saying why; cleared by
    /// [`crate::Store::enable_playbook`].
    pub disabled: Option<PlaybookDisabled>,
}

impl PlaybookHealth {
    /// A playbook with no recorded failure.
    pub fn healthy(playbook_id: impl Into<String>) -> Self {
        Self {
            playbook_id: playbook_id.into(),
            consecutive_failures: 0,
            last_error: None,
            disabled: None,
        }
    }

    pub fn is_disabled(&self) -> bool {
        self.disabled.is_some()
    }
}

/// Why and when a playbook was disabled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaybookDisabled {
    pub reason: String,
    pub at_ms: u64,
}
