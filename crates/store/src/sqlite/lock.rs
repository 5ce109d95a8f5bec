//! One service per store file: `serve` holds an exclusive lock on `<store>.lock` for as long
//! as it runs, and writes into it who holds it, so a second one refuses to start and names
//! the first. The lock is the operating system's (released when the process ends, however
//! it ends), so a crash leaves no stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::StoreError;

/// The held lock; dropping it releases it.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
    path: PathBuf,
}

impl StoreLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The lock file of the store at `store`.
pub fn lock_path(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the lock of the store at `store`, or says who holds it.
pub fn acquire(store: &Path) -> Result<StoreLock, StoreError> {
    let path = lock_path(store);
    let open_error = |cause: std::io::Error| StoreError::Open {
        path: path.clone(),
        cause: Box::new(cause),
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(open_error)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            // Best effort: the holder is named if the file can be read.
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => format!("a process holding {}", path.display()),
                named => named.to_owned(),
            };
            return Err(StoreError::InUse {
                path: store.to_owned(),
                holder,
            });
        }
        Err(TryLockError::Error(cause)) => return Err(open_error(cause)),
    }
    let holder = format!(
        "alertsync serve, process {} on {}, since {}",
        std::process::id(),
        host_name(),
        alertsync_engine::now_ms() / 1000
    );
    file.set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)))
        .and_then(|_| file.write_all(holder.as_bytes()))
        .and_then(|()| file.sync_all())
        .map_err(open_error)?;
    Ok(StoreLock { _file: file, path })
}

/// This machine's name, for the holder line (best effort).
fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "this machine".to_owned())
}
