//! Two-way sync between Sekoia.io and ilert, proved against the built binary and the
//! simulated Sekoia.io and ilert over loopback, with the shipped playbooks:
//!
//! * what on-call does in ilert follows in Sekoia.io — accepted becomes Acknowledged,
//!   resolved becomes Closed, each with a comment naming who;
//! * the same webhook delivered twice changes the status once;
//! * with both playbooks running, a change made on either side comes back at most once, as a
//!   change that changes nothing, and then everything is silent;
//! * the webhook wants the playbook's token (HTTP Basic password or Bearer) and a body it can
//!   read; an ilert alert alertsync cannot trace to a Sekoia.io alert fails its run, saying
//!   what was tried; an ilert alert named only by its id is found through the id ilert gave
//!   it when alertsync forwarded it;
//! * a kill between the webhook's 202 and the status change loses nothing.

mod common;

use alertsync_sim::{IlertAlertView, IlertWebhook, OnCallUser, Receiver, Route, Simulator};
use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use common::delivery::{
    PATIENCE, POLL, UNLIMITED, delivery, forward_to_ilert, live_connected, quiet, service_dir,
    uuid_of, wait_for, wait_for_async,
};
use common::service::{ServeProcess, http, http_with};
use common::{ConfigDir, shipped_playbook, simulator};
use serde_json::{Value, json};

/// The shipped sync playbook's webhook (its uuid, then its trigger node) and its token.
const HOOK: &str = "/hooks/de806726-aaba-4a6a-956d-df0dce8c6789/1";
const TOKEN: &str = "ilert-webhook-token-for-tests";

/// The `[[playbook]]` entry of the shipped ilert → Sekoia.io playbook.
fn sync_to_sekoia() -> String {
    format!(
        "{}webhook_token = \"{TOKEN}\"\n",
        shipped_playbook("sync-ilert-to-sekoia.json")
    )
}

/// `alertsync serve` running `playbooks` against the simulator.
async fn serve(sim: &Simulator, playbooks: &str) -> (ConfigDir, ServeProcess) {
    let dir = service_dir(sim, playbooks, &delivery(4, UNLIMITED));
    let service = ServeProcess::start(&dir, &[]).await;
    (dir, service)
}

/// The service running the sync playbook alone.
async fn serve_sync(sim: &Simulator) -> (ConfigDir, ServeProcess) {
    serve(sim, &sync_to_sekoia()).await
}

/// The service running both shipped playbooks — the two-way sync — once it listens to the
/// live notifications.
async fn serve_both_ways(sim: &Simulator) -> (ConfigDir, ServeProcess) {
    let both = format!("{}\n{}", forward_to_ilert(), sync_to_sekoia());
    let started = serve(sim, &both).await;
    live_connected(sim).await;
    started
}

/// Sets up ilert's webhook alert action as the README says: the token as the password of
/// the URL; for every event type when `events` is empty.
fn register_webhook(sim: &Simulator, service: &ServeProcess, events: &[&str]) {
    sim.register_ilert_webhook(IlertWebhook {
        url: format!("http://ilert:{TOKEN}@{}{HOOK}", service.address),
        alert_source: None,
        events: events.iter().map(|e| (*e).to_owned()).collect(),
    })
    .expect("the simulated ilert takes the webhook");
}

/// A new Sekoia.io alert, once alertsync has opened it in ilert: the alert and its ilert
/// alert.
async fn forwarded_alert(sim: &Simulator) -> (Value, IlertAlertView) {
    let alert = sim.create_alert(Value::Null);
    let uuid = uuid_of(&alert);
    let ilert = wait_for("the alert in ilert", PATIENCE, POLL, || {
        sim.ilert_alerts()
            .into_iter()
            .find(|a| a.alert_key == uuid)
            .ok_or_else(|| format!("ilert has {} alerts", sim.ilert_alerts().len()))
    })
    .await;
    (alert, ilert)
}

/// Waits for `what`: a run of the service with `status`; returns the newest such run.
async fn first_run_with_status(service: &ServeProcess, status: &str, what: &str) -> Value {
    let path = format!("/api/v1/runs?status={status}");
    wait_for_async(what, PATIENCE, || async {
        let (answered, runs) = http(&service.address, "GET", &path, None, "").await;
        assert_eq!(answered, 200, "{runs}");
        runs["runs"]
            .as_array()
            .and_then(|runs| runs.first().cloned())
            .ok_or_else(|| format!("no {status} run yet: {runs}"))
    })
    .await
}

/// The alert's status name in Sekoia.io and the comment of its latest history entry.
fn sekoia_state(sim: &Simulator, alert: &Value) -> (String, Value) {
    let alert = sim.alert(&uuid_of(alert)).expect("the alert exists");
    let status = alert["status"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, alert["history"][0]["comment"].clone())
}

/// Waits until the alert has `status` in Sekoia.io; returns the comment it came with.
async fn sekoia_reaches(sim: &Simulator, alert: &Value, status: &str) -> Value {
    wait_for(
        &format!("the alert {status} in Sekoia.io"),
        PATIENCE,
        POLL,
        || {
            let (now, comment) = sekoia_state(sim, alert);
            (now == status)
                .then_some(comment)
                .ok_or_else(|| format!("it is {now}"))
        },
    )
    .await
}

/// The workflow changes (`PATCH …/workflow`) Sekoia.io received, for `alert` or for all.
fn workflow_changes(sim: &Simulator, alert: Option<&Value>) -> usize {
    let ids: Vec<String> = alert
        .map(|a| {
            vec![
                uuid_of(a),
                a["short_id"].as_str().unwrap_or_default().to_owned(),
            ]
        })
        .unwrap_or_default();
    sim.requests(Receiver::Sekoia)
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with("/workflow"))
        .filter(|r| ids.is_empty() || ids.iter().any(|id| r.path.contains(id.as_str())))
        .count()
}

/// What the simulator has seen so far: workflow changes, events ilert received, webhooks
/// ilert sent, and requests of every kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Traffic {
    workflow_changes: usize,
    ilert_events: usize,
    webhooks: usize,
    requests: usize,
}

impl Traffic {
    fn of(sim: &Simulator) -> Self {
        let receivers = [
            Receiver::Sekoia,
            Receiver::Intake,
            Receiver::Ilert,
            Receiver::PagerDuty,
            Receiver::Mattermost,
            Receiver::Sink,
        ];
        Self {
            workflow_changes: workflow_changes(sim, None),
            ilert_events: sim.requests(Receiver::Ilert).len(),
            webhooks: sim.ilert_webhook_deliveries().len(),
            requests: receivers.iter().map(|r| sim.requests(*r).len()).sum(),
        }
    }

    /// What happened between `before` and now.
    fn since(self, before: Self) -> Self {
        Self {
            workflow_changes: self.workflow_changes - before.workflow_changes,
            ilert_events: self.ilert_events - before.ilert_events,
            webhooks: self.webhooks - before.webhooks,
            requests: self.requests - before.requests,
        }
    }
}

/// Waits until nothing reaches or leaves the simulator any more; returns what it saw then.
async fn settled(sim: &Simulator) -> Traffic {
    quiet("the simulator", || {
        let traffic = Traffic::of(sim);
        traffic.requests + traffic.webhooks
    })
    .await;
    Traffic::of(sim)
}

/// `Authorization: Basic` of `user:password`.
fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        BASE64_STANDARD.encode(format!("{user}:{password}"))
    )
}

/// ilert's default webhook body for a change of ilert alert `id` keyed `alert_key`.
fn default_body(id: &str, status: &str, alert_key: &str) -> String {
    json!({
        "id": id, "status": status, "summary": "Suspicious logon", "details": "",
        "reportTime": "2026-12-01T09:52:39.551Z", "eventType": "alert-accepted",
        "priority": "HIGH", "alertKey": alert_key,
        "alertSource": {"id": 1, "name": "Sekoia.io"},
        "assignedTo": {"username": "ada", "email": "ada@example.com",
                       "firstName": "Ada", "lastName": "Lovelace"}
    })
    .to_string()
}

/// `POST` to the sync playbook's webhook with `authorization`: the status and the answer.
async fn call_webhook(
    service: &ServeProcess,
    authorization: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let headers: Vec<(&str, &str)> = authorization
        .map(|value| ("Authorization", value))
        .into_iter()
        .collect();
    http_with(&service.address, "POST", HOOK, &headers, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_accepted_and_resolved_in_ilert_follow_in_sekoia_with_who_did_it() {
    let sim = simulator().await;
    let (_dir, service) = serve_both_ways(&sim).await;
    register_webhook(&sim, &service, &["alert-accepted", "alert-resolved"]);
    let (accepted, accepted_in_ilert) = forwarded_alert(&sim).await;
    let (resolved, resolved_in_ilert) = forwarded_alert(&sim).await;

    sim.ilert_accept(&accepted_in_ilert.id, None)
        .expect("on-call accepts");
    let comment = sekoia_reaches(&sim, &accepted, "Acknowledged").await;
    assert_eq!(comment, "Accepted in ilert by Ada Lovelace");

    let grace = OnCallUser {
        username: "grace".to_owned(),
        email: "grace@example.com".to_owned(),
        first_name: "Grace".to_owned(),
        last_name: "Hopper".to_owned(),
    };
    sim.ilert_resolve(&resolved_in_ilert.id, Some(grace))
        .expect("on-call resolves a pending alert");
    let comment = sekoia_reaches(&sim, &resolved, "Closed").await;
    assert_eq!(comment, "Resolved in ilert; assigned to Grace Hopper");

    sim.ilert_resolve(&accepted_in_ilert.id, None)
        .expect("on-call resolves the accepted alert");
    let comment = sekoia_reaches(&sim, &accepted, "Closed").await;
    assert_eq!(comment, "Resolved in ilert; assigned to Ada Lovelace");

    settled(&sim).await;
    assert_eq!(workflow_changes(&sim, Some(&accepted)), 2);
    assert_eq!(workflow_changes(&sim, Some(&resolved)), 1);
    let webhooks = sim.ilert_webhook_deliveries();
    assert_eq!(webhooks.len(), 3, "{webhooks:?}");
    assert!(
        webhooks
            .iter()
            .all(|w| w.status == Some(202) && !w.url.contains(TOKEN)),
        "{webhooks:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_webhook_delivered_twice_changes_the_status_once() {
    let sim = simulator().await;
    let (_dir, service) = serve_sync(&sim).await;
    let alert = sim.create_alert(Value::Null);
    let body = default_body("2983781", "ACCEPTED", &uuid_of(&alert));
    let authorization = basic("ilert", TOKEN);

    let (first, answer) = call_webhook(&service, Some(&authorization), &body).await;
    assert_eq!(first, 202, "{answer}");
    let (again, repeated) = call_webhook(&service, Some(&authorization), &body).await;
    assert_eq!(again, 202, "{repeated}");
    assert_eq!(repeated["event_id"], answer["event_id"], "the same event");

    let comment = sekoia_reaches(&sim, &alert, "Acknowledged").await;
    assert_eq!(comment, "Accepted in ilert by Ada Lovelace");
    settled(&sim).await;
    assert_eq!(workflow_changes(&sim, Some(&alert)), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_both_playbooks_a_change_on_either_side_comes_back_at_most_once_then_silence() {
    let sim = simulator().await;
    let (_dir, service) = serve_both_ways(&sim).await;
    // Every event type, created alerts included: the loop guard must not rely on ilert's
    // webhook being set up as the README advises.
    register_webhook(&sim, &service, &[]);
    let (on_call_side, in_ilert) = forwarded_alert(&sim).await;
    let (analyst_side, analyst_in_ilert) = forwarded_alert(&sim).await;

    // On-call accepts in ilert.
    let before = settled(&sim).await;
    sim.ilert_accept(&in_ilert.id, None)
        .expect("on-call accepts");
    sekoia_reaches(&sim, &on_call_side, "Acknowledged").await;
    let after = settled(&sim).await;
    let changed = after.since(before);
    eprintln!("one acceptance in ilert: {changed:?}");
    assert_eq!(
        changed.workflow_changes, 1,
        "one workflow change in Sekoia.io"
    );
    assert!(
        changed.ilert_events <= 1,
        "at most one event back to ilert: {changed:?}"
    );
    assert_eq!(changed.webhooks, 1, "ilert reports the acceptance only");
    assert_eq!(settled(&sim).await, after, "then silence");

    // An analyst acknowledges in Sekoia.io.
    sim.set_status(&uuid_of(&analyst_side), "Acknowledged", Some("on it"))
        .expect("the analyst acknowledges");
    wait_for("ilert to accept the alert", PATIENCE, POLL, || {
        let now = sim.ilert_alerts();
        let alert = now.iter().find(|a| a.id == analyst_in_ilert.id);
        match alert.map(|a| a.status.as_str()) {
            Some("acknowledged") => Ok(()),
            other => Err(format!("it is {other:?}")),
        }
    })
    .await;
    let back = settled(&sim).await;
    let changed = back.since(after);
    eprintln!("one acknowledgement in Sekoia.io: {changed:?}");
    assert_eq!(changed.ilert_events, 1, "one event to ilert");
    assert!(
        changed.webhooks <= 1,
        "at most one webhook back: {changed:?}"
    );
    assert_eq!(
        changed.workflow_changes, 0,
        "the webhook back changes nothing in Sekoia.io"
    );
    assert_eq!(settled(&sim).await, back, "then silence");
    assert_eq!(sekoia_state(&sim, &analyst_side).1, "on it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_wants_the_token_and_a_readable_body_and_an_untraceable_alert_fails_its_run() {
    let sim = simulator().await;
    let (_dir, service) = serve_sync(&sim).await;
    let alert = sim.create_alert(Value::Null);
    let good = default_body("1001", "ACCEPTED", &uuid_of(&alert));

    let wrong_token = [
        ("no credentials", None),
        (
            "a wrong Basic password",
            Some(basic("ilert", "not-the-token")),
        ),
        ("the token as Basic user name", Some(basic(TOKEN, "x"))),
        (
            "a wrong Bearer token",
            Some("Bearer not-the-token".to_owned()),
        ),
        ("the token without a scheme", Some(TOKEN.to_owned())),
    ];
    for (case, authorization) in wrong_token {
        let (status, answer) = call_webhook(&service, authorization.as_deref(), &good).await;
        assert_eq!(status, 401, "{case}: {answer}");
        let error = answer["detail"].as_str().unwrap_or_default();
        assert!(
            error.contains("webhook_token") && !error.contains(TOKEN),
            "{case}: {answer}"
        );
    }

    let authorization = basic("anyone", TOKEN);
    let unreadable = [
        ("not JSON", "status=ACCEPTED".to_owned(), "not JSON"),
        (
            "no alert id",
            json!({"status": "ACCEPTED"}).to_string(),
            "`alertId`",
        ),
        (
            "no status",
            json!({"alertId": "12"}).to_string(),
            "`alertStatus`",
        ),
        (
            "an unknown status",
            json!({"id": "12", "status": "SNOOZED"}).to_string(),
            "PENDING, ACCEPTED or RESOLVED",
        ),
        (
            "an id that is not ilert's",
            json!({"id": "../12", "status": "ACCEPTED"}).to_string(),
            "numeric",
        ),
    ];
    for (case, body, named) in unreadable {
        let (status, answer) = call_webhook(&service, Some(&authorization), &body).await;
        assert_eq!(status, 400, "{case}: {answer}");
        let error = answer["detail"].as_str().unwrap_or_default();
        assert!(error.contains(named), "{case}: {answer}");
    }

    let (status, answer) = call_webhook(&service, Some(&authorization), &good).await;
    assert_eq!(status, 202, "Basic, any user name: {answer}");
    sekoia_reaches(&sim, &alert, "Acknowledged").await;

    let untraceable = default_body("424242", "RESOLVED", "disk-full-42");
    let bearer = format!("Bearer {TOKEN}");
    let (status, answer) = call_webhook(&service, Some(&bearer), &untraceable).await;
    assert_eq!(status, 202, "Bearer: {answer}");
    let failed =
        first_run_with_status(&service, "failed", "the untraceable change's run to fail").await;
    let reason = failed["error"].as_str().unwrap_or_default();
    for tried in [
        "ilert alert 424242",
        "alertKey \"disk-full-42\"",
        "summary and details",
        "forwarded",
    ] {
        assert!(reason.contains(tried), "the reason names {tried}: {reason}");
    }
    assert!(
        !service.log().contains(TOKEN),
        "the token stays out of the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ilert_alert_named_only_by_its_id_is_found_through_what_ilert_answered_alertsync() {
    let sim = simulator().await;
    let (_dir, service) = serve_both_ways(&sim).await;
    let (alert, in_ilert) = forwarded_alert(&sim).await;
    // ilert has the alert as soon as its answer leaves; the link to it is stored when the
    // forwarding run has read that answer. Someone accepting it in ilert comes later.
    first_run_with_status(&service, "succeeded", "the forwarding run to end").await;
    // A custom body with ilert's template variables, no alertKey and no short id.
    let body = json!({"alertId": in_ilert.id, "alertStatus": "ACCEPTED",
                      "eventType": "alert-accepted", "alertSummary": "Suspicious logon"})
    .to_string();

    let bearer = format!("Bearer {TOKEN}");
    let (status, answer) = call_webhook(&service, Some(&bearer), &body).await;
    assert_eq!(status, 202, "{answer}");
    let comment = sekoia_reaches(&sim, &alert, "Acknowledged").await;
    assert_eq!(comment, "Accepted in ilert", "ilert named nobody");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_between_the_webhooks_202_and_the_status_change_loses_nothing() {
    let sim = simulator().await;
    let (_dir, mut service) = serve_sync(&sim).await;
    let alert = sim.create_alert(Value::Null);
    // The run's read of the alert is slow, so the kill comes before the status change.
    sim.inject_fault(alertsync_sim::Fault::latency(Route::SekoiaGetAlert, 5_000));

    let body = default_body("2983781", "ACCEPTED", &uuid_of(&alert));
    let (status, answer) = call_webhook(&service, Some(&basic("ilert", TOKEN)), &body).await;
    assert_eq!(status, 202, "{answer}");
    service.kill_9().await;
    assert_eq!(
        sekoia_state(&sim, &alert).0,
        "Pending",
        "the status changed before the kill: the test proves nothing"
    );

    service.restart().await;
    let comment = sekoia_reaches(&sim, &alert, "Acknowledged").await;
    assert_eq!(comment, "Accepted in ilert by Ada Lovelace");
    settled(&sim).await;
    assert_eq!(workflow_changes(&sim, Some(&alert)), 1);
}
