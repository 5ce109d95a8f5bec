//! The web console: server-rendered HTML pages over the same state as the API — runs
//! (live, filtered as the API filters them), one run with its alert, its graph and node
//! details (requests sent, answers, JSON trees), playbooks, accounts and modules — plus
//! the login form, the stylesheet and script under `/assets/`, and the server-sent events
//! that keep the run pages current.
//!
//! Pages sit behind the same access control as the API (a browser without the session
//! cookie is sent to `/login`) and the same strict Content-Security-Policy: no inline
//! script or style, nothing loaded from elsewhere. Every value is escaped
//! ([`html::esc`]); what the pages show is what the API shows, secrets masked, and
//! account values and playbook arguments are never shown.

pub mod accounts;
pub mod alert;
pub mod assets;
pub mod events;
pub mod graph;
pub mod health;
pub mod html;
pub mod json;
pub mod login;
pub mod modules;
pub mod playbooks;
pub mod run;
pub mod runs;

use alertsync_spl::{Node, NodeKind};
use axum::Router;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::http::AppState;

/// The console's routes.
pub fn router(state: AppState) -> Router {
    let login = Router::new()
        .route("/login", get(login::show))
        .with_state(state.access.clone());
    Router::new()
        .route("/", get(root))
        .route("/runs", get(runs::list))
        .route("/runs/{id}", get(run::show))
        .route("/playbooks", get(playbooks::list))
        .route("/playbooks/{id}", get(playbooks::show))
        .route("/accounts", get(accounts::list))
        .route("/modules", get(modules::list))
        .route("/console/events", get(events::events))
        .route("/assets/console.css", get(assets::css))
        .route("/assets/console.js", get(assets::js))
        .route("/assets/icon.svg", get(assets::icon))
        .with_state(state)
        .merge(login)
}

/// `GET /`: the runs.
async fn root() -> Response {
    // `Redirect::to` answers 303 See Other.
    Redirect::to("/runs").into_response()
}

/// What a node runs, by name: `ilert · Trigger Alert`, `condition`, …
pub fn describe(state: &AppState, node: &Node) -> String {
    let registry = state.executor.registry();
    match &node.kind {
        NodeKind::Action {
            module_uuid,
            action_uuid,
            ..
        } => match registry.action(module_uuid, action_uuid) {
            Some((module, action)) => {
                format!("{} · {}", module.manifest.name, action.manifest().name)
            }
            None => format!("unknown action {action_uuid}"),
        },
        NodeKind::Trigger {
            module_uuid,
            trigger_uuid,
            ..
        } => match registry.trigger(module_uuid, trigger_uuid) {
            Some((module, trigger)) => format!("{} · {}", module.manifest.name, trigger.name),
            None => format!("unknown trigger {trigger_uuid}"),
        },
        _ => graph::kind(node).1.to_owned(),
    }
}
