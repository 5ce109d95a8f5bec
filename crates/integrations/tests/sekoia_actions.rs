//! The Sekoia.io actions against the simulated REST API and intake.

mod common;

use alertsync_engine::ErrorKind;
use alertsync_integrations::sekoia;
use alertsync_sim::{Fault, Receiver, Route};
use common::{API_KEY, ATTEMPTS, context, invalid_argument, run, simulator};
use serde_json::{Value, json};

const CLOSED: &str = "1738b1c1-767d-489e-bada-19176621a007";
const ACKNOWLEDGE_ACTION: &str = "937bdabf-6a08-434b-b6d3-d7447e4e452a";

fn access(base_url: &str) -> Value {
    json!({"api_key": API_KEY, "base_url": base_url})
}

fn with(mut args: Value, extra: Value) -> Value {
    if let (Some(args), Some(extra)) = (args.as_object_mut(), extra.as_object()) {
        args.extend(extra.clone());
    }
    args
}

#[tokio::test]
async fn get_alert_reads_by_short_id_with_flags() {
    let sim = simulator().await;
    let alert = sim.create_alert(Value::Null);
    let short_id = alert["short_id"].as_str().unwrap();
    let cx = context(None);

    let out = run(
        "sekoia.io.get_alert",
        &cx,
        with(
            access(&sim.urls().sekoia),
            json!({"uuid": short_id, "stix": true}),
        ),
    )
    .await
    .unwrap();

    assert_eq!(out.results["uuid"], alert["uuid"]);
    let requests = sim.requests(Receiver::Sekoia);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, format!("/v1/sic/alerts/{short_id}"));
    assert_eq!(requests[0].query, "stix=true");
    assert_eq!(
        requests[0].headers["authorization"],
        format!("Bearer {API_KEY}")
    );
}

#[tokio::test]
async fn access_comes_from_the_sekoia_account_when_not_in_arguments() {
    let sim = simulator().await;
    let alert = sim.create_alert(Value::Null);
    let manifest = sekoia::manifest();
    let cx = context(Some((
        &manifest,
        json!({"api_key": API_KEY, "base_url": format!("{}/api/", sim.urls().sekoia)}),
    )));

    let out = run("sekoia.io.get_alert", &cx, json!({"uuid": alert["uuid"]}))
        .await
        .unwrap();

    assert_eq!(out.results["short_id"], alert["short_id"]);
    assert!(
        sim.requests(Receiver::Sekoia)[0]
            .path
            .starts_with("/api/v1/sic/alerts/")
    );
}

#[tokio::test]
async fn search_alerts_passes_filters_and_paging() {
    let sim = simulator().await;
    sim.create_alerts(3);
    let cx = context(None);
    let args = with(
        access(&sim.urls().sekoia),
        json!({"limit": 2, "match[status_name]": "Pending", "nomatch": {"rule_name": ["a", "b"]}, "range[urgency]": "0,100"}),
    );

    let out = run("sekoia.io.search_alerts", &cx, args).await.unwrap();

    assert_eq!(out.results["total"], 3);
    assert_eq!(out.results["has_more"], true);
    assert_eq!(out.results["items"].as_array().unwrap().len(), 2);
    let query = &sim.requests(Receiver::Sekoia)[0].query;
    for part in [
        "limit=2",
        "match%5Bstatus_name%5D=Pending",
        "nomatch%5Brule_name%5D=a%2Cb",
        "range%5Burgency%5D=0%2C100",
    ] {
        assert!(query.contains(part), "{part} missing from {query}");
    }
}

#[tokio::test]
async fn edit_alert_patches_only_the_given_fields() {
    let sim = simulator().await;
    let alert = sim.create_alert(Value::Null);
    let cx = context(None);
    let args = with(
        access(&sim.urls().sekoia),
        json!({"uuid": alert["uuid"], "title": "Renamed", "urgency": 90}),
    );

    let out = run("sekoia.io.edit_alert", &cx, args).await.unwrap();

    assert_eq!(out.results["title"], "Renamed");
    let request = &sim.requests(Receiver::Sekoia)[0];
    assert_eq!(request.method, "PATCH");
    assert_eq!(request.body, json!({"title": "Renamed", "urgency": 90}));
}

#[tokio::test]
async fn status_by_name_is_case_insensitive_and_sends_the_status_uuid() {
    let sim = simulator().await;
    let alert = sim.create_alert(Value::Null);
    let cx = context(None);
    let args = with(
        access(&sim.urls().sekoia),
        json!({"uuid": alert["uuid"], "status": "cLoSeD", "comment": "done"}),
    );

    run("sekoia.io.update_alert_status_by_name", &cx, args)
        .await
        .unwrap();

    let request = &sim.requests(Receiver::Sekoia)[0];
    assert_eq!(request.method, "PATCH");
    assert!(request.path.ends_with("/workflow"));
    assert_eq!(
        request.body,
        json!({"action_uuid": CLOSED, "comment": "done"})
    );
    let stored = sim.alert(alert["uuid"].as_str().unwrap()).unwrap();
    assert_eq!(stored["status"]["name"], "Closed");
}

#[tokio::test]
async fn update_alert_status_sends_the_action_uuid() {
    let sim = simulator().await;
    let alert = sim.create_alert(Value::Null);
    let cx = context(None);
    let args = with(
        access(&sim.urls().sekoia),
        json!({"uuid": alert["short_id"], "action_uuid": ACKNOWLEDGE_ACTION}),
    );

    run("sekoia.io.update_alert_status", &cx, args)
        .await
        .unwrap();

    assert_eq!(
        sim.requests(Receiver::Sekoia)[0].body,
        json!({"action_uuid": ACKNOWLEDGE_ACTION}),
        "no comment: left out, as Sekoia.io's action does"
    );
    assert_eq!(
        sim.alert(alert["uuid"].as_str().unwrap()).unwrap()["status"]["name"],
        "Acknowledged"
    );
}

#[tokio::test]
async fn invalid_arguments_name_the_argument_and_send_nothing() {
    let sim = simulator().await;
    let alert = sim.create_alert(Value::Null);
    let cx = context(None);
    let base = access(&sim.urls().sekoia);
    let cases = [
        (
            "sekoia.io.update_alert_status_by_name",
            json!({"uuid": alert["uuid"], "status": "Done"}),
            "status",
        ),
        (
            "sekoia.io.update_alert_status",
            json!({"uuid": alert["uuid"], "action_uuid": "close"}),
            "action_uuid",
        ),
        (
            "sekoia.io.comment_alert",
            json!({"uuid": alert["uuid"], "content": "x", "author": "a".repeat(33)}),
            "author",
        ),
        (
            "sekoia.io.comment_alert",
            json!({"uuid": alert["uuid"]}),
            "content",
        ),
        (
            "sekoia.io.get_alert",
            json!({"uuid": "not-an-alert"}),
            "uuid",
        ),
        (
            "sekoia.io.edit_alert",
            json!({"uuid": alert["uuid"]}),
            "uuid",
        ),
        (
            "sekoia.io.get_events",
            json!({"query": "x", "earliest_time": "-1d"}),
            "latest_time",
        ),
    ];
    for (action, args, argument) in cases {
        let err = run(action, &cx, with(base.clone(), args))
            .await
            .unwrap_err();
        assert_eq!(
            invalid_argument(&err),
            Some(argument),
            "{action}: {}",
            err.message
        );
    }
    assert!(sim.requests(Receiver::Sekoia).is_empty());
}

#[tokio::test]
async fn comment_alert_posts_content_and_author() {
    let sim = simulator().await;
    let alert = sim.create_alert(Value::Null);
    let cx = context(None);
    let args = with(
        access(&sim.urls().sekoia),
        json!({"uuid": alert["uuid"], "content": "Seen", "author": "alertsync"}),
    );

    let out = run("sekoia.io.comment_alert", &cx, args).await.unwrap();

    assert_eq!(out.results["content"], "Seen");
    let request = &sim.requests(Receiver::Sekoia)[0];
    assert_eq!(
        (request.method.as_str(), request.body.clone()),
        ("POST", json!({"content": "Seen", "author": "alertsync"}))
    );
}

#[tokio::test]
async fn get_events_creates_polls_and_pages_a_search_job() {
    let sim = simulator().await;
    let alert = sim.create_alert(Value::Null);
    let term = format!(
        "alert_short_ids:\"{}\"",
        alert["short_id"].as_str().unwrap()
    );
    let cx = context(None);
    let args = with(
        access(&sim.urls().sekoia),
        json!({"query": term, "earliest_time": "-30d", "latest_time": "now", "limit": 3}),
    );

    let out = run("sekoia.io.get_events", &cx, args).await.unwrap();

    let events = out.results["events"].as_array().unwrap();
    assert!(!events.is_empty() && events.len() <= 3, "{events:?}");
    let requests = sim.requests(Receiver::Sekoia);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].body["term"], json!(term));
    assert_eq!(requests[0].body["latest_time"], "now");
    let polls = requests
        .iter()
        .filter(|r| r.method == "GET" && !r.path.ends_with("/events"))
        .count();
    assert!(polls >= 2, "the first poll answers running");
    let pages: Vec<_> = requests
        .iter()
        .filter(|r| r.path.ends_with("/events"))
        .collect();
    assert!(pages[0].query.contains("limit=3") && pages[0].query.contains("offset=0"));
}

#[tokio::test]
async fn common_values_count_each_field_over_the_events_of_the_alert() {
    let sim = simulator().await;
    let alert = sim.create_alert(json!({
        "source": "198.51.100.7",
        "target": "10.1.2.3",
        "event_uuids": ["e-1", "e-2", "e-3", "e-4"]
    }));
    let term = format!("alert_short_ids:{}", alert["short_id"].as_str().unwrap());
    let cx = context(None);
    let args = with(
        access(&sim.urls().sekoia),
        json!({
            "query": term,
            "fields": "source.ip, destination.ip,host.name",
            "earliest_time": alert["first_seen_at"],
            "latest_time": alert["last_seen_at"]
        }),
    );

    let out = run("sekoia.io.get_event_field_common_values", &cx, args)
        .await
        .unwrap();

    let fields = out.results["fields"].as_array().unwrap();
    let names: Vec<&Value> = fields.iter().map(|f| &f["name"]).collect();
    assert_eq!(names, ["source.ip", "destination.ip", "host.name"]);
    // Sekoia.io's shape: each common value is `{name, value}`, `value` being its count.
    assert_eq!(
        fields[0]["common_values"],
        json!([{"name": "198.51.100.7", "value": 4}])
    );
    assert_eq!(
        fields[1]["common_values"],
        json!([{"name": "10.1.2.3", "value": 4}])
    );
    let hosts = fields[2]["common_values"].as_array().unwrap();
    let counts: Vec<u64> = hosts.iter().map(|v| v["value"].as_u64().unwrap()).collect();
    assert_eq!(
        counts.iter().sum::<u64>(),
        4,
        "one host per event: {hosts:?}"
    );
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "most common first");

    let requests = sim.requests(Receiver::Sekoia);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, "/v1/sic/conf/events/search/jobs");
    assert_eq!(requests[0].body["term"], json!(term));
    assert_eq!(requests[0].body["earliest_time"], alert["first_seen_at"]);
    assert_eq!(requests[0].body["latest_time"], alert["last_seen_at"]);
    assert!(requests.iter().any(|r| r.path.ends_with("/fields")));
}

#[tokio::test]
async fn common_values_need_a_field_and_send_nothing_without_one() {
    let sim = simulator().await;
    let cx = context(None);
    let args = with(
        access(&sim.urls().sekoia),
        json!({"query": "*", "fields": " , ", "earliest_time": "-1d", "latest_time": "now"}),
    );

    let err = run("sekoia.io.get_event_field_common_values", &cx, args)
        .await
        .unwrap_err();

    assert_eq!(invalid_argument(&err), Some("fields"));
    assert!(sim.requests(Receiver::Sekoia).is_empty());
}

#[tokio::test]
async fn server_errors_are_retried_a_bounded_number_of_times_and_keys_stay_out_of_errors() {
    let sim = simulator().await;
    let alert = sim.create_alert(Value::Null);
    let cx = context(None);
    sim.inject_fault(Fault::status(Route::SekoiaGetAlert, 503).times(ATTEMPTS));

    let err = run(
        "sekoia.io.get_alert",
        &cx,
        with(access(&sim.urls().sekoia), json!({"uuid": alert["uuid"]})),
    )
    .await
    .unwrap_err();

    assert_eq!(err.kind, ErrorKind::Transient);
    assert_eq!(sim.requests(Receiver::Sekoia).len(), ATTEMPTS as usize);
    assert!(!err.message.contains(API_KEY));

    let wrong =
        json!({"api_key": "wrong-key-123", "base_url": sim.urls().sekoia, "uuid": alert["uuid"]});
    let err = run("sekoia.io.get_alert", &cx, wrong).await.unwrap_err();
    assert_eq!(
        (err.kind, err.http_status),
        (ErrorKind::Permanent, Some(401))
    );
    assert!(!err.message.contains("wrong-key-123"), "{}", err.message);
}

#[tokio::test]
async fn push_events_serialises_and_batches_to_the_intake() {
    let sim = simulator().await;
    let cx = context(None);
    let args = json!({
        "intake_key": "sim-intake-key",
        "intake_server": format!("{}/", sim.urls().intake),
        "event": {"message": "one"},
        "events": ["raw line", {"n": 2}]
    });

    let out = run("sekoia.io.push_events_to_intake", &cx, args)
        .await
        .unwrap();

    assert_eq!(out.results["event_ids"].as_array().unwrap().len(), 3);
    let requests = sim.requests(Receiver::Intake);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/batch");
    assert_eq!(
        requests[0].body,
        json!({"intake_key": "sim-intake-key", "jsons": ["{\"message\":\"one\"}", "raw line", "{\"n\":2}"]})
    );
    assert!(!out.results.to_string().contains("sim-intake-key"));
}

#[tokio::test]
async fn push_events_uses_the_account_intake_and_retries_server_errors() {
    let sim = simulator().await;
    let manifest = sekoia::manifest();
    let cx = context(Some((
        &manifest,
        json!({"api_key": API_KEY, "intake_url": sim.urls().intake}),
    )));
    sim.inject_fault(Fault::status(Route::Intake, 503).times(2));

    let out = run(
        "sekoia.io.push_events_to_intake",
        &cx,
        json!({"intake_key": "sim-intake-key", "events": ["a"]}),
    )
    .await
    .unwrap();

    assert_eq!(out.results["event_ids"].as_array().unwrap().len(), 1);
    assert_eq!(sim.requests(Receiver::Intake).len(), 3);
}

#[tokio::test]
async fn push_events_rejects_oversized_events_and_unknown_keys() {
    let sim = simulator().await;
    let cx = context(None);
    let big = "x".repeat(250_001);
    let args = json!({"intake_key": "sim-intake-key", "intake_server": sim.urls().intake, "events": ["small", big]});

    let err = run("sekoia.io.push_events_to_intake", &cx, args)
        .await
        .unwrap_err();
    assert_eq!(invalid_argument(&err), Some("events"));
    assert!(err.message.contains("250000"), "{}", err.message);
    assert!(sim.requests(Receiver::Intake).is_empty());

    let args = json!({"intake_key": "unknown-intake-key", "intake_server": sim.urls().intake, "events": ["a"]});
    let err = run("sekoia.io.push_events_to_intake", &cx, args)
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.http_status),
        (ErrorKind::Permanent, Some(401))
    );
    assert!(!err.message.contains("unknown-intake-key"));
    assert_eq!(sim.requests(Receiver::Intake).len(), 1);
}
