//! [`NodeRunRecorder`]: the executor's [`RunObserver`] that writes node runs to the store
//! as they start and finish, and its [`RetryJournal`] that keeps the retry progress of
//! node runs waiting for a retry; [`StoredAlertLinks`]: where actions record the ids
//! destinations give to alerts.
//!
//! The executor calls its observer synchronously, and a node that finished must be on disk
//! before the next one starts (a node's start is only queued, see `node_started`): otherwise a crash would make a resumed run repeat nodes that
//! had already completed. So each callback waits for its write to commit. On a
//! multi-threaded tokio runtime it waits inside [`tokio::task::block_in_place`], which
//! hands the worker's other tasks to another thread; on a current-thread runtime, or
//! outside any runtime, the write runs on a helper thread with a runtime of its own.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use alertsync_engine::{AlertLinks, NodeRecord, RetryJournal, RetryProgress, RunObserver};
use async_trait::async_trait;
use tokio::runtime::{Handle, RuntimeFlavor};

use crate::error::{StoreError, StoreResult};
use crate::model::{AlertLink, RetryState, RunId};
use crate::{Store, WriteBehind};

/// Writes the node runs of one run to the store as the executor reports them (upserts
/// keyed by the record's `seq`).
///
/// A failed write is logged and kept: [`NodeRunRecorder::take_error`] tells the caller,
/// which should then not trust the run's stored progress (e.g. finish the run with
/// [`Store::finish_run`], which writes every node run again).
pub struct NodeRunRecorder {
    store: Arc<dyn Store>,
    run: RunId,
    first_error: Mutex<Option<StoreError>>,
}

impl NodeRunRecorder {
    pub fn new(store: Arc<dyn Store>, run: RunId) -> Self {
        Self {
            store,
            run,
            first_error: Mutex::new(None),
        }
    }

    /// The run this recorder writes to.
    pub fn run(&self) -> RunId {
        self.run
    }

    /// The first write that failed since the last call, if any.
    pub fn take_error(&self) -> Option<StoreError> {
        self.first_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn persist(&self, node: &NodeRecord) {
        let store = self.store.clone();
        let run = self.run;
        let node = node.clone();
        let result = wait_for(async move { store.record_node_run(run, node).await });
        if let Err(error) = result {
            tracing::error!(run = %self.run, %error, "node run not recorded");
            let mut first = self
                .first_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if first.is_none() {
                *first = Some(error);
            }
        }
    }
}

impl RunObserver for NodeRunRecorder {
    /// Queued without waiting: a node that started and did not end runs again at a resume
    /// whether or not its start was stored.
    fn node_started(&self, node: &NodeRecord) {
        self.store.write_behind(WriteBehind::NodeStarted {
            run: self.run,
            node: Box::new(node.clone()),
        });
    }

    fn node_finished(&self, node: &NodeRecord) {
        self.persist(node);
    }
}

/// Retry progress goes to the store's retry state of the run, so a node interrupted while
/// waiting for a retry resumes its retries (see [`crate::model::UnfinishedRun::retries`]).
/// A failed write is logged: the retries go on, and a resume would start them afresh.
#[async_trait]
impl RetryJournal for NodeRunRecorder {
    async fn waiting(&self, seq: usize, node_id: &str, progress: &RetryProgress) {
        let state = RetryState::waiting(self.run, seq, node_id, progress);
        if let Err(error) = self.store.save_retry_state(state).await {
            tracing::error!(run = %self.run, seq, %error, "retry state not recorded");
        }
    }

    async fn ended(&self, seq: usize) {
        if let Err(error) = self.store.clear_retry_state(self.run, seq).await {
            tracing::error!(run = %self.run, seq, %error, "retry state not cleared");
        }
    }
}

/// The executor's [`AlertLinks`], kept in the store. A failed write is logged: the delivery
/// it follows succeeded all the same.
pub struct StoredAlertLinks {
    store: Arc<dyn Store>,
}

impl StoredAlertLinks {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl AlertLinks for StoredAlertLinks {
    async fn link(&self, system: &str, remote_id: &str, alert_uuid: &str) {
        let link = AlertLink {
            system: system.to_owned(),
            remote_id: remote_id.to_owned(),
            alert_uuid: alert_uuid.to_owned(),
        };
        if let Err(error) = self.store.link_alert(link).await {
            tracing::error!(system, remote_id, alert_uuid, %error, "alert link not recorded");
        }
    }
}

/// Runs a store future to completion from synchronous code.
fn wait_for<T: Send>(future: impl Future<Output = StoreResult<T>> + Send) -> StoreResult<T> {
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| handle.block_on(future))
        }
        // The current thread drives its runtime: blocking it in place would deadlock any
        // future that needs that runtime, so the write gets a thread and runtime of its own.
        Ok(_) => std::thread::scope(|scope| {
            scope
                .spawn(|| on_own_runtime(future))
                .join()
                .unwrap_or_else(|_| Err(interrupted("the recording thread panicked")))
        }),
        Err(_) => on_own_runtime(future),
    }
}

fn on_own_runtime<T>(future: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| interrupted(&format!("no runtime to record on: {e}")))?
        .block_on(future)
}

fn interrupted(cause: &str) -> StoreError {
    StoreError::Interrupted {
        operation: "record node run",
        cause: cause.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteStore;

    #[tokio::test]
    async fn links_survive_a_restart_and_a_later_one_replaces_an_earlier_one() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("alertsync.db");
        {
            let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
            let links = StoredAlertLinks::new(Arc::clone(&store));
            links.link("ilert", "2983781", "alert-a").await;
            links.link("ilert", "2983782", "alert-b").await;
            links.link("ilert", "2983782", "alert-c").await;
            links.link("pagerduty", "2983781", "alert-d").await;
        }
        let store = SqliteStore::open(&path).await.unwrap();
        let linked = |system: &'static str, id: &'static str| {
            let store = store.clone();
            async move { store.linked_alert(system, id).await.unwrap() }
        };
        assert_eq!(linked("ilert", "2983781").await.as_deref(), Some("alert-a"));
        assert_eq!(linked("ilert", "2983782").await.as_deref(), Some("alert-c"));
        assert_eq!(
            linked("pagerduty", "2983781").await.as_deref(),
            Some("alert-d")
        );
        assert_eq!(linked("ilert", "1").await, None);
    }
}
