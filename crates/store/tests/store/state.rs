//! Retry state, checkpoints, playbook health, the schema version and unreadable data.

use alertsync_engine::NodeStatus;
use alertsync_store::{
    Checkpoint, DISABLE_AFTER_FAILURES, NewRun, RetryState, RunId, RunStart, SqliteOptions,
    SqliteStore, Store, StoreError,
};

use crate::{StoreDir, event, node};

#[tokio::test]
async fn retry_state_survives_a_restart_and_can_be_cleared() {
    let dir = StoreDir::temporary();
    let retry = RetryState {
        run_id: RunId(1),
        seq: 3,
        node_id: "ilert".to_owned(),
        attempts: 4,
        next_attempt_at_ms: Some(1_700_000_060_000),
        last_error: Some("ilert answered 429 Too Many Requests".to_owned()),
        updated_at_ms: 1_700_000_030_000,
        operation: "POST https://api.ilert.com/api/events".to_owned(),
        first_failed_at_ms: Some(1_700_000_000_000),
    };
    {
        let store = dir.open().await;
        let inbox = store.enqueue(event(Some("A"), "A/1")).await.unwrap().id();
        let started = store
            .begin_run(NewRun {
                inbox_id: inbox,
                playbook_id: "pb-1".to_owned(),
                trigger_node: "0".to_owned(),
                started_at_ms: 0,
            })
            .await
            .unwrap();
        assert_eq!(started, RunStart::Started { id: RunId(1) });
        store
            .record_node_run(RunId(1), node(3, "ilert", NodeStatus::Running))
            .await
            .unwrap();
        let first = RetryState {
            attempts: 1,
            ..retry.clone()
        };
        store.save_retry_state(first).await.unwrap();
        store.save_retry_state(retry.clone()).await.unwrap();
    }

    let store = dir.open().await;
    assert_eq!(
        store.retry_state(RunId(1), 3).await.unwrap(),
        Some(retry.clone())
    );
    assert_eq!(store.retry_state(RunId(1), 2).await.unwrap(), None);
    let detail = store.run(RunId(1)).await.unwrap().unwrap();
    assert_eq!(detail.retries, [retry]);

    store.clear_retry_state(RunId(1), 3).await.unwrap();
    assert_eq!(store.retry_state(RunId(1), 3).await.unwrap(), None);

    let err = store
        .save_retry_state(RetryState {
            run_id: RunId(5),
            seq: 0,
            node_id: "x".to_owned(),
            attempts: 1,
            next_attempt_at_ms: None,
            last_error: None,
            updated_at_ms: 0,
            operation: String::new(),
            first_failed_at_ms: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownRun { .. }), "{err}");
}

#[tokio::test]
async fn checkpoints_keep_the_last_value_across_restarts() {
    let dir = StoreDir::temporary();
    {
        let store = dir.open().await;
        assert_eq!(
            store.checkpoint("backfill/sekoia-prod").await.unwrap(),
            None
        );
        store
            .set_checkpoint(Checkpoint::new(
                "backfill/sekoia-prod",
                "2024-05-01T10:00:00Z",
            ))
            .await
            .unwrap();
        store
            .set_checkpoint(Checkpoint::new(
                "backfill/sekoia-prod",
                "2024-05-01T11:00:00Z",
            ))
            .await
            .unwrap();
        store
            .set_checkpoint(Checkpoint::new(
                "backfill/sekoia-test",
                "2024-04-01T00:00:00Z",
            ))
            .await
            .unwrap();
    }
    let store = dir.open().await;
    assert_eq!(
        store
            .checkpoint("backfill/sekoia-prod")
            .await
            .unwrap()
            .as_deref(),
        Some("2024-05-01T11:00:00Z")
    );
    assert_eq!(
        store
            .checkpoint("backfill/sekoia-test")
            .await
            .unwrap()
            .as_deref(),
        Some("2024-04-01T00:00:00Z")
    );
}

#[tokio::test]
async fn a_playbook_is_disabled_after_five_technical_failures_in_a_row() {
    assert_eq!(DISABLE_AFTER_FAILURES, 5);
    let dir = StoreDir::temporary();
    {
        let store = dir.open().await;
        assert!(!store.playbook_health("pb-1").await.unwrap().is_disabled());

        // Four failures, then a success: the count starts again.
        for _ in 0..4 {
            let health = store
                .record_playbook_failure("pb-1", "connect timeout")
                .await
                .unwrap();
            assert!(!health.is_disabled());
        }
        assert_eq!(
            store
                .playbook_health("pb-1")
                .await
                .unwrap()
                .consecutive_failures,
            4
        );
        let health = store.record_playbook_success("pb-1").await.unwrap();
        assert_eq!(health.consecutive_failures, 0);
        assert_eq!(health.last_error, None);

        for i in 1..=4 {
            let health = store
                .record_playbook_failure("pb-1", &format!("HTTP 503 #{i}"))
                .await
                .unwrap();
            assert_eq!(health.consecutive_failures, i);
            assert!(!health.is_disabled());
        }
        let health = store
            .record_playbook_failure("pb-1", "HTTP 503 #5")
            .await
            .unwrap();
        let disabled = health.disabled.expect("disabled after the fifth failure");
        assert!(
            disabled.reason.contains("5 runs in a row"),
            "{}",
            disabled.reason
        );
        assert!(
            disabled.reason.contains("HTTP 503 #5"),
            "{}",
            disabled.reason
        );

        // Other playbooks are not affected.
        store.record_playbook_failure("pb-2", "boom").await.unwrap();
    }

    // Still disabled after a restart, with its reason; a success does not enable it.
    let store = dir.open().await;
    let health = store.playbook_health("pb-1").await.unwrap();
    assert!(health.is_disabled());
    assert_eq!(health.last_error.as_deref(), Some("HTTP 503 #5"));
    let reason = health.disabled.clone().unwrap().reason;
    assert_eq!(
        store
            .record_playbook_failure("pb-1", "again")
            .await
            .unwrap()
            .disabled
            .unwrap()
            .reason,
        reason,
        "the reason names the failure that disabled it"
    );
    assert!(
        store
            .record_playbook_success("pb-1")
            .await
            .unwrap()
            .is_disabled()
    );

    let all = store.all_playbook_health().await.unwrap();
    let ids: Vec<_> = all.iter().map(|h| h.playbook_id.as_str()).collect();
    assert_eq!(ids, ["pb-1", "pb-2"]);
    assert!(!all[1].is_disabled());

    let enabled = store.enable_playbook("pb-1").await.unwrap();
    assert!(!enabled.is_disabled());
    assert_eq!(enabled.consecutive_failures, 0);
    assert!(!store.playbook_health("pb-1").await.unwrap().is_disabled());
}

#[tokio::test]
async fn an_operator_disables_a_playbook_with_a_reason_until_it_is_enabled() {
    let dir = StoreDir::temporary();
    {
        let store = dir.open().await;
        store
            .record_playbook_failure("pb-1", "HTTP 503")
            .await
            .unwrap();
        let health = store
            .disable_playbook("pb-1", "paused for maintenance")
            .await
            .unwrap();
        assert_eq!(health.consecutive_failures, 1, "failures are kept");
        let again = store
            .disable_playbook("pb-1", "another reason")
            .await
            .unwrap();
        assert_eq!(again.disabled, health.disabled, "the first reason stays");
    }
    let store = dir.open().await;
    let health = store.playbook_health("pb-1").await.unwrap();
    assert_eq!(
        health.disabled.map(|d| d.reason).as_deref(),
        Some("paused for maintenance")
    );
    assert!(!store.enable_playbook("pb-1").await.unwrap().is_disabled());
}

#[tokio::test]
async fn the_disable_threshold_is_configurable() {
    let dir = StoreDir::temporary();
    let options = SqliteOptions {
        disable_after_failures: 2,
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open_with(dir.path(), options).await.unwrap();
    assert!(
        !store
            .record_playbook_failure("pb", "x")
            .await
            .unwrap()
            .is_disabled()
    );
    assert!(
        store
            .record_playbook_failure("pb", "x")
            .await
            .unwrap()
            .is_disabled()
    );
}

#[tokio::test]
async fn the_schema_version_is_recorded_and_a_newer_file_is_refused() {
    let dir = StoreDir::temporary();
    drop(dir.open().await);
    {
        let conn = rusqlite::Connection::open(dir.path()).unwrap();
        let version: i64 = conn
            .query_row("SELECT MAX(version) FROM schema_version", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(version, SqliteStore::schema_version());
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
    // Opening again migrates nothing and keeps the data.
    drop(dir.open().await);
    {
        let conn = rusqlite::Connection::open(dir.path()).unwrap();
        conn.execute(
            "INSERT INTO schema_version (version, applied_at_ms) VALUES (?1, 0)",
            [SqliteStore::schema_version() + 1],
        )
        .unwrap();
    }
    let err = SqliteStore::open(dir.path()).await.unwrap_err();
    assert!(matches!(err, StoreError::SchemaTooNew { .. }), "{err}");
    assert!(err.to_string().contains("newer"), "{err}");
}

#[tokio::test]
async fn unreadable_data_is_an_error_that_names_it() {
    let dir = StoreDir::temporary();
    let id = {
        let store = dir.open().await;
        store.enqueue(event(Some("A"), "A/1")).await.unwrap().id()
    };
    {
        let conn = rusqlite::Connection::open(dir.path()).unwrap();
        conn.execute(
            "UPDATE inbox SET payload = '{not json' WHERE id = ?1",
            [id.0],
        )
        .unwrap();
    }
    let store = dir.open().await;
    let err = store.event(id).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(
        err.to_string().contains(&format!("inbox event {id}")),
        "{err}"
    );
}
