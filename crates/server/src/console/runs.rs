//! `GET /runs`: the runs, newest first, each with its alert (short id, title, urgency,
//! link to Sekoia.io) and, when it failed, why — under the banner of what needs someone,
//! the counts by status, and the filters: alert (short id or UUID), text, playbook,
//! status and time range, in a form that keeps its values and whose address can be
//! shared. The script keeps the page current: on each event of `/console/events` it
//! updates the counts and reloads the rows with `/runs?fragment=rows&…` (the same
//! filters).
//!
//! Filters and listing are the API's ([`RunFilters`], [`api::runs::list_runs`]): the page
//! selects what `GET /api/v1/runs` with the same query answers.

use std::fmt::Write as _;

use alertsync_engine::RunStatus;
use alertsync_store::{RunCountFilter, RunCounts, RunQuery, RunSummary};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::TimeDelta;
use serde::Deserialize;

use super::html::{
    Section, duration_between, error_page, esc, layout, page, query_value, time, utc_input,
};
use super::run::run_status;
use crate::api;
use crate::api::error::ApiError;
use crate::api::run_filters::field;
use crate::api::runs::RunFilters;
use crate::http::AppState;

/// What the runs page takes besides the filters: the rerun that sent the browser here, and
/// whether only the rows are wanted.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    pub rerun_of: Option<String>,
    pub fragment: Option<String>,
}

/// The quick time ranges offered above the table: label and length.
const RANGES: [(&str, TimeDelta); 3] = [
    ("last hour", TimeDelta::hours(1)),
    ("last 24 hours", TimeDelta::days(1)),
    ("last 7 days", TimeDelta::days(7)),
];

/// The longest error a row shows (the run page shows all of it).
const ROW_ERROR_CHARS: usize = 240;

/// The counts of the runs `filter` selects.
pub async fn counts(state: &AppState, filter: RunCountFilter) -> Result<RunCounts, ApiError> {
    state
        .store
        .run_counts(filter)
        .await
        .map_err(|err| ApiError::unavailable("counting runs", err))
}

/// `GET /runs` (and `?fragment=rows`: only the table rows).
pub async fn list(
    State(state): State<AppState>,
    filters: Result<Query<RunFilters>, QueryRejection>,
    Query(extra): Query<PageQuery>,
) -> Response {
    let filters = match filters {
        Ok(Query(filters)) => filters,
        Err(err) => return error_page(ApiError::bad_request(err.body_text())),
    };
    let query = match filters.query() {
        Ok(query) => query,
        Err(err) => return error_page(err),
    };
    let listed = match api::runs::list_runs(&state, query.clone()).await {
        Ok(listed) => listed,
        Err(err) => return error_page(err),
    };
    let rows = rows(&state, &listed.runs);
    if extra.fragment.as_deref() == Some("rows") {
        return page(rows);
    }
    let counted = match filters.count_filter() {
        Ok(filter) => counts(&state, filter).await,
        Err(err) => Err(err),
    };
    let counted = match counted {
        Ok(counted) => counted,
        Err(err) => return error_page(err),
    };

    let mut body = String::from("<h1>Runs</h1>");
    body.push_str(&super::health::banner(&state).await);
    if let Some(rerun_of) = field(&extra.rerun_of) {
        let _ = write!(
            body,
            "<p id=\"rerun-notice\" class=\"message\" data-rerun-of=\"{id}\">Rerun of \
             <a href=\"/runs/{id}\">run {id}</a> requested: the new run appears below once \
             it starts.</p>",
            id = esc(rerun_of)
        );
    }
    body.push_str(&count_links(&filters, &counted));
    body.push_str(&filter_form(&state, &filters, &query));
    let _ = write!(
        body,
        "<table id=\"runs\" data-query=\"{}\"><thead><tr><th>Run</th><th>Alert</th>\
         <th>Urgency</th><th>Playbook</th><th>Status</th><th>Queued</th><th>Duration</th>\
         </tr></thead><tbody>{rows}</tbody></table>",
        esc(&filters.query_string(false)),
    );
    if let Some(next) = listed.next_before {
        let _ = write!(
            body,
            "<p class=\"pager\"><a id=\"older\" href=\"/runs?{}\">Older runs</a></p>",
            esc(&with(
                &filters.query_string(true),
                "before",
                &next.to_string()
            ))
        );
    }
    page(layout("Runs", Section::Runs, &body))
}

/// `query` (a query string) with one more pair.
fn with(query: &str, name: &str, value: &str) -> String {
    let sep = if query.is_empty() { "" } else { "&" };
    format!("{query}{sep}{name}={}", query_value(value))
}

/// The counts by status of the runs of the playbook and alert filtered on, each a link to
/// those runs in that status.
fn count_links(filters: &RunFilters, counted: &RunCounts) -> String {
    let others = filters.query_string(false);
    let mut out = String::from("<div id=\"run-counts\">");
    for status in RunStatus::ALL {
        let _ = write!(
            out,
            "<a class=\"count-link\" href=\"/runs?{href}\"><span class=\"count\" \
             data-status=\"{status}\">{}</span> {status}</a>",
            counted.get(status),
            href = esc(&with(&others, "status", status.as_str())),
        );
    }
    out.push_str("</div>");
    out
}

/// The filter form, showing the filters in force, and the quick time ranges.
fn filter_form(state: &AppState, filters: &RunFilters, query: &RunQuery) -> String {
    let text = |value: &Option<String>| esc(field(value).unwrap_or_default());
    let mut out = format!(
        "<form id=\"run-filters\" method=\"get\" action=\"/runs\">\
         <label>Alert <input name=\"alert\" type=\"search\" value=\"{alert}\" \
         placeholder=\"short id or UUID\"></label>\
         <label class=\"wide\">Search <input name=\"q\" type=\"search\" value=\"{q}\" \
         placeholder=\"text in alerts, requests, answers, errors\"></label>\
         <label>Playbook <select name=\"playbook\"><option value=\"\">any</option>",
        alert = text(&filters.alert),
        q = text(&filters.q),
    );
    for playbook in &state.deployment.playbooks {
        let selected = selected(query.playbook_id.as_deref() == Some(playbook.id.as_str()));
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
    for status in RunStatus::ALL {
        let _ = write!(
            out,
            "<option value=\"{status}\"{}>{status}</option>",
            selected(query.status == Some(status))
        );
    }
    let _ = write!(
        out,
        "</select></label>\
         <label>Queued from <input name=\"since\" type=\"text\" class=\"time\" \
         value=\"{since}\" placeholder=\"YYYY-MM-DD HH:MM (UTC)\"></label>\
         <label>to <input name=\"until\" type=\"text\" class=\"time\" value=\"{until}\" \
         placeholder=\"YYYY-MM-DD HH:MM (UTC)\"></label>\
         <button type=\"submit\">Filter</button><a class=\"reset\" href=\"/runs\">Reset</a>\
         </form>",
        since = query.since_ms.map(utc_input).unwrap_or_default(),
        until = query.until_ms.map(utc_input).unwrap_or_default(),
    );
    out.push_str(&ranges(filters));
    out
}

fn selected(yes: bool) -> &'static str {
    if yes { " selected" } else { "" }
}

/// Links to the runs of the last hour, day and week, the other filters kept.
fn ranges(filters: &RunFilters) -> String {
    let others = RunFilters {
        since: None,
        until: None,
        ..filters.clone()
    }
    .query_string(true);
    let now = chrono::Utc::now();
    let links: Vec<String> = RANGES
        .iter()
        .map(|(label, length)| {
            let since = (now - *length).timestamp_millis().to_string();
            format!(
                "<a href=\"/runs?{}\">{label}</a>",
                esc(&with(&others, "since", &since))
            )
        })
        .collect();
    format!("<p id=\"ranges\">Queued in the {}</p>", links.join(" · "))
}

/// The table rows of these runs.
fn rows(state: &AppState, runs: &[RunSummary]) -> String {
    let mut out = String::new();
    for run in runs {
        let status = run_status(run.status);
        let playbook_cell = match state.deployment.get(&run.playbook_id) {
            Some(p) => format!(
                "<a class=\"playbook\" href=\"/playbooks/{}\">{}</a>",
                esc(&query_value(&p.id)),
                esc(&p.name)
            ),
            None => esc(&run.playbook_id),
        };
        let _ = write!(
            out,
            "<tr data-run-id=\"{id}\" data-status=\"{status}\"><td><a href=\"/runs/{id}\">#{id}</a></td>\
             <td class=\"alert\">{alert}</td><td>{urgency}</td><td>{playbook_cell}</td>\
             <td><span class=\"status\" data-status=\"{status}\">{status}</span>{error}</td>\
             <td>{queued}</td><td>{took}</td></tr>",
            id = run.id,
            alert = super::alert::cell(state, run),
            urgency = super::alert::urgency(run),
            error = row_error(run),
            queued = time(run.queued_at_ms),
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

/// Why a run failed, waits or is a dead letter, cut short.
fn row_error(run: &RunSummary) -> String {
    let Some(error) = run
        .error
        .as_deref()
        .filter(|_| run.status != RunStatus::Succeeded)
    else {
        return String::new();
    };
    let short: String = error.chars().take(ROW_ERROR_CHARS).collect();
    let cut = if short.len() < error.len() { "…" } else { "" };
    format!(
        "<div class=\"row-error\" title=\"{}\">{}{cut}</div>",
        esc(error),
        esc(&short)
    )
}
