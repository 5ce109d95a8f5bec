//! Copying a SQLite store into PostgreSQL, for a team moving from one `alertsync serve` to
//! several sharing a database: every event, run (open ones included), node run, retry
//! state, checkpoint (back-fill positions), playbook health and alert link, with its id.
//!
//! * The SQLite store is opened under its lock, so `serve` must be stopped (and cannot
//!   start meanwhile), its schema brought up to date, and read in one read transaction:
//!   one consistent snapshot, in key order, [`BATCH_ROWS`] rows at a time.
//! * The PostgreSQL store is migrated, then filled in one transaction that first locks its
//!   tables and refuses a store that already holds rows: the copy is whole or absent.
//! * Ids are kept (`OVERRIDING SYSTEM VALUE`), 0/1 flags become booleans. Claims are not
//!   copied: `runs.claimed_by` named an instance of the SQLite store, so it stays empty and
//!   an open run (a running one too) is handed out again by the first claim; a run the
//!   SQLite store's last instance left running (a crash) resumes without counting that
//!   interruption.
//! * The identity sequences continue past the largest id the SQLite store ever gave
//!   (its `AUTOINCREMENT` counter, which remembers removed rows, included): new events and
//!   runs get larger ids, and no id is given twice.
//! * A row that cannot be read or written fails the copy, naming its table and key.

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use serde::Serialize;
use tokio_postgres::Transaction;
use tokio_postgres::types::ToSql;

use crate::error::{StoreError, StoreResult};
use crate::postgres::DirectClient;
use crate::sqlite::maintenance;

/// Rows read and inserted at a time (one `INSERT` each).
pub const BATCH_ROWS: usize = 1000;

/// How far the copy of a table got, after each batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyProgress {
    pub table: &'static str,
    /// Rows copied so far.
    pub copied: u64,
    /// Rows the table holds.
    pub total: u64,
}

/// What a copy did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyReport {
    /// The SQLite store copied.
    pub from: PathBuf,
    /// The PostgreSQL store filled, without its password.
    pub to: String,
    /// Rows copied, per table, in the order they were copied.
    pub tables: Vec<TableCopied>,
}

/// The rows of one table a copy wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TableCopied {
    pub table: &'static str,
    pub rows: u64,
}

/// Copies the SQLite store at `sqlite` into the empty PostgreSQL store at `url` (see the
/// module's documentation); `progress` hears of each batch copied.
pub async fn sqlite_to_postgres(
    sqlite: &Path,
    url: &str,
    progress: &(dyn Fn(&CopyProgress) + Sync),
) -> StoreResult<CopyReport> {
    let (_lock, mut source) = Source::open(sqlite).await?;
    let mut target = DirectClient::connect_url(url).await?;
    target.migrate().await?;
    let to = target.target.clone();
    let tables = fill(&mut target.client, &to, &mut source, progress).await;
    target.close().await;
    Ok(CopyReport {
        from: sqlite.to_owned(),
        to,
        tables: tables?,
    })
}

// ----- what is copied -----

/// How a column's values are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Text,
    /// 0 or 1 in SQLite, a BOOLEAN in PostgreSQL.
    Flag,
}

/// A table both stores have.
#[derive(Debug)]
struct Table {
    name: &'static str,
    /// The columns copied, those of the primary key first.
    columns: &'static [(&'static str, Kind)],
    /// How many leading columns make the primary key.
    key: usize,
    /// Whether its `id` is an identity column, whose sequence must continue past the ids.
    identity: bool,
    /// SQLite's columns deliberately not copied.
    left_out: &'static [&'static str],
}

use Kind::{Flag, Integer, Text};

/// The tables copied, each after those it refers to.
const TABLES: &[Table] = &[
    Table {
        name: "inbox",
        columns: &[
            ("id", Integer),
            ("source", Text),
            ("account", Text),
            ("alert_uuid", Text),
            ("dedup_key", Text),
            ("payload", Text),
            ("received_at_ms", Integer),
            ("done_at_ms", Integer),
            ("routed", Flag),
        ],
        key: 1,
        identity: true,
        left_out: &[],
    },
    Table {
        name: "runs",
        columns: &[
            ("id", Integer),
            ("inbox_id", Integer),
            ("playbook_id", Text),
            ("trigger_node", Text),
            ("alert_uuid", Text),
            ("status", Text),
            ("queued_at_ms", Integer),
            ("started_at_ms", Integer),
            ("ended_at_ms", Integer),
            ("error", Text),
            ("due_at_ms", Integer),
            ("waiting_on", Text),
            ("interruptions", Integer),
            ("rerun_of", Integer),
            ("reuse_succeeded", Flag),
            ("dismissed_at_ms", Integer),
            ("alert_account", Text),
            ("alert_short_id", Text),
            ("alert_title", Text),
            ("alert_urgency", Integer),
        ],
        key: 1,
        identity: true,
        // Claims of the SQLite store's instances, which no PostgreSQL instance holds.
        left_out: &["claimed_by"],
    },
    Table {
        name: "node_runs",
        columns: &[
            ("run_id", Integer),
            ("seq", Integer),
            ("node_id", Text),
            ("name", Text),
            ("status", Text),
            ("started_at_ms", Integer),
            ("ended_at_ms", Integer),
            ("error", Text),
            ("record", Text),
        ],
        key: 2,
        identity: false,
        left_out: &[],
    },
    Table {
        name: "node_retries",
        columns: &[
            ("run_id", Integer),
            ("seq", Integer),
            ("node_id", Text),
            ("attempts", Integer),
            ("next_attempt_at_ms", Integer),
            ("last_error", Text),
            ("updated_at_ms", Integer),
            ("operation", Text),
            ("first_failed_at_ms", Integer),
        ],
        key: 2,
        identity: false,
        left_out: &[],
    },
    Table {
        name: "checkpoints",
        columns: &[("key", Text), ("value", Text), ("updated_at_ms", Integer)],
        key: 1,
        identity: false,
        left_out: &[],
    },
    Table {
        name: "playbook_health",
        columns: &[
            ("playbook_id", Text),
            ("consecutive_failures", Integer),
            ("last_error", Text),
            ("disabled_reason", Text),
            ("disabled_at_ms", Integer),
            ("updated_at_ms", Integer),
        ],
        key: 1,
        identity: false,
        left_out: &[],
    },
    Table {
        name: "alert_links",
        columns: &[
            ("system", Text),
            ("remote_id", Text),
            ("alert_uuid", Text),
            ("linked_at_ms", Integer),
        ],
        key: 2,
        identity: false,
        left_out: &[],
    },
];

impl Table {
    fn column_list(&self) -> String {
        let names: Vec<&str> = self.columns.iter().map(|(name, _)| *name).collect();
        names.join(", ")
    }

    fn key_list(&self) -> String {
        let names: Vec<&str> = self.columns[..self.key].iter().map(|(n, _)| *n).collect();
        names.join(", ")
    }

    /// Names a row by its key, e.g. `run_id=12, seq=3`.
    fn row_name(&self, cells: &[Cell]) -> String {
        if cells.len() < self.key {
            return "(its key cannot be read)".to_owned();
        }
        let named: Vec<String> = self.columns[..self.key]
            .iter()
            .zip(cells)
            .map(|((name, _), cell)| format!("{name}={}", cell.show()))
            .collect();
        named.join(", ")
    }
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cell {
    Integer(Option<i64>),
    Text(Option<String>),
    Flag(Option<bool>),
}

impl Cell {
    fn as_param(&self) -> &(dyn ToSql + Sync) {
        match self {
            Self::Integer(value) => value,
            Self::Text(value) => value,
            Self::Flag(value) => value,
        }
    }

    fn show(&self) -> String {
        match self {
            Self::Integer(Some(value)) => value.to_string(),
            Self::Text(Some(value)) => format!("{value:?}"),
            Self::Flag(Some(value)) => value.to_string(),
            Self::Integer(None) | Self::Text(None) | Self::Flag(None) => "NULL".to_owned(),
        }
    }
}

impl rusqlite::ToSql for Cell {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Self::Integer(value) => rusqlite::ToSql::to_sql(value),
            Self::Text(value) => rusqlite::ToSql::to_sql(value),
            Self::Flag(value) => rusqlite::ToSql::to_sql(value),
        }
    }
}

type Row = Vec<Cell>;

// ----- the SQLite side -----

/// The SQLite store read, in one read transaction, off the async runtime.
struct Source {
    /// Lent to a blocking task while it reads.
    conn: Option<Connection>,
}

const READING: &str = "read the SQLite store";

impl Source {
    /// Opens the store at `path` under its lock, which the caller holds while it reads.
    async fn open(path: &Path) -> StoreResult<(crate::sqlite::StoreLock, Self)> {
        let path = path.to_owned();
        let opened = tokio::task::spawn_blocking(move || {
            let (lock, conn) = maintenance::open_exclusive(&path)?;
            conn.execute_batch("BEGIN").map_err(backend(READING))?;
            TABLES
                .iter()
                .try_for_each(|table| known_columns(&conn, table))?;
            Ok::<_, StoreError>((lock, conn))
        })
        .await
        .map_err(backend(READING))?;
        let (lock, conn) = opened?;
        Ok((lock, Self { conn: Some(conn) }))
    }

    /// Runs `read` on the connection, on a blocking thread.
    async fn read<T: Send + 'static>(
        &mut self,
        read: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let conn = self.conn.take().ok_or_else(|| StoreError::Backend {
            operation: READING,
            cause: "the connection was lost by an earlier read".into(),
        })?;
        let (conn, value) = tokio::task::spawn_blocking(move || {
            let value = read(&conn);
            (conn, value)
        })
        .await
        .map_err(backend(READING))?;
        self.conn = Some(conn);
        value
    }

    async fn count(&mut self, table: &'static Table) -> StoreResult<u64> {
        self.read(move |conn| {
            let sql = format!("SELECT COUNT(*) FROM {}", table.name);
            let count: i64 = conn
                .query_row(&sql, [], |row| row.get(0))
                .map_err(backend(READING))?;
            Ok(u64::try_from(count).unwrap_or_default())
        })
        .await
    }

    /// The next rows of `table` in key order, after the row whose key is `after`.
    async fn rows_after(
        &mut self,
        table: &'static Table,
        after: Option<Row>,
    ) -> StoreResult<Vec<Row>> {
        self.read(move |conn| read_rows(conn, table, after.as_deref()))
            .await
    }

    /// The largest id the SQLite store gave in `table`, removed rows included.
    async fn last_given_id(&mut self, table: &'static Table) -> StoreResult<i64> {
        self.read(move |conn| {
            let given = conn.query_row(
                "SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = ?1",
                [table.name],
                |row| row.get(0),
            );
            given.map_err(backend(READING))
        })
        .await
    }
}

/// Fails if SQLite's `table` has a column the copy would silently drop.
fn known_columns(conn: &Connection, table: &Table) -> StoreResult<()> {
    let sql = format!("SELECT name FROM pragma_table_info('{}')", table.name);
    let mut statement = conn.prepare(&sql).map_err(backend(READING))?;
    let names = statement
        .query_map([], |row| row.get::<_, String>(0))
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(backend(READING))?;
    let known = |name: &String| {
        table.columns.iter().any(|(column, _)| column == name)
            || table.left_out.contains(&name.as_str())
    };
    match names.iter().find(|name| !known(name)) {
        None => Ok(()),
        Some(unknown) => Err(StoreError::Backend {
            operation: "copy the SQLite store",
            cause: format!(
                "its table {} has a column {unknown} this alertsync does not know how to copy",
                table.name
            )
            .into(),
        }),
    }
}

fn read_rows(conn: &Connection, table: &Table, after: Option<&[Cell]>) -> StoreResult<Vec<Row>> {
    let keys = table.key_list();
    let after_clause = match after {
        None => String::new(),
        Some(key) => {
            let marks: Vec<String> = (1..=key.len()).map(|i| format!("?{i}")).collect();
            format!("WHERE ({keys}) > ({})", marks.join(", "))
        }
    };
    let sql = format!(
        "SELECT {} FROM {} {after_clause} ORDER BY {keys} LIMIT {BATCH_ROWS}",
        table.column_list(),
        table.name
    );
    let mut statement = conn.prepare_cached(&sql).map_err(backend(READING))?;
    let params = rusqlite::params_from_iter(after.unwrap_or_default());
    let mut rows = statement.query(params).map_err(backend(READING))?;
    let mut read = Vec::with_capacity(BATCH_ROWS);
    while let Some(row) = rows.next().map_err(backend(READING))? {
        read.push(read_row(table, row)?);
    }
    Ok(read)
}

fn read_row(table: &Table, row: &rusqlite::Row<'_>) -> StoreResult<Row> {
    let mut cells = Vec::with_capacity(table.columns.len());
    for (index, (column, kind)) in table.columns.iter().enumerate() {
        let cell = read_cell(row, index, *kind).map_err(|cause| StoreError::CopyRow {
            table: table.name,
            row: table.row_name(&cells),
            cause: format!("its column {column} {cause}").into(),
        })?;
        cells.push(cell);
    }
    Ok(cells)
}

fn read_cell(row: &rusqlite::Row<'_>, index: usize, kind: Kind) -> Result<Cell, String> {
    let unreadable = |e: rusqlite::Error| format!("cannot be read: {e}");
    match kind {
        Kind::Integer => row.get(index).map(Cell::Integer).map_err(unreadable),
        Kind::Text => row.get(index).map(Cell::Text).map_err(unreadable),
        Kind::Flag => match row.get::<_, Option<i64>>(index).map_err(unreadable)? {
            None => Ok(Cell::Flag(None)),
            Some(0) => Ok(Cell::Flag(Some(false))),
            Some(1) => Ok(Cell::Flag(Some(true))),
            Some(other) => Err(format!("is {other}, neither 0 nor 1")),
        },
    }
}

// ----- the PostgreSQL side -----

const WRITING: &str = "copy into PostgreSQL";

/// Copies every table in one transaction, and continues the identity sequences.
async fn fill(
    client: &mut tokio_postgres::Client,
    target: &str,
    source: &mut Source,
    progress: &(dyn Fn(&CopyProgress) + Sync),
) -> StoreResult<Vec<TableCopied>> {
    let mut tx = client.transaction().await.map_err(backend(WRITING))?;
    refuse_unless_empty(&tx, target).await?;
    let mut copied = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        copied.push(copy_table(&mut tx, table, source, progress).await?);
    }
    for table in TABLES.iter().filter(|table| table.identity) {
        let given = source.last_given_id(table).await?;
        continue_identity(&tx, table, given).await?;
    }
    tx.commit().await.map_err(backend(WRITING))?;
    Ok(copied)
}

/// Locks the tables against writers and fails if any holds a row.
async fn refuse_unless_empty(tx: &Transaction<'_>, target: &str) -> StoreResult<()> {
    let names: Vec<&str> = TABLES.iter().map(|table| table.name).collect();
    let lock = format!("LOCK TABLE {} IN EXCLUSIVE MODE", names.join(", "));
    tx.batch_execute(&lock).await.map_err(backend(WRITING))?;
    let mut filled = Vec::new();
    for name in names {
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {name})");
        let row = tx.query_one(&sql, &[]).await.map_err(backend(WRITING))?;
        if row.try_get::<_, bool>(0).map_err(backend(WRITING))? {
            filled.push(name);
        }
    }
    if filled.is_empty() {
        return Ok(());
    }
    Err(StoreError::NotEmpty {
        target: target.to_owned(),
        tables: filled.join(", "),
    })
}

async fn copy_table(
    tx: &mut Transaction<'_>,
    table: &'static Table,
    source: &mut Source,
    progress: &(dyn Fn(&CopyProgress) + Sync),
) -> StoreResult<TableCopied> {
    let total = source.count(table).await?;
    let mut copied = 0;
    let mut after = None;
    loop {
        let rows = source.rows_after(table, after.take()).await?;
        let Some(last) = rows.last() else { break };
        after = Some(last[..table.key].to_vec());
        insert(tx, table, &rows).await?;
        copied += rows.len() as u64;
        progress(&CopyProgress {
            table: table.name,
            copied,
            total,
        });
        if rows.len() < BATCH_ROWS {
            break;
        }
    }
    Ok(TableCopied {
        table: table.name,
        rows: copied,
    })
}

/// Inserts `rows` in one statement; when it fails, finds the row at fault.
async fn insert(tx: &mut Transaction<'_>, table: &Table, rows: &[Row]) -> StoreResult<()> {
    let batch = tx.savepoint("batch").await.map_err(backend(WRITING))?;
    match insert_rows(&batch, table, rows).await {
        Ok(()) => batch.commit().await.map_err(backend(WRITING)),
        Err(whole) => {
            batch.rollback().await.map_err(backend(WRITING))?;
            Err(row_at_fault(tx, table, rows, whole).await)
        }
    }
}

/// Inserts `rows` one by one, each after the rows before it, until one fails: its error.
/// The batch's own error `whole` if none does.
async fn row_at_fault(
    tx: &mut Transaction<'_>,
    table: &Table,
    rows: &[Row],
    whole: tokio_postgres::Error,
) -> StoreError {
    for row in rows {
        let single = match tx.savepoint("row").await {
            Ok(single) => single,
            Err(e) => return backend(WRITING)(e),
        };
        let inserted = insert_rows(&single, table, std::slice::from_ref(row)).await;
        let settled = match inserted {
            Ok(()) => single.commit().await,
            Err(cause) => {
                return StoreError::CopyRow {
                    table: table.name,
                    row: table.row_name(row),
                    cause: Box::new(cause),
                };
            }
        };
        if let Err(e) = settled {
            return backend(WRITING)(e);
        }
    }
    let first = rows
        .first()
        .map(|row| table.row_name(row))
        .unwrap_or_default();
    StoreError::CopyRow {
        table: table.name,
        row: format!(
            "{first} or one of the {} after it",
            rows.len().saturating_sub(1)
        ),
        cause: Box::new(whole),
    }
}

async fn insert_rows(
    tx: &Transaction<'_>,
    table: &Table,
    rows: &[Row],
) -> Result<(), tokio_postgres::Error> {
    let width = table.columns.len();
    let tuples: Vec<String> = (0..rows.len())
        .map(|row| {
            let marks: Vec<String> = (1..=width)
                .map(|c| format!("${}", row * width + c))
                .collect();
            format!("({})", marks.join(", "))
        })
        .collect();
    let overriding = if table.identity {
        "OVERRIDING SYSTEM VALUE"
    } else {
        ""
    };
    let sql = format!(
        "INSERT INTO {} ({}) {overriding} VALUES {}",
        table.name,
        table.column_list(),
        tuples.join(", ")
    );
    let params: Vec<&(dyn ToSql + Sync)> = rows.iter().flatten().map(Cell::as_param).collect();
    tx.execute(&sql, &params).await.map(drop)
}

/// Sets the identity sequence of `table` past its largest id and past `given`, the largest
/// the SQLite store ever gave.
async fn continue_identity(tx: &Transaction<'_>, table: &Table, given: i64) -> StoreResult<()> {
    let sql = format!(
        "SELECT setval(pg_get_serial_sequence($1, 'id'), last) \
         FROM (SELECT GREATEST($2, (SELECT COALESCE(MAX(id), 0) FROM {})) AS last) ids \
         WHERE last > 0",
        table.name
    );
    tx.query(&sql, &[&table.name, &given])
        .await
        .map(drop)
        .map_err(backend(WRITING))
}

/// Maps a backend's error to what `operation` failed with.
fn backend<E>(operation: &'static str) -> impl Fn(E) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |cause| StoreError::Backend {
        operation,
        cause: Box::new(cause),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_copy_knows_every_column_of_a_current_sqlite_store() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("alertsync.db");
        drop(
            crate::SqliteStore::open(path.clone())
                .await
                .expect("a new store"),
        );
        let (_lock, conn) = maintenance::open_exclusive(&path).expect("opened");
        for table in TABLES {
            known_columns(&conn, table).expect("every column is copied or left out on purpose");
            read_rows(&conn, table, None).expect("the columns copied exist");
        }
    }

    #[tokio::test]
    async fn a_missing_store_file_is_not_created_by_a_copy() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("nothing-here.db");
        let refused = sqlite_to_postgres(&path, "postgres://nobody@127.0.0.1:1/none", &|_| {})
            .await
            .expect_err("no store there");
        assert!(
            refused.to_string().contains("no store file there"),
            "{refused}"
        );
        assert!(!path.exists());
    }

    /// A store file with events 1 to 3, whose rows `damage` then changes behind the store's
    /// back.
    async fn damaged_store(dir: &Path, damage: &str) -> PathBuf {
        let path = dir.join("alertsync.db");
        let store = crate::SqliteStore::open(path.clone())
            .await
            .expect("a new store");
        for key in ["a", "b", "c"] {
            let event = crate::NewInboxEvent {
                source: crate::EventSource::Webhook,
                account: "sekoia".to_owned(),
                alert_uuid: None,
                dedup_key: key.to_owned(),
                payload: serde_json::json!({"key": key}),
                received_at_ms: 1_700_000_000_000,
                runs: vec![],
            };
            crate::Store::enqueue(&store, event).await.expect("stored");
        }
        drop(store);
        let conn = Connection::open(&path).expect("the file opens");
        conn.execute_batch(damage).expect("the rows are changed");
        path
    }

    #[tokio::test]
    async fn a_row_postgresql_refuses_is_named_and_nothing_is_copied() {
        let Some(schema) = alertsync_testing::postgres_schema().await else {
            return;
        };
        let dir = tempfile::tempdir().expect("a temporary directory");
        let nul = "UPDATE inbox SET payload = 'a' || char(0) || 'b' WHERE id = 2";
        let path = damaged_store(dir.path(), nul).await;
        let refused = sqlite_to_postgres(&path, &schema.url, &|_| {})
            .await
            .expect_err("PostgreSQL text holds no NUL");
        assert!(
            refused
                .to_string()
                .starts_with("cannot copy row id=2 of table inbox: "),
            "{refused}"
        );
        let conn = Connection::open(&path).expect("the file opens");
        conn.execute_batch("UPDATE inbox SET payload = '{}' WHERE id = 2")
            .expect("repaired");
        let report = sqlite_to_postgres(&path, &schema.url, &|_| {})
            .await
            .expect("the failed copy left nothing behind");
        assert_eq!(
            report.tables[0],
            TableCopied {
                table: "inbox",
                rows: 3
            }
        );
    }

    #[tokio::test]
    async fn a_value_sqlite_cannot_hand_over_is_named() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let text_time = "UPDATE inbox SET received_at_ms = 'soon' WHERE id = 3";
        let path = damaged_store(dir.path(), text_time).await;
        let (_lock, conn) = maintenance::open_exclusive(&path).expect("opened");
        let unreadable = read_rows(&conn, &TABLES[0], None).expect_err("a time is text");
        let message = unreadable.to_string();
        assert!(
            message.starts_with("cannot copy row id=3 of table inbox: its column received_at_ms"),
            "{message}"
        );
    }

    #[test]
    fn rows_are_named_by_their_key() {
        let node_runs = &TABLES[2];
        let row = vec![Cell::Integer(Some(12)), Cell::Integer(Some(3))];
        assert_eq!(node_runs.row_name(&row), "run_id=12, seq=3");
        assert_eq!(node_runs.row_name(&row[..1]), "(its key cannot be read)");
        let checkpoint = vec![Cell::Text(Some("live/prod".to_owned()))];
        assert_eq!(TABLES[4].row_name(&checkpoint), "key=\"live/prod\"");
    }
}
