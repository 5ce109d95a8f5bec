//! The alertsync configuration file (TOML): accounts, playbooks, and the settings of the
//! server, the store and delivery.
//!
//! ```toml
//! [[account]]
//! name = "ilert-prod"
//! module = "ilert"
//! integration_key = "${ILERT_INTEGRATION_KEY}"
//!
//! [[playbook]]
//! file = "playbooks/forward-alerts-to-ilert.json"
//! accounts = { "3" = "ilert-prod" }
//! ```
//!
//! Every string value may reference environment variables as `${NAME}`; `$${` stands for a
//! literal `${`. Accounts are checked against their module's configuration schema. Loading
//! reports every problem at once, each as `file:line: message` naming the key, and never
//! shows a secret value.

mod error;
mod interpolate;
mod parse;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use alertsync_engine::ratelimit::RateLimits;
use alertsync_engine::redact::MASK;
use alertsync_engine::{Account, Registry, RetryPolicy};

pub use error::{ConfigError, Problem};

/// The environment variable naming the configuration file when `--config` is not given.
pub const CONFIG_ENV: &str = "ALERTSYNC_CONFIG";
/// The configuration file used when neither `--config` nor [`CONFIG_ENV`] names one.
pub const DEFAULT_CONFIG_FILE: &str = "alertsync.toml";

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was loaded from (or would have been).
    pub path: PathBuf,
    /// The accounts, in file order.
    pub accounts: Vec<Arc<Account>>,
    /// The playbooks, in file order.
    pub playbooks: Vec<PlaybookEntry>,
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub delivery: DeliveryConfig,
    pub health: HealthConfig,
    pub live: LiveConfig,
}

/// A `[[playbook]]` entry.
#[derive(Clone, PartialEq, Eq)]
pub struct PlaybookEntry {
    /// The playbook file, resolved against the configuration file's directory.
    pub file: PathBuf,
    /// Whether the playbook runs (default `true`).
    pub enabled: bool,
    /// The token a webhook trigger of this playbook requires, if any.
    pub webhook_token: Option<String>,
    /// Which account a node uses: node id → account name (every name is a configured account).
    pub accounts: BTreeMap<String, String>,
    /// The line of the entry in the configuration file, for errors about the playbook.
    pub line: usize,
}

impl fmt::Debug for PlaybookEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlaybookEntry")
            .field("file", &self.file)
            .field("enabled", &self.enabled)
            .field("webhook_token", &self.webhook_token.as_ref().map(|_| MASK))
            .field("accounts", &self.accounts)
            .field("line", &self.line)
            .finish()
    }
}

/// `[server]`: the HTTP server (REST API, webhooks, web UI).
#[derive(Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Address to listen on, `host:port` (default `127.0.0.1:8080`).
    pub listen: String,
    /// The URL the server is reached at from outside, for webhook URLs shown to users.
    pub public_url: Option<String>,
    /// The bearer token the REST API, `/metrics` and the console require, if any.
    pub token: Option<String>,
}

impl ServerConfig {
    pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
    /// The shortest `token` accepted.
    pub const MIN_TOKEN_CHARS: usize = 16;
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: Self::DEFAULT_LISTEN.to_owned(),
            public_url: None,
            token: None,
        }
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("token", &self.token.as_ref().map(|_| MASK))
            .finish()
    }
}

/// `[store]`: where runs, the inbox and delivery state are kept.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// The database file, resolved against the configuration file's directory
    /// (default `alertsync-data/alertsync.db`); files made for runs live beside it, in
    /// `files/`, whichever database keeps the rest.
    pub path: PathBuf,
    /// A PostgreSQL database (`postgres://user:${PASSWORD}@host:5432/alertsync`) instead
    /// of the file: what several instances share.
    pub url: Option<String>,
    /// Connections each instance keeps to PostgreSQL (default 8).
    pub pool_size: u32,
    /// Days finished runs, done events and the files made for runs are kept (default 30);
    /// `0` keeps them for ever. Open runs and dead letters nobody handled are always kept.
    pub retention_days: u32,
}

impl StoreConfig {
    pub const DEFAULT_PATH: &str = "alertsync-data/alertsync.db";
    pub const DEFAULT_RETENTION_DAYS: u32 = 30;
    pub const DEFAULT_POOL_SIZE: u32 = 8;

    /// The default store, relative to the directory `config_dir`.
    pub fn in_dir(config_dir: &Path) -> Self {
        Self {
            path: config_dir.join(Self::DEFAULT_PATH),
            url: None,
            pool_size: Self::DEFAULT_POOL_SIZE,
            retention_days: Self::DEFAULT_RETENTION_DAYS,
        }
    }

    /// How long finished work is kept; `None` for ever.
    pub fn retention(&self) -> Option<std::time::Duration> {
        (self.retention_days > 0)
            .then(|| std::time::Duration::from_secs(u64::from(self.retention_days) * 86_400))
    }
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("path", &self.path)
            .field("url", &self.url.as_ref().map(|_| MASK))
            .field("pool_size", &self.pool_size)
            .field("retention_days", &self.retention_days)
            .finish()
    }
}

/// `[delivery]`: retries and rate limits of outgoing deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// Attempts in all, the first included (default 12: about four minutes of retries).
    pub max_attempts: u32,
    /// Delay before the first retry, doubled at each further retry (default 500 ms).
    pub initial_delay_ms: u64,
    /// Upper bound of a retry delay, `Retry-After` included (default 60 000 ms).
    pub max_delay_ms: u64,
    /// No retry is planned later than this many seconds after the first failure, even with
    /// attempts left, across restarts too (default 86 400: a day).
    pub max_age_secs: u64,
    /// Deliveries per minute to one ilert integration key (default 50).
    pub ilert_rate_per_minute: u32,
    /// Deliveries in flight at once (default 8).
    pub workers: usize,
    /// The largest response body an action reads, in bytes (default 16 MiB); an account's
    /// `max_response_bytes` overrides it for its requests.
    pub max_response_bytes: u64,
    /// Runs in a row failing with an error to fix (4xx, argument, template) after which a
    /// playbook is disabled (default 5); transient failures never count.
    pub disable_after_failures: u32,
    /// Unclean stops of the process during one run after which it is not resumed again
    /// but becomes a dead letter (default 3).
    pub max_interruptions: u32,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 12,
            initial_delay_ms: 500,
            max_delay_ms: 60_000,
            max_age_secs: alertsync_engine::retry::DEFAULT_MAX_AGE.as_secs(),
            ilert_rate_per_minute: 50,
            workers: 8,
            max_response_bytes: alertsync_engine::http::DEFAULT_MAX_RESPONSE_BYTES,
            disable_after_failures: 5,
            max_interruptions: 3,
        }
    }
}

/// `[health]`: when `/healthz` says the service is not doing its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthConfig {
    /// How long a live connection may be down (reconnecting) before it makes the service
    /// unhealthy (default 60 s). A refused key makes it unhealthy after this time too.
    pub live_grace_secs: u64,
    /// How long a run may wait in the queue (of an enabled playbook) before the backlog
    /// makes the service unhealthy (default 300 s).
    pub max_queue_age_secs: u64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            live_grace_secs: 60,
            max_queue_age_secs: 300,
        }
    }
}

/// `[live]`: the live notification connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveConfig {
    /// First wait before trying again a key or URL Sekoia.io refused (default 30 s); it
    /// doubles at each refusal up to `rejected_retry_max_secs` (default 900 s).
    pub rejected_retry_min_secs: u64,
    pub rejected_retry_max_secs: u64,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            rejected_retry_min_secs: 30,
            rejected_retry_max_secs: 15 * 60,
        }
    }
}

impl DeliveryConfig {
    /// The retry policy these settings describe.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_attempts,
            initial_delay: Duration::from_millis(self.initial_delay_ms),
            max_delay: Duration::from_millis(self.max_delay_ms),
            max_age: Duration::from_secs(self.max_age_secs),
        }
    }

    /// The per-destination quotas these settings describe (ilert: per integration key).
    pub fn rate_limits(&self) -> RateLimits {
        RateLimits::new([("ilert".to_owned(), self.ilert_rate_per_minute)])
    }
}

impl Config {
    /// Loads `path` with the process environment for `${VAR}` interpolation.
    pub fn load(path: &Path, registry: &Registry) -> Result<Config, ConfigError> {
        Self::load_with_env(path, registry, &|name| std::env::var(name).ok())
    }

    /// Loads `path` with an explicit environment lookup.
    pub fn load_with_env(
        path: &Path,
        registry: &Registry,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let source = read(path)?;
        Self::parse_str(&source, path, registry, env)
    }

    /// Loads `path` as far as it is valid, with the process environment: the configuration
    /// without its faulty parts (an account or a `[[playbook]]` entry with a problem is left
    /// out, a faulty setting keeps its default) and every problem found. For checks that go
    /// on with what is valid; an unreadable file is still an error.
    pub fn load_partial(
        path: &Path,
        registry: &Registry,
    ) -> Result<(Config, Vec<Problem>), ConfigError> {
        let source = read(path)?;
        let env = |name: &str| std::env::var(name).ok();
        Ok(parse::parse_partial(&source, path, registry, &env))
    }

    /// Parses `source` as if read from `origin`: errors name `origin`, relative paths are
    /// resolved against its directory.
    pub fn parse_str(
        source: &str,
        origin: &Path,
        registry: &Registry,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        parse::parse(source, origin, registry, env)
    }

    /// An empty configuration (no accounts, no playbooks, defaults everywhere), used when the
    /// default file is absent.
    pub fn empty(path: PathBuf) -> Config {
        let store = StoreConfig::in_dir(config_dir(&path));
        Config {
            path,
            accounts: Vec::new(),
            playbooks: Vec::new(),
            server: ServerConfig::default(),
            store,
            delivery: DeliveryConfig::default(),
            health: HealthConfig::default(),
            live: LiveConfig::default(),
        }
    }

    /// The account with this name.
    pub fn account(&self, name: &str) -> Option<&Arc<Account>> {
        self.accounts.iter().find(|a| a.name == name)
    }
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
        path: path.to_owned(),
        error,
    })
}

/// The directory relative paths of a configuration file are resolved against.
pub(crate) fn config_dir(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new(""))
}

/// Where the configuration comes from: the `--config` flag, else `ALERTSYNC_CONFIG`, else
/// `alertsync.toml`. Returns the path and whether it was given explicitly (an explicit file
/// must exist; the default one may be absent).
pub fn config_path(flag: Option<&Path>) -> (PathBuf, bool) {
    config_path_with_env(flag, &|name| std::env::var_os(name))
}

/// [`config_path`] with an explicit environment lookup.
pub fn config_path_with_env(
    flag: Option<&Path>,
    env: &dyn Fn(&str) -> Option<std::ffi::OsString>,
) -> (PathBuf, bool) {
    if let Some(flag) = flag {
        return (flag.to_owned(), true);
    }
    match env(CONFIG_ENV) {
        Some(value) if !value.is_empty() => (PathBuf::from(value), true),
        _ => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
    }
}
