//! ilert: the Sekoia.io-typed alert source endpoint (`/api/v1/events/sekoia/{key}`) and
//! the generic Events API (`/api/events`, `/api/v1/events`), with the alert list they
//! build, the per-key rate limit and ilert's error shape.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::faults::Route;
use crate::gateway::{error_response, guarded, json_object, optional_text, required_text};
use crate::recorder::Receiver;
use crate::state::{SimState, lock};
use crate::{SimError, clock};

/// One alert as the simulated ilert holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IlertAlertView {
    /// The Sekoia.io alert uuid (typed endpoint) or the `alertKey` (generic endpoint).
    pub alert_key: String,
    /// The last 4 characters of the integration key the alert came through.
    pub integration_key_suffix: String,
    /// `open`, `acknowledged` or `resolved`.
    pub status: String,
    pub summary: String,
    /// The statuses (typed endpoint) or event types (generic endpoint) received, in order.
    pub events: Vec<String>,
    pub last_body: Value,
}

const OPEN: &str = "open";
const ACKNOWLEDGED: &str = "acknowledged";
const RESOLVED: &str = "resolved";

/// What an event does to the alert with its key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Effect {
    CreateOrAppend,
    Acknowledge,
    Resolve,
    Comment,
}

/// An event, whichever endpoint it came through.
struct IlertEvent {
    integration_key: String,
    alert_key: String,
    effect: Effect,
    label: String,
    summary: String,
    body: Value,
}

#[derive(Default)]
pub(crate) struct IlertService {
    alerts: Vec<IlertAlertView>,
    /// (integration key, lower-cased alert key) → the alert that is not resolved yet.
    unresolved: HashMap<(String, String), usize>,
    /// integration key → (minute window, events accepted in it).
    windows: HashMap<String, (u64, u32)>,
}

impl IlertService {
    pub(crate) fn alerts(&self) -> Vec<IlertAlertView> {
        self.alerts.clone()
    }

    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }

    /// Counts an event against its key's window; the seconds to wait when over `limit`.
    fn throttle(&mut self, integration_key: &str, limit: Option<u32>) -> Option<u64> {
        let limit = limit?;
        let now = clock::now_millis() / 1_000;
        let window = now / 60;
        let (current, accepted) = self
            .windows
            .entry(integration_key.to_owned())
            .or_insert((window, 0));
        if *current != window {
            *current = window;
            *accepted = 0;
        }
        if *accepted >= limit {
            return Some(60 - now % 60);
        }
        *accepted += 1;
        None
    }

    /// Applies the event to the alert with its key; returns that alert's number (from 1),
    /// `None` when the event acts on no alert (an acknowledgement or resolution of none).
    fn apply(&mut self, event: IlertEvent) -> Option<usize> {
        let index_key = (
            event.integration_key.clone(),
            event.alert_key.to_lowercase(),
        );
        let existing = self.unresolved.get(&index_key).copied();
        let position = existing.or_else(|| {
            (event.effect == Effect::CreateOrAppend)
                .then(|| self.open_alert(&event, index_key.clone()))
        })?;
        let alert = &mut self.alerts[position];
        alert.events.push(event.label);
        alert.last_body = event.body;
        match event.effect {
            Effect::Acknowledge => alert.status = ACKNOWLEDGED.to_owned(),
            Effect::Resolve => {
                alert.status = RESOLVED.to_owned();
                self.unresolved.remove(&index_key);
            }
            Effect::CreateOrAppend | Effect::Comment => {}
        }
        Some(position + 1)
    }

    fn open_alert(&mut self, event: &IlertEvent, index_key: (String, String)) -> usize {
        let suffix_start = event
            .integration_key
            .char_indices()
            .rev()
            .nth(3)
            .map_or(0, |(index, _)| index);
        self.alerts.push(IlertAlertView {
            alert_key: event.alert_key.clone(),
            integration_key_suffix: event.integration_key[suffix_start..].to_owned(),
            status: OPEN.to_owned(),
            summary: event.summary.clone(),
            events: Vec::new(),
            last_body: Value::Null,
        });
        let position = self.alerts.len() - 1;
        self.unresolved.insert(index_key, position);
        position
    }
}

type Sim = State<Arc<SimState>>;

pub(crate) fn router(sim: Arc<SimState>) -> Router {
    let routes = Router::new()
        .route(
            "/api/v1/events/sekoia/{integration_key}",
            post(sekoia_event),
        )
        .route("/api/events", post(generic_event))
        .route("/api/v1/events", post(generic_event))
        .with_state(sim.clone());
    guarded(routes, sim, Receiver::Ilert, route_of)
        .layer(axum::middleware::map_response(with_correlation_id))
}

fn route_of(_: &Method, _: &str) -> Route {
    Route::Ilert
}

async fn with_correlation_id(mut response: Response) -> Response {
    if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        response.headers_mut().insert("correlation-id", id);
    }
    response
}

async fn sekoia_event(
    State(sim): Sim,
    Path(integration_key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    deliver(&sim, &headers, sekoia_typed(integration_key, &body))
}

async fn generic_event(State(sim): Sim, headers: HeaderMap, body: Bytes) -> Response {
    deliver(&sim, &headers, generic(&body))
}

/// A Sekoia.io alert whose `status` is a string: resolved/closed resolve, acknowledged
/// acknowledges, anything else creates or appends.
fn sekoia_typed(integration_key: String, body: &Bytes) -> Result<IlertEvent, SimError> {
    let alert = json_object(body)?;
    let alert_key = required_text(&alert, "uuid")?.to_owned();
    let status = optional_text(&alert, "status")?
        .unwrap_or(OPEN)
        .to_lowercase();
    let effect = match status.as_str() {
        "resolved" | "closed" => Effect::Resolve,
        "acknowledged" => Effect::Acknowledge,
        _ => Effect::CreateOrAppend,
    };
    let summary = optional_text(&alert, "title")?
        .unwrap_or(&alert_key)
        .to_owned();
    Ok(IlertEvent {
        integration_key,
        alert_key,
        effect,
        label: status,
        summary,
        body: Value::Object(alert),
    })
}

/// A generic event: `integrationKey` (or `apiKey`), `eventType`, `summary`, `alertKey`.
fn generic(body: &Bytes) -> Result<IlertEvent, SimError> {
    let event = json_object(body)?;
    let integration_key = match optional_text(&event, "integrationKey")? {
        Some(key) => key,
        None => required_text(&event, "apiKey")
            .map_err(|_| SimError::invalid("integrationKey", "is required"))?,
    }
    .to_owned();
    let event_type = required_text(&event, "eventType")?.to_ascii_uppercase();
    let effect = match event_type.as_str() {
        "ALERT" => Effect::CreateOrAppend,
        "ACCEPT" => Effect::Acknowledge,
        "RESOLVE" => Effect::Resolve,
        "COMMENT" => Effect::Comment,
        _ => {
            return Err(SimError::invalid(
                "eventType",
                "expected ALERT, ACCEPT, RESOLVE or COMMENT",
            ));
        }
    };
    let summary = required_text(&event, "summary")?.to_owned();
    let alert_key = match optional_text(&event, "alertKey")? {
        Some(key) => key.to_owned(),
        None if effect == Effect::CreateOrAppend => uuid::Uuid::new_v4().to_string(),
        None => {
            return Err(SimError::invalid(
                "alertKey",
                "is required for ACCEPT, RESOLVE and COMMENT",
            ));
        }
    };
    Ok(IlertEvent {
        integration_key,
        alert_key,
        effect,
        label: event_type,
        summary,
        body: Value::Object(event),
    })
}

/// Checks the key and the rate limit, then applies the event: 202 with the alert key and,
/// as ilert's event answer does (`incidentUrl`), the address of the alert it acted on — or
/// ilert's error.
fn deliver(sim: &SimState, headers: &HeaderMap, event: Result<IlertEvent, SimError>) -> Response {
    let event = match event {
        Ok(event) => event,
        Err(error) => {
            return error_response(Receiver::Ilert, StatusCode::BAD_REQUEST, &error.to_string());
        }
    };
    if !sim
        .config
        .ilert_integration_keys
        .contains(&event.integration_key)
    {
        return error_response(
            Receiver::Ilert,
            StatusCode::NOT_FOUND,
            "no alert source with this integration key",
        );
    }
    let mut ilert = lock(&sim.ilert);
    if let Some(wait) = ilert.throttle(
        &event.integration_key,
        sim.config.ilert_rate_limit_per_minute,
    ) {
        let mut response = error_response(
            Receiver::Ilert,
            StatusCode::TOO_MANY_REQUESTS,
            "rate limit of the integration key exceeded",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return response;
    }
    let alert_key = event.alert_key.clone();
    let label = event.label.clone();
    let number = ilert.apply(event);
    drop(ilert);
    sim.timeline.ilert_accepted(&alert_key, label);
    let mut answer = json!({"alertKey": alert_key});
    if let (Some(number), Some(host)) = (number, headers.get(header::HOST)) {
        let host = String::from_utf8_lossy(host.as_bytes());
        answer["incidentUrl"] = json!(format!("http://{host}/incident/{number}"));
    }
    (StatusCode::ACCEPTED, axum::Json(answer)).into_response()
}
