//! PagerDuty Trigger Alert: the alert read from the simulated Sekoia.io, the event posted to
//! the simulated Events v2 endpoint.

mod common;

use alertsync_engine::ErrorKind;
use alertsync_engine::redact::MASK;
use alertsync_integrations::pagerduty;
use alertsync_sim::{Fault, Receiver, Route, Simulator};
use common::{API_KEY, context, invalid_argument, run, simulator};
use serde_json::{Value, json};

const ROUTING_KEY: &str = "pd-routing-key-42";

fn pagerduty_context(sim: &Simulator) -> alertsync_engine::ActionContext {
    let manifest = pagerduty::manifest();
    context(Some((
        &manifest,
        json!({"integration_key": ROUTING_KEY, "integration_url": sim.urls().pagerduty}),
    )))
}

fn args(sim: &Simulator, alert: &Value) -> Value {
    json!({"alert_uuid": alert["uuid"], "api_key": API_KEY, "base_url": sim.urls().sekoia})
}

fn urgency(value: u64) -> Value {
    json!({"severity": value, "value": value, "criticity": 10, "current_value": value, "display": "High"})
}

#[tokio::test]
async fn an_open_alert_triggers_an_event_keyed_by_its_short_id() {
    let sim = simulator().await;
    let alert = sim.create_alert(json!({"urgency": urgency(60)}));
    let cx = pagerduty_context(&sim);

    let out = run("pagerduty.trigger_alert", &cx, args(&sim, &alert))
        .await
        .unwrap();

    assert_eq!(
        sim.requests(Receiver::Sekoia)[0].path,
        format!("/v1/sic/alerts/{}", alert["uuid"].as_str().unwrap())
    );
    let sent = &sim.requests(Receiver::PagerDuty)[0];
    assert_eq!((sent.method.as_str(), sent.status), ("POST", 202));
    let event = &sent.body;
    assert_eq!(event["routing_key"], ROUTING_KEY);
    assert_eq!(event["event_action"], "trigger");
    assert_eq!(event["dedup_key"], alert["short_id"]);
    assert_eq!(event["payload"]["summary"], alert["title"]);
    assert_eq!(event["payload"]["source"], alert["entity"]["name"]);
    assert_eq!(event["payload"]["severity"], "error");
    let class = format!(
        "{} - {}",
        alert["alert_type"]["category"].as_str().unwrap(),
        alert["alert_type"]["value"].as_str().unwrap()
    );
    assert_eq!(event["payload"]["class"], json!(class));
    assert_eq!(
        event["payload"]["custom_details"]["details"],
        alert["details"]
    );
    assert!(
        event["links"][0]["href"]
            .as_str()
            .unwrap()
            .ends_with(&format!(
                "/operations/alerts/{}",
                alert["short_id"].as_str().unwrap()
            ))
    );

    assert_eq!(out.results["routing_key"], MASK);
    assert_eq!(out.results["dedup_key"], alert["short_id"]);
    assert!(!out.results.to_string().contains(ROUTING_KEY));
}

#[tokio::test]
async fn closed_and_acknowledged_alerts_resolve_and_acknowledge() {
    let sim = simulator().await;
    let cx = pagerduty_context(&sim);
    for (status, action) in [
        ("Closed", "resolve"),
        ("Rejected", "resolve"),
        ("Acknowledged", "acknowledge"),
    ] {
        let alert = sim.create_alert(json!({"status": status}));
        run("pagerduty.trigger_alert", &cx, args(&sim, &alert))
            .await
            .unwrap();
        let last = sim.requests(Receiver::PagerDuty).pop().unwrap();
        assert_eq!(last.body["event_action"], action, "{status}");
        assert_eq!(last.body["dedup_key"], alert["short_id"]);
    }
}

#[tokio::test]
async fn bad_alert_ids_and_missing_accounts_send_nothing() {
    let sim = simulator().await;
    let alert = sim.create_alert(Value::Null);
    let cx = pagerduty_context(&sim);
    let mut bad = args(&sim, &alert);
    bad["alert_uuid"] = json!("12");

    let err = run("pagerduty.trigger_alert", &cx, bad).await.unwrap_err();
    assert_eq!(invalid_argument(&err), Some("alert_uuid"));

    let err = run(
        "pagerduty.trigger_alert",
        &context(None),
        args(&sim, &alert),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent);
    assert!(err.message.contains("pagerduty"), "{}", err.message);

    assert!(sim.requests(Receiver::Sekoia).is_empty());
    assert!(sim.requests(Receiver::PagerDuty).is_empty());
}

#[tokio::test]
async fn server_errors_are_retried_and_rejections_keep_the_key_out_of_the_error() {
    let sim = simulator().await;
    let alert = sim.create_alert(Value::Null);
    let cx = pagerduty_context(&sim);
    sim.inject_fault(Fault::status(Route::PagerDuty, 500).times(2));

    run("pagerduty.trigger_alert", &cx, args(&sim, &alert))
        .await
        .unwrap();
    assert_eq!(sim.requests(Receiver::PagerDuty).len(), 3);

    sim.inject_fault(Fault::status(Route::PagerDuty, 400));
    let err = run("pagerduty.trigger_alert", &cx, args(&sim, &alert))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind.clone(), err.http_status),
        (ErrorKind::Permanent, Some(400))
    );
    assert!(!err.message.contains(ROUTING_KEY));
    assert_eq!(
        sim.requests(Receiver::PagerDuty).len(),
        4,
        "400 is not retried"
    );
}
