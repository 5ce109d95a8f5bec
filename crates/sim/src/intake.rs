//! The Sekoia.io intake: `POST /` with one event and `POST /batch` with many, each
//! checked against the known intake keys and the 250,000-byte event limit.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use crate::SimError;
use crate::faults::Route;
use crate::gateway::{error_response, guarded, json_object};
use crate::recorder::Receiver;
use crate::state::SimState;

const MAX_EVENT_BYTES: usize = 250_000;

type Sim = State<Arc<SimState>>;

pub(crate) fn router(sim: Arc<SimState>) -> Router {
    let routes = Router::new()
        .route("/", post(push_one))
        .route("/batch", post(push_batch))
        .route("/api/v1/intake-http", post(push_one))
        .route("/api/v1/intake-http/batch", post(push_batch))
        .with_state(sim.clone());
    guarded(routes, sim, Receiver::Intake, route_of)
}

fn route_of(_: &Method, _: &str) -> Route {
    Route::Intake
}

/// Why the intake refused a request.
enum Refusal {
    Malformed(SimError),
    UnknownKey,
    TooLarge(usize),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Self::Malformed(error) => (StatusCode::BAD_REQUEST, error.to_string()),
            Self::UnknownKey => (StatusCode::UNAUTHORIZED, "unknown intake key".to_owned()),
            Self::TooLarge(index) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("event {index} is larger than {MAX_EVENT_BYTES} bytes"),
            ),
        };
        error_response(Receiver::Intake, status, &message)
    }
}

async fn push_one(State(sim): Sim, body: Bytes) -> Response {
    match accept(&sim, &body, "json") {
        Ok(ids) => Json(json!({"event_id": ids.first()})).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn push_batch(State(sim): Sim, body: Bytes) -> Response {
    match accept(&sim, &body, "jsons") {
        Ok(ids) => Json(json!({"event_ids": ids})).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// Validates a request whose events are in `field` and returns one id per event.
fn accept(sim: &SimState, body: &Bytes, field: &str) -> Result<Vec<String>, Refusal> {
    let request = json_object(body).map_err(Refusal::Malformed)?;
    let key = request
        .get("intake_key")
        .and_then(Value::as_str)
        .filter(|key| !key.is_empty())
        .ok_or_else(|| Refusal::Malformed(SimError::invalid("intake_key", "is required")))?;
    let events = events(&request, field).map_err(Refusal::Malformed)?;
    if !sim.config.intake_keys.iter().any(|known| known == key) {
        return Err(Refusal::UnknownKey);
    }
    if let Some(index) = events
        .iter()
        .position(|event| event.len() > MAX_EVENT_BYTES)
    {
        return Err(Refusal::TooLarge(index));
    }
    Ok(events
        .iter()
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect())
}

/// The events of a request: `json` holds one string, `jsons` an array of strings.
fn events<'a>(request: &'a Map<String, Value>, field: &str) -> Result<Vec<&'a str>, SimError> {
    let as_event = |value: &'a Value| {
        value
            .as_str()
            .ok_or_else(|| SimError::invalid(field, "events must be strings"))
    };
    match request.get(field) {
        Some(Value::String(event)) if field == "json" => Ok(vec![event]),
        Some(Value::Array(events)) if field == "jsons" => events.iter().map(as_event).collect(),
        _ => Err(SimError::invalid(field, "is required")),
    }
}
