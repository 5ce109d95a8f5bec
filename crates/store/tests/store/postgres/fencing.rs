//! An instance whose session the server ended: its claims are void, so another instance
//! takes its run over, and whatever it still does with that run (park, release, finish,
//! before or after the other instance finished it) changes nothing. Meanwhile it takes no
//! work and reports failing writes; it connects again by itself and works on.

use std::time::Duration;

use alertsync_engine::{NodeStatus, RunStatus, now_ms};
use alertsync_store::{PostgresStore, RunId, Store, StoreError, WriteBehind};

use super::{claim_counting_interruptions, end_session, enqueue_alerts, eventually, open_instance};
use crate::{T0, claim_ids, flush, hold, node, record, summary};

/// Queues a run of alert `alert`, has `instance` claim and start it, and returns it.
async fn claim_and_start(instance: &PostgresStore, alert: &str) -> RunId {
    enqueue_alerts(instance, &[alert]).await;
    let [run] = claim_ids(instance, 10).await[..] else {
        panic!("the instance claims the one run");
    };
    instance.write_behind(WriteBehind::RunStarted {
        run,
        at_ms: now_ms(),
    });
    flush(instance).await;
    run
}

/// Everything an instance whose claim lapsed may still do with its run; each must be
/// ignored.
async fn settle_stale(stale: &PostgresStore, run: RunId) {
    stale
        .park_run(
            run,
            record(RunStatus::Waiting, vec![]),
            hold(T0 + 60_000, "ilert"),
        )
        .await
        .expect("a stale park is not an error");
    stale
        .release_run(run)
        .await
        .expect("a stale release is not an error");
    stale
        .finish_run(run, record(RunStatus::Failed, vec![]))
        .await
        .expect("a stale end is not an error");
}

#[tokio::test]
async fn an_instance_whose_session_ended_settles_nothing_another_took_over() {
    let Some(schema) = alertsync_testing::postgres_schema().await else {
        return;
    };
    let (a, b) = (open_instance(&schema).await, open_instance(&schema).await);
    let run = claim_and_start(&a, "A").await;
    end_session(&schema, &a).await;
    assert_eq!(
        claim_counting_interruptions(&b).await,
        [(run, 1)],
        "b takes the run over at once"
    );

    settle_stale(&a, run).await;
    assert_eq!(summary(&b, run).await.status, RunStatus::Running);
    let c = open_instance(&schema).await;
    assert!(claim_ids(&c, 10).await.is_empty(), "b's claim still holds");

    let nodes = vec![node(0, "0", NodeStatus::Succeeded)];
    b.finish_run(run, record(RunStatus::Succeeded, nodes))
        .await
        .expect("finish run");
    settle_stale(&a, run).await;
    let detail = b.run(run).await.expect("read the run").expect("the run");
    assert_eq!(detail.run.status, RunStatus::Succeeded);
    assert_eq!(detail.run.error, None);
    assert_eq!(detail.nodes.len(), 1, "b's node records are kept");
    assert!(claim_ids(&c, 10).await.is_empty(), "the run stays finished");
}

#[tokio::test]
async fn an_instance_without_its_session_takes_no_work_and_recovers_by_itself() {
    let Some(schema) = alertsync_testing::postgres_schema().await else {
        return;
    };
    let (a, b) = (open_instance(&schema).await, open_instance(&schema).await);
    end_session(&schema, &a).await;
    let refused = eventually(
        "a notices its session ended",
        Duration::from_secs(5),
        || async { a.claim_runs(10).await.err() },
    )
    .await;
    assert!(
        matches!(&refused, StoreError::Backend { .. }) && refused.to_string().contains("session"),
        "{refused}"
    );
    let health = a.write_health();
    assert!(health.failing_since_ms.is_some(), "{health:?}");

    enqueue_alerts(&b, &["A"]).await;
    let claimed = eventually("a claims again", Duration::from_secs(10), || async {
        a.claim_runs(10)
            .await
            .ok()
            .filter(|batch| !batch.is_empty())
    })
    .await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(a.write_health().failing_since_ms, None);
}
