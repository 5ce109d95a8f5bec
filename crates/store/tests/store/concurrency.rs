//! Many writers and claimers at once, from tokio tasks: no run handed out twice, each
//! alert's runs of a playbook one at a time and in order, no event lost or stored twice,
//! and a failing write among concurrent ones fails alone.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alertsync_engine::{RunStatus, now_ms};
use alertsync_store::{InboxCounts, RunCountFilter, RunId, StoreError, WriteBehind};

use crate::{Place, event, record};

conformance! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    concurrent_claimers_never_claim_a_run_twice_and_keep_each_alert_in_order,
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    two_instances_of_one_store_lose_no_event,
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    a_failing_write_among_concurrent_ones_fails_alone,
}

const ALERTS: usize = 6;
const CHANGES: usize = 12;
const PLAYBOOKS: [&str; 2] = ["pb-1", "pb-2"];

/// What the claimers saw: every claimed run, the (alert, playbook) pairs being worked on,
/// and for each pair the changes in the order they were worked on.
#[derive(Default)]
struct Seen {
    claimed: HashSet<RunId>,
    in_flight: HashSet<(String, String)>,
    order: HashMap<(String, String), Vec<usize>>,
    largest_batch: usize,
}

async fn concurrent_claimers_never_claim_a_run_twice_and_keep_each_alert_in_order(place: &Place) {
    let store = place.open().await;
    let total_runs = (ALERTS * CHANGES * PLAYBOOKS.len()) as u64;
    let enqueued_all = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));

    // Every change of an alert is sent by two tasks (as live and back-fill would), in order.
    let enqueuers: Vec<_> = (0..ALERTS * 2)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                let alert = format!("alert-{}", task / 2);
                let mut new = 0;
                for change in 0..CHANGES {
                    let key = format!("{alert}/{change}");
                    let outcome = store
                        .enqueue(event(Some(&alert), &key, &PLAYBOOKS))
                        .await
                        .unwrap_or_else(|e| panic!("enqueue {key}: {e}"));
                    new += usize::from(outcome.is_new());
                }
                new
            })
        })
        .collect();

    let claimers: Vec<_> = (0..6)
        .map(|_| {
            let store = store.clone();
            let seen = seen.clone();
            let enqueued_all = enqueued_all.clone();
            tokio::spawn(async move {
                loop {
                    let batch = store.claim_runs(4).await.expect("claim runs");
                    if batch.is_empty() {
                        let done = store.run_counts(RunCountFilter::default()).await.unwrap();
                        if enqueued_all.load(Ordering::SeqCst) && done.succeeded == total_runs {
                            return;
                        }
                        tokio::task::yield_now().await;
                        continue;
                    }
                    let mut work = Vec::new();
                    {
                        let mut seen = seen.lock().unwrap();
                        seen.largest_batch = seen.largest_batch.max(batch.len());
                        for claimed in &batch {
                            let run = claimed.run.id;
                            assert!(seen.claimed.insert(run), "run {run} claimed twice");
                            let pair = (
                                claimed.run.alert_uuid.clone().expect("an alert"),
                                claimed.run.playbook_id.clone(),
                            );
                            assert!(
                                seen.in_flight.insert(pair.clone()),
                                "two runs of {pair:?} at once"
                            );
                            let (_, change) = claimed.event.dedup_key.split_once('/').unwrap();
                            let change: usize = change.parse().unwrap();
                            seen.order.entry(pair.clone()).or_default().push(change);
                            work.push((run, pair));
                        }
                    }
                    for (run, pair) in work {
                        store.write_behind(WriteBehind::RunStarted {
                            run,
                            at_ms: now_ms(),
                        });
                        tokio::task::yield_now().await;
                        seen.lock().unwrap().in_flight.remove(&pair);
                        store
                            .finish_run(run, record(RunStatus::Succeeded, vec![]))
                            .await
                            .expect("finish run");
                    }
                }
            })
        })
        .collect();

    let drained = tokio::time::timeout(Duration::from_secs(120), async {
        let mut new = 0;
        for task in enqueuers {
            new += task.await.expect("the enqueuer ends");
        }
        assert_eq!(new, ALERTS * CHANGES, "each key stored exactly once");
        enqueued_all.store(true, Ordering::SeqCst);
        for task in claimers {
            task.await.expect("the claimer ends");
        }
    })
    .await;
    assert!(drained.is_ok(), "the queue was not drained in time");

    {
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen.claimed.len() as u64,
            total_runs,
            "every run claimed once"
        );
        assert_eq!(seen.order.len(), ALERTS * PLAYBOOKS.len());
        for (pair, changes) in &seen.order {
            assert_eq!(
                *changes,
                (0..CHANGES).collect::<Vec<_>>(),
                "order of {pair:?}"
            );
        }
        assert!(
            seen.largest_batch > 1,
            "different alerts are handed out together"
        );
    }
    assert_eq!(
        store.inbox_counts().await.unwrap(),
        InboxCounts {
            open: 0,
            done: (ALERTS * CHANGES) as u64
        }
    );
    assert!(store.claim_runs(100).await.unwrap().is_empty());
}

async fn two_instances_of_one_store_lose_no_event(place: &Place) {
    let store = place.open().await;
    // A second instance of the same store, as a console command beside the service: its
    // writes contend with the first one's.
    let other = place.open().await;
    const TASKS: usize = 8;
    const EVENTS: usize = 40;
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let store = if task % 2 == 0 {
                store.clone()
            } else {
                other.clone()
            };
            tokio::spawn(async move {
                let mut new = Vec::new();
                for i in 0..EVENTS {
                    let alert = format!("alert-{}", task / 2);
                    let key = format!("{alert}/{i}");
                    let outcome = store
                        .enqueue(event(Some(&alert), &key, &["pb-1"]))
                        .await
                        .unwrap_or_else(|e| panic!("enqueue {key}: {e}"));
                    if outcome.is_new() {
                        new.push(outcome.id());
                    }
                }
                new
            })
        })
        .collect();
    let mut new_ids = Vec::new();
    for task in tasks {
        new_ids.extend(task.await.unwrap());
    }
    let distinct = TASKS / 2 * EVENTS;
    assert_eq!(new_ids.len(), distinct);
    assert_eq!(new_ids.iter().collect::<HashSet<_>>().len(), distinct);
    drop((store, other));

    let store = place.open().await;
    assert_eq!(
        store.inbox_counts().await.unwrap(),
        InboxCounts {
            open: distinct as u64,
            done: 0
        }
    );
    assert_eq!(
        store
            .run_counts(RunCountFilter::default())
            .await
            .unwrap()
            .queued,
        distinct as u64
    );
}

async fn a_failing_write_among_concurrent_ones_fails_alone(place: &Place) {
    let store = place.open().await;
    const WRITES: usize = 200;
    // Writes queued together share a transaction: discarding an unknown run fails, and
    // must roll back only itself.
    let tasks: Vec<_> = (0..WRITES)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                if i % 3 == 0 {
                    store.discard_run(RunId(1_000_000 + i as i64)).await.err()
                } else {
                    let alert = format!("A{i}");
                    store
                        .enqueue(event(Some(&alert), &format!("{alert}/1"), &["pb-1"]))
                        .await
                        .err()
                }
            })
        })
        .collect();
    let mut failures = 0;
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.expect("the task ends") {
            Some(StoreError::UnknownRun { .. }) if i % 3 == 0 => failures += 1,
            None if i % 3 != 0 => {}
            other => panic!("write {i}: unexpected outcome {other:?}"),
        }
    }
    assert_eq!(failures, WRITES.div_ceil(3));
    drop(store);
    let store = place.open().await;
    assert_eq!(
        store.inbox_counts().await.unwrap().open as usize,
        WRITES - failures
    );
    assert_eq!(
        store
            .run_counts(RunCountFilter::default())
            .await
            .unwrap()
            .queued as usize,
        WRITES - failures
    );
}
