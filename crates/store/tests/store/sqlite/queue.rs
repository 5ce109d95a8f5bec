//! The run queue when a row of the file cannot be read: that run becomes a dead letter and
//! the others are still handed out.

use alertsync_engine::RunStatus;
use alertsync_store::Store;

use super::StoreDir;
use crate::{claim_ids, event, only_run_of, summary};

#[tokio::test]
async fn a_run_whose_event_cannot_be_read_becomes_a_dead_letter_and_the_queue_goes_on() {
    let dir = StoreDir::temporary();
    let store = dir.open().await;
    let damaged = store
        .enqueue(event(Some("A"), "A/1", &["pb-1"]))
        .await
        .unwrap()
        .id();
    let sound = store
        .enqueue(event(Some("B"), "B/1", &["pb-1"]))
        .await
        .unwrap()
        .id();
    dir.raw()
        .execute(
            "UPDATE inbox SET payload = 'not JSON' WHERE id = ?1",
            [damaged.0],
        )
        .unwrap();

    let claimed = claim_ids(&store, 10).await;
    assert_eq!(
        claimed,
        [only_run_of(&store, sound).await],
        "the sound run is handed out"
    );
    let dead = summary(&store, only_run_of(&store, damaged).await).await;
    assert_eq!(dead.status, RunStatus::Dead);
    assert!(
        dead.error
            .as_deref()
            .is_some_and(|e| e.contains("cannot be read")),
        "{dead:?}"
    );
    assert!(dead.is_unhandled_dead_letter());
    assert_eq!(store.queue_health().await.unwrap().dead_letters, 1);
}
