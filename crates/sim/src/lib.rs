//! Simulators of the services alertsync talks to: Sekoia.io (REST API, live notification
//! WebSocket, intake), ilert (Sekoia.io-typed and generic event endpoints), PagerDuty
//! Events v2, Mattermost incoming webhooks and a generic HTTP sink.
//!
//! Every simulator is a real HTTP server on its own loopback port, so the product, its tests
//! and its benchmarks exercise the same network code they use in production. Each receiver
//! records the requests it gets, can be told to misbehave ([`Fault`]), and the simulated
//! services keep just enough state (alerts, comments, the ilert alert list) to answer like
//! the real ones. The simulated ilert also plays on-call: a test accepts or resolves an alert
//! there, and ilert's webhook alert action reports the change to the URLs registered for its
//! alert source. A small HTTP control API mirrors the [`Simulator`] methods for use from
//! outside the process.

mod alerts;
mod clock;
mod control;
mod faults;
mod feeds;
mod gateway;
mod ilert;
mod ilert_webhooks;
mod intake;
mod live;
mod mattermost;
mod pagerduty;
mod recorder;
mod resources;
mod search;
mod sekoia;
mod server;
mod sink;
mod state;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

pub use faults::{Fault, Route};
pub use ilert::{IlertAlertView, OnCallUser};
pub use ilert_webhooks::{IlertWebhook, WebhookDelivery};
pub use recorder::{Receiver, RecordedRequest, TimedEvent, Timings};
pub use server::Simulator;

/// How to start the simulators.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimConfig {
    /// Address every listener binds to.
    pub host: IpAddr,
    /// First port; the listeners use `port`, `port + 1`, ... in the order of [`SimUrls`]'
    /// fields (sekoia, intake, ilert, pagerduty, mattermost, sink, control). `0` lets the
    /// system pick a free port for each listener.
    pub port: u16,
    /// Seed of the alert generator: the same seed and the same calls give the same alerts.
    pub seed: u64,
    /// The Sekoia.io API key (bearer token on REST, `access_token_cookie` on the live socket).
    pub api_key: String,
    /// Integration keys the simulated ilert knows; other keys answer 404.
    pub ilert_integration_keys: Vec<String>,
    /// Intake keys the simulated intake knows; other keys answer 401.
    pub intake_keys: Vec<String>,
    /// Events accepted per ilert integration key per minute window; `None` = unlimited.
    pub ilert_rate_limit_per_minute: Option<u32>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            seed: 0,
            api_key: "sim-api-key".to_owned(),
            ilert_integration_keys: vec!["sim-ilert-key".to_owned()],
            intake_keys: vec!["sim-intake-key".to_owned()],
            ilert_rate_limit_per_minute: None,
        }
    }
}

/// Absolute URLs of the running simulators.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimUrls {
    /// Sekoia.io REST base (routes under `/v1/...` and `/api/v1/...`).
    pub sekoia: String,
    /// Sekoia.io live notifications WebSocket.
    pub live: String,
    /// Sekoia.io intake (`POST /` and `POST /batch`).
    pub intake: String,
    /// ilert's Sekoia.io-typed endpoint; clients POST to `<ilert>/<integration_key>`.
    pub ilert: String,
    /// ilert's generic Events API (`/api/v1/events` is served too).
    pub ilert_events: String,
    /// PagerDuty Events v2.
    pub pagerduty: String,
    /// A Mattermost incoming webhook (any `/hooks/<id>` works).
    pub mattermost: String,
    /// Records any method and path and answers 200.
    pub sink: String,
    /// The control API.
    pub control: String,
}

/// What can go wrong when driving the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("port {0} plus the listener offset is beyond 65535")]
    PortRange(u16),
    #[error("unknown alert {0}")]
    UnknownAlert(String),
    #[error("unknown comment {0}")]
    UnknownComment(String),
    #[error("unknown search job {0}")]
    UnknownSearchJob(String),
    #[error("unknown {kind} {id}")]
    Unknown { kind: &'static str, id: String },
    #[error("unknown status or action {0:?}")]
    UnknownStatus(String),
    #[error("invalid {field}: {reason}")]
    Invalid { field: String, reason: String },
}

impl SimError {
    pub(crate) fn unknown(kind: &'static str, id: &str) -> Self {
        Self::Unknown {
            kind,
            id: id.to_owned(),
        }
    }

    pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Starts every simulator and returns once all of them listen.
pub async fn start(config: SimConfig) -> Result<Simulator, SimError> {
    server::start(config).await
}
