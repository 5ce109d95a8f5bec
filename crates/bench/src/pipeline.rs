//! The service under load: the sustained pipeline (N alerts as fast as the simulator
//! raises them, on a store file or by one or more instances on a PostgreSQL database), a
//! fixed offered rate, and its memory idle and after many recorded runs. Each starts a
//! fresh simulator and fresh `alertsync serve` processes on a fresh store.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use crate::latency::{self, Latencies};
use crate::procs::ProcSample;
use crate::serve::{Cluster, Launch, Store};
use crate::sim::SimProcess;
use crate::stats::round3;

/// How long nothing may reach ilert before a measurement gives up.
const STALL: Duration = Duration::from_secs(60);
/// How often the fixed-rate phase offers a new batch.
const TICK: Duration = Duration::from_millis(5);
/// How long the service is left alone before its idle memory is read.
const SETTLE: Duration = Duration::from_secs(2);

/// What the measurements need to start the processes.
pub struct Setup {
    pub alertsync: PathBuf,
    pub playbook: PathBuf,
}

impl Setup {
    /// A simulator, and `instances` services with `playbooks` playbooks on `store`.
    async fn start(
        &self,
        playbooks: usize,
        store: &Store,
        instances: usize,
    ) -> anyhow::Result<(SimProcess, Cluster)> {
        let sim = SimProcess::start(&self.alertsync).await?;
        let launch = Launch {
            alertsync: &self.alertsync,
            sim: &sim,
            playbook: &self.playbook,
            playbooks,
            store,
        };
        let serve = Cluster::start(&launch, instances).await?;
        Ok((sim, serve))
    }
}

#[derive(Debug, Serialize)]
pub struct Sustained {
    /// `alertsync serve` processes sharing the store.
    pub instances: usize,
    pub alerts: usize,
    pub seconds: f64,
    pub alerts_per_second: f64,
    pub latency: Latencies,
    /// The peak resident memory of the largest instance.
    pub peak_rss_kb: u64,
    /// CPU time (user and system) summed over the instances.
    pub cpu_seconds: f64,
    pub cpu_ms_per_alert: f64,
    /// How fast the simulator raised the alerts (an upper bound on the throughput).
    pub offered_per_second: f64,
}

/// N alerts raised as fast as the simulator can, through `instances` services on `store`
/// to ilert.
pub async fn sustained(
    setup: &Setup,
    alerts: usize,
    store: &Store,
    instances: usize,
) -> anyhow::Result<Sustained> {
    let (sim, serve) = setup.start(1, store, instances).await?;
    let before = serve.sample()?;
    let raised = Instant::now();
    let mut created = 0;
    while created < alerts {
        let batch = 200.min(alerts - created);
        sim.create_batch(batch).await?;
        created += batch;
        if created % 2_000 < batch {
            progress!(
                "pipeline: {created}/{alerts} alerts raised, {} at ilert",
                sim.ilert_count().await?
            );
        }
    }
    let offered = alerts as f64 / raised.elapsed().as_secs_f64();
    let timings = wait_reporting(&sim, &serve, alerts, "pipeline").await?;
    let after = serve.sample()?;
    serve.stop().await?;
    let latency = latency::measure(&timings).context("no latency could be measured")?;
    let cpu = after.cpu_seconds - before.cpu_seconds;
    Ok(Sustained {
        instances,
        alerts,
        seconds: round3(latency.span_seconds),
        alerts_per_second: round3(alerts as f64 / latency.span_seconds),
        peak_rss_kb: after.peak_rss_kb,
        cpu_seconds: round3(cpu),
        cpu_ms_per_alert: round3(cpu * 1000.0 / alerts as f64),
        offered_per_second: round3(offered),
        latency,
    })
}

/// Waits for `count` ilert events, saying how far it got every few seconds.
async fn wait_reporting(
    sim: &SimProcess,
    serve: &Cluster,
    count: usize,
    what: &str,
) -> anyhow::Result<crate::sim::Timings> {
    let waiting = sim.wait_for_ilert(count, STALL);
    tokio::pin!(waiting);
    loop {
        tokio::select! {
            timings = &mut waiting => {
                return timings.with_context(|| format!("{what}; alertsync serve said:\n{}", tail(&serve.log_text())));
            }
            () = tokio::time::sleep(Duration::from_secs(5)) => {
                progress!("{what}: {}/{count} at ilert", sim.ilert_count().await?);
            }
        }
    }
}

fn tail(text: &str) -> &str {
    let start = text.len().saturating_sub(4000);
    let start = (start..text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    &text[start..]
}

#[derive(Debug, Serialize)]
pub struct FixedRate {
    pub offered_per_second: f64,
    pub seconds: f64,
    pub alerts: usize,
    pub latency: Latencies,
    pub peak_rss_kb: u64,
    pub cpu_seconds: f64,
    /// serve's CPU time (user and system) per alert at this rate.
    pub cpu_ms_per_alert: f64,
}

/// `rate` alerts a second for `duration`, raised in small batches on a steady tick; with
/// `profile`, serve's CPU profile meanwhile, drawn as a flame graph there.
pub async fn fixed_rate(
    setup: &Setup,
    rate: u32,
    duration: Duration,
    profile: Option<&std::path::Path>,
) -> anyhow::Result<FixedRate> {
    let (sim, serve) = setup.start(1, &Store::File, 1).await?;
    let recording = match (profile, serve.first_pid()) {
        (Some(dir), Some(pid)) => Some(crate::profile::start(dir, pid)?),
        _ => None,
    };
    let before = serve.sample()?;
    let started = Instant::now();
    let mut sent = 0usize;
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_report = Instant::now();
    while started.elapsed() < duration {
        ticker.tick().await;
        let due = (started.elapsed().min(duration).as_secs_f64() * f64::from(rate)) as usize;
        if due > sent {
            sim.create_batch(due - sent).await?;
            sent = due;
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            last_report = Instant::now();
            progress!(
                "fixed rate: {sent} alerts offered in {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    let offered_seconds = started.elapsed().as_secs_f64();
    let timings = wait_reporting(&sim, &serve, sent, "fixed rate").await?;
    let after = serve.sample()?;
    if let Some(recording) = recording {
        let graph = recording.finish().await?;
        progress!(
            "fixed rate: flame graph of serve written to {}",
            graph.display()
        );
    }
    serve.stop().await?;
    let cpu = after.cpu_seconds - before.cpu_seconds;
    Ok(FixedRate {
        offered_per_second: round3(sent as f64 / offered_seconds),
        seconds: round3(offered_seconds),
        alerts: sent,
        latency: latency::measure(&timings).context("no latency could be measured")?,
        peak_rss_kb: after.peak_rss_kb,
        cpu_seconds: round3(cpu),
        cpu_ms_per_alert: round3(cpu * 1000.0 / sent.max(1) as f64),
    })
}

#[derive(Debug, Serialize)]
pub struct Memory {
    pub playbooks: usize,
    pub idle: ProcSample,
    /// Runs recorded in the store (each alert runs every playbook).
    pub runs: usize,
    pub after_runs: ProcSample,
    pub seconds_to_record: f64,
    /// The store file's size after the runs, once the service stopped.
    pub store_bytes: u64,
    pub store_bytes_per_run: u64,
}

/// RSS idle with `playbooks` playbooks enabled, then after `runs` runs recorded.
pub async fn memory(setup: &Setup, playbooks: usize, runs: usize) -> anyhow::Result<Memory> {
    let (sim, serve) = setup.start(playbooks, &Store::File, 1).await?;
    tokio::time::sleep(SETTLE).await;
    let idle = serve.sample()?;
    let alerts = runs.div_ceil(playbooks);
    let started = Instant::now();
    let mut created = 0;
    while created < alerts {
        let batch = 100.min(alerts - created);
        sim.create_batch(batch).await?;
        created += batch;
        // Raised a little ahead of the service, so that the store, not a backlog, grows.
        while sim.ilert_count().await? + 4 * playbooks * 100 < created * playbooks {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if created % 1_000 < batch {
            progress!(
                "memory: {}/{} runs",
                created * playbooks,
                alerts * playbooks
            );
        }
    }
    wait_reporting(&sim, &serve, alerts * playbooks, "memory").await?;
    let seconds_to_record = started.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;
    let after_runs = serve.sample()?;
    let store_bytes = serve.stop().await?;
    let runs = alerts * playbooks;
    Ok(Memory {
        playbooks,
        idle,
        runs,
        after_runs,
        seconds_to_record: round3(seconds_to_record),
        store_bytes,
        store_bytes_per_run: store_bytes / runs.max(1) as u64,
    })
}
