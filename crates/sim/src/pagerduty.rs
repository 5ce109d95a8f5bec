//! PagerDuty Events API v2: `POST /v2/enqueue`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use crate::SimError;
use crate::faults::Route;
use crate::gateway::{error_response, guarded, json_object, optional_text, required_text};
use crate::recorder::Receiver;
use crate::state::SimState;

const SEVERITIES: [&str; 4] = ["critical", "error", "warning", "info"];

pub(crate) fn router(sim: Arc<SimState>) -> Router {
    let routes = Router::new().route("/v2/enqueue", post(enqueue));
    guarded(routes, sim, Receiver::PagerDuty, route_of)
}

fn route_of(_: &Method, _: &str) -> Route {
    Route::PagerDuty
}

async fn enqueue(body: Bytes) -> Response {
    match validate(&body) {
        Ok(dedup_key) => (
            StatusCode::ACCEPTED,
            Json(
                json!({"status": "success", "message": "Event processed", "dedup_key": dedup_key}),
            ),
        )
            .into_response(),
        Err(error) => error_response(
            Receiver::PagerDuty,
            StatusCode::BAD_REQUEST,
            &error.to_string(),
        ),
    }
}

/// Checks an event and returns its dedup key (generated for a trigger without one).
fn validate(body: &Bytes) -> Result<String, SimError> {
    let event = json_object(body)?;
    required_text(&event, "routing_key")?;
    let dedup_key = optional_text(&event, "dedup_key")?;
    match required_text(&event, "event_action")? {
        "trigger" => validate_payload(&event)?,
        "acknowledge" | "resolve" if dedup_key.is_none() => {
            return Err(SimError::invalid(
                "dedup_key",
                "is required to acknowledge or resolve",
            ));
        }
        "acknowledge" | "resolve" => {}
        _ => {
            return Err(SimError::invalid(
                "event_action",
                "expected trigger, acknowledge or resolve",
            ));
        }
    }
    Ok(dedup_key.map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned))
}

fn validate_payload(event: &Map<String, Value>) -> Result<(), SimError> {
    let payload = event
        .get("payload")
        .and_then(Value::as_object)
        .ok_or_else(|| SimError::invalid("payload", "is required for trigger"))?;
    let field = |name: &str| {
        required_text(payload, name)
            .map_err(|_| SimError::invalid(&format!("payload.{name}"), "is required"))
    };
    field("summary")?;
    field("source")?;
    if !SEVERITIES.contains(&field("severity")?) {
        return Err(SimError::invalid(
            "payload.severity",
            "expected critical, error, warning or info",
        ));
    }
    Ok(())
}
