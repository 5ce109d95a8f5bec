//! The PostgreSQL backend: one database shared by several `alertsync serve` instances.
//!
//! * **Driver**: `tokio-postgres`, pooled by `deadpool-postgres`: asynchronous from end to
//!   end (no thread parked per query), small, and the base the async Rust ecosystem's
//!   PostgreSQL tools share; the store writes its SQL by hand, so a query builder or an
//!   ORM would add compile time and nothing else.
//! * **Durability**: a write returns once PostgreSQL committed it (with the server's
//!   `synchronous_commit`, on by default). Writes queued with
//!   [`crate::Store::write_behind`] are committed in batches by a task of their own
//!   ([`behind`]); every awaited write first waits until those queued before it are
//!   committed, so writes keep their order as the contract says.
//! * **Several instances**: the run queue is claimed with `FOR UPDATE SKIP LOCKED` and a
//!   claim names its instance ([`queue`]); an instance is alive while its session holds
//!   its advisory lock, and leases are advisory locks of that session ([`cluster`]).
//! * **Embedded migrations** recorded in `schema_version`, run at open (or by [`migrate`])
//!   under a lock ([`schema`]). The schema is the `search_path`'s first (set it with
//!   `?options=-csearch_path%3Dname` in the URL to keep several stores in one database).

mod behind;
pub mod cluster;
mod inbox;
mod queue;
mod retention;
mod runs;
mod schema;
mod state;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use alertsync_engine::{Hold, RunRecord};
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::types::ToSql;
use tokio_postgres::{IsolationLevel, NoTls, Row};

use crate::claims::ClaimsInHand;
use crate::error::{StoreError, StoreResult};
use crate::fault::Fault;
use crate::lease::Lease;
use crate::model::{
    Checkpoint, ClaimedRun, ClusterView, Enqueued, InboxCounts, InboxEvent, InboxId, NewInboxEvent,
    PlaybookHealth, Pruned, QueueHealth, Rerun, RetryState, RunCountFilter, RunCounts, RunDetail,
    RunId, RunPage, RunQuery, RunTarget, SchemaMigration,
};
use crate::{Store, WriteBehind, WriteHealth, WriteHealthCell};

/// A transaction on a pooled connection.
type Tx<'t> = deadpool_postgres::Transaction<'t>;

/// What an operation run in a transaction returns.
type TxFuture<'t, T> = Pin<Box<dyn Future<Output = Result<T, Fault>> + Send + 't>>;

/// How a [`PostgresStore`] behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    /// Connections of the pool (besides the instance's session).
    pub pool_size: usize,
    /// How long an operation waits for a connection, and a connection for the server.
    pub connect_timeout: Duration,
    /// Names the instance for people (console, API, `/healthz`), e.g. `host:port`.
    pub label: String,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            pool_size: 8,
            connect_timeout: Duration::from_secs(10),
            label: String::from("alertsync"),
        }
    }
}

/// The [`Store`] in a PostgreSQL database. Cheap to clone; clones share the pool, the
/// session and the write-behind queue.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// The database without its password, for messages.
    target: String,
    identity: cluster::Identity,
    session: cluster::Session,
    behind: behind::BehindQueue,
    /// Whether the last writes reached the database (shared with the write-behind task).
    write_health: WriteHealthCell,
    /// The runs this instance claimed and has not settled.
    claims: ClaimsInHand,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.inner.target)
            .field("instance", &self.inner.identity.id)
            .finish_non_exhaustive()
    }
}

/// `url` without its password: `postgres://user@host:port/database`.
pub fn display_target(config: &tokio_postgres::Config) -> String {
    let user = config
        .get_user()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(host, port)| match host {
            tokio_postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let database = config.get_dbname().unwrap_or("");
    format!("postgres://{user}{}/{database}", hosts.join(","))
}

/// Brings the schema of the PostgreSQL store at `url` up to date, as [`PostgresStore::open`]
/// does, without registering an instance.
pub async fn migrate(url: &str) -> StoreResult<SchemaMigration> {
    let mut direct = DirectClient::connect_url(url).await?;
    let from = direct.migrate().await?;
    let store = direct.target.clone();
    direct.close().await;
    Ok(SchemaMigration {
        store,
        from,
        to: schema::SUPPORTED_VERSION,
    })
}

/// The connection settings of `url` with what every connection of the store sets.
fn connection_config(url: &str, connect_timeout: Duration) -> StoreResult<tokio_postgres::Config> {
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| StoreError::OpenDatabase {
        target: "the configured PostgreSQL URL".to_owned(),
        cause: format!("it is not a PostgreSQL URL: {e}").into(),
    })?;
    config
        .connect_timeout(connect_timeout)
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(5))
        .application_name("alertsync");
    Ok(config)
}

/// One connection outside the pool, for what runs before the store is used or instead of
/// it: migrations, a copy from another store.
pub(crate) struct DirectClient {
    pub(crate) client: tokio_postgres::Client,
    /// The database without its password, for messages.
    pub(crate) target: String,
    connection: tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
}

impl DirectClient {
    /// Connects to the database `config` names.
    pub(crate) async fn connect(config: &tokio_postgres::Config) -> StoreResult<Self> {
        let target = display_target(config);
        match config.connect(NoTls).await {
            Ok((client, connection)) => Ok(Self {
                client,
                target,
                connection: tokio::spawn(connection),
            }),
            Err(e) => Err(StoreError::OpenDatabase {
                target,
                cause: Box::new(e),
            }),
        }
    }

    /// Connects to the database at `url`.
    pub(crate) async fn connect_url(url: &str) -> StoreResult<Self> {
        let config = connection_config(url, PostgresOptions::default().connect_timeout)?;
        Self::connect(&config).await
    }

    /// Brings the schema up to date; answers the version it was at (0: a new store).
    pub(crate) async fn migrate(&mut self) -> StoreResult<i64> {
        let migrated =
            schema::migrate(&mut self.client)
                .await
                .map_err(|fault| StoreError::OpenDatabase {
                    target: self.target.clone(),
                    cause: fault.into_cause(),
                })?;
        match migrated {
            schema::Migrated::Current { from } => Ok(from),
            schema::Migrated::TooNew(found) => Err(StoreError::DatabaseTooNew {
                target: self.target.clone(),
                found,
                supported: schema::SUPPORTED_VERSION,
            }),
        }
    }

    /// Ends the connection and waits until it is closed.
    pub(crate) async fn close(self) {
        drop(self.client);
        let _ = self.connection.await;
    }
}

/// The database of the URL `url`, without its password (or a placeholder when `url` is not
/// a PostgreSQL URL: a malformed URL is not echoed, it may hold a password).
pub fn display_url(url: &str) -> String {
    url.parse::<tokio_postgres::Config>()
        .map(|config| display_target(&config))
        .unwrap_or_else(|_| "an unreadable PostgreSQL URL".to_owned())
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`),
    /// brings its schema up to date and registers this instance.
    pub async fn open(url: &str, options: PostgresOptions) -> StoreResult<Self> {
        let config = connection_config(url, options.connect_timeout)?;
        let target = display_target(&config);
        let open_error = |fault: Fault| StoreError::OpenDatabase {
            target: target.clone(),
            cause: fault.into_cause(),
        };
        let mut direct = DirectClient::connect(&config).await?;
        direct.migrate().await?;
        direct.close().await;
        let pool = Pool::builder(Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        ))
        .max_size(options.pool_size.max(1))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(options.connect_timeout))
        .create_timeout(Some(options.connect_timeout))
        .build()
        .map_err(|e| open_error(Fault::Batch(e.to_string())))?;
        let identity = cluster::Identity {
            id: uuid::Uuid::new_v4().to_string(),
            label: options.label.clone(),
            host: hostname(),
            pid: i64::from(std::process::id()),
            started_at_ms: crate::fault::now_sql(),
        };
        let session = cluster::Session::start(config, identity.clone())
            .await
            .map_err(open_error)?;
        let write_health = WriteHealthCell::default();
        let behind =
            behind::BehindQueue::start(pool.clone(), identity.clone(), write_health.clone());
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                target,
                identity,
                session,
                behind,
                write_health,
                claims: ClaimsInHand::default(),
            }),
        })
    }

    /// The database, without its password.
    pub fn target(&self) -> &str {
        &self.inner.target
    }

    /// The schema version this build creates and reads.
    pub fn schema_version() -> i64 {
        schema::SUPPORTED_VERSION
    }

    /// This instance's id in the database (`runs.claimed_by`, `instances.id`).
    pub fn instance(&self) -> &str {
        &self.inner.identity.id
    }

    /// Runs `op` in a transaction once every write queued before it is committed, and
    /// returns once it is committed.
    async fn write<T, F>(&self, operation: &'static str, op: F) -> StoreResult<T>
    where
        T: Send,
        F: for<'t> FnOnce(&'t Tx<'t>) -> TxFuture<'t, T> + Send,
    {
        self.inner.behind.flush().await;
        let outcome = self.transaction(false, op).await;
        let storage_failure = match &outcome {
            Err(fault) if fault.is_storage_failure() => Some(fault_text(fault)),
            _ => None,
        };
        if outcome.is_ok() || storage_failure.is_some() {
            self.inner.write_health.note(storage_failure);
        }
        outcome.map_err(|fault| fault.during(operation))
    }

    /// Settles claimed run `run` with `op` (its end, park, removal or release), then ends
    /// its claim in hand if that was committed.
    async fn settle<F>(&self, run: RunId, operation: &'static str, op: F) -> StoreResult<()>
    where
        F: for<'t> FnOnce(&'t Tx<'t>) -> TxFuture<'t, ()> + Send,
    {
        let settling = self.write(operation, op).await;
        self.inner.claims.settled(run, settling)
    }

    /// Runs `op` in a read-only transaction (one consistent snapshot).
    async fn read<T, F>(&self, operation: &'static str, op: F) -> StoreResult<T>
    where
        T: Send,
        F: for<'t> FnOnce(&'t Tx<'t>) -> TxFuture<'t, T> + Send,
    {
        self.transaction(true, op)
            .await
            .map_err(|fault| fault.during(operation))
    }

    async fn transaction<T, F>(&self, read_only: bool, op: F) -> Result<T, Fault>
    where
        T: Send,
        F: for<'t> FnOnce(&'t Tx<'t>) -> TxFuture<'t, T> + Send,
    {
        let mut client = self.inner.pool.get().await?;
        let tx = if read_only {
            client
                .build_transaction()
                .read_only(true)
                .isolation_level(IsolationLevel::RepeatableRead)
                .start()
                .await?
        } else {
            client.transaction().await?
        };
        let value = op(&tx).await?;
        tx.commit().await?;
        Ok(value)
    }

    /// Fails while this instance's session is down: its claims do not count then.
    fn require_session(&self, operation: &'static str) -> StoreResult<()> {
        if self.inner.session.liveness().alive {
            return Ok(());
        }
        Err(StoreError::Backend {
            operation,
            cause: "this instance has lost its session with PostgreSQL; it takes no work \
                    until it connects again"
                .into(),
        })
    }
}

/// The text of a fault for `/healthz` (never the URL: the driver's errors do not carry it).
fn fault_text(fault: &Fault) -> String {
    match fault {
        Fault::Backend { cause, .. } => cause.to_string(),
        other => format!("{other:?}"),
    }
}

/// The machine's name, for the cluster view.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}

impl From<tokio_postgres::Error> for Fault {
    fn from(e: tokio_postgres::Error) -> Self {
        // Connection failures (no SQL state), and the classes of the server's own trouble:
        // 08 connection, 53 resources (disk full), 57 operator intervention (shutdown),
        // 58 system errors.
        let storage = e.is_closed()
            || e.code().is_none_or(|code| {
                let class = &code.code()[..2];
                matches!(class, "08" | "53" | "57" | "58")
            });
        Self::Backend {
            cause: Box::new(e),
            storage,
        }
    }
}

impl From<deadpool_postgres::PoolError> for Fault {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Self::Backend {
            cause: format!("no connection to PostgreSQL: {e}").into(),
            storage: true,
        }
    }
}

/// Runs `sql` (prepared once per connection) and returns its rows.
async fn rows(tx: &Tx<'_>, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Fault> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.query(&statement, params).await?)
}

/// Runs `sql` and returns its first row, if any.
async fn row_opt(
    tx: &Tx<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>, Fault> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.query_opt(&statement, params).await?)
}

/// Runs `sql` and returns how many rows it changed.
async fn execute(tx: &Tx<'_>, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Fault> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.execute(&statement, params).await?)
}

/// An operation on a transaction, its arguments moved in: `op!(tx => body)`.
macro_rules! op {
    ($tx:ident => $body:expr) => {
        move |$tx: &Tx<'_>| -> TxFuture<'_, _> { Box::pin(async move { $body }) }
    };
}

#[async_trait]
impl Store for PostgresStore {
    fn write_behind(&self, write: WriteBehind) {
        self.inner.behind.submit(write);
    }

    fn write_health(&self) -> WriteHealth {
        let mut health = self.inner.write_health.get();
        if !self.inner.session.liveness().alive {
            health
                .failing_since_ms
                .get_or_insert(alertsync_engine::now_ms());
            health.last_error = Some(
                "this instance has lost its session with PostgreSQL (reconnecting)".to_owned(),
            );
        }
        health
    }

    async fn sync_writes(&self) -> StoreResult<()> {
        self.write("sync writes", op!(_tx => Ok(()))).await
    }

    async fn enqueue(&self, event: NewInboxEvent) -> StoreResult<Enqueued> {
        self.write("enqueue", op!(tx => inbox::enqueue(tx, &event).await))
            .await
    }

    async fn enqueue_batch(
        &self,
        events: Vec<NewInboxEvent>,
        checkpoint: Option<Checkpoint>,
    ) -> StoreResult<Vec<Enqueued>> {
        self.write(
            "enqueue batch",
            op!(tx => {
                inbox::lock_alerts(tx, &events).await?;
                let mut outcomes = Vec::with_capacity(events.len());
                for event in &events {
                    outcomes.push(inbox::enqueue(tx, event).await?);
                }
                if let Some(checkpoint) = &checkpoint {
                    state::set_checkpoint(tx, checkpoint).await?;
                }
                Ok(outcomes)
            }),
        )
        .await
    }

    async fn event(&self, id: InboxId) -> StoreResult<Option<InboxEvent>> {
        self.read("read event", op!(tx => inbox::event(tx, id).await))
            .await
    }

    async fn inbox_counts(&self) -> StoreResult<InboxCounts> {
        self.read("count inbox events", op!(tx => inbox::counts(tx).await))
            .await
    }

    async fn unrouted_events(&self) -> StoreResult<Vec<InboxEvent>> {
        self.read("list unrouted events", op!(tx => inbox::unrouted(tx).await))
            .await
    }

    async fn route_event(&self, id: InboxId, runs: Vec<RunTarget>) -> StoreResult<()> {
        self.write("route event", op!(tx => inbox::route(tx, id, &runs).await))
            .await
    }

    async fn expire_dedup_keys(&self, prefix: &str, received_before_ms: u64) -> StoreResult<u64> {
        let prefix = prefix.to_owned();
        self.write(
            "expire dedup keys",
            op!(tx => inbox::expire_keys(tx, &prefix, received_before_ms).await),
        )
        .await
    }

    async fn claim_runs(&self, limit: u32) -> StoreResult<Vec<ClaimedRun>> {
        self.require_session("claim runs")?;
        let claiming = self.inner.claims.begin().await;
        let instance = self.inner.identity.id.clone();
        let held: Vec<i64> = claiming.held.iter().map(|run| run.0).collect();
        let claimed = self
            .write(
                "claim runs",
                op!(tx => queue::claim(tx, &instance, &held, limit).await),
            )
            .await?;
        Ok(claiming.hand_out(claimed))
    }

    async fn rerun(&self, rerun: Rerun) -> StoreResult<RunId> {
        self.write("queue a rerun", op!(tx => queue::rerun(tx, rerun).await))
            .await
    }

    async fn finish_run(&self, run: RunId, record: RunRecord) -> StoreResult<()> {
        let instance = self.inner.identity.id.clone();
        self.settle(
            run,
            "finish run",
            op!(tx => queue::finish(tx, run, &record, &instance).await),
        )
        .await
    }

    async fn discard_run(&self, run: RunId) -> StoreResult<()> {
        self.settle(run, "discard run", op!(tx => queue::discard(tx, run).await))
            .await
    }

    async fn park_run(&self, run: RunId, record: RunRecord, hold: Hold) -> StoreResult<()> {
        let instance = self.inner.identity.id.clone();
        self.settle(
            run,
            "park run",
            op!(tx => queue::park(tx, run, &record, &hold, &instance).await),
        )
        .await
    }

    async fn release_run(&self, run: RunId) -> StoreResult<()> {
        let instance = self.inner.identity.id.clone();
        self.settle(
            run,
            "release run",
            op!(tx => queue::release(tx, run, &instance).await),
        )
        .await
    }

    async fn wake_waiting(&self, destination: &str) -> StoreResult<u64> {
        let destination = destination.to_owned();
        self.write(
            "wake waiting runs",
            op!(tx => queue::wake(tx, &destination).await),
        )
        .await
    }

    async fn dismiss_dead_letter(&self, run: RunId) -> StoreResult<bool> {
        self.write(
            "dismiss dead letter",
            op!(tx => queue::dismiss(tx, run).await),
        )
        .await
    }

    async fn queue_health(&self) -> StoreResult<QueueHealth> {
        self.read("read queue health", op!(tx => queue::health(tx).await))
            .await
    }

    async fn prune(&self, ended_before_ms: u64, limit: u32) -> StoreResult<Pruned> {
        self.write(
            "prune finished work",
            op!(tx => retention::prune(tx, ended_before_ms, limit).await),
        )
        .await
    }

    async fn run(&self, id: RunId) -> StoreResult<Option<RunDetail>> {
        self.read("read run", op!(tx => runs::detail(tx, id).await))
            .await
    }

    async fn list_runs(&self, query: RunQuery) -> StoreResult<RunPage> {
        self.read("list runs", op!(tx => runs::list(tx, &query).await))
            .await
    }

    async fn run_counts(&self, filter: RunCountFilter) -> StoreResult<RunCounts> {
        self.read("count runs", op!(tx => runs::counts(tx, &filter).await))
            .await
    }

    async fn save_retry_state(&self, retry: RetryState) -> StoreResult<()> {
        self.write(
            "save retry state",
            op!(tx => {
                runs::require_run(tx, retry.run_id).await?;
                state::save_retry(tx, &retry).await
            }),
        )
        .await
    }

    async fn clear_retry_state(&self, run: RunId, seq: usize) -> StoreResult<()> {
        self.write(
            "clear retry state",
            op!(tx => state::clear_retry(tx, run, seq).await),
        )
        .await
    }

    async fn checkpoint(&self, key: &str) -> StoreResult<Option<String>> {
        let key = key.to_owned();
        self.read(
            "read checkpoint",
            op!(tx => state::checkpoint(tx, &key).await),
        )
        .await
    }

    async fn set_checkpoint(&self, checkpoint: Checkpoint) -> StoreResult<()> {
        self.write(
            "set checkpoint",
            op!(tx => state::set_checkpoint(tx, &checkpoint).await),
        )
        .await
    }

    async fn checkpoints_under(&self, prefix: &str) -> StoreResult<Vec<Checkpoint>> {
        let prefix = prefix.to_owned();
        self.read(
            "read checkpoints",
            op!(tx => state::checkpoints_under(tx, &prefix).await),
        )
        .await
    }

    async fn forget_checkpoints(&self, prefix: &str, updated_before_ms: u64) -> StoreResult<u64> {
        let prefix = prefix.to_owned();
        self.write(
            "forget checkpoints",
            op!(tx => state::forget_checkpoints(tx, &prefix, updated_before_ms).await),
        )
        .await
    }

    async fn linked_alert(&self, system: &str, remote_id: &str) -> StoreResult<Option<String>> {
        let (system, remote_id) = (system.to_owned(), remote_id.to_owned());
        self.read(
            "read alert link",
            op!(tx => state::linked_alert(tx, &system, &remote_id).await),
        )
        .await
    }

    async fn record_playbook_failure(
        &self,
        playbook_id: &str,
        error: &str,
    ) -> StoreResult<PlaybookHealth> {
        let (playbook_id, error) = (playbook_id.to_owned(), error.to_owned());
        self.write(
            "record playbook failure",
            op!(tx => state::record_failure(tx, &playbook_id, &error).await),
        )
        .await
    }

    async fn enable_playbook(&self, playbook_id: &str) -> StoreResult<PlaybookHealth> {
        let playbook_id = playbook_id.to_owned();
        self.write(
            "enable playbook",
            op!(tx => state::enable(tx, &playbook_id).await),
        )
        .await
    }

    async fn disable_playbook(
        &self,
        playbook_id: &str,
        reason: &str,
    ) -> StoreResult<PlaybookHealth> {
        let (playbook_id, reason) = (playbook_id.to_owned(), reason.to_owned());
        self.write(
            "disable playbook",
            op!(tx => state::disable(tx, &playbook_id, &reason).await),
        )
        .await
    }

    async fn playbook_health(&self, playbook_id: &str) -> StoreResult<PlaybookHealth> {
        let playbook_id = playbook_id.to_owned();
        self.write(
            "read playbook health",
            op!(tx => state::health(tx, &playbook_id).await),
        )
        .await
    }

    async fn all_playbook_health(&self) -> StoreResult<Vec<PlaybookHealth>> {
        self.read(
            "list playbook health",
            op!(tx => state::all_health(tx).await),
        )
        .await
    }

    fn shares_quotas(&self) -> bool {
        true
    }

    fn queue_changes(&self) -> Option<Arc<tokio::sync::Notify>> {
        Some(self.inner.session.queue_changed())
    }

    async fn cluster(&self) -> StoreResult<Option<ClusterView>> {
        let this = self.inner.identity.id.clone();
        self.read(
            "read the cluster",
            op!(tx => state::cluster(tx, this).await),
        )
        .await
        .map(Some)
    }

    async fn take_quota(
        &self,
        slot: &str,
        limit: u32,
        window: Duration,
    ) -> StoreResult<Option<Duration>> {
        let slot = slot.to_owned();
        self.transaction(
            false,
            op!(tx => state::take_quota(tx, &slot, limit, window).await),
        )
        .await
        .map_err(|fault| fault.during("count a request against a shared quota"))
    }

    async fn try_lease(&self, name: &str) -> StoreResult<Option<Lease>> {
        self.inner
            .session
            .try_lease(name)
            .await
            .map_err(|fault| fault.during("take a lease"))
    }
}

#[cfg(test)]
mod tests {
    use super::display_url;

    #[test]
    fn the_password_is_not_shown() {
        let url = "postgres://alertsync:s3cret@db.internal:5433/alertsync?sslmode=disable";
        assert_eq!(
            display_url(url),
            "postgres://alertsync@db.internal:5433/alertsync"
        );
        assert_eq!(
            display_url("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1:5432/test"
        );
        assert!(!display_url("host=h password=s3cret").contains("s3cret"));
        assert_eq!(
            display_url("postgres://h:notaport/db"),
            "an unreadable PostgreSQL URL"
        );
    }
}
