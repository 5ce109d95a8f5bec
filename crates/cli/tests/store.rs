//! The store as an SRE cares for it: `serve` prunes what finished before the retention window
//! while it delivers, and the freed space is reused; `alertsync store backup` copies the
//! store while `serve` runs, into a file `serve` starts on; `store check` tells a sound file
//! from a broken one; `store prune` refuses to run beside `serve`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use alertsync_engine::{NodeRecord, NodeStatus, RunRecord, RunStatus};
use alertsync_store::{
    EventSource, NewInboxEvent, RunId, RunTarget, SqliteStore, Store, StoreResult,
};
use common::delivery::{
    PATIENCE, POLL, UNLIMITED, all_posted, delivery, forward_to_ilert, service_dir, uuid_of,
    wait_for,
};
use common::service::{ServeProcess, http};
use common::{ConfigDir, alertsync, exit_code, simulator, stderr, stdout};
use serde_json::{Value, json};

const DAY_MS: u64 = 86_400_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_prunes_what_finished_before_the_window_while_it_delivers() {
    const OLD: usize = 300;
    const RECENT: usize = 5;
    const ALERTS: usize = 100;
    let sim = simulator().await;
    let dir = service_dir(&sim, &forward_to_ilert(), &delivery(4, UNLIMITED));
    let store_file = store_path(&dir);
    let now = alertsync_engine::now_ms();
    let seeded = seed(&store_file, now, OLD, RECENT)
        .await
        .expect("the store is seeded");
    let size_before = file_size(&store_file);

    let mut service = ServeProcess::start(&dir, &[]).await;
    let uuids: Vec<String> = sim.create_alerts(ALERTS).iter().map(uuid_of).collect();
    wait_for("every alert in ilert", PATIENCE, POLL, || {
        all_posted(&sim, &uuids, 1)
    })
    .await;
    let deadline = Instant::now() + PATIENCE;
    while run_exists(&service, seeded.old[OLD - 1]).await {
        assert!(Instant::now() < deadline, "the old runs were never pruned");
        tokio::time::sleep(POLL).await;
    }
    for run in &seeded.old {
        assert!(!run_exists(&service, *run).await, "old run {run} is pruned");
    }
    for run in seeded.recent.iter().chain([&seeded.dead_letter]) {
        assert!(run_exists(&service, *run).await, "run {run} is kept");
    }
    let (_, listed) = http(&service.address, "GET", "/api/v1/runs?limit=1000", None, "").await;
    let kept = listed["runs"].as_array().map_or(0, Vec::len);
    assert_eq!(
        kept,
        ALERTS + RECENT + 1,
        "the new runs, the recent ones, the dead letter"
    );
    assert!(
        service.log().contains(&format!("{OLD} run(s)")),
        "the pass is logged:\n{}",
        service.log()
    );

    service.terminate().await;
    let pruned_size = file_size(&store_file);

    // As many alerts again: they take the pages the old runs left.
    service.restart().await;
    let more: Vec<String> = sim.create_alerts(ALERTS).iter().map(uuid_of).collect();
    wait_for("the next alerts in ilert", PATIENCE, POLL, || {
        all_posted(&sim, &more, 1)
    })
    .await;
    service.terminate().await;
    let size_after = file_size(&store_file);
    eprintln!(
        "store file: {size_before} bytes seeded with {OLD} old runs, {pruned_size} bytes after \
         pruning them and delivering {ALERTS} alerts, {size_after} bytes after {ALERTS} more"
    );
    assert!(
        size_after <= pruned_size,
        "the freed pages are reused: {pruned_size} → {size_after} bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serve_runs_restores_to_a_store_serve_starts_on() {
    const ALERTS: usize = 20;
    let sim = simulator().await;
    let dir = service_dir(&sim, &forward_to_ilert(), &delivery(2, UNLIMITED));
    let service = ServeProcess::start(&dir, &[]).await;
    let uuids: Vec<String> = sim.create_alerts(ALERTS).iter().map(uuid_of).collect();
    wait_for("every alert in ilert", PATIENCE, POLL, || {
        all_posted(&sim, &uuids, 1)
    })
    .await;
    let store_file = store_path(&dir);
    assert_eq!(mode(&store_file), 0o600, "the store is its owner's only");

    let backup = dir.dir.path().join("backup.db");
    let taken = store_command(&dir, &["backup", backup.to_str().expect("UTF-8")]).await;
    assert_eq!(exit_code(&taken), 0, "{}", stderr(&taken));
    assert!(stdout(&taken).contains("backed up"), "{}", stdout(&taken));
    assert_eq!(mode(&backup), 0o600, "the backup is its owner's only");
    let again = store_command(&dir, &["backup", backup.to_str().expect("UTF-8")]).await;
    assert_eq!(
        exit_code(&again),
        2,
        "an existing backup is not overwritten"
    );
    let checked = store_command(&dir, &["check"]).await;
    assert_eq!(exit_code(&checked), 0, "{}", stderr(&checked));
    assert!(stdout(&checked).starts_with("ok: "), "{}", stdout(&checked));
    let beside = store_command(&dir, &["prune"]).await;
    assert_eq!(exit_code(&beside), 2);
    assert!(
        stderr(&beside).contains("in use") && stderr(&beside).contains("serve prunes by itself"),
        "{}",
        stderr(&beside)
    );
    let (_, original) = http(&service.address, "GET", "/api/v1/runs?limit=1000", None, "").await;
    drop(service);

    let restored = service_dir(&sim, &forward_to_ilert(), &delivery(2, UNLIMITED));
    let target = store_path(&restored);
    std::fs::create_dir_all(target.parent().expect("a data folder")).expect("created");
    std::fs::copy(&backup, &target).expect("the backup is restored");
    let service = ServeProcess::start(&restored, &[]).await;
    let (status, runs) = http(&service.address, "GET", "/api/v1/runs?limit=1000", None, "").await;
    assert_eq!(status, 200, "{runs}");
    assert_eq!(ids(&runs), ids(&original), "every run is in the backup");
    assert_eq!(ids(&runs).len(), ALERTS);
}

#[tokio::test]
async fn check_tells_a_file_that_is_not_a_store() {
    let dir = ConfigDir::new("[store]\npath = \"data/alertsync.db\"\n");
    let file = store_path(&dir);
    std::fs::create_dir_all(file.parent().expect("a data folder")).expect("created");
    std::fs::write(&file, vec![0x5a; 8192]).expect("written");
    let checked = store_command(&dir, &["check"]).await;
    assert_eq!(exit_code(&checked), 2, "{}", stdout(&checked));
    assert!(
        stderr(&checked).contains(file.to_str().expect("UTF-8")),
        "names the file: {}",
        stderr(&checked)
    );
    let missing = ConfigDir::new("[store]\npath = \"nowhere/alertsync.db\"\n");
    let checked = store_command(&missing, &["check"]).await;
    assert_eq!(exit_code(&checked), 2);
    assert!(
        stderr(&checked).contains("no store file there"),
        "{}",
        stderr(&checked)
    );
}

/// Runs `alertsync store ARGS` with `dir`'s configuration.
async fn store_command(dir: &ConfigDir, args: &[&str]) -> std::process::Output {
    let config = dir.path();
    let mut full = vec!["store", "--config", config.to_str().expect("UTF-8")];
    full.extend_from_slice(args);
    alertsync(dir.dir.path(), &full).await
}

/// The store file of a [`service_dir`] configuration.
fn store_path(dir: &ConfigDir) -> PathBuf {
    dir.dir.path().join("data/alertsync.db")
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or_default()
}

fn ids(runs: &Value) -> Vec<i64> {
    let mut ids: Vec<i64> = runs["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|run| run["id"].as_i64())
        .collect();
    ids.sort_unstable();
    ids
}

async fn run_exists(service: &ServeProcess, run: RunId) -> bool {
    let path = format!("/api/v1/runs/{run}");
    let (status, body) = http(&service.address, "GET", &path, None, "").await;
    assert!(status == 200 || status == 404, "{status} {body}");
    status == 200
}

/// Runs a store already holds when `serve` starts.
struct Seeded {
    /// Ended 40 days ago.
    old: Vec<RunId>,
    /// Ended 2 days ago.
    recent: Vec<RunId>,
    /// Ended 40 days ago, and nobody handled it.
    dead_letter: RunId,
}

/// Fills the store at `path` with finished webhook runs, each with a node run holding 8 KiB
/// of results, so that pruning frees pages.
async fn seed(path: &Path, now: u64, old: usize, recent: usize) -> StoreResult<Seeded> {
    let store = SqliteStore::open(path.to_owned()).await?;
    let long_ago = now - 40 * DAY_MS;
    let mut seeded = Seeded {
        old: Vec::new(),
        recent: Vec::new(),
        dead_letter: RunId(0),
    };
    for i in 0..old {
        let run = finished(&store, &format!("old-{i}"), RunStatus::Succeeded, long_ago).await?;
        seeded.old.push(run);
    }
    for i in 0..recent {
        let ended = now - 2 * DAY_MS;
        seeded
            .recent
            .push(finished(&store, &format!("recent-{i}"), RunStatus::Succeeded, ended).await?);
    }
    seeded.dead_letter = finished(&store, "dead", RunStatus::Dead, long_ago).await?;
    Ok(seeded)
}

async fn finished(
    store: &SqliteStore,
    key: &str,
    status: RunStatus,
    ended_at_ms: u64,
) -> StoreResult<RunId> {
    store
        .enqueue(NewInboxEvent {
            source: EventSource::Webhook,
            account: "sekoia".to_owned(),
            alert_uuid: None,
            dedup_key: format!("webhook:{key}"),
            payload: json!({"playbook_id": "seeded", "trigger_node": "1"}),
            received_at_ms: ended_at_ms - 1_000,
            runs: vec![RunTarget {
                playbook_id: "seeded".to_owned(),
                trigger_node: "1".to_owned(),
            }],
        })
        .await?;
    let claimed = store.claim_runs(1).await?;
    let run = claimed.first().map(|c| c.run.id).unwrap_or(RunId(0));
    let node = NodeRecord {
        seq: 0,
        id: "2".to_owned(),
        name: "Request URL".to_owned(),
        status: NodeStatus::Succeeded,
        started_at_ms: ended_at_ms - 500,
        ended_at_ms: Some(ended_at_ms),
        duration_ms: Some(500),
        arguments: json!({}),
        results: Some(json!({"text": "x".repeat(8192)})),
        attempts: 1,
        exchanges: vec![],
        error: None,
        logs: vec![],
        outputs: vec![],
        iteration: vec![],
        dry_run_writes: vec![],
    };
    let record = RunRecord {
        status,
        trigger_node: "1".to_owned(),
        started_at_ms: ended_at_ms - 1_000,
        ended_at_ms: Some(ended_at_ms),
        error: (status == RunStatus::Dead).then(|| "the playbook was removed".to_owned()),
        nodes: vec![node],
        hold: None,
        failure: None,
    };
    store.finish_run(run, record).await?;
    Ok(run)
}
