//! The conformance suite of the [`Store`] contract, run on every backend. A test of the
//! contract is written once, as an `async fn name(place: &Place)` working through the
//! trait, and listed in its module's `conformance!`, which runs it once per backend, each
//! time in a fresh [`Place`]: `inbox::ids_grow_in_arrival_order::sqlite`. A test left out
//! of the list is dead code, which the lints refuse. Dropping every handle of a store and
//! opening its place again stands for a restart, or for a crash when claimed runs are left
//! unfinished.
//!
//! The concern modules (`inbox`, `queue`, `lifecycle`, ...) hold the contract. What a
//! backend does beyond it, and what a test can only bring about through the backend's own
//! storage (its file, its lock, its schema upgrades, a row broken on purpose), is tested
//! in that backend's module: [`sqlite`], [`postgres`] (several instances sharing one
//! database).
//!
//! Running the suite on a new backend takes, in this file alone: a variant of [`Place`]
//! with its arm in [`Place::open`], a constructor of that place, and the backend's test fn
//! in `conformance!`.
//!
//! This file also holds the builders and helpers the modules share; the helpers take a
//! `&dyn Store`, which a test lends from its handle as `&*store`.

/// Runs each listed conformance test of the module, an `async fn name(place: &Place)`,
/// once per backend: it makes a module `name` holding one `#[tokio::test]` per backend,
/// named after the backend. A test listed with its own `#[tokio::test(...)]` attribute (a
/// multi-thread runtime, say) gets that attribute on every backend. Defined before the
/// modules, which use it.
///
/// The backends are the test fns of the expansion, and only those. PostgreSQL's runs on
/// a schema of its own in the test database, and is skipped loudly when the server cannot
/// be reached (a failure with `ALERTSYNC_REQUIRE_POSTGRES=1`).
macro_rules! conformance {
    ($($(#[tokio::test $runtime:tt])? $test:ident),+ $(,)?) => {
        $(
            mod $test {
                #[tokio::test $($runtime)?]
                async fn sqlite() {
                    let place = crate::Place::sqlite();
                    super::$test(&place).await;
                }

                #[tokio::test $($runtime)?]
                async fn postgres() {
                    if let Some(place) = crate::Place::postgres().await {
                        super::$test(&place).await;
                    }
                }
            }
        )+
    };
}

mod concurrency;
mod durability;
mod inbox;
mod lifecycle;
mod postgres;
mod queries;
mod queue;
mod recorder;
mod retention;
mod sqlite;
mod state;

use std::sync::Arc;

use alertsync_engine::{Hold, LogLevel, LogLine, NodeRecord, NodeStatus, RunRecord, RunStatus};
use alertsync_store::{
    EventSource, InboxId, NewInboxEvent, PostgresOptions, PostgresStore, RetryState, RunId,
    RunQuery, RunSummary, RunTarget, Store, WriteBehind,
};
use serde_json::json;

use crate::sqlite::StoreDir;

/// A fixed point in time the tests' events arrive at (November 2023).
pub const T0: u64 = 1_700_000_000_000;

/// Where one test's store lives, on one backend. Opening it again once every handle of the
/// store is dropped stands for a restart, or for a crash when claimed runs are left
/// unfinished.
pub enum Place {
    /// A store file in a temporary directory.
    Sqlite(StoreDir),
    /// A schema of its own in the test PostgreSQL database.
    Postgres(alertsync_testing::PostgresSchema),
}

impl Place {
    /// A place for a new SQLite store; its file is created at the first open.
    pub fn sqlite() -> Self {
        Self::Sqlite(StoreDir::temporary())
    }

    /// A place for a new PostgreSQL store, or `None` (the test is skipped, loudly) when the
    /// test server cannot be reached.
    pub async fn postgres() -> Option<Self> {
        alertsync_testing::postgres_schema()
            .await
            .map(Self::Postgres)
    }

    /// Opens the store living here (again): a new instance of it, as another process would.
    pub async fn open(&self) -> Arc<dyn Store> {
        match self {
            Self::Sqlite(dir) => Arc::new(dir.open().await),
            Self::Postgres(schema) => Arc::new(
                PostgresStore::open(&schema.url, PostgresOptions::default())
                    .await
                    .expect("open the PostgreSQL store"),
            ),
        }
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
pub async fn claim_ids(store: &dyn Store, limit: u32) -> Vec<RunId> {
    store
        .claim_runs(limit)
        .await
        .expect("claim runs")
        .into_iter()
        .map(|claimed| claimed.run.id)
        .collect()
}

/// Stores event `A/1` of alert `A` for playbook `pb-1` and claims its run.
pub async fn claim_one(store: &dyn Store) -> RunId {
    store
        .enqueue(event(Some("A"), "A/1", &["pb-1"]))
        .await
        .expect("enqueue");
    claim_ids(store, 1).await[0]
}

/// The runs of inbox event `id`, oldest first.
pub async fn runs_of(store: &dyn Store, id: InboxId) -> Vec<RunSummary> {
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
pub async fn only_run_of(store: &dyn Store, id: InboxId) -> RunId {
    let runs = runs_of(store, id).await;
    assert_eq!(runs.len(), 1, "event {id} has one run: {runs:?}");
    runs[0].id
}

/// A run without its node runs.
pub async fn summary(store: &dyn Store, run: RunId) -> RunSummary {
    store
        .run(run)
        .await
        .expect("read the run")
        .unwrap_or_else(|| panic!("run {run} exists"))
        .run
}

/// Waits until every write queued before it (also with `write_behind`) is committed.
pub async fn flush(store: &dyn Store) {
    store
        .sync_writes()
        .await
        .expect("the writes reach the disk");
}

/// Records a node run as the executor's observer does (written behind), then waits until
/// it is on disk.
pub async fn record_node(store: &dyn Store, run: RunId, node: NodeRecord) {
    store.write_behind(WriteBehind::NodeRecorded {
        run,
        node: Box::new(node),
    });
    flush(store).await;
}
