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
        .route("/alerts/{id}", get(alert))
        .route("/alerts/{id}/status", post(set_status))
        .route("/alerts/{id}/comments", post(add_comment))
        .route("/requests", get(requests))
        .route("/ilert/alerts", get(ilert_alerts))
        .route("/timings", get(timings))
        .route("/timings/counts", get(timing_counts))
        .route("/faults", post(inject_fault))
        .route("/live/drop", post(drop_live_connections))
        .route("/live/connections", get(live_connections))
        .route("/reset", post(reset))
        .with_state(sim)
}

fn to_json(value: impl serde::Serialize) -> Result<Value, SimError> {
    serde_json::to_value(value).map_err(|error| SimError::invalid("answer", error.to_string()))
}

async fn urls(State(sim): Sim) -> Response {
    answer(ERROR_STYLE, to_json(&sim.urls))
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

async fn reset(State(sim): Sim) -> Response {
    sim.reset();
    answer(ERROR_STYLE, Ok(json!({"ok": true})))
}
