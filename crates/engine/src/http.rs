//! The HTTP client every action sends through.
//!
//! One place for: the `User-Agent`, timeouts, connection reuse, classifying a response or a
//! network error as transient or permanent (with the server's message), reading answers
//! within a size limit ([`read_body`]), and dry runs — where reads (GET) go out but every
//! write is recorded instead of sent.

use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use reqwest::{Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::action::ActionError;
use crate::ratelimit::RateLimits;

/// `User-Agent` of every request alertsync sends.
pub const USER_AGENT: &str = concat!("alertsync/", env!("CARGO_PKG_VERSION"));

/// The largest response body an action reads unless configured otherwise: 16 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;

/// How much of an error answer is read for its message.
const MAX_ERROR_BODY_BYTES: u64 = 64 * 1024;

/// A write request that a dry run recorded instead of sending.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedWrite {
    pub method: String,
    pub url: String,
    pub body: Value,
}

/// A cheap-to-clone handle on the shared connection pool.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    recorder: Option<Arc<Mutex<Vec<RecordedWrite>>>>,
    limits: RateLimits,
    max_response_bytes: u64,
}

impl HttpClient {
    /// Builds the client (rustls with the ring provider, 30 s default timeout).
    pub fn new() -> Result<Self, String> {
        static PROVIDER: Once = Once::new();
        PROVIDER.call_once(|| {
            // Another part of the process may have installed one already: either is fine.
            let _ = rustls::crypto::ring::default_provider().install_default();
        });
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self {
            client,
            recorder: None,
            limits: RateLimits::default(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        })
    }

    /// The same client, reading answers of at most `limit` bytes unless an account says
    /// otherwise.
    pub fn with_max_response_bytes(mut self, limit: u64) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// The largest answer read, unless an account says otherwise.
    pub fn max_response_bytes(&self) -> u64 {
        self.max_response_bytes
    }

    /// The same client, holding requests to the quotas of `limits`.
    pub fn with_rate_limits(mut self, limits: RateLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Waits until one more request to `key` (e.g. an ilert integration key) of destination
    /// kind `kind` (e.g. `ilert`) fits its quota. Call it before each attempt.
    pub async fn throttle(&self, kind: &str, key: &str) {
        self.limits.acquire(kind, key).await;
    }

    /// A client sharing the same pool that records writes instead of sending them.
    pub fn dry_run(&self) -> Self {
        Self {
            client: self.client.clone(),
            recorder: Some(Arc::default()),
            limits: self.limits.clone(),
            max_response_bytes: self.max_response_bytes,
        }
    }

    /// Whether writes are recorded instead of sent.
    pub fn is_dry_run(&self) -> bool {
        self.recorder.is_some()
    }

    /// The writes recorded by a dry-run client.
    pub fn recorded_writes(&self) -> Vec<RecordedWrite> {
        self.recorder
            .as_ref()
            .map(|r| r.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .unwrap_or_default()
    }

    /// Starts building a request (send it with [`HttpClient::send`]).
    pub fn request(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        self.client.request(method, url)
    }

    /// Sends a request. Network errors are transient; any HTTP status is returned as is
    /// (classify it with [`check_status`]). `what` names the request in errors and must be
    /// free of secrets.
    pub async fn send(&self, request: Request, what: &str) -> Result<Response, ActionError> {
        if let (Some(recorder), false) = (&self.recorder, request.method() == Method::GET) {
            return Ok(record_write(recorder, request));
        }
        self.client.execute(request).await.map_err(|e| {
            ActionError::transient(format!("{what}: {}", describe_network_error(e)), None)
        })
    }
}

fn record_write(recorder: &Mutex<Vec<RecordedWrite>>, request: Request) -> Response {
    let body = request
        .body()
        .and_then(|b| b.as_bytes())
        .map(|bytes| {
            serde_json::from_slice(bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
        })
        .unwrap_or(Value::Null);
    let write = RecordedWrite {
        method: request.method().to_string(),
        // The full URL: secrets in it (a key in the path) are masked with the run's record.
        url: request.url().to_string(),
        body,
    };
    recorder
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(write);
    let answer = http::Response::builder()
        .status(StatusCode::ACCEPTED)
        .header("content-type", "application/json")
        .header("x-alertsync-dry-run", "1")
        .body(r#"{"dry_run":true}"#)
        .unwrap_or_default();
    Response::from(answer)
}

/// A network error in words with its causes, without the URL (it may carry a key).
fn describe_network_error(err: reqwest::Error) -> String {
    let err = err.without_url();
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut message = kind.to_owned();
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(&err);
    while let Some(c) = cause {
        message.push_str(": ");
        message.push_str(&c.to_string());
        cause = c.source();
    }
    message
}

/// Turns a non-2xx response into the right error: 429, 408 and 5xx are transient (with the
/// server's `Retry-After`), every other status is permanent. The message carries the status
/// and the server's own message.
pub async fn check_status(response: Response, what: &str) -> Result<Response, ActionError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = retry_after(&response);
    let correlation = response
        .headers()
        .get("correlation-id")
        .and_then(|v| v.to_str().ok())
        .map(|id| format!(" (correlation-id {id})"))
        .unwrap_or_default();
    let body = read_body(response, MAX_ERROR_BODY_BYTES, what)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    let message = format!(
        "{what}: HTTP {status}{}{correlation}",
        server_message(&body)
    );
    let mut err = if status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
    {
        ActionError::transient(message, retry_after)
    } else {
        ActionError::permanent(message)
    };
    err.http_status = Some(status.as_u16());
    Err(err)
}

/// Reads a response body of at most `limit` bytes. A larger one fails permanently, naming
/// `what` (the request, free of secrets) and the limit, without reading the rest: a
/// destination answering gigabytes costs nothing more than the limit. A body cut by the
/// network fails transiently.
pub async fn read_body(
    mut response: Response,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>, ActionError> {
    let too_large = |size: String| {
        ActionError::permanent(format!(
            "{what}: the answer is {size}, larger than the {limit} bytes alertsync reads \
             (`max_response_bytes` of the account or of [delivery])"
        ))
    };
    if let Some(length) = response.content_length().filter(|length| *length > limit) {
        return Err(too_large(format!("{length} bytes")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        ActionError::transient(
            format!("{what}: reading the answer failed: {}", e.without_url()),
            None,
        )
    })? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large("more than that".to_owned()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The server's message from an error body: `message`, `error`, `detail` or the text itself.
fn server_message(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        return String::new();
    }
    let from_json = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        ["message", "error", "detail", "msg"].iter().find_map(|k| {
            v.get(k)
                .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_owned))
        })
    });
    let text = from_json.unwrap_or_else(|| body.chars().take(300).collect());
    format!(": {text}")
}

/// How long a response asks to wait before the next try: `Retry-After` as seconds or as an
/// HTTP date (a date in the past is no wait).
pub fn retry_after(response: &Response) -> Option<Duration> {
    let value = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(
        date.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::retry_after;

    fn answer(value: &str) -> reqwest::Response {
        let response = http::Response::builder()
            .status(429)
            .header(reqwest::header::RETRY_AFTER, value)
            .body(String::new())
            .expect("a response");
        reqwest::Response::from(response)
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_as_an_http_date() {
        assert_eq!(retry_after(&answer("7")), Some(Duration::from_secs(7)));
        let soon = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let wait = retry_after(&answer(&soon)).expect("a date is a wait");
        assert!(
            wait > Duration::from_secs(28) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert_eq!(
            retry_after(&answer("Sun, 06 Nov 1994 08:49:37 GMT")),
            Some(Duration::ZERO),
            "a date in the past is no wait"
        );
        assert_eq!(retry_after(&answer("soon")), None);
        assert_eq!(retry_after(&answer("-1")), None);
    }
}
