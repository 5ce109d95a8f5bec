//! Conformance tests of the `Store` contract on its SQLite backend. Every test works on a
//! real store file in a temporary directory; dropping the store and opening the file again
//! stands for a restart, or for a crash when claimed runs are left unfinished.
//!
//! This file holds the helpers the concern modules share.

mod concurrency;
mod durability;
mod inbox;
mod lifecycle;
mod lock;
mod migrations;
mod queries;
mod queue;
mod recorder;
mod retention;
mod state;

use std::path::{Path, PathBuf};

use alertsync_engine::{Hold, LogLevel, LogLine, NodeRecord, NodeStatus, RunRecord, RunStatus};
use alertsync_store::{
    EventSource, InboxId, NewInboxEvent, RetryState, RunId, RunQuery, RunSummary, RunTarget,
    SqliteOptions, SqliteStore, Store, StoreResult, WriteBehind,
};
use serde_json::json;

/// A fixed point in time the tests' events arrive at (November 2023).
pub const T0: u64 = 1_700_000_000_000;

/// A temporary directory holding one store file.
pub struct StoreDir {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl StoreDir {
    pub fn temporary() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        // A directory that does not exist yet: the store creates it.
        let path = dir.path().join("data").join("alertsync.db");
        Self { _dir: dir, path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the store (again), with the default options.
    pub async fn open(&self) -> SqliteStore {
        SqliteStore::open(&self.path).await.expect("open the store")
    }

    /// Opens the store (again) with `options`.
    pub async fn open_with(&self, options: SqliteOptions) -> StoreResult<SqliteStore> {
        SqliteStore::open_with(&self.path, options).await
    }

    /// A plain SQLite connection on the file, beside the store.
    pub fn raw(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.path).expect("open the file with SQLite")
    }
}

/// A run of `playbook` from its trigger node `0`.
pub fn target(playbook: &str) -> RunTarget {
    RunTarget {
        playbook_id: playbook.to_owned(),
        trigger_node: "0".to_owned(),
    }
}

/// A live event of `alert` (or of no alert) with dedup key `key`, received at [`T0`],
/// that starts a run of each of `playbooks`.
pub fn event(alert: Option<&str>, key: &str, playbooks: &[&str]) -> NewInboxEvent {
    NewInboxEvent {
        source: EventSource::Live,
        account: "sekoia-prod".to_owned(),
        alert_uuid: alert.map(str::to_owned),
        dedup_key: key.to_owned(),
        payload: json!({"alert_uuid": alert, "key": key}),
        received_at_ms: T0,
        runs: playbooks.iter().map(|playbook| target(playbook)).collect(),
    }
}

/// Like [`event`], received at `received_at_ms`.
pub fn event_at(
    alert: Option<&str>,
    key: &str,
    playbooks: &[&str],
    received_at_ms: u64,
) -> NewInboxEvent {
    NewInboxEvent {
        received_at_ms,
        ..event(alert, key, playbooks)
    }
}

/// A node record at `seq` with `status`.
pub fn node(seq: usize, id: &str, status: NodeStatus) -> NodeRecord {
    let ended = status.is_completed();
    NodeRecord {
        seq,
        id: id.to_owned(),
        name: format!("node {id}"),
        status,
        started_at_ms: T0 + seq as u64,
        ended_at_ms: ended.then_some(T0 + 100 + seq as u64),
        duration_ms: ended.then_some(100),
        arguments: json!({"summary": "Alert {{ alert.short_id }}"}),
        results: ended.then(|| json!({"ok": status == NodeStatus::Succeeded})),
        error: matches!(status, NodeStatus::Failed | NodeStatus::Waiting)
            .then(|| "HTTP 503 from ilert".to_owned()),
        logs: vec![LogLine {
            at_ms: T0 + 1,
            level: LogLevel::Info,
            message: format!("running {id}"),
        }],
        outputs: if ended { vec!["ok".to_owned()] } else { vec![] },
        iteration: vec![],
        dry_run_writes: vec![],
        attempts: 0,
        exchanges: vec![],
    }
}

/// The record an executor hands over for a run that ended (or stopped) in `status`.
pub fn record(status: RunStatus, nodes: Vec<NodeRecord>) -> RunRecord {
    let ended = !status.is_open();
    RunRecord {
        status,
        trigger_node: "0".to_owned(),
        started_at_ms: T0 + 1_000,
        ended_at_ms: ended.then_some(T0 + 2_000),
        error: matches!(
            status,
            RunStatus::Failed | RunStatus::Dead | RunStatus::Waiting
        )
        .then(|| format!("the run is {status}")),
        nodes,
        hold: None,
        failure: None,
    }
}

/// A hold until `until_ms` on `destination`.
pub fn hold(until_ms: u64, destination: &str) -> Hold {
    Hold {
        until_ms,
        destination: destination.to_owned(),
    }
}

/// The retry state of node run `seq` of `run` after `attempts` attempts.
pub fn retry(run: RunId, seq: usize, attempts: u32) -> RetryState {
    RetryState {
        run_id: run,
        seq,
        node_id: format!("node-{seq}"),
        attempts,
        next_attempt_at_ms: Some(T0 + 60_000),
        last_error: Some("ilert answered 503".to_owned()),
        updated_at_ms: T0 + 30_000,
        operation: "POST https://api.ilert.com/api/events".to_owned(),
        first_failed_at_ms: Some(T0),
    }
}

/// Claims up to `limit` runs and returns their ids, in the order handed out.
pub async fn claim_ids(store: &SqliteStore, limit: u32) -> Vec<RunId> {
    store
        .claim_runs(limit)
        .await
        .expect("claim runs")
        .into_iter()
        .map(|claimed| claimed.run.id)
        .collect()
}

/// The runs of inbox event `id`, oldest first.
pub async fn runs_of(store: &SqliteStore, id: InboxId) -> Vec<RunSummary> {
    let page = store
        .list_runs(RunQuery {
            inbox_id: Some(id),
            limit: 100,
            ..RunQuery::default()
        })
        .await
        .expect("list the runs of an event");
    page.runs.into_iter().rev().collect()
}

/// The one run of inbox event `id`.
pub async fn only_run_of(store: &SqliteStore, id: InboxId) -> RunId {
    let runs = runs_of(store, id).await;
    assert_eq!(runs.len(), 1, "event {id} has one run: {runs:?}");
    runs[0].id
}

/// A run without its node runs.
pub async fn summary(store: &SqliteStore, run: RunId) -> RunSummary {
    store
        .run(run)
        .await
        .expect("read the run")
        .unwrap_or_else(|| panic!("run {run} exists"))
        .run
}

/// Waits until every write queued before it (also with `write_behind`) is committed.
pub async fn flush(store: &SqliteStore) {
    store
        .sync_writes()
        .await
        .expect("the writes reach the disk");
}

/// Records a node run as the executor's observer does (written behind), then waits until
/// it is on disk.
pub async fn record_node(store: &SqliteStore, run: RunId, node: NodeRecord) {
    store.write_behind(WriteBehind::NodeRecorded {
        run,
        node: Box::new(node),
    });
    flush(store).await;
}
