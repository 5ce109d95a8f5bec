//! The small state beside the queue: retry state of node runs, trigger checkpoints and
//! playbook health (failures in a row, disabled or not).

use alertsync_engine::now_ms;
use alertsync_store::{Checkpoint, PlaybookHealth, RetryState, RunId, StoreError, WriteBehind};

use crate::{Place, claim_ids, claim_one, event, flush, retry};

conformance! {
    retry_state_is_saved_replaced_and_cleared,
    checkpoints_are_listed_and_forgotten_by_prefix,
    checkpoints_keep_their_last_value_across_restarts,
    failures_are_counted_but_never_disable_a_playbook_by_themselves,
    a_disabled_playbook_keeps_its_first_reason_until_enabled,
}

/// Retry state with its optional fields empty.
fn no_attempt_planned(run: RunId, seq: usize) -> RetryState {
    RetryState {
        next_attempt_at_ms: None,
        last_error: None,
        first_failed_at_ms: None,
        ..retry(run, seq, 2)
    }
}

async fn retry_state_is_saved_replaced_and_cleared(place: &Place) {
    let run = {
        let store = place.open().await;
        let run = claim_one(&*store).await;
        store.save_retry_state(retry(run, 3, 1)).await.unwrap();
        store.save_retry_state(retry(run, 3, 4)).await.unwrap();
        store
            .save_retry_state(no_attempt_planned(run, 1))
            .await
            .unwrap();
        run
    };

    let store = place.open().await;
    let other = no_attempt_planned(run, 1);
    let detail = store.run(run).await.unwrap().unwrap();
    assert_eq!(
        detail.retries,
        [other.clone(), retry(run, 3, 4)],
        "by seq, the last saved"
    );

    store.clear_retry_state(run, 3).await.unwrap();
    store.clear_retry_state(run, 3).await.unwrap();
    store.clear_retry_state(run, 7).await.unwrap();
    assert_eq!(store.run(run).await.unwrap().unwrap().retries, [other]);

    let unknown = RunId(run.0 + 100);
    let err = store
        .save_retry_state(retry(unknown, 0, 1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownRun { run, .. } if run == unknown),
        "{err}"
    );
}

async fn checkpoints_are_listed_and_forgotten_by_prefix(place: &Place) {
    let store = place.open().await;
    for key in [
        "threshold/a/1",
        "threshold/a/2",
        "threshold/b/1",
        "thresholds",
    ] {
        store
            .set_checkpoint(Checkpoint::new(key, format!("value of {key}")))
            .await
            .unwrap();
    }
    let listed = store.checkpoints_under("threshold/a/").await.unwrap();
    let keys: Vec<&str> = listed.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["threshold/a/1", "threshold/a/2"]);
    assert_eq!(listed[1].value, "value of threshold/a/2");
    let before_they_were_set = now_ms() - 60_000;
    assert_eq!(
        store
            .forget_checkpoints("threshold/", before_they_were_set)
            .await
            .unwrap(),
        0,
        "none is that old"
    );
    let later = now_ms() + 1;
    assert_eq!(
        store
            .forget_checkpoints("threshold/a/", later)
            .await
            .unwrap(),
        2
    );
    let left = store.checkpoints_under("threshold").await.unwrap();
    let keys: Vec<&str> = left.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["threshold/b/1", "thresholds"]);
}

async fn checkpoints_keep_their_last_value_across_restarts(place: &Place) {
    {
        let store = place.open().await;
        assert_eq!(
            store.checkpoint("backfill/sekoia-prod").await.unwrap(),
            None
        );
        for (key, value) in [
            ("backfill/sekoia-prod", "2024-05-01T10:00:00Z"),
            ("backfill/sekoia-prod", "2024-05-01T11:00:00Z"),
            ("backfill/sekoia-test", "2024-04-01T00:00:00Z"),
        ] {
            store
                .set_checkpoint(Checkpoint::new(key, value))
                .await
                .unwrap();
        }
        assert_eq!(
            store
                .checkpoint("backfill/sekoia-prod")
                .await
                .unwrap()
                .as_deref(),
            Some("2024-05-01T11:00:00Z")
        );
    }
    let store = place.open().await;
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
    assert_eq!(store.checkpoint("backfill/sekoia").await.unwrap(), None);
}

async fn failures_are_counted_but_never_disable_a_playbook_by_themselves(place: &Place) {
    let store = place.open().await;
    assert_eq!(
        store.playbook_health("pb-1").await.unwrap(),
        PlaybookHealth::healthy("pb-1")
    );

    for i in 1..=50 {
        let health = store
            .record_playbook_failure("pb-1", &format!("HTTP 400 #{i}"))
            .await
            .unwrap();
        assert_eq!(health.consecutive_failures, i);
        assert!(!health.is_disabled());
    }
    let health = store.playbook_health("pb-1").await.unwrap();
    assert_eq!(health.consecutive_failures, 50);
    assert_eq!(health.last_error.as_deref(), Some("HTTP 400 #50"));
    assert_eq!(health.disabled, None);
    // Its runs are still handed out.
    store
        .enqueue(event(Some("A"), "A/1", &["pb-1"]))
        .await
        .unwrap();
    assert_eq!(claim_ids(&*store, 10).await.len(), 1);

    // A success starts the count again.
    store.write_behind(WriteBehind::PlaybookSucceeded {
        playbook_id: "pb-1".to_owned(),
    });
    flush(&*store).await;
    assert_eq!(
        store.playbook_health("pb-1").await.unwrap(),
        PlaybookHealth::healthy("pb-1")
    );
    let again = store
        .record_playbook_failure("pb-1", "HTTP 400")
        .await
        .unwrap();
    assert_eq!(again.consecutive_failures, 1);
}

async fn a_disabled_playbook_keeps_its_first_reason_until_enabled(place: &Place) {
    {
        let store = place.open().await;
        store
            .record_playbook_failure("pb-1", "HTTP 400")
            .await
            .unwrap();
        store
            .record_playbook_failure("pb-1", "HTTP 401")
            .await
            .unwrap();
        let before = now_ms();
        let health = store
            .disable_playbook("pb-1", "2 failures in a row")
            .await
            .unwrap();
        let disabled = health.disabled.clone().expect("disabled");
        assert_eq!(disabled.reason, "2 failures in a row");
        assert!(disabled.at_ms >= before && disabled.at_ms <= now_ms());
        assert_eq!(health.consecutive_failures, 2, "failures are kept");
        assert_eq!(health.last_error.as_deref(), Some("HTTP 401"));
        let again = store
            .disable_playbook("pb-1", "another reason")
            .await
            .unwrap();
        assert_eq!(again, health, "the first reason stays");
        // A success does not enable it.
        store.write_behind(WriteBehind::PlaybookSucceeded {
            playbook_id: "pb-1".to_owned(),
        });
        store.record_playbook_failure("pb-2", "boom").await.unwrap();
        store.disable_playbook("pb-3", "by hand").await.unwrap();
    }

    let store = place.open().await;
    let health = store.playbook_health("pb-1").await.unwrap();
    assert_eq!(
        health.disabled.as_ref().map(|d| d.reason.as_str()),
        Some("2 failures in a row")
    );
    let all = store.all_playbook_health().await.unwrap();
    let summary: Vec<_> = all
        .iter()
        .map(|h| {
            (
                h.playbook_id.as_str(),
                h.consecutive_failures,
                h.is_disabled(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [("pb-1", 0, true), ("pb-2", 1, false), ("pb-3", 0, true)]
    );

    let enabled = store.enable_playbook("pb-1").await.unwrap();
    assert_eq!(enabled, PlaybookHealth::healthy("pb-1"));
    assert_eq!(
        store.playbook_health("pb-1").await.unwrap(),
        PlaybookHealth::healthy("pb-1")
    );
    let health = store.record_playbook_failure("pb-3", "x").await.unwrap();
    assert!(health.is_disabled(), "a failure does not enable it either");
    assert_eq!(health.consecutive_failures, 1);
}
