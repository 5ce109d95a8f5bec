//! `/healthz`: whether the service is up, its live connections, inbox depth and the time
//! of the last event that started a run. Needs no token.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::AppState;

/// The service's health.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` when the store cannot be read.
    pub status: String,
    /// The Sekoia.io accounts whose live notifications the service follows.
    pub live_accounts: Vec<String>,
    /// Inbox events waiting (`pending`) and being processed (`claimed`).
    pub inbox_pending: Option<u64>,
    pub inbox_claimed: Option<u64>,
    /// When the event of the newest run arrived (ms since the epoch).
    pub last_event_at_ms: Option<u64>,
}

/// The service's health.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> Json<Health> {
    let counts = state.store.inbox_counts().await;
    let last_event = last_event_at(&state).await;
    let status = if counts.is_ok() && last_event.is_ok() {
        "ok"
    } else {
        "degraded"
    };
    let counts = counts.ok();
    Json(Health {
        status: status.to_owned(),
        live_accounts: state.live_accounts.to_vec(),
        inbox_pending: counts.map(|c| c.pending),
        inbox_claimed: counts.map(|c| c.claimed),
        last_event_at_ms: last_event.ok().flatten(),
    })
}

async fn last_event_at(state: &AppState) -> Result<Option<u64>, alertsync_store::StoreError> {
    let page = state
        .store
        .list_runs(alertsync_store::RunQuery {
            limit: 1,
            ..Default::default()
        })
        .await?;
    let Some(run) = page.runs.first() else {
        return Ok(None);
    };
    Ok(state
        .store
        .event(run.inbox_id)
        .await?
        .map(|event| event.received_at_ms))
}
