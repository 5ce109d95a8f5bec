//! `GET /playbooks`: the deployed playbooks with their state as badges (enabled, disabled,
//! disabled after errors, configuration issues) and a switch that enables or disables them
//! through the API, under the banner of what needs someone (disabled playbooks, dead
//! letters); `GET /playbooks/{id}`: one playbook's graph and nodes, under a banner saying
//! why it is disabled when it is.
//!
//! States come from the API's views ([`api::playbooks::views`]); configuration issues are
//! the warnings validation finds with the playbook's account bindings. Node arguments are
//! not shown: a playbook file may hold secrets in them.

use std::fmt::Write as _;

use alertsync_spl::{NodeKind, Operator, Report};
use alertsync_store::RunCountFilter;
use axum::extract::{Path, State};
use axum::response::Response;

use super::graph::{self, GraphState};
use super::html::{Section, error_page, esc, layout, not_found, page, query_value, time};
use crate::api;
use crate::api::playbooks::{DISABLED_BY_API, PlaybookView};
use crate::deploy::DeployedPlaybook;
use crate::http::AppState;

/// Every node idle: a playbook's graph outside any run.
struct Idle;

impl GraphState for Idle {
    fn status(&self, _: &str) -> String {
        "idle".to_owned()
    }
}

/// What validation finds worth knowing about a deployed playbook (it has no errors, or it
/// would not be deployed).
fn issues(state: &AppState, playbook: &DeployedPlaybook) -> Vec<String> {
    let report: Report = state
        .executor
        .validate(&playbook.playbook, &playbook.bindings);
    report
        .errors
        .iter()
        .chain(report.warnings.iter())
        .map(|p| match &p.node_name {
            Some(node) => format!("{node}: {}", p.message),
            None => p.message.clone(),
        })
        .collect()
}

/// The badges of a playbook: its state, and its issues if any.
fn badges(view: &PlaybookView, issues: &[String]) -> String {
    let mut out = match view.state.as_str() {
        "enabled" => "<span class=\"badge enabled\">enabled</span>".to_owned(),
        "disabled_in_configuration" => {
            "<span class=\"badge disabled\">disabled in the configuration</span>".to_owned()
        }
        _ => {
            let reason = view.disabled_reason.as_deref().unwrap_or("disabled");
            if reason == DISABLED_BY_API {
                format!(
                    "<span class=\"badge disabled\">disabled: {}</span>",
                    esc(reason)
                )
            } else {
                // The reason is long (the last error): the banner over the page says it.
                format!(
                    "<span class=\"badge disabled-errors\" title=\"{}\">disabled after \
                     errors</span>",
                    esc(reason)
                )
            }
        }
    };
    if view.state == "enabled" && view.consecutive_failures > 0 {
        let _ = write!(
            out,
            " <span class=\"badge issues\">{} failed run(s) in a row{}</span>",
            view.consecutive_failures,
            view.last_error
                .as_deref()
                .map(|e| format!(": {}", esc(e)))
                .unwrap_or_default()
        );
    }
    if !issues.is_empty() {
        let _ = write!(
            out,
            " <span class=\"badge issues\">{}</span>",
            esc(&issues.join("; "))
        );
    }
    out
}

/// Why the playbook does not run, when it was disabled (after errors, or by someone), and
/// how many runs wait for it: a banner over its page.
fn disabled_banner(view: &PlaybookView, held: u64) -> String {
    if view.state != "disabled" {
        return String::new();
    }
    let id = esc(&query_value(&view.id));
    let held = match held {
        0 => "No run is held yet: its runs wait".to_owned(),
        1 => {
            format!("<a href=\"/runs?playbook={id}&amp;status=queued\">1 run is held</a>: it waits")
        }
        n => format!(
            "<a href=\"/runs?playbook={id}&amp;status=queued\">{n} runs are held</a>: they wait"
        ),
    };
    format!(
        "<section id=\"playbook-disabled\" class=\"banner\" role=\"alert\">\
         <h2>This playbook is disabled{since}</h2><p>Reason: {reason}</p>\
         <p>{held}, in order, until it is enabled with the switch below.</p></section>",
        since = view
            .disabled_at_ms
            .map(|at| format!(" since {}", time(at)))
            .unwrap_or_default(),
        reason = esc(view.disabled_reason.as_deref().unwrap_or("none recorded")),
    )
}

/// The enable/disable switch.
fn toggle(view: &PlaybookView) -> String {
    let enabled = view.state == "enabled";
    let (label, disabled) = match view.state.as_str() {
        "disabled_in_configuration" => (
            "Off",
            " disabled title=\"enable it in the configuration file\"",
        ),
        "enabled" => ("On", ""),
        _ => ("Off", ""),
    };
    format!(
        "<button class=\"toggle\" data-playbook-id=\"{}\" type=\"button\" data-enabled=\"{enabled}\" \
         aria-pressed=\"{enabled}\"{disabled}>{label}</button>",
        esc(&view.id)
    )
}

/// `GET /playbooks`.
pub async fn list(State(state): State<AppState>) -> Response {
    let views = match api::playbooks::views(&state).await {
        Ok(views) => views,
        Err(err) => return error_page(err),
    };
    let mut body = String::from("<h1>Playbooks</h1>");
    body.push_str(&super::health::banner(&state).await);
    body.push_str(
        "<table id=\"playbooks\"><thead><tr><th>Playbook</th><th>Triggers</th>\
         <th>State</th><th>Enabled</th><th>Runs</th></tr></thead><tbody>",
    );
    for view in &views {
        let issues = state
            .deployment
            .get(&view.id)
            .map(|p| issues(&state, p))
            .unwrap_or_default();
        let triggers: Vec<String> = view
            .triggers
            .iter()
            .map(|t| match &t.webhook {
                Some(hook) => format!("{} <code>{}</code>", esc(&t.kind), esc(hook)),
                None => esc(&t.kind),
            })
            .collect();
        let id_q = esc(&query_value(&view.id));
        let _ = write!(
            body,
            "<tr data-playbook-id=\"{id}\" data-state=\"{state}\"><td><a href=\"/playbooks/{id_q}\">{name}</a>\
             <div class=\"muted\">{file}</div></td><td>{triggers}</td><td>{badges}</td>\
             <td>{toggle}</td><td><a href=\"/runs?playbook={id_q}\">runs</a></td></tr>",
            id = esc(&view.id),
            state = esc(&view.state),
            name = esc(&view.name),
            file = esc(&view.file),
            triggers = triggers.join("<br>"),
            badges = badges(view, &issues),
            toggle = toggle(view),
        );
    }
    if views.is_empty() {
        body.push_str("<tr class=\"empty\"><td colspan=\"5\">No playbook is configured.</td></tr>");
    }
    body.push_str(
        "</tbody></table><p id=\"action-message\" class=\"message\" role=\"status\" hidden></p>",
    );
    page(layout("Playbooks", Section::Playbooks, &body))
}

/// `GET /playbooks/{id}`.
pub async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Ok(playbook) = api::playbooks::find(&state, &id) else {
        return not_found(format!("no playbook `{id}`"));
    };
    let health = match api::playbooks::health(&state, &id).await {
        Ok(health) => health,
        Err(err) => return error_page(err),
    };
    let view = api::playbooks::view(&playbook, &health);
    let issues = issues(&state, &playbook);
    let id_q = esc(&query_value(&playbook.id));
    let held = super::runs::counts(
        &state,
        RunCountFilter {
            playbook_id: Some(playbook.id.clone()),
            ..RunCountFilter::default()
        },
    )
    .await
    .map_or(0, |counted| counted.queued);
    let mut body = disabled_banner(&view, held);
    let _ = write!(
        body,
        "<section class=\"playbook-header\" data-playbook-id=\"{id}\"><h1>{name}</h1>\
         <p>{badges} {toggle}</p><dl class=\"facts\"><dt>Id</dt><dd><code>{id}</code></dd>\
         <dt>File</dt><dd>{file}</dd>",
        id = esc(&playbook.id),
        name = esc(&playbook.name),
        badges = badges(&view, &issues),
        toggle = toggle(&view),
        file = esc(&view.file),
    );
    if let Some(description) = playbook.playbook.description() {
        let _ = write!(body, "<dt>Description</dt><dd>{}</dd>", esc(description));
    }
    for trigger in view.triggers.iter().filter_map(|t| t.webhook.as_ref()) {
        let _ = write!(
            body,
            "<dt>Webhook</dt><dd><code>POST {}</code></dd>",
            esc(trigger)
        );
    }
    let _ = write!(
        body,
        "</dl><p><a href=\"/runs?playbook={id_q}\">Runs of this playbook</a> · \
         <a href=\"/api/v1/playbooks/{id_q}/export\">Export SPL</a></p>\
         <p id=\"action-message\" class=\"message\" role=\"status\" hidden></p></section>\
         <div class=\"graph-wrap\">{}</div>",
        graph::svg(&playbook.playbook, &Idle)
    );
    body.push_str(
        "<h2>Nodes</h2><table id=\"nodes\"><thead><tr><th>Id</th><th>Name</th><th>Type</th>\
         <th>Module · action or trigger</th><th>Next</th></tr></thead><tbody>",
    );
    for node in playbook.playbook.nodes().values() {
        let (_, kind) = graph::kind(node);
        let loop_start = match &node.kind {
            NodeKind::Operator(Operator::Foreach {
                loop_start: Some(start),
                ..
            }) => Some(format!("loop → {}", esc(start))),
            _ => None,
        };
        let next: Vec<String> = loop_start
            .into_iter()
            .chain(node.outputs.iter().flat_map(|(output, targets)| {
                targets.iter().map(move |t| {
                    if output == "default" {
                        esc(t)
                    } else {
                        format!("{} → {}", esc(output), esc(t))
                    }
                })
            }))
            .collect();
        let _ = write!(
            body,
            "<tr data-node-id=\"{id}\" data-kind=\"{kind}\"><td>{id}</td><td>{name}</td>\
             <td>{kind}</td><td>{what}</td><td>{next}</td></tr>",
            id = esc(&node.id),
            name = esc(&node.name),
            what = esc(&super::describe(&state, node)),
            next = next.join(", "),
        );
    }
    body.push_str("</tbody></table>");
    page(layout(&playbook.name, Section::Playbooks, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(state: &str, reason: Option<&str>, failures: u32) -> PlaybookView {
        PlaybookView {
            id: "p<1>".to_owned(),
            name: "P".to_owned(),
            file: "p.json".to_owned(),
            state: state.to_owned(),
            configured: state != "disabled_in_configuration",
            disabled_reason: reason.map(str::to_owned),
            disabled_at_ms: reason.map(|_| 1),
            consecutive_failures: failures,
            last_error: (failures > 0).then(|| "ilert answered <503>".to_owned()),
            triggers: Vec::new(),
        }
    }

    #[test]
    fn badges_tell_why_a_playbook_does_not_run() {
        assert_eq!(
            badges(&view("enabled", None, 0), &[]),
            "<span class=\"badge enabled\">enabled</span>"
        );
        let by_hand = badges(&view("disabled", Some(DISABLED_BY_API), 0), &[]);
        assert!(by_hand.contains("<span class=\"badge disabled\">disabled: disabled through"));
        let errors = badges(
            &view("disabled", Some("5 failed runs in a row: ilert <down>"), 5),
            &[],
        );
        assert!(
            errors.contains(
                "<span class=\"badge disabled-errors\" title=\"5 failed runs in a row: ilert \
                 &lt;down&gt;\">disabled after errors</span>"
            ),
            "the reason, escaped, is the badge's tooltip: {errors}"
        );
        let configured = badges(&view("disabled_in_configuration", None, 0), &[]);
        assert!(configured.contains("badge disabled\">disabled in the configuration"));
        let failing = badges(
            &view("enabled", None, 2),
            &["node 3: unused <x>".to_owned()],
        );
        assert!(failing.contains("2 failed run(s) in a row: ilert answered &lt;503&gt;"));
        assert!(failing.contains("<span class=\"badge issues\">node 3: unused &lt;x&gt;</span>"));
    }

    #[test]
    fn the_switch_shows_the_state_and_cannot_override_the_configuration() {
        let on = toggle(&view("enabled", None, 0));
        assert!(on.starts_with("<button class=\"toggle\" data-playbook-id=\"p&lt;1&gt;\""));
        assert!(on.contains("aria-pressed=\"true\"") && !on.contains(" disabled"));
        let off = toggle(&view("disabled", Some(DISABLED_BY_API), 0));
        assert!(off.contains("data-enabled=\"false\"") && !off.contains(" disabled"));
        let fixed = toggle(&view("disabled_in_configuration", None, 0));
        assert!(fixed.contains(" disabled title="));
    }
}
