//! Retention: `prune` removes finished work that ended before the cutoff — and only that —
//! a bounded batch per call.

use alertsync_engine::{NodeStatus, RunRecord, RunStatus};
use alertsync_store::{AlertLink, Enqueued, EventSource, Pruned, Rerun, RunId, Store, WriteBehind};

use crate::{Place, T0, claim_ids, event, flush, node, only_run_of, record, retry, summary};

conformance! {
    only_finished_work_older_than_the_cutoff_is_removed,
    a_live_event_is_kept_while_its_dedup_key_is_in_force,
    each_call_removes_at_most_its_limit,
    a_rerun_outlives_the_run_it_repeats,
    alert_links_older_than_the_cutoff_are_removed,
}

/// A run of its own event (source `source`, dedup key `key`) finished in `status` at
/// `ended_at_ms`, with one node run and a retry state.
async fn finished(
    store: &dyn Store,
    key: &str,
    source: EventSource,
    status: RunStatus,
    ended_at_ms: u64,
) -> RunId {
    let mut new = event(Some(key), key, &["playbook"]);
    new.source = source;
    let id = store.enqueue(new).await.expect("enqueue").id();
    let run = only_run_of(store, id).await;
    assert_eq!(claim_ids(store, 10).await, [run]);
    store
        .save_retry_state(retry(run, 0, 2))
        .await
        .expect("retry state");
    let ended = RunRecord {
        ended_at_ms: Some(ended_at_ms),
        ..record(status, vec![node(0, "1", NodeStatus::Succeeded)])
    };
    store.finish_run(run, ended).await.expect("finish");
    run
}

async fn exists(store: &dyn Store, run: RunId) -> bool {
    store.run(run).await.expect("read the run").is_some()
}

async fn only_finished_work_older_than_the_cutoff_is_removed(place: &Place) {
    let store = place.open().await;
    let cutoff = T0 + 10_000;
    let old = [
        finished(
            &*store,
            "old-ok",
            EventSource::Webhook,
            RunStatus::Succeeded,
            T0,
        )
        .await,
        finished(
            &*store,
            "old-failed",
            EventSource::Cron,
            RunStatus::Failed,
            T0,
        )
        .await,
    ];
    let recent = finished(
        &*store,
        "recent",
        EventSource::Webhook,
        RunStatus::Succeeded,
        cutoff,
    )
    .await;
    let dead = finished(
        &*store,
        "old-dead",
        EventSource::Webhook,
        RunStatus::Dead,
        T0,
    )
    .await;
    let handled = finished(
        &*store,
        "old-handled",
        EventSource::Webhook,
        RunStatus::Dead,
        T0,
    )
    .await;
    assert!(store.dismiss_dead_letter(handled).await.expect("dismiss"));
    let open_id = store
        .enqueue(event(Some("open"), "open", &["playbook"]))
        .await
        .expect("enqueue")
        .id();
    let open = only_run_of(&*store, open_id).await;

    let pruned = store.prune(cutoff, 100).await.expect("prune");
    assert_eq!(
        pruned,
        Pruned {
            runs: 3,
            events: 3,
            links: 0
        },
        "two old runs and the handled dead letter, with their events"
    );
    for run in old.iter().chain([&handled]) {
        assert!(
            !exists(&*store, *run).await,
            "run {run} ended before the cutoff"
        );
    }
    for run in [recent, dead, open] {
        assert!(exists(&*store, run).await, "run {run} is kept");
    }
    assert!(summary(&*store, dead).await.is_unhandled_dead_letter());
    assert_eq!(
        store.prune(cutoff, 100).await.expect("prune again"),
        Pruned::default()
    );
}

async fn a_live_event_is_kept_while_its_dedup_key_is_in_force(place: &Place) {
    let store = place.open().await;
    let cutoff = T0 + 10_000;
    let run = finished(
        &*store,
        "alert:created",
        EventSource::Live,
        RunStatus::Succeeded,
        T0,
    )
    .await;
    flush(&*store).await;

    let first = store.prune(cutoff, 100).await.expect("prune");
    assert_eq!(
        first,
        Pruned {
            runs: 1,
            events: 0,
            links: 0
        },
        "the run goes, its event stays"
    );
    assert!(!exists(&*store, run).await);
    let repeat = store
        .enqueue(event(Some("alert:created"), "alert:created", &["playbook"]))
        .await
        .expect("enqueue the same change again");
    assert!(
        matches!(repeat, Enqueued::Duplicate(_)),
        "a back-fill repeating the change is still recognised"
    );

    assert_eq!(
        store
            .expire_dedup_keys("alert:", cutoff)
            .await
            .expect("expire"),
        1
    );
    let second = store.prune(cutoff, 100).await.expect("prune");
    assert_eq!(
        second,
        Pruned {
            runs: 0,
            events: 1,
            links: 0
        },
        "expired, the event goes too"
    );
}

async fn each_call_removes_at_most_its_limit(place: &Place) {
    let store = place.open().await;
    for i in 0..5 {
        finished(
            &*store,
            &format!("k{i}"),
            EventSource::Webhook,
            RunStatus::Succeeded,
            T0 + i,
        )
        .await;
    }
    let mut total = Pruned::default();
    let mut calls = 0;
    loop {
        let batch = store.prune(T0 + 100, 2).await.expect("prune");
        assert!(batch.runs <= 2 && batch.events <= 2, "{batch:?}");
        if batch.is_empty() {
            break;
        }
        total.add(batch);
        calls += 1;
    }
    assert_eq!(
        total,
        Pruned {
            runs: 5,
            events: 5,
            links: 0
        }
    );
    assert_eq!(calls, 3);
}

async fn a_rerun_outlives_the_run_it_repeats(place: &Place) {
    let store = place.open().await;
    let first = finished(&*store, "k", EventSource::Webhook, RunStatus::Failed, T0).await;
    let rerun = store
        .rerun(Rerun {
            of: first,
            only_failed: false,
        })
        .await
        .expect("rerun");

    let pruned = store.prune(T0 + 10_000, 100).await.expect("prune");
    assert_eq!(
        pruned,
        Pruned {
            runs: 1,
            events: 0,
            links: 0
        },
        "the event still has an open run"
    );
    let kept = summary(&*store, rerun).await;
    assert_eq!(kept.rerun_of, None, "{kept:?}");
}

async fn alert_links_older_than_the_cutoff_are_removed(place: &Place) {
    let store = place.open().await;
    let link = AlertLink {
        system: "ilert".to_owned(),
        remote_id: "2983781".to_owned(),
        alert_uuid: "5c1f3f4e-1a7b-4b8e-9f49-0b6c7d2a9e10".to_owned(),
    };
    store.write_behind(WriteBehind::AlertLinked(link));
    store.sync_writes().await.expect("link");
    let before_the_link = alertsync_engine::now_ms() - 60_000;
    assert_eq!(
        store.prune(before_the_link, 100).await.expect("prune"),
        Pruned::default(),
        "a recent link stays"
    );
    assert!(
        store
            .linked_alert("ilert", "2983781")
            .await
            .expect("read")
            .is_some()
    );
    let after_the_link = alertsync_engine::now_ms() + 60_000;
    assert_eq!(
        store.prune(after_the_link, 100).await.expect("prune"),
        Pruned {
            runs: 0,
            events: 0,
            links: 1
        }
    );
    assert_eq!(
        store.linked_alert("ilert", "2983781").await.expect("read"),
        None
    );
}
