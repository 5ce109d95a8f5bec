//! Mattermost incoming webhooks: `POST /hooks/{id}` answers `ok`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::faults::Route;
use crate::gateway::{error_response, guarded, json_object};
use crate::recorder::Receiver;
use crate::state::SimState;

pub(crate) fn router(sim: Arc<SimState>) -> Router {
    let routes = Router::new().route("/hooks/{id}", post(incoming_webhook));
    guarded(routes, sim, Receiver::Mattermost, route_of)
}

fn route_of(_: &Method, _: &str) -> Route {
    Route::Mattermost
}

/// A message needs `text` or `attachments`.
async fn incoming_webhook(body: Bytes) -> Response {
    match json_object(&body) {
        Ok(message) if message.contains_key("text") || message.contains_key("attachments") => {
            (StatusCode::OK, "ok").into_response()
        }
        Ok(_) => error_response(
            Receiver::Mattermost,
            StatusCode::BAD_REQUEST,
            "text or attachments is required",
        ),
        Err(error) => error_response(
            Receiver::Mattermost,
            StatusCode::BAD_REQUEST,
            &error.to_string(),
        ),
    }
}
