//! Writes nobody waits for ([`crate::Store::write_behind`]): a task commits them in
//! batches, in the order they were queued, each in a savepoint of its own (a failing one
//! is logged and rolled back alone). [`BehindQueue::flush`] waits until every write queued
//! before it is committed; awaited writes call it first, so they keep the order of the
//! writes queued before them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, watch};

use super::cluster::Identity;
use super::{Fault, Tx, execute, queue, runs, state};
use crate::{WriteBehind, WriteHealthCell};

/// Most writes one transaction takes.
const MAX_BATCH: usize = 256;

/// The queue of the write-behind task; the task ends when the queue is dropped.
pub(super) struct BehindQueue {
    writes: mpsc::UnboundedSender<WriteBehind>,
    /// How many writes were queued.
    queued: Arc<AtomicU64>,
    /// How many queued writes the task has handled (committed, or failed and logged).
    handled: watch::Receiver<u64>,
}

impl BehindQueue {
    /// Starts the task; it notes in `health` whether its batches reach the database.
    pub(super) fn start(pool: Pool, identity: Identity, health: WriteHealthCell) -> Self {
        let (writes, queue) = mpsc::unbounded_channel();
        let (handled_tx, handled) = watch::channel(0);
        let task = Task {
            pool,
            identity,
            health,
        };
        tokio::spawn(task.commit_batches(queue, handled_tx));
        Self {
            writes,
            queued: Arc::new(AtomicU64::new(0)),
            handled,
        }
    }

    pub(super) fn submit(&self, write: WriteBehind) {
        self.queued.fetch_add(1, Ordering::SeqCst);
        if self.writes.send(write).is_err() {
            tracing::error!("store: a write queued after the store's write-behind task ended");
        }
    }

    /// Returns once every write queued before the call is handled.
    pub(super) async fn flush(&self) {
        let target = self.queued.load(Ordering::SeqCst);
        let mut handled = self.handled.clone();
        let _ = handled.wait_for(|done| *done >= target).await;
    }
}

/// What the write-behind task works with.
struct Task {
    pool: Pool,
    identity: Identity,
    health: WriteHealthCell,
}

impl Task {
    async fn commit_batches(
        self,
        mut queue: mpsc::UnboundedReceiver<WriteBehind>,
        handled: watch::Sender<u64>,
    ) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
            let committed = self.commit(&batch).await;
            self.note(&committed);
            if let Err(fault) = committed {
                tracing::error!(
                    "store: {} writes nobody waited for were not committed: {}",
                    batch.len(),
                    fault.into_cause()
                );
            }
            let count = batch.len() as u64;
            handled.send_modify(|done| *done += count);
            batch.clear();
        }
    }

    fn note(&self, committed: &Result<(), Fault>) {
        let failure = match committed {
            Ok(()) => None,
            Err(fault) if fault.is_storage_failure() => Some(super::fault_text(fault)),
            Err(_) => return,
        };
        self.health.note(failure);
    }

    async fn commit(&self, batch: &[WriteBehind]) -> Result<(), Fault> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        for write in batch {
            execute(&tx, "SAVEPOINT one_write", &[]).await?;
            match apply(&tx, &self.identity, write).await {
                Ok(()) => execute(&tx, "RELEASE one_write", &[]).await?,
                Err(fault) => {
                    tracing::error!(
                        "store: a write nobody waited for failed: {}",
                        fault.into_cause()
                    );
                    execute(&tx, "ROLLBACK TO one_write", &[]).await?
                }
            };
        }
        tx.commit().await?;
        Ok(())
    }
}

async fn apply(tx: &Tx<'_>, identity: &Identity, write: &WriteBehind) -> Result<(), Fault> {
    match write {
        WriteBehind::RunStarted { run, at_ms } => {
            queue::started(tx, *run, *at_ms, &identity.id, &identity.label).await
        }
        WriteBehind::NodeRecorded { run, node } => {
            runs::require_run(tx, *run).await?;
            runs::upsert_node(tx, *run, node).await
        }
        WriteBehind::PlaybookSucceeded { playbook_id } => {
            state::record_success(tx, playbook_id).await
        }
        WriteBehind::AlertRead { run, alert } => runs::set_alert(tx, *run, alert).await,
        WriteBehind::AlertLinked(link) => state::link_alert(tx, link).await,
    }
}
