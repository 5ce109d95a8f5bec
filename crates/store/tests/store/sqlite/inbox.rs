//! The inbox's transactions when the file refuses a write halfway through one: the event
//! is stored with all its runs, and a back-fill page with its checkpoint, or nothing is.

use alertsync_store::{Checkpoint, InboxCounts, RunCountFilter, Store, StoreError};

use super::StoreDir;
use crate::event;

/// Makes the file refuse to queue runs of playbook `refused`, as a failing disk would
/// refuse a write halfway through a transaction.
fn refuse_runs_of_playbook_refused(dir: &StoreDir) {
    dir.raw()
        .execute_batch(
            "CREATE TRIGGER refuse_runs BEFORE INSERT ON runs \
             WHEN NEW.playbook_id = 'refused' \
             BEGIN SELECT RAISE(ABORT, 'run refused'); END;",
        )
        .unwrap();
}

#[tokio::test]
async fn an_event_whose_runs_cannot_be_queued_is_not_stored() {
    let dir = StoreDir::temporary();
    drop(dir.open().await);
    refuse_runs_of_playbook_refused(&dir);
    let store = dir.open().await;

    let err = store
        .enqueue(event(Some("A"), "A/1", &["pb-1", "refused"]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Backend {
                operation: "enqueue",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("run refused"), "{err}");
    assert_eq!(store.inbox_counts().await.unwrap(), InboxCounts::default());
    assert_eq!(
        store
            .run_counts(RunCountFilter::default())
            .await
            .unwrap()
            .total(),
        0,
        "the run queued before the failure is rolled back with the event"
    );
    // The key was not taken.
    assert!(
        store
            .enqueue(event(Some("A"), "A/1", &["pb-1"]))
            .await
            .unwrap()
            .is_new()
    );
}

#[tokio::test]
async fn a_batch_with_an_event_that_cannot_be_stored_stores_nothing() {
    let dir = StoreDir::temporary();
    drop(dir.open().await);
    refuse_runs_of_playbook_refused(&dir);
    let store = dir.open().await;
    store
        .set_checkpoint(Checkpoint::new("backfill/sekoia-prod", "before"))
        .await
        .unwrap();

    let err = store
        .enqueue_batch(
            vec![
                event(Some("A"), "A/1", &["pb-1"]),
                event(Some("B"), "B/1", &["refused"]),
            ],
            Some(Checkpoint::new("backfill/sekoia-prod", "after")),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err}");
    assert_eq!(store.inbox_counts().await.unwrap(), InboxCounts::default());
    assert_eq!(
        store
            .checkpoint("backfill/sekoia-prod")
            .await
            .unwrap()
            .as_deref(),
        Some("before")
    );
    let retried = store
        .enqueue_batch(vec![event(Some("A"), "A/1", &["pb-1"])], None)
        .await
        .unwrap();
    assert!(retried[0].is_new());
}
