//! The values the store keeps and answers with: inbox events, runs and node runs, retry
//! state, checkpoints, playbook health, and the queries of the API and console.
//!
//! Times are milliseconds since the Unix epoch, as in the engine's run records.

use std::fmt;
use std::str::FromStr;

use alertsync_engine::{NodeRecord, RetryProgress, RunStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    /// A page of an intelligence feed, read by a feed trigger.
    Feed,
    /// A trigger's own timer (Alert Events Threshold's time window).
    Timer,
}

impl EventSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Backfill => "backfill",
            Self::Webhook => "webhook",
            Self::Cron => "cron",
            Self::Feed => "feed",
            Self::Timer => "timer",
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
            "feed" => Ok(Self::Feed),
            "timer" => Ok(Self::Timer),
            other => Err(format!("unknown event source `{other}`")),
        }
    }
}

/// A trigger event to put in the inbox, with the runs it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewInboxEvent {
    pub source: EventSource,
    /// The account (Sekoia.io community connection) the event came through.
    pub account: String,
    /// The alert the event is about: the runs one playbook makes for one alert happen one
    /// at a time, in arrival order. `None` for events about no alert, whose runs are
    /// independent of all others.
    pub alert_uuid: Option<String>,
    /// What makes two deliveries of one change the same event, e.g. `<alert uuid>/<change
    /// id>`: an event whose key is already in the inbox is not stored again.
    pub dedup_key: String,
    /// What happened, as the trigger source describes it.
    pub payload: Value,
    pub received_at_ms: u64,
    /// The runs the event starts, one per playbook trigger it fires; queued with the event,
    /// in the same transaction. An event that starts none is done at once.
    pub runs: Vec<RunTarget>,
}

/// A trigger node of a playbook that an event fires.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RunTarget {
    pub playbook_id: String,
    pub trigger_node: String,
}

/// An event in the inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxEvent {
    pub id: InboxId,
    pub source: EventSource,
    pub account: String,
    pub alert_uuid: Option<String>,
    pub dedup_key: String,
    pub payload: Value,
    pub received_at_ms: u64,
    /// When its last run ended; `None` while a run is still open.
    pub done_at_ms: Option<u64>,
}

/// What [`crate::Store::enqueue`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "id", rename_all = "lowercase")]
pub enum Enqueued {
    /// The event was stored (and committed) under this id, with its runs.
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

/// A run to queue again for the event of an earlier run: a rerun asked by a person, or the
/// replay of a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rerun {
    /// The run whose event and playbook the new run takes.
    pub of: RunId,
    /// Reuse the actions that succeeded in `of` instead of running them again.
    pub only_failed: bool,
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
    /// When the run was queued (its event arrived, or a rerun was asked for).
    pub queued_at_ms: u64,
    /// When it first started running; `None` while it has not.
    pub started_at_ms: Option<u64>,
    pub ended_at_ms: Option<u64>,
    /// Why it failed, waits, or is a dead letter (secrets masked).
    pub error: Option<String>,
    /// For a `waiting` run: when its next attempt is due.
    pub due_at_ms: Option<u64>,
    /// For a `waiting` run: the destination (module slug) it waits for.
    pub waiting_on: Option<String>,
    /// Times the process stopped uncleanly (crash, kill) while the run was running.
    pub interruptions: u32,
    /// For a rerun or a replay: the run it repeats.
    pub rerun_of: Option<RunId>,
    /// For a dead letter: when it was replayed or dismissed (it no longer needs anyone).
    pub dismissed_at_ms: Option<u64>,
    /// The alert as the run read it from Sekoia.io; `None` until it did (or for a run
    /// about no alert).
    pub alert: Option<RunAlert>,
    /// On a store several instances share: the instance that last started the run (its
    /// label, the address it listens on). `None` on a store file, which one instance uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ran_by: Option<String>,
}

/// What a run knows of its alert, as it read it from Sekoia.io when it started (a rerun
/// starts with what the run it repeats knew).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunAlert {
    /// The Sekoia.io account (community) it was read through.
    pub account: Option<String>,
    /// The alert's short id, e.g. `ALWk3vQn2bxP`.
    pub short_id: Option<String>,
    pub title: Option<String>,
    /// Its urgency, 0 to 100.
    pub urgency: Option<i64>,
}

impl RunSummary {
    /// Whether this is a dead letter nobody has replayed or dismissed yet.
    pub fn is_unhandled_dead_letter(&self) -> bool {
        self.status == RunStatus::Dead && self.dismissed_at_ms.is_none()
    }
}

/// A run with its node runs and their retry state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDetail {
    pub run: RunSummary,
    /// Node runs in `seq` order.
    pub nodes: Vec<NodeRecord>,
    /// Retry state of the node runs that wait for a retry, in `seq` order.
    pub retries: Vec<RetryState>,
}

/// A run handed to a scheduler by [`crate::Store::claim_runs`], with what it takes to run
/// or resume it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimedRun {
    pub run: RunSummary,
    /// The inbox event the run is for.
    pub event: InboxEvent,
    /// Node runs of an earlier attempt that ended, in `seq` order: the actions among them
    /// that succeeded are not run again. For a resumed run, its own; for a rerun of only
    /// what failed, those of the run it repeats.
    pub completed_nodes: Vec<NodeRecord>,
    /// Node runs of an earlier attempt that had started and not ended (in flight at a
    /// stop, or waiting for a retry), in `seq` order: to be run again.
    pub interrupted_nodes: Vec<NodeRecord>,
    /// Retry state of the run's node runs, in `seq` order, so retries continue where they
    /// were.
    pub retries: Vec<RetryState>,
}

/// How the queue of runs stands: what `/healthz` and the metrics report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueHealth {
    /// Runs waiting for their turn or a worker (playbook enabled).
    pub queued: u64,
    pub running: u64,
    /// Runs held by a destination failing transiently.
    pub waiting: u64,
    /// Runs held because their playbook is disabled.
    pub held_by_disabled_playbooks: u64,
    /// Dead letters nobody has replayed or dismissed.
    pub dead_letters: u64,
    /// When the oldest queued run of an enabled playbook was queued.
    pub oldest_queued_at_ms: Option<u64>,
    /// When the oldest held delivery first failed (its run's queue time).
    pub oldest_waiting_since_ms: Option<u64>,
    /// When the newest event arrived.
    pub last_event_at_ms: Option<u64>,
}

/// What one [`crate::Store::prune`] pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pruned {
    /// Finished runs, with their node runs and retry state.
    pub runs: u64,
    /// Done inbox events no run refers to any more.
    pub events: u64,
    /// Ids other systems gave to alerts ([`crate::AlertLink`]), linked before the cutoff.
    pub links: u64,
}

impl Pruned {
    pub fn is_empty(&self) -> bool {
        self.runs == 0 && self.events == 0 && self.links == 0
    }

    /// Adds what another pass removed.
    pub fn add(&mut self, other: Pruned) {
        self.runs += other.runs;
        self.events += other.events;
        self.links += other.links;
    }
}

/// How many inbox events are open (a run of theirs has not ended) or done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxCounts {
    pub open: u64,
    pub done: u64,
}

/// Which runs to list, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunQuery {
    pub playbook_id: Option<String>,
    pub status: Option<RunStatus>,
    pub alert_uuid: Option<String>,
    /// Runs whose alert has this short id ([`RunAlert::short_id`]).
    pub alert_short_id: Option<String>,
    /// Runs queued at or after this time (ms since the epoch).
    pub since_ms: Option<u64>,
    /// Runs queued at or before this time (ms since the epoch).
    pub until_ms: Option<u64>,
    /// Runs whose error, alert title or short id, or any node run (arguments, results,
    /// logs, error, requests and answers) contains this text, ASCII letters in any case.
    pub text: Option<String>,
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
            alert_short_id: None,
            since_ms: None,
            until_ms: None,
            text: None,
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
    pub alert_short_id: Option<String>,
}

/// How many runs are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    pub queued: u64,
    pub running: u64,
    pub waiting: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub dead: u64,
}

impl RunCounts {
    pub fn total(&self) -> u64 {
        self.queued
            + self.running
            + self.waiting
            + self.succeeded
            + self.failed
            + self.cancelled
            + self.dead
    }

    /// The count of runs in `status`.
    pub fn get(&self, status: RunStatus) -> u64 {
        match status {
            RunStatus::Queued => self.queued,
            RunStatus::Running => self.running,
            RunStatus::Waiting => self.waiting,
            RunStatus::Succeeded => self.succeeded,
            RunStatus::Failed => self.failed,
            RunStatus::Cancelled => self.cancelled,
            RunStatus::Dead => self.dead,
        }
    }

    fn slot(&mut self, status: RunStatus) -> &mut u64 {
        match status {
            RunStatus::Queued => &mut self.queued,
            RunStatus::Running => &mut self.running,
            RunStatus::Waiting => &mut self.waiting,
            RunStatus::Succeeded => &mut self.succeeded,
            RunStatus::Failed => &mut self.failed,
            RunStatus::Cancelled => &mut self.cancelled,
            RunStatus::Dead => &mut self.dead,
        }
    }

    /// Sets the count of runs in `status`.
    pub fn set(&mut self, status: RunStatus, count: u64) {
        *self.slot(status) = count;
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

/// That a system (a module slug, e.g. `ilert`) knows a Sekoia.io alert under an id of its
/// own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertLink {
    pub system: String,
    pub remote_id: String,
    pub alert_uuid: String,
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

/// How a playbook has been doing: consecutive failures a person must fix, and whether it
/// was disabled (for them, or by an operator).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaybookHealth {
    pub playbook_id: String,
    /// Runs in a row that failed permanently; a success resets it.
    pub consecutive_failures: u32,
    /// The error of the latest permanent failure since the last success.
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

    /// The health after one more run that failed permanently with `error`.
    pub(crate) fn after_failure(mut self, error: &str) -> Self {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.last_error = Some(error.to_owned());
        self
    }

    /// The health after a run that succeeded: no failure in a row.
    pub(crate) fn after_success(mut self) -> Self {
        self.consecutive_failures = 0;
        self.last_error = None;
        self
    }

    /// Disabled for `reason`, unless it already is (it keeps its first reason); `None` when
    /// nothing changes.
    pub(crate) fn disabled_for(mut self, reason: &str) -> Option<Self> {
        if self.disabled.is_some() {
            return None;
        }
        self.disabled = Some(PlaybookDisabled {
            reason: reason.to_owned(),
            at_ms: alertsync_engine::now_ms(),
        });
        Some(self)
    }
}

/// Why and when a playbook was disabled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaybookDisabled {
    pub reason: String,
    pub at_ms: u64,
}

/// The instances sharing a store, and which holds which lease: `/healthz`'s cluster view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterView {
    /// The instance answering.
    pub this_instance: String,
    /// Every instance that opened the store recently (the dead ones until they are
    /// forgotten), the newest first.
    pub instances: Vec<ClusterInstance>,
    /// The leases, by name.
    pub leases: Vec<ClusterLease>,
}

/// One instance of a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInstance {
    pub id: String,
    /// What it calls itself (its listening address).
    pub label: String,
    pub host: String,
    pub pid: u32,
    pub started_at_ms: u64,
    /// When its session last proved it alive.
    pub seen_at_ms: u64,
    /// Whether its session holds its lock now: only then do its claims and leases count.
    pub alive: bool,
}

/// Who holds a lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterLease {
    pub name: String,
    /// The instance that took it last.
    pub holder: String,
    pub acquired_at_ms: u64,
    /// Whether that instance still holds it.
    pub held: bool,
}

/// What bringing a store's schema up to date found and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaMigration {
    /// The store: its file, or its database without the password.
    pub store: String,
    /// The schema version it was at (0: a new store).
    pub from: i64,
    /// The schema version it is at now: the one this alertsync writes.
    pub to: i64,
}
