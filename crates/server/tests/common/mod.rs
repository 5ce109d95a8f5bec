//! What the HTTP tests of `serve` share: the real service started in process on a loopback
//! listener, with a SQLite store in a temporary directory and the simulator playing
//! Sekoia.io and ilert, the shipped forward-to-ilert playbook deployed; answers kept for a
//! final scan for secrets.

#![allow(dead_code)] // each test file uses its own part of the harness

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alertsync_config::Config;
use alertsync_engine::Cancellation;
use alertsync_server::serve::{ServeError, ServeOptions, serve};
use alertsync_sim::{SimConfig, Simulator};
use reqwest::StatusCode;
use serde_json::Value;

pub const PLAYBOOK: &str =
    include_str!("../../../../examples/playbooks/forward-alerts-to-ilert.json");
pub const PLAYBOOK_ID: &str = "096acba7-ca84-4bc7-8fcb-8b44f5464b89";

/// A running service and its simulator.
pub struct Service {
    pub base: String,
    /// Follows no redirect, so tests see them.
    pub client: reqwest::Client,
    /// The server token, if the service has one.
    pub token: Option<&'static str>,
    stop: Cancellation,
    task: tokio::task::JoinHandle<Result<(), ServeError>>,
    pub simulator: Simulator,
    /// Every body answered so far, scanned for secrets at the end.
    bodies: Mutex<Vec<String>>,
    _dir: tempfile::TempDir,
}

/// An answer: status, headers and body.
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// A configuration on the simulator; `sekoia` names the Sekoia.io account (tests in one
/// process share the metrics, whose live connection gauge is by account).
pub fn config_text(simulator: &Simulator, token: Option<&str>, sekoia: &str) -> String {
    let defaults = SimConfig::default();
    let server = token
        .map(|t| format!("[server]\ntoken = \"{t}\"\n\n"))
        .unwrap_or_default();
    format!(
        "{server}[[account]]\nname = \"{sekoia}\"\nmodule = \"sekoia.io\"\nbase_url = \"{}\"\napi_key = \"{}\"\n\n\
         [[account]]\nname = \"ilert\"\nmodule = \"ilert\"\nintegration_url = \"{}\"\nintegration_key = \"{}\"\n\n\
         [[playbook]]\nfile = \"forward.json\"\n\n[store]\npath = \"data/alertsync.db\"\n",
        simulator.urls().sekoia,
        defaults.api_key,
        simulator.urls().ilert,
        defaults.ilert_integration_keys[0],
    )
}

pub fn load(dir: &Path, text: &str) -> Config {
    std::fs::write(dir.join("forward.json"), PLAYBOOK).expect("write playbook");
    let path = dir.join("alertsync.toml");
    std::fs::write(&path, text).expect("write config");
    Config::load(&path, &alertsync_integrations::registry()).expect("config loads")
}

/// The secrets of the configuration, which no answer may show.
pub fn secrets() -> Vec<String> {
    let defaults = SimConfig::default();
    vec![
        defaults.api_key.clone(),
        defaults.ilert_integration_keys[0].clone(),
    ]
}

/// Starts the simulator and the service (with `token` as its server token, if any).
pub async fn start(token: Option<&'static str>, sekoia: &str) -> Service {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let simulator = alertsync_sim::start(SimConfig::default())
        .await
        .expect("simulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = load(dir.path(), &config_text(&simulator, token, sekoia));
    let stop = Cancellation::new();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<SocketAddr>();
    let task = tokio::spawn(serve(
        config,
        Arc::new(alertsync_integrations::registry()),
        ServeOptions {
            listen: "127.0.0.1:0".to_owned(),
            grace: Duration::from_secs(2),
        },
        stop.clone(),
        move |address| {
            let _ = ready_tx.send(address);
        },
    ));
    let address = ready_rx.await.expect("serve starts");
    Service {
        base: format!("http://{address}"),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        token,
        stop,
        task,
        simulator,
        bodies: Mutex::new(Vec::new()),
        _dir: dir,
    }
}

impl Service {
    /// Sends `request` and keeps the body for the secrets scan.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("request");
        let answer = Answer {
            status: response.status(),
            headers: response.headers().clone(),
            text: response.text().await.expect("body"),
        };
        self.bodies
            .lock()
            .expect("bodies")
            .push(answer.text.clone());
        answer
    }

    /// `POST /login` with `token` in the form, as the login page sends it.
    pub fn login_request(&self, token: &str) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}/login", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
    }

    /// Stops the service and the simulator; returns every body answered.
    pub async fn stop(self) -> Vec<String> {
        self.stop.cancel();
        let _ = self.task.await;
        self.simulator.shutdown().await;
        self.bodies.into_inner().expect("bodies")
    }
}
