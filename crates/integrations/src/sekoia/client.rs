//! The Sekoia.io REST client: the one place that joins base URLs, authenticates, and
//! classifies errors.
//!
//! Users type base URLs as `https://api.sekoia.io`, `https://api.sekoia.io/`,
//! `https://app.usa1.sekoia.io/api`...; every resource lives at `<base>/v1/<path>` (or
//! `<base>/v2/<path>` for the threat intelligence and asset APIs).
//!
//! Paths are [`ApiPath`]s: fixed parts written in the code, and values (alert ids, job
//! uuids, ...) each percent-encoded into exactly one segment, so a value such as `../me`
//! can never reach another resource with the account's key.

use alertsync_engine::http::{HttpClient, build_request, check_status, read_body};
use alertsync_engine::retry::with_retries;
use alertsync_engine::telemetry;
use alertsync_engine::{ActionContext, ActionError, Redactor, RetryPolicy};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use serde_json::Value;

use crate::args::{UrlError, parse_http_url};

/// Why a client, or the live notifications URL, cannot be made from a base URL and a key.
#[derive(Debug, thiserror::Error)]
pub enum ClientConfigError {
    #[error("base URL {0}")]
    BaseUrl(#[source] UrlError),
    #[error("base URL has no host")]
    NoHost,
    #[error("the API key is blank")]
    BlankKey,
}

/// A client for one Sekoia.io API key and base URL.
#[derive(Clone)]
pub struct SekoiaClient {
    http: HttpClient,
    /// `<base>` as typed, without a trailing slash (the version comes with each path).
    root: String,
    base_url: String,
    api_key: String,
}

impl SekoiaClient {
    /// Checks the base URL (absolute http(s)) and the key (not blank).
    pub fn new(http: HttpClient, base_url: &str, api_key: &str) -> Result<Self, ClientConfigError> {
        parse_http_url(base_url).map_err(ClientConfigError::BaseUrl)?;
        if api_key.trim().is_empty() {
            return Err(ClientConfigError::BlankKey);
        }
        Ok(Self {
            http,
            root: base_url.trim().trim_end_matches('/').to_owned(),
            base_url: base_url.trim().to_owned(),
            api_key: api_key.trim().to_owned(),
        })
    }

    /// The base URL as the user gave it.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The full URL of a REST resource.
    pub fn url(&self, path: &ApiPath) -> String {
        format!("{}/{}", api_root(&self.root, path.version), path.path)
    }

    /// One authenticated request with a JSON answer, retried on transient failures. Counted
    /// in the metrics as a call to Sekoia.io whatever action makes it (an ilert action
    /// reading the alert it forwards is not an ilert delivery).
    pub async fn call(
        &self,
        cx: &ActionContext,
        method: Method,
        path: &ApiPath,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, ActionError> {
        self.forget_reads(cx, &method);
        let url = self.url(path);
        let what = format!("Sekoia.io {method} {url}");
        let call = with_retries(&cx.retry, cx, &what, || async {
            let request = self.request(&method, &url, query, body, &what)?;
            let response = self.http.send(request, &what).await?;
            let response = check_status(response, &what).await.map_err(explain_auth)?;
            read_json(response, cx.max_response_bytes, &what).await
        });
        telemetry::for_destination(super::SLUG, call).await
    }

    /// [`SekoiaClient::call`] answering the HTTP answer itself (status, headers and text, at
    /// most the context's `max_response_bytes`) instead of its JSON.
    pub async fn call_for_answer(
        &self,
        cx: &ActionContext,
        method: Method,
        path: &ApiPath,
        body: Option<&Value>,
    ) -> Result<Value, ActionError> {
        self.forget_reads(cx, &method);
        let url = self.url(path);
        let what = format!("Sekoia.io {method} {url}");
        with_retries(&cx.retry, cx, &what, || async {
            let request = self.request(&method, &url, &[], body, &what)?;
            let response = self.http.send(request, &what).await?;
            let response = check_status(response, &what).await.map_err(explain_auth)?;
            let status = response.status().as_u16();
            let headers: serde_json::Map<String, Value> = response
                .headers()
                .iter()
                .map(|(name, value)| {
                    let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                    (name.as_str().to_owned(), Value::String(value))
                })
                .collect();
            let body = read_body(response, cx.max_response_bytes, &what).await?;
            let text = String::from_utf8_lossy(&body).into_owned();
            Ok(serde_json::json!({"status_code": status, "headers": headers, "text": text}))
        })
        .await
    }

    /// Sends `message` as one text frame on the WebSocket that serves a resource (the
    /// resource URL with `ws`/`wss`), authenticated like REST calls, and answers the JSON of
    /// the first text frame back. Bounded in time ([`SOCKET_TIMEOUT`]) and size.
    pub async fn exchange_over_socket(
        &self,
        cx: &ActionContext,
        path: &ApiPath,
        message: &Value,
    ) -> Result<Value, ActionError> {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::{
            Message, client::IntoClientRequest, http::HeaderValue,
        };

        let url = self.url(path).replacen("http", "ws", 1);
        let what = format!("Sekoia.io WebSocket {url}");
        let failed = |why: String| ActionError::transient(format!("{what}: {why}"), None);
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| ActionError::permanent(format!("{what}: {e}")))?;
        let mut bearer = HeaderValue::from_str(&format!("Bearer {}", self.api_key))
            .map_err(|_| ActionError::permanent(format!("{what}: the API key cannot be sent")))?;
        bearer.set_sensitive(true);
        request.headers_mut().insert("authorization", bearer);
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(
                usize::try_from(cx.max_response_bytes).unwrap_or(usize::MAX),
            ));
        let exchange = async {
            let (mut socket, _) =
                tokio_tungstenite::connect_async_with_config(request, Some(config), false)
                    .await
                    .map_err(|e| failed(e.to_string()))?;
            socket
                .send(Message::text(message.to_string()))
                .await
                .map_err(|e| failed(e.to_string()))?;
            while let Some(frame) = socket.next().await {
                match frame.map_err(|e| failed(e.to_string()))? {
                    Message::Text(text) => {
                        let _ = socket.close(None).await;
                        return serde_json::from_str(text.as_str()).map_err(|e| {
                            ActionError::permanent(format!("{what}: the answer is not JSON: {e}"))
                        });
                    }
                    Message::Close(_) => break,
                    _ => {}
                }
            }
            Err(failed("closed without an answer".to_owned()))
        };
        tokio::time::timeout(SOCKET_TIMEOUT, exchange)
            .await
            .map_err(|_| failed(format!("no answer within {} s", SOCKET_TIMEOUT.as_secs())))?
    }

    fn request(
        &self,
        method: &Method,
        url: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        what: &str,
    ) -> Result<reqwest::Request, ActionError> {
        let mut request = self
            .http
            .request(method.clone(), url)
            .bearer_auth(&self.api_key)
            .query(query);
        if let Some(body) = body {
            request = request.json(body);
        }
        build_request(request, what)
    }

    /// A context for calls made outside a playbook run (live notifications, back-fill):
    /// transient failures retried per `retry`, log lines masked with this client's key.
    pub fn service_context(&self, retry: RetryPolicy) -> ActionContext {
        let mut redactor = Redactor::new();
        redactor.add(self.api_key.clone());
        let mut cx = ActionContext::new(self.http.clone(), redactor);
        cx.retry = retry;
        cx
    }

    /// `GET /v1/sic/alerts/{id}` without the optional arrays — unless the run already
    /// read the alert through this API and key (see [`SekoiaClient::get_served_alert`]).
    pub async fn get_alert(&self, cx: &ActionContext, id: &str) -> Result<Value, ActionError> {
        if let Some(alert) = self.already_read(cx, id) {
            return Ok(alert);
        }
        let flags =
            ["stix", "comments", "countermeasures", "history"].map(|f| (f, "false".to_owned()));
        self.call(cx, Method::GET, &ApiPath::alert(id), &flags, None)
            .await
    }

    /// `GET /v1/sic/alerts/{id}` as Sekoia.io serves it by default (what the alert triggers
    /// read and the forwarders send) — unless the run already read it through this API and
    /// key (its trigger did, and the run has changed nothing here since): then as it was
    /// read.
    pub async fn get_served_alert(
        &self,
        cx: &ActionContext,
        id: &str,
    ) -> Result<Value, ActionError> {
        match self.already_read(cx, id) {
            Some(alert) => Ok(alert),
            None => {
                self.call(cx, Method::GET, &ApiPath::alert(id), &[], None)
                    .await
            }
        }
    }

    /// The alert `id` as the run read it through this client's API and key, if it did.
    fn already_read(&self, cx: &ActionContext, id: &str) -> Option<Value> {
        let alert = cx.alerts_read.as_ref()?.get(&self.source(), id)?;
        cx.log
            .info(format!("alert {id}: as this run's trigger read it"));
        Some(alert)
    }

    /// What this client's API and key are known by among the alerts a run has read (see
    /// [`alertsync_engine::AlertsRead`]); it holds the key, so it is never shown.
    pub fn source(&self) -> String {
        format!("{} {}", self.root, self.api_key)
    }

    /// After a write: the alerts the run read here may have changed.
    fn forget_reads(&self, cx: &ActionContext, method: &Method) {
        if *method != Method::GET
            && let Some(read) = &cx.alerts_read
        {
            read.forget(&self.source());
        }
    }
}

/// The bytes kept as they are in a path segment: the unreserved characters of RFC 3986.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `value` percent-encoded into one path segment.
pub(crate) fn path_segment(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

/// Which version of the REST API a resource belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    V1,
    V2,
}

/// A REST resource under `/v1` (or `/v2`): fixed parts from the code, and values each
/// encoded into one path segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiPath {
    version: ApiVersion,
    path: String,
}

impl ApiPath {
    /// A path written in the code, relative to `/v1` (`sic/alerts`).
    pub fn new(fixed: &'static str) -> Self {
        Self::in_version(ApiVersion::V1, fixed)
    }

    /// A path written in the code, relative to `/v1` or `/v2`.
    pub fn in_version(version: ApiVersion, fixed: &'static str) -> Self {
        Self {
            version,
            path: fixed.trim_matches('/').to_owned(),
        }
    }

    /// `sic/alerts/<id>`.
    pub fn alert(id: &str) -> Self {
        Self::new("sic/alerts").value(id)
    }

    /// Appends a fixed part written in the code (`workflow`).
    pub fn then(mut self, fixed: &'static str) -> Self {
        self.path.push('/');
        self.path.push_str(fixed.trim_matches('/'));
        self
    }

    /// Appends `value` as one segment, percent-encoded, so that nothing in it (`/`, `?`,
    /// `#`, ...) can leave the segment. URL parsers read `.`, `..` and their encoded forms
    /// as "this" and "parent" directories, so a value that is empty or only dots is written
    /// as three or more encoded dots: a segment that names no resource.
    pub fn value(mut self, value: &str) -> Self {
        self.path.push('/');
        if value.chars().all(|c| c == '.') {
            self.path.push_str(&"%2E".repeat(value.len().max(1) + 2));
        } else {
            self.path
                .extend(utf8_percent_encode(value, SEGMENT).map(|part| part.to_owned()));
        }
        self
    }
}

impl std::fmt::Display for ApiPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.path)
    }
}

/// `<base>/v1`: trailing slashes stripped; a base ending in `/api` keeps it (`/api/v1`).
pub fn rest_root(base_url: &str) -> String {
    api_root(base_url, ApiVersion::V1)
}

/// `<base>/v1` or `<base>/v2`, as [`rest_root`].
fn api_root(base_url: &str, version: ApiVersion) -> String {
    let version = match version {
        ApiVersion::V1 => "v1",
        ApiVersion::V2 => "v2",
    };
    format!("{}/{version}", base_url.trim().trim_end_matches('/'))
}

/// The live notifications URL derived from a base URL: `wss://<host>/live/` (`ws://` for a
/// plain-HTTP base), where a host starting with `api.` becomes `app.` (`api.sekoia.io` →
/// `app.sekoia.io`). Only the host (and port) of the base URL are used.
pub fn live_url(base_url: &str) -> Result<String, ClientConfigError> {
    let base = parse_http_url(base_url).map_err(ClientConfigError::BaseUrl)?;
    let host = base.host_str().ok_or(ClientConfigError::NoHost)?;
    let host = match host.strip_prefix("api.") {
        Some(rest) => format!("app.{rest}"),
        None => host.to_owned(),
    };
    let scheme = if base.scheme() == "http" { "ws" } else { "wss" };
    let port = base
        .port()
        .map(|port| format!(":{port}"))
        .unwrap_or_default();
    Ok(format!("{scheme}://{host}{port}/live/"))
}

/// Adds what to fix to 401/403 answers.
fn explain_auth(mut err: ActionError) -> ActionError {
    match err.http_status {
        Some(401) => err
            .message
            .push_str(" — the API key is missing, expired or invalid"),
        Some(403) => err
            .message
            .push_str(" — the API key lacks a permission (e.g. SIC_READ_ALERTS)"),
        Some(404) => err.message.push_str(" — no such alert (or wrong base URL)"),
        _ => {}
    }
    err
}

/// How long a WebSocket exchange may take.
pub const SOCKET_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Reads a JSON body of at most `limit` bytes; an empty body is `{}` (some Sekoia.io
/// answers are empty).
pub async fn read_json(
    response: reqwest::Response,
    limit: u64,
    what: &str,
) -> Result<Value, ActionError> {
    let bytes = read_body(response, limit, what).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ActionError::permanent(format!("{what}: the answer is not JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::{ApiPath, live_url, rest_root};

    #[test]
    fn version_2_paths_join_under_v2() {
        let client = super::SekoiaClient::new(
            alertsync_engine::http::HttpClient::new().unwrap_or_else(|e| panic!("{e}")),
            "https://app.usa1.sekoia.io/api/",
            "key",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let path = ApiPath::in_version(super::ApiVersion::V2, "inthreat/ioc-collections")
            .value("a/../b c")
            .then("indicators");
        assert_eq!(
            client.url(&path),
            "https://app.usa1.sekoia.io/api/v2/inthreat/ioc-collections/a%2F..%2Fb%20c/indicators"
        );
        assert_eq!(
            client.url(&ApiPath::new("sic/cases")),
            "https://app.usa1.sekoia.io/api/v1/sic/cases"
        );
    }

    #[test]
    fn values_stay_in_their_segment() {
        assert_eq!(
            ApiPath::alert("ALx1").then("workflow").to_string(),
            "sic/alerts/ALx1/workflow"
        );
        assert_eq!(
            ApiPath::alert("../../me").to_string(),
            "sic/alerts/..%2F..%2Fme"
        );
        assert_eq!(ApiPath::alert("..").to_string(), "sic/alerts/%2E%2E%2E%2E");
        assert_eq!(ApiPath::alert("").to_string(), "sic/alerts/%2E%2E%2E");
        assert_eq!(
            ApiPath::alert("a b?c#d").to_string(),
            "sic/alerts/a%20b%3Fc%23d"
        );
        assert_eq!(ApiPath::new("/me/").to_string(), "me");
    }

    #[test]
    fn live_urls_use_the_app_host_of_the_base_url() {
        let derived = |base: &str| live_url(base).unwrap_or_default();
        assert_eq!(
            derived("https://api.sekoia.io"),
            "wss://app.sekoia.io/live/"
        );
        assert_eq!(
            derived("https://api.sekoia.io/"),
            "wss://app.sekoia.io/live/"
        );
        assert_eq!(
            derived("https://api.test.sekoia.io"),
            "wss://app.test.sekoia.io/live/"
        );
        assert_eq!(
            derived("https://app.usa1.sekoia.io/api"),
            "wss://app.usa1.sekoia.io/live/"
        );
        assert_eq!(
            derived("http://127.0.0.1:8080"),
            "ws://127.0.0.1:8080/live/"
        );
        assert!(live_url("not a url").is_err());
    }

    #[test]
    fn base_urls_join_in_every_form() {
        assert_eq!(
            rest_root("https://api.sekoia.io"),
            "https://api.sekoia.io/v1"
        );
        assert_eq!(
            rest_root("https://api.sekoia.io/"),
            "https://api.sekoia.io/v1"
        );
        assert_eq!(
            rest_root("https://app.usa1.sekoia.io/api"),
            "https://app.usa1.sekoia.io/api/v1"
        );
        assert_eq!(
            rest_root("https://app.usa1.sekoia.io/api/"),
            "https://app.usa1.sekoia.io/api/v1"
        );
    }
}
