//! The Sekoia.io REST API, served under both `/v1/...` and `/api/v1/...`, behind the
//! bearer API key; the live notification socket shares its listener.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{any, get, post};
use serde_json::{Value, json};

use crate::alerts::{AlertQuery, Inclusions, workflow_actions};
use crate::faults::Route;
use crate::gateway::{answer, error_response, guarded, json_object, optional_text, required_text};
use crate::recorder::Receiver;
use crate::state::{SimState, lock};
use crate::{SimError, live, resources, search};

type Sim = State<Arc<SimState>>;
type Params = Query<Vec<(String, String)>>;

pub(crate) fn router(sim: Arc<SimState>) -> Router {
    let api = Router::new()
        .route("/me", get(me))
        .route("/sic/alerts", get(list_alerts))
        .route("/sic/alerts/{id}", get(get_alert).patch(edit_alert))
        .route(
            "/sic/alerts/{id}/workflow",
            get(list_transitions).patch(change_status),
        )
        .route(
            "/sic/alerts/{id}/comments",
            get(list_comments).post(add_comment),
        )
        .route("/sic/alerts/{id}/comments/{comment}", get(get_comment))
        .route("/sic/conf/events/search/jobs", post(search::create_job))
        .route(
            "/sic/conf/events/search/jobs/{job}",
            get(search::job_status),
        )
        .route(
            "/sic/conf/events/search/jobs/{job}/events",
            get(search::job_events),
        )
        .route(
            "/sic/conf/events/search/jobs/{job}/fields",
            get(search::job_fields),
        )
        .route("/events/stats", get(search::statistics))
        .route("/{*rest}", any(resources::v1));
    let version_2 = Router::new().route("/{*rest}", any(resources::v2));
    let rest = Router::new()
        .nest("/v1", api.clone())
        .nest("/api/v1", api)
        .nest("/v2", version_2.clone())
        .nest("/api/v2", version_2)
        .route_layer(middleware::from_fn_with_state(sim.clone(), require_api_key))
        .with_state(sim.clone());
    guarded(rest, sim.clone(), Receiver::Sekoia, route_of).merge(live::router(sim))
}

fn route_of(method: &Method, path: &str) -> Route {
    let path = path.strip_prefix("/api").unwrap_or(path);
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["v1", "me"] => Route::SekoiaMe,
        ["v2", ..]
        | [
            "v1",
            "sic",
            "cases" | "custom_statuses" | "custom_verdicts" | "custom_priorities",
            ..,
        ]
        | ["v1", "sic", "alerts", "countermeasures", ..]
        | [
            "v1",
            "sic",
            "conf",
            "rules-catalog" | "entities" | "intakes",
            ..,
        ]
        | ["v1", "asset-management" | "communities" | "predict", ..] => Route::SekoiaResources,
        ["v1", "sic", "conf", ..] => Route::SekoiaEvents,
        ["v1", "sic", "alerts"] => Route::SekoiaListAlerts,
        ["v1", "sic", "alerts", _, "workflow"] => Route::SekoiaWorkflow,
        ["v1", "sic", "alerts", _, "comments", ..] => Route::SekoiaComments,
        ["v1", "sic", "alerts", _] if method == Method::PATCH => Route::SekoiaEditAlert,
        _ => Route::SekoiaGetAlert,
    }
}

async fn require_api_key(State(sim): Sim, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim());
    if presented == Some(sim.config.api_key.as_str()) {
        next.run(request).await
    } else {
        error_response(
            Receiver::Sekoia,
            StatusCode::UNAUTHORIZED,
            "missing or invalid API key",
        )
    }
}

async fn me(State(sim): Sim) -> Response {
    let store = lock(&sim.alerts);
    let identity = json!({
        "uuid": store.operator_uuid(),
        "type": "apikey",
        "name": "alertsync simulator",
        "community_uuid": store.community_uuid(),
        "communities": [{"uuid": store.community_uuid(), "name": "Simulated community"}],
    });
    answer(Receiver::Sekoia, Ok(identity))
}

async fn get_alert(State(sim): Sim, Path(id): Path<String>, Query(params): Params) -> Response {
    let result = Inclusions::from_params(&params).and_then(|inclusions| {
        let store = lock(&sim.alerts);
        store
            .find(&id)
            .map(|alert| alert.render(store.served(inclusions)))
            .ok_or(SimError::UnknownAlert(id))
    });
    answer(Receiver::Sekoia, result)
}

async fn list_alerts(State(sim): Sim, Query(params): Params) -> Response {
    let result = AlertQuery::from_params(&params).map(|query| {
        let (total, items) = lock(&sim.alerts).list(&query);
        json!({
            "total": total,
            "has_more": query.offset + items.len() < total,
            "items": items,
        })
    });
    answer(Receiver::Sekoia, result)
}

async fn edit_alert(State(sim): Sim, Path(id): Path<String>, body: Bytes) -> Response {
    let result =
        json_object(&body).and_then(|patch| sim.change_alerts(|store| store.edit(&id, &patch)));
    answer(Receiver::Sekoia, result)
}

async fn change_status(State(sim): Sim, Path(id): Path<String>, body: Bytes) -> Response {
    let result = json_object(&body).and_then(|request| {
        let target = required_text(&request, "action_uuid")?;
        let comment = optional_text(&request, "comment")?;
        sim.set_status(&id, target, comment).map(|_| json!({}))
    });
    answer(Receiver::Sekoia, result)
}

async fn list_transitions(State(sim): Sim, Path(id): Path<String>) -> Response {
    let known = lock(&sim.alerts).find(&id).is_some();
    let result = if known {
        Ok(workflow_actions())
    } else {
        Err(SimError::UnknownAlert(id))
    };
    answer(Receiver::Sekoia, result)
}

async fn add_comment(State(sim): Sim, Path(id): Path<String>, body: Bytes) -> Response {
    let result = json_object(&body).and_then(|request| {
        let content = required_text(&request, "content")?;
        let author = optional_text(&request, "author")?;
        sim.add_comment(&id, content, author)
    });
    answer(Receiver::Sekoia, result)
}

async fn list_comments(State(sim): Sim, Path(id): Path<String>) -> Response {
    let result = lock(&sim.alerts)
        .comments(&id)
        .map(|comments| json!({"total": comments.len(), "items": comments}));
    answer(Receiver::Sekoia, result)
}

async fn get_comment(State(sim): Sim, Path((id, comment)): Path<(String, String)>) -> Response {
    let result = lock(&sim.alerts).comments(&id).and_then(|comments| {
        comments
            .into_iter()
            .find(|candidate| candidate["uuid"] == Value::String(comment.clone()))
            .ok_or(SimError::UnknownComment(comment))
    });
    answer(Receiver::Sekoia, result)
}
