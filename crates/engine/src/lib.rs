//! The alertsync engine: what every module plugs into and what runs playbooks.
//!
//! * [`manifest`] describes modules, actions and triggers (UUIDs, argument schemas, secrets);
//! * [`action`] is the [`Action`] trait, its context, output and error classification;
//! * [`registry`] finds modules and actions by UUID or slug;
//! * [`account`] holds a module configuration ("account") with its secrets, and the
//!   [`AccountBook`] that picks the account each playbook node uses;
//! * [`redact`] masks secrets by value in everything that is recorded or printed;
//! * [`retry`] is the one retry policy (capped exponential backoff with jitter, `Retry-After`);
//! * [`http`] is the shared HTTP client every action sends through (dry-run aware), holding
//!   requests to the per-destination quotas of [`ratelimit`];
//! * [`links`] records the ids other systems gave to Sekoia.io alerts ([`AlertLinks`]);
//! * [`invoke`] validates arguments against a manifest and runs one action;
//! * [`catalog`] tells playbook validation what the registry and the accounts provide;
//! * [`executor`] runs a playbook for one trigger event and records every node run;
//! * [`telemetry`] names the metrics the engine records (deliveries, retries, rate-limit waits).

pub mod account;
pub mod action;
pub mod alerts_read;
pub mod catalog;
pub mod executor;
pub mod http;
pub mod invoke;
pub mod links;
pub mod manifest;
pub mod ratelimit;
pub mod redact;
pub mod registry;
pub mod retry;
pub mod telemetry;

pub use account::{Account, AccountBook};
pub use action::{
    Action, ActionContext, ActionError, ActionOutput, ErrorKind, LogLevel, LogLine, NodeLog,
};
pub use alerts_read::AlertsRead;
pub use catalog::RegistryCatalog;
pub use executor::{
    Cancellation, FailureKind, Hold, NoObserver, NodeRecord, NodeStatus, RunExecutor, RunObserver,
    RunRecord, RunRequest, RunStatus,
};
pub use links::AlertLinks;
pub use manifest::{ActionManifest, ModuleManifest, TriggerManifest};
pub use redact::Redactor;
pub use registry::{Module, Registry, UnknownAction};
pub use retry::{NodeRetries, RetryJournal, RetryPolicy, RetryProgress};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
