//! Runs and node runs: upserts from the executor, resume after a restart, finishing, and
//! the queries of the API and console.

use std::sync::Arc;

use alertsync_engine::{NodeStatus, RunObserver, RunRecord, RunStatus};
use alertsync_store::{
    Checkpoint, InboxId, NewRun, NodeRunRecorder, RetryState, RunCountFilter, RunCounts, RunId,
    RunQuery, RunStart, SqliteStore, Store, StoreError,
};

use crate::{StoreDir, event, node};

async fn start(store: &SqliteStore, inbox_id: InboxId, playbook: &str) -> RunId {
    match store
        .begin_run(NewRun {
            inbox_id,
            playbook_id: playbook.to_owned(),
            trigger_node: "0".to_owned(),
            started_at_ms: 1_700_000_000_000,
        })
        .await
        .unwrap()
    {
        RunStart::Started { id } => id,
        other => panic!("expected a new run, got {other:?}"),
    }
}

fn finished(status: RunStatus, nodes: Vec<alertsync_engine::NodeRecord>) -> RunRecord {
    RunRecord {
        status,
        trigger_node: "0".to_owned(),
        started_at_ms: 1_700_000_000_000,
        ended_at_ms: Some(1_700_000_001_000),
        error: (status == RunStatus::Failed).then(|| "node `2` failed".to_owned()),
        nodes,
    }
}

#[tokio::test]
async fn node_runs_are_upserted_by_seq() {
    let dir = StoreDir::temporary();
    let store = dir.open().await;
    let inbox = store.enqueue(event(Some("A"), "A/1")).await.unwrap().id();
    let run = start(&store, inbox, "pb-1").await;

    store
        .record_node_run(run, node(0, "1", NodeStatus::Running))
        .await
        .unwrap();
    store
        .record_node_run(run, node(0, "1", NodeStatus::Succeeded))
        .await
        .unwrap();
    store
        .record_node_run(run, node(1, "2", NodeStatus::Running))
        .await
        .unwrap();

    let detail = store.run(run).await.unwrap().expect("the run exists");
    assert_eq!(detail.run.status, RunStatus::Running);
    assert_eq!(detail.run.alert_uuid.as_deref(), Some("A"));
    assert_eq!(detail.run.inbox_id, inbox);
    assert_eq!(
        detail.nodes,
        [
            node(0, "1", NodeStatus::Succeeded),
            node(1, "2", NodeStatus::Running)
        ]
    );

    let err = store
        .record_node_run(RunId(999), node(0, "1", NodeStatus::Running))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::UnknownRun {
                run: RunId(999),
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn an_interrupted_run_resumes_without_its_completed_nodes() {
    let dir = StoreDir::temporary();
    let (inbox, run) = {
        let store = dir.open().await;
        let inbox = store.enqueue(event(Some("A"), "A/1")).await.unwrap().id();
        store.claim_ready_events(1).await.unwrap();
        let run = start(&store, inbox, "pb-1").await;
        for record in [
            node(0, "1", NodeStatus::Running),
            node(0, "1", NodeStatus::Succeeded),
            node(1, "2", NodeStatus::Running),
        ] {
            store.record_node_run(run, record).await.unwrap();
        }
        store
            .save_retry_state(RetryState {
                run_id: run,
                seq: 1,
                node_id: "2".to_owned(),
                attempts: 2,
                next_attempt_at_ms: Some(1_700_000_005_000),
                last_error: Some("HTTP 503".to_owned()),
                updated_at_ms: 1_700_000_001_000,
                operation: "POST http://ilert/api/events".to_owned(),
                first_failed_at_ms: Some(1_700_000_000_000),
            })
            .await
            .unwrap();
        (inbox, run)
        // The process dies here: the run is neither finished nor its event completed.
    };

    let store = dir.open().await;
    let unfinished = store.unfinished_runs().await.unwrap();
    assert_eq!(unfinished.len(), 1);
    let resume = &unfinished[0];
    assert_eq!(resume.run.id, run);
    assert_eq!(resume.event.id, inbox);
    assert_eq!(resume.event.dedup_key, "A/1");
    assert_eq!(
        resume.completed_nodes,
        [node(0, "1", NodeStatus::Succeeded)]
    );
    assert_eq!(
        resume.interrupted_nodes,
        [node(1, "2", NodeStatus::Running)]
    );
    assert_eq!(resume.retries.len(), 1);
    assert_eq!(resume.retries[0].attempts, 2);

    // The scheduler gets the event again and finds the run to resume.
    let ready = store.claim_ready_events(10).await.unwrap();
    assert_eq!(ready.len(), 1);
    let again = store
        .begin_run(NewRun {
            inbox_id: inbox,
            playbook_id: "pb-1".to_owned(),
            trigger_node: "0".to_owned(),
            started_at_ms: 1_700_000_009_000,
        })
        .await
        .unwrap();
    match again {
        RunStart::Resume { run } => assert_eq!(*run, unfinished[0]),
        other => panic!("expected a resume, got {other:?}"),
    }

    let nodes = vec![
        node(0, "1", NodeStatus::Succeeded),
        node(1, "2", NodeStatus::Succeeded),
    ];
    store
        .finish_run(run, finished(RunStatus::Succeeded, nodes.clone()))
        .await
        .unwrap();
    store.complete_event(inbox).await.unwrap();
    assert!(store.unfinished_runs().await.unwrap().is_empty());
    let detail = store.run(run).await.unwrap().unwrap();
    assert!(
        detail.retries.is_empty(),
        "a finished run keeps no retry state: {:?}",
        detail.retries
    );

    // Starting it once more (a crash between finishing the run and completing the event)
    // reports the finished run instead of running it again.
    let once_more = store
        .begin_run(NewRun {
            inbox_id: inbox,
            playbook_id: "pb-1".to_owned(),
            trigger_node: "0".to_owned(),
            started_at_ms: 1_700_000_010_000,
        })
        .await
        .unwrap();
    match once_more {
        RunStart::Finished { run: summary } => {
            assert_eq!(summary.id, run);
            assert_eq!(summary.status, RunStatus::Succeeded);
        }
        other => panic!("expected a finished run, got {other:?}"),
    }
    let detail = store.run(run).await.unwrap().unwrap();
    assert_eq!(detail.nodes, nodes);
    assert_eq!(detail.to_record(), finished(RunStatus::Succeeded, nodes));
}

#[tokio::test]
async fn a_run_needs_a_stored_event() {
    let dir = StoreDir::temporary();
    let store = dir.open().await;
    let err = store
        .begin_run(NewRun {
            inbox_id: InboxId(7),
            playbook_id: "pb-1".to_owned(),
            trigger_node: "0".to_owned(),
            started_at_ms: 0,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::UnknownEvent {
                event: InboxId(7),
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn runs_are_listed_newest_first_by_page_and_filter() {
    let dir = StoreDir::temporary();
    let store = dir.open().await;
    // 25 events, each run by pb-1; every fifth also by pb-2. Statuses cycle.
    let statuses = [RunStatus::Succeeded, RunStatus::Failed, RunStatus::Running];
    let mut all = Vec::new();
    for i in 0..25 {
        let alert = format!("alert-{}", i % 3);
        let inbox = store
            .enqueue(event(Some(&alert), &format!("{alert}/{i}")))
            .await
            .unwrap()
            .id();
        let run = start(&store, inbox, "pb-1").await;
        let status = statuses[i % 3];
        if status != RunStatus::Running {
            store
                .finish_run(run, finished(status, vec![]))
                .await
                .unwrap();
        }
        all.push((run, "pb-1", status, alert.clone()));
        if i % 5 == 0 {
            let run = start(&store, inbox, "pb-2").await;
            store
                .finish_run(run, finished(RunStatus::Cancelled, vec![]))
                .await
                .unwrap();
            all.push((run, "pb-2", RunStatus::Cancelled, alert));
        }
    }
    all.reverse(); // newest first

    // Every run once, in pages of 10.
    let mut listed = Vec::new();
    let mut query = RunQuery {
        limit: 10,
        ..RunQuery::default()
    };
    loop {
        let page = store.list_runs(query.clone()).await.unwrap();
        assert!(page.runs.len() <= 10);
        listed.extend(page.runs.iter().map(|r| r.id));
        match page.next_before {
            Some(before) => query.before = Some(before),
            None => break,
        }
    }
    assert_eq!(listed, all.iter().map(|r| r.0).collect::<Vec<_>>());

    // Filters combine.
    let failed_pb1 = store
        .list_runs(RunQuery {
            playbook_id: Some("pb-1".to_owned()),
            status: Some(RunStatus::Failed),
            limit: 100,
            ..RunQuery::default()
        })
        .await
        .unwrap();
    let expected: Vec<RunId> = all
        .iter()
        .filter(|r| r.1 == "pb-1" && r.2 == RunStatus::Failed)
        .map(|r| r.0)
        .collect();
    assert_eq!(
        failed_pb1.runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        expected
    );
    assert_eq!(failed_pb1.next_before, None);

    let alert_1 = store
        .list_runs(RunQuery {
            alert_uuid: Some("alert-1".to_owned()),
            limit: 3,
            ..RunQuery::default()
        })
        .await
        .unwrap();
    assert!(
        alert_1
            .runs
            .iter()
            .all(|r| r.alert_uuid.as_deref() == Some("alert-1"))
    );
    assert_eq!(alert_1.runs.len(), 3);
    assert_eq!(alert_1.next_before, alert_1.runs.last().map(|r| r.id));

    let of_first_event = store
        .list_runs(RunQuery {
            inbox_id: Some(InboxId(1)),
            ..RunQuery::default()
        })
        .await
        .unwrap();
    let playbooks: Vec<_> = of_first_event
        .runs
        .iter()
        .map(|r| r.playbook_id.as_str())
        .collect();
    assert_eq!(playbooks, ["pb-2", "pb-1"]);

    // Counts by status.
    let count = |playbook: &str, status: RunStatus| {
        all.iter()
            .filter(|r| r.1 == playbook && r.2 == status)
            .count() as u64
    };
    let counts = store.run_counts(RunCountFilter::default()).await.unwrap();
    assert_eq!(counts.total(), all.len() as u64);
    assert_eq!(
        counts,
        RunCounts {
            running: count("pb-1", RunStatus::Running),
            succeeded: count("pb-1", RunStatus::Succeeded),
            failed: count("pb-1", RunStatus::Failed),
            cancelled: count("pb-2", RunStatus::Cancelled),
        }
    );
    let pb2 = store
        .run_counts(RunCountFilter {
            playbook_id: Some("pb-2".to_owned()),
            ..RunCountFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        pb2,
        RunCounts {
            cancelled: 5,
            ..RunCounts::default()
        }
    );

    // A page of nothing.
    let empty = store
        .list_runs(RunQuery {
            limit: 0,
            ..RunQuery::default()
        })
        .await
        .unwrap();
    assert!(empty.runs.is_empty() && empty.next_before.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recorder_persists_what_the_executor_reports() {
    let dir = StoreDir::temporary();
    let store = dir.open().await;
    let inbox = store.enqueue(event(Some("A"), "A/1")).await.unwrap().id();
    let run = start(&store, inbox, "pb-1").await;
    let shared: Arc<dyn Store> = Arc::new(store.clone());

    // The executor calls its observer from async code on a runtime worker.
    let recorder = NodeRunRecorder::new(shared.clone(), run);
    recorder.node_started(&node(0, "1", NodeStatus::Running));
    recorder.node_finished(&node(0, "1", NodeStatus::Succeeded));
    recorder.node_started(&node(1, "2", NodeStatus::Running));
    assert!(recorder.take_error().is_none());
    // A start is queued without waiting: the next awaited write brings it to disk.
    store
        .set_checkpoint(Checkpoint::new("any", "write"))
        .await
        .unwrap();
    let detail = store.run(run).await.unwrap().unwrap();
    assert_eq!(
        detail.nodes,
        [
            node(0, "1", NodeStatus::Succeeded),
            node(1, "2", NodeStatus::Running)
        ]
    );

    // A write that fails is kept for the caller.
    let orphan = NodeRunRecorder::new(shared, RunId(999));
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
        let inbox = store.enqueue(event(None, "cron/1")).await.unwrap().id();
        let run = start(&store, inbox, "pb-1").await;
        let recorder = NodeRunRecorder::new(Arc::new(store.clone()), run);
        recorder.node_started(&node(0, "1", NodeStatus::Running));
        recorder.node_finished(&node(0, "1", NodeStatus::Failed));
        assert!(recorder.take_error().is_none());
        let detail = store.run(run).await.unwrap().unwrap();
        assert_eq!(detail.nodes, [node(0, "1", NodeStatus::Failed)]);
    });
}
