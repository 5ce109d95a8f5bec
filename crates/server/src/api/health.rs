//! `/healthz`: whether the service is up, the state of its live connections (as the
//! metrics record it), inbox depth and the time of the last event that started a run.
//! Needs no token.

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
    pub live: Vec<LiveView>,
    /// Inbox events waiting (`pending`) and being processed (`claimed`).
    pub inbox_pending: Option<u64>,
    pub inbox_claimed: Option<u64>,
    /// When the event of the newest run arrived (ms since the epoch).
    pub last_event_at_ms: Option<u64>,
}

/// The live notification connection of an account.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveView {
    pub account: String,
    /// Whether a session is established now; absent when metrics are not recorded.
    pub connected: Option<bool>,
}

/// The service's health.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()),
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
        live: live(&state),
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

/// The live connection state of each followed account, read from the metrics.
fn live(state: &AppState) -> Vec<LiveView> {
    let rendered = crate::metrics::install().map(|handle| handle.render());
    state
        .live_accounts
        .iter()
        .map(|account| LiveView {
            account: account.clone(),
            connected: rendered
                .as_deref()
                .and_then(|text| connected(text, account)),
        })
        .collect()
}

/// The `alertsync_live_connected` gauge of `account` in Prometheus text.
fn connected(text: &str, account: &str) -> Option<bool> {
    let prefix = format!(
        "{}{{account=\"{account}\"}} ",
        crate::metrics::LIVE_CONNECTED
    );
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map(|value| value > 0.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_connection_gauge_is_read_per_account() {
        let text = "# TYPE alertsync_live_connected gauge\n\
                    alertsync_live_connected{account=\"a\"} 1\n\
                    alertsync_live_connected{account=\"b\"} 0\n";
        assert_eq!(super::connected(text, "a"), Some(true));
        assert_eq!(super::connected(text, "b"), Some(false));
        assert_eq!(super::connected(text, "c"), None);
    }
}
