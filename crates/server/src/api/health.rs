//! `/healthz`: 200 while the service is doing its job, 503 otherwise, with the reasons
//! (see [`crate::health`]), the live connections, the run queue and the store. Needs no
//! token.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::health::{Health, HealthStatus, assess};
use crate::http::AppState;

/// The service's health: 200 when it is doing its job, 503 with `problems` otherwise.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()),
    responses((status = 200, body = Health, description = "doing its job"),
        (status = 503, body = Health, description = "not doing its job: see `problems`")))]
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let health = assess(&state.health).await;
    crate::metrics::record_health(&health);
    let status = match health.status {
        HealthStatus::Ok => StatusCode::OK,
        HealthStatus::Unhealthy => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, Json(health))
}
