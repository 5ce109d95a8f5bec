//! The webhooks of playbooks: `POST /hooks/<playbook id>/<trigger node id>`, one per webhook
//! trigger node — Manual Trigger (`{"alert_uuid": "..."}`) and Alert Changed in ilert (the
//! body of ilert's webhook alert action, see [`alertsync_integrations::ilert::alert_changed`]).
//!
//! The caller proves it knows the playbook's `webhook_token`: `Authorization: Bearer
//! <token>`, or HTTP Basic credentials with the token as password, whatever the user name
//! (ilert sends the credentials of its webhook URL so). The answer is 202 with the event's
//! id once the event is stored in the inbox (so an accepted call survives a crash right
//! after), 400 for a body the trigger cannot read (naming what is wrong), 401 for a missing
//! or wrong token, 404 for an unknown playbook or trigger node, 413 for a body over 2 MB
//! (the framework's limit), 503 when the store cannot take the event — always with the
//! service's JSON error `{"error": <code>, "detail": <what is wrong>}`, never with the token.
//!
//! An ilert change is stored with the Sekoia.io alert it belongs to, when one is found: the
//! alert the body names, else the one alertsync forwarded as that ilert alert (the links
//! recorded when ilert's answers named its alerts); without one, its run fails saying what
//! was tried. A change of an ilert alert to a status is one event: the same webhook
//! delivered again is answered with the event already stored.

use alertsync_integrations::args::{ALERT_ID_FORM, is_alert_id, shown_id};
use alertsync_integrations::ilert::alert_changed::{self, LINK_SYSTEM};
use alertsync_store::EventSource;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::api::auth::webhook_token_matches;
use crate::api::error::ApiError;
use crate::deploy::{DeployedPlaybook, TriggerKind, Webhook};
use crate::http::AppState;
use alertsync_integrations::source::{InboxPayload, InboxWriter, IncomingEvent, keys};

/// `POST /hooks/<playbook id>/<trigger node id>`.
pub(crate) async fn webhook(
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
    let Some(webhook) = webhook_of(playbook, &node_id) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("playbook `{playbook_id}` has no webhook trigger node `{node_id}`"),
        );
    };
    let expected = playbook.webhook_token.as_deref().unwrap_or_default();
    if expected.is_empty() || !webhook_token_matches(&headers, expected) {
        return error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong webhook token: give the playbook's webhook_token as \
             `Authorization: Bearer <webhook_token>` or as the password of HTTP Basic \
             credentials",
        );
    }
    let target = Target {
        state: &state,
        playbook_id: &playbook.id,
        node_id,
    };
    let event = match webhook {
        Webhook::Manual => target.manual(&body),
        Webhook::IlertAlertChanged => target.ilert_alert_changed(&body).await,
    };
    match event {
        Ok(event) => store(&state, &playbook.id, event).await,
        Err(Refused::Body(why)) => error(StatusCode::BAD_REQUEST, why),
        Err(Refused::StoreFailing) => unavailable(),
    }
}

/// Why a call is not taken, once authenticated.
enum Refused {
    /// The trigger cannot read the body: what is wrong with it.
    Body(String),
    /// The store cannot be read.
    StoreFailing,
}

/// The webhook trigger node `node_id` of `playbook` is, if it is one.
fn webhook_of(playbook: &DeployedPlaybook, node_id: &str) -> Option<Webhook> {
    playbook
        .triggers
        .iter()
        .find_map(|trigger| match trigger.kind {
            TriggerKind::Webhook(webhook) if trigger.node_id == node_id => Some(webhook),
            _ => None,
        })
}

/// The trigger node a call is for.
struct Target<'a> {
    state: &'a AppState,
    playbook_id: &'a str,
    node_id: String,
}

impl Target<'_> {
    /// A Manual Trigger call: `{"alert_uuid": "..."}`. Every call is an event of its own.
    fn manual(self, body: &[u8]) -> Result<IncomingEvent, Refused> {
        let alert_uuid = alert_uuid(body).map_err(|why| Refused::Body(why.to_string()))?;
        Ok(self.event(
            keys::manual_call(),
            InboxPayload::Webhook {
                playbook_id: self.playbook_id.to_owned(),
                trigger_node: self.node_id.clone(),
                alert_uuid,
            },
        ))
    }

    /// An ilert webhook: the change, with the Sekoia.io alert it belongs to if one is found.
    async fn ilert_alert_changed(self, body: &[u8]) -> Result<IncomingEvent, Refused> {
        let webhook = alert_changed::parse(body).map_err(|why| Refused::Body(why.to_string()))?;
        let change = webhook.change;
        let alert_uuid = match webhook.named_alert {
            Some(alert) => Some(alert),
            None => self
                .state
                .store
                .linked_alert(LINK_SYSTEM, &change.ilert_alert_id)
                .await
                .map_err(|err| {
                    tracing::error!(
                        "webhook for playbook {}: cannot read the alert links: {err}",
                        self.playbook_id
                    );
                    Refused::StoreFailing
                })?,
        };
        let dedup_key = keys::ilert_change(
            self.playbook_id,
            &self.node_id,
            &change.ilert_alert_id,
            change.status.ilert_name(),
        );
        Ok(self.event(
            dedup_key,
            InboxPayload::IlertAlertChanged {
                playbook_id: self.playbook_id.to_owned(),
                trigger_node: self.node_id.clone(),
                change: Box::new(change),
                alert_uuid,
            },
        ))
    }

    fn event(&self, dedup_key: String, payload: InboxPayload) -> IncomingEvent {
        IncomingEvent {
            source: EventSource::Webhook,
            account: self.state.sekoia_account.clone().unwrap_or_default(),
            dedup_key,
            payload,
        }
    }
}

/// Stores the event: 202 with its id once it is committed.
async fn store(state: &AppState, playbook_id: &str, event: IncomingEvent) -> Response {
    match state.inbox.accept(event).await {
        Ok(stored) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({"event_id": stored.id().0})),
        )
            .into_response(),
        Err(err) => {
            tracing::error!("webhook for playbook {playbook_id}: cannot store the event: {err}");
            unavailable()
        }
    }
}

/// What is wrong with a Manual Trigger body.
#[derive(Debug, thiserror::Error)]
enum ManualBodyError {
    #[error("the body is not JSON: {0}; expected {{\"alert_uuid\": \"...\"}}")]
    NotJson(#[source] serde_json::Error),
    #[error("`alert_uuid` {shown} must be {form}", form = ALERT_ID_FORM)]
    NotAnAlertId { shown: String },
    #[error("the body needs a non-empty string `alert_uuid`")]
    NoAlertId,
}

/// The `alert_uuid` of a Manual Trigger body, or what is wrong with the body.
fn alert_uuid(body: &[u8]) -> Result<String, ManualBodyError> {
    let value: Value = serde_json::from_slice(body).map_err(ManualBodyError::NotJson)?;
    match value
        .get("alert_uuid")
        .and_then(Value::as_str)
        .map(str::trim)
    {
        Some(id) if is_alert_id(id) => Ok(id.to_owned()),
        Some(id) if !id.is_empty() => Err(ManualBodyError::NotAnAlertId {
            shown: shown_id(id),
        }),
        _ => Err(ManualBodyError::NoAlertId),
    }
}

/// An error answer, shaped as every HTTP error of the service is (see [`ApiError`]).
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    ApiError::new(status, ApiError::code_of(status), message.into()).into_response()
}

fn unavailable() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the event could not be stored; retry later",
    )
}
