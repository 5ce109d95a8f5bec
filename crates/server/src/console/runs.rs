//! `GET /runs`: the runs, newest first — counts by status, filters (playbook, status,
//! alert) and the table, kept up to date by the script: on each event of
//! `/console/events` it updates the counts and reloads the rows with
//! `/runs?fragment=rows&…` (the same filters).
//!
//! The listing is the API's ([`api::runs::list_runs`]); empty form fields mean "any".

use std::fmt::Write as _;

use alertsync_engine::RunStatus;
use alertsync_store::{RunCountFilter, RunCounts, RunSummary};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::html::{Section, duration_between, error_page, esc, layout, page, query_value, time};
use super::run::run_status;
use crate::api;
use crate::api::error::ApiError;
use crate::api::runs::RunFilters;
use crate::http::AppState;

/// Runs one page shows.
const PAGE_SIZE: u32 = 50;

/// The query of the runs page: the filter form's fields (empty means any), the page, the
/// rerun that sent the browser here, and whether only the rows are wanted.
#[derive(Debug, Default, Deserialize)]
pub struct RunsQuery {
    pub playbook: Option<String>,
    pub status: Option<String>,
    pub alert: Option<String>,
    pub before: Option<String>,
    pub rerun_of: Option<String>,
    pub fragment: Option<String>,
}

/// A form field's value, `None` when empty.
pub fn field(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

impl RunsQuery {
    fn filters(&self) -> Result<RunFilters, ApiError> {
        let before = match field(&self.before) {
            Some(before) => Some(
                before
                    .parse::<i64>()
                    .map_err(|_| ApiError::bad_request(format!("`{before}` is not a run id")))?,
            ),
            None => None,
        };
        Ok(RunFilters {
            playbook: field(&self.playbook),
            status: field(&self.status),
            alert: field(&self.alert),
            before,
            limit: Some(PAGE_SIZE),
            ..RunFilters::default()
        })
    }

    /// The filters as a query string (`playbook=…&status=…&alert=…`), for links.
    fn filter_query(&self) -> String {
        [
            ("playbook", field(&self.playbook)),
            ("status", field(&self.status)),
            ("alert", field(&self.alert)),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| format!("{name}={}", query_value(&v))))
        .collect::<Vec<_>>()
        .join("&")
    }
}

/// The counts of the runs matching the playbook and alert filters.
pub async fn counts(
    state: &AppState,
    playbook: Option<String>,
    alert: Option<String>,
) -> Result<RunCounts, ApiError> {
    state
        .store
        .run_counts(RunCountFilter {
            playbook_id: playbook,
            alert_uuid: alert,
        })
        .await
        .map_err(|err| ApiError::unavailable("counting runs", err))
}

/// `GET /runs` (and `?fragment=rows`: only the table rows).
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<RunsQuery>, QueryRejection>,
) -> Response {
    let Query(query) = query.unwrap_or_default();
    let listed = match query.filters() {
        Ok(filters) => api::runs::list_runs(&state, &filters).await,
        Err(err) => Err(err),
    };
    let listed = match listed {
        Ok(listed) => listed,
        Err(err) => return error_page(err),
    };
    let rows = rows(&state, &listed.runs);
    if query.fragment.as_deref() == Some("rows") {
        return page(rows);
    }
    let counts = match counts(&state, field(&query.playbook), field(&query.alert)).await {
        Ok(counts) => counts,
        Err(err) => return error_page(err),
    };

    let mut body = String::from("<h1>Runs</h1>");
    body.push_str(&super::health::banner(&state).await);
    if let Some(rerun_of) = field(&query.rerun_of) {
        let _ = write!(
            body,
            "<p id=\"rerun-notice\" class=\"message\" data-rerun-of=\"{id}\">Rerun of \
             <a href=\"/runs/{id}\">run {id}</a> requested: the new run appears below once \
             it starts.</p>",
            id = esc(&rerun_of)
        );
    }
    body.push_str("<div id=\"run-counts\">");
    for status in RunStatus::ALL {
        let _ = write!(
            body,
            "<a class=\"count-link\" href=\"/runs?status={status}\"><span class=\"count\" \
             data-status=\"{status}\">{}</span> {status}</a>",
            counts.get(status)
        );
    }
    body.push_str("</div>");
    body.push_str(&filter_form(&state, &query));
    let _ = write!(
        body,
        "<table id=\"runs\" data-query=\"{}\"><thead><tr><th>Run</th><th>Playbook</th>\
         <th>Status</th><th>Alert</th><th>Trigger</th><th>Started</th><th>Duration</th>\
         </tr></thead><tbody>{rows}</tbody></table>",
        esc(&query.filter_query()),
    );
    if let Some(next) = listed.next_before {
        let filters = query.filter_query();
        let sep = if filters.is_empty() { "" } else { "&" };
        let _ = write!(
            body,
            "<p class=\"pager\"><a id=\"older\" href=\"/runs?{}{sep}before={next}\">Older runs</a></p>",
            esc(&filters)
        );
    }
    page(layout("Runs", Section::Runs, &body))
}

/// The filter form, with the current values selected.
fn filter_form(state: &AppState, query: &RunsQuery) -> String {
    let current_playbook = field(&query.playbook).unwrap_or_default();
    let current_status = field(&query.status).unwrap_or_default();
    let mut out = String::from(
        "<form id=\"run-filters\" method=\"get\" action=\"/runs\">\
         <label>Playbook <select name=\"playbook\"><option value=\"\">any</option>",
    );
    for playbook in &state.deployment.playbooks {
        let selected = if playbook.id == current_playbook {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            out,
            "<option value=\"{}\"{selected}>{}</option>",
            esc(&playbook.id),
            esc(&playbook.name)
        );
    }
    out.push_str(
        "</select></label><label>Status <select name=\"status\"><option value=\"\">any</option>",
    );
    for status in RunStatus::ALL.map(RunStatus::as_str) {
        let selected = if status == current_status {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            out,
            "<option value=\"{status}\"{selected}>{status}</option>"
        );
    }
    let _ = write!(
        out,
        "</select></label><label>Alert <input name=\"alert\" type=\"search\" value=\"{}\" \
         placeholder=\"alert UUID\"></label><button type=\"submit\">Filter</button>\
         <a class=\"reset\" href=\"/runs\">Reset</a></form>",
        esc(&field(&query.alert).unwrap_or_default())
    );
    out
}

/// The table rows of these runs.
fn rows(state: &AppState, runs: &[RunSummary]) -> String {
    let mut out = String::new();
    for run in runs {
        let status = run_status(run.status);
        let playbook = state.deployment.get(&run.playbook_id);
        let playbook_cell = match playbook {
            Some(p) => format!(
                "<a class=\"playbook\" href=\"/playbooks/{}\">{}</a>",
                esc(&query_value(&p.id)),
                esc(&p.name)
            ),
            None => esc(&run.playbook_id),
        };
        let trigger = playbook
            .and_then(|p| p.playbook.node(&run.trigger_node))
            .map_or(run.trigger_node.as_str(), |n| n.name.as_str());
        let _ = write!(
            out,
            "<tr data-run-id=\"{id}\" data-status=\"{status}\"><td><a href=\"/runs/{id}\">#{id}</a></td>\
             <td>{playbook_cell}</td><td><span class=\"status\" data-status=\"{status}\">{status}</span></td>\
             <td class=\"alert\">{alert}</td><td>{trigger}</td><td>{started}</td><td>{took}</td></tr>",
            id = run.id,
            alert = run
                .alert_uuid
                .as_deref()
                .map_or_else(|| "—".to_owned(), esc),
            trigger = esc(trigger),
            started = time(run.started_at_ms.unwrap_or(run.queued_at_ms)),
            took = run
                .started_at_ms
                .map_or_else(String::new, |started| duration_between(
                    started,
                    run.ended_at_ms
                )),
        );
    }
    if runs.is_empty() {
        out.push_str("<tr class=\"empty\"><td colspan=\"7\">No run matches.</td></tr>");
    }
    out
}
