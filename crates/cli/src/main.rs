//! `alertsync`: runs Sekoia.io playbooks on your own machine and forwards Sekoia.io alerts to
//! ilert, PagerDuty, Mattermost and any HTTP endpoint.
//!
//! This crate is only the command line: each subcommand lives in [`commands`] and calls the
//! library crates (`alertsync-spl`, `-engine`, `-integrations`, `-sim`, `-config`).
//!
//! Exit codes: 0 success, 1 the work failed (an action, a run, a validation), 2 usage or
//! configuration error.

mod commands;
mod logging;

use std::process::ExitCode;

use clap::Parser;

use commands::{Cli, UsageError};

/// Threads for blocking work (store reads, waits for store commits).
const BLOCKING_THREADS: usize = 32;

/// Async threads of `serve`: every core but one, which is left to the store's writer thread
/// (its commits are the other half of the service's work); at least one. On 2 cores, one
/// async thread instead of two cost about a tenth less CPU per alert, no longer waking each
/// other for every task (README, "The hot path, step by step"). `TOKIO_WORKER_THREADS`
/// overrides it.
fn service_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |cores| cores.get().saturating_sub(1).max(1))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log_format = cli.global.log_format;
    logging::init(cli.global.verbose, log_format);
    // Blocking work is store reads, serialised on one connection: a few threads do it all,
    // while tokio's default of 512 would let a burst spawn hundreds of waiting threads,
    // each with its own allocator arena.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all().max_blocking_threads(BLOCKING_THREADS);
    if cli.runs_the_service() && std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(service_workers());
    }
    let runtime = match builder.build() {
        Ok(runtime) => runtime,
        Err(err) => {
            logging::fatal(
                log_format,
                &format!("cannot start the async runtime: {err}"),
            );
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::dispatch(cli)) {
        Ok(code) => code,
        Err(err) => {
            logging::fatal(log_format, &format!("{err:#}"));
            if err.is::<UsageError>() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
