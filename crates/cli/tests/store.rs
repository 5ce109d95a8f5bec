//! The store as an SRE cares for it: `serve` prunes what finished before the retention window
//! while it delivers, and the freed space is reused; `alertsync store backup` copies the
//! store while `serve` runs, into a file `serve` starts on; `store check` tells a sound file
//! from a broken one; `store prune` refuses to run beside `serve`; `store migrate` brings a
//! SQLite or PostgreSQL store up to date; `store copy-to-postgres` moves a SQLite store into
//! PostgreSQL, where every query answers as it did, and never into a store holding data.
//! A PostgreSQL password shows in no output.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use alertsync_engine::{Hold, NodeRecord, NodeStatus, RunRecord, RunStatus};
use alertsync_store::{
    AlertLink, Checkpoint, ClaimedRun, EventSource, InboxCounts, InboxEvent, InboxId,
    NewInboxEvent, PlaybookHealth, PostgresOptions, PostgresStore, QueueHealth, Rerun, RetryState,
    RunCountFilter, RunCounts, RunDetail, RunId, RunPage, RunQuery, RunTarget, SqliteStore, Store,
    StoreResult, WriteBehind,
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

#[tokio::test]
async fn file_commands_refuse_a_postgres_store_and_say_why() {
    // Not reached: the commands refuse before connecting.
    let dir = ConfigDir::new(
        "[store]\npath = \"data/alertsync.db\"\n\
         url = \"postgres://alertsync:s3cret-pw@db.internal:5432/alertsync\"\n",
    );
    for command in [&["check"][..], &["backup", "copy.db"], &["prune"]] {
        let out = store_command(&dir, command).await;
        assert_eq!(exit_code(&out), 2, "{command:?}: {}", stdout(&out));
        let said = stderr(&out);
        assert!(
            said.contains("postgres://alertsync@db.internal:5432/alertsync")
                && said.contains("works on a store file"),
            "{command:?}: {said}"
        );
        assert!(!said.contains("s3cret-pw") && !stdout(&out).contains("s3cret-pw"));
    }
    assert!(!store_path(&dir).exists(), "no store file was made");
}

#[tokio::test]
async fn migrate_creates_or_upgrades_the_sqlite_store() {
    let dir = ConfigDir::new("[store]\npath = \"data/alertsync.db\"\n");
    let version = SqliteStore::schema_version();
    let created = store_command(&dir, &["migrate"]).await;
    assert_eq!(exit_code(&created), 0, "{}", stderr(&created));
    let file = store_path(&dir);
    assert!(file.is_file(), "the store file is created");
    let expected = format!(
        "SQLite store {}: schema version {version}, created",
        file.display()
    );
    assert!(stdout(&created).contains(&expected), "{}", stdout(&created));
    let again = store_command(&dir, &["migrate"]).await;
    assert_eq!(exit_code(&again), 0, "{}", stderr(&again));
    assert!(
        stdout(&again).contains(&format!("schema version {version}, already current")),
        "{}",
        stdout(&again)
    );
}

#[tokio::test]
async fn migrate_brings_the_postgres_store_up_to_date_and_hides_its_password() {
    let Some(schema) = alertsync_testing::postgres_schema().await else {
        return;
    };
    let url = with_password(&schema.url);
    let dir = ConfigDir::new(&format!(
        "[store]\npath = \"data/alertsync.db\"\nurl = \"{url}\"\n"
    ));
    let version = PostgresStore::schema_version();
    let created = store_command(&dir, &["migrate"]).await;
    assert_eq!(exit_code(&created), 0, "{}", stderr(&created));
    assert!(
        stdout(&created).starts_with("PostgreSQL store postgres://")
            && stdout(&created).contains(&format!("schema version {version}, created")),
        "{}",
        stdout(&created)
    );
    let again = store_command(&dir, &["migrate"]).await;
    assert!(
        stdout(&again).contains("already current"),
        "{}",
        stdout(&again)
    );
    assert!(!store_path(&dir).exists(), "no SQLite file is made");
    for out in [&created, &again] {
        assert_no_password(out);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_into_postgres_answers_every_query_as_the_sqlite_store_did() {
    let Some(schema) = alertsync_testing::postgres_schema().await else {
        return;
    };
    let url = with_password(&schema.url);
    let dir = ConfigDir::new("[store]\npath = \"data/alertsync.db\"\n");
    let facts = populate(&store_path(&dir))
        .await
        .expect("the store is filled");
    let sqlite = SqliteStore::open(store_path(&dir))
        .await
        .expect("open SQLite");
    let before = answers(&sqlite, &facts).await;
    drop(sqlite);

    let copied = store_command(&dir, &["copy-to-postgres", &url]).await;
    assert_eq!(exit_code(&copied), 0, "{}", stderr(&copied));
    assert_no_password(&copied);
    let summary = stdout(&copied);
    let events = facts.events.len() + BACKFILLED;
    for (table, rows) in [("inbox", events), ("runs", facts.runs.len())] {
        let line = summary
            .lines()
            .find(|line| line.trim_start().starts_with(table));
        assert!(
            line.is_some_and(|line| line.ends_with(&format!(" {rows} rows"))),
            "{table}: {rows} rows in\n{summary}"
        );
    }
    assert!(
        stderr(&copied).contains(&format!("copying inbox: 1000 of {events} rows")),
        "progress of a table copied in batches: {}",
        stderr(&copied)
    );

    let postgres = PostgresStore::open(&schema.url, PostgresOptions::default())
        .await
        .expect("open the copy");
    assert_eq!(answers(&postgres, &facts).await, before);

    // Open runs resume on PostgreSQL as they would have on SQLite. A run left running by
    // an instance that crashed counts that interruption on SQLite only: the copy leaves
    // claims behind, and with them who was running it.
    let sqlite = SqliteStore::open(store_path(&dir))
        .await
        .expect("open SQLite");
    let resumed = claims(&postgres).await;
    assert!(!resumed.is_empty(), "open runs are handed out");
    assert_eq!(resumed, claims(&sqlite).await);

    let next = postgres
        .enqueue(live_event("Z", 99))
        .await
        .expect("enqueue after the copy");
    let largest_event = facts.events.iter().max().copied().unwrap_or(InboxId(0));
    assert!(next.id() > largest_event, "{next:?} after {largest_event}");
    let next_run = run_ids_of(&postgres, next.id()).await;
    assert!(
        next_run.iter().all(|run| *run > facts.last_run_given),
        "{next_run:?} after {} (the largest run id SQLite gave)",
        facts.last_run_given
    );

    let filled = answers(&postgres, &facts).await;
    let refused = store_command(&dir, &["copy-to-postgres", &url]).await;
    assert_eq!(exit_code(&refused), 2, "{}", stdout(&refused));
    assert!(
        stderr(&refused).contains("is not empty (inbox, runs")
            && stderr(&refused).contains("nothing was changed"),
        "{}",
        stderr(&refused)
    );
    assert_no_password(&refused);
    assert_eq!(
        answers(&postgres, &facts).await,
        filled,
        "the refused copy changed nothing"
    );
}

/// A password the test URLs carry (the test server trusts every local user), which no
/// output may show.
const PASSWORD: &str = "pw-never-shown-7f3a";

/// The store URL `url` with [`PASSWORD`] for its user.
fn with_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (user, host) = rest.split_once('@').unwrap_or(("postgres", rest));
    let user = user.split(':').next().unwrap_or("postgres");
    format!("{scheme}://{user}:{PASSWORD}@{host}")
}

fn assert_no_password(out: &std::process::Output) {
    let all = format!("{}{}", stdout(out), stderr(out));
    assert!(!all.contains(PASSWORD), "the password shows:\n{all}");
}

/// Events of the back-fill page that starts no run: enough for the inbox to be copied in
/// two batches.
const BACKFILLED: usize = 1100;

/// What a filled store holds, for its queries.
struct Facts {
    events: Vec<InboxId>,
    runs: Vec<RunId>,
    /// A run removed after every other was queued: the largest id SQLite gave.
    last_run_given: RunId,
}

/// Fills the store at `path` as a service would have: a back-fill page with its checkpoint,
/// runs succeeded, failed, dead (one replayed with only what failed, one dismissed),
/// waiting for a destination with retry state, left running by a crash, released by a
/// stop, held by a disabled playbook, and one discarded; playbook health, an alert link.
async fn populate(path: &Path) -> StoreResult<Facts> {
    let store = SqliteStore::open(path.to_owned()).await?;
    let mut events = Vec::new();
    for (i, alert) in ["A", "B", "C", "D", "E", "F", "G"].iter().enumerate() {
        events.push(store.enqueue(live_event(alert, i)).await?.id());
    }
    let page: Vec<NewInboxEvent> = (0..BACKFILLED)
        .map(|i| NewInboxEvent {
            source: EventSource::Backfill,
            runs: vec![],
            ..live_event("old", 1_000 + i)
        })
        .collect();
    let position = Checkpoint {
        key: "backfill/sekoia".to_owned(),
        value: "2023-11-14T22:13:20Z".to_owned(),
    };
    store.enqueue_batch(page, Some(position)).await?;
    let claimed: Vec<RunId> = store
        .claim_runs(100)
        .await?
        .iter()
        .map(|c| c.run.id)
        .collect();
    let [a, b, c, d, e, f, g] = claimed[..] else {
        panic!("seven runs are claimed: {claimed:?}");
    };
    store
        .finish_run(a, run_record(RunStatus::Succeeded))
        .await?;
    store.finish_run(b, run_record(RunStatus::Failed)).await?;
    store.finish_run(c, run_record(RunStatus::Dead)).await?;
    store.finish_run(d, run_record(RunStatus::Dead)).await?;
    let replay = store
        .rerun(Rerun {
            of: c,
            only_failed: true,
        })
        .await?;
    store.dismiss_dead_letter(d).await?;
    let until = Hold {
        until_ms: alertsync_engine::now_ms() + 86_400_000,
        destination: "ilert".to_owned(),
    };
    store
        .park_run(e, run_record(RunStatus::Waiting), until)
        .await?;
    store.save_retry_state(retry_state(e)).await?;
    store.write_behind(WriteBehind::RunStarted {
        run: f,
        at_ms: T0 + 3_000,
    });
    store.write_behind(WriteBehind::NodeRecorded {
        run: f,
        node: Box::new(node_record(0, NodeStatus::Succeeded)),
    });
    store.release_run(g).await?;
    let discarded = store.enqueue(live_event("H", 50)).await?.id();
    events.push(discarded);
    let last_run_given = run_ids_of(&store, discarded).await[0];
    store.claim_runs(100).await?;
    store.discard_run(last_run_given).await?;
    let hook = NewInboxEvent {
        source: EventSource::Webhook,
        alert_uuid: None,
        runs: vec![target("pb-hook")],
        ..live_event("hook", 60)
    };
    let hook = store.enqueue(hook).await?.id();
    events.push(hook);
    store
        .disable_playbook("pb-hook", "turned off by an operator")
        .await?;
    store
        .record_playbook_failure("pb-forward", "ilert answered 400")
        .await?;
    store.write_behind(WriteBehind::AlertLinked(AlertLink {
        system: "ilert".to_owned(),
        remote_id: "IL-42".to_owned(),
        alert_uuid: "A".to_owned(),
    }));
    store
        .set_checkpoint(Checkpoint {
            key: "live/sekoia".to_owned(),
            value: "{\"offset\":42}".to_owned(),
        })
        .await?;
    store.sync_writes().await?;
    let mut runs = vec![a, b, c, d, e, f, g, replay];
    runs.extend(run_ids_of(&store, hook).await);
    Ok(Facts {
        events,
        runs,
        last_run_given,
    })
}

/// A fixed point in time events arrive at (November 2023).
const T0: u64 = 1_700_000_000_000;

fn target(playbook: &str) -> RunTarget {
    RunTarget {
        playbook_id: playbook.to_owned(),
        trigger_node: "0".to_owned(),
    }
}

/// A live event of `alert` that starts a run of pb-forward.
fn live_event(alert: &str, n: usize) -> NewInboxEvent {
    NewInboxEvent {
        source: EventSource::Live,
        account: "sekoia".to_owned(),
        alert_uuid: Some(alert.to_owned()),
        dedup_key: format!("{alert}/{n}"),
        payload: json!({"alert_uuid": alert, "n": n}),
        received_at_ms: T0 + n as u64,
        runs: vec![target("pb-forward")],
    }
}

fn node_record(seq: usize, status: NodeStatus) -> NodeRecord {
    NodeRecord {
        seq,
        id: format!("node-{seq}"),
        name: "Send to ilert".to_owned(),
        status,
        started_at_ms: T0 + 1_000,
        ended_at_ms: status.is_completed().then_some(T0 + 1_500),
        duration_ms: status.is_completed().then_some(500),
        arguments: json!({"summary": "Alert A"}),
        results: Some(json!({"status": 202})),
        attempts: 1,
        exchanges: vec![],
        error: (status == NodeStatus::Failed).then(|| "ilert answered 400".to_owned()),
        logs: vec![],
        outputs: vec![],
        iteration: vec![],
        dry_run_writes: vec![],
    }
}

/// What an executor hands over for a run that ended, or stopped, in `status`.
fn run_record(status: RunStatus) -> RunRecord {
    let ended = !status.is_open();
    let last = if status == RunStatus::Succeeded {
        NodeStatus::Succeeded
    } else if ended {
        NodeStatus::Failed
    } else {
        NodeStatus::Waiting
    };
    RunRecord {
        status,
        trigger_node: "0".to_owned(),
        started_at_ms: T0 + 1_000,
        ended_at_ms: ended.then_some(T0 + 2_000),
        error: (status != RunStatus::Succeeded).then(|| format!("the run is {status}")),
        nodes: vec![node_record(0, NodeStatus::Succeeded), node_record(1, last)],
        hold: None,
        failure: None,
    }
}

fn retry_state(run: RunId) -> RetryState {
    RetryState {
        run_id: run,
        seq: 1,
        node_id: "node-1".to_owned(),
        attempts: 3,
        next_attempt_at_ms: Some(T0 + 60_000),
        last_error: Some("ilert answered 503".to_owned()),
        updated_at_ms: T0 + 30_000,
        operation: "POST https://api.ilert.com/api/events".to_owned(),
        first_failed_at_ms: Some(T0 + 10_000),
    }
}

/// What a store answers to every query the API, the console and the service ask.
#[derive(Debug, PartialEq)]
struct Answers {
    page: RunPage,
    runs: Vec<Option<RunDetail>>,
    events: Vec<Option<InboxEvent>>,
    inbox: InboxCounts,
    counts: RunCounts,
    queue: QueueHealth,
    checkpoints: Vec<Checkpoint>,
    backfill_position: Option<String>,
    link: Option<String>,
    health: Vec<PlaybookHealth>,
    forward_health: PlaybookHealth,
    unrouted: Vec<InboxEvent>,
}

async fn answers(store: &dyn Store, facts: &Facts) -> Answers {
    let everything = RunQuery {
        limit: 1000,
        ..RunQuery::default()
    };
    let mut runs = Vec::new();
    for run in &facts.runs {
        runs.push(store.run(*run).await.expect("read a run"));
    }
    let mut events = Vec::new();
    for event in &facts.events {
        events.push(store.event(*event).await.expect("read an event"));
    }
    Answers {
        page: store.list_runs(everything).await.expect("list runs"),
        runs,
        events,
        inbox: store.inbox_counts().await.expect("inbox counts"),
        counts: store
            .run_counts(RunCountFilter::default())
            .await
            .expect("run counts"),
        queue: store.queue_health().await.expect("queue health"),
        checkpoints: store.checkpoints_under("").await.expect("checkpoints"),
        backfill_position: store
            .checkpoint("backfill/sekoia")
            .await
            .expect("checkpoint"),
        link: store
            .linked_alert("ilert", "IL-42")
            .await
            .expect("alert link"),
        health: store.all_playbook_health().await.expect("playbook health"),
        forward_health: store
            .playbook_health("pb-forward")
            .await
            .expect("playbook health"),
        unrouted: store.unrouted_events().await.expect("unrouted events"),
    }
}

/// The runs a claim hands out, without the interruptions they count.
async fn claims(store: &dyn Store) -> Vec<ClaimedRun> {
    let mut claimed = store.claim_runs(100).await.expect("claim runs");
    for run in &mut claimed {
        run.run.interruptions = 0;
    }
    claimed
}

async fn run_ids_of(store: &dyn Store, event: InboxId) -> Vec<RunId> {
    let page = store
        .list_runs(RunQuery {
            inbox_id: Some(event),
            limit: 100,
            ..RunQuery::default()
        })
        .await
        .expect("list the runs of an event");
    page.runs.iter().map(|run| run.id).collect()
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
