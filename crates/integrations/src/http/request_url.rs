//! The Request URL action.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use alertsync_engine::http::{USER_AGENT, build_request, retry_after};
use alertsync_engine::retry::with_retries;
use alertsync_engine::{
    Action, ActionContext, ActionError, ActionManifest, ActionOutput, RetryPolicy,
};
use async_trait::async_trait;
use reqwest::{Request, Response};
use serde_json::{Value, json};

use super::request::RequestSpec;
use super::response::response_results;

pub const ACTION_UUID: &str = "40bcf3c0-aa8b-4111-9b4e-f3caffccb4e5";

/// Network errors are retried this many times in all, whatever the node's policy allows more.
const MAX_ATTEMPTS: u32 = 5;
/// Backoff bounds for those retries (the node's policy may make them shorter).
const FIRST_DELAY: Duration = Duration::from_secs(1);
const LONGEST_DELAY: Duration = Duration::from_secs(10);

/// Sends one HTTP request.
pub struct RequestUrl {
    manifest: ActionManifest,
}

impl RequestUrl {
    pub fn new() -> Self {
        Self {
            manifest: ActionManifest {
                uuid: ACTION_UUID,
                name: "Request URL",
                slug: "request_url",
                command: "request",
                description: "Send an HTTP request and return the response",
                arguments: json!({
                    "type": "object",
                    "properties": {
                        "url": {"type": "string", "description": "The URL to request"},
                        "method": {"type": "string", "description": "get, post, put, patch, head or delete (any case)"},
                        "headers": {"type": ["object", "string"], "description": "Request headers"},
                        "auth_type": {"type": "string", "description": "None, Basic, Digest or Bearer"},
                        "auth_token": {"type": "string", "description": "Token for Bearer authentication"},
                        "auth_username": {"type": "string", "description": "User name for Basic authentication"},
                        "auth_password": {"type": "string", "description": "Password for Basic authentication"},
                        "data": {"type": "string", "description": "Raw request body"},
                        "json": {"description": "JSON request body (a string holding JSON is accepted)"},
                        "params": {"description": "Query parameters: an object, a string holding a JSON object, or a query string (a=1&b=2)"},
                        "fail_on_http_error": {"type": "boolean", "default": true, "description": "Fail the node on a non-2xx status (results are still recorded)"},
                        "verify_ssl": {"type": "boolean", "default": true, "description": "Verify the server's TLS certificate"},
                        "timeout": {"type": "number", "default": 30, "description": "Seconds the request may take"},
                        "retry_on_status": {"type": "array", "items": {"type": "integer"}, "description": "HTTP statuses to retry like network errors"}
                    },
                    "required": ["url", "method"]
                }),
                secrets: vec!["auth_token", "auth_password"],
                results: json!({
                    "type": "object",
                    "properties": {
                        "reason": {"type": "string"}, "status_code": {"type": "integer"}, "url": {"type": "string"},
                        "headers": {"type": "object"}, "encoding": {"type": ["string", "null"]},
                        "elapsed": {"type": "number"}, "text": {"type": "string"}, "json": {}
                    }
                }),
                outputs: Vec::new(),
            },
        }
    }
}

impl Default for RequestUrl {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Action for RequestUrl {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let spec = RequestSpec::from_args(&args)?;
        let what = format!("HTTP {} {}", spec.method, spec.url);
        let outcome =
            with_retries(&retry_policy(cx), cx, &what, || attempt(cx, &spec, &what)).await;
        let results = match outcome {
            Ok(results) => results,
            // A status retried in vain: its response is the answer.
            Err(ActionError {
                results: Some(results),
                http_status: Some(_),
                ..
            }) => *results,
            Err(err) => return Err(err),
        };
        let status = results["status_code"].as_u64().unwrap_or_default();
        cx.log.info(format!(
            "{what}: {status} {}",
            results["reason"].as_str().unwrap_or_default()
        ));
        if spec.fail_on_http_error && !(200..300).contains(&status) {
            let mut err = ActionError::permanent(format!(
                "{what}: HTTP {status} {}",
                results["reason"].as_str().unwrap_or_default()
            ))
            .with_results(results);
            err.http_status = u16::try_from(status).ok();
            return Err(err);
        }
        Ok(ActionOutput::new(results))
    }
}

/// The node's retry policy, within Request URL's bounds (5 attempts, 1–10 s).
fn retry_policy(cx: &ActionContext) -> RetryPolicy {
    RetryPolicy {
        max_attempts: cx.retry.max_attempts.min(MAX_ATTEMPTS),
        initial_delay: cx.retry.initial_delay.min(FIRST_DELAY),
        max_delay: cx.retry.max_delay.min(LONGEST_DELAY),
        max_age: cx.retry.max_age,
    }
}

/// One try: a network error, or a status in `retry_on_status`, is transient.
async fn attempt(cx: &ActionContext, spec: &RequestSpec, what: &str) -> Result<Value, ActionError> {
    let request = build_request(
        spec.apply(cx.http.request(spec.method.clone(), spec.url.as_str())),
        what,
    )?;
    let started = Instant::now();
    let response = send(cx, request, spec.verify_ssl, what).await?;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let retry_after = retry_after(&response);
    let results = response_results(response, elapsed, cx.max_response_bytes, what).await?;
    if spec.retry_on_status.contains(&status) {
        let mut err = ActionError::transient(format!("{what}: HTTP {status}"), retry_after)
            .with_results(results);
        err.http_status = Some(status);
        return Err(err);
    }
    Ok(results)
}

/// Sends through the shared client, or through one that accepts any certificate when
/// `verify_ssl` is false.
pub(super) async fn send(
    cx: &ActionContext,
    request: Request,
    verify_ssl: bool,
    what: &str,
) -> Result<Response, ActionError> {
    if verify_ssl {
        return cx.http.send(request, what).await;
    }
    let client =
        unverified_client().map_err(|why| ActionError::permanent(format!("{what}: {why}")))?;
    client.execute(request).await.map_err(|e| {
        let e = e.without_url();
        let mut message = format!("{what}: request failed: {e}");
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            message.push_str(&format!(": {c}"));
            cause = c.source();
        }
        ActionError::transient(message, None)
    })
}

/// Why the client for `verify_ssl: false` could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build an HTTP client without certificate checks: {0}")]
struct UnverifiedClientError(#[source] reqwest::Error);

/// The client for `verify_ssl: false`, built once.
fn unverified_client() -> Result<&'static reqwest::Client, &'static UnverifiedClientError> {
    static CLIENT: OnceLock<Result<reqwest::Client, UnverifiedClientError>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .user_agent(USER_AGENT)
                .danger_accept_invalid_certs(true)
                .connect_timeout(Duration::from_secs(10))
                .build()
                .map_err(UnverifiedClientError)
        })
        .as_ref()
}
