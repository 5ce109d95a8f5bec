//! Access control and response hardening.
//!
//! Every request must name a host the service answers to ([`super::hosts`]), token or not.
//! With `[server] token` set, every request needs `Authorization: Bearer <token>` or a
//! session cookie `POST /login` issued ([`super::session`]), except `/healthz`, the
//! webhooks under `/hooks/` (they check their own per-playbook tokens), `/login` itself and
//! the console's stylesheet and script under `/assets/`. A browser asking for a console
//! page without them is sent to `/login`; every other request gets a JSON 401. Tokens are
//! compared in constant time, and wrong ones at `/login` are throttled per client address.
//! Changes a browser sends on behalf of another site are refused (403), token or not.
//! Every response carries security headers. Without a token, the service listens on
//! loopback addresses only.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Form;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::hosts::{AllowedHosts, PublicUrlNeeded};
use super::session::{LoginThrottle, Sessions};

pub use super::session::COOKIE;

/// Who may use the service: the token requests must carry (if any), the sessions issued
/// for it, the throttle of wrong logins, and the host names answered.
#[derive(Clone)]
pub struct Access {
    pub token: Option<Arc<str>>,
    pub sessions: Option<Arc<Sessions>>,
    pub throttle: Arc<LoginThrottle>,
    pub hosts: Arc<AllowedHosts>,
}

impl Access {
    /// Access for a service listening on `listen`, reached at `public_url`, needing `token`
    /// (if any).
    pub fn new(
        token: Option<&str>,
        listen: &str,
        public_url: Option<&str>,
    ) -> Result<Self, PublicUrlNeeded> {
        let secure = public_url.is_some_and(|url| url.starts_with("https://"));
        Ok(Self {
            token: token.map(Arc::from),
            sessions: token.map(|token| Arc::new(Sessions::new(token, secure))),
            throttle: Arc::default(),
            hosts: Arc::new(AllowedHosts::new(listen, public_url)?),
        })
    }
}

/// Whether the request carries `Authorization: Bearer <expected>`, compared in constant time.
pub fn bearer_matches(headers: &HeaderMap, expected: &str) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    constant_time_eq(given.as_bytes(), expected.as_bytes())
}

/// Whether the request carries a playbook's webhook token: as `Authorization: Bearer
/// <token>`, or as the password of HTTP Basic credentials, whatever the user name (what
/// ilert sends for a webhook URL `https://user:password@host/...`). Compared in constant
/// time.
pub fn webhook_token_matches(headers: &HeaderMap, expected: &str) -> bool {
    bearer_matches(headers, expected)
        || basic_password(headers)
            .is_some_and(|password| constant_time_eq(&password, expected.as_bytes()))
}

/// The password of `Authorization: Basic <base64 of user:password>`, if the request has one.
fn basic_password(headers: &HeaderMap) -> Option<Vec<u8>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let credentials = BASE64_STANDARD.decode(encoded.trim()).ok()?;
    let colon = credentials.iter().position(|byte| *byte == b':')?;
    Some(credentials[colon + 1..].to_vec())
}

/// Whether `given` is the expected token, compared in constant time (only the lengths may
/// show through the time taken).
pub fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    given.ct_eq(expected).into()
}

/// Paths that need no token.
fn is_public(path: &str) -> bool {
    path == "/healthz"
        || path == "/login"
        || path.starts_with("/hooks/")
        || path.starts_with("/assets/")
}

/// Whether a refused request is a browser asking for a console page, to be sent to the
/// login form rather than answered a JSON 401.
fn is_console_page(request: &Request) -> bool {
    let path = request.uri().path();
    request.method() == axum::http::Method::GET
        && !path.starts_with("/api/")
        && path != "/metrics"
        && path != "/console/events"
        && crate::console::html::wants_html(request.headers())
}

/// Refuses requests naming a host the service does not answer to (DNS rebinding).
pub async fn check_host(State(access): State<Access>, request: Request, next: Next) -> Response {
    let authority = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            request
                .headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        });
    if access.hosts.allows(authority.as_deref()) {
        return next.run(request).await;
    }
    ApiError::forbidden(format!(
        "this service answers to {} only, not to the host this request names; set [server] \
         public_url to the URL clients use",
        access.hosts.names().join(", ")
    ))
    .into_response()
}

/// Refuses requests without the token or a session (when a token is configured).
pub async fn require_token(State(access): State<Access>, request: Request, next: Next) -> Response {
    let Some(expected) = access.token.as_deref() else {
        return next.run(request).await;
    };
    let has_session = access
        .sessions
        .as_ref()
        .is_some_and(|sessions| sessions.accepts(request.headers()));
    if is_public(request.uri().path()) || has_session || bearer_matches(request.headers(), expected)
    {
        return next.run(request).await;
    }
    if is_console_page(&request) {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response();
    }
    let mut response =
        ApiError::unauthorized("this server needs `Authorization: Bearer <server token>`")
            .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"alertsync\""),
    );
    response
}

/// Refuses changes (any method but GET, HEAD and OPTIONS) that a browser sends on behalf of
/// another site: a page open in the operator's browser must not be able to rerun runs,
/// toggle or import playbooks on a service listening on loopback without a token, nor
/// ride the session cookie. Webhooks are exempt: they carry their own tokens and are
/// called from other origins by design. Clients that are not browsers send neither header
/// and pass.
pub async fn refuse_cross_site(request: Request, next: Next) -> Response {
    use axum::http::Method;
    let changes = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if changes && !request.uri().path().starts_with("/hooks/") && is_cross_site(request.headers()) {
        return ApiError::forbidden(
            "cross-site request refused: changes are accepted from alertsync's own pages and \
             from clients that are not browsers",
        )
        .into_response();
    }
    next.run(request).await
}

/// Whether the browser says the request comes from another site: `Sec-Fetch-Site`, or else
/// an `Origin` whose host is not the `Host` the request was sent to.
fn is_cross_site(headers: &HeaderMap) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        return !matches!(site, "same-origin" | "none");
    }
    match (text(header::ORIGIN), text(header::HOST)) {
        (Some(origin), Some(host)) => {
            let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            !origin_host.eq_ignore_ascii_case(host)
        }
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// Adds the security headers to every response.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'; base-uri 'none'"),
    );
    response
}

/// A listening address beyond this machine, without a token.
#[derive(Debug, thiserror::Error)]
#[error(
    "refusing to listen on {listen} without a token: anyone reaching it could read runs and \
     change playbooks; set `token = \"${{ALERTSYNC_TOKEN}}\"` in [server] (requests then need \
     `Authorization: Bearer <token>`), or listen on 127.0.0.1"
)]
pub struct OpenListenRefused {
    listen: String,
}

/// Refuses to listen beyond this machine without a token.
pub fn refuse_open_listen(listen: &str, has_token: bool) -> Result<(), OpenListenRefused> {
    if has_token || is_loopback(listen) {
        return Ok(());
    }
    Err(OpenListenRefused {
        listen: listen.to_owned(),
    })
}

/// Whether `host:port` names the loopback interface only.
fn is_loopback(listen: &str) -> bool {
    let host = listen
        .rsplit_once(':')
        .map_or(listen, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The login form's fields.
#[derive(Deserialize)]
pub struct Login {
    pub token: String,
}

/// `POST /login` (form field `token`): issues a session cookie and sends the browser to `/`;
/// 401 for a wrong token (the login page again for a browser), 429 once a client has given
/// too many wrong tokens. Without a configured token there is nothing to log in to.
pub async fn login(
    State(access): State<Access>,
    headers: HeaderMap,
    extensions: Extensions,
    Form(login): Form<Login>,
) -> Response {
    let (Some(expected), Some(sessions)) = (access.token.as_deref(), access.sessions.as_ref())
    else {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    };
    let client = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip());
    if let Err(wait) = access.throttle.check(client) {
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            format!(
                "too many wrong tokens from this address; try again in {}s",
                wait.as_secs().max(1)
            ),
        )
        .into_response();
        if let Ok(value) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    if !constant_time_eq(login.token.as_bytes(), expected.as_bytes()) {
        access.throttle.failed(client);
        if crate::console::html::wants_html(&headers) {
            return crate::console::login::refused();
        }
        return ApiError::unauthorized("wrong token").into_response();
    }
    access.throttle.succeeded(client);
    match sessions
        .issue()
        .and_then(|cookie| HeaderValue::from_str(&cookie).ok())
    {
        Some(cookie) => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, HeaderValue::from_static("/"))],
            [(header::SET_COOKIE, cookie)],
        )
            .into_response(),
        None => ApiError::unavailable("issuing a session", "no random id could be drawn")
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_listens_without_a_token() {
        for listen in ["127.0.0.1:8080", "localhost:1", "[::1]:80", "127.0.0.2:0"] {
            assert!(refuse_open_listen(listen, false).is_ok(), "{listen}");
        }
        for listen in ["0.0.0.0:8080", "[::]:80", "192.168.1.4:1", "example.com:80"] {
            let err = refuse_open_listen(listen, false).expect_err(listen);
            assert!(err.to_string().contains("token = "), "{err}");
            assert!(refuse_open_listen(listen, true).is_ok(), "{listen}");
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"abcd", b"abc"));
        assert!(!constant_time_eq(b"", b"abc"));
        assert!(!constant_time_eq(b"abd", b"abc"));
    }

    #[test]
    fn a_webhook_token_comes_as_bearer_or_as_the_basic_password() {
        let with = |authorization: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(authorization).unwrap(),
            );
            webhook_token_matches(&headers, "s3cret:token")
        };
        let basic = |credentials: &str| format!("Basic {}", BASE64_STANDARD.encode(credentials));
        assert!(with("Bearer s3cret:token"));
        assert!(
            with(&basic("ilert:s3cret:token")),
            "the password may hold a colon"
        );
        assert!(with(&basic(":s3cret:token")), "any user name, even none");
        assert!(with(&basic("ilert:s3cret:token").replace("Basic", "basic")));
        assert!(!with(&basic("s3cret:token:")), "the token as user name");
        assert!(!with(&basic("ilert:s3cret")));
        assert!(!with(&basic("s3cret:token")), "split at the first colon");
        assert!(!with("Basic not-base64!"));
        assert!(!with("s3cret:token"));
        assert!(!webhook_token_matches(&HeaderMap::new(), "s3cret:token"));
    }
}
