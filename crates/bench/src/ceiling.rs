//! The loopback ceiling: the two HTTP calls of each forwarded alert (read it from
//! Sekoia.io, post it to ilert) made by a minimal client with the service's concurrency
//! and connection reuse — no engine, no store, no live notifications. What the machine
//! and the simulator allow at best.

use std::time::Instant;

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::Value;

use crate::sim::{API_KEY, ILERT_KEY, SimProcess};
use crate::stats::{percentile, round3};

#[derive(Debug, Serialize)]
pub struct Ceiling {
    pub alerts: usize,
    pub concurrency: usize,
    pub seconds: f64,
    pub alerts_per_second: f64,
    /// Time for both calls of one alert.
    pub p50_ms: f64,
    pub p99_ms: f64,
}

pub async fn run(
    sim: &SimProcess,
    uuids: &[String],
    concurrency: usize,
) -> anyhow::Result<Ceiling> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let started = Instant::now();
    let durations: Vec<f64> = futures_util::stream::iter(uuids)
        .map(|uuid| forward(&client, sim, uuid))
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(Ceiling {
        alerts: uuids.len(),
        concurrency,
        seconds: round3(seconds),
        alerts_per_second: round3(uuids.len() as f64 / seconds),
        p50_ms: round3(percentile(&durations, 50.0).unwrap_or(0.0)),
        p99_ms: round3(percentile(&durations, 99.0).unwrap_or(0.0)),
    })
}

/// GET the alert, POST it with its status name to ilert; milliseconds taken.
async fn forward(client: &reqwest::Client, sim: &SimProcess, uuid: &str) -> anyhow::Result<f64> {
    let started = Instant::now();
    let response = client
        .get(format!("{}/v1/sic/alerts/{uuid}", sim.urls.sekoia))
        .bearer_auth(API_KEY)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("Sekoia.io answered {} for {uuid}", response.status());
    }
    let mut alert: Value = response.json().await?;
    let status = alert["status"]["name"]
        .as_str()
        .map(str::to_lowercase)
        .context("an alert without status name")?;
    alert["status"] = Value::String(status);
    let response = client
        .post(format!("{}/{ILERT_KEY}", sim.urls.ilert))
        .json(&alert)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("ilert answered {} for {uuid}", response.status());
    }
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}
