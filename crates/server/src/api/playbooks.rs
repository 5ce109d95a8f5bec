//! `/api/v1/playbooks`: the deployed playbooks with their state, enabling and disabling
//! them, validating and importing SPL files, and exporting them.
//!
//! Enabled/disabled is the playbook health the store keeps (the one the scheduler obeys):
//! disabling records it there, and the playbook's runs are held, in order, until enabling
//! clears it. A playbook disabled in the configuration file stays so until the file says
//! otherwise.
//!
//! Imported playbooks are validated against the implemented modules and the configured
//! accounts, then saved as `<id>.json` in the `imported-playbooks` directory next to the
//! store. The deployment is fixed at start: an imported playbook runs once the
//! configuration names it in a `[[playbook]]` entry and the service restarts.

use std::collections::BTreeMap;
use std::sync::Arc;

use alertsync_spl::{Report, parse_playbook};
use alertsync_store::PlaybookHealth;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, ErrorBody};
use crate::deploy::{DeployedPlaybook, TriggerKind, Webhook};
use crate::http::AppState;

/// The reason recorded for a playbook disabled through the API.
pub(crate) const DISABLED_BY_API: &str = "disabled through the API";

/// A playbook and its state.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlaybookView {
    pub id: String,
    pub name: String,
    /// The playbook file.
    pub file: String,
    /// `enabled`, `disabled` (through the API or after errors, see `disabled_reason`) or
    /// `disabled_in_configuration`.
    pub state: String,
    /// Whether the configuration enables it.
    pub configured: bool,
    pub disabled_reason: Option<String>,
    pub disabled_at_ms: Option<u64>,
    /// Runs in a row that failed for technical reasons.
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub triggers: Vec<TriggerView>,
}

/// A trigger node of a playbook.
#[derive(Debug, Serialize, ToSchema)]
pub struct TriggerView {
    pub node_id: String,
    /// `alert` or `case` (Sekoia.io notifications), `manual` or `ilert_alert_changed`
    /// (webhooks), `cron`, or `feed` (an intelligence feed read page by page).
    pub kind: String,
    /// For webhook triggers: the webhook path.
    pub webhook: Option<String>,
}

/// A playbook with its document.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlaybookDetail {
    #[serde(flatten)]
    pub summary: PlaybookView,
    /// The SPL document.
    #[schema(value_type = Object)]
    pub playbook: Value,
}

/// What validation found.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidationView {
    pub valid: bool,
    /// `errors`, `warnings` and `needs_modules`, each problem located in the file.
    #[schema(value_type = Object)]
    pub report: Value,
}

/// Where an imported playbook was saved.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportView {
    pub id: String,
    pub name: String,
    pub file: String,
    #[schema(value_type = Object)]
    pub report: Value,
    pub note: String,
}

/// A playbook and its state, from its recorded health.
pub(crate) fn view(playbook: &DeployedPlaybook, health: &PlaybookHealth) -> PlaybookView {
    let state = match (&health.disabled, playbook.enabled) {
        (_, false) => "disabled_in_configuration",
        (Some(_), true) => "disabled",
        (None, true) => "enabled",
    };
    PlaybookView {
        id: playbook.id.clone(),
        name: playbook.name.clone(),
        file: playbook.file.display().to_string(),
        state: state.to_owned(),
        configured: playbook.enabled,
        disabled_reason: health.disabled.as_ref().map(|d| d.reason.clone()),
        disabled_at_ms: health.disabled.as_ref().map(|d| d.at_ms),
        consecutive_failures: health.consecutive_failures,
        last_error: health.last_error.clone(),
        triggers: playbook
            .triggers
            .iter()
            .map(|t| TriggerView {
                node_id: t.node_id.clone(),
                kind: match t.kind {
                    TriggerKind::Alert(_) => "alert",
                    TriggerKind::Webhook(Webhook::Manual) => "manual",
                    TriggerKind::Webhook(Webhook::IlertAlertChanged) => "ilert_alert_changed",
                    TriggerKind::Cron => "cron",
                    TriggerKind::Case(_) => "case",
                    TriggerKind::Feed(_) => "feed",
                }
                .to_owned(),
                webhook: matches!(t.kind, TriggerKind::Webhook(_))
                    .then(|| format!("/hooks/{}/{}", playbook.id, t.node_id)),
            })
            .collect(),
    }
}

/// The deployed playbook with this id.
pub(crate) fn find(state: &AppState, id: &str) -> ApiResult<Arc<DeployedPlaybook>> {
    state
        .deployment
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no playbook `{id}`")))
}

/// The recorded health of the playbook with this id.
pub(crate) async fn health(state: &AppState, id: &str) -> ApiResult<PlaybookHealth> {
    state
        .store
        .playbook_health(id)
        .await
        .map_err(|err| ApiError::unavailable("reading the playbook health", err))
}

/// Lists the deployed playbooks with their state.
#[utoipa::path(get, path = "/api/v1/playbooks", tag = "playbooks",
    responses((status = 200, body = Vec<PlaybookView>)))]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Vec<PlaybookView>>> {
    Ok(Json(views(&state).await?))
}

/// Every deployed playbook with its state, in configuration order: what the API's listing
/// and the console's playbook table show.
pub(crate) async fn views(state: &AppState) -> ApiResult<Vec<PlaybookView>> {
    let all = state
        .store
        .all_playbook_health()
        .await
        .map_err(|err| ApiError::unavailable("reading the playbook health", err))?;
    Ok(state
        .deployment
        .playbooks
        .iter()
        .map(|p| {
            let health = all
                .iter()
                .find(|h| h.playbook_id == p.id)
                .cloned()
                .unwrap_or_else(|| PlaybookHealth::healthy(&p.id));
            view(p, &health)
        })
        .collect())
}

/// One playbook with its state and document.
#[utoipa::path(get, path = "/api/v1/playbooks/{id}", tag = "playbooks",
    params(("id" = String, Path, description = "playbook id")),
    responses((status = 200, body = PlaybookDetail), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<PlaybookDetail>> {
    let playbook = find(&state, &id)?;
    let health = health(&state, &id).await?;
    Ok(Json(PlaybookDetail {
        summary: view(&playbook, &health),
        playbook: Value::Object(playbook.playbook.document().clone()),
    }))
}

/// Enables a playbook again (after errors or a disable) and forgets its failures.
#[utoipa::path(post, path = "/api/v1/playbooks/{id}/enable", tag = "playbooks",
    params(("id" = String, Path, description = "playbook id")),
    responses((status = 200, body = PlaybookView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn enable(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<PlaybookView>> {
    let playbook = find(&state, &id)?;
    if !playbook.enabled {
        return Err(ApiError::conflict(format!(
            "playbook `{id}` is disabled in the configuration file; set `enabled = true` in its \
             [[playbook]] entry and restart"
        )));
    }
    let health = state
        .store
        .enable_playbook(&id)
        .await
        .map_err(|err| ApiError::unavailable("enabling the playbook", err))?;
    // Its held runs may start now.
    state.wake.notify_one();
    Ok(Json(view(&playbook, &health)))
}

/// Disables a playbook: its runs are held (queued, not dropped) until it is enabled again.
#[utoipa::path(post, path = "/api/v1/playbooks/{id}/disable", tag = "playbooks",
    params(("id" = String, Path, description = "playbook id")),
    responses((status = 200, body = PlaybookView), (status = 404, body = ErrorBody)))]
pub async fn disable(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<PlaybookView>> {
    let playbook = find(&state, &id)?;
    let health = state
        .store
        .disable_playbook(&id, DISABLED_BY_API)
        .await
        .map_err(|err| ApiError::unavailable("disabling the playbook", err))?;
    Ok(Json(view(&playbook, &health)))
}

/// Validates the SPL body against the implemented modules and the configured accounts.
fn validate_source(state: &AppState, source: &str) -> (Option<alertsync_spl::Playbook>, Report) {
    match parse_playbook(source, "request body") {
        Ok(playbook) => {
            let report = state.executor.validate(&playbook, &BTreeMap::new());
            (Some(playbook), report)
        }
        Err(err) => {
            let mut report = Report::default();
            report.errors.push(alertsync_spl::Problem {
                node_id: None,
                node_name: None,
                path: "$".to_owned(),
                message: err.to_string(),
            });
            (None, report)
        }
    }
}

fn report_json(report: &Report) -> Value {
    serde_json::to_value(report).unwrap_or_else(|err| json!({"errors": [err.to_string()]}))
}

/// Validates an SPL file (the request body) and answers the report.
#[utoipa::path(post, path = "/api/v1/playbooks/validate", tag = "playbooks",
    request_body(content = Object, content_type = "application/json", description = "an SPL playbook"),
    responses((status = 200, body = ValidationView)))]
pub async fn validate(State(state): State<AppState>, body: String) -> Json<ValidationView> {
    let (_, report) = validate_source(&state, &body);
    Json(ValidationView {
        valid: report.is_valid(),
        report: report_json(&report),
    })
}

/// Imports an SPL file (the request body): 400 with the validation report when invalid,
/// else saved next to the store as `imported-playbooks/<id>.json`.
#[utoipa::path(post, path = "/api/v1/playbooks/import", tag = "playbooks",
    request_body(content = Object, content_type = "application/json", description = "an SPL playbook"),
    responses((status = 201, body = ImportView), (status = 400, body = ErrorBody)))]
pub async fn import(State(state): State<AppState>, body: String) -> ApiResult<Response> {
    let (playbook, report) = validate_source(&state, &body);
    let playbook = match playbook {
        Some(playbook) if report.is_valid() => playbook,
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_playbook",
                report_json(&report),
            ));
        }
    };
    let Some(id) = playbook.uuid().filter(|id| is_safe_file_stem(id)) else {
        return Err(ApiError::bad_request(
            "the playbook needs a `uuid` made of letters, digits, `-` and `_` to be imported",
        ));
    };
    let file = state.import_dir.join(format!("{id}.json"));
    let write = async {
        tokio::fs::create_dir_all(&state.import_dir).await?;
        tokio::fs::write(&file, playbook.to_json_string_pretty()).await
    };
    write
        .await
        .map_err(|err| ApiError::unavailable("saving the playbook", err))?;
    let answer = ImportView {
        id: id.to_owned(),
        name: playbook.name().to_owned(),
        file: file.display().to_string(),
        report: report_json(&report),
        note: "saved; it runs once a [[playbook]] entry of the configuration names this file \
               and the service restarts"
            .to_owned(),
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

fn is_safe_file_stem(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The playbook as an SPL file.
#[utoipa::path(get, path = "/api/v1/playbooks/{id}/export", tag = "playbooks",
    params(("id" = String, Path, description = "playbook id")),
    responses((status = 200, content_type = "application/json", body = Object, description = "the SPL file"),
        (status = 404, body = ErrorBody)))]
pub async fn export(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let playbook = find(&state, &id)?;
    let disposition = format!("attachment; filename=\"{}.json\"", playbook.id);
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        playbook.playbook.to_json_string_pretty(),
    )
        .into_response())
}
