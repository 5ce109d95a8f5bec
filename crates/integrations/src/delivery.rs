//! Posting JSON to a destination (ilert, PagerDuty, Mattermost, an intake): each attempt
//! waits for the destination's quota when it has one, and is retried on network errors, 429
//! and 5xx; other statuses fail at once with the server's message, and with what a 404
//! means at the destination when it says. Every attempt goes through the action's HTTP
//! client, which records what it sent and got back.

use alertsync_engine::http::{build_request, check_status, read_body};
use alertsync_engine::retry::with_retries;
use alertsync_engine::{ActionContext, ActionError};
use reqwest::{Method, Response};
use serde_json::Value;

/// A JSON POST to a destination.
pub struct JsonPost<'a> {
    url: &'a str,
    /// Names the request in logs and errors; free of secrets (a capability URL or a key in
    /// the URL must not appear in it).
    what: &'a str,
    /// The quota each attempt waits for: the destination's kind and key, as
    /// [`alertsync_engine::http::HttpClient::throttle`] takes them.
    quota: Option<(&'a str, &'a str)>,
    /// What a 404 answer means at the destination.
    not_found: Option<&'a str>,
}

impl<'a> JsonPost<'a> {
    /// A POST to `url`, named `what` (free of secrets) in logs and errors.
    pub fn new(url: &'a str, what: &'a str) -> Self {
        Self {
            url,
            what,
            quota: None,
            not_found: None,
        }
    }

    /// Each attempt first waits until one more request to `key` of destination `kind` fits
    /// its quota.
    pub fn throttled(self, kind: &'a str, key: &'a str) -> Self {
        Self {
            quota: Some((kind, key)),
            ..self
        }
    }

    /// A 404 answer fails with `meaning` after the server's message.
    pub fn explaining_not_found(self, meaning: &'a str) -> Self {
        Self {
            not_found: Some(meaning),
            ..self
        }
    }

    /// POSTs `body`, retrying transient failures as the action's retry policy allows;
    /// answers the destination's 2xx response.
    pub async fn send(&self, cx: &ActionContext, body: &Value) -> Result<Response, ActionError> {
        with_retries(&cx.retry, cx, self.what, || async {
            if let Some((kind, key)) = self.quota {
                cx.http.throttle(kind, key).await;
            }
            let request = build_request(
                cx.http.request(Method::POST, self.url).json(body),
                self.what,
            )?;
            let response = cx.http.send(request, self.what).await?;
            check_status(response, self.what)
                .await
                .map_err(|err| self.explained(err))
        })
        .await
    }

    /// `err` with what a 404 means at the destination, when it says.
    fn explained(&self, err: ActionError) -> ActionError {
        match (err.http_status, self.not_found) {
            (Some(404), Some(meaning)) => ActionError {
                message: format!("{}: {meaning}", err.message),
                ..err
            },
            _ => err,
        }
    }
}

/// The JSON a destination answered a post it accepted with; `null` when the answer is not
/// JSON or cannot be read: the body was accepted all the same, and is not sent again.
pub async fn accepted_answer(cx: &ActionContext, response: Response, what: &str) -> Value {
    read_body(response, cx.max_response_bytes, what)
        .await
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null)
}
