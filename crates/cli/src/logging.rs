//! Log lines on stderr, so stdout stays machine-readable: text for people (coloured only on a
//! terminal, and never with `NO_COLOR` set) or JSON, one object per line, for log
//! collectors. `-v` raises the level, `RUST_LOG` overrides it; the service's own notices
//! ([`SERVICE`]) and audit lines ([`alertsync_server::audit::TARGET`]) are kept at INFO
//! whatever the level.

use std::io::IsTerminal;

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// The log target of what the service tells its operator (serving, stopping).
pub const SERVICE: &str = alertsync_server::SERVICE_LOG;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One line per event, for people.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message` and the event's
    /// fields.
    Json,
}

/// Installs the subscriber for the whole process.
pub fn init(verbose: u8, format: LogFormat) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        // Targets match by prefix: `alertsync` covers every alertsync crate.
        2 => "info,alertsync=debug",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{level},{SERVICE}=info,{}=info",
            alertsync_server::audit::TARGET
        ))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(colours()).init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// Whether stderr takes colours: a terminal, and no `NO_COLOR`.
fn colours() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Reports the error that ends the process: `error: ...` for people, one JSON line in the
/// JSON format.
pub fn fatal(format: LogFormat, message: &str) {
    match format {
        LogFormat::Text => eprintln!("error: {message}"),
        LogFormat::Json => tracing::error!(target: SERVICE, "{message}"),
    }
}
