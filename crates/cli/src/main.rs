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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log_format = cli.global.log_format;
    logging::init(cli.global.verbose, log_format);
    // Blocking work is store reads, serialised on one connection: a few threads do it all,
    // while tokio's default of 512 would let a burst spawn hundreds of waiting threads,
    // each with its own allocator arena.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
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
