//! `alertsync serve`: the service — live triggers, webhooks and schedules feed a durable
//! inbox, and the configured playbooks run in order per alert until the process is stopped.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use alertsync_engine::Cancellation;
use alertsync_server::serve::{ServeOptions, serve};
use clap::Args;

use super::{GlobalArgs, load_config, shutdown_signal, usage};
use crate::logging::SERVICE;

#[derive(Args)]
#[command(
    after_help = "The configuration's [[playbook]] entries are validated first; the \
service does not start while any has an error (they are all listed).\n\
Events are stored before they are acknowledged, so a crash loses nothing: at the next start \
unfinished runs resume (actions that completed are not run again).\n\
Stop with Ctrl-C or SIGTERM: runs in flight get --grace seconds to finish."
)]
pub struct ServeArgs {
    /// Where the HTTP server (webhooks, health) listens; default: [server] listen, else
    /// 127.0.0.1:8080.
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
    /// Seconds runs in flight may take to finish when stopping.
    #[arg(long, default_value_t = 20, value_name = "SECONDS")]
    grace: u64,
}

pub async fn run(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let registry = Arc::new(alertsync_integrations::registry());
    let config = load_config(global, &registry)?;
    if config.playbooks.is_empty() {
        tracing::warn!(
            target: SERVICE,
            "{} has no [[playbook]] entry: nothing will run",
            config.path.display()
        );
    }
    let options = ServeOptions {
        listen: args.listen.unwrap_or_else(|| config.server.listen.clone()),
        grace: Duration::from_secs(args.grace),
    };
    let stop = Cancellation::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!(target: SERVICE, "stopping: finishing the runs in flight");
        on_signal.cancel();
    });
    let served = serve(config, registry, options, stop, |address| {
        tracing::info!(
            target: SERVICE,
            "alertsync is serving on http://{address} (Ctrl-C to stop)"
        );
    })
    .await;
    match served {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(err) => usage(err.to_string()),
    }
}
