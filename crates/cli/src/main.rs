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

use std::num::NonZeroUsize;
use std::process::ExitCode;

use clap::Parser;

use commands::{Cli, UsageError};

/// Threads for blocking work (store reads, waits for store commits).
const BLOCKING_THREADS: usize = 32;

/// The variable that sets the number of async threads (tokio's own name for it).
const THREADS_VARIABLE: &str = "TOKIO_WORKER_THREADS";

/// Async threads: [`THREADS_VARIABLE`] if set; for `serve`, every core but one, which is
/// left to the store's writer thread (its commits are the other half of the service's
/// work), at least one; for other commands, one per core. On 2 cores, one async thread for
/// `serve` instead of two cost about a tenth less CPU per alert, no longer waking each other
/// for every task (README, "The hot path, step by step"). Read here rather than by tokio,
/// which panics on a value it cannot use.
fn async_threads(serve: bool) -> Result<usize, String> {
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    match std::env::var_os(THREADS_VARIABLE) {
        None if serve => Ok(cores.saturating_sub(1).max(1)),
        None => Ok(cores),
        Some(value) => value
            .to_str()
            .and_then(|text| text.trim().parse::<NonZeroUsize>().ok())
            .map(NonZeroUsize::get)
            .ok_or_else(|| {
                format!(
                    "{THREADS_VARIABLE} must be a number of threads, 1 or more (it is `{}`)",
                    value.to_string_lossy()
                )
            }),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log_format = cli.global.log_format;
    logging::init(cli.global.verbose, log_format);
    let threads = match async_threads(cli.runs_the_service()) {
        Ok(threads) => threads,
        Err(why) => {
            logging::fatal(log_format, &why);
            return ExitCode::from(2);
        }
    };
    // Blocking work is store reads, serialised on one connection: a few threads do it all,
    // while tokio's default of 512 would let a burst spawn hundreds of waiting threads,
    // each with its own allocator arena.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(threads)
        .max_blocking_threads(BLOCKING_THREADS)
        .build()
    {
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
