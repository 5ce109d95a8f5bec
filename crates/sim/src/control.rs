//! The control API: the [`crate::Simulator`] methods over HTTP, for use from outside the
//! process. Errors answer `{"error": "..."}` naming the offending field.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::SimError;
use crate::faults::Fault;
use crate::gateway::{answer, json_object, optional_text, required_text};
use crate::ilert::{OnCall, OnCallUser};
use crate::ilert_webhooks::IlertWebhook;
use crate::recorder::Receiver;
use crate::state::{SimState, lock};

/// The receiver whose error shape (`{"error": ...}`) the control API shares.
const ERROR_STYLE: Receiver = Receiver::Sink;

/// At most this many alerts per `POST /alerts`.
const MAX_ALERTS_PER_REQUEST: u64 = 100_000;

type Sim = State<Arc<SimState>>;

pub(crate) fn router(sim: Arc<SimState>) -> Router {
    Router::new()
        .route("/", get(urls))
        .route("/alerts", post(create_alerts))
        .route("/alerts/history", post(serve_history))
        .route("/alerts/{id}", get(alert))
        .route("/alerts/{id}/status", post(set_status))
        .route("/alerts/{id}/comments", post(add_comment))
        .route("/alerts/{id}/occurrences", post(add_occurrences))
        .route("/feeds/{id}/objects", post(add_feed_objects))
        .route("/requests", get(requests))
        .route("/ilert/alerts", get(ilert_alerts))
        .route("/ilert/alerts/{id}/accept", post(ilert_accept))
        .route("/ilert/alerts/{id}/resolve", post(ilert_resolve))
        .route(
            "/ilert/webhooks",
            get(ilert_webhooks).post(register_ilert_webhook),
        )
        .route("/timings", get(timings))
        .route("/timings/counts", get(timing_counts))
        .route("/faults", post(inject_fault))
        .route("/faults/clear", post(clear_faults))
        .route("/live/drop", post(drop_live_connections))
        .route("/live/connections", get(live_connections))
        .route("/resources/{kind}/{id}", get(resource))
        .route("/reset", post(reset))
        .with_state(sim)
}

fn to_json(value: impl serde::Serialize) -> Result<Value, SimError> {
    serde_json::to_value(value).map_err(|error| SimError::invalid("answer", error.to_string()))
}

/// The control API's routes: (method, path, what it does).
const ROUTES: [(&str, &str, &str); 21] = [
    ("GET", "/", "the simulators' URLs and these routes"),
    (
        "POST",
        "/alerts",
        "create alerts: {\"count\": n} or {\"alert\": {fields}}",
    ),
    (
        "GET",
        "/alerts/{id}",
        "an alert, with comments, history and countermeasures",
    ),
    (
        "POST",
        "/alerts/{id}/status",
        "change an alert's status: {\"status\": name or uuid, \"comment\"?}",
    ),
    (
        "POST",
        "/alerts/{id}/comments",
        "comment an alert: {\"content\", \"author\"?}",
    ),
    (
        "POST",
        "/alerts/{id}/occurrences",
        "more events on an alert: {\"count\": n} grows its similar count; notified as an update",
    ),
    (
        "POST",
        "/feeds/{id}/objects",
        "add STIX objects to an intelligence feed: {\"objects\": [...]} (made on first use)",
    ),
    (
        "GET",
        "/requests?receiver=R",
        "the requests a receiver got (sekoia, intake, ilert, pagerduty, mattermost, sink)",
    ),
    ("GET", "/ilert/alerts", "the alerts ilert holds"),
    (
        "POST",
        "/ilert/alerts/{id}/accept",
        "on-call accepts an ilert alert (ilert id or alert key): {\"user\"?: {\"username\", \"email\", \"firstName\", \"lastName\"}}",
    ),
    (
        "POST",
        "/ilert/alerts/{id}/resolve",
        "on-call resolves an ilert alert (ilert id or alert key): {\"user\"?: {...}}",
    ),
    (
        "POST",
        "/ilert/webhooks",
        "register a webhook alert action: {\"url\": \"http://user:password@host/path\" (credentials sent as HTTP Basic), \"alert_source\"?: integration key, \"events\"?: [\"alert-created\", \"alert-accepted\", \"alert-resolved\"]}; called on every real change of an alert of the source",
    ),
    (
        "GET",
        "/ilert/webhooks",
        "the registered webhooks and the requests ilert made to them",
    ),
    (
        "GET",
        "/timings",
        "when notifications went out and ilert accepted events",
    ),
    ("GET", "/timings/counts", "how many timings are held"),
    (
        "POST",
        "/faults",
        "inject a fault: {\"route\", \"status\"?, \"count\"?, \"retry_after_secs\"?, \"latency_ms\"?, \"body\"?}",
    ),
    (
        "POST",
        "/faults/clear",
        "drop every pending fault (the end of an outage)",
    ),
    ("POST", "/live/drop", "close every live connection abruptly"),
    (
        "GET",
        "/live/connections",
        "how many live connections are open",
    ),
    (
        "GET",
        "/resources/{kind}/{id}",
        "a case, or an IOC collection's indicators (kind: cases, ioc-collections)",
    ),
    ("POST", "/reset", "forget everything"),
];

/// The URLs of the simulators, and the routes of this API.
async fn urls(State(sim): Sim) -> Response {
    let routes: Vec<Value> = ROUTES
        .iter()
        .map(|(method, path, does)| json!({"method": method, "path": path, "does": does}))
        .collect();
    let result = to_json(&sim.urls).map(|mut urls| {
        urls["routes"] = Value::Array(routes);
        urls
    });
    answer(ERROR_STYLE, result)
}

/// A resource the simulated Sekoia.io holds besides alerts.
async fn resource(State(sim): Sim, Path((kind, id)): Path<(String, String)>) -> Response {
    let resources = lock(&sim.resources);
    let result = match kind.as_str() {
        "cases" => resources.case(&id).ok_or(SimError::unknown("case", &id)),
        "ioc-collections" => Ok(Value::Array(resources.ioc_collection(&id))),
        _ => Err(SimError::invalid(
            "kind",
            "expected cases or ioc-collections",
        )),
    };
    answer(ERROR_STYLE, result)
}

/// `{"count": n}` creates n generated alerts, `{"alert": {...}}` one with those fields.
async fn create_alerts(State(sim): Sim, body: Bytes) -> Response {
    let result =
        json_object(&body).and_then(
            |request| match (request.get("count"), request.get("alert")) {
                (Some(count), None) => {
                    let count = count
                        .as_u64()
                        .filter(|count| *count <= MAX_ALERTS_PER_REQUEST)
                        .ok_or_else(|| {
                            SimError::invalid(
                                "count",
                                format!("expected an integer from 0 to {MAX_ALERTS_PER_REQUEST}"),
                            )
                        })?;
                    Ok((0..count).map(|_| sim.create_alert(Value::Null)).collect())
                }
                (None, Some(overrides @ Value::Object(_))) => {
                    Ok(vec![sim.create_alert(overrides.clone())])
                }
                (None, Some(_)) => Err(SimError::invalid("alert", "expected an object")),
                _ => Err(SimError::invalid("count", "give either count or alert")),
            },
        );
    answer(ERROR_STYLE, result.map(Value::Array))
}

async fn alert(State(sim): Sim, Path(id): Path<String>) -> Response {
    answer(
        ERROR_STYLE,
        sim.alert(&id).ok_or(SimError::UnknownAlert(id)),
    )
}

async fn set_status(State(sim): Sim, Path(id): Path<String>, body: Bytes) -> Response {
    let result = json_object(&body).and_then(|request| {
        let status = required_text(&request, "status")?;
        sim.set_status(&id, status, optional_text(&request, "comment")?)
    });
    answer(ERROR_STYLE, result)
}

async fn add_comment(State(sim): Sim, Path(id): Path<String>, body: Bytes) -> Response {
    let result = json_object(&body).and_then(|request| {
        let content = required_text(&request, "content")?;
        sim.add_comment(&id, content, optional_text(&request, "author")?)
    });
    answer(ERROR_STYLE, result)
}

async fn add_occurrences(State(sim): Sim, Path(id): Path<String>, body: Bytes) -> Response {
    let result = json_object(&body).and_then(|request| {
        let count = request
            .get("count")
            .and_then(Value::as_u64)
            .ok_or_else(|| SimError::invalid("count", "expected a non-negative integer"))?;
        sim.add_occurrences(&id, count)
    });
    answer(ERROR_STYLE, result)
}

async fn add_feed_objects(State(sim): Sim, Path(id): Path<String>, body: Bytes) -> Response {
    let result = json_object(&body).and_then(|request| match request.get("objects") {
        Some(Value::Array(objects)) => {
            let total = lock(&sim.resources).feeds.add(&id, objects.clone());
            Ok(json!({ "total": total }))
        }
        _ => Err(SimError::invalid(
            "objects",
            "expected a list of STIX objects",
        )),
    });
    answer(ERROR_STYLE, result)
}

async fn requests(State(sim): Sim, Query(params): Query<HashMap<String, String>>) -> Response {
    let result = params
        .get("receiver")
        .ok_or_else(|| SimError::invalid("receiver", "is required"))
        .and_then(|name| {
            serde_json::from_value::<Receiver>(Value::String(name.clone()))
                .map_err(|error| SimError::invalid("receiver", error.to_string()))
        })
        .and_then(|receiver| to_json(sim.recorder.requests(receiver)));
    answer(ERROR_STYLE, result)
}

async fn ilert_alerts(State(sim): Sim) -> Response {
    answer(ERROR_STYLE, to_json(lock(&sim.ilert).alerts()))
}

/// `{"user"?: {...}}`: who does it; default the simulated on-call engineer.
fn on_call_user(body: &Bytes) -> Result<OnCallUser, SimError> {
    if body.is_empty() {
        return Ok(OnCallUser::default());
    }
    match json_object(body)?.remove("user") {
        None | Some(Value::Null) => Ok(OnCallUser::default()),
        Some(user) => serde_json::from_value(user)
            .map_err(|error| SimError::invalid("user", error.to_string())),
    }
}

fn ilert_on_call(sim: &SimState, id: &str, action: OnCall, body: &Bytes) -> Response {
    let result = on_call_user(body)
        .and_then(|user| sim.ilert_on_call(id, action, &user))
        .and_then(to_json);
    answer(ERROR_STYLE, result)
}

async fn ilert_accept(State(sim): Sim, Path(id): Path<String>, body: Bytes) -> Response {
    ilert_on_call(&sim, &id, OnCall::Accept, &body)
}

async fn ilert_resolve(State(sim): Sim, Path(id): Path<String>, body: Bytes) -> Response {
    ilert_on_call(&sim, &id, OnCall::Resolve, &body)
}

async fn register_ilert_webhook(State(sim): Sim, body: Bytes) -> Response {
    let result = serde_json::from_slice::<IlertWebhook>(&body)
        .map_err(|error| SimError::invalid("webhook", error.to_string()))
        .and_then(|webhook| sim.webhooks.register(webhook))
        .and_then(to_json);
    answer(ERROR_STYLE, result)
}

async fn ilert_webhooks(State(sim): Sim) -> Response {
    let result = to_json(sim.webhooks.registered()).and_then(|registered| {
        Ok(json!({"registered": registered, "deliveries": to_json(sim.webhooks.deliveries())?}))
    });
    answer(ERROR_STYLE, result)
}

/// When each live notification went out and when ilert accepted each event (µs).
async fn timings(State(sim): Sim) -> Response {
    answer(ERROR_STYLE, to_json(sim.timeline.snapshot()))
}

/// How many notifications and ilert events `/timings` holds, cheap enough to poll.
async fn timing_counts(State(sim): Sim) -> Response {
    let (notifications, ilert) = sim.timeline.counts();
    answer(
        ERROR_STYLE,
        Ok(json!({"notifications": notifications, "ilert": ilert})),
    )
}

async fn inject_fault(State(sim): Sim, body: Bytes) -> Response {
    let result = serde_json::from_slice::<Fault>(&body)
        .map_err(|error| SimError::invalid("fault", error.to_string()))
        .and_then(|fault| {
            let echo = to_json(&fault)?;
            sim.faults.inject(fault);
            Ok(echo)
        });
    answer(ERROR_STYLE, result)
}

async fn clear_faults(State(sim): Sim) -> Response {
    sim.faults.clear();
    answer(ERROR_STYLE, Ok(json!({"ok": true})))
}

async fn drop_live_connections(State(sim): Sim) -> Response {
    answer(
        ERROR_STYLE,
        Ok(json!({"dropped": sim.live.drop_connections()})),
    )
}

async fn live_connections(State(sim): Sim) -> Response {
    answer(
        ERROR_STYLE,
        Ok(json!({"count": sim.live.subscriber_count()})),
    )
}

/// `{"served": false}` withholds `history` from alert answers; `true` serves it again.
async fn serve_history(State(sim): Sim, body: Bytes) -> Response {
    let result = json_object(&body).and_then(|request| {
        let served = request
            .get("served")
            .and_then(Value::as_bool)
            .ok_or_else(|| SimError::invalid("served", "expected true or false"))?;
        lock(&sim.alerts).serve_history(served);
        Ok(json!({ "served": served }))
    });
    answer(ERROR_STYLE, result)
}

async fn reset(State(sim): Sim) -> Response {
    sim.reset();
    answer(ERROR_STYLE, Ok(json!({"ok": true})))
}
