//! The banner the runs and playbooks pages open with while the service is not doing its
//! job: one line per health problem ([`crate::health::Problem`]), saying what is wrong and
//! where to act — the disabled playbook (by name, whose runs are held), the dead letters,
//! the held deliveries, the live connection, the store.

use std::fmt::Write as _;

use super::html::{esc, query_value, time};
use crate::deploy::Deployment;
use crate::health::{Problem, assess};
use crate::http::AppState;

/// The banner, or nothing when the service is healthy.
pub async fn banner(state: &AppState) -> String {
    let health = assess(&state.health).await;
    if health.problems.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "<section id=\"health-problems\" class=\"banner\" role=\"alert\">\
         <h2>alertsync is not doing all of its job</h2><ul>",
    );
    for problem in &health.problems {
        let _ = write!(
            out,
            "<li data-problem=\"{}\">{}</li>",
            problem.code(),
            describe(problem, &state.deployment)
        );
    }
    out.push_str("</ul></section>");
    out
}

/// One problem in words (HTML), with a link to where it is dealt with.
fn describe(problem: &Problem, deployment: &Deployment) -> String {
    match problem {
        Problem::LiveDisconnected {
            account,
            since_ms,
            last_error,
        } => format!(
            "The live connection of Sekoia.io account <strong>{}</strong> is down since {}{}: \
             changes are back-filled once it is up again.",
            esc(account),
            time(*since_ms),
            last_error
                .as_deref()
                .map(|e| format!(" ({})", esc(e)))
                .unwrap_or_default()
        ),
        Problem::LiveRejected {
            account,
            since_ms,
            detail,
        } => format!(
            "Sekoia.io refuses account <strong>{}</strong> since {}: {}. Fix its key or URL; \
             alertsync tries again by itself.",
            esc(account),
            time(*since_ms),
            esc(detail)
        ),
        Problem::PlaybookDisabled {
            playbook,
            reason,
            since_ms,
        } => format!(
            "Playbook <a href=\"/playbooks/{id}\">{name}</a> is disabled since {since}: \
             {reason}. <a href=\"/runs?playbook={id}&amp;status=queued\">Its runs are held</a> \
             and run, in order, once it is enabled.",
            name = esc(deployment.get(playbook).map_or(playbook, |p| &p.name)),
            since = time(*since_ms),
            reason = esc(reason),
            id = esc(&query_value(playbook))
        ),
        Problem::DeliveriesHeld {
            runs,
            oldest_since_ms,
        } => format!(
            "<a href=\"/runs?status=waiting\">{runs} run(s)</a> wait for a destination that \
             fails{}: they go on as soon as it answers.",
            oldest_since_ms
                .map(|at| format!(" (the oldest since {})", time(at)))
                .unwrap_or_default()
        ),
        Problem::DeadLetters { runs } => format!(
            "<a href=\"/runs?status=dead\">{runs} dead letter(s)</a>: runs that can never \
             succeed as they are. Open one to replay or dismiss it."
        ),
        Problem::Backlog {
            queued,
            oldest_queued_at_ms,
        } => format!(
            "<a href=\"/runs?status=queued\">{queued} run(s)</a> are queued, the oldest \
             since {}: runs are not keeping up.",
            time(*oldest_queued_at_ms)
        ),
        Problem::StoreFailing { since_ms, detail } => format!(
            "The store cannot write{}: {}.",
            since_ms
                .map(|at| format!(" since {}", time(at)))
                .unwrap_or_default(),
            esc(detail)
        ),
    }
}
