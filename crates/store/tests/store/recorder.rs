//! The executor's observer and retry journal writing through the store: node runs as they
//! start and finish, and the retry state of deliveries.

use std::sync::Arc;

use alertsync_engine::{NodeStatus, RetryJournal, RetryProgress, RunObserver};
use alertsync_store::{NodeRunRecorder, RunId, Store, StoreError};

use crate::{StoreDir, T0, claim_ids, event, flush, node};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recorder_persists_what_the_executor_reports() {
    let dir = StoreDir::temporary();
    let store = dir.open().await;
    store
        .enqueue(event(Some("A"), "A/1", &["pb-1"]))
        .await
        .unwrap();
    let run = claim_ids(&store, 1).await[0];
    let shared: Arc<dyn Store> = Arc::new(store.clone());

    let recorder = NodeRunRecorder::new(shared.clone(), run);
    assert_eq!(recorder.run(), run);
    recorder.node_started(&node(0, "1", NodeStatus::Running));
    recorder.node_finished(&node(0, "1", NodeStatus::Succeeded));
    recorder.node_started(&node(1, "2", NodeStatus::Running));
    assert!(recorder.take_error().is_none());
    // A start is queued without waiting: the next awaited write brings it to disk.
    flush(&store).await;
    let detail = store.run(run).await.unwrap().unwrap();
    assert_eq!(
        detail.nodes,
        [
            node(0, "1", NodeStatus::Succeeded),
            node(1, "2", NodeStatus::Running)
        ]
    );

    // Retry progress is journalled, then forgotten once the node ends.
    let progress = RetryProgress {
        operation: "POST https://api.ilert.com/api/events".to_owned(),
        attempts: 2,
        first_failed_at_ms: T0,
        next_attempt_at_ms: T0 + 30_000,
        last_error: "HTTP 503".to_owned(),
    };
    recorder.waiting(1, "2", &progress).await;
    let retries = store.run(run).await.unwrap().unwrap().retries;
    assert_eq!(retries.len(), 1);
    assert_eq!((retries[0].seq, retries[0].node_id.as_str()), (1, "2"));
    assert_eq!(retries[0].progress(), Some(progress));
    recorder.ended(1).await;
    assert!(store.run(run).await.unwrap().unwrap().retries.is_empty());

    // A write that fails is kept for the caller, once.
    let orphan = NodeRunRecorder::new(shared, RunId(run.0 + 100));
    orphan.node_finished(&node(0, "1", NodeStatus::Succeeded));
    assert!(matches!(
        orphan.take_error(),
        Some(StoreError::UnknownRun { .. })
    ));
    assert!(orphan.take_error().is_none());
}

#[test]
fn the_recorder_works_on_a_current_thread_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = StoreDir::temporary();
    runtime.block_on(async {
        let store = dir.open().await;
        store
            .enqueue(event(None, "cron/1", &["pb-1"]))
            .await
            .unwrap();
        let run = claim_ids(&store, 1).await[0];
        let recorder = NodeRunRecorder::new(Arc::new(store.clone()), run);
        recorder.node_started(&node(0, "1", NodeStatus::Running));
        recorder.node_finished(&node(0, "1", NodeStatus::Failed));
        assert!(recorder.take_error().is_none());
        let detail = store.run(run).await.unwrap().unwrap();
        assert_eq!(detail.nodes, [node(0, "1", NodeStatus::Failed)]);
    });
}
