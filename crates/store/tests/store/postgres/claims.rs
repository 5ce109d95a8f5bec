//! The run queue shared by instances: claimers of two instances working at once never get
//! the same run and keep each alert's runs of a playbook one at a time and in order; the
//! claims of an instance that is dropped are handed to another at once, a run it had
//! started counting one interruption; a claim whose answer was lost is taken again by
//! its own instance.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alertsync_engine::{RunStatus, now_ms};
use alertsync_store::{ClaimedRun, RunCountFilter, RunId, Store, WriteBehind};

use super::{claim_counting_interruptions, enqueue_alerts, eventually, open_instance, raw};
use crate::{claim_ids, event, flush, record};

const ALERTS: usize = 8;
const CHANGES: usize = 6;
const PLAYBOOKS: [&str; 2] = ["pb-1", "pb-2"];
const TOTAL_RUNS: usize = ALERTS * CHANGES * PLAYBOOKS.len();
const CLAIMERS_PER_INSTANCE: usize = 3;

/// An alert and a playbook: their runs go one at a time, in order.
type Pair = (String, String);

/// What the claimers of every instance did.
#[derive(Default)]
struct Ledger {
    /// Each claimed run and the instance that claimed it.
    claimed: HashMap<RunId, String>,
    /// The pairs some claimer works on now.
    in_flight: HashSet<Pair>,
    /// For each pair, the changes in the order they were claimed.
    order: HashMap<Pair, Vec<usize>>,
    finished: usize,
}

impl Ledger {
    /// Notes a batch `instance` claimed: fails the test if a run was claimed before or a
    /// pair is worked on already.
    fn take(&mut self, instance: &str, batch: &[ClaimedRun]) -> Vec<(RunId, Pair)> {
        batch
            .iter()
            .map(|claimed| {
                let run = claimed.run.id;
                let earlier = self.claimed.insert(run, instance.to_owned());
                assert!(earlier.is_none(), "run {run} claimed twice: {earlier:?}");
                let pair = (
                    claimed.run.alert_uuid.clone().expect("a run of an alert"),
                    claimed.run.playbook_id.clone(),
                );
                assert!(
                    self.in_flight.insert(pair.clone()),
                    "two runs of {pair:?} at once"
                );
                self.order
                    .entry(pair.clone())
                    .or_default()
                    .push(change_of(claimed));
                (run, pair)
            })
            .collect()
    }

    /// Fails the test unless every run was claimed, by both instances, each pair's runs
    /// in the order of their changes.
    fn assert_complete(&self) {
        assert_eq!(self.claimed.len(), TOTAL_RUNS, "every run claimed once");
        let instances: HashSet<&String> = self.claimed.values().collect();
        assert_eq!(instances.len(), 2, "both instances claimed runs");
        assert_eq!(self.order.len(), ALERTS * PLAYBOOKS.len());
        for (pair, changes) in &self.order {
            assert_eq!(*changes, (0..CHANGES).collect::<Vec<_>>(), "{pair:?}");
        }
    }
}

/// The change number of a claimed run's event (its dedup key is `alert/change`).
fn change_of(claimed: &ClaimedRun) -> usize {
    let (_, change) = claimed
        .event
        .dedup_key
        .split_once('/')
        .expect("a key alert/change");
    change.parse().expect("a change number")
}

/// Queues every change of every alert, the alerts' changes interleaved.
async fn enqueue_all(store: &dyn Store) {
    for change in 0..CHANGES {
        for alert in 0..ALERTS {
            let alert = format!("alert-{alert}");
            store
                .enqueue(event(
                    Some(&alert),
                    &format!("{alert}/{change}"),
                    &PLAYBOOKS,
                ))
                .await
                .expect("enqueue");
        }
    }
}

/// Claims, starts and finishes runs until every run of the test is finished.
async fn claimer(store: Arc<dyn Store>, instance: String, ledger: Arc<Mutex<Ledger>>) {
    loop {
        let batch = store.claim_runs(3).await.expect("claim runs");
        if batch.is_empty() {
            if ledger.lock().unwrap().finished == TOTAL_RUNS {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        let work = ledger.lock().unwrap().take(&instance, &batch);
        for (run, pair) in work {
            store.write_behind(WriteBehind::RunStarted {
                run,
                at_ms: now_ms(),
            });
            tokio::task::yield_now().await;
            ledger.lock().unwrap().in_flight.remove(&pair);
            store
                .finish_run(run, record(RunStatus::Succeeded, vec![]))
                .await
                .expect("finish run");
            ledger.lock().unwrap().finished += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_claiming_at_once_never_share_a_run_and_keep_each_alert_in_order() {
    let Some(schema) = alertsync_testing::postgres_schema().await else {
        return;
    };
    let instances: Vec<Arc<dyn Store>> = vec![
        Arc::new(open_instance(&schema).await),
        Arc::new(open_instance(&schema).await),
    ];
    enqueue_all(&*instances[0]).await;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let claimers: Vec<_> = (0..CLAIMERS_PER_INSTANCE)
        .flat_map(|_| instances.iter().enumerate())
        .map(|(index, store)| {
            let name = format!("instance-{index}");
            tokio::spawn(claimer(store.clone(), name, ledger.clone()))
        })
        .collect();
    let drained = tokio::time::timeout(Duration::from_secs(120), async {
        for task in claimers {
            task.await.expect("the claimer ends");
        }
    })
    .await;
    assert!(drained.is_ok(), "the queue was not drained in time");

    ledger.lock().unwrap().assert_complete();
    for store in &instances {
        let counts = store.run_counts(RunCountFilter::default()).await.unwrap();
        assert_eq!(counts.succeeded, TOTAL_RUNS as u64);
        assert!(store.claim_runs(10).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn the_claims_of_a_dropped_instance_are_taken_over_at_once() {
    let Some(schema) = alertsync_testing::postgres_schema().await else {
        return;
    };
    let (a, b) = (open_instance(&schema).await, open_instance(&schema).await);
    enqueue_alerts(&a, &["A", "B"]).await;
    let [started, unstarted] = claim_ids(&a, 10).await[..] else {
        panic!("a claims both runs");
    };
    a.write_behind(WriteBehind::RunStarted {
        run: started,
        at_ms: now_ms(),
    });
    flush(&a).await;
    assert!(
        claim_ids(&b, 10).await.is_empty(),
        "the runs are held by a live instance"
    );

    drop(a);
    // Far below the server's keepalive timeout: the claims went with the session.
    let taken = eventually("b takes over a's runs", Duration::from_secs(2), || async {
        Some(b.claim_runs(10).await.expect("claim runs")).filter(|batch| !batch.is_empty())
    })
    .await;
    let taken: Vec<_> = taken
        .iter()
        .map(|claimed| {
            (
                claimed.run.id,
                claimed.run.status,
                claimed.run.interruptions,
            )
        })
        .collect();
    assert_eq!(
        taken,
        [
            (started, RunStatus::Running, 1),
            (unstarted, RunStatus::Queued, 0)
        ]
    );
}

#[tokio::test]
async fn a_claim_whose_answer_was_lost_is_taken_again_by_its_instance_once() {
    let Some(schema) = alertsync_testing::postgres_schema().await else {
        return;
    };
    let (a, b) = (open_instance(&schema).await, open_instance(&schema).await);
    enqueue_alerts(&a, &["A", "B"]).await;
    // What a claim of `a` leaves when it commits and its connection breaks before the
    // answer comes back: the run carries `a`'s id, and `a` has nothing in hand.
    let orphan: i64 = raw(&schema)
        .await
        .query_one(
            "UPDATE runs SET claimed_by = $1 WHERE alert_uuid = 'A' RETURNING id",
            &[&a.instance()],
        )
        .await
        .expect("mark A's run claimed by a")
        .get(0);
    let orphan = RunId(orphan);
    let [other] = claim_ids(&b, 10).await[..] else {
        panic!("b claims only the run that no live instance holds");
    };
    assert_ne!(other, orphan);

    assert_eq!(
        claim_counting_interruptions(&a).await,
        [(orphan, 0)],
        "a claims its orphan again"
    );
    assert!(
        claim_ids(&a, 10).await.is_empty(),
        "a run in hand is handed out once"
    );
    assert!(claim_ids(&b, 10).await.is_empty(), "a holds it now");

    a.finish_run(orphan, record(RunStatus::Succeeded, vec![]))
        .await
        .expect("finish run");
    assert!(claim_ids(&a, 10).await.is_empty(), "the run is over");
}
