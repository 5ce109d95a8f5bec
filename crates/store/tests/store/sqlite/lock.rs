//! One service per store file: a store opened exclusive refuses a second exclusive one,
//! naming the holder, for as long as it lives.

use alertsync_store::sqlite::lock::lock_path;
use alertsync_store::{SqliteOptions, Store, StoreError};

use super::StoreDir;
use crate::event;

fn exclusive() -> SqliteOptions {
    SqliteOptions {
        exclusive: true,
        ..SqliteOptions::default()
    }
}

#[tokio::test]
async fn a_second_exclusive_store_is_refused_and_told_who_holds_the_file() {
    let dir = StoreDir::temporary();
    let first = dir.open_with(exclusive()).await.unwrap();
    first
        .enqueue(event(Some("A"), "A/1", &["pb-1"]))
        .await
        .unwrap();

    let err = dir.open_with(exclusive()).await.unwrap_err();
    let StoreError::InUse { path, holder } = &err else {
        panic!("expected InUse, got {err}");
    };
    assert_eq!(path, dir.path());
    assert!(
        holder.contains(&format!("process {}", std::process::id())),
        "{holder}"
    );
    assert!(
        err.to_string().contains("in use by another alertsync"),
        "{err}"
    );
    let written = std::fs::read_to_string(lock_path(dir.path())).unwrap();
    assert_eq!(&written, holder);

    // A clone is the same store: it keeps the lock when the original goes.
    let clone = first.clone();
    drop(first);
    assert!(matches!(
        dir.open_with(exclusive()).await,
        Err(StoreError::InUse { .. })
    ));
    // A store opened without the lock (a console command) is not refused.
    let reader = dir.open().await;
    assert_eq!(reader.inbox_counts().await.unwrap().open, 1);
    drop(reader);

    drop(clone);
    let second = dir
        .open_with(exclusive())
        .await
        .expect("the lock is free once the first store is gone");
    assert_eq!(second.inbox_counts().await.unwrap().open, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_is_free_as_soon_as_the_store_is_dropped() {
    let dir = StoreDir::temporary();
    for round in 0..30 {
        let store = dir
            .open_with(exclusive())
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        store
            .enqueue(event(None, &format!("cron/{round}"), &["pb-1"]))
            .await
            .unwrap();
        drop(store);
    }
    let store = dir.open().await;
    assert_eq!(store.inbox_counts().await.unwrap().open, 30);
}
