//! Posting JSON to a destination (PagerDuty, Mattermost, an intake): retried on network
//! errors, 429 and 5xx; other statuses fail at once with the server's message.

use alertsync_engine::http::{build_request, check_status};
use alertsync_engine::retry::with_retries;
use alertsync_engine::{ActionContext, ActionError};
use reqwest::{Method, Response};
use serde_json::Value;

/// POSTs `body` to `url`. `what` names the request in logs and errors and must be free of
/// secrets (a capability URL must not appear in it).
pub async fn post_json(
    cx: &ActionContext,
    url: &str,
    what: &str,
    body: &Value,
) -> Result<Response, ActionError> {
    with_retries(&cx.retry, cx, what, || async {
        let request = build_request(cx.http.request(Method::POST, url).json(body), what)?;
        let response = cx.http.send(request, what).await?;
        check_status(response, what).await
    })
    .await
}
