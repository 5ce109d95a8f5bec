//! The SQLite store on a real file in a temporary directory: what is stored is there after
//! the store is dropped and the file reopened, as after a crash and restart.

mod concurrency;
mod inbox;
mod runs;
mod state;

use std::path::{Path, PathBuf};

use alertsync_engine::{LogLevel, LogLine, NodeRecord, NodeStatus};
use alertsync_store::{EventSource, NewInboxEvent, SqliteStore};
use serde_json::json;

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

    /// Opens the store (again).
    pub async fn open(&self) -> SqliteStore {
        SqliteStore::open(&self.path).await.expect("open the store")
    }
}

/// A live event of `alert` (or of no alert) with dedup key `key`.
pub fn event(alert: Option<&str>, key: &str) -> NewInboxEvent {
    NewInboxEvent {
        source: EventSource::Live,
        account: "sekoia-prod".to_owned(),
        playbook_id: None,
        trigger_node: None,
        alert_uuid: alert.map(str::to_owned),
        dedup_key: key.to_owned(),
        payload: json!({"alert_uuid": alert, "key": key}),
        received_at_ms: 1_700_000_000_000,
    }
}

/// A node record at `seq` with `status`.
pub fn node(seq: usize, id: &str, status: NodeStatus) -> NodeRecord {
    let ended = !matches!(status, NodeStatus::Running | NodeStatus::Pending);
    NodeRecord {
        seq,
        id: id.to_owned(),
        name: format!("node {id}"),
        status,
        started_at_ms: 1_700_000_000_000 + seq as u64,
        ended_at_ms: ended.then_some(1_700_000_000_100 + seq as u64),
        duration_ms: ended.then_some(100),
        arguments: json!({"summary": "Alert {{ alert.short_id }}"}),
        results: ended.then(|| json!({"ok": true})),
        error: (status == NodeStatus::Failed).then(|| "HTTP 503 from ilert".to_owned()),
        logs: vec![LogLine {
            at_ms: 1_700_000_000_001,
            level: LogLevel::Info,
            message: format!("running {id}"),
        }],
        outputs: if ended { vec!["ok".to_owned()] } else { vec![] },
        iteration: vec![],
        dry_run_writes: vec![],
    }
}
