//! The REST API under `/api/v1`, its OpenAPI document at `/api/v1/openapi.json` (generated
//! from the handlers' annotations, so it lists exactly the routes served) and `/healthz`.
//! Handlers are thin: they read the store, the deployment and the executor and answer
//! JSON; errors are `{"error", "detail"}` (see [`error`]).

pub mod accounts;
pub mod auth;
pub mod error;
pub mod health;
pub mod hosts;
pub mod modules;
pub mod playbooks;
pub mod run_filters;
pub mod runs;
pub mod session;

use std::sync::Arc;

use axum::extract::Extension;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use utoipa::OpenApi;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "alertsync", description = "Runs Sekoia.io playbooks and forwards alerts."),
    tags(
        (name = "playbooks"), (name = "runs"), (name = "accounts"), (name = "modules"),
        (name = "health")
    ),
    components(schemas(error::ErrorBody)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

/// Declares the bearer token the API takes when `[server] token` is set.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `routes` with the API, `/healthz` and `/login`, behind access control and with security
/// headers; every change is audited ([`crate::audit`]), refused ones too.
pub fn wrap(routes: Router, state: AppState) -> Router {
    let access = state.access.clone();
    routes
        .merge(router(state))
        .merge(
            Router::new()
                .route("/login", post(auth::login))
                .with_state(access.clone()),
        )
        .fallback(not_found)
        .layer(from_fn_with_state(access.clone(), auth::require_token))
        .layer(from_fn(auth::refuse_cross_site))
        .layer(from_fn(crate::audit::record))
        .layer(from_fn(error::json_errors))
        .layer(from_fn_with_state(access, auth::check_host))
        .layer(from_fn(auth::security_headers))
}

/// The API routes and `/healthz`, with the OpenAPI document they make.
fn router(state: AppState) -> Router {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(playbooks::list))
        .routes(routes!(playbooks::validate))
        .routes(routes!(playbooks::import))
        .routes(routes!(playbooks::get))
        .routes(routes!(playbooks::enable))
        .routes(routes!(playbooks::disable))
        .routes(routes!(playbooks::export))
        .routes(routes!(runs::list))
        .routes(routes!(runs::get))
        .routes(routes!(runs::rerun))
        .routes(routes!(runs::dismiss))
        .routes(routes!(accounts::list))
        .routes(routes!(modules::list))
        .routes(routes!(openapi))
        .with_state(state)
        .split_for_parts();
    router.layer(Extension(Arc::new(doc)))
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "health",
    responses((status = 200, body = Object, description = "the OpenAPI document")))]
async fn openapi(Extension(doc): Extension<Arc<OpenApiDoc>>) -> Json<OpenApiDoc> {
    Json(OpenApiDoc::clone(&doc))
}

/// Unknown routes answer a JSON 404, or the console's 404 page to a browser asking for a
/// page outside the API.
pub async fn not_found(uri: axum::http::Uri, headers: axum::http::HeaderMap) -> Response {
    let detail = format!("no route {}", uri.path());
    if !uri.path().starts_with("/api/") && crate::console::html::wants_html(&headers) {
        return crate::console::html::not_found(detail);
    }
    error::ApiError::not_found(detail).into_response()
}
