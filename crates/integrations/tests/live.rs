//! Live notifications and back-fill against the simulated Sekoia.io (and, where the
//! simulator cannot misbehave in the needed way, a scripted WebSocket server).

mod common;

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use alertsync_engine::http::HttpClient;
use alertsync_engine::{Cancellation, RetryPolicy};
use alertsync_integrations::sekoia::backfill::{
    BackfillOptions, Checkpoint, backfill, backfill_with,
};
use alertsync_integrations::sekoia::client::ApiPath;
use alertsync_integrations::sekoia::live::{
    AlertChange, ChangeKind, ChangeSource, LiveError, LiveEvent, LiveNotifications, LiveStats,
    LiveTiming, MAX_NOTIFIED_AT_ONCE, Notification,
};
use alertsync_sim::{Fault, Receiver, Route, Simulator};
use common::{API_KEY, simulator};
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

const ACKNOWLEDGED: &str = "8f206505-af6d-433e-93f4-775d46dc7d0f";
const CLOSED: &str = "1738b1c1-767d-489e-bada-19176621a007";
/// The longest any single expected event may take.
const PATIENCE: Duration = Duration::from_secs(10);

/// Millisecond reconnects; keep-alive at the production pace unless a test needs otherwise.
/// A refused key is tried again after a few seconds: long against the reconnects, short
/// enough for a test to see the second try.
fn fast_timing() -> LiveTiming {
    LiveTiming {
        backoff: RetryPolicy {
            max_attempts: u32::MAX,
            initial_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
            max_age: Duration::MAX,
        },
        rejected_backoff: RetryPolicy {
            max_attempts: u32::MAX,
            initial_delay: REFUSED_RETRY,
            max_delay: REFUSED_RETRY,
            max_age: Duration::MAX,
        },
        ..LiveTiming::default()
    }
}

/// How long a refused key waits before it is tried again, in these tests.
const REFUSED_RETRY: Duration = Duration::from_secs(2);

fn http() -> HttpClient {
    HttpClient::new().expect("HTTP client")
}

fn live_for(sim: &Simulator, api_key: &str, liveapi_url: Option<&str>) -> LiveNotifications {
    LiveNotifications::new("test", http(), &sim.urls().sekoia, api_key, liveapi_url)
        .expect("a valid configuration")
        .with_timing(fast_timing())
}

/// A running connection whose sink hands every event to the test.
struct Running {
    live: Arc<LiveNotifications>,
    cancel: Cancellation,
    events: mpsc::UnboundedReceiver<LiveEvent>,
    /// Changes notified together, not yet taken by [`Running::change`].
    notified: VecDeque<Notification>,
    task: JoinHandle<()>,
}

fn start(live: LiveNotifications) -> Running {
    let live = Arc::new(live);
    let cancel = Cancellation::new();
    let (sender, events) = mpsc::unbounded_channel();
    let task = tokio::spawn({
        let (live, cancel) = (live.clone(), cancel.clone());
        async move {
            live.run(&cancel, move |event| {
                let sender = sender.clone();
                async move { sender.send(event).map_err(|_| "the test stopped listening") }
            })
            .await
        }
    });
    Running {
        live,
        cancel,
        events,
        notified: VecDeque::new(),
        task,
    }
}

impl Running {
    async fn next(&mut self) -> LiveEvent {
        within(PATIENCE, "the next live event", self.events.recv())
            .await
            .expect("the connection is running")
    }

    async fn connected(&mut self) -> u64 {
        match self.next().await {
            LiveEvent::Connected { session } => session,
            other => panic!("expected a connection, got {other:?}"),
        }
    }

    /// The next alert change, from the changes notified together (in their order).
    async fn change(&mut self) -> AlertChange {
        if self.notified.is_empty() {
            match self.next().await {
                LiveEvent::Notified(notified) => {
                    assert!(!notified.is_empty(), "a notification without changes");
                    self.notified.extend(notified);
                }
                other => panic!("expected a change, got {other:?}"),
            }
        }
        match self.notified.pop_front() {
            Some(Notification::Alert(change)) => change,
            other => panic!("expected an alert change, got {other:?}"),
        }
    }

    async fn stop(self) {
        self.cancel.cancel();
        let ended = within(Duration::from_secs(2), "the run to stop", self.task).await;
        ended.expect("the run does not panic");
    }
}

async fn within<T>(limit: Duration, what: &str, future: impl Future<Output = T>) -> T {
    timeout(limit, future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

async fn stats_reach(
    stats: &mut watch::Receiver<LiveStats>,
    what: &str,
    condition: impl FnMut(&LiveStats) -> bool,
) -> LiveStats {
    within(PATIENCE, what, stats.wait_for(condition))
        .await
        .expect("the connection is alive")
        .clone()
}

fn me_requests(sim: &Simulator) -> usize {
    sim.requests(Receiver::Sekoia)
        .iter()
        .filter(|request| request.path.ends_with("/me"))
        .count()
}

fn text(value: &Value, key: &str) -> String {
    value[key].as_str().expect("a string field").to_owned()
}

#[tokio::test]
async fn created_status_comment_and_edit_notifications_become_typed_changes() {
    let sim = simulator().await;
    let live = live_for(&sim, API_KEY, None);
    assert_eq!(
        live.url(),
        sim.urls().live,
        "the URL is derived from the base URL"
    );
    let mut running = start(live);
    assert_eq!(running.connected().await, 1);

    let alert = sim.create_alert(Value::Null);
    let uuid = text(&alert, "uuid");
    let short_id = text(&alert, "short_id");
    sim.set_status(&uuid, "Acknowledged", None)
        .expect("known alert");
    let comment = sim
        .add_comment(&uuid, "looking into it", None)
        .expect("known alert");
    let client = running.live.client().clone();
    let cx = client.service_context(RetryPolicy::none());
    client
        .call(
            &cx,
            Method::PATCH,
            &ApiPath::alert(&uuid),
            &[],
            Some(&json!({"title": "renamed"})),
        )
        .await
        .expect("the edit is accepted");

    let created = running.change().await;
    assert_eq!(created.kind, ChangeKind::Created);
    assert_eq!(created.alert_uuid, uuid);
    assert_eq!(created.short_id.as_deref(), Some(short_id.as_str()));
    assert_eq!(created.source, ChangeSource::Live);

    let status = running.change().await;
    assert_eq!(
        status.kind,
        ChangeKind::Updated {
            status_changed: true
        }
    );
    assert_eq!(status.status_uuid.as_deref(), Some(ACKNOWLEDGED));

    let commented = running.change().await;
    assert_eq!(commented.kind, ChangeKind::CommentCreated);
    assert_eq!(commented.event_type(), "alert-comment");
    assert_eq!(commented.alert_uuid, uuid);
    assert_eq!(commented.comment_uuid, Some(text(&comment, "uuid")));

    let edited = running.change().await;
    assert_eq!(
        edited.kind,
        ChangeKind::Updated {
            status_changed: false
        }
    );
    let keys: HashSet<&str> = [&created, &status, &commented, &edited]
        .iter()
        .map(|change| change.change_id.as_str())
        .collect();
    assert_eq!(keys.len(), 4, "every change has its own key");

    // The same changes read by back-fill carry the same keys; the edit is live-only.
    let found = backfill(&client, Checkpoint::default())
        .await
        .expect("back-fill");
    let backfilled: Vec<(&str, &ChangeKind)> = found
        .changes
        .iter()
        .map(|change| (change.change_id.as_str(), &change.kind))
        .collect();
    assert_eq!(
        backfilled,
        [
            (created.change_id.as_str(), &created.kind),
            (status.change_id.as_str(), &status.kind),
            (commented.change_id.as_str(), &commented.kind),
        ]
    );
    assert!(
        found
            .changes
            .iter()
            .all(|change| change.source == ChangeSource::Backfill)
    );
    assert!(found.checkpoint.updated_at >= alert["updated_at"].as_i64().unwrap_or(i64::MAX));
    running.stop().await;
}

#[tokio::test]
async fn a_refused_api_key_is_reported_and_tried_again_after_a_long_wait() {
    let sim = simulator().await;
    let live = live_for(&sim, "not-the-key", None);
    let Err(LiveError::Configuration { account, message }) = live.preflight().await else {
        panic!("the pre-flight check refuses the key");
    };
    assert_eq!(account, "test");
    assert!(message.contains("401"), "{message}");
    assert!(!message.contains("not-the-key"), "the key leaks: {message}");
    let mut running = start(live);
    let mut stats = running.live.stats();
    let refused = stats_reach(&mut stats, "the refusal", |s| s.rejection.is_some()).await;
    let rejection = refused.rejection.unwrap_or_default();
    assert!(rejection.contains("401"), "{rejection}");
    assert!(
        !rejection.contains("not-the-key"),
        "the key leaks: {rejection}"
    );
    assert!(!refused.connected && refused.disconnected_since_ms.is_some());
    tokio::time::sleep(REFUSED_RETRY / 2).await;
    assert_eq!(
        me_requests(&sim),
        2,
        "the pre-flight and one attempt: no retry storm"
    );
    stats_reach(&mut stats, "the second try", |s| s.interruptions >= 2).await;
    assert_eq!(me_requests(&sim), 3, "tried again after the long wait");
    assert_eq!(sim.live_connection_count(), 0);
    assert!(running.events.try_recv().is_err(), "no event was emitted");
    running.stop().await;
}

#[tokio::test]
async fn a_key_accepted_again_reconnects_by_itself() {
    let sim = simulator().await;
    sim.inject_fault(Fault::status(Route::SekoiaMe, 401).times(1));
    let mut running = start(live_for(&sim, API_KEY, None));
    let mut stats = running.live.stats();
    stats_reach(&mut stats, "the refusal", |s| s.rejection.is_some()).await;
    assert_eq!(
        running.connected().await,
        1,
        "connected once the key is accepted"
    );
    let now = running.live.stats().borrow().clone();
    assert!(now.connected && now.rejection.is_none() && now.disconnected_since_ms.is_none());
    running.stop().await;
}

/// A live server that reads each handshake, hands its head to the test, and answers 401.
async fn refusing_server() -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("ws://{}/live/", listener.local_addr().expect("bound"));
    let (sender, heads) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut buffer = [0u8; 1024];
            while !head.ends_with(b"\r\n\r\n") {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(read) => head.extend_from_slice(&buffer[..read]),
                }
            }
            let refusal = b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n";
            let _ = stream.write_all(refusal).await;
            if sender
                .send(String::from_utf8_lossy(&head).into_owned())
                .is_err()
            {
                break;
            }
        }
    });
    (url, heads)
}

#[tokio::test]
async fn a_refused_handshake_is_reported_without_a_retry_storm() {
    let sim = simulator().await;
    let (url, mut heads) = refusing_server().await;
    let running = start(live_for(&sim, API_KEY, Some(&url)));
    let mut stats = running.live.stats();
    let refused = stats_reach(&mut stats, "the refusal", |s| s.rejection.is_some()).await;
    let rejection = refused.rejection.unwrap_or_default();
    assert!(rejection.contains("401"), "{rejection}");
    assert!(!rejection.contains(API_KEY), "the key leaks: {rejection}");
    let head = heads.try_recv().expect("one handshake").to_lowercase();
    assert!(
        head.contains(&format!("cookie: access_token_cookie={API_KEY}")),
        "{head}"
    );
    assert!(heads.try_recv().is_err(), "no second attempt yet");
    running.stop().await;
}

#[tokio::test]
async fn a_live_url_that_does_not_exist_is_reported_as_refused() {
    let sim = simulator().await;
    let url = format!("{}/nowhere/", sim.urls().sekoia.replacen("http", "ws", 1));
    let running = start(live_for(&sim, API_KEY, Some(&url)));
    let mut stats = running.live.stats();
    let refused = stats_reach(&mut stats, "the refusal", |s| s.rejection.is_some()).await;
    assert!(refused.rejection.unwrap_or_default().contains("404"));
    running.stop().await;
}

#[tokio::test]
async fn a_failing_identity_check_is_retried_until_it_works() {
    let sim = simulator().await;
    sim.inject_fault(Fault::status(Route::SekoiaMe, 503).times(2));
    let mut running = start(live_for(&sim, API_KEY, None));
    assert_eq!(running.connected().await, 1);
    assert_eq!(me_requests(&sim), 3);
    assert_eq!(running.live.stats().borrow().interruptions, 2);
    running.stop().await;
}

/// A change as the test knows it: the alert, and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Expected {
    Created(String),
    Status(String, String),
    Comment(String, String),
}

fn expected_of(change: &AlertChange) -> Expected {
    let alert = change.alert_uuid.clone();
    match change.kind {
        ChangeKind::Created => Expected::Created(alert),
        ChangeKind::Updated {
            status_changed: true,
        } => Expected::Status(alert, change.status_uuid.clone().unwrap_or_default()),
        ChangeKind::CommentCreated => {
            Expected::Comment(alert, change.comment_uuid.clone().unwrap_or_default())
        }
        ChangeKind::Updated {
            status_changed: false,
        } => panic!("no edit happens in this test: {change:?}"),
    }
}

/// What a consumer keeps: every change key it stored, and where each was seen.
#[derive(Default)]
struct Ledger {
    by_key: HashMap<String, (Expected, HashSet<ChangeSource>)>,
}

impl Ledger {
    fn store(&mut self, change: &AlertChange) {
        let what = expected_of(change);
        let (known, sources) = self
            .by_key
            .entry(change.change_id.clone())
            .or_insert_with(|| (what.clone(), HashSet::new()));
        assert_eq!(
            *known, what,
            "one key, two different changes: {}",
            change.change_id
        );
        sources.insert(change.source);
    }

    fn keys_per_change(&self) -> HashMap<&Expected, usize> {
        let mut counts = HashMap::new();
        for (what, _) in self.by_key.values() {
            *counts.entry(what).or_default() += 1;
        }
        counts
    }

    fn covers(&self, expected: &HashSet<Expected>) -> bool {
        let counts = self.keys_per_change();
        expected.iter().all(|what| counts.contains_key(what))
    }
}

/// Acknowledges and comments the alerts of one round, closes those of the round before.
fn advance(sim: &Simulator, alerts: &[String], expected: &mut HashSet<Expected>) {
    for uuid in alerts {
        sim.set_status(uuid, "Acknowledged", None)
            .expect("known alert");
        expected.insert(Expected::Status(uuid.clone(), ACKNOWLEDGED.to_owned()));
        let comment = sim.add_comment(uuid, "on it", None).expect("known alert");
        expected.insert(Expected::Comment(uuid.clone(), text(&comment, "uuid")));
    }
}

fn close(sim: &Simulator, alerts: &[String], expected: &mut HashSet<Expected>) {
    for uuid in alerts {
        sim.set_status(uuid, "Closed", None).expect("known alert");
        expected.insert(Expected::Status(uuid.clone(), CLOSED.to_owned()));
    }
}

fn create(sim: &Simulator, count: usize, expected: &mut HashSet<Expected>) -> Vec<String> {
    (0..count)
        .map(|_| {
            let uuid = text(&sim.create_alert(Value::Null), "uuid");
            expected.insert(Expected::Created(uuid.clone()));
            uuid
        })
        .collect()
}

#[tokio::test]
async fn dropped_connections_during_a_burst_lose_nothing_and_dedup_to_one_per_change() {
    const ROUNDS: usize = 12;
    const ALERTS_PER_ROUND: usize = 25;
    let sim = simulator().await;
    let mut running = start(live_for(&sim, API_KEY, None));

    // Each round drops every live socket, then changes alerts while alertsync reconnects
    // (only back-fill can find those), then, once reconnected, closes older ones (the live
    // stream delivers those, and the next back-fill reads them again).
    let producer = tokio::spawn({
        let (sim, mut stats) = (sim.clone(), running.live.stats());
        async move {
            stats_reach(&mut stats, "the first connection", |s| s.sessions >= 1).await;
            let mut expected = HashSet::new();
            let mut rounds: Vec<Vec<String>> = Vec::new();
            for round in 0..ROUNDS + 2 {
                let before = stats.borrow().sessions;
                sim.drop_live_connections();
                if round < ROUNDS {
                    rounds.push(create(&sim, ALERTS_PER_ROUND, &mut expected));
                }
                if let Some(previous) = round.checked_sub(1).and_then(|r| rounds.get(r)) {
                    advance(&sim, previous, &mut expected);
                }
                stats_reach(&mut stats, "a reconnection", |s| s.sessions > before).await;
                if let Some(older) = round.checked_sub(2).and_then(|r| rounds.get(r)) {
                    let delivered = stats.borrow().changes;
                    close(&sim, older, &mut expected);
                    // Before the next drop: a drop loses what is still in flight.
                    let target = delivered + older.len() as u64;
                    stats_reach(&mut stats, "live closes", |s| s.changes >= target).await;
                }
            }
            expected
        }
    });

    let (ledger, backfills, expected) = consume(&mut running, producer).await;
    assert_eq!(expected.len(), ROUNDS * ALERTS_PER_ROUND * 4);
    assert_one_key_per_change(&ledger, &expected);
    let by_both = ledger
        .by_key
        .values()
        .filter(|(_, sources)| sources.len() == 2)
        .count();
    let by_backfill_only = ledger
        .by_key
        .values()
        .filter(|(_, sources)| !sources.contains(&ChangeSource::Live))
        .count();
    assert!(by_both > 0, "some changes were read by both sources");
    assert!(by_backfill_only > 0, "some changes were missed live");
    assert!(backfills > ROUNDS, "a back-fill after every reconnection");
    running.stop().await;
}

/// What the caller of `run` does: stores every live change, back-fills on every
/// (re)connect from the last checkpoint; until the producer is done and every change it
/// made is stored. Returns the ledger, the number of back-fills and the changes made.
async fn consume(
    running: &mut Running,
    producer: JoinHandle<HashSet<Expected>>,
) -> (Ledger, usize, HashSet<Expected>) {
    let client = running.live.client().clone();
    let mut ledger = Ledger::default();
    let mut checkpoint = Checkpoint::default();
    let mut backfills = 0;
    let mut expected: Option<HashSet<Expected>> = None;
    let mut producer = Some(producer);
    within(Duration::from_secs(60), "every change to be stored", async {
        loop {
            if expected.as_ref().is_some_and(|all| ledger.covers(all)) {
                break;
            }
            tokio::select! {
                event = running.events.recv() => match event.expect("the connection is running") {
                    LiveEvent::Connected { .. } => {
                        let found = backfill(&client, checkpoint).await.expect("back-fill");
                        found.changes.iter().for_each(|change| ledger.store(change));
                        checkpoint = found.checkpoint;
                        backfills += 1;
                    }
                    LiveEvent::Notified(notified) => {
                        for notification in notified {
                            if let Notification::Alert(change) = notification {
                                ledger.store(&change);
                            }
                        }
                    }
                },
                made = async { producer.as_mut().expect("still producing").await }, if producer.is_some() => {
                    expected = Some(made.expect("the producer does not panic"));
                    producer = None;
                }
            }
        }
    })
    .await;
    (ledger, backfills, expected.unwrap_or_default())
}

/// The checks every burst ends with: each change made has exactly one key, and no key
/// names a change that was not made.
fn assert_one_key_per_change(ledger: &Ledger, expected: &HashSet<Expected>) {
    let counts = ledger.keys_per_change();
    assert_eq!(
        counts.len(),
        expected.len(),
        "no change that did not happen"
    );
    assert!(
        counts.values().all(|keys| *keys == 1),
        "a change has several keys"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drops_racing_a_concurrent_burst_lose_nothing() {
    const ALERTS: usize = 200;
    const DROPS: usize = 10;
    let sim = simulator().await;
    let mut running = start(live_for(&sim, API_KEY, None));
    let dropper = tokio::spawn({
        let (sim, mut stats) = (sim.clone(), running.live.stats());
        async move {
            for drop in 1..=DROPS as u64 {
                stats_reach(&mut stats, "a connection", |s| s.sessions >= drop).await;
                sim.drop_live_connections();
            }
        }
    });
    // Every alert goes created → acknowledged (+ a comment) → closed, the steps of
    // consecutive alerts interleaved, while the dropper cuts the socket.
    let producer = tokio::spawn({
        let sim = sim.clone();
        async move {
            let mut expected = HashSet::new();
            let mut alerts: Vec<String> = Vec::new();
            for i in 0..ALERTS + 2 {
                if i < ALERTS {
                    alerts.extend(create(&sim, 1, &mut expected));
                }
                tokio::task::yield_now().await;
                if let Some(previous) = i.checked_sub(1).and_then(|i| alerts.get(i..=i)) {
                    advance(&sim, previous, &mut expected);
                }
                tokio::task::yield_now().await;
                if let Some(older) = i.checked_sub(2).and_then(|i| alerts.get(i..=i)) {
                    close(&sim, older, &mut expected);
                }
                tokio::task::yield_now().await;
            }
            expected
        }
    });
    let (ledger, backfills, expected) = consume(&mut running, producer).await;
    within(PATIENCE, "the drops", dropper)
        .await
        .expect("the dropper does not panic");
    assert_eq!(expected.len(), ALERTS * 4);
    assert_one_key_per_change(&ledger, &expected);
    assert!(backfills >= 1);
    running.stop().await;
}

#[tokio::test]
async fn pings_are_answered_and_keep_the_connection() {
    let sim = simulator().await;
    let live = live_for(&sim, API_KEY, None).with_timing(LiveTiming {
        ping_interval: Duration::from_millis(20),
        pong_timeout: Duration::from_secs(2),
        ..fast_timing()
    });
    let mut running = start(live);
    running.connected().await;
    let mut stats = running.live.stats();
    let seen = stats_reach(&mut stats, "ten pongs", |s| s.pongs_received >= 10).await;
    assert_eq!(seen.sessions, 1);
    assert_eq!(seen.interruptions, 0);
    assert!(seen.connected);
    assert_eq!(sim.live_connection_count(), 1);
    running.stop().await;
}

/// A WebSocket server the test drives by hand; every accepted socket is handed over.
async fn scripted_server() -> (String, mpsc::UnboundedReceiver<WebSocketStream<TcpStream>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("ws://{}/live/", listener.local_addr().expect("bound"));
    let (sender, sockets) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            if let Ok(socket) = tokio_tungstenite::accept_async(stream).await
                && sender.send(socket).is_err()
            {
                break;
            }
        }
    });
    (url, sockets)
}

/// Reads the upgrade request and the first ping, and answers it: the client is connected.
async fn accept_session(
    sockets: &mut mpsc::UnboundedReceiver<WebSocketStream<TcpStream>>,
) -> WebSocketStream<TcpStream> {
    let mut socket = within(PATIENCE, "a connection", sockets.recv())
        .await
        .expect("the server runs");
    let upgrade = within(PATIENCE, "the upgrade request", socket.next()).await;
    match upgrade {
        Some(Ok(Message::Text(text))) => {
            let request: Value = serde_json::from_str(text.as_str()).expect("JSON");
            assert_eq!(request, json!({"action": "upgrade"}));
        }
        other => panic!("expected the upgrade request, got {other:?}"),
    }
    match within(PATIENCE, "the first ping", socket.next()).await {
        Some(Ok(Message::Ping(_))) => {}
        other => panic!("expected a ping, got {other:?}"),
    }
    // Sends the pong the WebSocket layer queued for that ping.
    socket.flush().await.expect("the pong goes out");
    socket
}

/// A connection to a scripted server, connected (session 1): the test's side of it, the
/// server's side of its socket, and the server's later sockets.
async fn scripted_session(
    sim: &Simulator,
) -> (
    Running,
    WebSocketStream<TcpStream>,
    mpsc::UnboundedReceiver<WebSocketStream<TcpStream>>,
) {
    let (url, mut sockets) = scripted_server().await;
    let mut running = start(live_for(sim, API_KEY, Some(&url)));
    let socket = accept_session(&mut sockets).await;
    assert_eq!(running.connected().await, 1);
    (running, socket, sockets)
}

/// A live notification frame: `notification` is its uuid.
fn envelope(
    version: u64,
    notification: &str,
    kind: &str,
    action: &str,
    attributes: Value,
) -> String {
    json!({"metadata": {"version": version, "uuid": notification,
                        "created_at": "2024-01-01T00:00:00Z", "community_uuid": "c"},
           "type": kind, "action": action, "attributes": attributes})
    .to_string()
}

#[tokio::test]
async fn a_socket_that_stops_answering_pings_is_replaced() {
    let sim = simulator().await;
    let (url, mut sockets) = scripted_server().await;
    let live = live_for(&sim, API_KEY, Some(&url)).with_timing(LiveTiming {
        ping_interval: Duration::from_millis(50),
        pong_timeout: Duration::from_millis(300),
        ..fast_timing()
    });
    let mut running = start(live);
    // The server answers the first ping, then never reads again: no more pongs.
    let _silent = accept_session(&mut sockets).await;
    assert_eq!(running.connected().await, 1);
    let _second = accept_session(&mut sockets).await;
    assert_eq!(running.connected().await, 2);
    assert_eq!(running.live.stats().borrow().interruptions, 1);
    running.stop().await;
}

#[tokio::test]
async fn malformed_and_foreign_frames_are_skipped() {
    let sim = simulator().await;
    let (mut running, mut socket, _sockets) = scripted_session(&sim).await;
    let alert = "0b7c9a2e-4a8f-4f5e-9d41-3f0d5b7c2a10";
    let frames = [
        Message::text(r#"{"authenticated": true}"#),
        Message::text(format!("not JSON {API_KEY}")),
        Message::text(envelope(1, "n", "alert", "created", json!({"uuid": alert}))),
        Message::text(envelope(
            2,
            "n",
            "alert",
            "created",
            json!({"short_id": "ALx"}),
        )),
        Message::text(envelope(2, "n", "case", "closed", json!({"uuid": "case"}))),
        Message::binary(vec![0, 159, 146, 150]),
        Message::text(envelope(2, "n", "alert", "created", json!({"uuid": alert}))),
    ];
    for frame in frames {
        socket.send(frame).await.expect("the client listens");
    }
    let change = running.change().await;
    assert_eq!(change.kind, ChangeKind::Created);
    assert_eq!(change.alert_uuid, alert);
    let stats = running.live.stats().borrow().clone();
    assert_eq!(stats.malformed_frames, 3);
    assert_eq!(stats.ignored_frames, 3);
    assert_eq!(stats.interruptions, 0);
    running.stop().await;
}

/// A burst already on the socket is handed over in batches of at most
/// [`MAX_NOTIFIED_AT_ONCE`], in order; what follows the burst (here the server's close) is
/// still handled.
#[tokio::test]
async fn a_burst_on_the_socket_is_handed_over_together_in_order() {
    let sim = simulator().await;
    let (mut running, mut socket, mut sockets) = scripted_session(&sim).await;
    let alerts: Vec<String> = (0..150)
        .map(|i| format!("0b7c9a2e-4a8f-4f5e-9d41-{i:012}"))
        .collect();
    for alert in &alerts {
        let frame = envelope(
            2,
            &format!("n-{alert}"),
            "alert",
            "created",
            json!({"uuid": alert}),
        );
        socket
            .feed(Message::text(frame))
            .await
            .expect("the client listens");
    }
    socket.feed(Message::Close(None)).await.expect("queued");
    socket.flush().await.expect("the burst goes out at once");

    let mut batches = Vec::new();
    while batches.iter().sum::<usize>() < alerts.len() {
        match running.next().await {
            LiveEvent::Notified(notified) => {
                batches.push(notified.len());
                running.notified.extend(notified);
            }
            other => panic!("expected changes, got {other:?}"),
        }
    }
    for alert in &alerts {
        assert_eq!(&running.change().await.alert_uuid, alert, "in order");
    }
    assert!(
        batches
            .iter()
            .all(|&size| (1..=MAX_NOTIFIED_AT_ONCE).contains(&size)),
        "{batches:?}"
    );
    assert!(
        batches.len() < alerts.len() / 2,
        "changes that arrived together are handed over together: {batches:?}"
    );
    // The close read after the burst ends the session, and the next one connects.
    let _second = accept_session(&mut sockets).await;
    assert_eq!(running.connected().await, 2);
    assert_eq!(running.live.stats().borrow().changes, 150);
    running.stop().await;
}

#[tokio::test]
async fn cancellation_stops_a_connected_run_promptly() {
    let sim = simulator().await;
    let mut running = start(live_for(&sim, API_KEY, None));
    running.connected().await;
    running.stop().await;
}

#[tokio::test]
async fn cancellation_stops_a_run_waiting_to_retry() {
    let sim = simulator().await;
    sim.inject_fault(Fault::status(Route::SekoiaMe, 503).times(1_000));
    let live = live_for(&sim, API_KEY, None).with_timing(LiveTiming {
        backoff: RetryPolicy {
            max_attempts: u32::MAX,
            initial_delay: Duration::from_secs(60),
            max_delay: Duration::from_secs(60),
            max_age: Duration::MAX,
        },
        ..fast_timing()
    });
    let running = start(live);
    let mut stats = running.live.stats();
    stats_reach(&mut stats, "a failed attempt", |s| s.interruptions >= 1).await;
    running.stop().await;
}

#[tokio::test]
async fn backfill_pages_through_every_alert_and_retries_transient_failures() {
    let sim = simulator().await;
    let alerts: HashSet<String> = sim
        .create_alerts(57)
        .iter()
        .map(|alert| text(alert, "uuid"))
        .collect();
    sim.inject_fault(Fault::status(Route::SekoiaListAlerts, 503));
    let client = live_for(&sim, API_KEY, None).client().clone();
    let options = BackfillOptions {
        page_size: 10,
        retry: RetryPolicy {
            max_attempts: 3,
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            ..RetryPolicy::default()
        },
        ..BackfillOptions::default()
    };
    let found = backfill_with(&client, Checkpoint::default(), &options)
        .await
        .expect("back-fill");
    let created: HashSet<String> = found
        .changes
        .iter()
        .filter(|change| change.kind == ChangeKind::Created)
        .map(|change| change.alert_uuid.clone())
        .collect();
    assert_eq!(created, alerts);
    assert_eq!(found.changes.len(), 57, "one change per alert, read once");
    assert_eq!(found.alerts, 57);
    assert!(found.requests >= 6, "{} requests", found.requests);
    let list_requests = sim
        .requests(Receiver::Sekoia)
        .iter()
        .filter(|request| request.path.ends_with("/sic/alerts"))
        .count();
    assert_eq!(list_requests, found.requests + 1, "the 503 was retried");

    // Again from the new checkpoint: the checkpoint's own second is read again (a change
    // later in that second would be found), and what comes back has the keys already seen.
    let again = backfill_with(
        &client,
        found.checkpoint,
        &BackfillOptions {
            overlap: Duration::ZERO,
            ..options
        },
    )
    .await
    .expect("back-fill");
    assert_eq!(again.checkpoint, found.checkpoint);
    let seen: HashSet<&str> = found.changes.iter().map(|c| c.change_id.as_str()).collect();
    assert!(
        again
            .changes
            .iter()
            .all(|change| seen.contains(change.change_id.as_str()))
    );
}
