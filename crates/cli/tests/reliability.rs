//! The reliability promises of `alertsync serve`, each proved against the built binary and the
//! simulated Sekoia.io and ilert over loopback:
//!
//! * an ilert outage, or a playbook the operator disabled, holds alerts and releases them in
//!   order, with `/healthz` saying so meanwhile;
//! * permanent failures disable a playbook (its later alerts are held, not dropped); a delivery
//!   held past its maximum age becomes a dead letter that the API, the console and the metrics
//!   show and that can be replayed;
//! * a rejected Sekoia.io key is retried until it is accepted again;
//! * a huge response and template bombs fail their runs within bounded memory, and a run that
//!   keeps killing the process is not resumed forever;
//! * ids that are not alert ids never reach a Sekoia.io URL;
//! * the HTTP surface refuses rebinding hosts, idle floods, short tokens and a second process;
//! * back-fill recovers every status change made while the service was down, whatever the
//!   shape of the alerts' history.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alertsync_sim::{Fault, Receiver, Route, Simulator};
use common::delivery::{
    PATIENCE, UNLIMITED, WEBHOOK_TOKEN, accepted_count, all_posted, delivery, forward_to_ilert,
    ilert_posts, ilert_quiet, in_life_order, live_connected, on_demand_playbook, service_dir,
    uuid_of, wait_for_async, webhook_playbook,
};
use common::service::{ServeProcess, http};
use common::{alertsync, exit_code, simulator, stderr};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The id of the shipped Sekoia.io → ilert playbook ([`forward_to_ilert`]).
const FORWARD_ID: &str = "096acba7-ca84-4bc7-8fcb-8b44f5464b89";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ilert_outage_longer_than_the_retry_budget_holds_every_alert_in_order() {
    const ALERTS: usize = 200;
    const ACKNOWLEDGED: usize = 50;
    // Three attempts take well under a second; the outage lasts ten.
    const OUTAGE: Duration = Duration::from_secs(10);
    let sim = simulator().await;
    let settings = format!(
        "max_attempts = 3\ninitial_delay_ms = 20\nmax_delay_ms = 500\n\
         ilert_rate_per_minute = {UNLIMITED}\nworkers = 4\n"
    );
    let dir = service_dir(&sim, &forward_to_ilert(), &settings);
    let service = ServeProcess::start(&dir, &[]).await;
    assert_eq!(healthz(&service).await.0, 200, "healthy before the outage");

    sim.inject_fault(Fault::status(Route::Ilert, 503).times(u32::MAX));
    let outage = Instant::now();
    let mut uuids = Vec::new();
    for _ in 0..ALERTS / 10 {
        uuids.extend(sim.create_alerts(10).iter().map(uuid_of));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for uuid in &uuids[..ACKNOWLEDGED] {
        sim.set_status(uuid, "Acknowledged", None)
            .expect("the alert exists");
    }
    health_reports(&service, "deliveries_held").await;
    tokio::time::sleep_until((outage + OUTAGE).into()).await;
    let (status, health) = healthz(&service).await;
    assert_eq!(status, 503, "still held at the end of the outage: {health}");
    let refused = sim.requests(Receiver::Ilert).len();
    assert_eq!(accepted_count(&sim), 0, "ilert accepted nothing while down");

    sim.clear_faults();
    let back = Instant::now();
    wait_for_async("every change in ilert", PATIENCE, || async {
        all_posted(&sim, &uuids[..ACKNOWLEDGED], 2).and(all_posted(&sim, &uuids, 1))
    })
    .await;
    let drained = back.elapsed();
    ilert_quiet(&sim).await;
    let posts = ilert_posts(&sim);
    for (i, uuid) in uuids.iter().enumerate() {
        let sent = &posts[uuid];
        let (changes, last) = if i < ACKNOWLEDGED {
            (2, "acknowledged")
        } else {
            (1, "pending")
        };
        assert_eq!(
            sent.len(),
            changes,
            "alert {uuid}: one post per change: {sent:?}"
        );
        assert!(in_life_order(sent), "alert {uuid}: out of order: {sent:?}");
        assert_eq!(sent[changes - 1], last, "alert {uuid}: {sent:?}");
    }
    health_reports(&service, "ok").await;
    assert!(runs(&service, "dead").await.is_empty(), "no dead letter");
    assert!(runs(&service, "failed").await.is_empty(), "no failed run");
    eprintln!(
        "outage: {ALERTS} alerts and {ACKNOWLEDGED} acknowledgements held for {OUTAGE:?} \
         ({refused} refused attempts), all delivered {drained:?} after ilert came back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_raised_while_the_operator_disabled_the_playbook_run_in_order_once_enabled() {
    const ALERTS: usize = 50;
    let sim = simulator().await;
    let dir = service_dir(&sim, &forward_to_ilert(), &delivery(4, UNLIMITED));
    let service = ServeProcess::start(&dir, &[]).await;
    api_post(&service, &format!("/api/v1/playbooks/{FORWARD_ID}/disable")).await;

    let uuids: Vec<String> = sim.create_alerts(ALERTS).iter().map(uuid_of).collect();
    // Every second alert is acknowledged, every fifth closed as well.
    let mut lives = Vec::new();
    for (i, uuid) in uuids.iter().enumerate() {
        let mut life = vec!["pending"];
        if i % 2 == 0 {
            sim.set_status(uuid, "Acknowledged", None)
                .expect("the alert exists");
            life.push("acknowledged");
        }
        if i % 5 == 0 {
            sim.set_status(uuid, "Closed", None)
                .expect("the alert exists");
            life.push("closed");
        }
        lives.push(life);
    }
    let events = lives.iter().map(Vec::len).sum::<usize>() as u64;
    let health = wait_for_async("every event held", PATIENCE, || async {
        let (_, health) = healthz(&service).await;
        let held = health["queue"]["held_by_disabled_playbooks"].as_u64();
        (held == Some(events))
            .then(|| health.clone())
            .ok_or(format!("{held:?} of {events} held: {health}"))
    })
    .await;
    assert!(
        problem_codes(&health).contains(&"playbook_disabled".to_owned()),
        "{health}"
    );
    assert_eq!(accepted_count(&sim), 0, "nothing ran while disabled");

    api_post(&service, &format!("/api/v1/playbooks/{FORWARD_ID}/enable")).await;
    for (uuid, life) in uuids.iter().zip(&lives) {
        let life = life.clone();
        wait_for_async("the held changes in ilert", PATIENCE, || async {
            let sent = ilert_posts(&sim).remove(uuid).unwrap_or_default();
            (sent.len() >= life.len())
                .then_some(())
                .ok_or(format!("alert {uuid}: {sent:?}, expected {life:?}"))
        })
        .await;
    }
    ilert_quiet(&sim).await;
    let posts = ilert_posts(&sim);
    for (uuid, life) in uuids.iter().zip(&lives) {
        let sent = &posts[uuid];
        assert_eq!(sent.len(), life.len(), "alert {uuid}: {sent:?}");
        assert!(in_life_order(sent), "alert {uuid}: out of order: {sent:?}");
        assert_eq!(sent.last().map(String::as_str), life.last().copied());
    }
    health_reports(&service, "ok").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_failures_disable_the_playbook_and_its_held_alerts_run_once_enabled() {
    const FAILURES: usize = 3;
    const HELD: usize = 5;
    let sim = simulator().await;
    sim.inject_fault(Fault::status(Route::Ilert, 400).times(FAILURES as u32));
    let settings = format!(
        "{}disable_after_failures = {FAILURES}\n",
        delivery(1, UNLIMITED)
    );
    let dir = service_dir(&sim, &forward_to_ilert(), &settings);
    let service = ServeProcess::start(&dir, &[]).await;

    let rejected: Vec<String> = sim.create_alerts(FAILURES).iter().map(uuid_of).collect();
    let playbook = wait_for_async("the playbook disabled", PATIENCE, || async {
        let (_, playbook) = http(
            &service.address,
            "GET",
            &format!("/api/v1/playbooks/{FORWARD_ID}"),
            None,
            "",
        )
        .await;
        (playbook["state"] == "disabled")
            .then(|| playbook.clone())
            .ok_or(playbook.to_string())
    })
    .await;
    assert!(
        playbook["disabled_reason"]
            .as_str()
            .is_some_and(|why| why.contains("400")),
        "the reason names the error: {playbook}"
    );
    let failed = runs(&service, "failed").await;
    assert_eq!(failed.len(), FAILURES, "{failed:?}");

    let held: Vec<String> = sim.create_alerts(HELD).iter().map(uuid_of).collect();
    let health = wait_for_async("the later alerts held", PATIENCE, || async {
        let (_, health) = healthz(&service).await;
        let count = health["queue"]["held_by_disabled_playbooks"].as_u64();
        (count == Some(HELD as u64))
            .then(|| health.clone())
            .ok_or(health.to_string())
    })
    .await;
    assert!(
        problem_codes(&health).contains(&"playbook_disabled".to_owned()),
        "{health}"
    );
    assert_eq!(accepted_count(&sim), 0, "nothing delivered while disabled");

    api_post(&service, &format!("/api/v1/playbooks/{FORWARD_ID}/enable")).await;
    wait_for_async("the held alerts in ilert", PATIENCE, || async {
        all_posted(&sim, &held, 1)
    })
    .await;
    ilert_quiet(&sim).await;
    let posts = ilert_posts(&sim);
    assert!(
        rejected.iter().all(|uuid| !posts.contains_key(uuid)),
        "the rejected alerts failed for good (a rerun is the operator's call)"
    );
    assert_eq!(accepted_count(&sim), HELD, "each held alert once");
    health_reports(&service, "ok").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_held_past_their_maximum_age_become_visible_replayable_dead_letters() {
    const ALERTS: usize = 3;
    let sim = simulator().await;
    sim.inject_fault(Fault::status(Route::Ilert, 503).times(u32::MAX));
    let settings = format!(
        "initial_delay_ms = 200\nmax_delay_ms = 500\nmax_age_secs = 2\n\
         ilert_rate_per_minute = {UNLIMITED}\nworkers = 2\n"
    );
    let dir = service_dir(&sim, &forward_to_ilert(), &settings);
    let service = ServeProcess::start(&dir, &[]).await;

    let uuids: Vec<String> = sim.create_alerts(ALERTS).iter().map(uuid_of).collect();
    let dead = wait_for_async("every delivery a dead letter", PATIENCE, || async {
        let dead = runs(&service, "dead").await;
        (dead.len() == ALERTS)
            .then(|| dead.clone())
            .ok_or(format!("{dead:?}"))
    })
    .await;
    for run in &dead {
        let error = run["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("the retry limit is 2s"),
            "the reason says why: {run}"
        );
    }
    let (status, health) = healthz(&service).await;
    assert_eq!(status, 503, "{health}");
    assert!(
        problem_codes(&health).contains(&"dead_letters".to_owned()),
        "{health}"
    );
    let metrics = get_text(&service, "/metrics", "text/plain").await;
    assert!(
        metrics.contains(&format!("alertsync_dead_letters {ALERTS}")),
        "dead letters are a gauge:\n{metrics}"
    );
    let page = get_text(&service, "/runs?status=dead", "text/html").await;
    for run in &dead {
        assert!(
            page.contains(&format!(
                "data-run-id=\"{}\" data-status=\"dead\"",
                run["id"]
            )),
            "the console lists dead letter {}:\n{page}",
            run["id"]
        );
    }

    // ilert is back: one dead letter is replayed, one dismissed, one left for later.
    sim.clear_faults();
    let by_alert = |uuid: &String| {
        dead.iter()
            .find(|run| run["alert_uuid"] == json!(uuid))
            .and_then(|run| run["id"].as_i64())
            .unwrap_or_else(|| panic!("no dead letter for alert {uuid}: {dead:?}"))
    };
    let (replayed, dismissed) = (by_alert(&uuids[0]), by_alert(&uuids[1]));
    api_post(&service, &format!("/api/v1/runs/{replayed}/rerun")).await;
    api_post(&service, &format!("/api/v1/runs/{dismissed}/dismiss")).await;
    wait_for_async("the replayed alert in ilert", PATIENCE, || async {
        all_posted(&sim, &uuids[..1], 1)
    })
    .await;
    let left: Vec<i64> = runs(&service, "dead")
        .await
        .iter()
        .filter(|run| run["dismissed_at_ms"].is_null())
        .filter_map(|run| run["id"].as_i64())
        .collect();
    assert_eq!(
        left,
        [by_alert(&uuids[2])],
        "the one left waits for someone"
    );
    let (status, again) = http(
        &service.address,
        "POST",
        &format!("/api/v1/runs/{dismissed}/dismiss"),
        None,
        "",
    )
    .await;
    assert_eq!(status, 409, "dismissed already: {again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_key_is_retried_until_accepted_and_health_says_so_meanwhile() {
    let sim = simulator().await;
    let settings = format!(
        "{}\n[health]\nlive_grace_secs = 1\n\n[live]\nrejected_retry_min_secs = 1\n\
         rejected_retry_max_secs = 2\n",
        delivery(2, UNLIMITED)
    );
    let dir = service_dir(&sim, &forward_to_ilert(), &settings);

    // Wrong at start: the operator is told at once.
    sim.inject_fault(Fault::status(Route::SekoiaMe, 401));
    let refused = serve_once(&dir).await;
    assert_eq!(exit_code(&refused), 2, "{}", stderr(&refused));
    assert!(stderr(&refused).contains("401"), "{}", stderr(&refused));

    let service = ServeProcess::start(&dir, &[]).await;
    live_connected(&sim).await;
    // The key is revoked, and the connection drops.
    sim.inject_fault(Fault::status(Route::SekoiaMe, 401).times(u32::MAX));
    sim.drop_live_connections();
    let health = health_reports(&service, "live_rejected").await;
    assert!(
        health["live"][0]["rejection"]
            .as_str()
            .is_some_and(|why| why.contains("401")),
        "{health}"
    );
    let raised = uuid_of(&sim.create_alert(Value::Null));

    // The key is accepted again: the connection comes back by itself.
    sim.clear_faults();
    health_reports(&service, "ok").await;
    assert_eq!(sim.live_connection_count(), 1);
    wait_for_async("the alert raised meanwhile in ilert", PATIENCE, || async {
        all_posted(&sim, std::slice::from_ref(&raised), 1)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_response_and_template_bombs_fail_their_runs_within_bounded_memory() {
    const PEAK_RSS_KB: u64 = 150 * 1024;
    let sim = simulator().await;
    let huge = HugeResponder::start().await;
    let targets = [
        (
            "a 1 GiB response",
            format!("{}/sized", huge.url),
            "larger than the 16777216 bytes",
        ),
        (
            "a 1 GiB response of unknown length",
            format!("{}/unsized", huge.url),
            "larger than the 16777216 bytes",
        ),
        (
            "list repetition",
            r#"{{ ["x"*60] * 100000000 }}"#.to_owned(),
            "template `{{",
        ),
        (
            "a join",
            r#"{{ (["x"*60] * 100000000) | join(",") }}"#.to_owned(),
            "template `{{",
        ),
        (
            "replace",
            r#"{{ ("x" * 1000000) | replace("x", "y" * 100) }}"#.to_owned(),
            "template `{{",
        ),
        (
            "string repetition",
            r#"{{ "x" * 1000000000 }}"#.to_owned(),
            "template `{{",
        ),
    ];
    let mut entries = String::new();
    let dir = service_dir(&sim, "", &delivery(2, UNLIMITED));
    let ids: Vec<String> = (0..targets.len())
        .map(|i| format!("7b0c4d1e-0000-4000-8000-00000000000{i}"))
        .collect();
    for ((_, url, _), id) in targets.iter().zip(&ids) {
        dir.write(&format!("{id}.json"), &request_playbook(id, url));
        entries.push_str(&format!(
            "[[playbook]]\nfile = \"{id}.json\"\nwebhook_token = \"{WEBHOOK_TOKEN}\"\n"
        ));
    }
    prepend_playbooks(&dir, &entries);
    let mut service = ServeProcess::start(&dir, &[]).await;
    let alert = uuid_of(&sim.create_alert(Value::Null));
    for id in &ids {
        let body = json!({ "alert_uuid": alert }).to_string();
        let hook = format!("/hooks/{id}/1");
        let (status, answer) =
            http(&service.address, "POST", &hook, Some(WEBHOOK_TOKEN), &body).await;
        assert_eq!(status, 202, "{answer}");
    }
    let failed = wait_for_async("every run failed", PATIENCE, || async {
        let failed = runs(&service, "failed").await;
        (failed.len() == ids.len())
            .then(|| failed.clone())
            .ok_or(format!("{failed:?}"))
    })
    .await;
    for ((what, url, says), id) in targets.iter().zip(&ids) {
        let run = failed
            .iter()
            .find(|run| run["playbook_id"] == json!(id))
            .unwrap_or_else(|| panic!("{what}: no failed run: {failed:?}"));
        let error = run["error"].as_str().unwrap_or_default();
        let bounded = error.contains("larger than") || error.contains("budget");
        assert!(
            error.contains(says) && bounded,
            "{what}: a clear error: {run}"
        );
        if url.starts_with("http") {
            assert!(error.contains(url.as_str()), "{what}: names the URL: {run}");
        }
    }
    let peak = service.peak_rss_kb();
    eprintln!(
        "bounded: peak RSS {} MiB after two 1 GiB responses and four template bombs",
        peak / 1024
    );
    assert!(peak < PEAK_RSS_KB, "peak RSS {peak} kB");

    // The next start does not resume (or crash on) any of them.
    service.terminate().await;
    service.restart().await;
    assert_eq!(healthz(&service).await.0, 200);
    assert_eq!(runs(&service, "failed").await.len(), ids.len());
    assert!(runs(&service, "running").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_three_times_is_not_resumed_a_fourth_time() {
    const KILLS: u64 = 3;
    let sim = simulator().await;
    // ilert hangs: every kill finds the delivery running.
    sim.inject_fault(Fault::latency(Route::Ilert, 600_000).times(u32::MAX));
    let dir = service_dir(&sim, &forward_to_ilert(), &delivery(1, UNLIMITED));
    let mut service = ServeProcess::start(&dir, &[]).await;
    sim.create_alert(Value::Null);

    for interruptions in 0..KILLS {
        wait_for_async("the delivery running", PATIENCE, || async {
            let running = runs(&service, "running").await;
            match running.first() {
                Some(run) if run["interruptions"] == json!(interruptions) => Ok(()),
                _ => Err(format!("{running:?}")),
            }
        })
        .await;
        service.kill_9().await;
        service.restart().await;
    }
    let dead = wait_for_async("a dead letter", PATIENCE, || async {
        let dead = runs(&service, "dead").await;
        dead.first().cloned().ok_or("no dead letter".to_owned())
    })
    .await;
    assert_eq!(dead["interruptions"], KILLS, "{dead}");
    assert!(
        dead["error"]
            .as_str()
            .is_some_and(|e| e.contains(&format!("interrupted {KILLS} times"))),
        "{dead}"
    );
    assert!(runs(&service, "running").await.is_empty(), "not resumed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_that_are_not_alert_ids_never_reach_a_sekoia_url() {
    const LITERAL_ID: &str = "1c9e8f20-5b6a-4d3c-8e7f-0a1b2c3d4e5f";
    let sim = simulator().await;
    let mut entries = forward_to_ilert();
    let dir = service_dir(&sim, "", &delivery(2, UNLIMITED));
    for (id, alert_uuid) in [
        (
            common::delivery::WEBHOOK_PLAYBOOK_ID,
            "{{ node.1.alert_uuid }}",
        ),
        (LITERAL_ID, "../../me"),
    ] {
        dir.write(&format!("{id}.json"), &webhook_playbook(id, alert_uuid));
        entries.push_str(&format!(
            "[[playbook]]\nfile = \"{id}.json\"\nwebhook_token = \"{WEBHOOK_TOKEN}\"\n"
        ));
    }
    prepend_playbooks(&dir, &entries);
    let service = ServeProcess::start(&dir, &[]).await;
    live_connected(&sim).await;
    let seen_before = sim.requests(Receiver::Sekoia).len();
    let hook = format!("/hooks/{}/1", common::delivery::WEBHOOK_PLAYBOOK_ID);

    let traversal = json!({"alert_uuid": "../../me"}).to_string();
    let (status, answer) = http(
        &service.address,
        "POST",
        &hook,
        Some(WEBHOOK_TOKEN),
        &traversal,
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"], "bad_request", "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .is_some_and(|e| e.contains("alert_uuid")),
        "{answer}"
    );
    let long = json!({ "alert_uuid": "A".repeat(2 << 20) }).to_string();
    let (status, answer) = http(&service.address, "POST", &hook, Some(WEBHOOK_TOKEN), &long).await;
    assert!((400..500).contains(&status), "{status} {answer}");
    // A notification naming such an alert is skipped, loudly.
    sim.create_alert(json!({"uuid": "../../me"}));
    // A template producing one fails its run at once.
    let real = uuid_of(&sim.create_alert(Value::Null));
    let body = json!({ "alert_uuid": real }).to_string();
    let literal_hook = format!("/hooks/{LITERAL_ID}/1");
    let (status, answer) = http(
        &service.address,
        "POST",
        &literal_hook,
        Some(WEBHOOK_TOKEN),
        &body,
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let failed = wait_for_async("the templated id refused", PATIENCE, || async {
        let failed = runs(&service, "failed").await;
        failed.first().cloned().ok_or("no failed run".to_owned())
    })
    .await;
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("\"../../me\" must be an alert UUID")),
        "{failed}"
    );
    wait_for_async("the real alert in ilert", PATIENCE, || async {
        all_posted(&sim, std::slice::from_ref(&real), 1)
    })
    .await;
    assert!(
        service.log().contains("which is not an alert id"),
        "the skipped notification is logged:\n{}",
        service.log()
    );

    let outside: Vec<String> = sim.requests(Receiver::Sekoia)[seen_before..]
        .iter()
        .map(|r| r.path.clone())
        .filter(|path| !path.starts_with("/v1/sic/alerts") || path.contains(".."))
        .collect();
    assert!(
        outside.is_empty(),
        "requests outside the alerts: {outside:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_surface_refuses_rebinding_idle_floods_short_tokens_and_a_second_serve() {
    const IDLE: usize = 1000;
    let sim = simulator().await;
    let dir = service_dir(&sim, &forward_to_ilert(), &delivery(2, UNLIMITED));
    let service = ServeProcess::start(&dir, &[]).await;

    let rebound = raw_get(
        &service.address,
        "rebinding.attacker.example",
        "/api/v1/runs",
    )
    .await;
    assert!(rebound.starts_with("HTTP/1.1 403"), "{rebound}");
    assert!(rebound.contains("\"error\""), "a JSON error: {rebound}");
    let port = service.address.rsplit(':').next().unwrap_or_default();
    let local = raw_get(
        &service.address,
        &format!("localhost:{port}"),
        "/api/v1/runs",
    )
    .await;
    assert!(local.starts_with("HTTP/1.1 200"), "{local}");

    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        idle.push(
            TcpStream::connect(&service.address)
                .await
                .expect("the service accepts connections"),
        );
    }
    let answered = tokio::time::timeout(Duration::from_secs(10), healthz(&service))
        .await
        .expect("/healthz answers beside 1,000 idle connections");
    assert_eq!(answered.0, 200, "{}", answered.1);
    drop(idle);

    let second = serve_once(&dir).await;
    assert_eq!(exit_code(&second), 2, "{}", stderr(&second));
    let message = stderr(&second);
    assert!(
        message.contains("alertsync.db") && message.contains(&service.pid().to_string()),
        "names the store and the process holding it: {message}"
    );

    let short = service_dir(
        &sim,
        &forward_to_ilert(),
        &format!(
            "{}\n[server]\ntoken = \"too-short\"\n",
            delivery(2, UNLIMITED)
        ),
    );
    let refused = serve_once(&short).await;
    assert_eq!(exit_code(&refused), 2, "{}", stderr(&refused));
    assert!(stderr(&refused).contains("16"), "{}", stderr(&refused));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_changes_made_while_serve_is_down_reach_ilert_with_and_without_history() {
    let sim = simulator().await;
    let dir = service_dir(&sim, &forward_to_ilert(), &delivery(2, UNLIMITED));
    let mut service = ServeProcess::start(&dir, &[]).await;
    live_connected(&sim).await;
    let an_hour_ago = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        - 3600;
    let uuids: Vec<String> = (0..6)
        .map(|_| uuid_of(&sim.create_alert(json!({"created_at": an_hour_ago}))))
        .collect();
    wait_for_async("the alerts in ilert", PATIENCE, || async {
        all_posted(&sim, &uuids, 1)
    })
    .await;

    // History newest first, status entries without `previous_status`, as Sekoia.io lists it.
    service.terminate().await;
    sim.set_status(&uuids[0], "Acknowledged", None)
        .expect("the alert");
    sim.set_status(&uuids[1], "Acknowledged", None)
        .expect("the alert");
    sim.set_status(&uuids[1], "Closed", None)
        .expect("the alert");
    sim.set_status(&uuids[2], "Closed", None)
        .expect("the alert");
    service.restart().await;
    let with_history = [
        (&uuids[0], 2, "acknowledged"),
        (&uuids[1], 3, "closed"),
        (&uuids[2], 2, "closed"),
    ];
    expect_changes(&sim, &with_history).await;

    // No history at all: the current status is the change.
    sim.serve_alert_history(false);
    service.terminate().await;
    sim.set_status(&uuids[3], "Acknowledged", None)
        .expect("the alert");
    sim.set_status(&uuids[4], "Closed", None)
        .expect("the alert");
    sim.set_status(&uuids[5], "Acknowledged", None)
        .expect("the alert");
    service.restart().await;
    let without_history = [
        (&uuids[3], 2, "acknowledged"),
        (&uuids[4], 2, "closed"),
        (&uuids[5], 2, "acknowledged"),
    ];
    expect_changes(&sim, &without_history).await;
    ilert_quiet(&sim).await;
    let posts = ilert_posts(&sim);
    for (uuid, changes, _) in with_history.iter().chain(&without_history) {
        assert_eq!(
            posts[*uuid].len(),
            *changes,
            "alert {uuid}: {:?}",
            posts[*uuid]
        );
    }
}

/// Waits until each alert has `changes` posts in ilert, in life order, the last `last`.
async fn expect_changes(sim: &Simulator, expected: &[(&String, usize, &str)]) {
    for (uuid, changes, last) in expected {
        wait_for_async("the changes made while down in ilert", PATIENCE, || async {
            let sent = ilert_posts(sim).remove(*uuid).unwrap_or_default();
            let complete = sent.len() >= *changes
                && in_life_order(&sent)
                && sent.last().is_some_and(|status| status == last);
            complete.then_some(()).ok_or(format!(
                "alert {uuid}: {sent:?}, expected {changes} ending {last}"
            ))
        })
        .await;
    }
}

/// `GET /healthz`: the status and the health document.
async fn healthz(service: &ServeProcess) -> (u16, Value) {
    http(&service.address, "GET", "/healthz", None, "").await
}

fn problem_codes(health: &Value) -> Vec<String> {
    health["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|problem| problem["code"].as_str().map(str::to_owned))
        .collect()
}

/// Waits until `/healthz` reports the problem `code` (503), or `ok` (200) for `"ok"`.
async fn health_reports(service: &ServeProcess, code: &str) -> Value {
    wait_for_async(&format!("/healthz to report {code}"), PATIENCE, || async {
        let (status, health) = healthz(service).await;
        let reported = if code == "ok" {
            status == 200 && health["status"] == "ok"
        } else {
            status == 503 && problem_codes(&health).iter().any(|c| c == code)
        };
        reported
            .then(|| health.clone())
            .ok_or(format!("{status} {health}"))
    })
    .await
}

/// The runs with `status`, newest first.
async fn runs(service: &ServeProcess, status: &str) -> Vec<Value> {
    let path = format!("/api/v1/runs?status={status}&limit=1000");
    let (code, body) = http(&service.address, "GET", &path, None, "").await;
    assert_eq!(code, 200, "{body}");
    body["runs"].as_array().cloned().unwrap_or_default()
}

/// `POST path` to the API, which must succeed.
async fn api_post(service: &ServeProcess, path: &str) -> Value {
    let (status, body) = http(&service.address, "POST", path, None, "").await;
    assert!((200..300).contains(&status), "POST {path}: {status} {body}");
    body
}

/// `GET path` with `Accept: accept`: the body as text.
async fn get_text(service: &ServeProcess, path: &str, accept: &str) -> String {
    let answer = raw_request(&service.address, &service.address, path, accept).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "GET {path}: {answer}");
    answer
}

/// `GET path` naming `host` in the `Host` header: the whole answer.
async fn raw_get(address: &str, host: &str, path: &str) -> String {
    raw_request(address, host, path, "application/json").await
}

async fn raw_request(address: &str, host: &str, path: &str, accept: &str) -> String {
    let mut stream = TcpStream::connect(address).await.expect("connected");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("sent");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("answered");
    String::from_utf8_lossy(&answer).into_owned()
}

/// Runs `alertsync serve` on `dir`'s configuration once, for a start that must fail.
async fn serve_once(dir: &common::ConfigDir) -> std::process::Output {
    let config = dir.path();
    let config = config.to_str().expect("a UTF-8 path");
    let args = ["serve", "--config", config, "--listen", "127.0.0.1:0"];
    tokio::time::timeout(Duration::from_secs(60), alertsync(dir.dir.path(), &args))
        .await
        .expect("a refused start ends at once")
}

/// Puts `entries` (`[[playbook]]` tables) before the other tables of `dir`'s configuration.
fn prepend_playbooks(dir: &common::ConfigDir, entries: &str) {
    let config = std::fs::read_to_string(dir.path()).expect("the configuration");
    std::fs::write(dir.path(), format!("{entries}\n{config}")).expect("written");
}

/// The playbook `id`: Manual Trigger → Request URL `GET url` (a template).
fn request_playbook(id: &str, url: &str) -> String {
    on_demand_playbook(
        id,
        &format!("Request {id}"),
        json!({
            "name": "Request URL",
            "arguments": {"url": url, "method": "get"},
            "action_uuid": "40bcf3c0-aa8b-4111-9b4e-f3caffccb4e5",
            "module_uuid": "5894985f-91eb-46db-9306-cc5ac6463d3d",
        }),
    )
}

/// A loopback server answering every request with a 1 GiB body, streamed until the client
/// stops reading: with its length, or (for a path ending in `unsized`) delimited by the end
/// of the connection.
struct HugeResponder {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl HugeResponder {
    async fn start() -> Self {
        const SIZE: u64 = 1 << 30;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bound");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let read = stream.read(&mut request).await.unwrap_or(0);
                    let line = String::from_utf8_lossy(&request[..read]);
                    let length = if line.lines().next().is_some_and(|l| l.contains("unsized")) {
                        "Connection: close".to_owned()
                    } else {
                        format!("Content-Length: {SIZE}")
                    };
                    let head =
                        format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n{length}\r\n\r\n");
                    if stream.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let chunk = vec![b'x'; 64 << 10];
                    let mut sent = 0;
                    while sent < SIZE && stream.write_all(&chunk).await.is_ok() {
                        sent += chunk.len() as u64;
                    }
                });
            }
        });
        Self { url, task }
    }
}

impl Drop for HugeResponder {
    fn drop(&mut self) {
        self.task.abort();
    }
}
