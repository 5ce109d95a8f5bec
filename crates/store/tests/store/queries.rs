//! The queries of the API, the console and `/healthz`: queue health, pages of runs by
//! filter (newest first), one run, and counts by status.

use alertsync_engine::{NodeStatus, RunStatus, now_ms};
use alertsync_store::{
    InboxId, MAX_PAGE_SIZE, QueueHealth, Rerun, RunAlert, RunCountFilter, RunCounts, RunId,
    RunQuery, Store, WriteBehind,
};
use serde_json::json;

use crate::{Place, T0, claim_ids, event_at, flush, hold, node, record};

conformance! {
    an_empty_store_reports_an_empty_queue,
    queue_health_reports_each_kind_of_run,
    runs_are_listed_newest_first_by_page_and_filter,
    runs_are_counted_by_status_playbook_and_alert,
    a_page_holds_at_most_max_page_size_runs,
    runs_are_found_by_alert_short_id_time_and_text,
}

async fn an_empty_store_reports_an_empty_queue(place: &Place) {
    let store = place.open().await;
    assert_eq!(store.queue_health().await.unwrap(), QueueHealth::default());
    assert_eq!(
        store.run_counts(RunCountFilter::default()).await.unwrap(),
        RunCounts::default()
    );
    let page = store.list_runs(RunQuery::default()).await.unwrap();
    assert!(page.runs.is_empty() && page.next_before.is_none());
    assert!(store.run(RunId(1)).await.unwrap().is_none());
}

async fn queue_health_reports_each_kind_of_run(place: &Place) {
    let store = place.open().await;
    let enqueue = |alert: &'static str, playbook: &'static str, at: u64| {
        store.enqueue(event_at(
            Some(alert),
            &format!("{alert}/1"),
            &[playbook],
            at,
        ))
    };
    // One at a time, each claimed as it comes: running, waiting, two dead letters.
    enqueue("R", "pb-1", T0 + 1).await.unwrap();
    let running = claim_ids(&*store, 1).await[0];
    store.write_behind(WriteBehind::RunStarted {
        run: running,
        at_ms: T0 + 2,
    });
    enqueue("W", "pb-1", T0 + 3).await.unwrap();
    let waiting = claim_ids(&*store, 1).await[0];
    store
        .park_run(
            waiting,
            record(RunStatus::Waiting, vec![]),
            hold(now_ms() + 3_600_000, "ilert"),
        )
        .await
        .unwrap();
    for alert in ["D1", "D2"] {
        enqueue(alert, "pb-1", T0 + 4).await.unwrap();
        let dead = claim_ids(&*store, 1).await[0];
        store
            .finish_run(dead, record(RunStatus::Dead, vec![]))
            .await
            .unwrap();
        if alert == "D2" {
            assert!(store.dismiss_dead_letter(dead).await.unwrap());
        }
    }
    enqueue("S", "pb-1", T0 + 5).await.unwrap();
    let succeeded = claim_ids(&*store, 1).await[0];
    store
        .finish_run(succeeded, record(RunStatus::Succeeded, vec![]))
        .await
        .unwrap();
    // Queued: two of an enabled playbook, two of a disabled one (the oldest of all, and
    // not counted as queued).
    store.disable_playbook("pb-off", "paused").await.unwrap();
    enqueue("H1", "pb-off", T0).await.unwrap();
    enqueue("Q1", "pb-1", T0 + 10).await.unwrap();
    enqueue("Q2", "pb-2", T0 + 20).await.unwrap();
    enqueue("H2", "pb-off", T0 + 30).await.unwrap();
    enqueue("Z", "pb-off", T0 + 40).await.unwrap();
    let claimed = claim_ids(&*store, 10).await;
    assert_eq!(
        claimed.len(),
        2,
        "Q1 and Q2, claimed, not started: {claimed:?}"
    );
    flush(&*store).await;

    assert_eq!(
        store.queue_health().await.unwrap(),
        QueueHealth {
            queued: 2,
            running: 1,
            waiting: 1,
            held_by_disabled_playbooks: 3,
            dead_letters: 1,
            oldest_queued_at_ms: Some(T0 + 10),
            oldest_waiting_since_ms: Some(T0 + 3),
            last_event_at_ms: Some(T0 + 40),
        }
    );
    assert_eq!(
        store.run_counts(RunCountFilter::default()).await.unwrap(),
        RunCounts {
            queued: 5,
            running: 1,
            waiting: 1,
            succeeded: 1,
            failed: 0,
            cancelled: 0,
            dead: 2,
        }
    );

    // Enabling the playbook makes its runs count as queued, the oldest first.
    store.enable_playbook("pb-off").await.unwrap();
    let health = store.queue_health().await.unwrap();
    assert_eq!((health.queued, health.held_by_disabled_playbooks), (5, 0));
    assert_eq!(health.oldest_queued_at_ms, Some(T0));
}

/// A run that ended, as [`a_history`] made it.
struct Ended {
    run: RunId,
    playbook: &'static str,
    status: RunStatus,
    alert: String,
}

/// Stores 25 events, each run by pb-1 and every fifth also by pb-2, for alerts
/// `alert-0`..`alert-2`, and ends the runs with statuses that cycle (pb-2's are dead
/// letters). Returns the runs newest first.
async fn a_history(store: &dyn Store) -> Vec<Ended> {
    let statuses = [
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::Cancelled,
    ];
    let mut all = Vec::new();
    for i in 0..25 {
        let alert = format!("alert-{}", i % 3);
        let playbooks: &[&str] = if i % 5 == 0 {
            &["pb-1", "pb-2"]
        } else {
            &["pb-1"]
        };
        store
            .enqueue(event_at(
                Some(&alert),
                &format!("{alert}/{i}"),
                playbooks,
                T0 + i,
            ))
            .await
            .unwrap();
        for (run, playbook) in claim_ids(store, 10).await.into_iter().zip(playbooks) {
            let status = if *playbook == "pb-2" {
                RunStatus::Dead
            } else {
                statuses[i as usize % 3]
            };
            store.finish_run(run, record(status, vec![])).await.unwrap();
            all.push(Ended {
                run,
                playbook,
                status,
                alert: alert.clone(),
            });
        }
    }
    all.reverse();
    all
}

async fn runs_are_listed_newest_first_by_page_and_filter(place: &Place) {
    let store = place.open().await;
    let all = a_history(&*store).await;
    assert_eq!(all.len(), 30);

    // Every run once, in pages of 7.
    let mut listed = Vec::new();
    let mut query = RunQuery {
        limit: 7,
        ..RunQuery::default()
    };
    let mut pages = 0;
    loop {
        let page = store.list_runs(query.clone()).await.unwrap();
        pages += 1;
        assert!(page.runs.len() <= 7);
        listed.extend(page.runs.iter().map(|r| r.id));
        match page.next_before {
            Some(before) => {
                assert_eq!(Some(before), page.runs.last().map(|r| r.id));
                query.before = Some(before);
            }
            None => break,
        }
    }
    assert_eq!(pages, 5);
    assert_eq!(listed, all.iter().map(|r| r.run).collect::<Vec<_>>());

    let ids = |query: RunQuery| {
        let store = store.clone();
        async move {
            let page = store.list_runs(query).await.unwrap();
            page.runs.iter().map(|r| r.id).collect::<Vec<_>>()
        }
    };
    let expected = |keep: &dyn Fn(&Ended) -> bool| {
        all.iter()
            .filter(|r| keep(r))
            .map(|r| r.run)
            .collect::<Vec<_>>()
    };

    // Filters combine.
    let failed_pb1 = RunQuery {
        playbook_id: Some("pb-1".to_owned()),
        status: Some(RunStatus::Failed),
        limit: 100,
        ..RunQuery::default()
    };
    assert_eq!(
        ids(failed_pb1).await,
        expected(&|r| r.playbook == "pb-1" && r.status == RunStatus::Failed)
    );
    let dead = RunQuery {
        status: Some(RunStatus::Dead),
        limit: 100,
        ..RunQuery::default()
    };
    assert_eq!(ids(dead).await, expected(&|r| r.status == RunStatus::Dead));
    let alert_1 = RunQuery {
        alert_uuid: Some("alert-1".to_owned()),
        limit: 100,
        ..RunQuery::default()
    };
    assert_eq!(ids(alert_1).await, expected(&|r| r.alert == "alert-1"));

    // A page of one alert's runs, and the next.
    let page = store
        .list_runs(RunQuery {
            alert_uuid: Some("alert-1".to_owned()),
            limit: 3,
            ..RunQuery::default()
        })
        .await
        .unwrap();
    let of_alert_1 = expected(&|r| r.alert == "alert-1");
    assert_eq!(
        page.runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        of_alert_1[..3]
    );
    assert_eq!(page.next_before, Some(of_alert_1[2]));
    let next = RunQuery {
        alert_uuid: Some("alert-1".to_owned()),
        before: page.next_before,
        limit: 3,
        ..RunQuery::default()
    };
    assert_eq!(ids(next).await, of_alert_1[3..6]);

    // The runs of one event.
    let of_first = store
        .list_runs(RunQuery {
            inbox_id: Some(InboxId(1)),
            ..RunQuery::default()
        })
        .await
        .unwrap();
    let playbooks: Vec<_> = of_first
        .runs
        .iter()
        .map(|r| r.playbook_id.as_str())
        .collect();
    assert_eq!(playbooks, ["pb-2", "pb-1"]);
    assert!(of_first.runs.iter().all(|r| r.inbox_id == InboxId(1)));

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

async fn runs_are_counted_by_status_playbook_and_alert(place: &Place) {
    let store = place.open().await;
    let all = a_history(&*store).await;
    let count = |keep: &dyn Fn(&Ended) -> bool| {
        let mut counts = RunCounts::default();
        for status in RunStatus::ALL {
            counts.set(
                status,
                all.iter().filter(|r| r.status == status && keep(r)).count() as u64,
            );
        }
        counts
    };

    let everything = store.run_counts(RunCountFilter::default()).await.unwrap();
    assert_eq!(everything, count(&|_| true));
    assert_eq!(everything.total(), 30);
    assert_eq!(everything.dead, 5);
    let pb2 = RunCountFilter {
        playbook_id: Some("pb-2".to_owned()),
        ..RunCountFilter::default()
    };
    assert_eq!(
        store.run_counts(pb2).await.unwrap(),
        RunCounts {
            dead: 5,
            ..RunCounts::default()
        }
    );
    let pb1_alert_2 = RunCountFilter {
        playbook_id: Some("pb-1".to_owned()),
        alert_uuid: Some("alert-2".to_owned()),
        ..RunCountFilter::default()
    };
    assert_eq!(
        store.run_counts(pb1_alert_2).await.unwrap(),
        count(&|r| r.playbook == "pb-1" && r.alert == "alert-2")
    );
    let nobody = RunCountFilter {
        alert_uuid: Some("none".to_owned()),
        ..RunCountFilter::default()
    };
    assert_eq!(
        store.run_counts(nobody).await.unwrap(),
        RunCounts::default()
    );
}

async fn a_page_holds_at_most_max_page_size_runs(place: &Place) {
    let store = place.open().await;
    let events = (0..=u64::from(MAX_PAGE_SIZE))
        .map(|i| event_at(None, &format!("cron/{i}"), &["pb-1"], T0 + i))
        .collect();
    store.enqueue_batch(events, None).await.unwrap();
    let page = store
        .list_runs(RunQuery {
            limit: MAX_PAGE_SIZE * 5,
            ..RunQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.runs.len(), MAX_PAGE_SIZE as usize);
    assert_eq!(page.next_before, page.runs.last().map(|r| r.id));
    let rest = store
        .list_runs(RunQuery {
            before: page.next_before,
            limit: MAX_PAGE_SIZE,
            ..RunQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(rest.runs.len(), 1);
    assert_eq!(rest.next_before, None);
}

async fn runs_are_found_by_alert_short_id_time_and_text(place: &Place) {
    let store = place.open().await;
    // Three alerts, ten seconds apart; each run reads its alert, then ends.
    let mut runs = Vec::new();
    for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
        let at = T0 + 10_000 * (i as u64 + 1);
        let alert_uuid = format!("uuid-{name}");
        store
            .enqueue(event_at(
                Some(&alert_uuid),
                &format!("{name}/1"),
                &["pb-1"],
                at,
            ))
            .await
            .unwrap();
        let run = claim_ids(&*store, 1).await[0];
        store.write_behind(WriteBehind::AlertRead {
            run,
            alert: RunAlert {
                account: Some("sekoia".to_owned()),
                short_id: Some(format!("AL{name}{name}{name}")),
                title: Some(format!("Title of {name}")),
                urgency: Some(40 + i as i64),
            },
        });
        let mut trigger = node(0, "1", NodeStatus::Succeeded);
        trigger.results = Some(json!({"note": format!("{name} said \"Quoted\\path\"")}));
        let mut ended = record(RunStatus::Succeeded, vec![trigger]);
        if name == "b" {
            ended.status = RunStatus::Failed;
            ended.error = Some("ilert answered 503 Service Unavailable".to_owned());
        }
        store.finish_run(run, ended).await.unwrap();
        runs.push(run);
    }
    let [a, b, c] = runs[..] else { unreachable!() };
    let found = |query: RunQuery| {
        let store = &store;
        async move {
            let page = store.list_runs(query).await.unwrap();
            page.runs.into_iter().map(|r| r.id).collect::<Vec<_>>()
        }
    };

    let summary = store.run(b).await.unwrap().unwrap().run;
    assert_eq!(
        summary.alert,
        Some(RunAlert {
            account: Some("sekoia".to_owned()),
            short_id: Some("ALbbb".to_owned()),
            title: Some("Title of b".to_owned()),
            urgency: Some(41),
        })
    );
    let by_short_id = RunQuery {
        alert_short_id: Some("ALbbb".to_owned()),
        ..RunQuery::default()
    };
    assert_eq!(found(by_short_id).await, [b]);
    let between = RunQuery {
        since_ms: Some(T0 + 15_000),
        until_ms: Some(T0 + 30_000),
        ..RunQuery::default()
    };
    assert_eq!(found(between).await, [c, b], "bounds are inclusive");
    for (text, expected) in [
        ("SERVICE unavailable", vec![b]),
        ("title of A", vec![a]),
        ("alccc", vec![c]),
        ("c said \"quoted\\path\"", vec![c]),
        ("said", vec![c, b, a]),
        ("nowhere", vec![]),
    ] {
        let query = RunQuery {
            text: Some(text.to_owned()),
            ..RunQuery::default()
        };
        assert_eq!(found(query).await, expected, "text {text:?}");
    }
    let counted = store
        .run_counts(RunCountFilter {
            alert_short_id: Some("ALbbb".to_owned()),
            ..RunCountFilter::default()
        })
        .await
        .unwrap();
    assert_eq!((counted.failed, counted.total()), (1, 1));

    // A rerun knows its alert before it starts.
    let again = store
        .rerun(Rerun {
            of: a,
            only_failed: false,
        })
        .await
        .unwrap();
    let rerun = store.run(again).await.unwrap().unwrap().run;
    assert_eq!(
        rerun.alert.and_then(|alert| alert.short_id).as_deref(),
        Some("ALaaa")
    );
}
