//! What reaches the disk: writes queued without waiting are committed before the writes
//! after them, the write health tells whether writes fail, and closing and reopening the
//! file keeps everything that was stored.

use std::time::Duration;

use alertsync_engine::{NodeStatus, RunStatus, now_ms};
use alertsync_store::{
    Checkpoint, RunCountFilter, RunId, RunQuery, SqliteOptions, SqliteStore, Store, StoreError,
    WriteBehind,
};

use crate::{StoreDir, T0, claim_ids, event, hold, node, record, record_node, retry, summary};

#[tokio::test]
async fn writes_queued_without_waiting_are_committed_before_later_writes() {
    let dir = StoreDir::temporary();
    let run = {
        let store = dir.open().await;
        store
            .enqueue(event(Some("A"), "A/1", &["pb-1"]))
            .await
            .unwrap();
        let run = claim_ids(&store, 1).await[0];
        store
            .record_playbook_failure("pb-1", "HTTP 400")
            .await
            .unwrap();

        store.write_behind(WriteBehind::RunStarted { run, at_ms: T0 + 7 });
        store.write_behind(WriteBehind::NodeRecorded {
            run,
            node: Box::new(node(0, "trigger", NodeStatus::Running)),
        });
        // A queued write that fails (no such run) is logged and fails alone.
        store.write_behind(WriteBehind::NodeRecorded {
            run: RunId(run.0 + 100),
            node: Box::new(node(0, "trigger", NodeStatus::Running)),
        });
        store.write_behind(WriteBehind::PlaybookSucceeded {
            playbook_id: "pb-1".to_owned(),
        });
        // The next awaited write brings them all to disk.
        record_node(&store, run, node(1, "ilert", NodeStatus::Running)).await;
        let health = store.write_health();
        assert_eq!((health.failing_since_ms, health.last_error), (None, None));
        run
    };

    let store = dir.open().await;
    let detail = store.run(run).await.unwrap().unwrap();
    assert_eq!(detail.run.status, RunStatus::Running);
    assert_eq!(detail.run.started_at_ms, Some(T0 + 7));
    assert_eq!(
        detail.nodes,
        [
            node(0, "trigger", NodeStatus::Running),
            node(1, "ilert", NodeStatus::Running)
        ]
    );
    assert_eq!(
        store
            .playbook_health("pb-1")
            .await
            .unwrap()
            .consecutive_failures,
        0
    );
    assert!(store.run(RunId(run.0 + 100)).await.unwrap().is_none());
}

#[tokio::test]
async fn a_write_queued_without_waiting_reaches_the_disk_without_a_later_write() {
    let dir = StoreDir::temporary();
    let store = dir.open().await;
    store
        .record_playbook_failure("pb-1", "HTTP 400")
        .await
        .unwrap();
    store.write_behind(WriteBehind::PlaybookSucceeded {
        playbook_id: "pb-1".to_owned(),
    });
    // Nothing else is written: the write waits a little for company, then commits alone.
    let started = std::time::Instant::now();
    let failures = || {
        dir.raw()
            .query_row(
                "SELECT consecutive_failures FROM playbook_health WHERE playbook_id = 'pb-1'",
                [],
                |row| row.get::<_, i64>(0),
            )
            .unwrap()
    };
    while failures() != 0 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a write queued without waiting is still not committed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn write_health_tells_when_writes_stop_reaching_the_disk() {
    let dir = StoreDir::temporary();
    let options = SqliteOptions {
        busy_timeout: Duration::from_millis(50),
        ..SqliteOptions::default()
    };
    let store = dir.open_with(options).await.unwrap();
    let fresh = store.write_health();
    assert_eq!((fresh.failing_since_ms, fresh.last_error), (None, None));

    let before = now_ms();
    store
        .enqueue(event(Some("A"), "A/1", &["pb-1"]))
        .await
        .unwrap();
    let healthy = store.write_health();
    let success = healthy.last_success_ms.expect("a write succeeded");
    assert!(success >= before && success <= now_ms());
    assert_eq!((healthy.failing_since_ms, healthy.last_error), (None, None));

    // An operation refused for its own reason is not a failing disk.
    let err = store.release_run(RunId(999)).await.unwrap_err();
    assert!(matches!(err, StoreError::UnknownRun { .. }), "{err}");
    let still = store.write_health();
    assert_eq!((still.failing_since_ms, still.last_error), (None, None));
    let success = still.last_success_ms.expect("its batch was committed");

    // Another process holds the write lock past the busy timeout.
    let other = dir.raw();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = store
        .enqueue(event(Some("B"), "B/1", &["pb-1"]))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err}");
    let failing = store.write_health();
    let since = failing.failing_since_ms.expect("failing");
    assert!(since >= success);
    assert!(failing.last_error.is_some());
    assert_eq!(failing.last_success_ms, Some(success));
    // Reads still work; a second failure keeps the time of the first.
    assert_eq!(store.inbox_counts().await.unwrap().open, 1);
    store
        .set_checkpoint(Checkpoint::new("k", "v"))
        .await
        .unwrap_err();
    assert_eq!(store.write_health().failing_since_ms, Some(since));

    other.execute_batch("ROLLBACK").unwrap();
    let retried = store
        .enqueue(event(Some("B"), "B/1", &["pb-1"]))
        .await
        .unwrap();
    assert!(retried.is_new(), "the failed write stored nothing");
    let recovered = store.write_health();
    assert_eq!(
        (recovered.failing_since_ms, recovered.last_error),
        (None, None)
    );
    assert!(recovered.last_success_ms.unwrap() >= since);
    assert_eq!(store.checkpoint("k").await.unwrap(), None);
}

/// Everything a store answers about its content.
async fn everything(store: &SqliteStore) -> String {
    let runs = store
        .list_runs(RunQuery {
            limit: 1000,
            ..RunQuery::default()
        })
        .await
        .unwrap();
    let mut details = Vec::new();
    let mut events = Vec::new();
    for run in &runs.runs {
        details.push(store.run(run.id).await.unwrap());
        events.push(store.event(run.inbox_id).await.unwrap());
    }
    format!(
        "{:?}\n{details:?}\n{events:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        store.inbox_counts().await.unwrap(),
        store.queue_health().await.unwrap(),
        store.run_counts(RunCountFilter::default()).await.unwrap(),
        store.all_playbook_health().await.unwrap(),
        store.checkpoint("backfill/sekoia-prod").await.unwrap(),
        store.unrouted_events().await.unwrap(),
    )
}

#[tokio::test]
async fn closing_and_reopening_the_file_keeps_everything() {
    let dir = StoreDir::temporary();
    let (before, waiting) = {
        let store = dir.open().await;
        store
            .enqueue_batch(
                vec![
                    event(Some("A"), "A/1", &["pb-1", "pb-2"]),
                    event(Some("B"), "B/1", &["pb-1"]),
                    event(Some("C"), "C/1", &["pb-1"]),
                    event(None, "cron/1", &[]),
                ],
                Some(Checkpoint::new(
                    "backfill/sekoia-prod",
                    "2024-05-01T10:00:00Z",
                )),
            )
            .await
            .unwrap();
        let runs = claim_ids(&store, 3).await;
        store
            .finish_run(
                runs[0],
                record(
                    RunStatus::Succeeded,
                    vec![node(0, "trigger", NodeStatus::Succeeded)],
                ),
            )
            .await
            .unwrap();
        store.save_retry_state(retry(runs[1], 1, 2)).await.unwrap();
        store
            .park_run(
                runs[1],
                record(
                    RunStatus::Waiting,
                    vec![
                        node(0, "trigger", NodeStatus::Succeeded),
                        node(1, "ilert", NodeStatus::Waiting),
                    ],
                ),
                hold(now_ms() + 3_600_000, "ilert"),
            )
            .await
            .unwrap();
        store
            .finish_run(runs[2], record(RunStatus::Dead, vec![]))
            .await
            .unwrap();
        store
            .record_playbook_failure("pb-1", "HTTP 400")
            .await
            .unwrap();
        store.disable_playbook("pb-2", "paused").await.unwrap();
        (everything(&store).await, runs[1])
    };

    let store = dir.open().await;
    assert_eq!(everything(&store).await, before);
    let parked = summary(&store, waiting).await;
    assert_eq!(parked.status, RunStatus::Waiting);
    assert_eq!(parked.waiting_on.as_deref(), Some("ilert"));
    // And once more.
    drop(store);
    let store = dir.open().await;
    assert_eq!(everything(&store).await, before);
}
