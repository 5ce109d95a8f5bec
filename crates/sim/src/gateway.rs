//! The layer every receiver shares: it records each request, applies the pending fault of
//! the request's route, and answers errors in the style of the simulated service.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::faults::{Fault, Route};
use crate::recorder::{Receiver, RecordedRequest};
use crate::state::SimState;
use crate::{SimError, clock};

/// Requests above this size are refused (the intake accepts up to ~9 MiB).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Tells which fault route a request of a receiver belongs to.
pub(crate) type RouteOf = fn(&Method, &str) -> Route;

#[derive(Clone)]
struct Gate {
    sim: Arc<SimState>,
    receiver: Receiver,
    route_of: RouteOf,
}

/// Wraps a receiver's routes (fallback included) with recording and fault injection.
pub(crate) fn guarded(
    router: Router,
    sim: Arc<SimState>,
    receiver: Receiver,
    route_of: RouteOf,
) -> Router {
    let gate = Gate {
        sim,
        receiver,
        route_of,
    };
    router.layer(middleware::from_fn_with_state(gate, record_and_fault))
}

async fn record_and_fault(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    let received_at_ms = clock::now_millis();
    let (parts, body) = request.into_parts();
    let mut recorded = RecordedRequest {
        receiver: gate.receiver,
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: header_map(&parts.headers),
        body: Value::Null,
        received_at_ms,
        status: 0,
    };
    let response = match to_bytes(body, MAX_BODY_BYTES).await {
        Err(_) => error_response(
            gate.receiver,
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large",
        ),
        Ok(bytes) => {
            recorded.body = body_value(&bytes);
            let route = (gate.route_of)(&parts.method, parts.uri.path());
            let fault = gate.sim.faults.take(route);
            let faulted = match fault {
                Some(fault) => apply_fault(gate.receiver, fault).await,
                None => None,
            };
            match faulted {
                Some(response) => response,
                None => {
                    next.run(Request::from_parts(parts, Body::from(bytes)))
                        .await
                }
            }
        }
    };
    recorded.status = response.status().as_u16();
    gate.sim.recorder.record(recorded);
    response
}

/// Waits the fault's latency; returns the answer that replaces the normal one, if any.
async fn apply_fault(receiver: Receiver, fault: Fault) -> Option<Response> {
    if let Some(latency) = fault.latency_ms {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let status = StatusCode::from_u16(fault.status?).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match fault.body {
        Some(body) => (status, axum::Json(body)).into_response(),
        None => error_response(receiver, status, "fault injected by the simulator"),
    };
    if let Some(seconds) = fault.retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    Some(response)
}

fn header_map(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut map = BTreeMap::<String, String>::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        map.entry(name.as_str().to_owned())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    map
}

fn body_value(bytes: &Bytes) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// An error answer shaped like the simulated service's own errors.
pub(crate) fn error_response(receiver: Receiver, status: StatusCode, message: &str) -> Response {
    let code = status.as_u16();
    let body = match receiver {
        Receiver::Sekoia => json!({"code": code, "message": message}),
        Receiver::Intake => json!({"message": message}),
        Receiver::Ilert => json!({
            "status": code,
            "message": message,
            "code": status.canonical_reason().unwrap_or("ERROR").to_ascii_uppercase().replace(' ', "_"),
        }),
        Receiver::PagerDuty => {
            json!({"status": "invalid event", "message": message, "errors": [message]})
        }
        Receiver::Mattermost => {
            json!({"id": "web.incoming_webhook.error", "message": message, "status_code": code})
        }
        Receiver::Sink => json!({"error": message}),
    };
    (status, axum::Json(body)).into_response()
}

/// The answer to a simulator operation: the value, or the error with its natural status.
pub(crate) fn answer(receiver: Receiver, result: Result<Value, SimError>) -> Response {
    match result {
        Ok(value) => axum::Json(value).into_response(),
        Err(error) => error_response(receiver, error_status(&error), &error.to_string()),
    }
}

fn error_status(error: &SimError) -> StatusCode {
    match error {
        SimError::UnknownAlert(_)
        | SimError::UnknownComment(_)
        | SimError::UnknownSearchJob(_)
        | SimError::Unknown { .. } => StatusCode::NOT_FOUND,
        SimError::UnknownStatus(_) | SimError::Invalid { .. } => StatusCode::BAD_REQUEST,
        SimError::Bind { .. } | SimError::PortRange(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The request body as a JSON object.
pub(crate) fn json_object(bytes: &Bytes) -> Result<Map<String, Value>, SimError> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(SimError::invalid("body", "expected a JSON object")),
        Err(error) => Err(SimError::invalid("body", format!("not JSON: {error}"))),
    }
}

/// An optional string field of a JSON object; present but not a string is an error.
pub(crate) fn optional_text<'a>(
    object: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, SimError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(SimError::invalid(field, "expected a string")),
    }
}

/// A required, non-blank string field of a JSON object.
pub(crate) fn required_text<'a>(
    object: &'a Map<String, Value>,
    field: &str,
) -> Result<&'a str, SimError> {
    optional_text(object, field)?
        .filter(|text| !text.trim().is_empty())
        .ok_or_else(|| SimError::invalid(field, "is required"))
}
