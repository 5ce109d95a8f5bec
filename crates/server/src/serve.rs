//! Assembling the service: the store, the executor, the deployed playbooks, the scheduler,
//! the trigger sources and the HTTP server, and stopping them in order.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use alertsync_config::Config;
use alertsync_engine::http::HttpClient;
use alertsync_engine::{Account, AccountBook, Cancellation, Registry, RunExecutor};
use alertsync_integrations::sekoia::{self, SekoiaClient};
use alertsync_store::{SqliteStore, Store};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::api::auth::AccessToken;
use crate::deploy::{Deployment, TriggerKind, deploy};
use crate::http::{AppState, router};
use crate::scheduler::Scheduler;
use crate::sources;

/// How the service runs, beyond the configuration file.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where the HTTP server listens (`host:port`; port 0 picks one).
    pub listen: String,
    /// How long runs in flight may take to finish when stopping.
    pub grace: Duration,
}

/// Why the service could not start.
#[derive(Debug)]
pub struct ServeError(pub String);

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ServeError {}

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
    let store = open_store(&config).await?;
    let http = HttpClient::new()
        .map_err(ServeError)?
        .with_rate_limits(config.delivery.rate_limits());
    let accounts = AccountBook::new(config.accounts.clone());
    let executor = RunExecutor::new(Arc::clone(&registry), accounts.clone(), http.clone())
        .with_retry(config.delivery.retry_policy())
        .with_data_dir(data_dir(&config));
    let deployment = Arc::new(deploy(&config, &executor).map_err(|e| ServeError(e.to_string()))?);
    let executor = Arc::new(executor);
    let sekoia_clients = Arc::new(sekoia_clients(&accounts, &http));
    let live_accounts = live_accounts(&deployment, &accounts, &registry)?;
    let wake = Arc::new(Notify::new());
    let live_names: Arc<[String]> = live_accounts.iter().map(|a| a.name.clone()).collect();
    let token = config.server.token.clone().filter(|t| !t.is_empty());
    crate::api::auth::refuse_open_listen(&options.listen, token.is_some()).map_err(ServeError)?;

    let listener = tokio::net::TcpListener::bind(&options.listen)
        .await
        .map_err(|err| ServeError(format!("cannot listen on {}: {err}", options.listen)))?;
    let address = listener
        .local_addr()
        .map_err(|err| ServeError(format!("cannot read the listening address: {err}")))?;

    let mut tasks = JoinSet::new();
    tasks.spawn(crate::metrics::keep_up(stop.clone()));
    let scheduler = Arc::new(Scheduler {
        store: Arc::clone(&store),
        executor: Arc::clone(&executor),
        deployment: Arc::clone(&deployment),
        sekoia: sekoia_clients,
        workers: config.delivery.workers,
        retry: config.delivery.retry_policy(),
        wake: Arc::clone(&wake),
    });
    tasks.spawn(scheduler.run(stop.clone(), options.grace));
    for account in live_accounts {
        let source = sources::LiveSource {
            account,
            store: Arc::clone(&store),
            http: http.clone(),
            wake: Arc::clone(&wake),
            timing: sources::CheckpointTiming::default(),
        };
        tasks.spawn(source.run(stop.clone()));
    }
    for (playbook, trigger) in deployment
        .enabled()
        .flat_map(|p| p.triggers.iter().map(move |t| (p, t)))
        .filter(|(_, t)| t.kind == TriggerKind::Cron)
    {
        let source =
            sources::CronSource::new(playbook, trigger, Arc::clone(&store), Arc::clone(&wake))
                .map_err(ServeError)?;
        tasks.spawn(source.run(stop.clone()));
    }
    let app = router(AppState {
        store: Arc::clone(&store),
        deployment: Arc::clone(&deployment),
        sekoia_account: accounts.sekoia().ok().map(|a| a.name.clone()),
        wake,
        executor,
        access: AccessToken(token.map(Arc::from)),
        import_dir: data_dir(&config).with_file_name("imported-playbooks"),
        live_accounts: live_names,
        stopping: stop.clone(),
    });
    let shutdown = stop.clone();
    tasks.spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(err) = served {
            tracing::error!("the HTTP server stopped: {err}");
        }
    });
    tracing::info!(
        "serving {} playbook(s) on http://{address}",
        deployment.enabled().count()
    );
    ready(address);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

async fn open_store(config: &Config) -> Result<Arc<dyn Store>, ServeError> {
    let path = &config.store.path;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|err| ServeError(format!("cannot create {}: {err}", dir.display())))?;
    }
    let store = SqliteStore::open(path.clone())
        .await
        .map_err(|err| ServeError(err.to_string()))?;
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

/// The Sekoia.io accounts whose live notifications some enabled alert trigger needs.
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
            .filter(|t| matches!(t.kind, TriggerKind::Alert(_)))
        {
            let Some(node) = playbook.playbook.node(&trigger.node_id) else {
                continue;
            };
            let account = accounts
                .resolve(registry, node, &playbook.bindings)
                .map_err(ServeError)?
                .ok_or_else(|| {
                    ServeError(format!(
                        "{}: trigger node {} needs a Sekoia.io account",
                        playbook.file.display(),
                        trigger.node_id
                    ))
                })?;
            if !needed.iter().any(|a| a.name == account.name) {
                needed.push(account);
            }
        }
    }
    Ok(needed)
}
