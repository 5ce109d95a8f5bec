//! `alertsync serve`: the service SOC teams deploy.
//!
//! It deploys the playbooks of the configuration ([`deploy`]), takes trigger events from
//! Sekoia.io's live notifications, webhooks and schedules, stores each one durably before
//! acknowledging it, and runs the playbooks they start — in arrival order per alert,
//! different alerts in parallel.

/// The log target of what the service tells its operator (serving, stopping, pruning): kept
/// at INFO whatever the log level.
pub const SERVICE_LOG: &str = "alertsync::service";

pub mod api;
pub mod audit;
pub mod check;
pub mod console;
pub mod deploy;
pub mod health;
pub mod hooks;
pub mod http;
pub mod inbox;
pub mod listener;
pub mod metrics;
pub mod retention;
pub mod scheduler;
pub mod serve;
pub mod trigger_output;
