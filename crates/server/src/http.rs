//! The HTTP side of the service: the REST API and health (see [`crate::api`]), the web
//! console (see [`crate::console`]), access control, `/metrics`, and the webhooks of
//! playbooks (see [`crate::hooks`]).

use std::sync::Arc;

use alertsync_engine::RunExecutor;
use alertsync_store::Store;
use axum::Router;
use axum::routing::{get, post};
use tokio::sync::Notify;

use crate::api;
use crate::api::auth::Access;
use crate::deploy::Deployment;
use crate::inbox::Inbox;

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
        .route(
            "/hooks/{playbook_id}/{node_id}",
            post(crate::hooks::webhook),
        )
        .route("/metrics", get(crate::metrics::scrape))
        .with_state(state.clone())
        .merge(crate::console::router(state.clone()));
    api::wrap(routes, state)
}
