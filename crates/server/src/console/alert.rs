//! How the console names a run's alert: its short id (else its UUID), title and urgency as
//! the run read them from Sekoia.io, a link to the runs of the alert, a link to the alert
//! in the Sekoia.io app of the account it came through (that account's `app_url`, else
//! derived from its `base_url`: `api.` becomes `app.`), and links to what destinations
//! made of it when their answer names it (ilert's `incidentUrl` or `alertUrl`).

use alertsync_engine::http::Answer;
use alertsync_integrations::alert::urgency_label;
use alertsync_integrations::sekoia::alert_page_of;
use alertsync_spl::NodeKind;
use alertsync_store::{RunDetail, RunSummary};
use serde_json::Value;

use super::html::esc;
use crate::http::AppState;

/// The answer fields that name the alert a destination made of an event.
const ANSWER_LINKS: [&str; 2] = ["incidentUrl", "alertUrl"];

/// A link out of the console, opened in a new tab.
struct Link {
    label: String,
    href: String,
}

impl Link {
    fn html(&self, class: &str) -> String {
        format!(
            "<a class=\"{class}\" href=\"{}\" target=\"_blank\" rel=\"noopener noreferrer\">{} ↗</a>",
            esc(&self.href),
            esc(&self.label)
        )
    }
}

/// The id the run knows its alert by: the short id when it read it, else the UUID.
fn alert_id(run: &RunSummary) -> Option<&str> {
    run.alert
        .as_ref()
        .and_then(|a| a.short_id.as_deref())
        .or(run.alert_uuid.as_deref())
}

/// The alert's page in the Sekoia.io app, through the account the run read it with (else
/// the account webhooks read alerts with).
fn sekoia_link(state: &AppState, run: &RunSummary) -> Option<Link> {
    let id = alert_id(run)?;
    let account = run
        .alert
        .as_ref()
        .and_then(|a| a.account.clone())
        .or_else(|| state.sekoia_account.clone())?;
    let account = state.executor.accounts().get(&account)?;
    Some(Link {
        label: "Sekoia.io".to_owned(),
        href: alert_page_of(account, id),
    })
}

/// The alerts the run's destinations made, as their answers name them: one link per node,
/// labelled with the node's module.
fn destination_links(state: &AppState, detail: &RunDetail) -> Vec<Link> {
    let playbook = state.deployment.get(&detail.run.playbook_id);
    detail
        .nodes
        .iter()
        .filter_map(|record| {
            let href = record
                .exchanges
                .iter()
                .rev()
                .find_map(|e| match &e.answer {
                    Answer::Response { body, .. } => answer_link(body),
                    Answer::Failed { .. } => None,
                })?;
            let module = playbook
                .and_then(|p| p.playbook.node(&record.id))
                .and_then(|node| match &node.kind {
                    NodeKind::Action { module_uuid, .. } => {
                        state.executor.registry().module(module_uuid)
                    }
                    _ => None,
                })
                .map_or_else(|| record.name.clone(), |m| m.manifest.name.to_owned());
            Some(Link {
                label: module,
                href,
            })
        })
        .collect()
}

/// An http(s) URL an answer gives for the alert it made.
fn answer_link(body: &Value) -> Option<String> {
    ANSWER_LINKS.iter().find_map(|key| {
        let url = body.get(key)?.as_str()?;
        let parsed = url::Url::parse(url).ok()?;
        matches!(parsed.scheme(), "http" | "https").then(|| parsed.to_string())
    })
}

/// The urgency as Sekoia.io names it, coloured by its level.
pub fn urgency(run: &RunSummary) -> String {
    match run.alert.as_ref().and_then(|a| a.urgency) {
        Some(value) => {
            let label = urgency_label(value);
            format!(
                "<span class=\"urgency\" data-level=\"{level}\" title=\"urgency {value}/100\">\
                 {label} <span class=\"value\">{value}</span></span>",
                level = label.to_ascii_lowercase(),
            )
        }
        None => "<span class=\"muted\">—</span>".to_owned(),
    }
}

/// The short id (or UUID) linking to the alert's runs.
fn short_id(run: &RunSummary) -> Option<String> {
    let id = alert_id(run)?;
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("alert", id);
    Some(format!(
        "<a class=\"short-id\" href=\"/runs?{}\" title=\"Every run of this alert\">{}</a>",
        esc(&query.finish()),
        esc(id)
    ))
}

/// The alert's title, if the run read it.
fn title(run: &RunSummary) -> String {
    run.alert
        .as_ref()
        .and_then(|a| a.title.as_deref())
        .map(|t| format!("<span class=\"alert-title\">{}</span>", esc(t)))
        .unwrap_or_default()
}

/// The alert of a row of the runs table: short id and Sekoia.io link, then the title.
pub fn cell(state: &AppState, run: &RunSummary) -> String {
    let Some(short_id) = short_id(run) else {
        return "<span class=\"muted\">no alert</span>".to_owned();
    };
    let link = sekoia_link(state, run)
        .map(|l| l.html("external"))
        .unwrap_or_default();
    format!("{short_id} {link}{}", title(run))
}

/// The alert in a run's header: short id, title, urgency, UUID, and every link out.
pub fn facts(state: &AppState, detail: &RunDetail) -> String {
    let run = &detail.run;
    let Some(short_id) = short_id(run) else {
        return "<span class=\"muted\">no alert</span>".to_owned();
    };
    let links: Vec<String> = sekoia_link(state, run)
        .into_iter()
        .chain(destination_links(state, detail))
        .map(|link| {
            Link {
                label: format!("Open in {}", link.label),
                ..link
            }
            .html("external")
        })
        .collect();
    let uuid = run
        .alert_uuid
        .as_deref()
        .map(|u| format!("<code class=\"uuid\">{}</code>", esc(u)))
        .unwrap_or_default();
    format!(
        "{short_id} {urgency}{title}<div class=\"alert-links\">{links} {uuid}</div>",
        urgency = urgency(run),
        title = title(run),
        links = links.join(" "),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_http_links_from_answers_are_followed() {
        assert_eq!(
            answer_link(&json!({"incidentUrl": "https://acme.ilert.com/incident/7"})).as_deref(),
            Some("https://acme.ilert.com/incident/7")
        );
        assert_eq!(
            answer_link(&json!({"alertUrl": "http://ilert.local/alert/1"})).as_deref(),
            Some("http://ilert.local/alert/1")
        );
        for body in [
            json!({"incidentUrl": "javascript:alert(1)"}),
            json!({"incidentUrl": 7}),
            json!({"alertKey": "x"}),
            json!("https://text.only"),
        ] {
            assert_eq!(answer_link(&body), None, "{body}");
        }
    }
}
