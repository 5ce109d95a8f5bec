//! Care of a store file from outside the service. Safe while `serve` runs on it: an online,
//! consistent backup and an integrity check, both reading through their own read-only
//! connection (in WAL mode neither waits for the service's writes nor stops them). Only
//! while `serve` is stopped, under the store's lock: bringing the schema up to date, and
//! opening the file for a copy into another store.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::{Prepared, SqliteOptions, StoreLock, create_private, prepare, schema};
use crate::error::{StoreError, StoreResult};
use crate::model::SchemaMigration;

/// Brings the schema of the store at `store` up to date, creating the file if there is
/// none, as `serve` does when it starts. Takes the store's lock: refused while `serve`
/// runs on it.
pub fn migrate(store: &Path) -> StoreResult<SchemaMigration> {
    let Prepared { from, .. } = prepare(store, &exclusive())?;
    Ok(SchemaMigration {
        store: store.display().to_string(),
        from,
        to: schema::SUPPORTED_VERSION,
    })
}

/// The existing store at `store`, its schema brought up to date, for a copy: the store's
/// lock (held until dropped, so no `serve` starts on it meanwhile) and a connection.
pub(crate) fn open_exclusive(store: &Path) -> StoreResult<(StoreLock, Connection)> {
    if !store.is_file() {
        return Err(open_error(store, "no store file there".into()));
    }
    let Prepared { lock, writer, .. } = prepare(store, &exclusive())?;
    let lock = lock.ok_or_else(|| open_error(store, "the store's lock was not taken".into()))?;
    Ok((lock, writer))
}

fn exclusive() -> SqliteOptions {
    SqliteOptions {
        exclusive: true,
        ..SqliteOptions::default()
    }
}

/// Copies the store at `store` into the new file `destination` (owner-only permissions), as
/// one consistent snapshot taken in a read transaction, compacted. The copy is a store
/// `serve` starts on. Returns the copy's size in bytes.
pub fn backup(store: &Path, destination: &Path) -> StoreResult<u64> {
    if destination.exists() {
        return Err(open_error(
            destination,
            "the backup file already exists; choose a new name".into(),
        ));
    }
    let source = read_only(store)?;
    create_private(destination).map_err(|e| open_error(destination, e.into()))?;
    let target = destination
        .to_str()
        .ok_or_else(|| open_error(destination, "the path is not valid UTF-8".into()))?;
    let copied = source.execute("VACUUM INTO ?1", [target]);
    if let Err(err) = copied {
        // Nothing half-written is left behind under the chosen name.
        let _ = std::fs::remove_file(destination);
        return Err(backend("back up the store", err));
    }
    std::fs::metadata(destination)
        .map(|m| m.len())
        .map_err(|e| open_error(destination, e.into()))
}

/// What an integrity check of a store file found; empty when all is well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// The schema version the file is at.
    pub schema_version: i64,
    /// The schema version this alertsync writes.
    pub supported_version: i64,
    /// Each problem SQLite reports (damaged pages, broken indexes, dangling references).
    pub problems: Vec<String>,
}

/// Checks the store at `store`: SQLite's integrity check, references between tables and the
/// schema version.
pub fn check(store: &Path) -> StoreResult<CheckReport> {
    let conn = read_only(store)?;
    let mut problems = pragma_rows(&conn, store, "PRAGMA integrity_check")?;
    if problems == ["ok"] {
        problems.clear();
    }
    let dangling = pragma_rows(&conn, store, "PRAGMA foreign_key_check")?;
    problems.extend(
        dangling
            .into_iter()
            .map(|row| format!("a row refers to one that does not exist: {row}")),
    );
    let schema_version =
        schema::current_version(&conn).map_err(|f| open_error(store, f.into_cause()))?;
    Ok(CheckReport {
        schema_version,
        supported_version: schema::SUPPORTED_VERSION,
        problems,
    })
}

fn read_only(path: &Path) -> StoreResult<Connection> {
    if !path.is_file() {
        return Err(open_error(path, "no store file there".into()));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| open_error(path, e.into()))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(|e| open_error(path, e.into()))?;
    Ok(conn)
}

/// Every row of a pragma, its columns joined; failures name the store at `path`.
fn pragma_rows(conn: &Connection, path: &Path, pragma: &str) -> StoreResult<Vec<String>> {
    let failed = |e: rusqlite::Error| open_error(path, e.into());
    let mut statement = conn.prepare(pragma).map_err(failed)?;
    let columns = statement.column_count();
    let rows = statement
        .query_map([], |row| {
            (0..columns)
                .map(|i| row.get::<_, rusqlite::types::Value>(i).map(|v| show(&v)))
                .collect::<Result<Vec<_>, _>>()
                .map(|cells| cells.join(" "))
        })
        .map_err(failed)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(failed)?;
    Ok(rows)
}

fn show(value: &rusqlite::types::Value) -> String {
    use rusqlite::types::Value;
    match value {
        Value::Null => "null".to_owned(),
        Value::Integer(n) => n.to_string(),
        Value::Real(x) => x.to_string(),
        Value::Text(text) => text.clone(),
        Value::Blob(bytes) => format!("<{} bytes>", bytes.len()),
    }
}

fn open_error(path: &Path, cause: Box<dyn std::error::Error + Send + Sync>) -> StoreError {
    StoreError::Open {
        path: PathBuf::from(path),
        cause,
    }
}

fn backend(
    operation: &'static str,
    cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> StoreError {
    StoreError::Backend {
        operation,
        cause: cause.into(),
    }
}
