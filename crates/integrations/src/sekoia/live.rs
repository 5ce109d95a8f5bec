//! Sekoia.io live notifications: one WebSocket per account that turns alert notifications
//! into [`AlertChange`]s and hands each one to a sink the caller provides.
//!
//! One connection cycle of [`LiveNotifications::run`]:
//!
//! 1. pre-flight `GET /v1/me`: network errors and other answers are retried after the
//!    usual backoff; 401, 403 or 404 mean the key (or URL) is refused: the attempt is
//!    retried after a long capped backoff ([`LiveTiming::rejected_backoff`]) — keys get
//!    rotated and typos get fixed — and [`LiveStats::rejection`] says why meanwhile.
//!    [`LiveNotifications::preflight`] makes the same check once, for a caller that wants a
//!    wrong configuration to stop it at start;
//! 2. the WebSocket to the account's `liveapi_url`, or the URL derived from its `base_url`
//!    ([`live_url`]), authenticated by `Cookie: access_token_cookie=<api key>`; a 401, 403
//!    or 404 on the handshake is a refusal too;
//! 3. the text frame `{"action": "upgrade"}`, then a ping: its pong proves the server has
//!    read the upgrade request, and only then is [`LiveEvent::Connected`] emitted. The stream
//!    has no replay, so the caller back-fills on every `Connected` (see
//!    [`super::backfill`]); every change after that point arrives on the socket;
//! 4. frames: `authenticated` acknowledgements and frames whose `metadata.version` is not 2
//!    are skipped; alert, status and comment notifications (and case ones) become
//!    [`Notification`]s, handed over together ([`LiveEvent::Notified`]) when several were
//!    read off the socket at once (a burst), so the sink can store them in one commit;
//!    malformed frames are logged (masked and shortened) and skipped. A ping goes out every
//!    [`LiveTiming::ping_interval`]; a pong missing for [`LiveTiming::pong_timeout`] ends the
//!    session;
//! 5. whatever ends a session (server close, network error, dead socket, failing sink), the
//!    next one starts after a capped exponential backoff with jitter ([`RetryPolicy::delay`]);
//!    the backoff starts over once a session reaches `Connected`.
//!
//! Acknowledgement: the sink returns `Ok` only once the event is durably stored. When it
//! fails, the session ends without consuming anything further; the reconnect's `Connected`
//! makes the caller back-fill from its last checkpoint, which finds the change again. So a
//! notification is never lost, at worst delivered twice, and [`AlertChange::change_id`]
//! makes the second delivery recognisable (the key design is in [`super::backfill`]).
//!
//! Cancellation ([`Cancellation`]) is honoured while connecting, reading and waiting to
//! reconnect; a sink call in progress is allowed to finish, so an event is never half-stored.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use alertsync_engine::http::{HttpClient, USER_AGENT};
use alertsync_engine::{Account, Cancellation, Redactor, RetryPolicy};
use futures_util::{FutureExt, SinkExt, StreamExt};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode, header};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracing::{debug, error, info, warn};

use super::actions::status_reference;
use super::client::{ApiPath, SekoiaClient, live_url};
use super::triggers::cases::CaseChangeKind;
use super::{DEFAULT_BASE_URL, SLUG};

/// The frame asking for version-2 notifications.
const UPGRADE_REQUEST: &str = r#"{"action": "upgrade"}"#;
/// The cookie the live server authenticates.
const AUTH_COOKIE: &str = "access_token_cookie";
/// How much of a malformed frame a log line quotes.
const EXCERPT_CHARS: usize = 120;
/// How long a closing handshake may take when the run is cancelled.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// Most frames read for one hand-over to the sink. A burst then costs the sink one commit
/// per batch instead of one per change, and a batch stays small enough to commit quickly.
pub const MAX_NOTIFIED_AT_ONCE: usize = 64;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What an alert change is; also what an inbox event of an alert change says (stored as
/// `"created"`, `{"updated": {"status_changed": true}}` or `"comment_created"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// `alert` / `created`.
    Created,
    /// `alert` / `updated`; `status_changed` when the update carries a new status.
    Updated { status_changed: bool },
    /// `alert-comment` / `created`.
    CommentCreated,
}

/// Where a change was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeSource {
    /// A live notification.
    Live,
    /// The alerts list API, after a (re)connect.
    Backfill,
}

/// One change of one alert, from a live notification or from back-fill.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertChange {
    /// The alert's uuid, lowercase.
    pub alert_uuid: String,
    /// The alert's short id (`AL...`) when the source gave it.
    pub short_id: Option<String>,
    pub kind: ChangeKind,
    /// The deduplication key: equal for the same change whichever source read it, different
    /// for different changes (see the [`super::backfill`] module documentation).
    pub change_id: String,
    /// The new status of a status change (a status uuid, lowercase, when known).
    pub status_uuid: Option<String>,
    /// The comment of a comment change, lowercase.
    pub comment_uuid: Option<String>,
    pub source: ChangeSource,
}

impl AlertChange {
    /// The notification type, as alert triggers report it in `event_type`.
    pub fn event_type(&self) -> &'static str {
        match self.kind {
            ChangeKind::CommentCreated => "alert-comment",
            _ => "alert",
        }
    }

    /// Whether this is a status change.
    pub fn is_status_change(&self) -> bool {
        self.kind
            == ChangeKind::Updated {
                status_changed: true,
            }
    }
}

/// One change of one case, from a live notification (cases have no back-fill).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseChange {
    /// The case's uuid, lowercase.
    pub case_uuid: String,
    pub kind: CaseChangeKind,
    /// The deduplication key: the notification's uuid.
    pub change_id: String,
    /// The notification's `attributes` (what changed is under `updated`).
    pub attributes: Value,
}

/// What the live connection hands to its sink.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveEvent {
    /// A session is established (the upgrade request is read by the server): back-fill now,
    /// from the last checkpoint. `session` counts sessions of this run from 1.
    Connected { session: u64 },
    /// Changes notified on the socket, in their order: one, or those that had already
    /// arrived with it (from at most [`MAX_NOTIFIED_AT_ONCE`] frames). Never empty.
    Notified(Vec<Notification>),
}

/// One change notified on the socket.
#[derive(Debug, Clone, PartialEq)]
pub enum Notification {
    Alert(AlertChange),
    Case(CaseChange),
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Alert(change) => {
                write!(
                    f,
                    "change {} of alert {}",
                    change.change_id, change.alert_uuid
                )
            }
            Self::Case(change) => {
                write!(
                    f,
                    "change {} of case {}",
                    change.change_id, change.case_uuid
                )
            }
        }
    }
}

impl LiveEvent {
    /// The event, as a log line names it.
    fn described(&self) -> String {
        match self {
            Self::Connected { session } => format!("the connection of session {session}"),
            Self::Notified(notified) => match notified.as_slice() {
                [one] => one.to_string(),
                [first, ..] => format!("{} changes from {first} on", notified.len()),
                [] => "no change".to_owned(),
            },
        }
    }
}

/// Keep-alive and reconnection timing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiveTiming {
    /// A ping goes out this long after the previous one.
    pub ping_interval: Duration,
    /// A pong missing for this long means the socket is dead.
    pub pong_timeout: Duration,
    /// Longest time opening the socket (TCP, TLS, WebSocket handshake) may take.
    pub connect_timeout: Duration,
    /// Delays between attempts (`max_attempts` is ignored: reconnection never gives up).
    pub backoff: RetryPolicy,
    /// Delays between attempts while the key or URL is refused (401, 403, 404): long, as
    /// it takes a person to fix it.
    pub rejected_backoff: RetryPolicy,
}

impl Default for LiveTiming {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_secs(20),
            pong_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(30),
            backoff: RetryPolicy {
                max_attempts: u32::MAX,
                initial_delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(60),
                max_age: Duration::MAX,
            },
            rejected_backoff: RetryPolicy {
                max_attempts: u32::MAX,
                initial_delay: Duration::from_secs(30),
                max_delay: Duration::from_secs(15 * 60),
                max_age: Duration::MAX,
            },
        }
    }
}

/// The state and counters of one [`LiveNotifications`], for health, metrics and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LiveStats {
    /// Whether a session is established now.
    pub connected: bool,
    /// Since when no session is established (Unix ms); `None` while connected.
    pub disconnected_since_ms: Option<u64>,
    /// While the key or URL is refused: what the server said (secrets masked).
    pub rejection: Option<String>,
    /// Why the last attempt or session ended, if one did (secrets masked).
    pub last_error: Option<String>,
    /// Another instance of the cluster holds this account's live connection: this one
    /// stands by, ready to take over.
    pub held_elsewhere: bool,
    /// Sessions that reached [`LiveEvent::Connected`].
    pub sessions: u64,
    /// Attempts that failed or sessions that ended (each is followed by a backoff).
    pub interruptions: u64,
    pub pings_sent: u64,
    pub pongs_received: u64,
    /// Changes handed to the sink and stored.
    pub changes: u64,
    /// Well-formed frames that are not alert changes (acknowledgements, other versions,
    /// case notifications...).
    pub ignored_frames: u64,
    /// Frames that could not be read; logged and skipped.
    pub malformed_frames: u64,
}

/// Why the live connection cannot run as configured. Transient trouble is never returned:
/// it is retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LiveError {
    #[error("Sekoia.io account `{account}`: {message}")]
    Configuration { account: String, message: String },
}

/// The live notification connection of one Sekoia.io account.
pub struct LiveNotifications {
    account: String,
    client: SekoiaClient,
    url: String,
    api_key: String,
    redactor: Redactor,
    timing: LiveTiming,
    stats: watch::Sender<LiveStats>,
}

/// What the identity check found.
enum Identity {
    Accepted,
    /// Trouble worth a retry (network, 5xx); the reason is free of secrets.
    Unsure(String),
    /// 401, 403 or 404; the reason is free of secrets.
    Refused(String),
}

/// How one connection attempt ended.
enum Ended {
    Cancelled,
    /// Worth another attempt after a backoff; the reason is free of secrets.
    Retry(String),
    /// The key or URL was refused (401, 403, 404): another attempt after a long backoff;
    /// the reason is free of secrets.
    Rejected(String),
}

impl LiveNotifications {
    /// The connection for an account named `account` (in logs and errors). `liveapi_url`
    /// overrides the URL derived from `base_url`; `ws`, `wss`, `http` and `https` URLs are
    /// accepted (the last two meaning `ws` and `wss`).
    pub fn new(
        account: &str,
        http: HttpClient,
        base_url: &str,
        api_key: &str,
        liveapi_url: Option<&str>,
    ) -> Result<Self, LiveError> {
        let configuration = |message: String| LiveError::Configuration {
            account: account.to_owned(),
            message,
        };
        let client = SekoiaClient::new(http, base_url, api_key)
            .map_err(|why| configuration(why.to_string()))?;
        let url = match liveapi_url.map(str::trim).filter(|url| !url.is_empty()) {
            Some(url) => {
                socket_url(url).map_err(|why| configuration(format!("liveapi_url {why}")))?
            }
            None => live_url(base_url).map_err(|why| configuration(why.to_string()))?,
        };
        let api_key = api_key.trim().to_owned();
        if HeaderValue::from_str(&format!("{AUTH_COOKIE}={api_key}")).is_err() {
            return Err(configuration(
                "the API key holds characters a cookie cannot carry".to_owned(),
            ));
        }
        let mut redactor = Redactor::new();
        redactor.add(api_key.clone());
        Ok(Self {
            account: account.to_owned(),
            client,
            url,
            api_key,
            redactor,
            timing: LiveTiming::default(),
            stats: watch::Sender::new(LiveStats {
                disconnected_since_ms: Some(alertsync_engine::now_ms()),
                ..LiveStats::default()
            }),
        })
    }

    /// The connection for a Sekoia.io account (`base_url`, `api_key`, `liveapi_url`).
    pub fn for_account(http: HttpClient, account: &Account) -> Result<Self, LiveError> {
        if account.module != SLUG {
            return Err(LiveError::Configuration {
                account: account.name.clone(),
                message: format!("is a `{}` account, not a `{SLUG}` one", account.module),
            });
        }
        Self::new(
            &account.name,
            http,
            account.str("base_url").unwrap_or(DEFAULT_BASE_URL),
            account.str("api_key").unwrap_or_default(),
            account.str("liveapi_url"),
        )
    }

    /// Replaces the keep-alive and reconnection timing.
    pub fn with_timing(mut self, timing: LiveTiming) -> Self {
        self.timing = timing;
        self
    }

    /// The REST client of the same account (for back-fill).
    pub fn client(&self) -> &SekoiaClient {
        &self.client
    }

    /// The WebSocket URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The counters, updated as they change.
    pub fn stats(&self) -> watch::Receiver<LiveStats> {
        self.stats.subscribe()
    }

    /// Notes whether another instance holds this account's live connection. Standing by is
    /// not being down; taking over starts counting down time again until connected.
    pub fn stand_by(&self, held_elsewhere: bool) {
        self.stats.send_if_modified(|stats| {
            if stats.held_elsewhere == held_elsewhere {
                return false;
            }
            stats.held_elsewhere = held_elsewhere;
            stats.connected = false;
            stats.disconnected_since_ms = (!held_elsewhere).then(alertsync_engine::now_ms);
            true
        });
    }

    /// Checks once that Sekoia.io accepts the key (`GET /v1/me`): `Err` when it is refused
    /// (401, 403, 404). Trouble worth a retry (network, 5xx) passes: [`Self::run`] retries
    /// it.
    pub async fn preflight(&self) -> Result<(), LiveError> {
        match self.check_identity().await {
            Identity::Accepted | Identity::Unsure(_) => Ok(()),
            Identity::Refused(reason) => Err(self.configuration(reason)),
        }
    }

    /// Connects, hands every event to `sink`, and reconnects whenever a session ends, until
    /// `cancel` is cancelled. A refused key or URL is retried too, after a long backoff.
    ///
    /// `sink` must return only once the event is durably stored; an `Err` from it ends the
    /// session (the event counts as not received; see the module documentation).
    pub async fn run<S, F, E>(&self, cancel: &Cancellation, mut sink: S)
    where
        S: FnMut(LiveEvent) -> F,
        F: Future<Output = Result<(), E>>,
        E: fmt::Display,
    {
        let mut failures: u32 = 0;
        let mut refusals: u32 = 0;
        let mut sessions: u64 = 0;
        loop {
            if cancel.is_cancelled() {
                return;
            }
            let ended = self
                .attempt(cancel, &mut sink, &mut failures, &mut sessions)
                .await;
            let (reason, delay, rejected) = match ended {
                Ended::Cancelled => return,
                Ended::Retry(reason) => {
                    refusals = 0;
                    failures = failures.saturating_add(1);
                    (reason, self.timing.backoff.delay(failures, None), false)
                }
                Ended::Rejected(reason) => {
                    refusals = refusals.saturating_add(1);
                    (
                        reason,
                        self.timing.rejected_backoff.delay(refusals, None),
                        true,
                    )
                }
            };
            self.stats.send_modify(|stats| {
                if stats.connected || stats.disconnected_since_ms.is_none() {
                    stats.disconnected_since_ms = Some(alertsync_engine::now_ms());
                }
                stats.connected = false;
                stats.interruptions += 1;
                stats.rejection = rejected.then(|| reason.clone());
                stats.last_error = Some(reason.clone());
            });
            if rejected {
                error!(
                    account = %self.account,
                    reason = %reason,
                    retry_in_ms = delay.as_millis() as u64,
                    "Sekoia.io refuses the live connection; fix the account's key or URL"
                );
            } else {
                warn!(
                    account = %self.account,
                    reason = %reason,
                    retry_in_ms = delay.as_millis() as u64,
                    "live notifications interrupted"
                );
            }
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return,
                _ = sleep(delay) => {}
            }
        }
    }

    /// Pre-flight, connect, and serve one session.
    async fn attempt<S, F, E>(
        &self,
        cancel: &Cancellation,
        sink: &mut S,
        failures: &mut u32,
        sessions: &mut u64,
    ) -> Ended
    where
        S: FnMut(LiveEvent) -> F,
        F: Future<Output = Result<(), E>>,
        E: fmt::Display,
    {
        let checked = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Ended::Cancelled,
            checked = self.check_identity() => checked,
        };
        match checked {
            Identity::Accepted => {}
            Identity::Unsure(reason) => return Ended::Retry(reason),
            Identity::Refused(reason) => return Ended::Rejected(reason),
        }
        let opened = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Ended::Cancelled,
            opened = self.open() => opened,
        };
        match opened {
            Ok(socket) => self.serve(socket, cancel, sink, failures, sessions).await,
            Err(ended) => ended,
        }
    }

    /// `GET /v1/me`: whether Sekoia.io accepts the key.
    async fn check_identity(&self) -> Identity {
        let cx = self.client.service_context(RetryPolicy::none());
        match self
            .client
            .call(&cx, Method::GET, &ApiPath::new("me"), &[], None)
            .await
        {
            Ok(_) => Identity::Accepted,
            Err(err) if matches!(err.http_status, Some(401 | 403 | 404)) => Identity::Refused(
                self.mask(&format!("the identity check was refused: {}", err.message)),
            ),
            Err(err) => {
                Identity::Unsure(self.mask(&format!("identity check failed: {}", err.message)))
            }
        }
    }

    /// Opens the socket, or says how the attempt ended.
    async fn open(&self) -> Result<Socket, Ended> {
        let mut request = self
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| Ended::Rejected(format!("live URL {}: {e}", self.url)))?;
        let mut cookie = HeaderValue::from_str(&format!("{AUTH_COOKIE}={}", self.api_key))
            .map_err(|_| {
                Ended::Rejected("the API key holds characters a cookie cannot carry".to_owned())
            })?;
        cookie.set_sensitive(true);
        request.headers_mut().insert(header::COOKIE, cookie);
        request
            .headers_mut()
            .insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        match timeout(
            self.timing.connect_timeout,
            tokio_tungstenite::connect_async(request),
        )
        .await
        {
            Err(_) => Err(Ended::Retry(format!(
                "opening {} timed out after {:.1}s",
                self.url,
                self.timing.connect_timeout.as_secs_f64()
            ))),
            Ok(Ok((socket, _))) => Ok(socket),
            Ok(Err(tungstenite::Error::Http(response)))
                if matches!(
                    response.status(),
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                ) =>
            {
                Err(Ended::Rejected(format!(
                    "the live notification server {} refused the API key (HTTP {})",
                    self.url,
                    response.status()
                )))
            }
            Ok(Err(tungstenite::Error::Http(response)))
                if response.status() == StatusCode::NOT_FOUND =>
            {
                Err(Ended::Rejected(format!(
                    "no live notification server at {} (HTTP 404): check liveapi_url and base_url",
                    self.url
                )))
            }
            Ok(Err(tungstenite::Error::Http(response))) => Err(Ended::Retry(format!(
                "opening {} was answered HTTP {}",
                self.url,
                response.status()
            ))),
            Ok(Err(e)) => Err(Ended::Retry(
                self.mask(&format!("opening {} failed: {e}", self.url)),
            )),
        }
    }

    /// Serves one open socket until it ends or the run is cancelled.
    async fn serve<S, F, E>(
        &self,
        mut socket: Socket,
        cancel: &Cancellation,
        sink: &mut S,
        failures: &mut u32,
        sessions: &mut u64,
    ) -> Ended
    where
        S: FnMut(LiveEvent) -> F,
        F: Future<Output = Result<(), E>>,
        E: fmt::Display,
    {
        if let Err(e) = socket.send(Message::text(UPGRADE_REQUEST)).await {
            return Ended::Retry(format!("sending the upgrade request failed: {e}"));
        }
        // The pong to this first ping proves the server has read the upgrade request.
        if let Err(ended) = self.ping(&mut socket).await {
            return ended;
        }
        let mut pong_deadline = Some(Instant::now() + self.timing.pong_timeout);
        let mut next_ping = Instant::now() + self.timing.ping_interval;
        let mut connected = false;
        // What the socket gave while a burst was read ahead, to handle next.
        let mut read_ahead = None;
        loop {
            let wake_at = pong_deadline.unwrap_or(next_ping);
            let message = if let Some(next) = read_ahead.take() {
                next
            } else {
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => {
                        let _ = timeout(CLOSE_GRACE, socket.close(None)).await;
                        return Ended::Cancelled;
                    }
                    message = socket.next() => message,
                    _ = sleep_until(wake_at) => {
                        if pong_deadline.is_some() {
                            return Ended::Retry(format!(
                                "no pong within {:.1}s",
                                self.timing.pong_timeout.as_secs_f64()
                            ));
                        }
                        if let Err(ended) = self.ping(&mut socket).await {
                            return ended;
                        }
                        pong_deadline = Some(Instant::now() + self.timing.pong_timeout);
                        next_ping = Instant::now() + self.timing.ping_interval;
                        continue;
                    }
                }
            };
            let message = match message {
                None => return Ended::Retry("the server closed the connection".to_owned()),
                Some(Err(e)) => return Ended::Retry(self.mask(&format!("reading failed: {e}"))),
                Some(Ok(message)) => message,
            };
            match message {
                Message::Pong(_) => {
                    pong_deadline = None;
                    self.stats.send_modify(|stats| stats.pongs_received += 1);
                    if !connected {
                        let session = *sessions + 1;
                        let connected_event = LiveEvent::Connected { session };
                        if let Err(e) = deliver(sink, connected_event, &mut pong_deadline).await {
                            return Ended::Retry(
                                self.mask(&format!("storing the connection event failed: {e}")),
                            );
                        }
                        connected = true;
                        *sessions = session;
                        *failures = 0;
                        self.stats.send_modify(|stats| {
                            stats.connected = true;
                            stats.disconnected_since_ms = None;
                            stats.rejection = None;
                            stats.sessions += 1;
                        });
                        info!(account = %self.account, url = %self.url, session, "live notifications connected");
                    }
                }
                Message::Text(text) => {
                    let Some(first) = self.notification(text.as_str()) else {
                        continue;
                    };
                    let mut notified = vec![first];
                    // Frames read, skipped ones included: a flood of frames that are
                    // skipped cannot keep this loop reading.
                    let mut frames = 1;
                    while frames < MAX_NOTIFIED_AT_ONCE && read_ahead.is_none() {
                        match socket.next().now_or_never() {
                            None => break,
                            Some(Some(Ok(Message::Text(text)))) => {
                                notified.extend(self.notification(text.as_str()));
                            }
                            Some(other) => read_ahead = Some(other),
                        }
                        frames += 1;
                    }
                    let count = notified.len() as u64;
                    let event = LiveEvent::Notified(notified);
                    let what = event.described();
                    if let Err(e) = deliver(sink, event, &mut pong_deadline).await {
                        return Ended::Retry(self.mask(&format!("storing {what} failed: {e}")));
                    }
                    self.stats.send_modify(|stats| stats.changes += count);
                }
                Message::Binary(bytes) => {
                    self.malformed("a binary frame", &String::from_utf8_lossy(&bytes));
                }
                Message::Close(frame) => {
                    let why = frame
                        .map(|frame| format!(" ({} {})", frame.code, frame.reason))
                        .unwrap_or_default();
                    return Ended::Retry(
                        self.mask(&format!("the server closed the connection{why}")),
                    );
                }
                // Pings are answered by the WebSocket layer; raw frames are never read.
                Message::Ping(_) | Message::Frame(_) => {}
            }
        }
    }

    /// Sends a ping; a failure ends the session, to be retried.
    async fn ping(&self, socket: &mut Socket) -> Result<(), Ended> {
        socket
            .send(Message::Ping(Default::default()))
            .await
            .map_err(|e| Ended::Retry(self.mask(&format!("sending a ping failed: {e}"))))?;
        self.stats.send_modify(|stats| stats.pings_sent += 1);
        Ok(())
    }

    /// The notification a text frame carries; `None` for a frame that is skipped (logged
    /// and counted).
    fn notification(&self, text: &str) -> Option<Notification> {
        match parse_frame(text) {
            Ok(Frame::Change(change)) => Some(Notification::Alert(change)),
            Ok(Frame::Case(change)) => Some(Notification::Case(change)),
            Ok(Frame::Ignored(why)) => {
                debug!(account = %self.account, why, "live frame skipped");
                self.stats.send_modify(|stats| stats.ignored_frames += 1);
                None
            }
            Err(why) => {
                self.malformed(&why.to_string(), text);
                None
            }
        }
    }

    fn malformed(&self, why: &str, frame: &str) {
        let mut excerpt: String = frame.chars().take(EXCERPT_CHARS).collect();
        if excerpt.len() < frame.len() {
            excerpt.push('…');
        }
        warn!(
            account = %self.account,
            why = %self.mask(why),
            frame = %self.mask(&excerpt),
            "malformed live frame skipped"
        );
        self.stats.send_modify(|stats| stats.malformed_frames += 1);
    }

    fn mask(&self, text: &str) -> String {
        self.redactor.mask_str(text)
    }

    fn configuration(&self, message: String) -> LiveError {
        LiveError::Configuration {
            account: self.account.clone(),
            message: self.mask(&message),
        }
    }
}

/// Hands one event to the sink. The time the sink takes does not count against a pending
/// pong: the socket is not read meanwhile, so the pong could not have been seen (one read
/// ahead with a burst is handled right after).
async fn deliver<S, F, E>(
    sink: &mut S,
    event: LiveEvent,
    pong_deadline: &mut Option<Instant>,
) -> Result<(), E>
where
    S: FnMut(LiveEvent) -> F,
    F: Future<Output = Result<(), E>>,
{
    let began = Instant::now();
    let stored = sink(event).await;
    if let Some(deadline) = pong_deadline.as_mut() {
        *deadline += began.elapsed();
    }
    stored
}

/// Why a configured live URL is not one to connect to (said of the URL: "liveapi_url ...").
#[derive(Debug, PartialEq, thiserror::Error)]
enum SocketUrlError {
    #[error("is not an absolute URL ({0})")]
    NotAbsolute(#[from] url::ParseError),
    #[error("must be a ws or wss URL, not `{0}:`")]
    Scheme(String),
    #[error("has no host")]
    NoHost,
    #[error("cannot use the `{0}` scheme")]
    Unusable(&'static str),
}

/// A configured live URL as a WebSocket URL.
fn socket_url(text: &str) -> Result<String, SocketUrlError> {
    let mut url = url::Url::parse(text)?;
    let scheme = match url.scheme() {
        "ws" | "http" => "ws",
        "wss" | "https" => "wss",
        other => return Err(SocketUrlError::Scheme(other.to_owned())),
    };
    if url.host().is_none() {
        return Err(SocketUrlError::NoHost);
    }
    url.set_scheme(scheme)
        .map_err(|()| SocketUrlError::Unusable(scheme))?;
    Ok(url.to_string())
}

/// What one text frame says.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Change(AlertChange),
    Case(CaseChange),
    /// Well-formed but not an alert change; says what it is.
    Ignored(&'static str),
}

/// Why a frame of the live socket cannot be read. It never quotes the frame.
#[derive(Debug, thiserror::Error)]
pub enum MalformedFrame {
    #[error("not JSON ({0})")]
    NotJson(#[from] serde_json::Error),
    #[error("not a JSON object")]
    NotObject,
    /// A notification without this part (`type`, `action`, its `attributes` object).
    #[error("a notification without {0}")]
    Missing(&'static str),
    #[error("an `{kind}` / `{action}` notification without `attributes{pointer}`")]
    MissingAttribute {
        kind: String,
        action: String,
        pointer: &'static str,
    },
}

/// Reads one text frame of the live socket. `Err` says why the frame is malformed (without
/// quoting it).
pub fn parse_frame(text: &str) -> Result<Frame, MalformedFrame> {
    let frame: Value = serde_json::from_str(text)?;
    let Some(fields) = frame.as_object() else {
        return Err(MalformedFrame::NotObject);
    };
    if fields.get("authenticated").is_some_and(truthy) {
        return Ok(Frame::Ignored("authentication acknowledgement"));
    }
    let version = frame.pointer("/metadata/version");
    let is_v2 = match version {
        Some(Value::Number(n)) => n.as_f64() == Some(2.0),
        Some(Value::String(s)) => s.trim() == "2",
        _ => false,
    };
    if !is_v2 {
        return Ok(Frame::Ignored("not a version-2 notification"));
    }
    let kind = text_at(&frame, "/type").ok_or(MalformedFrame::Missing("`type`"))?;
    let action = text_at(&frame, "/action").ok_or(MalformedFrame::Missing("`action`"))?;
    let attributes = frame
        .get("attributes")
        .filter(|a| a.is_object())
        .ok_or(MalformedFrame::Missing("an `attributes` object"))?;
    let required = |pointer: &'static str| {
        text_at(attributes, pointer)
            .map(str::to_lowercase)
            .ok_or_else(|| MalformedFrame::MissingAttribute {
                kind: kind.to_owned(),
                action: action.to_owned(),
                pointer,
            })
    };
    let change =
        |alert_uuid: String, short_id: Option<&str>, kind: ChangeKind, change_id: String| {
            AlertChange {
                alert_uuid,
                short_id: short_id.map(str::to_owned),
                kind,
                change_id,
                status_uuid: None,
                comment_uuid: None,
                source: ChangeSource::Live,
            }
        };
    match (kind, action) {
        ("alert", "created") => {
            let alert = required("/uuid")?;
            let id = created_id(&alert);
            Ok(Frame::Change(change(
                alert,
                text_at(attributes, "/short_id"),
                ChangeKind::Created,
                id,
            )))
        }
        ("alert", "updated") => {
            let alert = required("/uuid")?;
            let short_id = text_at(attributes, "/short_id");
            let updated = attributes.get("updated");
            let status = updated.and_then(|u| u.get("status"));
            let status_uuid = status.and_then(|s| text_at(s, "/uuid").or_else(|| s.as_str()));
            let status_name = updated
                .and_then(|u| u.get("status_name"))
                .and_then(Value::as_str)
                .or_else(|| status.and_then(|s| text_at(s, "/name")));
            match status_token(status_uuid, status_name) {
                Some(token) => {
                    let id = status_id(&alert, &token);
                    let mut status_change = change(
                        alert,
                        short_id,
                        ChangeKind::Updated {
                            status_changed: true,
                        },
                        id,
                    );
                    status_change.status_uuid = token_uuid(&token);
                    Ok(Frame::Change(status_change))
                }
                None => {
                    let notification = text_at(&frame, "/metadata/uuid")
                        .map(str::to_lowercase)
                        .unwrap_or_else(|| {
                            format!("{:016x}", fingerprint(&attributes.to_string()))
                        });
                    let id = update_id(&alert, &notification);
                    Ok(Frame::Change(change(
                        alert,
                        short_id,
                        ChangeKind::Updated {
                            status_changed: false,
                        },
                        id,
                    )))
                }
            }
        }
        ("alert-comment", "created") => {
            let alert = required("/alert_uuid")?;
            let comment = required("/uuid")?;
            let id = comment_id(&alert, &comment);
            let mut comment_change = change(
                alert,
                text_at(attributes, "/alert_short_id"),
                ChangeKind::CommentCreated,
                id,
            );
            comment_change.comment_uuid = Some(comment);
            Ok(Frame::Change(comment_change))
        }
        ("case", action) => {
            let Some(kind) = CaseChangeKind::from_action(action) else {
                return Ok(Frame::Ignored("a case notification of another action"));
            };
            let case_uuid = required("/uuid")?;
            let notification = text_at(&frame, "/metadata/uuid")
                .map(str::to_lowercase)
                .unwrap_or_else(|| format!("{:016x}", fingerprint(&attributes.to_string())));
            Ok(Frame::Case(CaseChange {
                change_id: format!("case:{case_uuid}:{action}:{notification}"),
                case_uuid,
                kind,
                attributes: attributes.clone(),
            }))
        }
        ("alert" | "alert-comment", _) => {
            Ok(Frame::Ignored("an alert notification of another action"))
        }
        _ => Ok(Frame::Ignored("neither an alert nor a case notification")),
    }
}

/// A non-blank string at a JSON pointer, trimmed.
fn text_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|text| !text.is_empty())
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(fields) => !fields.is_empty(),
    }
}

/// FNV-1a, 64 bits: a stable fingerprint (unlike `std`'s hasher, which may change).
fn fingerprint(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

// The change keys. One place builds them, for both sources; `super::backfill` documents why
// they are what they are.

/// `<alert>:created`.
pub(crate) fn created_id(alert_uuid: &str) -> String {
    format!("{alert_uuid}:created")
}

/// `<alert>:status:<status token>`.
pub(crate) fn status_id(alert_uuid: &str, status_token: &str) -> String {
    format!("{alert_uuid}:status:{status_token}")
}

/// `<alert>:comment:<comment uuid>`.
pub(crate) fn comment_id(alert_uuid: &str, comment_uuid: &str) -> String {
    format!("{alert_uuid}:comment:{comment_uuid}")
}

/// `<alert>:updated:<notification uuid>`: other updates are known to the live stream only.
pub(crate) fn update_id(alert_uuid: &str, notification: &str) -> String {
    format!("{alert_uuid}:updated:{notification}")
}

/// How a status appears in a key: its uuid (lowercase) when a uuid is given or the name is a
/// built-in status, else `name:<lowercase name>`.
pub(crate) fn status_token(uuid: Option<&str>, name: Option<&str>) -> Option<String> {
    let uuid = uuid
        .map(str::trim)
        .filter(|u| uuid::Uuid::parse_str(u).is_ok());
    if let Some(uuid) = uuid {
        return Some(uuid.to_lowercase());
    }
    let name = name.map(str::trim).filter(|n| !n.is_empty())?;
    Some(status_reference(name).unwrap_or_else(|| format!("name:{}", name.to_lowercase())))
}

/// The status uuid a status token stands for, if it is one.
pub(crate) fn token_uuid(token: &str) -> Option<String> {
    uuid::Uuid::parse_str(token)
        .is_ok()
        .then(|| token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ALERT: &str = "6a1d7b0e-6f0e-4c56-9c3c-5e0e8f0a1b2c";
    const ACKNOWLEDGED: &str = "8f206505-af6d-433e-93f4-775d46dc7d0f";

    fn notification(kind: &str, action: &str, attributes: Value) -> String {
        json!({
            "metadata": {"version": 2, "uuid": "N-1", "created_at": "2024-01-01T00:00:00.000000Z",
                         "community_uuid": "c"},
            "type": kind, "action": action, "attributes": attributes,
        })
        .to_string()
    }

    fn change(text: &str) -> AlertChange {
        match parse_frame(text) {
            Ok(Frame::Change(change)) => change,
            other => panic!("expected a change, got {other:?}"),
        }
    }

    #[test]
    fn created_status_comment_and_other_updates_are_typed() {
        let created = change(&notification(
            "alert",
            "created",
            json!({"uuid": ALERT, "short_id": "ALx"}),
        ));
        assert_eq!(created.kind, ChangeKind::Created);
        assert_eq!(created.change_id, format!("{ALERT}:created"));
        assert_eq!(created.short_id.as_deref(), Some("ALx"));

        let status = change(&notification(
            "alert",
            "updated",
            json!({"uuid": ALERT, "updated": {"status": ACKNOWLEDGED, "status_name": "Acknowledged"}}),
        ));
        assert!(status.is_status_change());
        assert_eq!(status.change_id, format!("{ALERT}:status:{ACKNOWLEDGED}"));
        assert_eq!(status.status_uuid.as_deref(), Some(ACKNOWLEDGED));

        let by_name = change(&notification(
            "alert",
            "updated",
            json!({"uuid": ALERT, "updated": {"status_name": "acknowledged"}}),
        ));
        assert_eq!(by_name.change_id, status.change_id);

        let edit = change(&notification(
            "alert",
            "updated",
            json!({"uuid": ALERT, "updated": {"title": "t"}}),
        ));
        assert_eq!(
            edit.kind,
            ChangeKind::Updated {
                status_changed: false
            }
        );
        assert_eq!(edit.change_id, format!("{ALERT}:updated:n-1"));

        let comment = change(&notification(
            "alert-comment",
            "created",
            json!({"uuid": "C-1", "alert_uuid": ALERT, "alert_short_id": "ALx", "content": "hi"}),
        ));
        assert_eq!(comment.kind, ChangeKind::CommentCreated);
        assert_eq!(comment.event_type(), "alert-comment");
        assert_eq!(comment.change_id, format!("{ALERT}:comment:c-1"));
        assert_eq!(comment.short_id.as_deref(), Some("ALx"));
    }

    #[test]
    fn case_notifications_are_case_changes() {
        let frame = notification(
            "case",
            "alerts-updated",
            json!({"uuid": "CASE-1", "updated": {"added_alerts_uuid": [ALERT]}}),
        );
        let Ok(Frame::Case(change)) = parse_frame(&frame) else {
            panic!("a case change: {frame}");
        };
        assert_eq!(change.case_uuid, "case-1");
        assert_eq!(change.kind, CaseChangeKind::AlertsUpdated);
        assert!(change.change_id.starts_with("case:case-1:alerts-updated:"));
        assert_eq!(change.attributes["updated"]["added_alerts_uuid"][0], ALERT);
        let deleted = notification("case", "deleted", json!({"uuid": "x"}));
        assert!(matches!(parse_frame(&deleted), Ok(Frame::Ignored(_))));
    }

    #[test]
    fn acknowledgements_other_versions_and_unknown_actions_are_skipped() {
        for frame in [
            r#"{"authenticated": true}"#.to_owned(),
            json!({"metadata": {"version": 1}, "type": "alert", "action": "created",
                   "attributes": {"uuid": ALERT}})
            .to_string(),
            json!({"type": "alert", "action": "created", "attributes": {"uuid": ALERT}})
                .to_string(),
            notification("case", "closed", json!({"uuid": "x"})),
            notification("alert", "deleted", json!({"uuid": ALERT})),
        ] {
            assert!(
                matches!(parse_frame(&frame), Ok(Frame::Ignored(_))),
                "{frame}"
            );
        }
    }

    #[test]
    fn malformed_frames_are_errors_that_do_not_quote_the_frame() {
        for frame in [
            "not json {secret}".to_owned(),
            "[1, 2]".to_owned(),
            notification("alert", "created", json!({"short_id": "ALx"})),
            notification("alert-comment", "created", json!({"uuid": "C-1"})),
            json!({"metadata": {"version": 2}, "action": "created", "attributes": {}}).to_string(),
        ] {
            let why = parse_frame(&frame).expect_err(&frame).to_string();
            assert!(!why.contains("secret"), "{why}");
        }
    }

    #[test]
    fn configured_live_urls_become_socket_urls() {
        assert_eq!(
            socket_url("wss://live.example/live/").as_deref(),
            Ok("wss://live.example/live/")
        );
        assert_eq!(
            socket_url("https://live.example/x").as_deref(),
            Ok("wss://live.example/x")
        );
        assert_eq!(
            socket_url("http://127.0.0.1:9/live/").as_deref(),
            Ok("ws://127.0.0.1:9/live/")
        );
        assert!(socket_url("ftp://live.example/").is_err());
    }
}
