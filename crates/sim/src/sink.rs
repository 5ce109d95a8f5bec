//! A generic HTTP endpoint: records any method and path and answers 200 `{"ok": true}`.

use std::sync::Arc;

use axum::http::Method;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::faults::Route;
use crate::gateway::guarded;
use crate::recorder::Receiver;
use crate::state::SimState;

pub(crate) fn router(sim: Arc<SimState>) -> Router {
    guarded(
        Router::new().fallback(accept_anything),
        sim,
        Receiver::Sink,
        route_of,
    )
}

fn route_of(_: &Method, _: &str) -> Route {
    Route::Sink
}

async fn accept_anything() -> Json<Value> {
    Json(json!({"ok": true}))
}
