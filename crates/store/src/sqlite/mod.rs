//! The embedded backend: one SQLite file.
//!
//! * **WAL** journal: readers (the API and console) never wait for the writer, and a
//!   commit appends to the log instead of rewriting pages.
//! * **`synchronous = FULL`**: every commit is synced to disk before it returns. With
//!   `NORMAL`, a commit in WAL mode survives a crash of the process but the last commits
//!   may be lost on power loss or an operating system crash; those are commits after which
//!   a trigger already acknowledged its event (webhook 202, checkpoint moved), so nobody
//!   would send the event again. One sync per commit is the price of "never lose an
//!   alert"; [`crate::Store::enqueue_batch`] lets back-fill pay it once per page, and
//!   concurrent writes share commits ([`commit`]).
//! * **Busy timeout**: another process using the file (a console command, a second
//!   instance by mistake) makes a write wait up to [`SqliteOptions::busy_timeout`] instead
//!   of failing with "database is locked". Within the process, writes go through one
//!   connection owned by a writer thread, in immediate transactions that group the writes
//!   queued meanwhile ([`commit`]); reads go to reader threads with their own connections
//!   ([`read`]).
//! * **Embedded migrations** recorded in the `schema_version` table ([`schema`]).
//!
//! Reads run on the reader threads and writes on the writer thread, so async callers never
//! block the runtime nor park its threads; an operation whose caller went away still
//! completes (or rolls back) as a whole.

/// The SQL condition that the run status in column `$column` is open (queued, running or
/// waiting), as the partial indexes of open runs state it (migration 9): SQLite uses such an
/// index only for a query that states the same condition, and comparisons, unlike an `IN`
/// list, cost it no temporary table each time a row is written. A literal, for `concat!`.
macro_rules! open_status {
    ($column:literal) => {
        concat!(
            "(",
            $column,
            " = 'queued' OR ",
            $column,
            " = 'running' OR ",
            $column,
            " = 'waiting')"
        )
    };
}

mod commit;
mod inbox;
pub mod lock;
pub mod maintenance;
mod queue;
mod read;
mod retention;
mod runs;
mod schema;
mod state;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use alertsync_engine::{Hold, RunRecord};
use async_trait::async_trait;
use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::claims::ClaimsInHand;
use crate::error::{StoreError, StoreResult};
pub(crate) use crate::fault::{
    Fault, from_json, ms_to_sql, now_sql, optional_unsigned_from_sql, seq_to_sql, to_json,
    unsigned_from_sql,
};
use crate::model::{
    Checkpoint, ClaimedRun, Enqueued, InboxCounts, InboxEvent, InboxId, NewInboxEvent,
    PlaybookHealth, Pruned, QueueHealth, Rerun, RetryState, RunCountFilter, RunCounts, RunDetail,
    RunId, RunPage, RunQuery, RunTarget,
};
use crate::{Store, WriteBehind, WriteHealth, WriteHealthCell};
use commit::Footprint;

pub use lock::StoreLock;

/// How a [`SqliteStore`] behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    /// How long a write waits for a lock held by another process before it fails.
    pub busy_timeout: Duration,
    /// Take the store's lock file ([`lock`]): a second store opened this way on the same
    /// file, in any process, is refused while this one lives. What `serve` does.
    pub exclusive: bool,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(10),
            exclusive: false,
        }
    }
}

/// The [`Store`] in one SQLite file. Cheap to clone; clones share the connections and the
/// claims.
///
/// Claims of runs belong to the instance that made them and are kept in its memory (a
/// claim picks its runs from a read and commits nothing; a started run records which
/// instance runs it): a store opened later (after a restart) treats them as released, so a
/// run claimed and never finished is ready again, and one left running counts an
/// interruption.
/// Run one `alertsync serve` per file ([`SqliteOptions::exclusive`]).
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
    /// Every write goes through it; the writer thread ends with the last clone.
    writes: Arc<commit::WriteQueue>,
    /// Every read goes through it; the reader threads end with the last clone.
    reads: Arc<read::ReadPool>,
    /// The reader of claims alone: a slow query of the console or the API on the other
    /// readers never holds up the run queue.
    claim_reads: Arc<read::ReadPool>,
}

struct Inner {
    path: PathBuf,
    /// Names this instance in `runs.claimed_by` (written when a claimed run starts).
    instance: String,
    /// The runs this instance has claimed and not yet settled. Claims live here, not in the
    /// file: a claim needs no commit, and claims end with the instance anyway.
    claims: ClaimsInHand,
    /// Whether the last writes reached the disk.
    write_health: WriteHealthCell,
    /// Held while the store lives, if opened exclusive.
    _lock: Option<StoreLock>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("instance", &self.inner.instance)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating it and its directory if needed) the store at `path` with the default
    /// options, and brings its schema up to date.
    pub async fn open(path: impl Into<PathBuf>) -> StoreResult<Self> {
        Self::open_with(path, SqliteOptions::default()).await
    }

    /// Like [`SqliteStore::open`], with options.
    pub async fn open_with(path: impl Into<PathBuf>, options: SqliteOptions) -> StoreResult<Self> {
        let path = path.into();
        let shown = path.clone();
        tokio::task::spawn_blocking(move || Self::open_blocking(path, options))
            .await
            .map_err(|e| StoreError::Open {
                path: shown,
                cause: e.to_string().into(),
            })?
    }

    /// Like [`SqliteStore::open_with`], blocking the calling thread: for callers outside an
    /// async runtime.
    pub fn open_blocking(path: impl Into<PathBuf>, options: SqliteOptions) -> StoreResult<Self> {
        let path = path.into();
        let open_error = |cause: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
            path: path.clone(),
            cause,
        };
        let Prepared { lock, writer, .. } = prepare(&path, &options)?;
        let readers = |count: usize| {
            let connections = (0..count)
                .map(|_| {
                    let reader = connect(&path, &options)?;
                    reader.pragma_update(None, "query_only", "ON")?;
                    Ok(reader)
                })
                .collect::<Result<Vec<_>, Fault>>()
                .map_err(|f| open_error(f.into_cause()))?;
            read::ReadPool::start(connections).map_err(|e| open_error(e.into()))
        };
        let reads = readers(READERS)?;
        let claim_reads = readers(1)?;
        let inner = Arc::new(Inner {
            path: path.clone(),
            instance: uuid::Uuid::new_v4().to_string(),
            claims: ClaimsInHand::default(),
            write_health: WriteHealthCell::default(),
            _lock: lock,
        });
        let writes = commit::WriteQueue::start(writer, Arc::clone(&inner))
            .map_err(|e| open_error(e.into()))?;
        Ok(Self {
            inner,
            writes: Arc::new(writes),
            reads: Arc::new(reads),
            claim_reads: Arc::new(claim_reads),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The schema version this build creates and reads.
    pub fn schema_version() -> i64 {
        schema::SUPPORTED_VERSION
    }

    /// Runs `op` in a transaction on the write connection (shared with the writes queued
    /// at the same time) and returns once it is committed.
    async fn write<T, F>(&self, operation: &'static str, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>, &Inner) -> Result<T, Fault> + Send + 'static,
    {
        self.writes
            .write(operation, op)
            .await
            .map_err(|fault| fault.during(operation))
    }

    /// Settles a claimed run with `op` (its end, park or removal, which writes its status
    /// and every node record), then ends its claim.
    async fn settle<F>(&self, run: RunId, operation: &'static str, op: F) -> StoreResult<()>
    where
        F: FnOnce(&rusqlite::Transaction<'_>, &Inner) -> Result<(), Fault> + Send + 'static,
    {
        let settled = self
            .writes
            .settle(operation, run, op)
            .await
            .map_err(|fault| fault.during(operation));
        self.inner.claims.settled(run, settled)
    }

    /// Runs `op` in a read transaction (one consistent snapshot) on a reader thread.
    async fn read<T, F>(&self, operation: &'static str, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, Fault> + Send + 'static,
    {
        self.reads
            .read(op)
            .await
            .map_err(|fault| fault.during(operation))
    }
}

/// A store file ready to be used: its lock (if taken), the connection that migrated it and
/// the schema version it was at.
struct Prepared {
    lock: Option<StoreLock>,
    writer: Connection,
    from: i64,
}

/// Creates the file at `path` (and its directory) if needed, takes its lock if
/// `options.exclusive`, and brings its schema up to date.
fn prepare(path: &Path, options: &SqliteOptions) -> StoreResult<Prepared> {
    let open_error = |cause: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
        path: path.to_owned(),
        cause,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| open_error(e.into()))?;
    }
    create_private(path).map_err(|e| open_error(e.into()))?;
    let lock = options.exclusive.then(|| lock::acquire(path)).transpose()?;
    let mut writer = connect(path, options).map_err(|f| open_error(f.into_cause()))?;
    match schema::migrate(&mut writer).map_err(|f| open_error(f.into_cause()))? {
        schema::Migrated::Current { from } => {
            // The writer's temporary storage in memory: each write runs in a savepoint,
            // whose statement journal was a temporary file created and deleted for most
            // alerts. A savepoint journals only the pages of one write, which are bounded.
            // Set after the migrations, whose statements may rewrite whole tables, and not
            // on the readers, so that a large sort for the API does not grow the memory.
            writer
                .pragma_update(None, "temp_store", "MEMORY")
                .map_err(|e| open_error(Box::new(e)))?;
            Ok(Prepared { lock, writer, from })
        }
        schema::Migrated::TooNew(found) => Err(StoreError::SchemaTooNew {
            path: path.to_owned(),
            found,
            supported: schema::SUPPORTED_VERSION,
        }),
    }
}

/// Reader threads (and read connections) of a store besides the claims' own: the API, the
/// console and the sources read while the scheduler writes.
const READERS: usize = 2;

/// Prepared statements each connection keeps.
const STATEMENT_CACHE: usize = 128;

/// Opens one connection with the pragmas every connection needs.
fn connect(path: &Path, options: &SqliteOptions) -> Result<Connection, Fault> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(options.busy_timeout)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Fault::Corrupt(format!(
            "the file cannot use write-ahead logging (journal mode stays `{mode}`)"
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Room for every statement the store prepares (about fifty): with rusqlite's default
    // of 16 they pushed each other out, and parsing them again took a tenth of serve's CPU.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

#[async_trait]
impl Store for SqliteStore {
    async fn sync_writes(&self) -> StoreResult<()> {
        self.write("sync writes", |_, _| Ok(())).await
    }

    fn write_behind(&self, write: WriteBehind) {
        match write {
            WriteBehind::RunStarted { run, at_ms } => {
                self.writes
                    .submit("start run", Footprint::RunStart(run), move |tx, inner| {
                        queue::started(tx, run, at_ms, &inner.instance)
                    });
            }
            WriteBehind::NodeRecorded { run, node } => {
                let footprint = Footprint::NodeRecord(run, node.seq);
                self.writes
                    .submit("record node run", footprint, move |tx, _| {
                        runs::require_run(tx, run)?;
                        runs::upsert_node(tx, run, &node)
                    });
            }
            WriteBehind::PlaybookSucceeded { playbook_id } => {
                self.writes
                    .submit("record playbook success", Footprint::Other, move |tx, _| {
                        state::record_success(tx, &playbook_id).map(drop)
                    });
            }
            WriteBehind::AlertRead { run, alert } => {
                self.writes.submit(
                    "record the alert of a run",
                    Footprint::Other,
                    move |tx, _| runs::set_alert(tx, run, &alert),
                );
            }
            WriteBehind::AlertLinked(link) => {
                self.writes
                    .submit("record alert link", Footprint::Other, move |tx, _| {
                        state::link_alert(tx, &link)
                    });
            }
        }
    }

    fn write_health(&self) -> WriteHealth {
        self.inner.write_health.get()
    }

    async fn enqueue(&self, event: NewInboxEvent) -> StoreResult<Enqueued> {
        self.write("enqueue", move |tx, _| inbox::enqueue(tx, &event))
            .await
    }

    async fn enqueue_batch(
        &self,
        events: Vec<NewInboxEvent>,
        checkpoint: Option<Checkpoint>,
    ) -> StoreResult<Vec<Enqueued>> {
        self.write("enqueue batch", move |tx, _| {
            let outcomes = events
                .iter()
                .map(|event| inbox::enqueue(tx, event))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(checkpoint) = &checkpoint {
                state::set_checkpoint(tx, checkpoint)?;
            }
            Ok(outcomes)
        })
        .await
    }

    async fn event(&self, id: InboxId) -> StoreResult<Option<InboxEvent>> {
        self.read("read event", move |tx| inbox::event(tx, id))
            .await
    }

    async fn inbox_counts(&self) -> StoreResult<InboxCounts> {
        self.read("count inbox events", inbox::counts).await
    }

    async fn unrouted_events(&self) -> StoreResult<Vec<InboxEvent>> {
        self.read("list unrouted events", inbox::unrouted).await
    }

    async fn route_event(&self, id: InboxId, runs: Vec<RunTarget>) -> StoreResult<()> {
        self.write("route event", move |tx, _| inbox::route(tx, id, &runs))
            .await
    }

    async fn expire_dedup_keys(&self, prefix: &str, received_before_ms: u64) -> StoreResult<u64> {
        let prefix = prefix.to_owned();
        self.write("expire dedup keys", move |tx, _| {
            inbox::expire_keys(tx, &prefix, received_before_ms)
        })
        .await
    }

    async fn claim_runs(&self, limit: u32) -> StoreResult<Vec<ClaimedRun>> {
        let claiming = self.inner.claims.begin().await;
        let instance = self.inner.instance.clone();
        let skip = claiming.held.clone();
        let candidates = self
            .claim_reads
            .read(move |tx| queue::ready(tx, &instance, limit, &skip))
            .await
            .map_err(|fault| fault.during("claim runs"))?;
        let noted: Vec<(RunId, Option<String>)> = candidates
            .iter()
            .filter(|c| c.left_running || c.loaded.is_err())
            .map(|c| (c.id, c.loaded.as_ref().err().cloned()))
            .collect();
        if !noted.is_empty() {
            self.write("claim runs", move |tx, inner| {
                queue::note_claims(tx, &inner.instance, &noted)
            })
            .await?;
        }
        let claimed = candidates
            .into_iter()
            .filter_map(|candidate| {
                let mut run = candidate.loaded.ok()?;
                run.run.interruptions += u32::from(candidate.left_running);
                Some(run)
            })
            .collect();
        Ok(claiming.hand_out(claimed))
    }

    async fn rerun(&self, rerun: Rerun) -> StoreResult<RunId> {
        self.write("queue a rerun", move |tx, _| queue::rerun(tx, rerun))
            .await
    }

    async fn finish_run(&self, run: RunId, record: RunRecord) -> StoreResult<()> {
        self.settle(run, "finish run", move |tx, _| {
            queue::finish(tx, run, &record)
        })
        .await
    }

    async fn discard_run(&self, run: RunId) -> StoreResult<()> {
        self.settle(run, "discard run", move |tx, _| queue::discard(tx, run))
            .await
    }

    async fn park_run(&self, run: RunId, record: RunRecord, hold: Hold) -> StoreResult<()> {
        self.settle(run, "park run", move |tx, _| {
            queue::park(tx, run, &record, &hold)
        })
        .await
    }

    async fn release_run(&self, run: RunId) -> StoreResult<()> {
        let settled = self
            .write("release run", move |tx, _| queue::release(tx, run))
            .await;
        self.inner.claims.settled(run, settled)
    }

    async fn wake_waiting(&self, destination: &str) -> StoreResult<u64> {
        let destination = destination.to_owned();
        self.write("wake waiting runs", move |tx, _| {
            queue::wake(tx, &destination)
        })
        .await
    }

    async fn dismiss_dead_letter(&self, run: RunId) -> StoreResult<bool> {
        self.write("dismiss dead letter", move |tx, _| queue::dismiss(tx, run))
            .await
    }

    async fn prune(&self, ended_before_ms: u64, limit: u32) -> StoreResult<Pruned> {
        self.write("prune finished work", move |tx, _| {
            retention::prune(tx, ended_before_ms, limit)
        })
        .await
    }

    async fn queue_health(&self) -> StoreResult<QueueHealth> {
        self.read("read queue health", queue::health).await
    }

    async fn run(&self, id: RunId) -> StoreResult<Option<RunDetail>> {
        self.read("read run", move |tx| runs::detail(tx, id)).await
    }

    async fn list_runs(&self, query: RunQuery) -> StoreResult<RunPage> {
        self.read("list runs", move |tx| runs::list(tx, &query))
            .await
    }

    async fn run_counts(&self, filter: RunCountFilter) -> StoreResult<RunCounts> {
        self.read("count runs", move |tx| runs::counts(tx, &filter))
            .await
    }

    async fn save_retry_state(&self, retry: RetryState) -> StoreResult<()> {
        self.write("save retry state", move |tx, _| {
            runs::require_run(tx, retry.run_id)?;
            state::save_retry(tx, &retry)
        })
        .await
    }

    async fn clear_retry_state(&self, run: RunId, seq: usize) -> StoreResult<()> {
        self.write("clear retry state", move |tx, _| {
            state::clear_retry(tx, run, seq)
        })
        .await
    }

    async fn checkpoint(&self, key: &str) -> StoreResult<Option<String>> {
        let key = key.to_owned();
        self.read("read checkpoint", move |tx| state::checkpoint(tx, &key))
            .await
    }

    async fn set_checkpoint(&self, checkpoint: Checkpoint) -> StoreResult<()> {
        self.write("set checkpoint", move |tx, _| {
            state::set_checkpoint(tx, &checkpoint)
        })
        .await
    }

    async fn checkpoints_under(&self, prefix: &str) -> StoreResult<Vec<Checkpoint>> {
        let prefix = prefix.to_owned();
        self.read("read checkpoints", move |tx| {
            state::checkpoints_under(tx, &prefix)
        })
        .await
    }

    async fn forget_checkpoints(&self, prefix: &str, updated_before_ms: u64) -> StoreResult<u64> {
        let prefix = prefix.to_owned();
        self.write("forget checkpoints", move |tx, _| {
            state::forget_checkpoints(tx, &prefix, updated_before_ms)
        })
        .await
    }

    async fn linked_alert(&self, system: &str, remote_id: &str) -> StoreResult<Option<String>> {
        let (system, remote_id) = (system.to_owned(), remote_id.to_owned());
        self.read("read alert link", move |tx| {
            state::linked_alert(tx, &system, &remote_id)
        })
        .await
    }

    async fn record_playbook_failure(
        &self,
        playbook_id: &str,
        error: &str,
    ) -> StoreResult<PlaybookHealth> {
        let playbook_id = playbook_id.to_owned();
        let error = error.to_owned();
        self.write("record playbook failure", move |tx, _| {
            state::record_failure(tx, &playbook_id, &error)
        })
        .await
    }

    async fn enable_playbook(&self, playbook_id: &str) -> StoreResult<PlaybookHealth> {
        let playbook_id = playbook_id.to_owned();
        self.write("enable playbook", move |tx, _| {
            state::enable(tx, &playbook_id)
        })
        .await
    }

    async fn disable_playbook(
        &self,
        playbook_id: &str,
        reason: &str,
    ) -> StoreResult<PlaybookHealth> {
        let playbook_id = playbook_id.to_owned();
        let reason = reason.to_owned();
        self.write("disable playbook", move |tx, _| {
            state::disable(tx, &playbook_id, &reason)
        })
        .await
    }

    async fn playbook_health(&self, playbook_id: &str) -> StoreResult<PlaybookHealth> {
        let playbook_id = playbook_id.to_owned();
        self.read("read playbook health", move |tx| {
            state::health(tx, &playbook_id)
        })
        .await
    }

    async fn all_playbook_health(&self) -> StoreResult<Vec<PlaybookHealth>> {
        self.read("list playbook health", state::all_health).await
    }
}

impl From<rusqlite::Error> for Fault {
    fn from(e: rusqlite::Error) -> Self {
        let storage = matches!(
            &e,
            rusqlite::Error::SqliteFailure(error, _) if matches!(
                error.code,
                ErrorCode::DiskFull
                    | ErrorCode::SystemIoFailure
                    | ErrorCode::CannotOpen
                    | ErrorCode::ReadOnly
                    | ErrorCode::DatabaseCorrupt
                    | ErrorCode::NotADatabase
                    | ErrorCode::DatabaseBusy
                    | ErrorCode::DatabaseLocked
            )
        );
        Self::Backend {
            cause: Box::new(e),
            storage,
        }
    }
}

/// Creates the database file readable by its owner only, if it does not exist yet (SQLite
/// gives its journal files the database file's permissions).
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err),
    }
}

/// Fails unless `sql`, run three times with other values for its parameters, is compiled
/// only once: SQLite compiles a statement again at each new value when its planner looked
/// at the value.
#[cfg(test)]
fn assert_compiled_once(sql: &str) {
    let mut conn = Connection::open_in_memory().expect("an in-memory database");
    schema::migrate(&mut conn).expect("the schema");
    let mut statement = conn.prepare(sql).expect("the statement");
    for run in 1..=3_i64 {
        for parameter in 1..=statement.parameter_count() {
            let value = run + parameter as i64;
            statement
                .raw_bind_parameter(parameter, value)
                .expect("a bound parameter");
        }
        let mut rows = statement.raw_query();
        while rows.next().expect("a row").is_some() {}
    }
    assert_eq!(
        statement.get_status(rusqlite::StatementStatus::RePrepare),
        0,
        "compiled again for another run: {sql}"
    );
}
