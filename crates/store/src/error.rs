//! What can go wrong in the store, independent of the backend.

use std::error::Error as StdError;
use std::path::PathBuf;

use crate::model::{InboxId, RunId};

/// A store operation that did not happen. Every variant names the operation or the thing
/// it was about; a failed write changed nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store could not be opened or prepared (file, permissions, pragmas, migrations).
    #[error("cannot open the store at {}: {cause}", path.display())]
    Open {
        path: PathBuf,
        cause: Box<dyn StdError + Send + Sync>,
    },
    /// The database was written by a newer alertsync.
    #[error(
        "the store at {} has schema version {found}, newer than version {supported} that this \
         alertsync knows; run a newer alertsync",
        path.display()
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// The database could not be reached or prepared; `target` names it without its
    /// password (`postgres://user@host:port/database`).
    #[error("cannot open the store at {target}: {cause}")]
    OpenDatabase {
        target: String,
        cause: Box<dyn StdError + Send + Sync>,
    },
    /// The database was migrated by a newer alertsync.
    #[error(
        "the store at {target} has schema version {found}, newer than version {supported} \
         that this alertsync knows; run a newer alertsync"
    )]
    DatabaseTooNew {
        target: String,
        found: i64,
        supported: i64,
    },
    /// Another service already uses the store.
    #[error(
        "the store at {} is in use by another alertsync ({holder}); one `alertsync serve` \
         runs per store file",
        path.display()
    )]
    InUse { path: PathBuf, holder: String },
    /// The backend failed (I/O, disk full, lock not obtained within the busy timeout, ...).
    #[error("store: {operation} failed: {cause}")]
    Backend {
        operation: &'static str,
        cause: Box<dyn StdError + Send + Sync>,
    },
    /// A stored value could not be read back (e.g. a JSON column that does not parse).
    #[error("store: {operation} found unreadable data: {detail}")]
    Corrupt {
        operation: &'static str,
        detail: String,
    },
    /// A copy into another store was refused: the destination already holds data.
    #[error(
        "the store at {target} is not empty ({tables} already hold rows); copy into a new \
         database or schema, nothing was changed"
    )]
    NotEmpty { target: String, tables: String },
    /// A row could not be copied into another store; `row` names it by its key.
    #[error("cannot copy row {row} of table {table}: {cause}")]
    CopyRow {
        table: &'static str,
        row: String,
        cause: Box<dyn StdError + Send + Sync>,
    },
    #[error("store: {operation}: no run {run}")]
    UnknownRun { operation: &'static str, run: RunId },
    #[error("store: {operation}: no inbox event {event}")]
    UnknownEvent {
        operation: &'static str,
        event: InboxId,
    },
}

/// Results of store operations.
pub type StoreResult<T> = Result<T, StoreError>;
