//! The SQLite backend's own tests: what it does beyond the `Store` contract, and what can
//! only be brought about or observed through its file. One service per file (`lock`); the
//! schema, created, upgraded from an older alertsync or refused when newer (`migrations`);
//! a write refused halfway through a transaction (`inbox`); a write read back from the
//! file, and the write health while another process holds the write lock past the busy
//! timeout (`durability`); a row that is not valid JSON (`queue`, `migrations`).
//!
//! They work on a [`StoreDir`], which is also where the conformance suite's SQLite stores
//! live.

mod durability;
mod inbox;
mod lock;
mod migrations;
mod queue;

use std::path::{Path, PathBuf};

use alertsync_store::{SqliteOptions, SqliteStore, StoreResult};

/// A temporary directory holding one store file.
pub struct StoreDir {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl StoreDir {
    pub fn temporary() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        // A directory that does not exist yet: the store creates it.
        let path = dir.path().join("data").join("alertsync.db");
        Self { _dir: dir, path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the store (again), with the default options.
    pub async fn open(&self) -> SqliteStore {
        SqliteStore::open(&self.path).await.expect("open the store")
    }

    /// Opens the store (again) with `options`.
    pub async fn open_with(&self, options: SqliteOptions) -> StoreResult<SqliteStore> {
        SqliteStore::open_with(&self.path, options).await
    }

    /// A plain SQLite connection on the file, beside the store.
    pub fn raw(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.path).expect("open the file with SQLite")
    }
}
