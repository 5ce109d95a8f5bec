//! Retention: finished work older than `[store] retention_days` leaves the store, and the
//! files made for runs leave the data directory.
//!
//! `serve` prunes shortly after it starts and then every hour, in small batches (each one
//! short transaction) so that deliveries keep flowing meanwhile; `alertsync store prune`
//! does the same pass once. Open runs and dead letters nobody handled are never removed.
//! Freed pages are reused by later writes: the store file stops growing once the window is
//! full.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use alertsync_engine::Cancellation;
use alertsync_store::{Pruned, Store, StoreResult};

/// Runs or events removed per transaction.
const BATCH: u32 = 500;
/// A pause between batches, so that the writer serves deliveries in between.
const BETWEEN_BATCHES: Duration = Duration::from_millis(20);
/// The first pass waits for the service to settle after a start.
const FIRST_PASS_AFTER: Duration = Duration::from_secs(10);
const EVERY: Duration = Duration::from_secs(3600);

/// What a pass removed: store rows and run file directories.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub store: Pruned,
    pub file_dirs: u64,
}

/// The background pruning of a service.
pub struct Retention {
    pub store: Arc<dyn Store>,
    /// How long finished work is kept.
    pub keep: Duration,
    /// Where run files are made ([`crate::serve::data_dir`]).
    pub data_dir: PathBuf,
}

impl Retention {
    /// Prunes until `stop`: a first pass soon after the start, then one an hour.
    pub async fn run(self, stop: Cancellation) {
        let mut wait = FIRST_PASS_AFTER;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            wait = EVERY;
            let before = alertsync_engine::now_ms().saturating_sub(millis(self.keep));
            match prune(self.store.as_ref(), before, &self.data_dir, &stop).await {
                Ok(report) if report == PruneReport::default() => {}
                Ok(report) => {
                    tracing::info!(target: crate::SERVICE_LOG, "{}", describe(&report, self.keep));
                }
                Err(err) => {
                    tracing::warn!("pruning finished work failed (retried in an hour): {err}")
                }
            }
        }
    }
}

/// One pass: everything finished before `before_ms` (ms since the epoch), batch after batch,
/// then the run file directories last changed before it. Stops early when `stop` is
/// cancelled.
pub async fn prune(
    store: &dyn Store,
    before_ms: u64,
    data_dir: &Path,
    stop: &Cancellation,
) -> StoreResult<PruneReport> {
    let mut report = PruneReport::default();
    while !stop.is_cancelled() {
        let batch = store.prune(before_ms, BATCH).await?;
        report.store.add(batch);
        if batch.is_empty() {
            break;
        }
        tokio::time::sleep(BETWEEN_BATCHES).await;
    }
    let cutoff = SystemTime::UNIX_EPOCH + Duration::from_millis(before_ms);
    for folder in alertsync_integrations::sekoia::triggers::RUN_FILE_FOLDERS {
        report.file_dirs += remove_run_files(&data_dir.join(folder), cutoff).await;
    }
    Ok(report)
}

/// A log line for a pass.
pub fn describe(report: &PruneReport, keep: Duration) -> String {
    format!(
        "removed what finished more than {} day(s) ago: {} run(s), {} event(s), {} alert \
         link(s), {} run file folder(s)",
        keep.as_secs() / 86_400,
        report.store.runs,
        report.store.events,
        report.store.links,
        report.file_dirs
    )
}

/// Removes the folders under `root` (one per run) last changed before `cutoff`: a run removes
/// its own when it ends, so these are what a crash left behind.
async fn remove_run_files(root: &Path, cutoff: SystemTime) -> u64 {
    let Ok(mut entries) = tokio::fs::read_dir(root).await else {
        return 0;
    };
    let mut removed = 0;
    while let Ok(Some(entry)) = entries.next_entry().await {
        let old = entry
            .metadata()
            .await
            .and_then(|m| m.modified())
            .is_ok_and(|modified| modified < cutoff);
        if old && tokio::fs::remove_dir_all(entry.path()).await.is_ok() {
            removed += 1;
        }
    }
    removed
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
