//! The executor's observer and retry journal writing through the store: node runs as they
//! start and finish, and the retry state of deliveries.

use alertsync_engine::{NodeStatus, RetryJournal, RetryProgress, RunObserver};
use alertsync_store::{NodeRunRecorder, RunId};

use crate::{Place, T0, claim_ids, claim_one, event, flush, node};

conformance! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    the_recorder_persists_what_the_executor_reports,
    #[tokio::test(flavor = "current_thread")]
    the_recorder_works_on_a_current_thread_runtime,
}

async fn the_recorder_persists_what_the_executor_reports(place: &Place) {
    let store = place.open().await;
    let run = claim_one(&*store).await;

    let recorder = NodeRunRecorder::new(store.clone(), run, "1");
    assert_eq!(recorder.run(), run);
    recorder
        .node_finished(&node(0, "1", NodeStatus::Succeeded))
        .await;
    recorder
        .node_started(&node(1, "2", NodeStatus::Running))
        .await;
    recorder
        .node_finished(&node(1, "2", NodeStatus::Succeeded))
        .await;
    // Before the next node starts, the ended action's record is on disk: read at once.
    recorder
        .node_started(&node(2, "3", NodeStatus::Running))
        .await;
    let detail = store.run(run).await.unwrap().unwrap();
    assert_eq!(
        detail.nodes[..2],
        [
            node(0, "1", NodeStatus::Succeeded),
            node(1, "2", NodeStatus::Succeeded)
        ]
    );
    // A start is queued without waiting: the next awaited write brings it to disk.
    flush(&*store).await;
    let detail = store.run(run).await.unwrap().unwrap();
    assert_eq!(detail.nodes[2], node(2, "3", NodeStatus::Running));

    // Retry progress is journalled, then forgotten once the node ends.
    let progress = RetryProgress {
        operation: "POST https://api.ilert.com/api/events".to_owned(),
        attempts: 2,
        first_failed_at_ms: T0,
        next_attempt_at_ms: T0 + 30_000,
        last_error: "HTTP 503".to_owned(),
    };
    recorder.waiting(2, "3", &progress).await;
    let retries = store.run(run).await.unwrap().unwrap().retries;
    assert_eq!(retries.len(), 1);
    assert_eq!((retries[0].seq, retries[0].node_id.as_str()), (2, "3"));
    assert_eq!(retries[0].progress(), Some(progress));
    recorder.ended(2).await;
    assert!(store.run(run).await.unwrap().unwrap().retries.is_empty());

    // A record of a run the store does not have is refused (and logged); the store goes
    // on taking writes.
    let orphan = NodeRunRecorder::new(store.clone(), RunId(run.0 + 100), "1");
    orphan
        .node_finished(&node(1, "2", NodeStatus::Succeeded))
        .await;
    orphan
        .node_started(&node(2, "3", NodeStatus::Running))
        .await;
    store.sync_writes().await.unwrap();
    assert!(store.run(RunId(run.0 + 100)).await.unwrap().is_none());
}

async fn the_recorder_works_on_a_current_thread_runtime(place: &Place) {
    let store = place.open().await;
    store
        .enqueue(event(None, "cron/1", &["pb-1"]))
        .await
        .unwrap();
    let run = claim_ids(&*store, 1).await[0];
    let recorder = NodeRunRecorder::new(store.clone(), run, "0");
    recorder
        .node_started(&node(0, "1", NodeStatus::Running))
        .await;
    recorder
        .node_finished(&node(0, "1", NodeStatus::Failed))
        .await;
    store.sync_writes().await.unwrap();
    let detail = store.run(run).await.unwrap().unwrap();
    assert_eq!(detail.nodes, [node(0, "1", NodeStatus::Failed)]);
}
