//! The simulator as its own process (`alertsync sim --port 0`), and the calls of its
//! control API the measurements need: create alerts, count live connections, read the
//! notification and ilert timings.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The Sekoia.io API key and ilert integration key the simulator accepts by default.
pub const API_KEY: &str = "sim-api-key";
pub const ILERT_KEY: &str = "sim-ilert-key";

/// At most this many alerts per control request, to keep each answer small.
const CREATE_BATCH: usize = 200;

/// Where the simulator listens (the fields of its first line of output that are used).
#[derive(Clone, Debug, Deserialize)]
pub struct Urls {
    pub sekoia: String,
    pub ilert: String,
    pub control: String,
}

/// One timestamped step, as `GET <control>/timings` gives it.
#[derive(Clone, Debug, Deserialize)]
pub struct TimedEvent {
    pub alert_uuid: String,
    pub what: String,
    pub at_us: u64,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Timings {
    pub notifications: Vec<TimedEvent>,
    pub ilert: Vec<TimedEvent>,
}

/// A running simulator process; killed when dropped.
pub struct SimProcess {
    pub urls: Urls,
    http: reqwest::Client,
    _child: Child,
}

impl SimProcess {
    pub async fn start(alertsync: &Path) -> anyhow::Result<SimProcess> {
        let mut child = Command::new(alertsync)
            .args(["sim", "--port", "0"])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {} sim", alertsync.display()))?;
        let stdout = child.stdout.take().context("the simulator's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .context("the simulator did not print its URLs within 30 s")??
            .context("the simulator ended before printing its URLs")?;
        let urls: Urls = serde_json::from_str(&first)
            .with_context(|| format!("unexpected first line from the simulator: {first}"))?;
        Ok(SimProcess {
            urls,
            http: reqwest::Client::new(),
            _child: child,
        })
    }

    async fn control_get(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        let response = self
            .http
            .get(format!("{}{path}", self.urls.control))
            .send()
            .await?;
        check(response).await
    }

    /// Creates `count` generated alerts (in batches); their uuids.
    pub async fn create_alerts(&self, count: usize) -> anyhow::Result<Vec<String>> {
        let mut uuids = Vec::with_capacity(count);
        while uuids.len() < count {
            let batch = CREATE_BATCH.min(count - uuids.len());
            uuids.extend(self.create_batch(batch).await?);
        }
        Ok(uuids)
    }

    /// One `POST <control>/alerts {"count": n}`.
    pub async fn create_batch(&self, count: usize) -> anyhow::Result<Vec<String>> {
        let response = self
            .http
            .post(format!("{}/alerts", self.urls.control))
            .json(&json!({ "count": count }))
            .send()
            .await?;
        let alerts: Vec<Value> = check(response).await?.json().await?;
        alerts
            .iter()
            .map(|alert| {
                alert["uuid"]
                    .as_str()
                    .map(str::to_owned)
                    .context("a created alert without uuid")
            })
            .collect()
    }

    pub async fn live_connections(&self) -> anyhow::Result<u64> {
        let answer: Value = self.control_get("/live/connections").await?.json().await?;
        answer["count"]
            .as_u64()
            .context("no count in /live/connections")
    }

    pub async fn timings(&self) -> anyhow::Result<Timings> {
        Ok(self.control_get("/timings").await?.json().await?)
    }

    /// Waits until a live connection asked for notifications.
    pub async fn wait_for_live_subscriber(&self, limit: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        while self.live_connections().await? == 0 {
            if tokio::time::Instant::now() > deadline {
                bail!("nothing subscribed to live notifications within {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// How many events ilert accepted so far.
    pub async fn ilert_count(&self) -> anyhow::Result<usize> {
        let answer: Value = self.control_get("/timings/counts").await?.json().await?;
        let count = answer["ilert"]
            .as_u64()
            .context("no ilert in /timings/counts")?;
        Ok(usize::try_from(count)?)
    }

    /// Waits until ilert accepted at least `count` events, with no more than `stall`
    /// between two signs of progress; the timings then.
    pub async fn wait_for_ilert(&self, count: usize, stall: Duration) -> anyhow::Result<Timings> {
        let mut seen = 0;
        let mut last_progress = tokio::time::Instant::now();
        loop {
            let accepted = self.ilert_count().await?;
            if accepted >= count {
                return self.timings().await;
            }
            if accepted > seen {
                seen = accepted;
                last_progress = tokio::time::Instant::now();
            } else if last_progress.elapsed() > stall {
                bail!("ilert received {seen} of {count} events, and nothing more for {stall:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn check(response: reqwest::Response) -> anyhow::Result<reqwest::Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let url = response.url().clone();
    let text = response.text().await.unwrap_or_default();
    bail!("{url} answered {status}: {text}")
}
