//! The inbox: deduplication, durability, per-alert ordering, claims across restarts.

use std::collections::HashMap;

use alertsync_store::{
    Checkpoint, Enqueued, EventSource, EventState, InboxCounts, InboxId, NewInboxEvent, Store,
    StoreError, WriteBehind,
};

use crate::{StoreDir, event};

#[tokio::test]
async fn an_event_seen_twice_is_stored_once() {
    let dir = StoreDir::temporary();
    let store = dir.open().await;

    let first = store.enqueue(event(Some("A"), "A/1")).await.unwrap();
    let again = store.enqueue(event(Some("A"), "A/1")).await.unwrap();
    let other = store.enqueue(event(Some("A"), "A/2")).await.unwrap();

    assert!(first.is_new());
    assert_eq!(again, Enqueued::Duplicate(first.id()));
    assert!(other.is_new());
    assert!(other.id() > first.id());
    let counts = store.inbox_counts().await.unwrap();
    assert_eq!(
        counts,
        InboxCounts {
            pending: 2,
            claimed: 0,
            done: 0
        }
    );
}

#[tokio::test]
async fn the_dedup_key_holds_after_the_event_was_processed_and_the_store_reopened() {
    let dir = StoreDir::temporary();
    let id = {
        let store = dir.open().await;
        let id = store.enqueue(event(Some("A"), "A/1")).await.unwrap().id();
        store.complete_event(id).await.unwrap();
        id
    };
    let store = dir.open().await;
    assert_eq!(
        store.enqueue(event(Some("A"), "A/1")).await.unwrap(),
        Enqueued::Duplicate(id)
    );
}

#[tokio::test]
async fn expired_dedup_keys_let_a_later_event_with_the_same_key_through() {
    const OLD: u64 = 1_700_000_000_000;
    const RECENT: u64 = OLD + 3_600_000;
    let dir = StoreDir::temporary();
    let at = |key: &str, received_at_ms: u64| NewInboxEvent {
        received_at_ms,
        ..event(Some(key), key)
    };
    let done_old = {
        let store = dir.open().await;
        let mut ids = Vec::new();
        for (key, received, done) in [
            ("sekoia/A:status:closed", OLD, true),
            ("sekoia/B:status:closed", OLD, false),
            ("cron/C", OLD, true),
            ("sekoia/D:status:closed", RECENT, true),
        ] {
            let id = store.enqueue(at(key, received)).await.unwrap().id();
            if done {
                store.complete_event(id).await.unwrap();
            }
            ids.push(id);
        }
        let expired = store.expire_dedup_keys("sekoia/", OLD + 1).await.unwrap();
        assert_eq!(expired, 1, "only the done, old event of the prefix");
        assert_eq!(
            store.expire_dedup_keys("sekoia/", OLD + 1).await.unwrap(),
            0
        );
        ids
    };

    let store = dir.open().await;
    let again = |key: &str| store.enqueue(at(key, RECENT + 1));
    assert!(again("sekoia/A:status:closed").await.unwrap().is_new());
    assert_eq!(
        again("sekoia/B:status:closed").await.unwrap(),
        Enqueued::Duplicate(done_old[1]),
        "an open event keeps its key"
    );
    assert_eq!(
        again("cron/C").await.unwrap(),
        Enqueued::Duplicate(done_old[2])
    );
    assert_eq!(
        again("sekoia/D:status:closed").await.unwrap(),
        Enqueued::Duplicate(done_old[3])
    );
    let first = store.event(done_old[0]).await.unwrap().unwrap();
    assert_eq!(
        first.dedup_key,
        format!("sekoia/A:status:closed#expired/{}", done_old[0].0)
    );
}

#[tokio::test]
async fn a_write_queued_without_waiting_is_committed_before_the_writes_after_it() {
    let dir = StoreDir::temporary();
    let (first, second) = {
        let store = dir.open().await;
        let first = store.enqueue(event(Some("A"), "A/1")).await.unwrap().id();
        let second = store.enqueue(event(Some("A"), "A/2")).await.unwrap().id();
        assert_eq!(store.claim_ready_events(10).await.unwrap()[0].id, first);
        store.write_behind(WriteBehind::EventDone { id: first });
        // The claim, queued after, sees the first event done: the alert's next is ready.
        let ready = store.claim_ready_events(10).await.unwrap();
        assert_eq!(ready.iter().map(|e| e.id).collect::<Vec<_>>(), [second]);
        (first, second)
    };
    let store = dir.open().await;
    let done = store.event(first).await.unwrap().unwrap();
    assert_eq!(done.state, EventState::Done);
    assert_ne!(
        store.event(second).await.unwrap().unwrap().state,
        EventState::Done
    );
}

#[tokio::test]
async fn enqueued_events_are_there_after_reopening_the_file() {
    let dir = StoreDir::temporary();
    let mut webhook = event(Some("B"), "webhook/1");
    webhook.source = EventSource::Webhook;
    webhook.playbook_id = Some("pb-1".to_owned());
    webhook.trigger_node = Some("0".to_owned());
    let id = {
        let store = dir.open().await;
        store.enqueue(event(Some("A"), "A/1")).await.unwrap();
        store.enqueue(webhook.clone()).await.unwrap().id()
    };

    let store = dir.open().await;
    let stored = store.event(id).await.unwrap().expect("the event is stored");
    assert_eq!(stored.source, EventSource::Webhook);
    assert_eq!(stored.account, webhook.account);
    assert_eq!(stored.playbook_id.as_deref(), Some("pb-1"));
    assert_eq!(stored.trigger_node.as_deref(), Some("0"));
    assert_eq!(stored.alert_uuid.as_deref(), Some("B"));
    assert_eq!(stored.dedup_key, "webhook/1");
    assert_eq!(stored.payload, webhook.payload);
    assert_eq!(stored.received_at_ms, webhook.received_at_ms);
    assert_eq!(stored.state, EventState::Pending);
    assert_eq!(store.inbox_counts().await.unwrap().pending, 2);
    assert!(store.event(InboxId(9999)).await.unwrap().is_none());
}

#[tokio::test]
async fn only_the_oldest_unfinished_event_of_each_alert_is_ready() {
    let dir = StoreDir::temporary();
    let store = dir.open().await;
    // Arrival order: A1 B1 A2 -1 B2 A3 -2 (`-` = no alert).
    let mut ids = HashMap::new();
    for (alert, key) in [
        (Some("A"), "A/1"),
        (Some("B"), "B/1"),
        (Some("A"), "A/2"),
        (None, "cron/1"),
        (Some("B"), "B/2"),
        (Some("A"), "A/3"),
        (None, "cron/2"),
    ] {
        ids.insert(key, store.enqueue(event(alert, key)).await.unwrap().id());
    }
    let keys = |events: Vec<alertsync_store::InboxEvent>| {
        events.into_iter().map(|e| e.dedup_key).collect::<Vec<_>>()
    };

    // Different alerts in parallel, events without an alert each on their own.
    let ready = keys(store.next_ready_events(10).await.unwrap());
    assert_eq!(ready, ["A/1", "B/1", "cron/1", "cron/2"]);
    // Peeking claims nothing; the limit counts events.
    assert_eq!(
        keys(store.next_ready_events(2).await.unwrap()),
        ["A/1", "B/1"]
    );

    let claimed = store.claim_ready_events(10).await.unwrap();
    assert!(claimed.iter().all(|e| e.state == EventState::Claimed));
    assert_eq!(keys(claimed), ["A/1", "B/1", "cron/1", "cron/2"]);
    // A/2 waits for A/1, B/2 for B/1; claimed events are not handed out twice.
    assert!(store.claim_ready_events(10).await.unwrap().is_empty());

    store.complete_event(ids["A/1"]).await.unwrap();
    assert_eq!(keys(store.claim_ready_events(10).await.unwrap()), ["A/2"]);
    store.complete_event(ids["B/1"]).await.unwrap();
    store.complete_event(ids["A/2"]).await.unwrap();
    assert_eq!(
        keys(store.claim_ready_events(10).await.unwrap()),
        ["B/2", "A/3"]
    );

    // A released event is ready again at once, still ahead of the rest of its alert.
    store.release_event(ids["A/3"]).await.unwrap();
    assert_eq!(keys(store.next_ready_events(10).await.unwrap()), ["A/3"]);

    let counts = store.inbox_counts().await.unwrap();
    assert_eq!(
        counts,
        InboxCounts {
            pending: 1,
            claimed: 3,
            done: 3
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_draining_the_inbox_see_each_alert_in_arrival_order() {
    let dir = StoreDir::temporary();
    let store = dir.open().await;
    const ALERTS: usize = 20;
    const CHANGES: usize = 5;
    // Interleaved arrival: change 1 of every alert, then change 2 of every alert, ...
    for change in 0..CHANGES {
        for alert in 0..ALERTS {
            let key = format!("alert-{alert}/{change}");
            store
                .enqueue(event(Some(&format!("alert-{alert}")), &key))
                .await
                .unwrap();
        }
    }

    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, usize)>::new()));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        let seen = seen.clone();
        workers.push(tokio::spawn(async move {
            let mut max_parallel = 0;
            loop {
                let batch = store.claim_ready_events(8).await.unwrap();
                if batch.is_empty() {
                    if store.inbox_counts().await.unwrap().done == (ALERTS * CHANGES) as u64 {
                        return max_parallel;
                    }
                    tokio::task::yield_now().await;
                    continue;
                }
                max_parallel = max_parallel.max(batch.len());
                for event in batch {
                    let (alert, change) = event.dedup_key.split_once('/').unwrap();
                    seen.lock()
                        .unwrap()
                        .push((alert.to_owned(), change.parse().unwrap()));
                    store.complete_event(event.id).await.unwrap();
                }
            }
        }));
    }
    let mut max_parallel = 0;
    for worker in workers {
        max_parallel = max_parallel.max(worker.await.unwrap());
    }

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), ALERTS * CHANGES, "every event exactly once");
    let mut per_alert: HashMap<&str, Vec<usize>> = HashMap::new();
    for (alert, change) in seen.iter() {
        per_alert.entry(alert).or_default().push(*change);
    }
    for (alert, changes) in per_alert {
        assert_eq!(
            changes,
            (0..CHANGES).collect::<Vec<_>>(),
            "order of {alert}"
        );
    }
    assert!(max_parallel > 1, "different alerts are handed out together");
}

#[tokio::test]
async fn claimed_but_unfinished_events_are_ready_again_after_a_restart() {
    let dir = StoreDir::temporary();
    let (done, claimed) = {
        let store = dir.open().await;
        for (alert, key) in [("A", "A/1"), ("A", "A/2"), ("B", "B/1"), ("C", "C/1")] {
            store.enqueue(event(Some(alert), key)).await.unwrap();
        }
        let batch = store.claim_ready_events(10).await.unwrap();
        assert_eq!(batch.len(), 3);
        // C/1 completes; A/1 and B/1 are in progress when the process dies.
        let c = batch.iter().find(|e| e.dedup_key == "C/1").unwrap().id;
        store.complete_event(c).await.unwrap();
        assert!(store.claim_ready_events(10).await.unwrap().is_empty());
        (c, batch.len() - 1)
    };

    let store = dir.open().await;
    let ready = store.claim_ready_events(10).await.unwrap();
    let keys: Vec<_> = ready.iter().map(|e| e.dedup_key.as_str()).collect();
    assert_eq!(keys, ["A/1", "B/1"], "A/2 still waits for A/1");
    assert_eq!(ready.len(), claimed);
    assert!(ready.iter().all(|e| e.id != done));
    assert_eq!(
        store.event(done).await.unwrap().unwrap().state,
        EventState::Done
    );
}

#[tokio::test]
async fn a_backfill_page_and_its_checkpoint_are_committed_together() {
    let dir = StoreDir::temporary();
    {
        let store = dir.open().await;
        store.enqueue(event(Some("A"), "A/1")).await.unwrap();
        let outcomes = store
            .enqueue_batch(
                vec![
                    event(Some("A"), "A/1"),
                    event(Some("A"), "A/2"),
                    event(Some("B"), "B/1"),
                    event(Some("B"), "B/1"),
                ],
                Some(Checkpoint::new(
                    "backfill/sekoia-prod",
                    "2024-05-01T10:00:00Z",
                )),
            )
            .await
            .unwrap();
        let new: Vec<bool> = outcomes.iter().map(|o| o.is_new()).collect();
        assert_eq!(new, [false, true, true, false]);
        assert_eq!(outcomes[3].id(), outcomes[2].id());
    }
    let store = dir.open().await;
    assert_eq!(store.inbox_counts().await.unwrap().pending, 3);
    assert_eq!(
        store
            .checkpoint("backfill/sekoia-prod")
            .await
            .unwrap()
            .as_deref(),
        Some("2024-05-01T10:00:00Z")
    );
}

#[tokio::test]
async fn completing_or_releasing_an_unknown_event_is_an_error() {
    let dir = StoreDir::temporary();
    let store = dir.open().await;
    let err = store.complete_event(InboxId(42)).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::UnknownEvent {
                event: InboxId(42),
                ..
            }
        ),
        "{err}"
    );
    let err = store.release_event(InboxId(42)).await.unwrap_err();
    assert!(matches!(err, StoreError::UnknownEvent { .. }), "{err}");
}
