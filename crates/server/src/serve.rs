//! Assembling the service: the store, the executor, the deployed playbooks, the inbox, the
//! scheduler, the trigger sources and the HTTP server, and stopping them in order.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alertsync_config::{Config, LiveConfig};
use alertsync_engine::http::HttpClient;
use alertsync_engine::{Account, AccountBook, Cancellation, Registry, RetryPolicy, RunExecutor};
use alertsync_integrations::cron::{CronSource, Schedule};
use alertsync_integrations::sekoia::live::{LiveError, LiveNotifications, LiveTiming};
use alertsync_integrations::sekoia::sources::{
    CheckpointTiming, FeedSource, LiveSource, SekoiaReader, ThresholdClock,
};
use alertsync_integrations::sekoia::triggers::feeds::FeedSettings;
use alertsync_integrations::sekoia::triggers::threshold::ThresholdSettings;
use alertsync_integrations::sekoia::{self, SekoiaClient};
use alertsync_integrations::source::{InboxWriter, Source, TriggerAt};
use alertsync_store::{
    PostgresOptions, PostgresStore, SqliteOptions, SqliteStore, Store, StoreError,
    StoredAlertLinks, StoredQuotas,
};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::api::auth::Access;
use crate::deploy::{AlertTrigger, DeployedPlaybook, Deployment, TriggerKind, TriggerNode, deploy};
use crate::health::{HealthInputs, LiveStatus};
use crate::http::{AppState, router};
use crate::inbox::Inbox;
use crate::listener::ConnectionLimits;
use crate::scheduler::{QueuePolicy, Scheduler};

/// How long the start-up check of a Sekoia.io key may take before the service starts
/// anyway (the live connection keeps trying).
const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(15);

/// How the service runs, beyond the configuration file.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where the HTTP server listens (`host:port`; port 0 picks one).
    pub listen: String,
    /// How long runs in flight may take to finish when stopping.
    pub grace: Duration,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration cannot be served as it is: the listening address and token, the
    /// playbooks, a trigger's arguments, an account.
    #[error(transparent)]
    Config(Box<dyn std::error::Error + Send + Sync>),
    /// A trigger node that reads Sekoia.io has no account to read it with.
    #[error("{}: trigger node {node_id} needs a Sekoia.io account", file.display())]
    NoSekoiaAccount {
        file: std::path::PathBuf,
        node_id: String,
    },
    /// The account a trigger reads Sekoia.io with has no usable address or key.
    #[error("Sekoia.io account `{0}` has no usable base_url and api_key")]
    UnusableSekoiaAccount(String),
    /// Sekoia.io refused the key of an account.
    #[error(transparent)]
    Live(#[from] LiveError),
    /// The store could not be opened or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The HTTP server could not listen.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        #[source]
        source: std::io::Error,
    },
}

impl ServeError {
    /// A configuration problem, for `map_err`.
    fn config(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Config(error.into())
    }
}

/// Runs the service until `stop` is cancelled. `ready` is called with the HTTP address once
/// everything is started.
pub async fn serve(
    config: Config,
    registry: Arc<Registry>,
    options: ServeOptions,
    stop: Cancellation,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    crate::metrics::install();
    let started_s = (alertsync_engine::now_ms() / 1000) as i64;
    let token = config.server.token.clone().filter(|t| !t.is_empty());
    crate::api::auth::refuse_open_listen(&options.listen, token.is_some())
        .map_err(ServeError::config)?;
    let access = Access::new(
        token.as_deref(),
        &options.listen,
        config.server.public_url.as_deref(),
    )
    .map_err(ServeError::config)?;
    let listener = tokio::net::TcpListener::bind(&options.listen)
        .await
        .map_err(|source| ServeError::Listen {
            address: options.listen.clone(),
            source,
        })?;
    let address = listener.local_addr().map_err(|source| ServeError::Listen {
        address: options.listen.clone(),
        source,
    })?;
    let store = open_store(&config, address).await?;
    let mut rate_limits = config.delivery.rate_limits();
    if let Some(shared) = StoredQuotas::of(&store) {
        rate_limits = rate_limits.shared(shared);
    }
    let http = HttpClient::new()
        .map_err(ServeError::config)?
        .with_rate_limits(rate_limits)
        .with_max_response_bytes(config.delivery.max_response_bytes);
    let accounts = AccountBook::new(config.accounts.clone());
    let executor = RunExecutor::new(Arc::clone(&registry), accounts.clone(), http.clone())
        .with_retry(config.delivery.retry_policy())
        .with_data_dir(data_dir(&config))
        .with_alert_links(Arc::new(StoredAlertLinks::new(Arc::clone(&store))));
    let deployment = Arc::new(deploy(&config, &executor).map_err(ServeError::config)?);
    let executor = Arc::new(executor);
    let live = live_connections(
        live_accounts(&deployment, &accounts, &registry)?,
        &http,
        &config.live,
    )?;
    preflight(&live).await?;
    let wake = Arc::new(Notify::new());
    if let Some(queued_elsewhere) = store.queue_changes() {
        tokio::spawn(relay_wakes(queued_elsewhere, Arc::clone(&wake)));
    }
    let inbox = Inbox::new(
        Arc::clone(&store),
        Arc::clone(&deployment),
        Arc::clone(&wake),
    );
    let routed = inbox.route_unrouted().await.map_err(ServeError::Store)?;
    if routed > 0 {
        tracing::info!("{routed} events stored by an earlier version got their runs queued");
    }

    let mut tasks = JoinSet::new();
    tasks.spawn(crate::metrics::keep_up(stop.clone()));
    let sekoia_clients = Arc::new(sekoia_clients(&accounts, &http));
    let scheduler = Arc::new(Scheduler {
        store: Arc::clone(&store),
        executor: Arc::clone(&executor),
        deployment: Arc::clone(&deployment),
        sekoia: Arc::clone(&sekoia_clients),
        workers: config.delivery.workers,
        retry: config.delivery.retry_policy(),
        policy: QueuePolicy {
            disable_after_failures: config.delivery.disable_after_failures,
            max_interruptions: config.delivery.max_interruptions,
        },
        wake: Arc::clone(&wake),
        held_destinations: Mutex::default(),
    });
    tasks.spawn(scheduler.run(stop.clone(), options.grace));
    if let Some(keep) = config.store.retention() {
        let retention = crate::retention::Retention {
            store: Arc::clone(&store),
            keep,
            data_dir: data_dir(&config),
        };
        tasks.spawn(retention.run(stop.clone()));
    }
    let live_status: Arc<[LiveStatus]> = live
        .iter()
        .map(|(account, live)| LiveStatus {
            account: account.clone(),
            stats: live.stats(),
        })
        .collect();
    let mut sources: Vec<Box<dyn Source>> = Vec::new();
    for (account, live) in live {
        crate::metrics::follow_live(account.clone(), live.stats());
        sources.push(Box::new(LiveSource {
            account,
            live,
            store: Arc::clone(&store),
            timing: CheckpointTiming::default(),
            first_start_s: started_s,
        }));
    }
    let timed = TimedSources {
        deployment: &deployment,
        accounts: &accounts,
        registry: &registry,
        sekoia: &sekoia_clients,
        store: &store,
        retry: config.delivery.retry_policy(),
    };
    sources.extend(timed.build()?);
    let writer: Arc<dyn InboxWriter> = Arc::new(inbox.clone());
    for source in sources {
        tasks.spawn(source.run(Arc::clone(&writer), stop.clone()));
    }
    let app = router(AppState {
        store: Arc::clone(&store),
        inbox,
        deployment: Arc::clone(&deployment),
        sekoia_account: accounts.sekoia().ok().map(|a| a.name.clone()),
        wake,
        executor,
        access,
        import_dir: data_dir(&config).with_file_name("imported-playbooks"),
        health: HealthInputs {
            store: Arc::clone(&store),
            deployment: Arc::clone(&deployment),
            live: live_status,
            config: config.health,
        },
        stopping: stop.clone(),
    });
    tasks.spawn(crate::listener::serve(
        listener,
        app,
        ConnectionLimits::default(),
        stop.clone(),
    ));
    tracing::info!(
        "serving {} playbook(s) on http://{address}",
        deployment.enabled().count()
    );
    ready(address);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// Wakes the scheduler whenever another instance sharing the store queued runs.
async fn relay_wakes(queued_elsewhere: Arc<Notify>, wake: Arc<Notify>) {
    loop {
        queued_elsewhere.notified().await;
        wake.notify_one();
    }
}

/// Opens the store: the PostgreSQL database several instances share, or the file, taking
/// its lock (one service per store file).
/// `address` (where this instance listens) names the instance in a cluster.
async fn open_store(config: &Config, address: SocketAddr) -> Result<Arc<dyn Store>, ServeError> {
    if let Some(url) = &config.store.url {
        let options = PostgresOptions {
            pool_size: config.store.pool_size as usize,
            label: address.to_string(),
            ..PostgresOptions::default()
        };
        let store = PostgresStore::open(url, options).await?;
        tracing::info!(
            "store: PostgreSQL at {}, instance {}",
            store.target(),
            store.instance()
        );
        return Ok(Arc::new(store));
    }
    let options = SqliteOptions {
        exclusive: true,
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open_with(config.store.path.clone(), options).await?;
    Ok(Arc::new(store))
}

/// Run files (Utils Read JSON File) live next to the store.
pub fn data_dir(config: &Config) -> std::path::PathBuf {
    config
        .store
        .path
        .parent()
        .map(|dir| dir.join("files"))
        .unwrap_or_else(|| std::path::PathBuf::from("files"))
}

/// A Sekoia.io client per Sekoia.io account, by account name.
fn sekoia_clients(accounts: &AccountBook, http: &HttpClient) -> BTreeMap<String, SekoiaClient> {
    accounts
        .of_module(sekoia::SLUG)
        .filter_map(|account| {
            let base = account.str("base_url").unwrap_or(sekoia::DEFAULT_BASE_URL);
            let key = account.str("api_key").unwrap_or_default();
            SekoiaClient::new(http.clone(), base, key)
                .ok()
                .map(|client| (account.name.clone(), client))
        })
        .collect()
}

/// The Sekoia.io account a trigger node reads with: its binding, else the one the module's
/// accounts resolve to.
fn trigger_account(
    playbook: &DeployedPlaybook,
    trigger: &TriggerNode,
    accounts: &AccountBook,
    registry: &Registry,
) -> Result<Arc<Account>, ServeError> {
    let needs_one = || ServeError::NoSekoiaAccount {
        file: playbook.file.clone(),
        node_id: trigger.node_id.clone(),
    };
    let node = playbook
        .playbook
        .node(&trigger.node_id)
        .ok_or_else(needs_one)?;
    accounts
        .resolve(registry, node, &playbook.bindings)
        .map_err(ServeError::config)?
        .ok_or_else(needs_one)
}

/// The Sekoia.io accounts whose live notifications some enabled alert or case trigger
/// needs.
pub(crate) fn live_accounts(
    deployment: &Deployment,
    accounts: &AccountBook,
    registry: &Registry,
) -> Result<Vec<Arc<Account>>, ServeError> {
    let mut needed: Vec<Arc<Account>> = Vec::new();
    for playbook in deployment.enabled() {
        for trigger in playbook
            .triggers
            .iter()
            .filter(|t| matches!(t.kind, TriggerKind::Alert(_) | TriggerKind::Case(_)))
        {
            let account = trigger_account(playbook, trigger, accounts, registry)?;
            if !needed.iter().any(|a| a.name == account.name) {
                needed.push(account);
            }
        }
    }
    Ok(needed)
}

/// What builds the sources that fire on their own time: Cron schedules, feed reads and
/// Alert Events Threshold time windows, one per trigger node of an enabled playbook.
struct TimedSources<'a> {
    deployment: &'a Deployment,
    accounts: &'a AccountBook,
    registry: &'a Registry,
    sekoia: &'a BTreeMap<String, SekoiaClient>,
    store: &'a Arc<dyn Store>,
    retry: RetryPolicy,
}

impl TimedSources<'_> {
    fn build(&self) -> Result<Vec<Box<dyn Source>>, ServeError> {
        let mut built: Vec<Box<dyn Source>> = Vec::new();
        for playbook in self.deployment.enabled() {
            for trigger in &playbook.triggers {
                let at = TriggerAt {
                    playbook_id: playbook.id.clone(),
                    node_id: trigger.node_id.clone(),
                };
                match trigger.kind {
                    TriggerKind::Cron => {
                        let schedule = trigger
                            .settings(playbook, Schedule::from_arguments)
                            .map_err(ServeError::config)?;
                        built.push(Box::new(CronSource::new(at, schedule)));
                    }
                    TriggerKind::Feed(kind) => {
                        let settings = trigger
                            .settings(playbook, |arguments| {
                                FeedSettings::from_arguments(kind, arguments)
                            })
                            .map_err(ServeError::config)?;
                        let reader = self.reader(playbook, trigger)?;
                        let store = Arc::clone(self.store);
                        built.push(Box::new(FeedSource::new(at, settings, reader, store)));
                    }
                    TriggerKind::Alert(AlertTrigger::EventsThreshold) => {
                        let settings = trigger
                            .settings(playbook, ThresholdSettings::from_arguments)
                            .map_err(ServeError::config)?;
                        let account = self.reader(playbook, trigger)?.account;
                        let store = Arc::clone(self.store);
                        built.push(Box::new(ThresholdClock::new(at, settings, account, store)));
                    }
                    _ => {}
                }
            }
        }
        Ok(built)
    }

    /// The account a trigger node reads Sekoia.io with, and its client.
    fn reader(
        &self,
        playbook: &DeployedPlaybook,
        trigger: &TriggerNode,
    ) -> Result<SekoiaReader, ServeError> {
        let account = trigger_account(playbook, trigger, self.accounts, self.registry)?;
        let client = self
            .sekoia
            .get(&account.name)
            .cloned()
            .ok_or_else(|| ServeError::UnusableSekoiaAccount(account.name.clone()))?;
        Ok(SekoiaReader {
            account: account.name.clone(),
            client,
            retry: self.retry,
        })
    }
}

/// The live connection of each account of [`live_accounts`], by account name.
fn live_connections(
    accounts: Vec<Arc<Account>>,
    http: &HttpClient,
    config: &LiveConfig,
) -> Result<Vec<(String, Arc<LiveNotifications>)>, ServeError> {
    let timing = LiveTiming {
        rejected_backoff: RetryPolicy {
            max_attempts: u32::MAX,
            initial_delay: Duration::from_secs(config.rejected_retry_min_secs),
            max_delay: Duration::from_secs(config.rejected_retry_max_secs),
            max_age: Duration::MAX,
        },
        ..LiveTiming::default()
    };
    accounts
        .into_iter()
        .map(|account| {
            let connection = LiveNotifications::for_account(http.clone(), &account)
                .map_err(ServeError::config)?
                .with_timing(timing);
            Ok((account.name.clone(), Arc::new(connection)))
        })
        .collect()
}

/// Refuses to start with a key Sekoia.io refuses: a mistake made now is best seen now.
/// Trouble worth a retry (network, 5xx, no answer in time) does not stop the start.
async fn preflight(live: &[(String, Arc<LiveNotifications>)]) -> Result<(), ServeError> {
    for (account, connection) in live {
        match tokio::time::timeout(PREFLIGHT_TIMEOUT, connection.preflight()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => return Err(err.into()),
            Err(_) => tracing::warn!(
                "Sekoia.io account `{account}`: no answer to the key check within {}s; \
                 starting anyway, the live connection keeps trying",
                PREFLIGHT_TIMEOUT.as_secs()
            ),
        }
    }
    Ok(())
}
