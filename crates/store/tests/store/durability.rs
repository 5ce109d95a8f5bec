//! What reaches the disk: writes queued without waiting are committed before the writes
//! after them, and closing and reopening the store keeps everything that was stored.

use alertsync_engine::{NodeStatus, RunStatus, now_ms};
use alertsync_store::{AlertLink, Checkpoint, RunCountFilter, RunId, RunQuery, Store, WriteBehind};

use crate::{
    Place, T0, claim_ids, claim_one, event, hold, node, record, record_node, retry, summary,
};

conformance! {
    writes_queued_without_waiting_are_committed_before_later_writes,
    a_runs_end_right_after_its_records_leaves_the_records_of_its_end,
    closing_and_reopening_the_store_keeps_everything,
}

async fn writes_queued_without_waiting_are_committed_before_later_writes(place: &Place) {
    let run = {
        let store = place.open().await;
        let run = claim_one(&*store).await;
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
        record_node(&*store, run, node(1, "ilert", NodeStatus::Running)).await;
        let health = store.write_health();
        assert_eq!((health.failing_since_ms, health.last_error), (None, None));
        run
    };

    let store = place.open().await;
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

/// A run's start, records and alert link queued without waiting, then at once its end with
/// fewer records than were queued (a backend may leave out what the end overwrites): the
/// run has exactly its end's records, and the link is kept.
async fn a_runs_end_right_after_its_records_leaves_the_records_of_its_end(place: &Place) {
    let (run, nodes) = {
        let store = place.open().await;
        let run = claim_one(&*store).await;
        store.write_behind(WriteBehind::RunStarted { run, at_ms: T0 + 7 });
        let queued = [
            node(0, "trigger", NodeStatus::Running),
            node(0, "trigger", NodeStatus::Succeeded),
            node(1, "ilert", NodeStatus::Running),
            node(2, "mattermost", NodeStatus::Running),
            node(1, "ilert", NodeStatus::Succeeded),
        ];
        for node in queued {
            store.write_behind(WriteBehind::NodeRecorded {
                run,
                node: Box::new(node),
            });
        }
        store.write_behind(WriteBehind::AlertLinked(AlertLink {
            system: "ilert".to_owned(),
            remote_id: "2983781".to_owned(),
            alert_uuid: "A".to_owned(),
        }));
        let nodes = vec![
            node(0, "trigger", NodeStatus::Succeeded),
            node(1, "ilert", NodeStatus::Succeeded),
        ];
        let mut end = record(RunStatus::Succeeded, nodes.clone());
        end.started_at_ms = T0 + 7;
        store.finish_run(run, end).await.unwrap();
        (run, nodes)
    };

    let store = place.open().await;
    let detail = store.run(run).await.unwrap().unwrap();
    assert_eq!(detail.run.status, RunStatus::Succeeded);
    assert_eq!(detail.run.started_at_ms, Some(T0 + 7));
    assert_eq!(detail.nodes, nodes);
    assert_eq!(
        store
            .linked_alert("ilert", "2983781")
            .await
            .unwrap()
            .as_deref(),
        Some("A")
    );
    assert!(claim_ids(&*store, 10).await.is_empty(), "the run is over");
}

/// Everything a store answers about its content.
async fn everything(store: &dyn Store) -> String {
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

async fn closing_and_reopening_the_store_keeps_everything(place: &Place) {
    let (before, waiting) = {
        let store = place.open().await;
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
        let runs = claim_ids(&*store, 3).await;
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
        (everything(&*store).await, runs[1])
    };

    let store = place.open().await;
    assert_eq!(everything(&*store).await, before);
    let parked = summary(&*store, waiting).await;
    assert_eq!(parked.status, RunStatus::Waiting);
    assert_eq!(parked.waiting_on.as_deref(), Some("ilert"));
    // And once more.
    drop(store);
    let store = place.open().await;
    assert_eq!(everything(&*store).await, before);
}
