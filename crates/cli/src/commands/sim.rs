//! `alertsync sim`: the simulator of Sekoia.io, ilert, PagerDuty, Mattermost and a generic
//! HTTP sink, as a long-running process for demos, playbook testing and benchmarks.

use std::net::IpAddr;
use std::process::ExitCode;

use alertsync_sim::SimConfig;
use clap::Args;

use super::{shutdown_signal, usage};

#[derive(Args)]
#[command(
    after_help = "The URLs are printed as one line of JSON on stdout, e.g.\n  \
alertsync sim --port 0 | head -1 | jq -r .sekoia\n\
The control API (the `control` URL) creates alerts, changes statuses, injects faults and \
shows every request a receiver got: GET it for the list of routes."
)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// First port; the listeners take this port and the next ones. 0 picks free ports.
    #[arg(long, default_value_t = 8400)]
    port: u16,
    /// Seed of the alert generator (same seed, same alerts).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The Sekoia.io API key the simulator accepts.
    #[arg(long, default_value = "sim-api-key", value_name = "KEY")]
    api_key: String,
    /// An ilert integration key the simulator accepts (repeatable).
    #[arg(
        long = "ilert-key",
        default_value = "sim-ilert-key",
        value_name = "KEY"
    )]
    ilert_keys: Vec<String>,
    /// An intake key the simulator accepts (repeatable).
    #[arg(
        long = "intake-key",
        default_value = "sim-intake-key",
        value_name = "KEY"
    )]
    intake_keys: Vec<String>,
    /// ilert events accepted per integration key per minute (429 beyond); unlimited if absent.
    #[arg(long, value_name = "N")]
    ilert_rate_limit: Option<u32>,
    /// Alerts to create at start.
    #[arg(long, default_value_t = 0, value_name = "N")]
    alerts: usize,
}

pub async fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    let config = SimConfig {
        host: args.host,
        port: args.port,
        seed: args.seed,
        api_key: args.api_key,
        ilert_integration_keys: args.ilert_keys,
        intake_keys: args.intake_keys,
        ilert_rate_limit_per_minute: args.ilert_rate_limit,
    };
    let simulator = match alertsync_sim::start(config).await {
        Ok(simulator) => simulator,
        Err(err) => return usage(format!("the simulator cannot start: {err}")),
    };
    simulator.create_alerts(args.alerts);
    println!("{}", serde_json::to_string(simulator.urls())?);
    eprintln!(
        "simulator running (control API: {}); Ctrl-C to stop",
        simulator.urls().control
    );
    shutdown_signal().await;
    simulator.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
