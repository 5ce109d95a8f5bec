//! The HTTP client every action sends through.
//!
//! One place for: the `User-Agent`, timeouts, connection reuse, classifying a response or a
//! network error as transient or permanent (with the server's message), reading answers
//! within a size limit ([`read_body`]), dry runs — where reads (GET) go out but every
//! write is recorded instead of sent — and the record of what each write sent and got back
//! ([`Exchange`]), so a run shows the request a destination received and its answer.

use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use reqwest::{Method, Request, Response, ResponseBuilderExt, StatusCode};
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

/// How much of an answer an [`Exchange`] keeps (the action reads all of it).
const KEPT_ANSWER_BYTES: usize = 64 * 1024;

/// A write request (any method but GET) as recorded: its method, URL and body (JSON, or
/// the text when it is not JSON). Headers are never recorded: they carry credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedWrite {
    pub method: String,
    pub url: String,
    pub body: Value,
}

impl RecordedWrite {
    fn of(request: &Request) -> Self {
        Self {
            method: request.method().to_string(),
            // The full URL: secrets in it (a key in the path) are masked with the run's
            // record.
            url: request.url().to_string(),
            body: body_value(
                request
                    .body()
                    .and_then(|b| b.as_bytes())
                    .unwrap_or_default(),
            ),
        }
    }
}

/// A write request an action sent and what came back, attempts included: each retry is an
/// exchange of its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    /// When the request was sent (Unix ms).
    pub at_ms: u64,
    pub request: RecordedWrite,
    pub answer: Answer,
}

/// What a write request got back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Answer {
    /// An HTTP answer: its status and body (JSON, or its text; the first 64 KiB).
    Response { status: u16, body: Value },
    /// No answer: the request or the reading of its answer failed.
    Failed { error: String },
}

/// Why the HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientBuildError(#[source] reqwest::Error);

/// A cheap-to-clone handle on the shared connection pool.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    /// Dry runs: writes recorded instead of sent.
    recorder: Option<Arc<Mutex<Vec<RecordedWrite>>>>,
    /// Real runs: writes sent and recorded with their answers.
    exchanges: Option<Arc<Mutex<Vec<Exchange>>>>,
    limits: RateLimits,
    max_response_bytes: u64,
}

impl HttpClient {
    /// Builds the client (rustls with the ring provider, 30 s default timeout).
    pub fn new() -> Result<Self, ClientBuildError> {
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
            .map_err(ClientBuildError)?;
        Ok(Self {
            client,
            recorder: None,
            exchanges: None,
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
            recorder: Some(Arc::default()),
            exchanges: None,
            ..self.clone()
        }
    }

    /// A client sharing the same pool that records every write it sends with its answer
    /// ([`HttpClient::exchanges`]); a dry-run client stays one.
    pub fn recording(&self) -> Self {
        if self.is_dry_run() {
            return self.dry_run();
        }
        Self {
            exchanges: Some(Arc::default()),
            ..self.clone()
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

    /// The writes a recording client sent, with their answers, in order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.exchanges
            .as_ref()
            .map(|e| e.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .unwrap_or_default()
    }

    /// Starts building a request (send it with [`HttpClient::send`]).
    pub fn request(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        self.client.request(method, url)
    }

    /// Sends a request. Network errors are transient; any HTTP status is returned as is
    /// (classify it with [`check_status`]). `what` names the request in errors and must be
    /// free of secrets.
    ///
    /// A recording client ([`HttpClient::recording`]) reads the answer of a write at once
    /// (within the client's size limit) to record it, and hands the action the same answer.
    pub async fn send(&self, request: Request, what: &str) -> Result<Response, ActionError> {
        let write = request.method() != Method::GET;
        if let (Some(recorder), true) = (&self.recorder, write) {
            return Ok(record_write(recorder, request));
        }
        let Some(exchanges) = self.exchanges.as_ref().filter(|_| write) else {
            return self.execute(request, what).await;
        };
        let at_ms = crate::now_ms();
        let sent = RecordedWrite::of(&request);
        let result = match self.execute(request, what).await {
            Ok(response) => buffered(response, self.max_response_bytes, what).await,
            Err(err) => Err(err),
        };
        let answer = match &result {
            Ok((response, body)) => Answer::Response {
                status: response.status().as_u16(),
                body: body.clone(),
            },
            Err(err) => Answer::Failed {
                error: err.message.clone(),
            },
        };
        exchanges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Exchange {
                at_ms,
                request: sent,
                answer,
            });
        result.map(|(response, _)| response)
    }

    async fn execute(&self, request: Request, what: &str) -> Result<Response, ActionError> {
        self.client.execute(request).await.map_err(|e| {
            ActionError::transient(format!("{what}: {}", describe_network_error(e)), None)
        })
    }
}

/// Reads a whole answer (at most `limit` bytes, as [`read_body`]): the same answer again,
/// for the action, and its body as an [`Exchange`] keeps it.
async fn buffered(
    response: Response,
    limit: u64,
    what: &str,
) -> Result<(Response, Value), ActionError> {
    let status = response.status();
    let version = response.version();
    let url = response.url().clone();
    let headers = response.headers().clone();
    let bytes = read_body(response, limit, what).await?;
    let kept = if bytes.len() <= KEPT_ANSWER_BYTES {
        body_value(&bytes)
    } else {
        let text = String::from_utf8_lossy(&bytes[..KEPT_ANSWER_BYTES]);
        Value::String(format!(
            "{}… [{} bytes in all; the first {KEPT_ANSWER_BYTES} are kept]",
            text.trim_end_matches('\u{fffd}'),
            bytes.len()
        ))
    };
    let mut again = http::Response::builder()
        .status(status)
        .version(version)
        .url(url);
    if let Some(all) = again.headers_mut() {
        *all = headers;
    }
    let again = again
        .body(bytes)
        .map_err(|e| ActionError::permanent(format!("{what}: cannot keep the answer: {e}")))?;
    Ok((Response::from(again), kept))
}

/// A request or answer body as recorded: its JSON, else its text; `null` when empty.
fn body_value(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

fn record_write(recorder: &Mutex<Vec<RecordedWrite>>, request: Request) -> Response {
    let write = RecordedWrite::of(&request);
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

/// The request `builder` makes; a failure is permanent and names `what`, the URL left out
/// of its cause (`what` names it, with its secrets masked).
pub fn build_request(builder: reqwest::RequestBuilder, what: &str) -> Result<Request, ActionError> {
    builder.build().map_err(|e| {
        ActionError::permanent(format!(
            "{what}: cannot build the request: {}",
            e.without_url()
        ))
    })
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

    use reqwest::Method;
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::{Answer, HttpClient, read_body, retry_after};

    /// A server on a loopback port answering each connection with `answer` (a whole HTTP
    /// response); returns its URL.
    async fn answering(answer: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = vec![0; 64 * 1024];
                let _ = stream.read(&mut request).await;
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        format!("http://{address}/events/key-in-path")
    }

    #[tokio::test]
    async fn a_recording_client_keeps_each_write_with_its_answer_and_hands_the_answer_on() {
        let url = answering(
            "HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: 23\r\n\
             connection: close\r\n\r\n{\"alertKey\":\"AL-12345\"}",
        )
        .await;
        let http = HttpClient::new().unwrap().recording();
        let request = http
            .request(Method::POST, &url)
            .json(&json!({"summary": "disk full"}))
            .build()
            .unwrap();
        let response = http.send(request, "POST the event").await.unwrap();
        assert_eq!(response.status(), 202);
        assert_eq!(response.url().as_str(), url, "the answer keeps its URL");
        let body = read_body(response, 1024, "POST the event").await.unwrap();
        assert_eq!(
            body, br#"{"alertKey":"AL-12345"}"#,
            "the action reads the same answer"
        );
        let read = http.request(Method::GET, &url).build().unwrap();
        http.send(read, "GET").await.unwrap();

        let exchanges = http.exchanges();
        assert_eq!(exchanges.len(), 1, "reads are not recorded: {exchanges:?}");
        assert_eq!(exchanges[0].request.method, "POST");
        assert_eq!(exchanges[0].request.url, url);
        assert_eq!(exchanges[0].request.body, json!({"summary": "disk full"}));
        assert_eq!(
            exchanges[0].answer,
            Answer::Response {
                status: 202,
                body: json!({"alertKey": "AL-12345"})
            }
        );
        assert!(
            HttpClient::new()
                .unwrap()
                .recording()
                .dry_run()
                .exchanges()
                .is_empty(),
            "a dry run sends nothing to record"
        );
    }

    #[tokio::test]
    async fn a_write_that_gets_no_answer_is_recorded_with_its_error() {
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/events", closed.local_addr().unwrap());
        drop(closed);
        let http = HttpClient::new().unwrap().recording();
        let request = http
            .request(Method::PUT, &url)
            .body("plain")
            .build()
            .unwrap();
        let err = http.send(request, "PUT the event").await.unwrap_err();
        assert!(err.is_transient(), "{err}");
        let exchanges = http.exchanges();
        assert_eq!(exchanges[0].request.body, json!("plain"));
        assert_eq!(exchanges[0].answer, Answer::Failed { error: err.message });
    }

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
