//! `alertsync serve` as it is deployed: the built binary, started and stopped as a process
//! (SIGTERM, SIGKILL), against the simulated Sekoia.io and ilert over real sockets.
//!
//! Each test reads like the guarantee it proves: alert changes reach ilert and leave each
//! ilert alert in the right state; one alert's changes reach ilert in order; live stream
//! drops, ilert throttling and outages, crashes and stops lose nothing and duplicate only
//! what the guarantees allow. Tests wait on what the simulator observes (polled, with a
//! generous limit); sleeps only shape the workload (when alerts are raised, when a kill
//! comes), never stand in for waiting.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alertsync_sim::{Fault, Receiver, Route, Simulator};
use common::delivery::{
    PATIENCE, POLL, UNLIMITED, WEBHOOK_PLAYBOOK_ID, WEBHOOK_TOKEN, accepted_count, all_in_ilert,
    all_posted, delivery, forward_to_ilert, ilert_posts, ilert_quiet, in_life_order,
    live_connected, service_dir, uuid_of, wait_for, webhook_playbook,
};
use common::service::{ServeProcess, http, run_detail};
use common::{alertsync, exit_code, simulator, stderr, stdout, stdout_json};
use serde_json::{Value, json};

/// A small random source for the moments of kills; the seed is printed (and can be set
/// with `ALERTSYNC_TEST_SEED`) so a failing schedule can be replayed.
struct Dice(u64);

impl Dice {
    fn new() -> Self {
        let seed = std::env::var("ALERTSYNC_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        eprintln!("random seed: {seed} (ALERTSYNC_TEST_SEED to replay)");
        Self(seed | 1)
    }

    /// A number in `0..n` (xorshift64*).
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// The alerts of a [`burst`].
struct Raised {
    /// In creation order.
    uuids: Vec<String>,
    /// How many were raised while no live connection listened: only back-fill finds them.
    unheard: usize,
}

/// Creates `count` alerts in batches of `batch`, `pause` apart, in a task.
fn burst(
    sim: &Simulator,
    count: usize,
    batch: usize,
    pause: Duration,
) -> tokio::task::JoinHandle<Raised> {
    let sim = sim.clone();
    tokio::spawn(async move {
        let mut raised = Raised {
            uuids: Vec::with_capacity(count),
            unheard: 0,
        };
        while raised.uuids.len() < count {
            let n = batch.min(count - raised.uuids.len());
            if sim.live_connection_count() == 0 {
                raised.unheard += n;
            }
            raised
                .uuids
                .extend(sim.create_alerts(n).iter().map(uuid_of));
            tokio::time::sleep(pause).await;
        }
        raised
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_changes_reach_ilert_and_leave_each_alert_in_the_right_state() {
    let sim = simulator().await;
    let dir = service_dir(&sim, &forward_to_ilert(), &delivery(4, UNLIMITED));
    let _service = ServeProcess::start(&dir, &[]).await;

    let [
        stays_pending,
        acknowledged,
        ack_then_closed,
        closed,
        rejected,
    ] = std::array::from_fn(|_| uuid_of(&sim.create_alert(Value::Null)));
    let all = [
        &stays_pending,
        &acknowledged,
        &ack_then_closed,
        &closed,
        &rejected,
    ];
    let view = |uuid: &str| {
        sim.ilert_alerts()
            .into_iter()
            .find(|a| a.alert_key == uuid)
            .map(|a| (a.status, a.events))
    };
    wait_for("every new alert opened in ilert", PATIENCE, POLL, || {
        let open = all
            .iter()
            .filter(|u| view(u).is_some_and(|(status, _)| status == "open"))
            .count();
        (open == all.len())
            .then_some(())
            .ok_or(format!("{open} of {} open", all.len()))
    })
    .await;

    sim.set_status(&acknowledged, "Acknowledged", None).unwrap();
    sim.set_status(&ack_then_closed, "Acknowledged", None)
        .unwrap();
    sim.set_status(&closed, "Closed", None).unwrap();
    sim.set_status(&rejected, "Rejected", None).unwrap();
    let reaches = |uuid: &str, wanted: &str| {
        let state = view(uuid);
        if state.as_ref().is_some_and(|(status, _)| status == wanted) {
            Ok(())
        } else {
            Err(format!("alert {uuid} is {state:?} in ilert, not {wanted}"))
        }
    };
    wait_for("the status changes in ilert", PATIENCE, POLL, || {
        reaches(&acknowledged, "acknowledged")?;
        reaches(&ack_then_closed, "acknowledged")?;
        reaches(&closed, "resolved")?;
        reaches(&rejected, "resolved")
    })
    .await;
    sim.set_status(&ack_then_closed, "Closed", None).unwrap();
    wait_for("the second change in ilert", PATIENCE, POLL, || {
        reaches(&ack_then_closed, "resolved")
    })
    .await;
    ilert_quiet(&sim).await;

    let expected = [
        (&stays_pending, "open", vec!["pending"]),
        (
            &acknowledged,
            "acknowledged",
            vec!["pending", "acknowledged"],
        ),
        (
            &ack_then_closed,
            "resolved",
            vec!["pending", "acknowledged", "closed"],
        ),
        (&closed, "resolved", vec!["pending", "closed"]),
        (&rejected, "resolved", vec!["pending", "closed"]),
    ];
    let posts = ilert_posts(&sim);
    for (uuid, status, events) in expected {
        let (got_status, got_events) = view(uuid).expect("the alert is in ilert");
        assert_eq!(got_status, status, "ilert state of alert {uuid}");
        assert_eq!(got_events, events, "ilert events of alert {uuid}");
        // One delivery per change: nothing sent twice.
        assert_eq!(posts[uuid], events, "ilert posts of alert {uuid}");
    }
}

/// Reads of each alert (`GET .../sic/alerts/<uuid>`) Sekoia.io has answered.
fn alert_reads(sim: &Simulator) -> HashMap<String, usize> {
    let mut reads: HashMap<String, usize> = HashMap::new();
    for request in sim.requests(Receiver::Sekoia) {
        if request.method != "GET" {
            continue;
        }
        if let Some((_, uuid)) = request.path.rsplit_once("/sic/alerts/")
            && !uuid.contains('/')
        {
            *reads.entry(uuid.to_owned()).or_default() += 1;
        }
    }
    reads
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_reads_its_alert_once_and_a_later_status_is_read_afresh() {
    let sim = simulator().await;
    let dir = service_dir(&sim, &forward_to_ilert(), &delivery(2, UNLIMITED));
    let _service = ServeProcess::start(&dir, &[]).await;
    live_connected(&sim).await;
    let uuid = uuid_of(&sim.create_alert(Value::Null));
    wait_for("the new alert in ilert", PATIENCE, POLL, || {
        all_posted(&sim, std::slice::from_ref(&uuid), 1)
    })
    .await;
    sim.set_status(&uuid, "Acknowledged", None).unwrap();
    let posts = wait_for("the acknowledgement in ilert", PATIENCE, POLL, || {
        all_posted(&sim, std::slice::from_ref(&uuid), 2)
    })
    .await;
    assert_eq!(
        posts[&uuid],
        ["pending", "acknowledged"],
        "each run forwards the alert as it is"
    );
    let reads = sim
        .requests(Receiver::Sekoia)
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with(&format!("/sic/alerts/{uuid}")))
        .count();
    assert_eq!(
        reads, 2,
        "one read of the alert per run: the trigger's, shared with the action"
    );
    // The playbook never names `file_path`: no alert file was written for its runs.
    let alert_files = dir.dir.path().join("data/files/alerts");
    assert!(
        !alert_files.exists(),
        "{} was created for a playbook that reads no alert file",
        alert_files.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_alerts_changes_reach_ilert_in_order() {
    const ALERTS: usize = 200;
    let sim = simulator().await;
    // ilert answers after uneven delays, up to 200 ms: a delivery that started after an
    // earlier one of the same alert would often overtake it.
    for n in 0..(3 * ALERTS) {
        sim.inject_fault(Fault::latency(Route::Ilert, [0, 200, 10, 80, 30][n % 5]));
    }
    let dir = service_dir(&sim, &forward_to_ilert(), &delivery(8, UNLIMITED));
    let _service = ServeProcess::start(&dir, &[]).await;

    // Alerts are raised 50 ms apart (about the pace the service keeps up with, so a new
    // event's run starts at once when it is allowed to), many being worked on at a time. As
    // soon as ilert shows an alert, its analyst acknowledges it; as soon as the
    // acknowledgement's run has read the alert (two reads: the trigger's and the action's)
    // the analyst closes it — while that run's delivery is still on its way to ilert. The
    // close's run must wait for it: started at once, it would read the alert closed and
    // often deliver first.
    let started = Instant::now();
    let raising = burst(&sim, ALERTS, 1, Duration::from_millis(50));
    let mut acknowledged: HashMap<String, usize> = HashMap::new();
    let mut closed = 0;
    while closed < ALERTS {
        assert!(
            started.elapsed() < PATIENCE,
            "{} of {ALERTS} alerts acknowledged, {closed} closed",
            acknowledged.len()
        );
        let posts = ilert_posts(&sim);
        let reads = alert_reads(&sim);
        for (uuid, sent) in &posts {
            let read = reads.get(uuid).copied().unwrap_or(0);
            match acknowledged.get(uuid).copied() {
                None => {
                    sim.set_status(uuid, "Acknowledged", None).unwrap();
                    acknowledged.insert(uuid.clone(), read);
                }
                Some(at_ack) if at_ack != usize::MAX && (read >= at_ack + 2 || sent.len() >= 2) => {
                    sim.set_status(uuid, "Closed", None).unwrap();
                    acknowledged.insert(uuid.clone(), usize::MAX);
                    closed += 1;
                }
                Some(_) => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let uuids = raising.await.expect("the alerts are raised").uuids;
    let posts = wait_for(
        "three ilert posts per alert",
        PATIENCE,
        Duration::from_millis(100),
        || all_posted(&sim, &uuids, 3),
    )
    .await;
    let drained = started.elapsed();
    ilert_quiet(&sim).await;
    assert_eq!(
        ilert_posts(&sim),
        posts,
        "ilert received more after every change was delivered"
    );

    let views: HashMap<String, Vec<_>> =
        sim.ilert_alerts()
            .into_iter()
            .fold(HashMap::new(), |mut views, view| {
                views.entry(view.alert_key.clone()).or_default().push(view);
                views
            });
    let mut whole_lives = 0;
    for uuid in &uuids {
        let sent = &posts[uuid];
        assert_eq!(
            sent.len(),
            3,
            "alert {uuid}: one delivery per change: {sent:?}"
        );
        assert!(
            in_life_order(sent),
            "alert {uuid}: ilert received its changes out of order: {sent:?}"
        );
        assert_eq!(sent[0], "pending", "alert {uuid}: the first delivery");
        assert_eq!(sent[2], "closed", "alert {uuid}: the last delivery");
        let alert = &views[uuid];
        assert_eq!(alert.len(), 1, "alert {uuid}: one ilert alert");
        assert_eq!(alert[0].status, "resolved", "alert {uuid}");
        // Each run forwards the alert as it is when the run reads it.
        assert!(
            in_life_order(&alert[0].events),
            "alert {uuid}: ilert events out of order: {:?}",
            alert[0].events
        );
        if alert[0].events == ["pending", "acknowledged", "closed"] {
            whole_lives += 1;
        }
    }
    eprintln!(
        "ordering: {ALERTS} alerts x 3 changes delivered in {drained:?}; {whole_lives} show \
         pending, acknowledged, closed in ilert"
    );
    assert!(
        whole_lives >= ALERTS / 2,
        "only {whole_lives} acknowledgements were read before their close: the test proves little"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_stream_drops_during_a_burst_lose_nothing_and_duplicate_nothing() {
    const ALERTS: usize = 1_000;
    const MIN_DROPS: usize = 3;
    let sim = simulator().await;
    let dir = service_dir(&sim, &forward_to_ilert(), &delivery(8, UNLIMITED));
    let _service = ServeProcess::start(&dir, &[]).await;
    wait_for("the live connection", PATIENCE, POLL, || {
        (sim.live_connection_count() > 0)
            .then_some(())
            .ok_or_else(|| "not connected".to_owned())
    })
    .await;

    let started = Instant::now();
    let alerts = burst(&sim, ALERTS, 25, Duration::from_millis(100));
    // Drops the socket 200 ms after each reconnect for as long as the burst lasts (and at
    // least MIN_DROPS times): alerts created meanwhile are only found by back-fill, and
    // every back-fill re-reads the alerts the live stream already delivered.
    let mut drops = 0;
    while !alerts.is_finished() || drops < MIN_DROPS {
        wait_for(
            "a live reconnection",
            PATIENCE,
            Duration::from_millis(10),
            || {
                (sim.live_connection_count() > 0)
                    .then_some(())
                    .ok_or_else(|| "not reconnected".to_owned())
            },
        )
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        sim.drop_live_connections();
        drops += 1;
    }
    let Raised { uuids, unheard } = alerts.await.expect("the burst");
    wait_for(
        "every alert in ilert",
        PATIENCE,
        Duration::from_millis(100),
        || all_posted(&sim, &uuids, 1),
    )
    .await;
    let drained = started.elapsed();

    // One more reconnection and its back-fill (over the whole burst, within the back-fill
    // overlap), then an alert that comes after it: once that one is in ilert and ilert
    // is quiet, no back-filled duplicate is still on its way.
    sim.drop_live_connections();
    wait_for("the last reconnection", PATIENCE, POLL, || {
        (sim.live_connection_count() > 0)
            .then_some(())
            .ok_or_else(|| "not reconnected".to_owned())
    })
    .await;
    let last = vec![uuid_of(&sim.create_alert(Value::Null))];
    wait_for("the last alert in ilert", PATIENCE, POLL, || {
        all_posted(&sim, &last, 1)
    })
    .await;
    ilert_quiet(&sim).await;

    let posts = ilert_posts(&sim);
    let twice: Vec<_> = uuids
        .iter()
        .filter(|u| posts[*u].len() != 1)
        .map(|u| (u, &posts[u]))
        .collect();
    eprintln!(
        "live drops: {ALERTS} alerts ({unheard} raised while disconnected), {} drops, all in \
         ilert after {drained:?}, {} sent twice",
        drops + 1,
        twice.len()
    );
    assert!(twice.is_empty(), "alerts sent more than once: {twice:?}");
    assert_eq!(posts[&last[0]].len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ilert_throttling_and_outage_delay_delivery_but_lose_nothing() {
    const ALERTS: usize = 8;
    // Low enough that the quota binds: 24 deliveries and the failed attempts exceed it, so
    // the last ones wait for the minute to pass.
    const PER_MINUTE: u32 = 20;
    const THROTTLED: usize = 4;
    const UNAVAILABLE: usize = 8;
    let sim = simulator().await;
    sim.inject_fault(
        Fault::status(Route::Ilert, 429)
            .times(THROTTLED as u32)
            .retry_after(1),
    );
    sim.inject_fault(Fault::status(Route::Ilert, 503).times(UNAVAILABLE as u32));
    let dir = service_dir(&sim, &forward_to_ilert(), &delivery(4, PER_MINUTE));
    let _service = ServeProcess::start(&dir, &[]).await;

    let started = Instant::now();
    let mut uuids = Vec::new();
    for _ in 0..ALERTS {
        let uuid = uuid_of(&sim.create_alert(Value::Null));
        tokio::time::sleep(Duration::from_millis(30)).await;
        sim.set_status(&uuid, "Acknowledged", None).unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        sim.set_status(&uuid, "Closed", None).unwrap();
        uuids.push(uuid);
    }
    let posts = wait_for(
        "three ilert posts per alert",
        Duration::from_secs(150),
        Duration::from_millis(100),
        || all_posted(&sim, &uuids, 3),
    )
    .await;
    let drained = started.elapsed();

    let requests = sim.requests(Receiver::Ilert);
    let answered = |status: u16| requests.iter().filter(|r| r.status == status).count();
    assert_eq!(answered(429), THROTTLED, "429 answers");
    assert_eq!(answered(503), UNAVAILABLE, "503 answers");
    for uuid in &uuids {
        let sent = &posts[uuid];
        assert_eq!(
            sent.len(),
            3,
            "alert {uuid}: one delivery per change: {sent:?}"
        );
        assert!(in_life_order(sent), "alert {uuid}: out of order: {sent:?}");
        assert_eq!(sent[2], "closed", "alert {uuid}: the last delivery");
    }
    // Retry-After is honoured: an alert's runs go one after the other, so the next request
    // about the alert of a 429 is that delivery's retry.
    for (i, throttled) in requests.iter().enumerate().filter(|(_, r)| r.status == 429) {
        let uuid = &throttled.body["uuid"];
        let retry = requests[i + 1..]
            .iter()
            .find(|r| &r.body["uuid"] == uuid)
            .expect("a throttled delivery is retried");
        let waited = retry.received_at_ms - throttled.received_at_ms;
        assert!(
            waited >= 950,
            "retried {waited} ms after a 429 with Retry-After: 1"
        );
    }
    // The quota counts every attempt. Measured on arrival, so a request may arrive a little
    // later than it left: windows are shortened by that much.
    let mut arrivals: Vec<u64> = requests.iter().map(|r| r.received_at_ms).collect();
    arrivals.sort_unstable();
    let window_ms = 60_000 - 500;
    let busiest = arrivals
        .iter()
        .enumerate()
        .map(|(i, start)| {
            arrivals[i..]
                .iter()
                .take_while(|t| **t < start + window_ms)
                .count()
        })
        .max()
        .unwrap_or(0);
    eprintln!(
        "ilert faults: {} attempts, {THROTTLED} x 429 and {UNAVAILABLE} x 503, busiest minute \
         {busiest} (quota {PER_MINUTE}), everything delivered after {drained:?}",
        requests.len()
    );
    assert!(
        requests.len() > PER_MINUTE as usize,
        "the quota was never reached: the test proves nothing"
    );
    assert!(
        busiest <= PER_MINUTE as usize,
        "{busiest} requests within a minute, quota {PER_MINUTE}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_burst_loses_nothing_and_repeats_only_nodes_in_flight() {
    const ALERTS: usize = 300;
    const KILLS: usize = 3;
    const WORKERS: usize = 4;
    let mut dice = Dice::new();
    let sim = simulator().await;
    // Deliveries take a moment, so kills find them in flight.
    sim.inject_fault(Fault::latency(Route::Ilert, 10).times(u32::MAX));
    let dir = service_dir(&sim, &forward_to_ilert(), &delivery(WORKERS, UNLIMITED));
    let mut service = ServeProcess::start(&dir, &[]).await;

    let started = Instant::now();
    let alerts = burst(&sim, ALERTS, 10, Duration::from_millis(100));
    let mut at_kills = Vec::new();
    for _ in 0..KILLS {
        let target = accepted_count(&sim) + 20 + dice.below(40) as usize;
        wait_for(
            "progress before a kill",
            PATIENCE,
            Duration::from_millis(10),
            || {
                let now = accepted_count(&sim);
                (now >= target)
                    .then_some(())
                    .ok_or(format!("{now} of {target} delivered"))
            },
        )
        .await;
        tokio::time::sleep(Duration::from_millis(dice.below(100))).await;
        service.kill_9().await;
        at_kills.push(accepted_count(&sim));
        // Down for a moment: alerts created meanwhile come back through back-fill.
        tokio::time::sleep(Duration::from_millis(dice.below(300))).await;
        service.restart().await;
    }
    let Raised { uuids, unheard } = alerts.await.expect("the burst");
    let (drained, repeated) = all_in_ilert(&sim, &uuids, started).await;
    eprintln!(
        "kill -9: {ALERTS} alerts ({unheard} raised while down or connecting), {KILLS} kills (at {at_kills:?} deliveries), {repeated} \
         duplicate deliveries (bound {}), all delivered after {drained:?}",
        KILLS * WORKERS
    );
    assert!(
        repeated <= KILLS * WORKERS,
        "{repeated} duplicate deliveries for {KILLS} kills of {WORKERS} workers"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_retrying_at_a_kill_continues_its_retries_after_the_restart() {
    // The kill must come while the run is held: the backoff's jitter makes that window as
    // short as half the delay, and a loaded machine may take a second to see the hold.
    const DELAY_MS: u64 = 4_000;
    const MAX_AGE_SECS: u64 = 14;
    let sim = simulator().await;
    sim.inject_fault(Fault::status(Route::Ilert, 503).times(UNLIMITED));
    let retries = format!(
        "initial_delay_ms = {DELAY_MS}\nmax_delay_ms = {DELAY_MS}\n\
         max_age_secs = {MAX_AGE_SECS}\nworkers = 1\n"
    );
    let dir = service_dir(&sim, &forward_to_ilert(), &retries);
    let mut service = ServeProcess::start(&dir, &[]).await;

    sim.create_alert(Value::Null);
    let attempts = || sim.requests(Receiver::Ilert);
    // The delivery is held between attempts; its second attempt failed and is journalled:
    // the kill comes while it waits for its third.
    wait_for_retry_state(&service, 2).await;
    service.kill_9().await;
    service.restart().await;

    // Held until the retry age runs out: then a dead letter, not a failure to fix.
    let deadline = Instant::now() + PATIENCE;
    let dead = loop {
        let (status, body) = http(
            &service.address,
            "GET",
            "/api/v1/runs?status=dead",
            None,
            "",
        )
        .await;
        assert_eq!(status, 200, "{body}");
        if let Some(run) = body["runs"].as_array().and_then(|runs| runs.first()) {
            break run.clone();
        }
        assert!(Instant::now() < deadline, "no dead letter: {body}");
        tokio::time::sleep(POLL).await;
    };
    let requests = attempts();
    let gaps: Vec<u64> = requests
        .windows(2)
        .map(|pair| pair[1].received_at_ms - pair[0].received_at_ms)
        .collect();
    eprintln!(
        "ilert attempts across the kill: {}, gaps {gaps:?} ms",
        requests.len()
    );
    assert!(
        requests.len() >= 3,
        "attempts went on after the restart: {gaps:?}"
    );
    assert!(
        gaps.iter().all(|gap| *gap >= DELAY_MS / 2 - 50),
        "every retry waits its backoff, the one across the restart too: {gaps:?} ms"
    );
    let error = dead["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(&format!(
            "gave up after {} attempts: failing for",
            requests.len()
        )) && error.contains(&format!("the retry limit is {MAX_AGE_SECS}s")),
        "the count of attempts went on across the restart: {dead}"
    );
    assert_eq!(
        dead["interruptions"], 0,
        "a held run is not running: {dead}"
    );
}

/// Waits until the held run's retry state records `attempts` attempts: what a restart
/// continues from.
async fn wait_for_retry_state(service: &ServeProcess, attempts: u64) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (status, body) = http(
            &service.address,
            "GET",
            "/api/v1/runs?status=waiting",
            None,
            "",
        )
        .await;
        assert_eq!(status, 200, "{body}");
        if let Some(id) = body["runs"][0]["id"].as_i64() {
            let (_, run) = run_detail(&service.address, id).await;
            if run["retries"][0]["attempts"].as_u64() == Some(attempts) {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no held delivery with {attempts} attempts: {body}"
        );
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_answers_errors_clearly_and_accepted_events_survive_a_kill() {
    const CALLS: usize = 20;
    const WORKERS: usize = 4;
    let sim = simulator().await;
    let entry =
        format!("[[playbook]]\nfile = \"on-demand.json\"\nwebhook_token = \"{WEBHOOK_TOKEN}\"\n");
    let dir = service_dir(&sim, &entry, &delivery(WORKERS, UNLIMITED));
    dir.write(
        "on-demand.json",
        &webhook_playbook(WEBHOOK_PLAYBOOK_ID, "{{ node.1.alert_uuid }}"),
    );
    let mut service = ServeProcess::start(&dir, &[]).await;
    let hook = format!("/hooks/{WEBHOOK_PLAYBOOK_ID}/1");
    let alert = uuid_of(&sim.create_alert(Value::Null));
    let body = json!({"alert_uuid": alert}).to_string();

    let (status, health) = http(&service.address, "GET", "/healthz", None, "").await;
    assert_eq!((status, &health["status"]), (200, &json!("ok")), "{health}");
    let refused = [
        ("no token", hook.clone(), None, body.clone(), 401),
        (
            "wrong token",
            hook.clone(),
            Some("not-the-token"),
            body.clone(),
            401,
        ),
        (
            "not JSON",
            hook.clone(),
            Some(WEBHOOK_TOKEN),
            "alert_uuid=x".to_owned(),
            400,
        ),
        (
            "no alert_uuid",
            hook.clone(),
            Some(WEBHOOK_TOKEN),
            json!({"uuid": alert}).to_string(),
            400,
        ),
        (
            "empty alert_uuid",
            hook.clone(),
            Some(WEBHOOK_TOKEN),
            json!({"alert_uuid": " "}).to_string(),
            400,
        ),
        (
            "unknown playbook",
            "/hooks/00000000-0000-0000-0000-000000000000/1".to_owned(),
            Some(WEBHOOK_TOKEN),
            body.clone(),
            404,
        ),
        (
            "unknown trigger node",
            format!("/hooks/{WEBHOOK_PLAYBOOK_ID}/2"),
            Some(WEBHOOK_TOKEN),
            body.clone(),
            404,
        ),
    ];
    for (case, path, token, body, expected) in refused {
        let (status, answer) = http(&service.address, "POST", &path, token, &body).await;
        assert_eq!(status, expected, "{case}: {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty())
                && answer["detail"].as_str().is_some_and(|e| !e.is_empty()),
            "{case}: a JSON error, got {answer}"
        );
    }

    // Reading the alert is slow for the first runs, so the kill comes while the accepted
    // events are still undelivered.
    sim.inject_fault(Fault::latency(Route::SekoiaGetAlert, 3_000).times(WORKERS as u32));
    let mut uuids = vec![alert];
    uuids.extend(sim.create_alerts(CALLS - 1).iter().map(uuid_of));
    let mut event_ids = Vec::new();
    for uuid in &uuids {
        let body = json!({"alert_uuid": uuid}).to_string();
        let (status, answer) =
            http(&service.address, "POST", &hook, Some(WEBHOOK_TOKEN), &body).await;
        assert_eq!(status, 202, "{answer}");
        event_ids.push(answer["event_id"].as_u64().expect("an event id"));
    }
    service.kill_9().await;
    let before_restart = accepted_count(&sim);
    let mut distinct = event_ids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        CALLS,
        "every 202 names its own event: {event_ids:?}"
    );
    service.restart().await;
    let (_, repeated) = all_in_ilert(&sim, &uuids, Instant::now()).await;
    eprintln!(
        "webhook: {CALLS} calls accepted, {before_restart} delivered before the kill, all \
         after the restart, {repeated} duplicates"
    );
    assert!(
        before_restart < CALLS,
        "everything was delivered before the kill: the test proves nothing"
    );
    assert!(repeated <= WORKERS, "{repeated} duplicate deliveries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_burst_stops_within_the_grace_period_and_a_restart_completes() {
    const ALERTS: usize = 200;
    const WORKERS: usize = 4;
    const GRACE: Duration = Duration::from_secs(2);
    const MARGIN: Duration = Duration::from_secs(3);
    let sim = simulator().await;
    let dir = service_dir(&sim, &forward_to_ilert(), &delivery(WORKERS, UNLIMITED));
    let grace = GRACE.as_secs().to_string();
    let mut service = ServeProcess::start(&dir, &["--grace", &grace]).await;

    let started = Instant::now();
    let alerts = burst(&sim, ALERTS, 5, Duration::from_millis(100));
    wait_for(
        "deliveries under way",
        PATIENCE,
        Duration::from_millis(10),
        || {
            let now = accepted_count(&sim);
            (now >= 40).then_some(()).ok_or(format!("{now} delivered"))
        },
    )
    .await;
    // The next deliveries hang far longer than the grace period plus the margin: a stop that
    // waited for them would be seen.
    sim.inject_fault(Fault::latency(Route::Ilert, 10_000).times(WORKERS as u32));
    // Long enough for alerts raised meanwhile (50 a second) to reach the hanging deliveries.
    tokio::time::sleep(Duration::from_millis(300 + Dice::new().below(200))).await;
    let (took, code) = service.terminate().await;
    let at_stop = accepted_count(&sim);
    assert_eq!(code, Some(0), "exit code after SIGTERM");
    assert!(
        took <= GRACE + MARGIN,
        "stopped {took:?} after SIGTERM, grace {GRACE:?}"
    );

    service.restart().await;
    let Raised { uuids, unheard } = alerts.await.expect("the burst");
    let (drained, repeated) = all_in_ilert(&sim, &uuids, started).await;
    eprintln!(
        "SIGTERM: exit after {took:?} (grace {GRACE:?}), {at_stop} of {ALERTS} delivered at \
         the stop, {unheard} raised while down or connecting, all after the restart ({drained:?}), {repeated} duplicates"
    );
    assert!(at_stop < ALERTS, "everything was delivered before the stop");
    assert!(repeated <= WORKERS, "{repeated} duplicate deliveries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_command_tells_health_and_holds_and_releases_a_playbook() {
    const FORWARD_ID: &str = "096acba7-ca84-4bc7-8fcb-8b44f5464b89";
    let sim = simulator().await;
    let dir = service_dir(&sim, &forward_to_ilert(), &delivery(2, UNLIMITED));
    let service = ServeProcess::start(&dir, &[]).await;
    let url = format!("http://{}", service.address);
    let cwd = dir
        .path()
        .parent()
        .expect("the configuration's directory")
        .to_owned();
    let ask = |args: &'static [&'static str]| {
        let mut full = vec!["service", "--url", url.as_str()];
        full.extend_from_slice(args);
        let cwd = cwd.clone();
        async move { alertsync(&cwd, &full).await }
    };

    let healthy = ask(&["health"]).await;
    assert_eq!(exit_code(&healthy), 0, "{}", stderr(&healthy));
    assert!(stdout(&healthy).starts_with("ok"), "{}", stdout(&healthy));

    let disabled = ask(&["disable", FORWARD_ID]).await;
    assert_eq!(exit_code(&disabled), 0, "{}", stderr(&disabled));
    let unhealthy = ask(&["health", "--format", "json"]).await;
    assert_eq!(
        exit_code(&unhealthy),
        1,
        "unhealthy while a playbook is disabled"
    );
    let health = stdout_json(&unhealthy);
    assert_eq!(
        health["problems"][0]["code"], "playbook_disabled",
        "{health}"
    );
    let listed = ask(&["playbooks"]).await;
    assert!(
        stdout(&listed).contains(&format!("{FORWARD_ID}  disabled")),
        "{}",
        stdout(&listed)
    );

    let enabled = ask(&["enable", FORWARD_ID]).await;
    assert_eq!(exit_code(&enabled), 0, "{}", stderr(&enabled));
    assert_eq!(exit_code(&ask(&["health"]).await), 0);
    assert_eq!(stdout(&ask(&["dead-letters"]).await), "no dead letters\n");

    let nowhere = alertsync(&cwd, &["service", "--url", "http://127.0.0.1:9", "health"]).await;
    assert_eq!(exit_code(&nowhere), 2);
    assert!(stderr(&nowhere).contains("cannot reach the service at http://127.0.0.1:9"));
}
