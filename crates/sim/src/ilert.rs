//! ilert: the Sekoia.io-typed alert source endpoint (`/api/v1/events/sekoia/{key}`) and
//! the generic Events API (`/api/events`, `/api/v1/events`), with the alerts they open,
//! acknowledge and resolve, the per-key rate limit and ilert's error shape; and what on-call
//! does to those alerts in ilert ([`IlertService::on_call`]). Every real change of an
//! alert's state (opened, accepted, resolved — not an event that changes nothing) goes to
//! the webhooks registered for its alert source ([`crate::ilert_webhooks`]).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::faults::Route;
use crate::gateway::{error_response, guarded, json_object, optional_text, required_text};
use crate::recorder::Receiver;
use crate::state::{SimState, lock};
use crate::{SimError, SimUrls, clock};

/// One alert as the simulated ilert holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IlertAlertView {
    /// ilert's id of the alert, a number (what its webhook calls `id`).
    pub id: String,
    /// The Sekoia.io alert uuid (typed endpoint) or the `alertKey` (generic endpoint).
    pub alert_key: String,
    /// The last 4 characters of the integration key the alert came through.
    pub integration_key_suffix: String,
    /// `open`, `acknowledged` or `resolved`.
    pub status: String,
    pub summary: String,
    /// The statuses (typed endpoint) or event types (generic endpoint) received, in order,
    /// and what on-call did (`accepted by ada`, `resolved by ada`).
    pub events: Vec<String>,
    pub last_body: Value,
    /// Who accepted or resolved the alert in ilert, if anyone did.
    pub assigned_to: Option<OnCallUser>,
}

/// A person on call, as ilert's webhook names them in `assignedTo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OnCallUser {
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

impl Default for OnCallUser {
    /// The on-call engineer of the simulated ilert.
    fn default() -> Self {
        Self {
            username: "ada".to_owned(),
            email: "ada@example.com".to_owned(),
            first_name: "Ada".to_owned(),
            last_name: "Lovelace".to_owned(),
        }
    }
}

/// Where an ilert alert is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AlertState {
    Open,
    Acknowledged,
    Resolved,
}

impl AlertState {
    /// The word [`IlertAlertView::status`] uses.
    fn view_name(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
        }
    }

    /// ilert's own name, as its webhook sends it.
    pub(crate) fn ilert_name(self) -> &'static str {
        match self {
            Self::Open => "PENDING",
            Self::Acknowledged => "ACCEPTED",
            Self::Resolved => "RESOLVED",
        }
    }

    /// The webhook event type of entering this state.
    pub(crate) fn event_type(self) -> &'static str {
        match self {
            Self::Open => "alert-created",
            Self::Acknowledged => "alert-accepted",
            Self::Resolved => "alert-resolved",
        }
    }
}

/// One alert of the simulated ilert.
#[derive(Clone, Debug)]
pub(crate) struct IlertAlert {
    pub(crate) id: u64,
    pub(crate) alert_key: String,
    pub(crate) integration_key: String,
    pub(crate) state: AlertState,
    pub(crate) summary: String,
    pub(crate) details: String,
    /// When the alert was opened (RFC 3339).
    pub(crate) report_time: String,
    events: Vec<String>,
    last_body: Value,
    pub(crate) assigned_to: Option<OnCallUser>,
}

impl IlertAlert {
    pub(crate) fn view(&self) -> IlertAlertView {
        let suffix_start = self
            .integration_key
            .char_indices()
            .rev()
            .nth(3)
            .map_or(0, |(index, _)| index);
        IlertAlertView {
            id: self.id.to_string(),
            alert_key: self.alert_key.clone(),
            integration_key_suffix: self.integration_key[suffix_start..].to_owned(),
            status: self.state.view_name().to_owned(),
            summary: self.summary.clone(),
            events: self.events.clone(),
            last_body: self.last_body.clone(),
            assigned_to: self.assigned_to.clone(),
        }
    }
}

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
    details: String,
    body: Value,
}

/// ilert's ids start here, so that they look like ilert's.
const FIRST_ALERT_ID: u64 = 2_983_781;

#[derive(Default)]
pub(crate) struct IlertService {
    alerts: Vec<IlertAlert>,
    /// (integration key, lower-cased alert key) → the alert that is not resolved yet.
    unresolved: HashMap<(String, String), usize>,
    /// integration key → (minute window, events accepted in it).
    windows: HashMap<String, (u64, u32)>,
}

impl IlertService {
    pub(crate) fn alerts(&self) -> Vec<IlertAlertView> {
        self.alerts.iter().map(IlertAlert::view).collect()
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

    /// Applies an event; returns the alert it acted on and whether its state changed (a new
    /// alert is a change), or `None` when it acted on nothing.
    fn apply(&mut self, event: IlertEvent) -> Option<(&IlertAlert, bool)> {
        let index_key = (
            event.integration_key.clone(),
            event.alert_key.to_lowercase(),
        );
        let existing = self.unresolved.get(&index_key).copied();
        let created = existing.is_none() && event.effect == Effect::CreateOrAppend;
        let position = match existing {
            Some(position) => position,
            None if created => self.open_alert(&event, index_key),
            None => return None,
        };
        let alert = &mut self.alerts[position];
        alert.events.push(event.label);
        alert.last_body = event.body;
        let moved = match event.effect {
            Effect::Acknowledge => self.move_to(position, AlertState::Acknowledged, None),
            Effect::Resolve => self.move_to(position, AlertState::Resolved, None),
            Effect::CreateOrAppend | Effect::Comment => false,
        };
        Some((&self.alerts[position], created || moved))
    }

    fn open_alert(&mut self, event: &IlertEvent, index_key: (String, String)) -> usize {
        let position = self.alerts.len();
        self.alerts.push(IlertAlert {
            id: FIRST_ALERT_ID + position as u64,
            alert_key: event.alert_key.clone(),
            integration_key: event.integration_key.clone(),
            state: AlertState::Open,
            summary: event.summary.clone(),
            details: event.details.clone(),
            report_time: clock::iso_micros(clock::now_nanos()),
            events: Vec::new(),
            last_body: Value::Null,
            assigned_to: None,
        });
        self.unresolved.insert(index_key, position);
        position
    }

    /// Moves the alert at `position` to `state`, as `by` (on-call) or an event did; whether
    /// that changed anything. A resolved alert stays resolved; accepting an accepted alert
    /// changes nothing, as in ilert.
    fn move_to(&mut self, position: usize, state: AlertState, by: Option<&OnCallUser>) -> bool {
        let alert = &mut self.alerts[position];
        if alert.state == state || alert.state == AlertState::Resolved {
            return false;
        }
        alert.state = state;
        if let Some(user) = by {
            alert.assigned_to = Some(user.clone());
        }
        if state == AlertState::Resolved {
            let key = (
                alert.integration_key.clone(),
                alert.alert_key.to_lowercase(),
            );
            self.unresolved.remove(&key);
        }
        true
    }

    /// What on-call does in ilert: accepts or resolves the alert with this ilert id (or,
    /// failing that, the newest alert with this alert key). Returns the alert and whether
    /// its state changed.
    pub(crate) fn on_call(
        &mut self,
        alert: &str,
        action: OnCall,
        user: &OnCallUser,
    ) -> Result<(IlertAlert, bool), SimError> {
        let position = self
            .alerts
            .iter()
            .position(|a| a.id.to_string() == alert)
            .or_else(|| {
                self.alerts
                    .iter()
                    .rposition(|a| a.alert_key.eq_ignore_ascii_case(alert))
            })
            .ok_or_else(|| SimError::unknown("ilert alert", alert))?;
        let (state, verb) = match action {
            OnCall::Accept => (AlertState::Acknowledged, "accepted"),
            OnCall::Resolve => (AlertState::Resolved, "resolved"),
        };
        let changed = self.move_to(position, state, Some(user));
        if changed {
            self.alerts[position]
                .events
                .push(format!("{verb} by {}", user.username));
        }
        Ok((self.alerts[position].clone(), changed))
    }
}

/// What on-call does to an alert in ilert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnCall {
    Accept,
    Resolve,
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
    body: Bytes,
) -> Response {
    deliver(&sim, sekoia_typed(integration_key, &body))
}

async fn generic_event(State(sim): Sim, body: Bytes) -> Response {
    deliver(&sim, generic(&body))
}

/// A Sekoia.io alert whose `status` is a string: resolved/closed resolve, acknowledged
/// acknowledges, anything else creates or appends.
fn sekoia_typed(integration_key: String, body: &Bytes) -> Result<IlertEvent, SimError> {
    let alert = json_object(body)?;
    let alert_key = required_text(&alert, "uuid")?.to_owned();
    let status = optional_text(&alert, "status")?
        .unwrap_or(AlertState::Open.view_name())
        .to_lowercase();
    let effect = match status.as_str() {
        "resolved" | "closed" => Effect::Resolve,
        "acknowledged" => Effect::Acknowledge,
        _ => Effect::CreateOrAppend,
    };
    let summary = optional_text(&alert, "title")?
        .unwrap_or(&alert_key)
        .to_owned();
    let details = match optional_text(&alert, "short_id")? {
        Some(short_id) => format!("Sekoia.io alert {short_id}"),
        None => String::new(),
    };
    Ok(IlertEvent {
        integration_key,
        alert_key,
        effect,
        label: status,
        summary,
        details,
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
    let details = optional_text(&event, "details")?
        .unwrap_or_default()
        .to_owned();
    Ok(IlertEvent {
        integration_key,
        alert_key,
        effect,
        label: event_type,
        summary,
        details,
        body: Value::Object(event),
    })
}

/// Checks the key and the rate limit, then applies the event: 202 with the alert key and
/// the address of the alert it acted on (`alertUrl`, and `incidentUrl` as older answers
/// name it) — or ilert's error.
fn deliver(sim: &SimState, event: Result<IlertEvent, SimError>) -> Response {
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
    let mut answer = json!({"alertKey": alert_key});
    if let Some((alert, changed)) = ilert.apply(event) {
        let url = alert_url(&sim.urls, alert.id);
        // Newer answers name the alert, older ones the incident: both, as clients read either.
        answer["incidentUrl"] = Value::String(url.clone());
        answer["alertUrl"] = Value::String(url);
        if changed {
            sim.webhooks.changed(alert);
        }
    }
    drop(ilert);
    sim.timeline.ilert_accepted(&alert_key, label);
    (StatusCode::ACCEPTED, axum::Json(answer)).into_response()
}

/// Where an alert is shown in the simulated ilert: what ilert answers an event with.
fn alert_url(urls: &SimUrls, id: u64) -> String {
    let base = urls
        .ilert_events
        .strip_suffix("/api/events")
        .unwrap_or(&urls.ilert_events);
    format!("{base}/alert/view?id={id}")
}
