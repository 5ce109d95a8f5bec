//! ilert Trigger Alert: the alert read from the simulated Sekoia.io and forwarded whole, with
//! its status mapped, to the simulated ilert — through the Sekoia.io-typed alert source
//! (`.../events/sekoia/<key>`) or ilert's generic Events API (`.../api/events`) — and the
//! ilert alert ilert's answer names, recorded as the forwarded alert's.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alertsync_engine::redact::MASK;
use alertsync_engine::{ActionContext, ActionError, AlertLinks, ErrorKind, NodeLog, Redactor};
use alertsync_integrations::ilert;
use alertsync_sim::{Fault, Receiver, RecordedRequest, Route, Simulator};
use async_trait::async_trait;
use common::{API_KEY, ATTEMPTS, context, invalid_argument, run, simulator};
use serde_json::{Value, json};

/// The integration key the simulated ilert knows.
const INTEGRATION_KEY: &str = "sim-ilert-key";
/// A field alertsync does not model: it must reach ilert untouched.
const UNMODELLED: &str = "custom_field";

fn ilert_context(integration_url: &str, integration_key: &str) -> ActionContext {
    let manifest = ilert::manifest();
    context(Some((
        &manifest,
        json!({"integration_key": integration_key, "integration_url": integration_url}),
    )))
}

/// An account on ilert's Sekoia.io alert source (the module's default endpoint form).
fn sekoia_source(sim: &Simulator) -> ActionContext {
    ilert_context(&sim.urls().ilert, INTEGRATION_KEY)
}

/// An account on ilert's generic Events API.
fn events_api(sim: &Simulator) -> ActionContext {
    ilert_context(&sim.urls().ilert_events, INTEGRATION_KEY)
}

fn args(sim: &Simulator, alert_id: &Value) -> Value {
    json!({"alert_uuid": alert_id, "api_key": API_KEY, "base_url": sim.urls().sekoia})
}

async fn trigger(cx: &ActionContext, args: Value) -> Result<Value, ActionError> {
    run("ilert.trigger_alert", cx, args)
        .await
        .map(|out| out.results)
}

/// An alert carrying a field alertsync does not model, with the given status override.
fn alert_with_status(sim: &Simulator, status: Value) -> Value {
    sim.create_alert(json!({"status": status, UNMODELLED: {"x": [1, 2]}}))
}

/// The alert as Sekoia.io's `GET /v1/sic/alerts/{uuid}` serves it.
fn as_sekoia_serves(sim: &Simulator, alert: &Value) -> Value {
    sim.alert(alert["uuid"].as_str().unwrap())
        .expect("the alert exists")
}

/// What ilert must receive: the alert as Sekoia.io serves it, only `status` replaced.
fn forwarded(sim: &Simulator, alert: &Value, status: &str) -> Value {
    let mut expected = as_sekoia_serves(sim, alert);
    expected["status"] = json!(status);
    expected
}

fn ilert_requests(sim: &Simulator) -> Vec<RecordedRequest> {
    sim.requests(Receiver::Ilert)
}

fn last_sent_to_ilert(sim: &Simulator) -> RecordedRequest {
    ilert_requests(sim).pop().expect("ilert received a request")
}

/// Asserts that no simulated service received anything.
fn assert_nothing_sent(sim: &Simulator) {
    for receiver in [
        Receiver::Sekoia,
        Receiver::Intake,
        Receiver::Ilert,
        Receiver::PagerDuty,
        Receiver::Mattermost,
        Receiver::Sink,
    ] {
        assert_eq!(
            sim.requests(receiver),
            Vec::new(),
            "{receiver:?} was called"
        );
    }
}

/// The node's log lines without the engine's secret masking, so that what the action itself
/// writes is checked.
fn unmasked_log(cx: &mut ActionContext) {
    cx.log = NodeLog::new(Redactor::new());
}

fn log_text(cx: &ActionContext) -> String {
    cx.log
        .lines()
        .into_iter()
        .map(|line| line.message)
        .collect::<Vec<_>>()
        .join("\n")
}

// --- Sekoia.io-typed alert source: the alert forwarded whole ------------------------------

#[tokio::test]
async fn an_open_alert_is_posted_whole_to_the_alert_source_url_with_the_key_in_the_path() {
    let sim = simulator().await;
    let alert = alert_with_status(&sim, json!("Pending"));
    let uuid = alert["uuid"].as_str().unwrap();
    sim.add_comment(uuid, "Looking into it", Some("analyst"))
        .unwrap();
    let cx = sekoia_source(&sim);

    let results = trigger(&cx, args(&sim, &alert["uuid"])).await.unwrap();

    let read = &sim.requests(Receiver::Sekoia)[0];
    assert_eq!(
        (
            read.method.as_str(),
            read.path.as_str(),
            read.query.as_str()
        ),
        ("GET", format!("/v1/sic/alerts/{uuid}").as_str(), "")
    );
    assert_eq!(read.headers["authorization"], format!("Bearer {API_KEY}"));
    let sent = last_sent_to_ilert(&sim);
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str(), sent.status),
        (
            "POST",
            format!("/api/v1/events/sekoia/{INTEGRATION_KEY}").as_str(),
            202
        )
    );
    assert!(!sent.headers.contains_key("authorization"));
    assert_eq!(sent.body, forwarded(&sim, &alert, "pending"));
    assert_eq!(sent.body[UNMODELLED], json!({"x": [1, 2]}));
    assert_eq!(sent.body["comments"][0]["content"], "Looking into it");
    assert_eq!(results, sent.body, "the results are the payload sent");
}

#[tokio::test]
async fn each_sekoia_status_is_forwarded_as_the_name_ilert_expects() {
    let sim = simulator().await;
    let cx = sekoia_source(&sim);
    let cases = [
        ("Acknowledged", "acknowledged"),
        ("Closed", "closed"),
        ("Rejected", "closed"),
        ("Pending", "pending"),
        ("Ongoing", "ongoing"),
    ];
    for (status, expected) in cases {
        let alert = alert_with_status(&sim, json!(status));
        assert_eq!(as_sekoia_serves(&sim, &alert)["status"]["name"], status);

        trigger(&cx, args(&sim, &alert["uuid"])).await.unwrap();

        let sent = last_sent_to_ilert(&sim);
        assert_eq!(sent.body, forwarded(&sim, &alert, expected), "{status}");
    }
}

#[tokio::test]
async fn a_resolved_status_object_is_forwarded_as_resolved() {
    let sim = simulator().await;
    let cx = sekoia_source(&sim);
    let alert = alert_with_status(
        &sim,
        json!({"uuid": "5a4bd2b7-8bd1-4a4b-a0f3-4f2b1e7e0c11", "name": "Resolved"}),
    );

    trigger(&cx, args(&sim, &alert["uuid"])).await.unwrap();

    assert_eq!(
        last_sent_to_ilert(&sim).body,
        forwarded(&sim, &alert, "resolved")
    );
}

#[tokio::test]
async fn a_status_given_as_a_plain_string_is_lower_cased() {
    let sim = simulator().await;
    let cx = sekoia_source(&sim);
    for (status, expected) in [("Resolved", "resolved"), ("In Review", "in review")] {
        let alert = alert_with_status(&sim, json!(status));
        assert_eq!(as_sekoia_serves(&sim, &alert)["status"], json!(status));

        trigger(&cx, args(&sim, &alert["uuid"])).await.unwrap();

        let sent = last_sent_to_ilert(&sim);
        assert_eq!(sent.body, forwarded(&sim, &alert, expected), "{status}");
    }
}

#[tokio::test]
async fn an_alert_without_a_status_name_is_forwarded_as_open() {
    let sim = simulator().await;
    let cx = sekoia_source(&sim);
    // The simulator cannot drop a generated field: "no status" is a null status, or a
    // status object without a name.
    let nameless = json!({"uuid": "2efc4930-1442-4abb-acf2-58ba219a4fd0"});
    for status in [Value::Null, nameless] {
        let alert = alert_with_status(&sim, status.clone());

        trigger(&cx, args(&sim, &alert["uuid"])).await.unwrap();

        let sent = last_sent_to_ilert(&sim);
        assert_eq!(sent.body, forwarded(&sim, &alert, "open"), "{status}");
    }
}

#[tokio::test]
async fn rerunning_as_the_sekoia_alert_changes_acknowledges_then_resolves_the_ilert_alert() {
    let sim = simulator().await;
    let alert = sim.create_alert(Value::Null);
    let uuid = alert["uuid"].as_str().unwrap();
    let cx = sekoia_source(&sim);

    trigger(&cx, args(&sim, &alert["uuid"])).await.unwrap();
    assert_eq!(sim.ilert_alerts()[0].status, "open");

    sim.set_status(uuid, "Acknowledged", None).unwrap();
    trigger(&cx, args(&sim, &alert["uuid"])).await.unwrap();
    assert_eq!(sim.ilert_alerts()[0].status, "acknowledged");

    sim.set_status(uuid, "Closed", None).unwrap();
    trigger(&cx, args(&sim, &alert["uuid"])).await.unwrap();

    let ilert_alerts = sim.ilert_alerts();
    assert_eq!(ilert_alerts.len(), 1, "every event acts on the same alert");
    assert_eq!(ilert_alerts[0].alert_key, uuid);
    assert_eq!(ilert_alerts[0].status, "resolved");
    assert_eq!(
        ilert_alerts[0].events,
        ["pending", "acknowledged", "closed"]
    );
}

// --- Reading the alert: base URL forms and alert identifiers -------------------------------

#[tokio::test]
async fn the_alert_is_read_by_uuid_or_short_id_under_every_base_url_form() {
    let sim = simulator().await;
    let alert = sim.create_alert(Value::Null);
    let cx = sekoia_source(&sim);
    let root = &sim.urls().sekoia;
    let bases = [
        (root.clone(), "/v1"),
        (format!("{root}/"), "/v1"),
        (format!("{root}/api"), "/api/v1"),
        (format!("{root}/api/"), "/api/v1"),
    ];
    for (base_url, prefix) in bases {
        for id in [&alert["uuid"], &alert["short_id"]] {
            let args = json!({"alert_uuid": id, "api_key": API_KEY, "base_url": base_url});

            trigger(&cx, args).await.unwrap();

            let read = sim.requests(Receiver::Sekoia).pop().unwrap();
            let id = id.as_str().unwrap();
            assert_eq!(read.path, format!("{prefix}/sic/alerts/{id}"), "{base_url}");
            assert_eq!(read.status, 200);
            assert_eq!(
                last_sent_to_ilert(&sim).body,
                forwarded(&sim, &alert, "pending"),
                "{base_url} {id}"
            );
        }
    }
    assert_eq!(ilert_requests(&sim).len(), 8);
}

// --- Invalid arguments: named, and nothing sent --------------------------------------------

#[tokio::test]
async fn invalid_arguments_are_named_and_nothing_is_sent_anywhere() {
    let sim = simulator().await;
    let alert = sim.create_alert(Value::Null);
    let cx = sekoia_source(&sim);
    let valid = args(&sim, &alert["uuid"]);
    let cases = [
        ("alert_uuid", Value::Null),
        ("alert_uuid", json!("")),
        ("alert_uuid", json!("   ")),
        ("alert_uuid", json!("not-an-alert")),
        ("alert_uuid", json!("12345")),
        ("alert_uuid", json!("AL")),
        ("alert_uuid", json!(42)),
        ("api_key", Value::Null),
        ("api_key", json!("")),
        ("api_key", json!("  \t ")),
        ("base_url", Value::Null),
        ("base_url", json!("")),
        ("base_url", json!("api.sekoia.io")),
        ("base_url", json!("not a url")),
        ("base_url", json!("ftp://api.sekoia.io")),
    ];
    for (argument, value) in cases {
        let mut args = valid.clone();
        match value {
            Value::Null => {
                args.as_object_mut().unwrap().remove(argument);
            }
            value => args[argument] = value,
        }

        let err = trigger(&cx, args.clone()).await.unwrap_err();

        assert_eq!(
            invalid_argument(&err),
            Some(argument),
            "{args}: {}",
            err.message
        );
        assert!(err.message.contains(argument), "{args}: {}", err.message);
    }
    assert_nothing_sent(&sim);
}

#[tokio::test]
async fn a_blank_integration_key_is_named_and_nothing_is_sent_anywhere() {
    let sim = simulator().await;
    let alert = sim.create_alert(Value::Null);
    for key in ["", "   "] {
        let cx = ilert_context(&sim.urls().ilert, key);

        let err = trigger(&cx, args(&sim, &alert["uuid"])).await.unwrap_err();

        assert_eq!(err.kind, ErrorKind::Permanent);
        assert!(err.message.contains("integration_key"), "{}", err.message);
    }

    let err = trigger(&context(None), args(&sim, &alert["uuid"]))
        .await
        .unwrap_err();
    assert!(err.message.contains("ilert"), "{}", err.message);

    assert_nothing_sent(&sim);
}

// --- Retries --------------------------------------------------------------------------------

#[tokio::test]
async fn a_rate_limited_post_waits_for_retry_after_then_succeeds() {
    let sim = simulator().await;
    let alert = sim.create_alert(Value::Null);
    let mut cx = sekoia_source(&sim);
    // Let the whole Retry-After through (the test policy caps delays at a few milliseconds).
    cx.retry.max_delay = Duration::from_secs(5);
    sim.inject_fault(Fault::status(Route::Ilert, 429).retry_after(1));

    let started = Instant::now();
    trigger(&cx, args(&sim, &alert["uuid"])).await.unwrap();

    assert!(started.elapsed() >= Duration::from_secs(1));
    let posts = ilert_requests(&sim);
    let statuses: Vec<u16> = posts.iter().map(|post| post.status).collect();
    assert_eq!(statuses, [429, 202]);
    assert!(
        posts[1].received_at_ms - posts[0].received_at_ms >= 1_000,
        "retried {} ms after the 429",
        posts[1].received_at_ms - posts[0].received_at_ms
    );
    assert_eq!(sim.ilert_alerts().len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_until_ilert_accepts() {
    for status in [503, 502, 500, 504] {
        let sim = simulator().await;
        let alert = sim.create_alert(Value::Null);
        let cx = sekoia_source(&sim);
        sim.inject_fault(Fault::status(Route::Ilert, status).times(2));

        trigger(&cx, args(&sim, &alert["uuid"])).await.unwrap();

        let statuses: Vec<u16> = ilert_requests(&sim).iter().map(|p| p.status).collect();
        assert_eq!(statuses, [status, status, 202], "{status}");
        assert_eq!(sim.ilert_alerts().len(), 1, "{status}");
    }
}

#[tokio::test]
async fn a_bad_request_is_not_retried() {
    let sim = simulator().await;
    let alert = sim.create_alert(Value::Null);
    let cx = sekoia_source(&sim);
    sim.inject_fault(Fault::status(Route::Ilert, 400));

    let err = trigger(&cx, args(&sim, &alert["uuid"])).await.unwrap_err();

    assert_eq!(
        (err.kind, err.http_status),
        (ErrorKind::Permanent, Some(400))
    );
    assert_eq!(ilert_requests(&sim).len(), 1);
}

#[tokio::test]
async fn an_unknown_integration_key_is_reported_as_a_wrong_key_or_url_and_not_retried() {
    let sim = simulator().await;
    let alert = sim.create_alert(Value::Null);
    let cx = ilert_context(&sim.urls().ilert, "no-such-ilert-key");

    let err = trigger(&cx, args(&sim, &alert["uuid"])).await.unwrap_err();

    assert_eq!(
        (err.kind.clone(), err.http_status),
        (ErrorKind::Permanent, Some(404))
    );
    assert!(
        err.message.contains("wrong integration key or URL"),
        "{}",
        err.message
    );
    assert_eq!(ilert_requests(&sim).len(), 1);
    assert!(sim.ilert_alerts().is_empty());
}

#[tokio::test]
async fn retries_stop_after_the_policys_attempts() {
    let sim = simulator().await;
    let alert = sim.create_alert(Value::Null);
    let cx = sekoia_source(&sim);
    sim.inject_fault(Fault::status(Route::Ilert, 500).times(ATTEMPTS + 5));

    let err = trigger(&cx, args(&sim, &alert["uuid"])).await.unwrap_err();

    assert_eq!(
        (err.kind.clone(), err.http_status),
        (ErrorKind::Transient, Some(500))
    );
    assert!(
        err.message
            .contains(&format!("gave up after {ATTEMPTS} attempts")),
        "{}",
        err.message
    );
    // The error and every retry line name the request once, not once per layer.
    let retried: Vec<String> = cx
        .log
        .lines()
        .into_iter()
        .map(|line| line.message)
        .filter(|message| message.contains("retrying in"))
        .collect();
    assert_eq!(retried.len(), ATTEMPTS as usize - 1, "{retried:#?}");
    for line in std::iter::once(err.message.clone()).chain(retried) {
        assert_eq!(line.matches("ilert POST").count(), 1, "{line}");
    }
    assert_eq!(ilert_requests(&sim).len(), ATTEMPTS as usize);
    assert!(sim.ilert_alerts().is_empty());
}

// --- The integration key stays secret -------------------------------------------------------

#[tokio::test]
async fn the_integration_key_is_never_in_results_and_the_url_is_logged_masked() {
    let sim = simulator().await;
    let alert = sim.create_alert(Value::Null);
    let shown_urls = [
        (sekoia_source(&sim), format!("/api/v1/events/sekoia/{MASK}")),
        (events_api(&sim), sim.urls().ilert_events.clone()),
    ];
    for (mut cx, shown_url) in shown_urls {
        unmasked_log(&mut cx);

        let results = trigger(&cx, args(&sim, &alert["uuid"])).await.unwrap();

        assert!(!results.to_string().contains(INTEGRATION_KEY), "{results}");
        let log = log_text(&cx);
        assert!(!log.contains(INTEGRATION_KEY), "{log}");
        assert!(log.contains(&shown_url), "{log}");
    }
}

#[tokio::test]
async fn the_integration_key_stays_out_of_errors_and_logs_when_ilert_refuses() {
    let sim = simulator().await;
    let alert = sim.create_alert(Value::Null);
    let wrong_key = "wrong-ilert-key-7f3a";
    let cases = [
        (None, wrong_key, 404),
        (Some(Fault::status(Route::Ilert, 400)), INTEGRATION_KEY, 400),
        (
            Some(Fault::status(Route::Ilert, 500).times(ATTEMPTS)),
            INTEGRATION_KEY,
            500,
        ),
    ];
    for (fault, key, status) in cases {
        for url in [&sim.urls().ilert, &sim.urls().ilert_events] {
            if let Some(fault) = fault.clone() {
                sim.inject_fault(fault);
            }
            let mut cx = ilert_context(url, key);
            unmasked_log(&mut cx);

            let err = trigger(&cx, args(&sim, &alert["uuid"])).await.unwrap_err();

            assert_eq!(err.http_status, Some(status), "{url}: {}", err.message);
            assert!(!err.message.contains(key), "{url}: {}", err.message);
            let results = err.results.as_deref().map(Value::to_string);
            assert!(
                !results.unwrap_or_default().contains(key),
                "{url}: results carry the key"
            );
            let log = log_text(&cx);
            assert!(!log.contains(key), "{url}: {log}");
        }
    }
}

// --- ilert's generic Events API ---------------------------------------------------------------

#[tokio::test]
async fn the_events_api_gets_the_alert_uuid_as_alert_key_and_an_event_type_per_status() {
    let sim = simulator().await;
    let cx = events_api(&sim);
    let resolved = json!({"uuid": "5a4bd2b7-8bd1-4a4b-a0f3-4f2b1e7e0c11", "name": "Resolved"});
    let cases = [
        (json!("Pending"), "ALERT"),
        (json!("Ongoing"), "ALERT"),
        (Value::Null, "ALERT"),
        (json!("Acknowledged"), "ACCEPT"),
        (json!("Closed"), "RESOLVE"),
        (json!("Rejected"), "RESOLVE"),
        (resolved, "RESOLVE"),
    ];
    for (status, event_type) in cases {
        let alert = alert_with_status(&sim, status.clone());
        let short_id = alert["short_id"].as_str().unwrap();

        // Identified by short id: the key is still the uuid.
        let results = trigger(&cx, args(&sim, &alert["short_id"])).await.unwrap();

        let sent = last_sent_to_ilert(&sim);
        assert_eq!(
            (sent.method.as_str(), sent.path.as_str(), sent.status),
            ("POST", "/api/events", 202),
            "{status}"
        );
        assert!(!sent.headers.contains_key("authorization"));
        let event = &sent.body;
        assert_eq!(event["integrationKey"], INTEGRATION_KEY);
        assert_eq!(event["eventType"], event_type, "{status}");
        assert_eq!(event["alertKey"], alert["uuid"]);
        assert_eq!(event["summary"], alert["title"]);
        assert_eq!(event["customDetails"], as_sekoia_serves(&sim, &alert));
        assert!(
            event["links"][0]["href"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/operations/alerts/{short_id}")),
            "{}",
            event["links"]
        );
        assert!(
            event["details"].as_str().unwrap().contains(short_id),
            "{}",
            event["details"]
        );

        let mut expected_results = event.clone();
        expected_results["integrationKey"] = json!(MASK);
        assert_eq!(results, expected_results, "{status}");
    }
}

#[tokio::test]
async fn through_the_events_api_an_ilert_alert_follows_the_sekoia_alert() {
    let sim = simulator().await;
    let alert = sim.create_alert(Value::Null);
    let uuid = alert["uuid"].as_str().unwrap();
    let cx = events_api(&sim);

    trigger(&cx, args(&sim, &alert["uuid"])).await.unwrap();
    assert_eq!(sim.ilert_alerts()[0].status, "open");

    sim.set_status(uuid, "Acknowledged", None).unwrap();
    trigger(&cx, args(&sim, &alert["uuid"])).await.unwrap();
    assert_eq!(sim.ilert_alerts()[0].status, "acknowledged");

    sim.set_status(uuid, "Rejected", None).unwrap();
    trigger(&cx, args(&sim, &alert["uuid"])).await.unwrap();

    let ilert_alerts = sim.ilert_alerts();
    assert_eq!(ilert_alerts.len(), 1);
    assert_eq!(ilert_alerts[0].alert_key, uuid);
    assert_eq!(ilert_alerts[0].events, ["ALERT", "ACCEPT", "RESOLVE"]);
    assert_eq!(ilert_alerts[0].status, "resolved");
}

#[tokio::test]
async fn the_older_events_path_is_the_generic_form_too() {
    let sim = simulator().await;
    let alert = sim.create_alert(Value::Null);
    let older = sim
        .urls()
        .ilert_events
        .replace("/api/events", "/api/v1/events");
    let cx = ilert_context(&older, INTEGRATION_KEY);

    trigger(&cx, args(&sim, &alert["uuid"])).await.unwrap();

    let sent = last_sent_to_ilert(&sim);
    assert_eq!((sent.path.as_str(), sent.status), ("/api/v1/events", 202));
    assert_eq!(sent.body["alertKey"], alert["uuid"]);
    assert_eq!(sent.body["eventType"], "ALERT");
}

/// Keeps the links actions record, as (system, remote id, alert uuid).
#[derive(Default)]
struct RecordedLinks(Mutex<Vec<(String, String, String)>>);

#[async_trait]
impl AlertLinks for RecordedLinks {
    async fn link(&self, system: &str, remote_id: &str, alert_uuid: &str) {
        self.0.lock().unwrap().push((
            system.to_owned(),
            remote_id.to_owned(),
            alert_uuid.to_owned(),
        ));
    }
}

#[tokio::test]
async fn the_ilert_alert_named_in_ilerts_answer_is_linked_to_the_forwarded_alert() {
    let sim = simulator().await;
    for mut cx in [sekoia_source(&sim), events_api(&sim)] {
        let links = Arc::new(RecordedLinks::default());
        cx.links = Some(links.clone());
        let alert = alert_with_status(&sim, json!("Pending"));
        trigger(&cx, args(&sim, &alert["short_id"])).await.unwrap();
        let uuid = alert["uuid"].as_str().unwrap();
        let ilert_id = sim
            .ilert_alerts()
            .into_iter()
            .find(|a| a.alert_key == uuid)
            .expect("ilert opened the alert")
            .id;
        assert_eq!(
            *links.0.lock().unwrap(),
            [("ilert".to_owned(), ilert_id, uuid.to_owned())],
            "keyed by the alert's uuid, though it was given by short id"
        );
    }

    // An event that acts on no ilert alert: ilert names none, nothing is linked.
    let links = Arc::new(RecordedLinks::default());
    let mut cx = sekoia_source(&sim);
    cx.links = Some(links.clone());
    let closed = alert_with_status(&sim, json!("Closed"));
    trigger(&cx, args(&sim, &closed["uuid"])).await.unwrap();
    assert!(links.0.lock().unwrap().is_empty());
}
