//! What a run leaves behind: the [`RunRecord`] and its [`NodeRecord`]s, the
//! [`RunObserver`] told about progress, and the [`Recorder`] that masks secrets before
//! anything is recorded or observed.

use std::fmt;
use std::str::FromStr;

use alertsync_spl::Node;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::limits;
use crate::action::LogLine;
use crate::http::{Answer, Exchange, HttpClient, RecordedWrite};
use crate::redact::Redactor;

/// The state of a run.
///
/// The executor ends a run `succeeded`, `failed`, `waiting` or `cancelled`; `queued` and
/// `dead` are the service's: a run waits in its queue before it starts, and one that can
/// never run (or never succeed) ends as a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Waiting for its turn: the earlier runs of its playbook for the same alert, a free
    /// worker, or its playbook to be enabled again.
    Queued,
    Running,
    /// Held: a destination failed transiently; the run continues at its next attempt.
    Waiting,
    Succeeded,
    /// At least one node failed, or the run could not start or went on too long.
    Failed,
    /// The process was asked to stop before the run finished.
    Cancelled,
    /// A dead letter: the run can never run or succeed (its destination kept failing past
    /// the retry age, its playbook is gone, or it was interrupted too often). Replayable.
    Dead,
}

impl RunStatus {
    /// Every status, in the order a run moves through them.
    pub const ALL: [RunStatus; 7] = [
        Self::Queued,
        Self::Running,
        Self::Waiting,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
        Self::Dead,
    ];

    /// The status as the API, the store and metrics write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Waiting => "waiting",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Dead => "dead",
        }
    }

    /// Whether the run still has work ahead (queued, running or waiting).
    pub fn is_open(self) -> bool {
        matches!(self, Self::Queued | Self::Running | Self::Waiting)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| {
                let known: Vec<_> = Self::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown run status `{text}` (one of {})", known.join(", "))
            })
    }
}

/// The state of one node run.
///
/// The executor records `running`, `succeeded`, `failed` and `waiting`; `pending` and
/// `skipped` are for stores that list activations not yet run, or never run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Skipped,
    /// A delivery failed transiently and waits for its next attempt (its run is held).
    Waiting,
}

impl NodeStatus {
    pub const ALL: [NodeStatus; 6] = [
        Self::Pending,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Skipped,
        Self::Waiting,
    ];

    /// The status as the API, the store and metrics write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Waiting => "waiting",
        }
    }

    /// Whether the node run ended, so a resumed run does not run it again.
    pub fn is_completed(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Skipped)
    }
}

impl fmt::Display for NodeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NodeStatus {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| format!("unknown node run status `{text}`"))
    }
}

/// Why a run stopped to wait: a destination failed transiently and its next attempt is
/// due later. The service keeps the run (and its retry progress) and resumes it then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// When the next attempt is due (Unix ms).
    pub until_ms: u64,
    /// The module slug of the destination it waits for (`ilert`, `http`, ...).
    pub destination: String,
}

/// How a failed run failed: this decides what the service does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// Something a person must fix: a 4xx answer, an argument or a template. Counts
    /// towards disabling the playbook.
    Permanent,
    /// Only destinations failing transiently for longer than the retry age: nothing to fix
    /// in the playbook; the run becomes a dead letter.
    Expired,
}

/// One run of a playbook for one trigger event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub status: RunStatus,
    /// The trigger node the run started at.
    pub trigger_node: String,
    pub started_at_ms: u64,
    pub ended_at_ms: Option<u64>,
    /// Why the run failed or was cancelled (secrets masked).
    pub error: Option<String>,
    /// Node runs in the order they started.
    pub nodes: Vec<NodeRecord>,
    /// For a `waiting` run: what it waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<Hold>,
    /// For a `failed` run: how it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureKind>,
}

/// One run of one node (a node inside a loop runs once per iteration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// Position in [`RunRecord::nodes`]: the key a store updates this record by.
    pub seq: usize,
    pub id: String,
    pub name: String,
    pub status: NodeStatus,
    pub started_at_ms: u64,
    pub ended_at_ms: Option<u64>,
    pub duration_ms: Option<u64>,
    /// Rendered arguments (operators: their rendered inputs), secrets masked.
    pub arguments: Value,
    /// The node's output (for a failed action, what it reported), secrets masked.
    pub results: Option<Value>,
    pub error: Option<String>,
    pub logs: Vec<LogLine>,
    /// The outputs the node activated.
    pub outputs: Vec<String>,
    /// Loop indices, outermost first; empty outside loops.
    pub iteration: Vec<usize>,
    /// In a dry run, the writes the node would have sent (secrets masked).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dry_run_writes: Vec<RecordedWrite>,
    /// Attempts of the node's most tried request, earlier attempts of a resumed run
    /// included; 0 for a node that made none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempts: u32,
    /// The writes the node sent and what each got back, in order, every attempt included
    /// (secrets masked).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exchanges: Vec<Exchange>,
}

fn is_zero(attempts: &u32) -> bool {
    *attempts == 0
}

/// Told about every node run as it starts and finishes, e.g. to persist progress. An
/// action's start is told before the action runs, and awaited: an observer that must make
/// earlier records durable first can do so there.
///
/// Records arrive masked. `node_finished` (or `node_started`, for the node still running)
/// may be called again for a `seq` already seen, when a secret learned later in the run
/// masks more of that record: treat calls as updates keyed by `seq`.
#[async_trait::async_trait]
pub trait RunObserver: Send + Sync {
    async fn node_started(&self, _node: &NodeRecord) {}
    async fn node_finished(&self, _node: &NodeRecord) {}
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl RunObserver for NoObserver {}

/// How a node run ended.
pub(crate) struct NodeOutcome {
    pub status: NodeStatus,
    pub results: Option<Value>,
    pub error: Option<String>,
    /// For a failure: whether it is one a person must fix.
    pub failure: Option<FailureKind>,
    pub logs: Vec<LogLine>,
    pub outputs: Vec<String>,
    pub dry_run_writes: Vec<RecordedWrite>,
    pub attempts: u32,
    pub exchanges: Vec<Exchange>,
}

impl NodeOutcome {
    pub fn succeeded(results: Value, outputs: Vec<String>) -> Self {
        Self {
            status: NodeStatus::Succeeded,
            results: Some(results),
            error: None,
            failure: None,
            logs: Vec::new(),
            outputs,
            dry_run_writes: Vec::new(),
            attempts: 0,
            exchanges: Vec::new(),
        }
    }

    /// A failure a person must fix (an argument, a template, a 4xx answer).
    pub fn failed(error: String, results: Option<Value>) -> Self {
        Self {
            status: NodeStatus::Failed,
            results,
            error: Some(error),
            failure: Some(FailureKind::Permanent),
            logs: Vec::new(),
            outputs: Vec::new(),
            dry_run_writes: Vec::new(),
            attempts: 0,
            exchanges: Vec::new(),
        }
    }

    /// A failure of kind `failure`.
    pub fn failed_as(failure: FailureKind, error: String, results: Option<Value>) -> Self {
        Self {
            failure: Some(failure),
            ..Self::failed(error, results)
        }
    }

    /// A delivery that failed transiently and waits for its next attempt.
    pub fn waiting(error: String) -> Self {
        Self {
            status: NodeStatus::Waiting,
            failure: None,
            ..Self::failed(error, None)
        }
    }

    pub fn with_logs(mut self, logs: Vec<LogLine>) -> Self {
        self.logs = logs;
        self
    }

    /// What the node's action sent: the writes its (per-node) HTTP client recorded, after
    /// those `earlier` attempts of the node sent, and the attempts of its most tried
    /// request.
    pub fn with_requests(
        mut self,
        earlier: Vec<Exchange>,
        http: &HttpClient,
        attempts: u32,
    ) -> Self {
        self.dry_run_writes = http.recorded_writes();
        let mut exchanges = earlier;
        exchanges.extend(http.exchanges());
        self.exchanges = limits::exchanges(exchanges);
        self.attempts = attempts;
        self
    }
}

/// Builds the run record: masks every value with the run's redactor before recording it or
/// handing it to the observer, and re-masks earlier records when the redactor learns a new
/// secret.
pub(crate) struct Recorder<'a> {
    observer: &'a dyn RunObserver,
    /// Records changed since the observer was last told, by index.
    untold: Vec<usize>,
    redactor: Redactor,
    record: RunRecord,
    failures: usize,
    /// Failures a person must fix, among `failures`.
    permanent_failures: usize,
}

impl<'a> Recorder<'a> {
    pub fn new(observer: &'a dyn RunObserver, redactor: Redactor, trigger_node: &str) -> Self {
        Self {
            observer,
            untold: Vec::new(),
            redactor,
            record: RunRecord {
                status: RunStatus::Running,
                trigger_node: trigger_node.to_owned(),
                started_at_ms: crate::now_ms(),
                ended_at_ms: None,
                error: None,
                nodes: Vec::new(),
                hold: None,
                failure: None,
            },
            failures: 0,
            permanent_failures: 0,
        }
    }

    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// How many node runs failed so far.
    pub fn failures(&self) -> usize {
        self.failures
    }

    /// Adds the strings in `values` to the secrets; if that teaches the redactor anything,
    /// earlier records are masked again and the observer told about those that changed.
    pub fn learn_secrets<'v>(&mut self, values: impl IntoIterator<Item = &'v Value>) {
        let known = self.redactor.len();
        for value in values {
            self.redactor.add_value(value);
        }
        if self.redactor.len() == known {
            return;
        }
        for index in 0..self.record.nodes.len() {
            let masked = mask_record(&self.redactor, &self.record.nodes[index]);
            if masked != self.record.nodes[index] {
                self.record.nodes[index] = masked;
                self.notify(index);
            }
        }
    }

    /// Records that node `id` started with these (unmasked) arguments; returns its `seq`.
    pub fn start(&mut self, id: &str, name: &str, iteration: &[usize], arguments: &Value) -> usize {
        let seq = self.record.nodes.len();
        self.record.nodes.push(NodeRecord {
            seq,
            id: id.to_owned(),
            name: self.redactor.mask_str(name),
            status: NodeStatus::Running,
            started_at_ms: crate::now_ms(),
            ended_at_ms: None,
            duration_ms: None,
            arguments: limits::value(self.redactor.mask_value(arguments)),
            results: None,
            error: None,
            logs: Vec::new(),
            outputs: Vec::new(),
            iteration: iteration.to_vec(),
            dry_run_writes: Vec::new(),
            attempts: 0,
            exchanges: Vec::new(),
        });
        self.notify(seq);
        seq
    }

    /// Records how node run `seq` ended (values unmasked).
    pub fn finish(&mut self, seq: usize, outcome: NodeOutcome) {
        if outcome.status == NodeStatus::Failed {
            self.failures += 1;
            if outcome.failure != Some(FailureKind::Expired) {
                self.permanent_failures += 1;
            }
        }
        let redactor = &self.redactor;
        let Some(record) = self.record.nodes.get_mut(seq) else {
            return;
        };
        let ended = crate::now_ms();
        record.status = outcome.status;
        record.ended_at_ms = Some(ended);
        record.duration_ms = Some(ended.saturating_sub(record.started_at_ms));
        record.results = outcome
            .results
            .map(|r| limits::value(redactor.mask_value(&r)));
        record.error = outcome.error.map(|e| limits::text(redactor.mask_str(&e)));
        record.logs = limits::logs(outcome.logs.iter().map(|l| mask_line(redactor, l)));
        record.outputs = outcome.outputs;
        record.dry_run_writes = outcome
            .dry_run_writes
            .iter()
            .map(|w| mask_write(redactor, w))
            .collect();
        record.attempts = outcome.attempts;
        record.exchanges = outcome
            .exchanges
            .iter()
            .map(|e| mask_exchange(redactor, e))
            .collect();
        self.notify(seq);
    }

    /// Records a node run carried over from an earlier attempt of the run, as it was.
    pub fn restore(&mut self, mut record: NodeRecord) {
        let seq = self.record.nodes.len();
        record.seq = seq;
        self.record.nodes.push(mask_record(&self.redactor, &record));
        self.notify(seq);
    }

    /// Records a node run that ended as soon as it started.
    pub fn instant(
        &mut self,
        node: &Node,
        iteration: &[usize],
        arguments: &Value,
        outcome: NodeOutcome,
    ) {
        let seq = self.start(&node.id, &node.name, iteration, arguments);
        self.finish(seq, outcome);
    }

    /// The finished record. Without an explicit status, a run with a failed node failed and
    /// any other succeeded; the error defaults to the first failure. A failed run failed
    /// permanently unless all its failures were expired deliveries.
    pub fn close(mut self, status: Option<RunStatus>, error: Option<String>) -> RunRecord {
        let status = status.unwrap_or(if self.failures > 0 {
            RunStatus::Failed
        } else {
            RunStatus::Succeeded
        });
        let error = error.or_else(|| self.failure_summary());
        let kind = if self.failures > 0 && self.permanent_failures == 0 {
            FailureKind::Expired
        } else {
            FailureKind::Permanent
        };
        self.record.failure = (status == RunStatus::Failed).then_some(kind);
        self.record.status = status;
        self.record.ended_at_ms = Some(crate::now_ms());
        self.record.error = error.map(|e| limits::text(self.redactor.mask_str(&e)));
        self.record
    }

    /// The record of a run held for `hold`: it stops here and resumes at its next attempt.
    pub fn hold(mut self, hold: Hold) -> RunRecord {
        let error = self
            .record
            .nodes
            .iter()
            .rev()
            .find(|n| n.status == NodeStatus::Waiting)
            .and_then(|n| n.error.clone());
        self.record.status = RunStatus::Waiting;
        self.record.error = error;
        self.record.hold = Some(hold);
        self.record
    }

    /// `node `3` (Send) failed: ...`, plus how many other node runs failed.
    fn failure_summary(&self) -> Option<String> {
        let first = self
            .record
            .nodes
            .iter()
            .find(|n| n.status == NodeStatus::Failed)?;
        let mut summary = format!(
            "node `{}` ({}) failed: {}",
            first.id,
            first.name,
            first.error.as_deref().unwrap_or("no message")
        );
        if self.failures > 1 {
            summary.push_str(&format!(
                " (and {} more failed node runs)",
                self.failures - 1
            ));
        }
        Some(summary)
    }

    /// Notes that record `index` changed; the observer hears of it at the next
    /// [`Recorder::tell_observer`].
    fn notify(&mut self, index: usize) {
        if self.untold.last() != Some(&index) {
            self.untold.push(index);
        }
    }

    /// Tells the observer about every record that changed since it was last told, in the
    /// order they changed.
    pub async fn tell_observer(&mut self) {
        for index in std::mem::take(&mut self.untold) {
            let Some(record) = self.record.nodes.get(index) else {
                continue;
            };
            match record.status {
                NodeStatus::Running | NodeStatus::Pending => {
                    self.observer.node_started(record).await
                }
                _ => self.observer.node_finished(record).await,
            }
        }
    }
}

fn mask_record(redactor: &Redactor, record: &NodeRecord) -> NodeRecord {
    NodeRecord {
        name: redactor.mask_str(&record.name),
        arguments: redactor.mask_value(&record.arguments),
        results: record.results.as_ref().map(|r| redactor.mask_value(r)),
        error: record.error.as_ref().map(|e| redactor.mask_str(e)),
        logs: record.logs.iter().map(|l| mask_line(redactor, l)).collect(),
        dry_run_writes: record
            .dry_run_writes
            .iter()
            .map(|w| mask_write(redactor, w))
            .collect(),
        exchanges: record
            .exchanges
            .iter()
            .map(|e| mask_exchange(redactor, e))
            .collect(),
        ..record.clone()
    }
}

/// A write masked, its body within the record's limits.
fn mask_write(redactor: &Redactor, write: &RecordedWrite) -> RecordedWrite {
    RecordedWrite {
        method: write.method.clone(),
        url: redactor.mask_str(&write.url),
        body: limits::value(redactor.mask_value(&write.body)),
    }
}

fn mask_exchange(redactor: &Redactor, exchange: &Exchange) -> Exchange {
    Exchange {
        at_ms: exchange.at_ms,
        request: mask_write(redactor, &exchange.request),
        answer: match &exchange.answer {
            Answer::Response { status, body } => Answer::Response {
                status: *status,
                body: limits::value(redactor.mask_value(body)),
            },
            Answer::Failed { error } => Answer::Failed {
                error: limits::text(redactor.mask_str(error)),
            },
        },
    }
}

fn mask_line(redactor: &Redactor, line: &LogLine) -> LogLine {
    LogLine {
        message: redactor.mask_str(&line.message),
        ..line.clone()
    }
}
