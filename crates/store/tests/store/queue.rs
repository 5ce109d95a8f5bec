//! Claiming runs: oldest first, for each alert and playbook only the oldest open run, none
//! of a disabled playbook, waiting runs once due, and runs left by an earlier instance
//! handed out again (counting an interruption when they were running).

use std::time::Duration;

use alertsync_engine::{NodeStatus, RunStatus, now_ms};
use alertsync_store::{QueueHealth, RunCountFilter, RunId, StoreError, WriteBehind};

use crate::{
    Place, T0, claim_ids, event, flush, hold, node, only_run_of, record, record_node, retry,
    runs_of, summary,
};

conformance! {
    only_the_oldest_open_run_of_each_alert_and_playbook_is_claimed,
    a_claimed_run_comes_with_its_event,
    a_disabled_playbook_holds_its_runs_until_it_is_enabled,
    a_waiting_run_is_claimed_once_due_and_keeps_its_alert_waiting,
    a_run_left_running_by_a_crashed_instance_counts_an_interruption,
    a_released_run_is_handed_out_again_ahead_of_its_alert,
    a_resumed_run_comes_with_what_its_earlier_attempt_left,
}

async fn only_the_oldest_open_run_of_each_alert_and_playbook_is_claimed(place: &Place) {
    let store = place.open().await;
    let a1 = store
        .enqueue(event(Some("A"), "A/1", &["pb-1", "pb-2"]))
        .await
        .unwrap()
        .id();
    let b1 = store
        .enqueue(event(Some("B"), "B/1", &["pb-1"]))
        .await
        .unwrap()
        .id();
    let a2 = store
        .enqueue(event(Some("A"), "A/2", &["pb-1", "pb-2"]))
        .await
        .unwrap()
        .id();
    let n1 = store
        .enqueue(event(None, "cron/1", &["pb-1"]))
        .await
        .unwrap()
        .id();
    let n2 = store
        .enqueue(event(None, "cron/2", &["pb-1"]))
        .await
        .unwrap()
        .id();
    let a3 = store
        .enqueue(event(Some("A"), "A/3", &["pb-1"]))
        .await
        .unwrap()
        .id();
    let (a1p1, a1p2) = {
        let runs = runs_of(&*store, a1).await;
        (runs[0].id, runs[1].id)
    };
    let (a2p1, a2p2) = {
        let runs = runs_of(&*store, a2).await;
        (runs[0].id, runs[1].id)
    };
    let b1 = only_run_of(&*store, b1).await;
    let n1 = only_run_of(&*store, n1).await;
    let n2 = only_run_of(&*store, n2).await;
    let a3p1 = only_run_of(&*store, a3).await;

    // Oldest first, at most `limit`.
    assert_eq!(claim_ids(&*store, 2).await, [a1p1, a1p2]);
    // Claimed runs are not handed out twice; A/2 waits for A/1 (per playbook), runs of
    // no alert are independent of each other.
    assert_eq!(claim_ids(&*store, 10).await, [b1, n1, n2]);
    assert!(claim_ids(&*store, 10).await.is_empty());

    // A/1's run of pb-1 ends: A/2's run of pb-1 may start, although A/1's run of pb-2 is
    // still open.
    let done = record(RunStatus::Succeeded, vec![]);
    store.finish_run(a1p1, done.clone()).await.unwrap();
    assert_eq!(claim_ids(&*store, 10).await, [a2p1]);
    store.finish_run(a1p2, done.clone()).await.unwrap();
    assert_eq!(claim_ids(&*store, 10).await, [a2p2]);
    // A/3 waits for A/2's run of pb-1, whatever pb-2 does.
    store.finish_run(a2p2, done.clone()).await.unwrap();
    assert!(claim_ids(&*store, 10).await.is_empty());
    store.finish_run(a2p1, done).await.unwrap();
    assert_eq!(claim_ids(&*store, 10).await, [a3p1]);
}

async fn a_claimed_run_comes_with_its_event(place: &Place) {
    let store = place.open().await;
    let id = store
        .enqueue(event(Some("A"), "A/1", &["pb-1"]))
        .await
        .unwrap()
        .id();
    let claimed = store.claim_runs(1).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let claimed = &claimed[0];
    assert_eq!(claimed.event, store.event(id).await.unwrap().unwrap());
    assert_eq!(claimed.run, summary(&*store, claimed.run.id).await);
    assert_eq!(claimed.run.status, RunStatus::Queued);
    assert_eq!(claimed.run.playbook_id, "pb-1");
    assert!(claimed.completed_nodes.is_empty());
    assert!(claimed.interrupted_nodes.is_empty());
    assert!(claimed.retries.is_empty());
    assert!(store.claim_runs(0).await.unwrap().is_empty());
}

async fn a_disabled_playbook_holds_its_runs_until_it_is_enabled(place: &Place) {
    let (held, other) = {
        let store = place.open().await;
        store.disable_playbook("pb-off", "paused").await.unwrap();
        let a1 = store
            .enqueue(event(Some("A"), "A/1", &["pb-off", "pb-1"]))
            .await
            .unwrap()
            .id();
        let b1 = store
            .enqueue(event(Some("B"), "B/1", &["pb-off"]))
            .await
            .unwrap()
            .id();
        let runs = runs_of(&*store, a1).await;
        let held = [runs[0].id, only_run_of(&*store, b1).await];
        assert_eq!(claim_ids(&*store, 10).await, [runs[1].id]);
        let health = store.queue_health().await.unwrap();
        assert_eq!(health.held_by_disabled_playbooks, 2);
        assert_eq!(health.queued, 1, "the claimed run of pb-1 has not started");
        (held, runs[1].id)
        // A restart does not release them.
    };
    let store = place.open().await;
    assert_eq!(claim_ids(&*store, 10).await, [other]);
    for run in held {
        assert_eq!(
            summary(&*store, run).await.status,
            RunStatus::Queued,
            "held, not dropped"
        );
    }
    let counts = store
        .run_counts(RunCountFilter {
            playbook_id: Some("pb-off".to_owned()),
            ..RunCountFilter::default()
        })
        .await
        .unwrap();
    assert_eq!((counts.queued, counts.total()), (2, 2));

    assert!(!store.enable_playbook("pb-off").await.unwrap().is_disabled());
    assert_eq!(claim_ids(&*store, 10).await, held);
    assert_eq!(
        store
            .queue_health()
            .await
            .unwrap()
            .held_by_disabled_playbooks,
        0
    );

    // Disabling holds runs already queued too.
    let c1 = store
        .enqueue(event(Some("C"), "C/1", &["pb-1"]))
        .await
        .unwrap()
        .id();
    store.disable_playbook("pb-1", "by hand").await.unwrap();
    assert!(claim_ids(&*store, 10).await.is_empty());
    store.enable_playbook("pb-1").await.unwrap();
    assert_eq!(
        claim_ids(&*store, 10).await,
        [only_run_of(&*store, c1).await]
    );
}

async fn a_waiting_run_is_claimed_once_due_and_keeps_its_alert_waiting(place: &Place) {
    let store = place.open().await;
    let a1 = store
        .enqueue(event(Some("A"), "A/1", &["pb-1"]))
        .await
        .unwrap()
        .id();
    let a2 = store
        .enqueue(event(Some("A"), "A/2", &["pb-1"]))
        .await
        .unwrap()
        .id();
    let (r1, r2) = (
        only_run_of(&*store, a1).await,
        only_run_of(&*store, a2).await,
    );
    assert_eq!(claim_ids(&*store, 10).await, [r1]);

    let due = now_ms() + 2_000;
    store
        .park_run(r1, record(RunStatus::Waiting, vec![]), hold(due, "ilert"))
        .await
        .unwrap();
    // Not due yet; A/2 stays behind it.
    assert!(claim_ids(&*store, 10).await.is_empty());
    tokio::time::sleep(Duration::from_millis(due.saturating_sub(now_ms()) + 50)).await;
    assert_eq!(claim_ids(&*store, 10).await, [r1]);

    // A hold already over is due at once.
    store
        .park_run(
            r1,
            record(RunStatus::Waiting, vec![]),
            hold(now_ms() - 1, "ilert"),
        )
        .await
        .unwrap();
    assert_eq!(claim_ids(&*store, 10).await, [r1]);
    store
        .finish_run(r1, record(RunStatus::Succeeded, vec![]))
        .await
        .unwrap();
    assert_eq!(claim_ids(&*store, 10).await, [r2]);
}

async fn a_run_left_running_by_a_crashed_instance_counts_an_interruption(place: &Place) {
    let (started, unstarted) = {
        let store = place.open().await;
        let a = store
            .enqueue(event(Some("A"), "A/1", &["pb-1"]))
            .await
            .unwrap()
            .id();
        let b = store
            .enqueue(event(Some("B"), "B/1", &["pb-1"]))
            .await
            .unwrap()
            .id();
        let (a, b) = (only_run_of(&*store, a).await, only_run_of(&*store, b).await);
        assert_eq!(claim_ids(&*store, 10).await, [a, b]);
        store.write_behind(WriteBehind::RunStarted {
            run: a,
            at_ms: T0 + 5_000,
        });
        flush(&*store).await;
        let running = summary(&*store, a).await;
        assert_eq!(running.status, RunStatus::Running);
        assert_eq!(running.started_at_ms, Some(T0 + 5_000));
        assert_eq!(running.interruptions, 0);
        (a, b)
        // The process dies: neither run is finished nor released.
    };

    let store = place.open().await;
    let claimed = store.claim_runs(10).await.unwrap();
    let seen: Vec<(RunId, RunStatus, u32)> = claimed
        .iter()
        .map(|c| (c.run.id, c.run.status, c.run.interruptions))
        .collect();
    assert_eq!(
        seen,
        [
            (started, RunStatus::Running, 1),
            (unstarted, RunStatus::Queued, 0)
        ],
        "only the run that was running was interrupted"
    );
    assert_eq!(summary(&*store, started).await.interruptions, 1);
    store.write_behind(WriteBehind::RunStarted {
        run: started,
        at_ms: T0 + 9_000,
    });
    flush(&*store).await;
    assert_eq!(
        summary(&*store, started).await.started_at_ms,
        Some(T0 + 5_000),
        "the first start is kept"
    );
    drop(store);

    // A crash loop counts every crash.
    let store = place.open().await;
    let claimed = store.claim_runs(10).await.unwrap();
    assert_eq!(claimed[0].run.id, started);
    assert_eq!(claimed[0].run.interruptions, 2);
    assert_eq!(claimed[1].run.interruptions, 0);
    // A clean stop releases the runs: no interruption next time.
    store.release_run(started).await.unwrap();
    store.release_run(unstarted).await.unwrap();
    drop(store);

    let store = place.open().await;
    let claimed = store.claim_runs(10).await.unwrap();
    let interruptions: Vec<_> = claimed
        .iter()
        .map(|c| (c.run.id, c.run.interruptions))
        .collect();
    assert_eq!(interruptions, [(started, 2), (unstarted, 0)]);
}

async fn a_released_run_is_handed_out_again_ahead_of_its_alert(place: &Place) {
    let store = place.open().await;
    let a1 = store
        .enqueue(event(Some("A"), "A/1", &["pb-1"]))
        .await
        .unwrap()
        .id();
    store
        .enqueue(event(Some("A"), "A/2", &["pb-1"]))
        .await
        .unwrap();
    let r1 = only_run_of(&*store, a1).await;
    assert_eq!(claim_ids(&*store, 10).await, [r1]);
    store.write_behind(WriteBehind::RunStarted { run: r1, at_ms: T0 });
    store.release_run(r1).await.unwrap();
    let claimed = store.claim_runs(10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].run.id, r1);
    assert_eq!(claimed[0].run.interruptions, 0);

    let err = store.release_run(RunId(r1.0 + 100)).await.unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownRun { run, .. } if run == RunId(r1.0 + 100)),
        "{err}"
    );
}

async fn a_resumed_run_comes_with_what_its_earlier_attempt_left(place: &Place) {
    let (id, run) = {
        let store = place.open().await;
        let id = store
            .enqueue(event(Some("A"), "A/1", &["pb-1"]))
            .await
            .unwrap()
            .id();
        let run = claim_ids(&*store, 1).await[0];
        store.write_behind(WriteBehind::RunStarted { run, at_ms: T0 });
        for node in [
            node(0, "trigger", NodeStatus::Succeeded),
            node(1, "filter", NodeStatus::Skipped),
            node(2, "ilert", NodeStatus::Running),
        ] {
            record_node(&*store, run, node).await;
        }
        store.save_retry_state(retry(run, 2, 3)).await.unwrap();
        (id, run)
    };
    let store = place.open().await;
    let claimed = store.claim_runs(10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let resume = &claimed[0];
    assert_eq!(resume.run.id, run);
    assert_eq!(resume.event.id, id);
    assert_eq!(
        resume.completed_nodes,
        [
            node(0, "trigger", NodeStatus::Succeeded),
            node(1, "filter", NodeStatus::Skipped)
        ]
    );
    assert_eq!(
        resume.interrupted_nodes,
        [node(2, "ilert", NodeStatus::Running)]
    );
    assert_eq!(resume.retries, [retry(run, 2, 3)]);
    assert_eq!(
        store.queue_health().await.unwrap(),
        QueueHealth {
            running: 1,
            last_event_at_ms: Some(T0),
            ..QueueHealth::default()
        }
    );
}
