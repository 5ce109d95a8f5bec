//! What reaches the file, read back from it with SQLite, and the write health while
//! another process holds the file's write lock past the busy timeout.

use std::time::Duration;

use alertsync_engine::now_ms;
use alertsync_store::{Checkpoint, RunId, SqliteOptions, Store, StoreError, WriteBehind};

use super::StoreDir;
use crate::event;

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
