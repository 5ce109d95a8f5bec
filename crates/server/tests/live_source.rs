//! The live source of one Sekoia.io account, against the simulator over loopback and a real
//! SQLite file: while the session stays up the checkpoint moves forward, dedup keys older
//! than any later back-fill window expire, and an alert that enters a status it had before
//! makes a new inbox event. (Timing shortened: the checkpoint moves every 200 ms with no
//! clock margin and no back-fill overlap.)

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alertsync_config::Config;
use alertsync_engine::Cancellation;
use alertsync_engine::http::HttpClient;
use alertsync_integrations::sekoia::backfill::BackfillOptions;
use alertsync_integrations::sekoia::live::LiveNotifications;
use alertsync_integrations::sekoia::sources::{CheckpointTiming, LiveSource};
use alertsync_integrations::source::Source;
use alertsync_server::deploy::Deployment;
use alertsync_server::inbox::Inbox;
use alertsync_sim::{SimConfig, Simulator};
use alertsync_store::{InboxEvent, InboxId, SqliteStore, Store};
use serde_json::Value;
use tokio::sync::Notify;

const ACCOUNT: &str = "sekoia";
const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `check` until it gives a value, or fails the test saying what was awaited.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < PATIENCE, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sekoia_account(sim: &Simulator, dir: &Path) -> Arc<alertsync_engine::Account> {
    let text = format!(
        "[[account]]\nname = \"{ACCOUNT}\"\nmodule = \"sekoia.io\"\nbase_url = \"{}\"\napi_key = \"{}\"\n",
        sim.urls().sekoia,
        SimConfig::default().api_key,
    );
    let config = Config::parse_str(
        &text,
        &dir.join("alertsync.toml"),
        &alertsync_integrations::registry(),
        &|_| None,
    )
    .expect("the configuration is valid");
    Arc::clone(&config.accounts[0])
}

/// Every event in the inbox, oldest first (with no playbook deployed, each is done at once).
async fn events(store: &SqliteStore) -> Vec<InboxEvent> {
    let mut events = Vec::new();
    for id in 1.. {
        match store.event(InboxId(id)).await.expect("inbox readable") {
            Some(event) => events.push(event),
            None => return events,
        }
    }
    events
}

/// Waits until the inbox holds an event satisfying `wanted` (the newest such).
async fn next_event(
    store: &SqliteStore,
    what: &str,
    wanted: impl Fn(&InboxEvent) -> bool,
) -> InboxEvent {
    eventually(what, || async {
        events(store).await.into_iter().rev().find(|e| wanted(e))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_entering_a_status_again_makes_a_new_event_once_the_first_key_expired() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = alertsync_sim::start(SimConfig::default())
        .await
        .expect("simulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(
        SqliteStore::open(dir.path().join("alertsync.db"))
            .await
            .expect("store opens"),
    );
    let account = sekoia_account(&sim, dir.path());
    let live = LiveNotifications::for_account(HttpClient::new().expect("HTTP client"), &account)
        .expect("a valid account");
    let deployment = Arc::new(Deployment {
        playbooks: Vec::new(),
    });
    let source = LiveSource {
        account: account.name.clone(),
        live: Arc::new(live),
        store: store.clone(),
        timing: CheckpointTiming {
            advance_every: Duration::from_millis(200),
            clock_margin: Duration::ZERO,
            backfill: BackfillOptions {
                overlap: Duration::ZERO,
                ..BackfillOptions::default()
            },
        },
        first_start_s: (alertsync_engine::now_ms() / 1000) as i64,
    };
    let stop = Cancellation::new();
    let inbox = Arc::new(Inbox::new(
        store.clone(),
        deployment,
        Arc::new(Notify::new()),
    ));
    let running = tokio::spawn(Box::new(source).run(inbox, stop.clone()));
    let checkpoint_key = format!("backfill/{ACCOUNT}");
    let checkpoint = || async {
        let text = store.checkpoint(&checkpoint_key).await.ok()??;
        serde_json::from_str::<Value>(&text).ok()?["updated_at"].as_i64()
    };
    eventually("the back-fill of the first session", checkpoint).await;

    let alert = sim.create_alert(Value::Null);
    let uuid = alert["uuid"].as_str().expect("an alert uuid").to_owned();
    sim.set_status(&uuid, "Acknowledged", None)
        .expect("acknowledged");
    let acknowledged = next_event(&store, "the acknowledgement in the inbox", |e| {
        e.alert_uuid.as_deref() == Some(uuid.as_str()) && e.dedup_key.contains(":status:")
    })
    .await;

    // The session stays up: the checkpoint passes the acknowledgement and its key expires.
    let received_s = (acknowledged.received_at_ms / 1000) as i64;
    eventually("the checkpoint to pass the acknowledgement", || async {
        checkpoint().await.filter(|at| *at > received_s)
    })
    .await;
    eventually("the acknowledgement's key to expire", || async {
        let event = store.event(acknowledged.id).await.ok()??;
        event.dedup_key.contains("#expired/").then_some(())
    })
    .await;

    // Reopened, then acknowledged again: the second acknowledgement is a new event.
    sim.set_status(&uuid, "Ongoing", None).expect("ongoing");
    sim.set_status(&uuid, "Acknowledged", None)
        .expect("acknowledged again");
    let again = next_event(&store, "the second acknowledgement in the inbox", |e| {
        e.dedup_key == acknowledged.dedup_key
    })
    .await;
    assert!(again.id > acknowledged.id);

    stop.cancel();
    running.await.expect("the source stops");
}
