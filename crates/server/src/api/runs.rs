//! `/api/v1/runs`: runs newest first with filters, one run with its node runs, rerun, and
//! the dead letters.
//!
//! Filters ([`RunFilters`], the console's too): `playbook`, `status` (`queued`, `running`,
//! `waiting`, `succeeded`, `failed`, `cancelled`, `dead`), `alert` (its UUID or short id),
//! `since` and `until` (when the run was queued, inclusive: ms since the epoch or a
//! date-time), `q` (text in the run's error, alert or node runs), and pages: `limit` (1 to
//! 1000, default 50) and `before` (the `next_before` of the previous page). Each run
//! names its alert as it read it from Sekoia.io (`alert`: account, short id, title,
//! urgency).
//!
//! Rerun queues a new run of the run's playbook for the same event, behind the runs already
//! queued for its alert, so the playbook runs again with the alert as it is now: all of
//! it, or with `only=failed` only the failed and pending nodes — actions that succeeded in
//! the run are not called again, their recorded results are reused. Rerunning a dead
//! letter replays it (and dismisses it); `POST /api/v1/runs/{id}/dismiss` dismisses a dead
//! letter without replaying it.

use alertsync_store::{Rerun, RunDetail, RunId, RunQuery, RunSummary};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult, ErrorBody};
pub use super::run_filters::RunFilters;
use crate::http::AppState;

/// One page of runs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunList {
    /// The runs: id, playbook, status, times, error, and `alert` as the run read it from
    /// Sekoia.io (`account`, `short_id`, `title`, `urgency`; absent until it did).
    #[schema(value_type = Vec<Object>)]
    pub runs: Vec<RunSummary>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<i64>,
}

/// Rerun options.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RerunOptions {
    /// `failed`: rerun only the failed and pending nodes.
    pub only: Option<String>,
}

/// The run a rerun queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct RerunView {
    /// The new run, queued: it runs when its turn comes.
    pub run_id: i64,
    pub playbook_id: String,
    pub rerun_of: i64,
    /// Whether only the failed and pending nodes run again.
    pub only_failed: bool,
}

fn parse_run_id(id: &str) -> ApiResult<RunId> {
    id.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .map(RunId)
        .ok_or_else(|| ApiError::bad_request(format!("`{id}` is not a run id")))
}

/// Lists runs, newest first.
#[utoipa::path(get, path = "/api/v1/runs", tag = "runs", params(RunFilters),
    responses((status = 200, body = RunList), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    filters: Result<Query<RunFilters>, QueryRejection>,
) -> ApiResult<Json<RunList>> {
    let Query(filters) = filters.map_err(|err| ApiError::bad_request(err.body_text()))?;
    Ok(Json(list_runs(&state, filters.query()?).await?))
}

/// One page of the runs `query` selects, newest first: what the API's listing and the
/// console's run table show.
pub(crate) async fn list_runs(state: &AppState, query: RunQuery) -> ApiResult<RunList> {
    let page = state
        .store
        .list_runs(query)
        .await
        .map_err(|err| ApiError::unavailable("listing runs", err))?;
    Ok(RunList {
        runs: page.runs,
        next_before: page.next_before.map(|id| id.0),
    })
}

/// The run with this id (as the path gives it), with its node runs.
pub(crate) async fn find(state: &AppState, id: &str) -> ApiResult<RunDetail> {
    let run_id = parse_run_id(id)?;
    state
        .store
        .run(run_id)
        .await
        .map_err(|err| ApiError::unavailable("reading the run", err))?
        .ok_or_else(|| ApiError::not_found(format!("no run {id}")))
}

/// One run with its node runs (arguments, results, logs and errors, the attempts of its
/// most tried request and the write requests it sent with their answers — `exchanges` —,
/// secrets masked) and retry state.
#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "runs",
    params(("id" = i64, Path, description = "run id")),
    responses((status = 200, body = Object, description = "the run with `run`, `nodes` and `retries`"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<RunDetail>> {
    Ok(Json(find(&state, &id).await?))
}

/// Queues the playbook again for the run's event (a dead letter is replayed).
#[utoipa::path(post, path = "/api/v1/runs/{id}/rerun", tag = "runs",
    params(("id" = i64, Path, description = "run id"), RerunOptions),
    responses((status = 202, body = RerunView), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn rerun(
    State(state): State<AppState>,
    Path(id): Path<String>,
    options: Result<Query<RerunOptions>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(options) = options.map_err(|err| ApiError::bad_request(err.body_text()))?;
    let only_failed = match options.only.as_deref() {
        None => false,
        Some("failed") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown `only={other}`; `only=failed` reruns only the failed and pending nodes"
            )));
        }
    };
    let run = find(&state, &id).await?.run;
    if state.deployment.get(&run.playbook_id).is_none() {
        return Err(ApiError::conflict(format!(
            "playbook `{}` is no longer deployed",
            run.playbook_id
        )));
    }
    let queued = state
        .store
        .rerun(Rerun {
            of: run.id,
            only_failed,
        })
        .await
        .map_err(|err| ApiError::unavailable("queuing the rerun", err))?;
    state.wake.notify_one();
    Ok((
        StatusCode::ACCEPTED,
        Json(RerunView {
            run_id: queued.0,
            playbook_id: run.playbook_id,
            rerun_of: run.id.0,
            only_failed,
        }),
    )
        .into_response())
}

/// Marks a dead letter as handled without replaying it: it no longer makes the service
/// unhealthy.
#[utoipa::path(post, path = "/api/v1/runs/{id}/dismiss", tag = "runs",
    params(("id" = i64, Path, description = "run id of a dead letter")),
    responses((status = 200, body = Object, description = "the run, dismissed"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn dismiss(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<RunDetail>> {
    let run = find(&state, &id).await?.run;
    let dismissed = state
        .store
        .dismiss_dead_letter(run.id)
        .await
        .map_err(|err| ApiError::unavailable("dismissing the dead letter", err))?;
    if !dismissed {
        return Err(ApiError::conflict(format!(
            "run {id} is not a dead letter waiting for someone (status `{}`)",
            run.status
        )));
    }
    Ok(Json(find(&state, &id).await?))
}
