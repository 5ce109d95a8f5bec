//! `/api/v1/runs`: runs newest first with filters, one run with its node runs, rerun, and
//! the dead letters.
//!
//! Filters: `playbook`, `status` (`queued`, `running`, `waiting`, `succeeded`, `failed`,
//! `cancelled`, `dead`), `alert` (alert UUID), `since` and `until` (when the run was
//! queued, milliseconds since the Unix epoch, inclusive), and pages: `limit` (1 to 1000,
//! default 50) and `before` (the `next_before` of the previous page).
//!
//! Rerun queues a new run of the run's playbook for the same event, behind the runs already
//! queued for its alert, so the playbook runs again with the alert as it is now: all of
//! it, or with `only=failed` only the failed and pending nodes — actions that succeeded in
//! the run are not called again, their recorded results are reused. Rerunning a dead
//! letter replays it (and dismisses it); `POST /api/v1/runs/{id}/dismiss` dismisses a dead
//! letter without replaying it.

use alertsync_engine::RunStatus;
use alertsync_store::{MAX_PAGE_SIZE, Rerun, RunDetail, RunId, RunQuery, RunSummary};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult, ErrorBody};
use crate::http::AppState;

/// Most store pages one listing reads when a time range skips runs.
const MAX_SCANNED_PAGES: usize = 50;

/// The filters of a run listing.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunFilters {
    /// Playbook id.
    pub playbook: Option<String>,
    /// `queued`, `running`, `waiting`, `succeeded`, `failed`, `cancelled` or `dead`.
    pub status: Option<String>,
    /// Alert UUID.
    pub alert: Option<String>,
    /// Runs queued at or after this time (ms since the epoch).
    pub since: Option<u64>,
    /// Runs queued at or before this time (ms since the epoch).
    pub until: Option<u64>,
    /// Runs older than this run id (the previous page's `next_before`).
    pub before: Option<i64>,
    /// Page size, 1 to 1000 (default 50).
    pub limit: Option<u32>,
}

/// One page of runs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunList {
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

fn parse_status(status: &str) -> ApiResult<RunStatus> {
    status.parse().map_err(ApiError::bad_request)
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
    Ok(Json(list_runs(&state, &filters).await?))
}

/// One page of the runs matching `filters`, newest first: what the API's listing and the
/// console's run table show.
pub(crate) async fn list_runs(state: &AppState, filters: &RunFilters) -> ApiResult<RunList> {
    let limit = filters.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PAGE_SIZE {
        return Err(ApiError::bad_request(format!(
            "`limit` must be between 1 and {MAX_PAGE_SIZE}"
        )));
    }
    if let (Some(since), Some(until)) = (filters.since, filters.until)
        && since > until
    {
        return Err(ApiError::bad_request("`since` is after `until`"));
    }
    if let Some(before) = filters.before
        && before <= 0
    {
        return Err(ApiError::bad_request("`before` must be a run id"));
    }
    let mut query = RunQuery {
        playbook_id: filters.playbook.clone(),
        status: filters.status.as_deref().map(parse_status).transpose()?,
        alert_uuid: filters.alert.clone(),
        inbox_id: None,
        before: filters.before.map(RunId),
        limit,
    };
    // The store filters everything but the time range; runs are read page by page and
    // those outside the range left out (run ids and queue times grow together).
    let mut runs = Vec::new();
    let mut next_before = None;
    for _ in 0..MAX_SCANNED_PAGES {
        let page = state
            .store
            .list_runs(query.clone())
            .await
            .map_err(|err| ApiError::unavailable("listing runs", err))?;
        let mut reached_since = false;
        let mut more_here = false;
        for run in page.runs {
            if filters.since.is_some_and(|since| run.queued_at_ms < since) {
                reached_since = true;
                break;
            }
            if filters.until.is_some_and(|until| run.queued_at_ms > until) {
                continue;
            }
            if runs.len() == limit as usize {
                more_here = true;
                break;
            }
            runs.push(run);
        }
        if reached_since {
            next_before = None;
            break;
        }
        if runs.len() == limit as usize {
            next_before = (more_here || page.next_before.is_some())
                .then(|| runs.last().map(|r| r.id.0))
                .flatten();
            break;
        }
        match page.next_before {
            Some(before) => {
                query.before = Some(before);
                // Where a caller may go on if the scan stops here.
                next_before = Some(before.0);
            }
            None => {
                next_before = None;
                break;
            }
        }
    }
    Ok(RunList { runs, next_before })
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

/// One run with its node runs (arguments, results, logs and errors, secrets masked) and
/// retry state.
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
