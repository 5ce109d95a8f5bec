//! The inbox: an event is stored together with the runs it starts, in one transaction;
//! a dedup key already stored makes a repeat a no-op until it expires; a back-fill page
//! and its checkpoint are committed together. That a write refused halfway through such a
//! transaction leaves nothing behind is tested where a refusal can be brought about, in
//! `sqlite::inbox`.

use alertsync_engine::RunStatus;
use alertsync_store::{Checkpoint, Enqueued, EventSource, InboxCounts, InboxId, RunCountFilter};
use serde_json::json;

use crate::{Place, T0, event, event_at, record, runs_of};

conformance! {
    an_event_is_stored_with_its_runs,
    an_event_that_starts_no_run_is_done_at_once,
    ids_grow_in_arrival_order,
    a_repeated_dedup_key_changes_nothing,
    a_batch_and_its_checkpoint_are_committed_together,
    expired_dedup_keys_let_a_later_event_with_the_same_key_through,
}

async fn an_event_is_stored_with_its_runs(place: &Place) {
    let store = place.open().await;
    let mut webhook = event(Some("A"), "webhook/1", &["pb-1", "pb-2"]);
    webhook.source = EventSource::Webhook;
    webhook.payload = json!({"playbook_id": "pb-1", "body": {"x": 1}});

    let outcome = store.enqueue(webhook.clone()).await.unwrap();
    let Enqueued::New(id) = outcome else {
        panic!("a new event, got {outcome:?}");
    };

    let stored = store.event(id).await.unwrap().expect("the event is stored");
    assert_eq!(stored.id, id);
    assert_eq!(stored.source, EventSource::Webhook);
    assert_eq!(stored.account, "sekoia-prod");
    assert_eq!(stored.alert_uuid.as_deref(), Some("A"));
    assert_eq!(stored.dedup_key, "webhook/1");
    assert_eq!(stored.payload, webhook.payload);
    assert_eq!(stored.received_at_ms, T0);
    assert_eq!(stored.done_at_ms, None, "open while its runs are");

    let runs = runs_of(&*store, id).await;
    let queued: Vec<_> = runs
        .iter()
        .map(|run| {
            (
                run.playbook_id.as_str(),
                run.trigger_node.as_str(),
                run.status,
                run.alert_uuid.as_deref(),
                run.queued_at_ms,
                run.inbox_id,
            )
        })
        .collect();
    assert_eq!(
        queued,
        [
            ("pb-1", "0", RunStatus::Queued, Some("A"), T0, id),
            ("pb-2", "0", RunStatus::Queued, Some("A"), T0, id),
        ]
    );
    assert!(
        runs[0].id < runs[1].id,
        "runs are queued in the given order"
    );
    assert!(runs.iter().all(|run| run.started_at_ms.is_none()
        && run.ended_at_ms.is_none()
        && run.interruptions == 0
        && run.rerun_of.is_none()));
    assert_eq!(
        store.inbox_counts().await.unwrap(),
        InboxCounts { open: 1, done: 0 }
    );
    assert!(store.event(InboxId(id.0 + 1)).await.unwrap().is_none());
}

async fn an_event_that_starts_no_run_is_done_at_once(place: &Place) {
    let store = place.open().await;
    let id = store
        .enqueue(event(Some("A"), "A/1", &[]))
        .await
        .unwrap()
        .id();
    let stored = store.event(id).await.unwrap().unwrap();
    assert!(stored.done_at_ms.is_some(), "{stored:?}");
    assert!(runs_of(&*store, id).await.is_empty());
    assert_eq!(
        store.inbox_counts().await.unwrap(),
        InboxCounts { open: 0, done: 1 }
    );
}

async fn ids_grow_in_arrival_order(place: &Place) {
    let store = place.open().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let key = format!("A/{i}");
        ids.push(
            store
                .enqueue(event(Some("A"), &key, &["pb-1"]))
                .await
                .unwrap()
                .id(),
        );
    }
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
}

async fn a_repeated_dedup_key_changes_nothing(place: &Place) {
    let id = {
        let store = place.open().await;
        let id = store
            .enqueue(event(Some("A"), "A/1", &["pb-1"]))
            .await
            .unwrap()
            .id();
        // Same key, other payload and other runs: still the first event, untouched.
        let mut repeat = event(Some("A"), "A/1", &["pb-1", "pb-2"]);
        repeat.payload = json!({"changed": true});
        assert_eq!(
            store.enqueue(repeat.clone()).await.unwrap(),
            Enqueued::Duplicate(id)
        );
        assert_eq!(
            store.event(id).await.unwrap().unwrap().payload,
            event(Some("A"), "A/1", &[]).payload
        );
        assert_eq!(runs_of(&*store, id).await.len(), 1);

        // Also once the event is done.
        let run = store.claim_runs(1).await.unwrap().remove(0).run.id;
        store
            .finish_run(run, record(RunStatus::Succeeded, vec![]))
            .await
            .unwrap();
        assert_eq!(
            store.enqueue(repeat).await.unwrap(),
            Enqueued::Duplicate(id)
        );
        id
    };
    // And after a restart.
    let store = place.open().await;
    assert_eq!(
        store
            .enqueue(event(Some("A"), "A/1", &["pb-1"]))
            .await
            .unwrap(),
        Enqueued::Duplicate(id)
    );
    assert_eq!(
        store
            .run_counts(RunCountFilter::default())
            .await
            .unwrap()
            .total(),
        1
    );
    assert_eq!(
        store.inbox_counts().await.unwrap(),
        InboxCounts { open: 0, done: 1 }
    );
}

async fn a_batch_and_its_checkpoint_are_committed_together(place: &Place) {
    let earlier = {
        let store = place.open().await;
        let earlier = store
            .enqueue(event(Some("A"), "A/1", &["pb-1"]))
            .await
            .unwrap()
            .id();
        let outcomes = store
            .enqueue_batch(
                vec![
                    event(Some("A"), "A/1", &["pb-1"]),
                    event(Some("A"), "A/2", &["pb-1"]),
                    event(Some("B"), "B/1", &["pb-1", "pb-2"]),
                    event(Some("B"), "B/1", &["pb-1"]),
                    event(None, "cron/1", &[]),
                ],
                Some(Checkpoint::new(
                    "backfill/sekoia-prod",
                    "2024-05-01T10:00:00Z",
                )),
            )
            .await
            .unwrap();
        let new: Vec<bool> = outcomes.iter().map(|o| o.is_new()).collect();
        assert_eq!(new, [false, true, true, false, true]);
        assert_eq!(outcomes[0], Enqueued::Duplicate(earlier));
        assert_eq!(outcomes[3], Enqueued::Duplicate(outcomes[2].id()));
        assert!(outcomes[1].id() < outcomes[2].id() && outcomes[2].id() < outcomes[4].id());
        earlier
    };
    let store = place.open().await;
    assert_eq!(
        store.inbox_counts().await.unwrap(),
        InboxCounts { open: 3, done: 1 }
    );
    let counts = store.run_counts(RunCountFilter::default()).await.unwrap();
    assert_eq!((counts.queued, counts.total()), (4, 4));
    assert_eq!(
        store
            .checkpoint("backfill/sekoia-prod")
            .await
            .unwrap()
            .as_deref(),
        Some("2024-05-01T10:00:00Z")
    );
    assert_eq!(runs_of(&*store, earlier).await.len(), 1);

    // A batch without a checkpoint leaves it where it was.
    store
        .enqueue_batch(vec![event(Some("C"), "C/1", &["pb-1"])], None)
        .await
        .unwrap();
    assert_eq!(
        store
            .checkpoint("backfill/sekoia-prod")
            .await
            .unwrap()
            .as_deref(),
        Some("2024-05-01T10:00:00Z")
    );
    // A page without events still moves the checkpoint.
    let none = store
        .enqueue_batch(
            vec![],
            Some(Checkpoint::new(
                "backfill/sekoia-prod",
                "2024-05-01T11:00:00Z",
            )),
        )
        .await
        .unwrap();
    assert!(none.is_empty());
    assert_eq!(
        store
            .checkpoint("backfill/sekoia-prod")
            .await
            .unwrap()
            .as_deref(),
        Some("2024-05-01T11:00:00Z")
    );
}

async fn expired_dedup_keys_let_a_later_event_with_the_same_key_through(place: &Place) {
    const OLD: u64 = T0;
    const RECENT: u64 = T0 + 3_600_000;
    let store = place.open().await;
    // Events without runs are done at once; `sekoia/B` stays open.
    let mut ids = Vec::new();
    for (key, runs, received) in [
        ("sekoia/A", &[][..], OLD),
        ("sekoia/B", &["pb-1"][..], OLD),
        ("cron/C", &[][..], OLD),
        ("sekoia/D", &[][..], RECENT),
    ] {
        let id = store
            .enqueue(event_at(Some("X"), key, runs, received))
            .await
            .unwrap()
            .id();
        ids.push(id);
    }

    assert_eq!(
        store.expire_dedup_keys("sekoia/", OLD + 1).await.unwrap(),
        1,
        "only the done event of the prefix received before the limit"
    );
    assert_eq!(
        store.expire_dedup_keys("sekoia/", OLD + 1).await.unwrap(),
        0
    );
    assert_eq!(
        store.expire_dedup_keys("sekoia/", RECENT).await.unwrap(),
        0,
        "received at the limit is not before it"
    );

    let again = |key: &'static str| store.enqueue(event_at(Some("X"), key, &[], RECENT + 1));
    let renewed = again("sekoia/A").await.unwrap();
    assert!(renewed.is_new());
    assert!(renewed.id() > ids[3]);
    assert_eq!(
        again("sekoia/B").await.unwrap(),
        Enqueued::Duplicate(ids[1])
    );
    assert_eq!(again("cron/C").await.unwrap(), Enqueued::Duplicate(ids[2]));
    assert_eq!(
        again("sekoia/D").await.unwrap(),
        Enqueued::Duplicate(ids[3])
    );
    // The expired event itself is kept.
    let expired = store.event(ids[0]).await.unwrap().unwrap();
    assert_eq!(expired.received_at_ms, OLD);
    assert!(expired.done_at_ms.is_some());

    // Once `sekoia/B` is done, its key can expire too.
    let run = store.claim_runs(1).await.unwrap().remove(0).run.id;
    store
        .finish_run(run, record(RunStatus::Succeeded, vec![]))
        .await
        .unwrap();
    assert_eq!(
        store.expire_dedup_keys("sekoia/", OLD + 1).await.unwrap(),
        1
    );
    assert!(again("sekoia/B").await.unwrap().is_new());
}
