//! Several `alertsync serve` processes on one PostgreSQL database: the way a team runs
//! alertsync when one host is not enough, tested as it is deployed — three built binaries,
//! one killed with SIGKILL while alerts stream in, against the simulated Sekoia.io and
//! ilert over real sockets. Skipped loudly without PostgreSQL unless
//! `ALERTSYNC_REQUIRE_POSTGRES=1`.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use alertsync_sim::{Fault, Receiver, Route, Simulator};
use common::delivery::{
    PATIENCE, POLL, all_posted, delivery, forward_to_ilert, ilert_posts, ilert_quiet,
    in_life_order, live_connected, uuid_of, wait_for,
};
use common::service::{ServeProcess, http, run_detail};
use common::{ConfigDir, ILERT_KEY, SEKOIA_KEY, sim_accounts, simulator};
use serde_json::{Value, json};

/// Instances in the cluster.
const INSTANCES: usize = 3;
/// How long another instance may take to hold the live connection after its holder died.
const TAKEOVER: Duration = Duration::from_secs(15);
/// Seconds between two ticks of the test's Cron trigger.
const TICK_SECS: u64 = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_lose_nothing_when_the_live_holder_is_killed_twice() {
    // 1,000 alerts with two changes each: 3,000 deliveries, twice the quota of a minute, so
    // the quota binds (three instances counting alone would send up to three times as many).
    const ALERTS: usize = 1_000;
    const PER_MINUTE: u32 = 1_500;
    const WORKERS: usize = 4;
    const KILLS: usize = 2;
    let Some(schema) = alertsync_testing::postgres_schema().await else {
        return;
    };
    let sim = simulator().await;
    // Deliveries take a moment, so kills find some in flight.
    sim.inject_fault(Fault::latency(Route::Ilert, 10).times(u32::MAX));
    let dir = cluster_dir(&sim, &schema.url, PER_MINUTE, WORKERS);
    let mut instances = Vec::new();
    for _ in 0..INSTANCES {
        instances.push(ServeProcess::start(&dir, &[]).await);
    }
    live_connected(&sim).await;
    assert_eq!(
        live_holders(&instances, None).await.len(),
        1,
        "one instance holds the live connection"
    );

    let started = Instant::now();
    let mut analyst = Analyst::default();
    let mut raised = Vec::new();
    let mut takeovers = Vec::new();
    for kill in 0..KILLS {
        raise_and_follow(
            &sim,
            &mut analyst,
            &mut raised,
            ALERTS * (kill + 1) / (KILLS + 1),
        )
        .await;
        let holder = the_live_holder(&instances).await;
        instances[holder].kill_9().await;
        takeovers.push(take_over(&sim, &instances, holder).await);
        instances[holder].restart().await;
    }
    raise_and_follow(&sim, &mut analyst, &mut raised, ALERTS).await;
    while analyst.closed < ALERTS {
        assert!(
            started.elapsed() < 3 * PATIENCE,
            "{} alerts closed of {ALERTS}",
            analyst.closed
        );
        analyst.follow(&sim);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let posts = wait_for("three ilert posts per alert", PATIENCE, POLL, || {
        all_posted(&sim, &raised, 3)
    })
    .await;
    ilert_quiet(&sim).await;
    let drained = started.elapsed();

    let repeated = check_final_states(&sim, &raised, &ilert_posts(&sim));
    // A kill repeats at most the deliveries its instance had in flight: one per worker.
    let bound = KILLS * WORKERS;
    let busiest = busiest_minute(&sim);
    let ticks = cron_ticks(&instances[0]).await;
    eprintln!(
        "cluster: {ALERTS} alerts x 3 changes over {INSTANCES} instances in {drained:?}; \
         {KILLS} kills of the live holder, taken over after {takeovers:?}; {repeated} repeated \
         deliveries (bound {bound}); busiest minute {busiest} (quota {PER_MINUTE}); {} cron \
         ticks, {} runs of them",
        ticks.len(),
        ticks.values().sum::<usize>()
    );
    assert!(posts.len() >= ALERTS);
    assert!(
        repeated <= bound,
        "{repeated} repeated deliveries, bound {bound}"
    );
    assert!(
        busiest <= PER_MINUTE as usize,
        "{busiest} ilert requests within a minute, quota {PER_MINUTE} for the cluster"
    );
    assert!(
        ilert_request_count(&sim) > PER_MINUTE as usize,
        "the quota was never reached: the test proves nothing"
    );
    check_ticks_fired_once(&ticks, drained);
}

/// The configuration every instance reads: the simulator's accounts, the shipped
/// Sekoia.io → ilert playbook, a Cron trigger calling the simulator's sink every
/// [`TICK_SECS`] with its scheduled time, and the shared store.
fn cluster_dir(sim: &Simulator, store_url: &str, per_minute: u32, workers: usize) -> ConfigDir {
    let dir = ConfigDir::new("");
    dir.write("tick.json", &tick_playbook(&sim.urls().sink));
    dir.write(
        "alertsync.toml",
        &format!(
            "{accounts}\n{forward}\n[[playbook]]\nfile = \"tick.json\"\n\n\
             [store]\npath = \"data/alertsync.db\"\nurl = \"{store_url}\"\n\n\
             [delivery]\n{delivery}",
            accounts = sim_accounts(sim, SEKOIA_KEY, ILERT_KEY),
            forward = forward_to_ilert(),
            delivery = delivery(workers, per_minute),
        ),
    );
    dir
}

/// A Cron trigger every [`TICK_SECS`] seconds → a request to `sink/tick/<scheduled time>`.
fn tick_playbook(sink: &str) -> String {
    json!({
        "name": "Tick",
        "uuid": TICK_PLAYBOOK,
        "nodes": {
            "1": {
                "name": "Cron", "type": "trigger", "outputs": {"default": ["2"]},
                "position": {"x": 0, "y": 0},
                "arguments": {"interval": TICK_SECS},
                "module_uuid": alertsync_integrations::cron::MODULE_UUID,
                "trigger_uuid": alertsync_integrations::cron::CRON_TRIGGER,
                "trigger_configuration_uuid": null
            },
            "2": {
                "name": "Request URL", "type": "action", "outputs": {"default": []},
                "position": {"x": 0, "y": 160},
                "arguments": {"url": format!("{sink}/tick/{{{{ node.1.scheduled_at }}}}"),
                              "method": "get"},
                "action_uuid": "40bcf3c0-aa8b-4111-9b4e-f3caffccb4e5",
                "module_uuid": "5894985f-91eb-46db-9306-cc5ac6463d3d",
                "module_configuration_uuid": null
            }
        }
    })
    .to_string()
}

/// An analyst working in Sekoia.io: acknowledges each alert once ilert has it, closes it
/// once ilert has the acknowledgement.
#[derive(Default)]
struct Analyst {
    /// Alerts acknowledged, and whether they were closed since.
    acknowledged: HashMap<String, bool>,
    closed: usize,
}

impl Analyst {
    fn follow(&mut self, sim: &Simulator) {
        for (uuid, sent) in ilert_posts(sim) {
            match self.acknowledged.get(&uuid).copied() {
                None => {
                    sim.set_status(&uuid, "Acknowledged", None)
                        .expect("acknowledged");
                    self.acknowledged.insert(uuid, false);
                }
                Some(false) if sent.len() >= 2 => {
                    sim.set_status(&uuid, "Closed", None).expect("closed");
                    self.acknowledged.insert(uuid, true);
                    self.closed += 1;
                }
                Some(_) => {}
            }
        }
    }
}

/// Raises alerts two at a time until `until` are raised, the analyst following meanwhile.
async fn raise_and_follow(
    sim: &Simulator,
    analyst: &mut Analyst,
    raised: &mut Vec<String>,
    until: usize,
) {
    while raised.len() < until {
        raised.extend(
            sim.create_alerts(2.min(until - raised.len()))
                .iter()
                .map(uuid_of),
        );
        analyst.follow(sim);
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}

/// `/healthz` of an instance (answered with 200 or 503; both carry the view).
async fn healthz(instance: &ServeProcess) -> Value {
    let (_, body) = http(&instance.address, "GET", "/healthz", None, "").await;
    body
}

/// The instances (by index; `down` left out) whose `/healthz` says they hold a live
/// connection's lease.
async fn live_holders(instances: &[ServeProcess], down: Option<usize>) -> Vec<usize> {
    let mut holders = Vec::new();
    for (index, instance) in instances.iter().enumerate() {
        if Some(index) == down {
            continue;
        }
        let health = healthz(instance).await;
        let this = &health["cluster"]["this_instance"];
        let holds = health["cluster"]["leases"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|lease| lease["held"] == true && &lease["holder"] == this);
        if holds {
            holders.push(index);
        }
    }
    holders
}

async fn the_live_holder(instances: &[ServeProcess]) -> usize {
    let holders = live_holders(instances, None).await;
    assert_eq!(
        holders.len(),
        1,
        "one holder of the live connection: {holders:?}"
    );
    holders[0]
}

/// Waits until an instance other than `dead` holds the live connection and Sekoia.io sees
/// it connected; answers how long that took, which must be within [`TAKEOVER`].
async fn take_over(sim: &Simulator, instances: &[ServeProcess], dead: usize) -> Duration {
    let since = Instant::now();
    loop {
        let holders = live_holders(instances, Some(dead)).await;
        if !holders.is_empty() && sim.live_connection_count() > 0 {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < TAKEOVER,
            "no instance took the live connection over within {TAKEOVER:?} (holders {holders:?})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Checks that every alert ended closed in ilert, its changes delivered in order; answers
/// how many deliveries were repeats.
fn check_final_states(
    sim: &Simulator,
    raised: &[String],
    posts: &HashMap<String, Vec<String>>,
) -> usize {
    let views: HashMap<String, String> = sim
        .ilert_alerts()
        .into_iter()
        .map(|view| (view.alert_key.clone(), view.status.clone()))
        .collect();
    let mut repeated = 0;
    for uuid in raised {
        let sent = &posts[uuid];
        assert!(in_life_order(sent), "alert {uuid}: out of order: {sent:?}");
        assert_eq!(
            sent.last().map(String::as_str),
            Some("closed"),
            "alert {uuid}"
        );
        assert_eq!(
            views.get(uuid).map(String::as_str),
            Some("resolved"),
            "alert {uuid}"
        );
        repeated += sent.len().saturating_sub(3);
    }
    repeated
}

/// ilert's requests in all (accepted or not).
fn ilert_request_count(sim: &Simulator) -> usize {
    sim.requests(Receiver::Ilert).len()
}

/// The most ilert requests within any minute (less half a second for the way there).
fn busiest_minute(sim: &Simulator) -> usize {
    let mut arrivals: Vec<u64> = sim
        .requests(Receiver::Ilert)
        .iter()
        .map(|r| r.received_at_ms)
        .collect();
    arrivals.sort_unstable();
    let window_ms = 60_000 - 500;
    (0..arrivals.len())
        .map(|i| {
            arrivals[i..]
                .iter()
                .take_while(|t| **t < arrivals[i] + window_ms)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// The Tick playbook's id.
const TICK_PLAYBOOK: &str = "7c0c8f0e-3b0e-4b8e-9d0a-5f1c2b7e9a11";

/// The Cron trigger's events as the cluster stored them, by scheduled time: how many
/// events each time has. (A tick's run repeated after a kill is one event run twice, not a
/// second firing.)
async fn cron_ticks(instance: &ServeProcess) -> BTreeMap<String, usize> {
    let path = format!("/api/v1/runs?playbook={TICK_PLAYBOOK}&limit=1000");
    let (status, page) = http(&instance.address, "GET", &path, None, "").await;
    assert_eq!(status, 200, "{page}");
    let mut events: BTreeMap<i64, i64> = BTreeMap::new();
    for run in page["runs"].as_array().into_iter().flatten() {
        let (Some(event), Some(id)) = (run["inbox_id"].as_i64(), run["id"].as_i64()) else {
            panic!("a run without ids: {run}");
        };
        events.entry(event).or_insert(id);
    }
    let mut ticks = BTreeMap::new();
    for run in events.values() {
        let (_, detail) = run_detail(&instance.address, *run).await;
        let at = detail["nodes"][0]["results"]["scheduled_at"]
            .as_str()
            .unwrap_or_else(|| panic!("run {run} has no scheduled time: {detail}"))
            .to_owned();
        *ticks.entry(at).or_default() += 1;
    }
    ticks
}
/// Each tick fired once across the cluster, and the ticks kept coming through the kills.
fn check_ticks_fired_once(ticks: &BTreeMap<String, usize>, over: Duration) {
    let twice: Vec<_> = ticks.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "ticks fired more than once: {twice:?}");
    let expected = over.as_secs() / TICK_SECS;
    assert!(
        ticks.len() as u64 >= expected / 2,
        "{} ticks in {over:?}, about {expected} expected",
        ticks.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_loses_nothing_and_health_says_so_meanwhile() {
    const ALERTS: usize = 60;
    const OUTAGE: Duration = Duration::from_secs(6);
    const WORKERS: usize = 4;
    let Some(schema) = alertsync_testing::postgres_schema().await else {
        return;
    };
    let database = DatabaseLine::start(POSTGRES_ADDRESS).await;
    let url = schema.url.replacen(POSTGRES_ADDRESS, &database.address, 1);
    let sim = simulator().await;
    let dir = cluster_dir(&sim, &url, 1_000_000, WORKERS);
    let mut instances = Vec::new();
    for _ in 0..2 {
        instances.push(ServeProcess::start(&dir, &[]).await);
    }
    live_connected(&sim).await;

    let mut raised: Vec<String> = Vec::new();
    let mut analyst = Analyst::default();
    raise_and_follow(&sim, &mut analyst, &mut raised, ALERTS / 3).await;
    database.cut();
    let down = Instant::now();
    // Alerts raised while the database is down: Sekoia.io notifies them, nothing can
    // store them, so they come back through back-fill once it is up again.
    raise_and_follow(&sim, &mut analyst, &mut raised, 2 * ALERTS / 3).await;
    for instance in &instances {
        let (status, health) = wait_for_health(instance, 503).await;
        assert!(
            problem_codes(&health).contains(&"store_failing".to_owned()),
            "{status}: {health}"
        );
    }
    tokio::time::sleep(OUTAGE.saturating_sub(down.elapsed())).await;
    database.restore();
    raise_and_follow(&sim, &mut analyst, &mut raised, ALERTS).await;
    for instance in &instances {
        wait_for_health(instance, 200).await;
    }
    wait_for("every alert in ilert", PATIENCE, POLL, || {
        all_posted(&sim, &raised, 1)
    })
    .await;
    ilert_quiet(&sim).await;
    let posts = ilert_posts(&sim);
    let repeated: usize = raised
        .iter()
        .map(|uuid| {
            let sent = &posts[uuid];
            assert!(in_life_order(sent), "alert {uuid}: out of order: {sent:?}");
            let mut statuses = sent.clone();
            statuses.dedup();
            sent.len() - statuses.len()
        })
        .sum();
    // The runs in flight when the line was cut can be repeated: one per worker.
    let bound = instances.len() * WORKERS;
    eprintln!(
        "database outage of {OUTAGE:?}: {ALERTS} alerts, all in ilert, {repeated} repeated \
         deliveries (bound {bound})"
    );
    assert!(
        repeated <= bound,
        "{repeated} repeated deliveries, bound {bound}"
    );
}

/// Where the test PostgreSQL server listens (see `alertsync_testing`).
const POSTGRES_ADDRESS: &str = "127.0.0.1:5432";

/// Waits (up to twice [`TAKEOVER`]) until the instance's `/healthz` answers `status`.
async fn wait_for_health(instance: &ServeProcess, status: u16) -> (u16, Value) {
    let since = Instant::now();
    loop {
        let (now, health) = http(&instance.address, "GET", "/healthz", None, "").await;
        if now == status {
            return (now, health);
        }
        assert!(
            since.elapsed() < 2 * TAKEOVER,
            "/healthz still answers {now}, not {status}: {health}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn problem_codes(health: &Value) -> Vec<String> {
    health["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["code"].as_str().map(str::to_owned))
        .collect()
}

/// A TCP line between the instances and PostgreSQL that the test cuts (every connection
/// closed, new ones refused) and restores: what an instance sees of a database restart.
struct DatabaseLine {
    address: String,
    up: tokio::sync::watch::Sender<bool>,
    _task: tokio::task::JoinHandle<()>,
}

impl DatabaseLine {
    async fn start(upstream: &'static str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the line");
        let address = listener.local_addr().expect("its address").to_string();
        let (up, watching) = tokio::sync::watch::channel(true);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *watching.borrow() {
                    tokio::spawn(carry(client, upstream, watching.clone()));
                }
            }
        });
        Self {
            address,
            up,
            _task: task,
        }
    }

    fn cut(&self) {
        self.up.send_replace(false);
    }

    fn restore(&self) {
        self.up.send_replace(true);
    }
}

/// Carries one connection until either side closes it or the line is cut.
async fn carry(
    mut client: tokio::net::TcpStream,
    upstream: &str,
    mut up: tokio::sync::watch::Receiver<bool>,
) {
    let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = up.wait_for(|up| !*up) => {}
    }
}
