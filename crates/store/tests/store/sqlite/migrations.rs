//! The schema: created in an empty file, upgraded in a file of an older alertsync (whose
//! open events are then routed to their runs), refused when newer; unreadable data is an
//! error that names it.

use alertsync_engine::{NodeStatus, RunStatus};
use alertsync_store::{
    Enqueued, EventSource, InboxCounts, InboxId, RunAlert, SqliteStore, Store, StoreError,
};
use serde_json::json;

use super::StoreDir;
use crate::{T0, claim_ids, event, node, runs_of, target};

/// The versions recorded in the file, oldest first.
fn versions(dir: &StoreDir) -> Vec<(i64, i64)> {
    let conn = dir.raw();
    let mut statement = conn
        .prepare("SELECT version, applied_at_ms FROM schema_version ORDER BY version")
        .unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test]
async fn a_new_file_gets_the_whole_schema_once() {
    let dir = StoreDir::temporary();
    assert!(!dir.path().parent().unwrap().exists());
    let store = dir.open().await;
    store
        .enqueue(event(Some("A"), "A/1", &["pb-1"]))
        .await
        .unwrap();
    drop(store);

    let applied = versions(&dir);
    let numbers: Vec<i64> = applied.iter().map(|v| v.0).collect();
    assert_eq!(
        numbers,
        (1..=SqliteStore::schema_version()).collect::<Vec<_>>()
    );
    assert_eq!(SqliteStore::schema_version(), 9);
    let permissions = std::fs::metadata(dir.path()).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&permissions) & 0o777,
        0o600,
        "the store is readable by its owner only"
    );
    let mode: String = dir
        .raw()
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");

    // Opening again migrates nothing and keeps the data.
    let store = dir.open().await;
    assert_eq!(versions(&dir), applied);
    assert_eq!(
        store.inbox_counts().await.unwrap(),
        InboxCounts { open: 1, done: 0 }
    );
}

#[tokio::test]
async fn an_empty_existing_file_is_given_the_schema() {
    let dir = StoreDir::temporary();
    std::fs::create_dir_all(dir.path().parent().unwrap()).unwrap();
    std::fs::write(dir.path(), b"").unwrap();
    let store = dir.open().await;
    assert!(
        store
            .enqueue(event(None, "cron/1", &["pb-1"]))
            .await
            .unwrap()
            .is_new()
    );
    assert_eq!(versions(&dir).len() as i64, SqliteStore::schema_version());
}

#[tokio::test]
async fn a_file_of_a_newer_alertsync_is_refused() {
    let dir = StoreDir::temporary();
    drop(dir.open().await);
    let newer = SqliteStore::schema_version() + 1;
    dir.raw()
        .execute(
            "INSERT INTO schema_version (version, applied_at_ms) VALUES (?1, 0)",
            [newer],
        )
        .unwrap();
    let err = SqliteStore::open(dir.path()).await.unwrap_err();
    let StoreError::SchemaTooNew {
        found, supported, ..
    } = err
    else {
        panic!("expected SchemaTooNew, got {err}");
    };
    assert_eq!((found, supported), (newer, SqliteStore::schema_version()));
}

/// Writes a file as alertsync with schema version 3 left it: event 1 (alert A) open with
/// an interrupted run of pb-1, event 2 a webhook for pb-hook not started yet, event 3
/// done, event 4 open although its run of pb-1 had ended, event 5 open with no run.
fn an_older_file(dir: &StoreDir) {
    std::fs::create_dir_all(dir.path().parent().unwrap()).unwrap();
    let conn = dir.raw();
    conn.execute_batch(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at_ms INTEGER NOT NULL);
         INSERT INTO schema_version VALUES (1, 0), (2, 0), (3, 0);",
    )
    .unwrap();
    for sql in [
        include_str!("../../../src/sqlite/migrations/0001_initial.sql"),
        include_str!("../../../src/sqlite/migrations/0002_retry_operation.sql"),
        include_str!("../../../src/sqlite/migrations/0003_dedup_expiry.sql"),
    ] {
        conn.execute_batch(sql).unwrap();
    }
    let t = |offset: u64| (T0 + offset) as i64;
    conn.execute_batch(&format!(
        "INSERT INTO inbox (id, source, account, playbook_id, trigger_node, alert_uuid, \
             dedup_key, payload, received_at_ms, claimed_by, done_at_ms) VALUES \
         (1, 'live', 'sekoia-prod', NULL, NULL, 'A', 'A/1', '{{\"alert_uuid\":\"A\"}}', \
             {}, 'old', NULL), \
         (2, 'webhook', 'sekoia-prod', 'pb-hook', '3', NULL, 'webhook/1', \
             '{{\"body\":{{\"x\":1}}}}', {}, NULL, NULL), \
         (3, 'live', 'sekoia-prod', NULL, NULL, 'B', 'B/1', '{{\"alert_uuid\":\"B\"}}', \
             {}, NULL, {}), \
         (4, 'live', 'sekoia-prod', NULL, NULL, 'C', 'C/1', '{{\"alert_uuid\":\"C\"}}', \
             {}, NULL, NULL), \
         (5, 'live', 'sekoia-prod', NULL, NULL, 'D', 'D/1', '{{\"alert_uuid\":\"D\"}}', \
             {}, NULL, NULL);",
        t(0),
        t(10),
        t(20),
        t(30),
        t(40),
        t(50)
    ))
    .unwrap();
    conn.execute(
        "INSERT INTO runs (id, inbox_id, playbook_id, trigger_node, alert_uuid, status, \
             started_at_ms, ended_at_ms) \
         VALUES (1, 1, 'pb-1', '0', 'A', 'running', ?1, NULL), \
                (2, 3, 'pb-1', '0', 'B', 'succeeded', ?2, ?3), \
                (3, 4, 'pb-1', '0', 'C', 'succeeded', ?4, ?5)",
        [t(2), t(21), t(25), t(41), t(45)],
    )
    .unwrap();
    let record = serde_json::to_string(&node(0, "trigger", NodeStatus::Succeeded)).unwrap();
    conn.execute(
        "INSERT INTO node_runs (run_id, seq, node_id, name, status, started_at_ms, record) \
         VALUES (1, 0, 'trigger', 'node trigger', 'succeeded', ?1, ?2)",
        rusqlite::params![t(0), record],
    )
    .unwrap();
    let mut alert_trigger = node(0, "trigger", NodeStatus::Succeeded);
    alert_trigger.results = Some(json!({"alert_uuid": "B", "short_id": "ALbbb", "urgency": 64}));
    conn.execute(
        "INSERT INTO node_runs (run_id, seq, node_id, name, status, started_at_ms, record) \
         VALUES (2, 0, 'trigger', 'node trigger', 'succeeded', ?1, ?2)",
        rusqlite::params![t(21), serde_json::to_string(&alert_trigger).unwrap()],
    )
    .unwrap();
}

#[tokio::test]
async fn an_older_file_is_upgraded_and_its_open_events_routed() {
    let dir = StoreDir::temporary();
    an_older_file(&dir);
    let store = dir.open().await;
    assert_eq!(versions(&dir).len() as i64, SqliteStore::schema_version());

    // The open events wait for their runs; the done one does not.
    let unrouted = store.unrouted_events().await.unwrap();
    let ids: Vec<InboxId> = unrouted.iter().map(|e| e.id).collect();
    assert_eq!(ids, [InboxId(1), InboxId(2), InboxId(4), InboxId(5)]);
    let webhook = &unrouted[1];
    assert_eq!(webhook.source, EventSource::Webhook);
    assert_eq!(webhook.alert_uuid, None);
    assert_eq!(webhook.payload["body"], json!({"x": 1}));
    assert_eq!(
        webhook.payload["playbook_id"], "pb-hook",
        "the target moved into the payload"
    );
    assert_eq!(webhook.payload["trigger_node"], "3");
    assert_eq!(
        store.inbox_counts().await.unwrap(),
        InboxCounts { open: 4, done: 1 }
    );
    let done = store.event(InboxId(3)).await.unwrap().unwrap();
    assert_eq!(done.done_at_ms, Some(T0 + 30));

    // The old runs are kept: the interrupted one still running, with its node runs.
    let interrupted = store.run(alertsync_store::RunId(1)).await.unwrap().unwrap();
    assert_eq!(interrupted.run.status, RunStatus::Running);
    assert_eq!(interrupted.run.queued_at_ms, T0 + 2);
    assert_eq!(interrupted.run.started_at_ms, Some(T0 + 2));
    assert_eq!(
        interrupted.nodes,
        [node(0, "trigger", NodeStatus::Succeeded)]
    );
    let finished = store.run(alertsync_store::RunId(2)).await.unwrap().unwrap();
    assert_eq!(finished.run.status, RunStatus::Succeeded);
    assert_eq!(finished.run.ended_at_ms, Some(T0 + 25));
    // Old runs know their alert as their trigger's output told it: found by short id.
    assert_eq!(
        finished.run.alert,
        Some(RunAlert {
            account: Some("sekoia-prod".to_owned()),
            short_id: Some("ALbbb".to_owned()),
            title: None,
            urgency: Some(64),
        })
    );
    assert_eq!(
        interrupted.run.alert.and_then(|alert| alert.short_id),
        None,
        "its trigger output names no short id"
    );

    // Routing adds the runs an event lacks, by playbook.
    store
        .route_event(InboxId(1), vec![target("pb-1"), target("pb-2")])
        .await
        .unwrap();
    let runs: Vec<_> = runs_of(&store, InboxId(1))
        .await
        .into_iter()
        .map(|r| (r.playbook_id, r.status, r.queued_at_ms))
        .collect();
    assert_eq!(
        runs,
        [
            ("pb-1".to_owned(), RunStatus::Running, T0 + 2),
            ("pb-2".to_owned(), RunStatus::Queued, T0)
        ]
    );
    let hook = alertsync_store::RunTarget {
        playbook_id: "pb-hook".to_owned(),
        trigger_node: "3".to_owned(),
    };
    store.route_event(InboxId(2), vec![hook]).await.unwrap();
    let hook_runs = runs_of(&store, InboxId(2)).await;
    assert_eq!(hook_runs.len(), 1);
    assert_eq!(hook_runs[0].trigger_node, "3");
    // An event whose runs all ended before, or that starts none, is done once routed.
    store
        .route_event(InboxId(4), vec![target("pb-1")])
        .await
        .unwrap();
    assert_eq!(runs_of(&store, InboxId(4)).await.len(), 1, "no second run");
    store.route_event(InboxId(5), vec![]).await.unwrap();
    for done in [InboxId(4), InboxId(5)] {
        let event = store.event(done).await.unwrap().unwrap();
        assert!(event.done_at_ms.is_some(), "{event:?}");
    }
    assert_eq!(
        store.inbox_counts().await.unwrap(),
        InboxCounts { open: 2, done: 3 }
    );
    assert!(store.unrouted_events().await.unwrap().is_empty());
    let err = store.route_event(InboxId(99), vec![]).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::UnknownEvent {
                event: InboxId(99),
                ..
            }
        ),
        "{err}"
    );

    // Every run is handed out; the interrupted one resumes after its completed node.
    let claimed = store.claim_runs(10).await.unwrap();
    assert_eq!(claimed.len(), 3);
    assert_eq!(claimed[0].run.id, alertsync_store::RunId(1));
    assert_eq!(
        claimed[0].completed_nodes,
        [node(0, "trigger", NodeStatus::Succeeded)]
    );
    assert_eq!(claimed[1].run.playbook_id, "pb-2");
    assert_eq!(claimed[2].run.playbook_id, "pb-hook");
    assert!(claim_ids(&store, 10).await.is_empty());

    // Dedup keys carry over.
    assert_eq!(
        store
            .enqueue(event(Some("A"), "A/1", &["pb-1"]))
            .await
            .unwrap(),
        Enqueued::Duplicate(InboxId(1))
    );
}

#[tokio::test]
async fn unreadable_data_is_an_error_that_names_it() {
    let dir = StoreDir::temporary();
    let id = {
        let store = dir.open().await;
        store
            .enqueue(event(Some("A"), "A/1", &["pb-1"]))
            .await
            .unwrap()
            .id()
    };
    dir.raw()
        .execute(
            "UPDATE inbox SET payload = '{not json' WHERE id = ?1",
            [id.0],
        )
        .unwrap();
    let store = dir.open().await;
    let err = store.event(id).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(
        err.to_string().contains(&format!("inbox event {id}")),
        "{err}"
    );
}
