//! The HTTP side of the service: the REST API and health (see [`crate::api`]), the web
//! console (see [`crate::console`]), access control, and the webhooks of Manual Trigger
//! nodes.
//!
//! `POST /hooks/<playbook id>/<trigger node id>` with `Authorization: Bearer <the playbook's
//! webhook_token>` and `{"alert_uuid": "..."}` answers 202 once the event is stored in the
//! inbox (so an accepted call survives a crash right after), 400 for a bad body (an
//! `alert_uuid` that is not an alert UUID or short id included), 401 for a bad token, 404
//! for an unknown playbook or trigger — always with a JSON `{"error": ...}`.

use std::sync::Arc;

use alertsync_engine::RunExecutor;
use alertsync_integrations::args::{ALERT_ID_FORM, is_alert_id, shown_id};
use alertsync_store::{EventSource, Store};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::api;
use crate::api::auth::{Access, bearer_matches};
use crate::deploy::{Deployment, TriggerKind};
use crate::inbox::{Inbox, InboxPayload, IncomingEvent};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// Where webhook events go.
    pub inbox: Inbox,
    pub deployment: Arc<Deployment>,
    /// The Sekoia.io account webhook events read their alert with.
    pub sekoia_account: Option<String>,
    /// Told when an event was stored.
    pub wake: Arc<Notify>,
    /// Validates playbooks; knows the modules and the accounts.
    pub executor: Arc<RunExecutor>,
    /// The token API and console requests need, if any.
    pub access: Access,
    /// Where imported playbooks are saved.
    pub import_dir: std::path::PathBuf,
    /// What `/healthz` and the health metrics read.
    pub health: crate::health::HealthInputs,
    /// Cancelled when the service stops: long-lived answers (event streams) end then.
    pub stopping: alertsync_engine::Cancellation,
}

/// Every route: webhooks, `/healthz`, the API and the console, behind access control and
/// with security headers.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route("/hooks/{playbook_id}/{node_id}", post(webhook))
        .route("/metrics", get(crate::metrics::scrape))
        .with_state(state.clone())
        .merge(crate::console::router(state.clone()));
    api::wrap(routes, state)
}

/// An answer with a JSON `{"error": ...}` body.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": message.into()}))).into_response()
}

async fn webhook(
    State(state): State<AppState>,
    Path((playbook_id, node_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(playbook) = state.deployment.get(&playbook_id).filter(|p| p.enabled) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no enabled playbook `{playbook_id}`"),
        );
    };
    let is_manual = playbook
        .triggers
        .iter()
        .any(|t| t.node_id == node_id && t.kind == TriggerKind::Manual);
    if !is_manual {
        return error(
            StatusCode::NOT_FOUND,
            format!("playbook `{playbook_id}` has no Manual Trigger node `{node_id}`"),
        );
    }
    let expected = playbook.webhook_token.as_deref().unwrap_or_default();
    if expected.is_empty() || !bearer_matches(&headers, expected) {
        return error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong `Authorization: Bearer <webhook_token>`",
        );
    }
    let alert_uuid = match alert_uuid(&body) {
        Ok(alert_uuid) => alert_uuid,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    let event = IncomingEvent {
        source: EventSource::Webhook,
        account: state.sekoia_account.clone().unwrap_or_default(),
        dedup_key: format!("webhook/{}", uuid::Uuid::new_v4()),
        payload: InboxPayload::Webhook {
            playbook_id: playbook.id.clone(),
            trigger_node: node_id,
            alert_uuid,
        },
    };
    match state.inbox.accept(event).await {
        Ok(stored) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({"event_id": stored.id().0})),
        )
            .into_response(),
        Err(err) => {
            tracing::error!(
                "webhook for playbook {}: cannot store the event: {err}",
                playbook.id
            );
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the event could not be stored; retry later",
            )
        }
    }
}

/// The `alert_uuid` of a webhook body, or what is wrong with the body.
fn alert_uuid(body: &[u8]) -> Result<String, String> {
    let value: Value = serde_json::from_slice(body).map_err(|err| {
        format!("the body is not JSON: {err}; expected {{\"alert_uuid\": \"...\"}}")
    })?;
    match value
        .get("alert_uuid")
        .and_then(Value::as_str)
        .map(str::trim)
    {
        Some(id) if is_alert_id(id) => Ok(id.to_owned()),
        Some(id) if !id.is_empty() => Err(format!(
            "`alert_uuid` {} must be {ALERT_ID_FORM}",
            shown_id(id)
        )),
        _ => Err("the body needs a non-empty string `alert_uuid`".to_owned()),
    }
}
