//! Many writers at once: no event lost, none stored twice, no "database is locked".

use std::collections::HashSet;

use alertsync_store::{InboxCounts, RunCountFilter, Store, StoreError};

use crate::{StoreDir, event};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_enqueues_lose_nothing() {
    let dir = StoreDir::temporary();
    let store = dir.open().await;
    // A second instance on the same file, as a console command running beside the
    // service would be: its writes contend for the file lock with the first.
    let other = dir.open().await;
    const TASKS: usize = 8;
    const EVENTS: usize = 60;

    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let store = if task % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(async move {
            let mut new = Vec::new();
            for i in 0..EVENTS {
                // Every event is sent by two tasks (as live and back-fill would).
                let key = format!("alert-{}/{i}", task / 2);
                let outcome = store
                    .enqueue(event(Some(&format!("alert-{}", task / 2)), &key))
                    .await
                    .unwrap_or_else(|e| panic!("enqueue {key}: {e}"));
                if outcome.is_new() {
                    new.push(outcome.id());
                }
            }
            new
        }));
    }
    // Readers at the same time.
    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            for _ in 0..50 {
                store.inbox_counts().await.unwrap();
                store.next_ready_events(10).await.unwrap();
                store.run_counts(RunCountFilter::default()).await.unwrap();
            }
        })
    };

    let mut new_ids = Vec::new();
    for task in tasks {
        new_ids.extend(task.await.unwrap());
    }
    reader.await.unwrap();

    let distinct = TASKS / 2 * EVENTS;
    assert_eq!(new_ids.len(), distinct, "each key stored exactly once");
    assert_eq!(new_ids.iter().collect::<HashSet<_>>().len(), distinct);
    drop((store, other));

    let store = dir.open().await;
    assert_eq!(
        store.inbox_counts().await.unwrap(),
        InboxCounts {
            pending: distinct as u64,
            claimed: 0,
            done: 0
        }
    );
    // Per alert, stored in the order its (first) sender sent them.
    let mut seen = HashSet::new();
    loop {
        let batch = store.claim_ready_events(100).await.unwrap();
        if batch.is_empty() {
            break;
        }
        for e in batch {
            let (alert, i) = e.dedup_key.split_once('/').unwrap();
            let i: usize = i.parse().unwrap();
            assert!(
                i == 0 || seen.contains(&format!("{alert}/{}", i - 1)),
                "{alert}/{i}"
            );
            seen.insert(e.dedup_key.clone());
            store.complete_event(e.id).await.unwrap();
        }
    }
    assert_eq!(seen.len(), distinct);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_write_among_concurrent_ones_fails_alone() {
    let dir = StoreDir::temporary();
    let store = dir.open().await;
    const WRITES: usize = 200;

    // Writes queued together share a transaction: completing an unknown event fails, and
    // must roll back only itself.
    let tasks: Vec<_> = (0..WRITES)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                if i % 3 == 0 {
                    let unknown = alertsync_store::InboxId(1_000_000 + i as i64);
                    store.complete_event(unknown).await.err()
                } else {
                    store
                        .enqueue(event(Some(&format!("A{i}")), &format!("key/{i}")))
                        .await
                        .err()
                }
            })
        })
        .collect();
    let mut failures = 0;
    for (i, task) in tasks.into_iter().enumerate() {
        let failure = task.await.expect("the task ends");
        match failure {
            Some(err) if i % 3 == 0 => {
                assert!(matches!(err, StoreError::UnknownEvent { .. }), "{err}");
                failures += 1;
            }
            None if i % 3 != 0 => {}
            other => panic!("write {i}: unexpected outcome {other:?}"),
        }
    }
    assert_eq!(failures, WRITES.div_ceil(3));
    let reopened = dir.open().await;
    let counts = reopened.inbox_counts().await.unwrap();
    assert_eq!(counts.pending as usize, WRITES - failures);
}
