//! The audit trail: one log line (target [`TARGET`], level INFO) for every change asked of
//! the service through the API or the console — enable, disable, import, rerun, login, and
//! any other request that is not a read — saying who asked, what, on which playbook or run,
//! and how it ended. The time is the log line's own.
//!
//! Who: `api token` (an `Authorization: Bearer` header), `console session` (the session
//! cookie), `console login` (the login form) or `anyone` (no credential: a service without
//! a token, or a refused request). The token itself is never written. Refused attempts
//! (401, 403) are audited too. Webhooks are not: they start runs like any trigger and the
//! runs record them.
//!
//! It is one layer around every route ([`crate::api::wrap`]), so a handler added later is
//! audited without a line of its own.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::api::auth::COOKIE;

/// The log target of audit lines; the command line keeps it at INFO whatever the verbosity.
pub const TARGET: &str = "alertsync::audit";

/// The largest answer read to find an imported playbook's id.
const IMPORT_ANSWER_LIMIT: usize = 64 * 1024;

/// Who asked for a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    ApiToken,
    ConsoleSession,
    ConsoleLogin,
    Anyone,
}

impl Actor {
    fn of(method: &Method, path: &str, headers: &HeaderMap) -> Self {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Bearer "));
        let session = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .any(|pair| pair.trim().starts_with(&format!("{COOKIE}=")));
        match () {
            () if bearer => Self::ApiToken,
            () if *method == Method::POST && path == "/login" => Self::ConsoleLogin,
            () if session => Self::ConsoleSession,
            () => Self::Anyone,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::ApiToken => "api token",
            Self::ConsoleSession => "console session",
            Self::ConsoleLogin => "console login",
            Self::Anyone => "anyone",
        }
    }
}

/// What was asked, from the route.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    EnablePlaybook(String),
    DisablePlaybook(String),
    ImportPlaybook,
    Rerun {
        run: String,
        only_failed: bool,
    },
    Login,
    /// A change this module has no name for: the method and path say it.
    Other(String),
}

impl Change {
    /// The change a request asks for; `None` for reads, webhooks and validation.
    fn of(method: &Method, path: &str, query: Option<&str>) -> Option<Self> {
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
            || path.starts_with("/hooks/")
            || path == "/api/v1/playbooks/validate"
        {
            return None;
        }
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        Some(match (method, segments.as_slice()) {
            (&Method::POST, ["api", "v1", "playbooks", "import"]) => Self::ImportPlaybook,
            (&Method::POST, ["api", "v1", "playbooks", id, "enable"]) => {
                Self::EnablePlaybook((*id).to_owned())
            }
            (&Method::POST, ["api", "v1", "playbooks", id, "disable"]) => {
                Self::DisablePlaybook((*id).to_owned())
            }
            (&Method::POST, ["api", "v1", "runs", id, "rerun"]) => Self::Rerun {
                run: (*id).to_owned(),
                only_failed: query.is_some_and(|q| q.split('&').any(|pair| pair == "only=failed")),
            },
            (&Method::POST, ["login"]) => Self::Login,
            _ => Self::Other(format!("{method} {path}")),
        })
    }

    /// The action in a word, and what it is about.
    fn describe(&self) -> (&'static str, String) {
        match self {
            Self::EnablePlaybook(id) => ("enable playbook", id.clone()),
            Self::DisablePlaybook(id) => ("disable playbook", id.clone()),
            Self::ImportPlaybook => ("import playbook", String::new()),
            Self::Rerun {
                run,
                only_failed: false,
            } => ("rerun", format!("run {run}")),
            Self::Rerun {
                run,
                only_failed: true,
            } => ("rerun failed nodes", format!("run {run}")),
            Self::Login => ("log in", String::new()),
            Self::Other(request) => ("change", request.clone()),
        }
    }
}

/// Writes the audit line of every change, once its answer is known.
pub async fn record(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let Some(change) = Change::of(&method, &path, request.uri().query()) else {
        return next.run(request).await;
    };
    let actor = Actor::of(&method, &path, request.headers());
    let response = next.run(request).await;
    let status = response.status();
    let (action, subject) = change.describe();
    let (response, subject) = match change {
        Change::ImportPlaybook if status == StatusCode::CREATED => imported_id(response).await,
        _ => (response, subject),
    };
    let outcome = if status.is_success() || status.is_redirection() {
        "done"
    } else {
        "refused"
    };
    let about = if subject.is_empty() {
        String::new()
    } else {
        format!(" {subject}")
    };
    tracing::info!(
        target: TARGET,
        actor = actor.as_str(),
        action,
        subject = subject.as_str(),
        status = status.as_u16(),
        outcome,
        "audit: {action}{about} by {}: {outcome} ({})",
        actor.as_str(),
        status.as_u16(),
    );
    response
}

/// The id of the playbook an import answer names (`{"id": ...}`), with the answer rebuilt.
async fn imported_id(response: Response) -> (Response, String) {
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, IMPORT_ANSWER_LIMIT).await {
        Ok(bytes) => {
            let id = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("id").and_then(|id| id.as_str()).map(str::to_owned))
                .unwrap_or_default();
            (Response::from_parts(parts, Body::from(bytes)), id)
        }
        Err(_) => (
            Response::from_parts(parts, Body::empty()),
            "(answer unreadable)".to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_named_by_route_and_reads_are_not_audited() {
        let post = Method::POST;
        assert_eq!(
            Change::of(&post, "/api/v1/playbooks/pb-1/disable", None),
            Some(Change::DisablePlaybook("pb-1".to_owned()))
        );
        assert_eq!(
            Change::of(&post, "/api/v1/runs/7/rerun", Some("only=failed")),
            Some(Change::Rerun {
                run: "7".to_owned(),
                only_failed: true
            })
        );
        assert_eq!(
            Change::of(&Method::DELETE, "/api/v1/runs/7", None),
            Some(Change::Other("DELETE /api/v1/runs/7".to_owned()))
        );
        assert_eq!(Change::of(&Method::GET, "/api/v1/runs", None), None);
        assert_eq!(Change::of(&post, "/api/v1/playbooks/validate", None), None);
        assert_eq!(Change::of(&post, "/hooks/pb-1/1", None), None);
    }

    #[test]
    fn the_actor_is_the_credential_kind_never_its_value() {
        let mut headers = HeaderMap::new();
        let path = "/api/v1/runs/1/rerun";
        assert_eq!(Actor::of(&Method::POST, path, &headers), Actor::Anyone);
        headers.insert(header::COOKIE, "a=b; alertsync_session=x".parse().unwrap());
        assert_eq!(
            Actor::of(&Method::POST, path, &headers),
            Actor::ConsoleSession
        );
        headers.insert(header::AUTHORIZATION, "Bearer x".parse().unwrap());
        assert_eq!(Actor::of(&Method::POST, path, &headers), Actor::ApiToken);
    }
}
