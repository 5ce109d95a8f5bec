//! The subcommands, and what they share: global options, configuration loading, usage
//! errors, JSON output and shutdown signals.

mod action;
mod check;
mod demo;
mod docs;
mod export;
mod modules;
mod playbook_file;
mod run;
mod serve;
mod service;
mod sim;
mod store;
mod summary;
mod validate;

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

use alertsync_config::Config;
use alertsync_engine::Registry;
use clap::{Args, Parser, Subcommand};

use crate::logging::LogFormat;

/// Runs Sekoia.io playbooks on your own machine and forwards Sekoia.io alerts to ilert,
/// PagerDuty, Mattermost and any HTTP endpoint.
/// `alertsync --version`: the version, the commit and the build date (see `build.rs`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ALERTSYNC_COMMIT"),
    ", built ",
    env!("ALERTSYNC_BUILD_DATE"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "alertsync",
    version = VERSION,
    about = "Runs Sekoia.io playbooks on your own machine and forwards Sekoia.io alerts to \
ilert, PagerDuty, Mattermost and any HTTP endpoint.",
    long_about = None
)]
#[command(
    after_help = "Try `alertsync demo` to see alerts flow from a simulated Sekoia.io to a \
simulated ilert.\nExit codes: 0 success, 1 the work failed, 2 usage or configuration error, \
3 a playbook needs a module, action or trigger alertsync does not implement."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// Whether the command is `serve`, the long-running service.
    pub fn runs_the_service(&self) -> bool {
        matches!(self.command, Command::Serve(_))
    }
}

/// Options every subcommand accepts.
#[derive(Args)]
pub struct GlobalArgs {
    /// The configuration file (accounts, playbooks, server). Default: `alertsync.toml` in the
    /// current directory, used only if it exists.
    #[arg(long, global = true, env = "ALERTSYNC_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug). `RUST_LOG` overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// How log lines on stderr are written: `text` for people (coloured only on a terminal),
    /// `json` for log collectors (one object per line).
    #[arg(
        long,
        global = true,
        env = "ALERTSYNC_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        value_name = "FORMAT"
    )]
    pub log_format: LogFormat,
}

#[derive(Subcommand)]
enum Command {
    /// Run one action once, e.g. `alertsync action ilert.trigger_alert --arg alert_uuid=AL...`.
    Action(action::ActionArgs),
    /// Start the Sekoia.io / ilert / PagerDuty / Mattermost simulator and print its URLs.
    Sim(sim::SimArgs),
    /// List the modules, actions and triggers alertsync implements, with their UUIDs.
    Modules(modules::ModulesArgs),
    /// Check playbooks and report every problem, located by node and JSON path.
    Validate(validate::ValidateArgs),
    /// Check the configuration and every playbook it names as `serve` would, listing
    /// everything wrong at once (`--online`: prove each account works).
    Check(check::CheckArgs),
    /// Run a playbook once, from an event file or a Sekoia.io alert (`--dry-run` to try it).
    Run(run::RunArgs),
    /// Run the service: live Sekoia.io notifications, webhooks and schedules start the
    /// configured playbooks, durably and in order per alert.
    Serve(serve::ServeArgs),
    /// Ask a running service: its health, enable or disable a playbook, list, replay or
    /// dismiss dead letters.
    Service(service::ServiceArgs),
    /// Care of the store: an online backup, an integrity check, pruning finished work,
    /// schema migrations, and a copy of a SQLite store into PostgreSQL.
    Store(store::StoreArgs),
    /// Write a playbook back out as SPL (unknown keys and order preserved).
    Export(export::ExportArgs),
    /// Show alertsync at work against the simulator, with nothing to configure.
    Demo(demo::DemoArgs),
    /// Print the completion script for a shell (bash, zsh, fish, powershell, elvish).
    Completions(docs::CompletionsArgs),
    /// Print the manual page (roff), or write every page into a directory.
    Man(docs::ManArgs),
}

pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Action(args) => action::run(&cli.global, args).await,
        Command::Sim(args) => sim::run(args).await,
        Command::Modules(args) => modules::run(args),
        Command::Validate(args) => validate::run(&cli.global, args),
        Command::Check(args) => check::run(&cli.global, args).await,
        Command::Run(args) => run::run(&cli.global, args).await,
        Command::Store(args) => store::run(&cli.global, args).await,
        Command::Export(args) => export::run(args),
        Command::Serve(args) => serve::run(&cli.global, args).await,
        Command::Service(args) => service::run(&cli.global, args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Completions(args) => docs::completions(args),
        Command::Man(args) => docs::man(args),
    }
}

/// How a command prints its answer: for people, or as JSON for scripts.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

/// The exit code of `validate`, `run` and `serve` when a playbook needs a module, action or
/// trigger alertsync does not implement (and nothing is wrong in the file).
pub const NEEDS_EXIT_CODE: u8 = 3;

/// A mistake in how alertsync was called or configured (exit code 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Fails with a [`UsageError`].
pub fn usage<T>(message: impl Into<String>) -> anyhow::Result<T> {
    Err(UsageError(message.into()).into())
}

/// The configuration: the given file (which must exist), else `alertsync.toml` if present,
/// else an empty configuration.
pub fn load_config(global: &GlobalArgs, registry: &Registry) -> anyhow::Result<Config> {
    let (path, explicit) = alertsync_config::config_path(global.config.as_deref());
    if !explicit && !path.exists() {
        return Ok(Config::empty(path));
    }
    Config::load(&path, registry).map_err(|err| UsageError(err.to_string()).into())
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
