//! `GET /runs/{id}`: one run — its alert (short id, title, urgency, links to Sekoia.io and
//! to what destinations made of it), playbook, status and times, the rerun buttons, the
//! playbook graph coloured by what each node did in the run, and per node the detail the
//! side panel shows when the node is clicked: for each of its node runs the timeline with
//! its attempts, its error, the requests it sent and the answers it got, its arguments,
//! results and logs, as the store keeps them (secrets already masked), JSON as trees.
//!
//! The detail of every node is rendered into the page as a `<template data-node-id=…>`;
//! the script only copies the clicked node's template into `<aside id="node-panel">` and
//! switches between iterations.

use std::collections::HashMap;
use std::fmt::Write as _;

use alertsync_engine::http::{Answer, Exchange};
use alertsync_engine::{LogLevel, NodeRecord, NodeStatus, RunStatus};
use alertsync_spl::Playbook;
use alertsync_store::{RetryState, RunDetail};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::graph::{self, Edge, GraphState};
use super::html::{
    Section, duration, duration_between, error_page, esc, layout, not_found, page, query_value,
    time, time_opt,
};
use super::json;
use crate::api;
use crate::http::AppState;

/// A run status as the console writes it.
pub fn run_status(status: RunStatus) -> &'static str {
    status.as_str()
}

/// What one node run shows: `stopped` for a node still running when its run ended.
fn record_status(record: &NodeRecord, run: RunStatus) -> &'static str {
    let finished = !run.is_open();
    match record.status {
        NodeStatus::Succeeded => "succeeded",
        NodeStatus::Failed => "failed",
        NodeStatus::Skipped => "skipped",
        NodeStatus::Waiting => "waiting",
        NodeStatus::Running | NodeStatus::Pending if finished => "stopped",
        NodeStatus::Running => "running",
        NodeStatus::Pending => "not-reached",
    }
}

/// What a node shows for all its node runs: the most telling of their states.
pub fn node_status(records: &[&NodeRecord], run: RunStatus) -> &'static str {
    const ORDER: [&str; 6] = [
        "failed",
        "waiting",
        "stopped",
        "running",
        "succeeded",
        "skipped",
    ];
    let seen: Vec<&str> = records.iter().map(|r| record_status(r, run)).collect();
    ORDER
        .into_iter()
        .find(|status| seen.contains(status))
        .unwrap_or("not-reached")
}

/// The node runs of a run, by node id, in `seq` order.
struct RunGraph<'a> {
    by_node: HashMap<&'a str, Vec<&'a NodeRecord>>,
    status: RunStatus,
}

impl<'a> RunGraph<'a> {
    fn new(detail: &'a RunDetail) -> Self {
        let mut by_node: HashMap<&str, Vec<&NodeRecord>> = HashMap::new();
        for record in &detail.nodes {
            by_node.entry(record.id.as_str()).or_default().push(record);
        }
        Self {
            by_node,
            status: detail.run.status,
        }
    }

    fn records(&self, node_id: &str) -> &[&'a NodeRecord] {
        self.by_node.get(node_id).map_or(&[], Vec::as_slice)
    }
}

impl GraphState for RunGraph<'_> {
    fn status(&self, node_id: &str) -> String {
        node_status(self.records(node_id), self.status).to_owned()
    }

    fn taken(&self, edge: &Edge) -> bool {
        let target_ran = !self.records(&edge.to).is_empty();
        target_ran
            && self
                .records(&edge.from)
                .iter()
                .any(|r| edge.output == "loop" || r.outputs.contains(&edge.output))
    }
}

/// `GET /runs/{id}`.
pub async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    if id.parse::<i64>().ok().filter(|id| *id > 0).is_none() {
        return not_found(format!("no run {id}"));
    }
    let detail = match api::runs::find(&state, &id).await {
        Ok(detail) => detail,
        Err(err) => return error_page(err),
    };
    let deployed = state.deployment.get(&detail.run.playbook_id).cloned();
    let playbook = deployed.as_ref().map(|d| d.playbook.as_ref());
    let graph_state = RunGraph::new(&detail);
    let run = &detail.run;
    let status = run_status(run.status);

    let mut body = String::new();
    let playbook_link = match &deployed {
        Some(p) => format!(
            "<a class=\"playbook\" href=\"/playbooks/{}\">{}</a>",
            esc(&query_value(&p.id)),
            esc(&p.name)
        ),
        None => format!(
            "<span class=\"playbook\">{}</span> (no longer deployed)",
            esc(&run.playbook_id)
        ),
    };
    let trigger_name = playbook
        .and_then(|p| p.node(&run.trigger_node))
        .map_or_else(|| run.trigger_node.clone(), |n| n.name.clone());
    let _ = write!(
        body,
        "<section class=\"run-header\" id=\"run\" data-run-id=\"{id}\" data-status=\"{status}\" \
         data-playbook-id=\"{playbook_id}\">\
         <h1>Run {id} <span class=\"status\" data-status=\"{status}\">{status}</span></h1>\
         <dl class=\"facts\">\
         <dt>Alert</dt><dd class=\"alert\">{alert}</dd>\
         <dt>Playbook</dt><dd>{playbook_link}</dd>\
         <dt>Trigger</dt><dd>{trigger} <span class=\"muted\">node {trigger_id}</span></dd>\
         <dt>Queued</dt><dd>{queued}</dd>\
         <dt>Started</dt><dd>{started}</dd>\
         <dt>Finished</dt><dd>{ended}</dd>\
         <dt>Duration</dt><dd>{took}</dd>",
        id = run.id,
        playbook_id = esc(&run.playbook_id),
        alert = super::alert::facts(&state, &detail),
        trigger = esc(&trigger_name),
        trigger_id = esc(&run.trigger_node),
        queued = time(run.queued_at_ms),
        started = time_opt(run.started_at_ms),
        ended = time_opt(run.ended_at_ms),
        took = run
            .started_at_ms
            .map_or_else(String::new, |started| duration_between(
                started,
                run.ended_at_ms
            )),
    );
    if let Some(instance) = &run.ran_by {
        let _ = write!(
            body,
            "<dt>Instance</dt><dd class=\"instance\">{}</dd>",
            esc(instance)
        );
    }
    if let Some(error) = &run.error {
        let _ = write!(
            body,
            "<dt>Error</dt><dd class=\"error\">{}</dd>",
            esc(error)
        );
    }
    body.push_str("</dl><div class=\"run-actions\">");
    let data = format!(
        "data-run-id=\"{}\" data-playbook-id=\"{}\"",
        run.id,
        esc(&run.playbook_id)
    );
    let rerun_label = if run.status == RunStatus::Dead {
        "Replay"
    } else {
        "Rerun all"
    };
    let _ = write!(
        body,
        "<button id=\"rerun-all\" type=\"button\" {data}>{rerun_label}</button>"
    );
    if run.is_unhandled_dead_letter() {
        let _ = write!(
            body,
            "<button id=\"dismiss\" type=\"button\" {data}>Dismiss</button>"
        );
    }
    if run.status == RunStatus::Failed {
        let _ = write!(
            body,
            "<button id=\"rerun-failed\" type=\"button\" {data}>Rerun failed nodes</button>"
        );
    }
    body.push_str(
        "<p id=\"action-message\" class=\"message\" role=\"status\" hidden></p></div></section>",
    );

    body.push_str("<div class=\"run-body\"><div class=\"graph-wrap\">");
    match playbook {
        Some(playbook) => body.push_str(&graph::svg(playbook, &graph_state)),
        None => body.push_str(
            "<p class=\"muted\">The playbook of this run is no longer deployed: no graph.</p>",
        ),
    }
    body.push_str(
        "<p class=\"hint\">Select a node to see what it did: the requests it sent and the \
         answers it got, its arguments, results, logs and error.</p>\
         <ul class=\"legend\">\
         <li data-status=\"succeeded\">succeeded</li><li data-status=\"failed\">failed</li>\
         <li data-status=\"stopped\">stopped here</li><li data-status=\"waiting\">waiting for a retry</li><li data-status=\"running\">running</li>\
         <li data-status=\"skipped\">skipped</li><li data-status=\"not-reached\">not reached</li>\
         </ul></div>\
         <aside id=\"node-panel\" aria-live=\"polite\" hidden></aside></div>",
    );

    body.push_str(&node_runs_table(&detail));
    body.push_str(&templates(&state, &detail, playbook, &graph_state));
    let title = match run.alert.as_ref().and_then(|a| a.short_id.as_deref()) {
        Some(short_id) => format!("Run {} · {short_id}", run.id),
        None => format!("Run {}", run.id),
    };
    page(layout(&title, Section::Runs, &body))
}

/// The node runs in `seq` order, each opening its node's detail.
fn node_runs_table(detail: &RunDetail) -> String {
    let mut out = String::from(
        "<h2>Node runs</h2><table id=\"node-runs\"><thead><tr><th>#</th><th>Node</th>\
         <th>Status</th><th>Started</th><th>Duration</th></tr></thead><tbody>",
    );
    for record in &detail.nodes {
        let status = record_status(record, detail.run.status);
        let _ = write!(
            out,
            "<tr data-seq=\"{seq}\" data-node-id=\"{id}\" data-status=\"{status}\"><td>{seq}</td>\
             <td><a href=\"#node-{id_q}\" class=\"open-node\" data-node-id=\"{id}\" \
             data-seq=\"{seq}\">{name}</a>{iteration}</td>\
             <td><span class=\"status\" data-status=\"{status}\">{status}</span></td>\
             <td>{started}</td><td>{took}</td></tr>",
            seq = record.seq,
            id = esc(&record.id),
            id_q = esc(&query_value(&record.id)),
            name = esc(&record.name),
            iteration = if record.iteration.is_empty() {
                String::new()
            } else {
                format!(
                    " <span class=\"muted\">{}</span>",
                    esc(&iteration_label(record, 0))
                )
            },
            started = time(record.started_at_ms),
            took = record.duration_ms.map_or_else(
                || duration_between(record.started_at_ms, record.ended_at_ms),
                duration
            ),
        );
    }
    if detail.nodes.is_empty() {
        out.push_str("<tr class=\"empty\"><td colspan=\"5\">No node ran.</td></tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// `iteration 2` (loop index 1), `iteration 1.3` in nested loops, `run 2` outside loops.
fn iteration_label(record: &NodeRecord, position: usize) -> String {
    if record.iteration.is_empty() {
        return format!("run {}", position + 1);
    }
    let indices: Vec<String> = record
        .iteration
        .iter()
        .map(|i| (i + 1).to_string())
        .collect();
    format!("iteration {}", indices.join("."))
}

/// One `<template data-node-id=…>` per node of the playbook (and per node that ran but is
/// no longer in it), holding what the side panel shows.
fn templates(
    state: &AppState,
    detail: &RunDetail,
    playbook: Option<&Playbook>,
    graph: &RunGraph<'_>,
) -> String {
    let mut ids: Vec<(String, String)> = playbook
        .map(|p| {
            p.nodes()
                .values()
                .map(|n| (n.id.clone(), n.name.clone()))
                .collect()
        })
        .unwrap_or_default();
    for record in &detail.nodes {
        if !ids.iter().any(|(id, _)| *id == record.id) {
            ids.push((record.id.clone(), record.name.clone()));
        }
    }
    let mut out = String::new();
    for (id, name) in ids {
        let records = graph.records(&id);
        let status = node_status(records, detail.run.status);
        let what = playbook
            .and_then(|p| p.node(&id))
            .map(|n| super::describe(state, n))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<template data-node-id=\"{id_e}\" class=\"node-detail\">\
             <button type=\"button\" class=\"close\" aria-label=\"Close\">×</button>\
             <h2 class=\"node-name\">{name}</h2>\
             <p class=\"node-meta\"><span class=\"status\" data-status=\"{status}\">{status}</span> \
             node {id_e}{what}</p>",
            id_e = esc(&id),
            name = esc(&name),
            what = if what.is_empty() {
                String::new()
            } else {
                format!(" · {}", esc(&what))
            },
        );
        if records.len() > 1 {
            out.push_str("<ol class=\"iterations\">");
            for (i, record) in records.iter().enumerate() {
                let current = if i == 0 { " class=\"current\"" } else { "" };
                let _ = write!(
                    out,
                    "<li><a data-seq=\"{}\" href=\"#\" data-status=\"{}\"{current}>{}</a></li>",
                    record.seq,
                    record_status(record, detail.run.status),
                    esc(&iteration_label(record, i)),
                );
            }
            out.push_str("</ol>");
        }
        if records.is_empty() {
            out.push_str(&record_html(None, None, detail.run.status, false));
        }
        for (i, record) in records.iter().enumerate() {
            let retry = detail.retries.iter().find(|r| r.seq == record.seq);
            out.push_str(&record_html(Some(record), retry, detail.run.status, i > 0));
        }
        out.push_str("</template>");
    }
    out
}

/// The timeline and the parts of one node run (or of a node that did not run): its error,
/// the requests it sent with their answers, its arguments, results and logs.
fn record_html(
    record: Option<&NodeRecord>,
    retry: Option<&RetryState>,
    run: RunStatus,
    hidden: bool,
) -> String {
    let hidden = if hidden { " hidden" } else { "" };
    let Some(record) = record else {
        return format!(
            "<div class=\"record\" data-seq=\"\"{hidden}>\
             <p class=\"muted\">This node did not run in this run.</p></div>"
        );
    };
    let status = record_status(record, run);
    let attempts = record.attempts.max(retry.map_or(0, |r| r.attempts));
    let mut out = format!(
        "<div class=\"record\" data-seq=\"{seq}\" data-status=\"{status}\"{hidden}>\
         <dl class=\"timeline\"><dt>Started</dt><dd>{started}</dd><dt>Finished</dt>\
         <dd>{ended}</dd><dt>Duration</dt><dd>{took}</dd><dt>Attempts</dt>\
         <dd class=\"attempts\">{attempts}</dd>",
        seq = record.seq,
        started = time(record.started_at_ms),
        ended = time_opt(record.ended_at_ms),
        took = record.duration_ms.map_or_else(
            || duration_between(record.started_at_ms, record.ended_at_ms),
            duration
        ),
        attempts = if attempts == 0 {
            "—".to_owned()
        } else {
            attempts.to_string()
        },
    );
    if let Some(next) = retry.and_then(|r| r.next_attempt_at_ms) {
        let _ = write!(out, "<dt>Next attempt</dt><dd>{}</dd>", time(next));
    }
    out.push_str("</dl>");
    if let Some(error) = record
        .error
        .as_deref()
        .or(retry.and_then(|r| r.last_error.as_deref()))
    {
        let _ = write!(
            out,
            "<section data-part=\"error\"><h3>Error</h3><pre>{}</pre></section>",
            esc(error)
        );
    }
    let delivered = !record.exchanges.is_empty();
    if delivered {
        out.push_str(&exchanges_html(&record.exchanges));
    }
    let _ = write!(
        out,
        "<section data-part=\"arguments\"><h3>Arguments</h3>{}</section>",
        json::tree(Some(&record.arguments))
    );
    let results = json::tree(record.results.as_ref());
    if delivered {
        // What was sent is above; the results are what later nodes of the playbook read.
        let _ = write!(
            out,
            "<section data-part=\"results\"><details><summary><h3>Results</h3> \
             <span class=\"muted\">what later nodes read</span></summary>{results}</details>\
             </section>"
        );
    } else {
        let _ = write!(
            out,
            "<section data-part=\"results\"><h3>Results</h3>{results}</section>"
        );
    }
    let _ = write!(
        out,
        "<section data-part=\"logs\"><h3>Logs</h3>{}</section></div>",
        logs_html(record)
    );
    out
}

/// The requests a node sent, each with its answer: the last one open.
fn exchanges_html(exchanges: &[Exchange]) -> String {
    let mut out = format!(
        "<section data-part=\"requests\"><h3>Requests sent <span class=\"muted\">({})</span></h3>",
        exchanges.len()
    );
    for (i, exchange) in exchanges.iter().enumerate() {
        let (outcome, answer_line, answer) = match &exchange.answer {
            Answer::Response { status, body } => {
                let reason = StatusCode::from_u16(*status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or_default();
                let outcome = if (200..300).contains(status) {
                    "ok"
                } else {
                    "failed"
                };
                (
                    outcome,
                    format!("{status} {reason}"),
                    json::tree(Some(body)),
                )
            }
            Answer::Failed { error } => (
                "failed",
                "no answer".to_owned(),
                format!("<pre class=\"answer-error\">{}</pre>", esc(error)),
            ),
        };
        let open = if i + 1 == exchanges.len() {
            " open"
        } else {
            ""
        };
        let _ = write!(
            out,
            "<details class=\"exchange\" data-outcome=\"{outcome}\"{open}><summary>\
             <span class=\"n\">{n}</span> <span class=\"method\">{method}</span> \
             <code class=\"url\">{url}</code> <span class=\"answer-status\" \
             data-outcome=\"{outcome}\">{answer_line}</span> {at}</summary>\
             <div class=\"answer\"><h4>Answer</h4>{answer}</div>\
             <div class=\"request-body\"><h4>Request body</h4>{request}</div></details>",
            n = i + 1,
            method = esc(&exchange.request.method),
            url = esc(&exchange.request.url),
            at = time(exchange.at_ms),
            request = json::tree(Some(&exchange.request.body)),
        );
    }
    out.push_str("</section>");
    out
}

/// A node run's log lines, or `—`.
fn logs_html(record: &NodeRecord) -> String {
    if record.logs.is_empty() {
        return "<p class=\"none\">—</p>".to_owned();
    }
    let lines: Vec<String> = record
        .logs
        .iter()
        .map(|line| {
            let at = i64::try_from(line.at_ms)
                .ok()
                .and_then(chrono::DateTime::from_timestamp_millis)
                .map(|t| t.format("%H:%M:%S%.3f").to_string())
                .unwrap_or_default();
            let level = match line.level {
                LogLevel::Info => "info",
                LogLevel::Warn => "warn",
                LogLevel::Error => "error",
            };
            format!(
                "<span class=\"log-line\" data-level=\"{level}\">{at} {level:<5} {}</span>",
                esc(&line.message)
            )
        })
        .collect();
    format!("<pre class=\"logs\">{}</pre>", lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: NodeStatus) -> NodeRecord {
        NodeRecord {
            seq: 0,
            id: "3".to_owned(),
            name: "n".to_owned(),
            status,
            started_at_ms: 0,
            ended_at_ms: None,
            duration_ms: None,
            arguments: serde_json::Value::Null,
            results: None,
            error: None,
            logs: Vec::new(),
            outputs: Vec::new(),
            iteration: Vec::new(),
            dry_run_writes: Vec::new(),
            attempts: 0,
            exchanges: Vec::new(),
        }
    }

    #[test]
    fn a_node_shows_its_most_telling_state() {
        let ok = record(NodeStatus::Succeeded);
        let failed = record(NodeStatus::Failed);
        let running = record(NodeStatus::Running);
        assert_eq!(node_status(&[], RunStatus::Succeeded), "not-reached");
        assert_eq!(node_status(&[&ok], RunStatus::Succeeded), "succeeded");
        assert_eq!(node_status(&[&ok, &failed], RunStatus::Failed), "failed");
        assert_eq!(node_status(&[&running], RunStatus::Running), "running");
        assert_eq!(node_status(&[&running], RunStatus::Cancelled), "stopped");
        assert_eq!(node_status(&[&ok, &running], RunStatus::Failed), "stopped");
    }
}
