//! What happens to a claimed run: node runs recorded as it goes, then finished, parked
//! while a destination fails (and woken when it answers again), or discarded; reruns and
//! the replay or dismissal of dead letters.

use alertsync_engine::{NodeStatus, RunStatus, now_ms};
use alertsync_store::{InboxCounts, Rerun, RunCountFilter, RunId, StoreError};

use crate::{
    Place, T0, claim_ids, event, hold, node, only_run_of, record, record_node, retry, runs_of,
    summary,
};

conformance! {
    node_runs_are_upserted_by_seq,
    an_event_is_done_when_its_last_open_run_finishes,
    a_record_without_an_end_time_ends_the_run_now,
    a_parked_run_waits_for_its_destination_with_its_progress,
    waking_a_destination_wakes_only_the_runs_it_holds,
    a_discarded_run_is_gone_and_completes_its_event,
    a_rerun_is_queued_after_the_runs_already_queued_for_its_alert,
    dead_letters_wait_for_a_replay_or_a_dismissal,
    a_run_rerun_while_open_can_still_be_discarded,
}

async fn node_runs_are_upserted_by_seq(place: &Place) {
    let store = place.open().await;
    let id = store
        .enqueue(event(Some("A"), "A/1", &["pb-1"]))
        .await
        .unwrap()
        .id();
    let run = claim_ids(&*store, 1).await[0];

    for node in [
        node(0, "1", NodeStatus::Running),
        node(0, "1", NodeStatus::Succeeded),
        node(1, "2", NodeStatus::Running),
    ] {
        record_node(&*store, run, node).await;
    }
    let detail = store.run(run).await.unwrap().expect("the run exists");
    assert_eq!(detail.run.inbox_id, id);
    assert_eq!(
        detail.nodes,
        [
            node(0, "1", NodeStatus::Succeeded),
            node(1, "2", NodeStatus::Running)
        ]
    );

    // A record of a run the store does not have is refused alone: the store goes on.
    let unknown = RunId(run.0 + 100);
    record_node(&*store, unknown, node(0, "1", NodeStatus::Running)).await;
    assert!(store.run(unknown).await.unwrap().is_none());
    assert_eq!(store.write_health().last_error, None);
}

async fn an_event_is_done_when_its_last_open_run_finishes(place: &Place) {
    let store = place.open().await;
    let id = store
        .enqueue(event(Some("A"), "A/1", &["pb-1", "pb-2", "pb-3"]))
        .await
        .unwrap()
        .id();
    let runs = claim_ids(&*store, 10).await;
    assert_eq!(runs.len(), 3);
    // pb-1 recorded more node runs than its final record has: the record wins.
    for seq in 0..3 {
        record_node(&*store, runs[0], node(seq, "n", NodeStatus::Running)).await;
    }
    store.save_retry_state(retry(runs[0], 1, 2)).await.unwrap();
    let final_nodes = vec![
        node(0, "trigger", NodeStatus::Succeeded),
        node(1, "ilert", NodeStatus::Succeeded),
    ];

    let outcomes = [
        record(RunStatus::Succeeded, final_nodes.clone()),
        record(
            RunStatus::Failed,
            vec![node(0, "trigger", NodeStatus::Failed)],
        ),
        record(RunStatus::Dead, vec![]),
    ];
    for (i, (run, outcome)) in runs.iter().zip(outcomes.clone()).enumerate() {
        store.finish_run(*run, outcome).await.unwrap();
        let event = store.event(id).await.unwrap().unwrap();
        if i < 2 {
            assert_eq!(event.done_at_ms, None, "open after {} of 3 runs", i + 1);
            assert_eq!(
                store.inbox_counts().await.unwrap(),
                InboxCounts { open: 1, done: 0 }
            );
        } else {
            assert!(event.done_at_ms.is_some(), "done after its last run");
            assert_eq!(
                store.inbox_counts().await.unwrap(),
                InboxCounts { open: 0, done: 1 }
            );
        }
    }

    for (run, outcome) in runs.iter().zip(&outcomes) {
        let detail = store.run(*run).await.unwrap().unwrap();
        assert_eq!(detail.run.status, outcome.status);
        assert_eq!(detail.run.error, outcome.error);
        assert_eq!(detail.run.ended_at_ms, Some(T0 + 2_000));
        assert_eq!(
            detail.run.started_at_ms,
            Some(T0 + 1_000),
            "from the record"
        );
        assert_eq!(detail.run.due_at_ms, None);
        assert_eq!(detail.nodes, outcome.nodes);
        assert!(
            detail.retries.is_empty(),
            "a finished run keeps no retry state"
        );
    }
    assert!(claim_ids(&*store, 10).await.is_empty());

    let err = store
        .finish_run(RunId(runs[2].0 + 100), record(RunStatus::Succeeded, vec![]))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownRun { .. }), "{err}");
}

async fn a_record_without_an_end_time_ends_the_run_now(place: &Place) {
    let store = place.open().await;
    store
        .enqueue(event(None, "cron/1", &["pb-1"]))
        .await
        .unwrap();
    let run = claim_ids(&*store, 1).await[0];
    let before = now_ms();
    let mut outcome = record(RunStatus::Succeeded, vec![]);
    outcome.ended_at_ms = None;
    store.finish_run(run, outcome).await.unwrap();
    let ended = summary(&*store, run)
        .await
        .ended_at_ms
        .expect("an end time");
    assert!(ended >= before && ended <= now_ms(), "{ended}");
}

async fn a_parked_run_waits_for_its_destination_with_its_progress(place: &Place) {
    let store = place.open().await;
    let id = store
        .enqueue(event(Some("A"), "A/1", &["pb-1"]))
        .await
        .unwrap()
        .id();
    let run = claim_ids(&*store, 1).await[0];
    store.save_retry_state(retry(run, 1, 4)).await.unwrap();
    let nodes = vec![
        node(0, "trigger", NodeStatus::Succeeded),
        node(1, "ilert", NodeStatus::Waiting),
    ];
    let until = now_ms() + 3_600_000;
    let parked = record(RunStatus::Waiting, nodes.clone());
    store
        .park_run(run, parked.clone(), hold(until, "ilert"))
        .await
        .unwrap();

    let detail = store.run(run).await.unwrap().unwrap();
    assert_eq!(detail.run.status, RunStatus::Waiting);
    assert_eq!(detail.run.due_at_ms, Some(until));
    assert_eq!(detail.run.waiting_on.as_deref(), Some("ilert"));
    assert_eq!(detail.run.error, parked.error);
    assert_eq!(detail.run.ended_at_ms, None);
    assert_eq!(detail.nodes, nodes);
    assert_eq!(detail.retries, [retry(run, 1, 4)], "its retry state stays");
    assert_eq!(store.event(id).await.unwrap().unwrap().done_at_ms, None);
    let health = store.queue_health().await.unwrap();
    assert_eq!((health.waiting, health.queued), (1, 0));
    assert_eq!(health.oldest_waiting_since_ms, Some(T0));

    // The claim is released, but the run is not due.
    assert!(claim_ids(&*store, 10).await.is_empty());
    assert_eq!(store.wake_waiting("http").await.unwrap(), 0);
    let before = now_ms();
    assert_eq!(store.wake_waiting("ilert").await.unwrap(), 1);
    let due = summary(&*store, run)
        .await
        .due_at_ms
        .expect("still waiting");
    assert!(due >= before && due <= now_ms(), "due now: {due}");

    let claimed = store.claim_runs(10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let resume = &claimed[0];
    assert_eq!(resume.run.id, run);
    assert_eq!(resume.run.status, RunStatus::Waiting);
    assert_eq!(
        resume.completed_nodes,
        [node(0, "trigger", NodeStatus::Succeeded)]
    );
    assert_eq!(
        resume.interrupted_nodes,
        [node(1, "ilert", NodeStatus::Waiting)]
    );
    assert_eq!(resume.retries, [retry(run, 1, 4)]);
}

async fn waking_a_destination_wakes_only_the_runs_it_holds(place: &Place) {
    let store = place.open().await;
    for alert in ["A", "B", "C"] {
        store
            .enqueue(event(Some(alert), &format!("{alert}/1"), &["pb-1"]))
            .await
            .unwrap();
    }
    let runs = claim_ids(&*store, 10).await;
    let until = now_ms() + 3_600_000;
    for (run, destination) in runs.iter().zip(["ilert", "http", "ilert"]) {
        store
            .park_run(
                *run,
                record(RunStatus::Waiting, vec![]),
                hold(until, destination),
            )
            .await
            .unwrap();
    }
    assert_eq!(store.wake_waiting("ilert").await.unwrap(), 2);
    assert_eq!(store.wake_waiting("ilert").await.unwrap(), 0, "already due");
    assert_eq!(summary(&*store, runs[1]).await.due_at_ms, Some(until));
    assert_eq!(claim_ids(&*store, 10).await, [runs[0], runs[2]]);
}

async fn a_discarded_run_is_gone_and_completes_its_event(place: &Place) {
    let store = place.open().await;
    let id = store
        .enqueue(event(Some("A"), "A/1", &["pb-1", "pb-2"]))
        .await
        .unwrap()
        .id();
    let next = store
        .enqueue(event(Some("A"), "A/2", &["pb-1"]))
        .await
        .unwrap()
        .id();
    let runs = claim_ids(&*store, 10).await;
    assert_eq!(runs.len(), 2);
    record_node(&*store, runs[0], node(0, "trigger", NodeStatus::Succeeded)).await;
    store.save_retry_state(retry(runs[0], 0, 1)).await.unwrap();

    store.discard_run(runs[0]).await.unwrap();
    assert!(store.run(runs[0]).await.unwrap().is_none());
    assert_eq!(
        runs_of(&*store, id)
            .await
            .iter()
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        [runs[1]]
    );
    assert_eq!(store.event(id).await.unwrap().unwrap().done_at_ms, None);
    // The alert's next run of pb-1 no longer waits for it.
    assert_eq!(
        claim_ids(&*store, 10).await,
        [only_run_of(&*store, next).await]
    );

    store.discard_run(runs[1]).await.unwrap();
    assert!(store.event(id).await.unwrap().unwrap().done_at_ms.is_some());
    assert_eq!(
        store
            .run_counts(RunCountFilter::default())
            .await
            .unwrap()
            .total(),
        1
    );

    let err = store.discard_run(runs[0]).await.unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownRun { run, .. } if run == runs[0]),
        "{err}"
    );
}

async fn a_rerun_is_queued_after_the_runs_already_queued_for_its_alert(place: &Place) {
    let store = place.open().await;
    let first = store
        .enqueue(event(Some("A"), "A/1", &["pb-1"]))
        .await
        .unwrap()
        .id();
    let original = claim_ids(&*store, 1).await[0];
    let nodes = vec![
        node(0, "trigger", NodeStatus::Succeeded),
        node(1, "enrich", NodeStatus::Succeeded),
        node(2, "ilert", NodeStatus::Failed),
    ];
    store
        .finish_run(original, record(RunStatus::Failed, nodes.clone()))
        .await
        .unwrap();
    assert!(
        store
            .event(first)
            .await
            .unwrap()
            .unwrap()
            .done_at_ms
            .is_some()
    );
    let second = store
        .enqueue(event(Some("A"), "A/2", &["pb-1"]))
        .await
        .unwrap()
        .id();
    let queued = only_run_of(&*store, second).await;

    let before = now_ms();
    let rerun = store
        .rerun(Rerun {
            of: original,
            only_failed: true,
        })
        .await
        .unwrap();
    assert!(rerun > queued, "ids grow in creation order");
    let run = summary(&*store, rerun).await;
    assert_eq!(run.status, RunStatus::Queued);
    assert_eq!(run.rerun_of, Some(original));
    assert_eq!((run.inbox_id, run.playbook_id.as_str()), (first, "pb-1"));
    assert_eq!(run.alert_uuid.as_deref(), Some("A"));
    assert!(run.queued_at_ms >= before && run.queued_at_ms <= now_ms());
    assert_eq!(
        store.event(first).await.unwrap().unwrap().done_at_ms,
        None,
        "the event is open again"
    );
    assert_eq!(summary(&*store, original).await.status, RunStatus::Failed);

    // A/2 was queued first: it goes first.
    assert_eq!(claim_ids(&*store, 10).await, [queued]);
    store
        .finish_run(queued, record(RunStatus::Succeeded, vec![]))
        .await
        .unwrap();
    let claimed = store.claim_runs(10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].run.id, rerun);
    assert_eq!(claimed[0].event.id, first);
    assert_eq!(
        claimed[0].completed_nodes,
        nodes[..2],
        "what succeeded is reused"
    );
    assert!(claimed[0].interrupted_nodes.is_empty());
    store
        .finish_run(rerun, record(RunStatus::Succeeded, vec![]))
        .await
        .unwrap();
    assert!(
        store
            .event(first)
            .await
            .unwrap()
            .unwrap()
            .done_at_ms
            .is_some()
    );

    // A full rerun reuses nothing.
    let full = store
        .rerun(Rerun {
            of: original,
            only_failed: false,
        })
        .await
        .unwrap();
    let claimed = store.claim_runs(10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].run.id, full);
    assert!(claimed[0].completed_nodes.is_empty());

    let unknown = RunId(full.0 + 100);
    let err = store
        .rerun(Rerun {
            of: unknown,
            only_failed: false,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownRun { run, .. } if run == unknown),
        "{err}"
    );
}

async fn dead_letters_wait_for_a_replay_or_a_dismissal(place: &Place) {
    let store = place.open().await;
    for alert in ["D1", "D2", "S", "F", "Q"] {
        store
            .enqueue(event(Some(alert), &format!("{alert}/1"), &["pb-1"]))
            .await
            .unwrap();
    }
    let runs = claim_ids(&*store, 4).await;
    let [d1, d2, succeeded, failed] = runs[..] else {
        panic!("four runs claimed: {runs:?}");
    };
    for (run, status) in [
        (d1, RunStatus::Dead),
        (d2, RunStatus::Dead),
        (succeeded, RunStatus::Succeeded),
        (failed, RunStatus::Failed),
    ] {
        store.finish_run(run, record(status, vec![])).await.unwrap();
    }
    let queued = claim_ids(&*store, 1).await[0];
    assert!(summary(&*store, d1).await.is_unhandled_dead_letter());
    assert_eq!(store.queue_health().await.unwrap().dead_letters, 2);
    assert_eq!(
        store
            .run_counts(RunCountFilter::default())
            .await
            .unwrap()
            .dead,
        2
    );

    for not_dead in [succeeded, failed, queued, RunId(queued.0 + 100)] {
        assert!(
            !store.dismiss_dead_letter(not_dead).await.unwrap(),
            "{not_dead}"
        );
    }
    assert!(store.dismiss_dead_letter(d1).await.unwrap());
    assert!(
        !store.dismiss_dead_letter(d1).await.unwrap(),
        "already dismissed"
    );
    let dismissed = summary(&*store, d1).await;
    assert!(dismissed.dismissed_at_ms.is_some());
    assert!(!dismissed.is_unhandled_dead_letter());
    assert_eq!(dismissed.status, RunStatus::Dead);
    assert_eq!(store.queue_health().await.unwrap().dead_letters, 1);

    // Replaying a dead letter dismisses it.
    let replay = store
        .rerun(Rerun {
            of: d2,
            only_failed: false,
        })
        .await
        .unwrap();
    assert!(summary(&*store, d2).await.dismissed_at_ms.is_some());
    assert!(!store.dismiss_dead_letter(d2).await.unwrap());
    assert_eq!(summary(&*store, replay).await.status, RunStatus::Queued);
    let health = store.queue_health().await.unwrap();
    assert_eq!(health.dead_letters, 0);
    let counts = store.run_counts(RunCountFilter::default()).await.unwrap();
    assert_eq!(
        (counts.dead, counts.queued),
        (2, 2),
        "dismissed runs stay dead"
    );
}

async fn a_run_rerun_while_open_can_still_be_discarded(place: &Place) {
    let store = place.open().await;
    let id = store
        .enqueue(event(Some("A"), "A/1", &["pb-1"]))
        .await
        .unwrap()
        .id();
    let run = claim_ids(&*store, 1).await[0];
    // A rerun is asked for while the run is still open (the API allows it).
    let rerun = store
        .rerun(Rerun {
            of: run,
            only_failed: false,
        })
        .await
        .unwrap();
    // The run's filter does not match: it did not apply.
    store.discard_run(run).await.unwrap();
    assert!(store.run(run).await.unwrap().is_none());
    let kept = summary(&*store, rerun).await;
    assert_eq!(kept.status, RunStatus::Queued);
    assert_eq!(kept.rerun_of, None, "the run it repeated is gone");
    assert_eq!(claim_ids(&*store, 10).await, [rerun]);
    store.discard_run(rerun).await.unwrap();
    assert!(store.event(id).await.unwrap().unwrap().done_at_ms.is_some());
}
