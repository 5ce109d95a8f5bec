//! [`NodeRunRecorder`]: the executor's [`RunObserver`] that writes node runs to the store
//! as they start and finish, and its [`RetryJournal`] that keeps the retry progress of
//! node runs waiting for a retry; [`StoredAlertLinks`]: where actions record the ids
//! destinations give to alerts; [`StoredQuotas`]: the quotas instances on one store share.
//!
//! Records are written behind, without waiting for their commit: losing one in a crash
//! makes the resumed run do that node again, which is harmless for a node in flight and
//! for the trigger (its event is built again). An action that ended must not act twice,
//! so before the next node starts the recorder waits until the ended action's record is
//! on disk ([`Store::sync_writes`]); the run's end (`finish_run`, `park_run`) writes every
//! record in one transaction anyway. A run of one action after its trigger — the usual
//! forwarding playbook — thus waits for no record at all.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use alertsync_engine::ratelimit::QuotaLedger;
use alertsync_engine::{AlertLinks, NodeRecord, RetryJournal, RetryProgress, RunObserver};
use async_trait::async_trait;

use crate::model::{AlertLink, RetryState, RunId};
use crate::{Store, WriteBehind};

/// Writes the node runs of one run to the store as the executor reports them (upserts
/// keyed by the record's `seq`).
pub struct NodeRunRecorder {
    store: Arc<dyn Store>,
    run: RunId,
    /// The run's trigger node: its record may be lost (see the module documentation).
    trigger_node: String,
    /// Whether a node other than the trigger ended since records were last brought to
    /// disk.
    ended_unsynced: AtomicBool,
}

impl NodeRunRecorder {
    pub fn new(store: Arc<dyn Store>, run: RunId, trigger_node: &str) -> Self {
        Self {
            store,
            run,
            trigger_node: trigger_node.to_owned(),
            ended_unsynced: AtomicBool::new(false),
        }
    }

    /// The run this recorder writes to.
    pub fn run(&self) -> RunId {
        self.run
    }

    fn record(&self, node: &NodeRecord) {
        self.store.write_behind(WriteBehind::NodeRecorded {
            run: self.run,
            node: Box::new(node.clone()),
        });
    }
}

#[async_trait]
impl RunObserver for NodeRunRecorder {
    async fn node_started(&self, node: &NodeRecord) {
        if self.ended_unsynced.swap(false, Ordering::SeqCst)
            && let Err(error) = self.store.sync_writes().await
        {
            tracing::error!(run = %self.run, %error, "ended node runs not recorded");
        }
        self.record(node);
    }

    async fn node_finished(&self, node: &NodeRecord) {
        self.record(node);
        if node.id != self.trigger_node {
            self.ended_unsynced.store(true, Ordering::SeqCst);
        }
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

/// The executor's [`AlertLinks`], kept in the store. Links are written behind
/// ([`WriteBehind::AlertLinked`]): a delivery does not wait for a commit of its own. A failed
/// write is logged: the delivery it follows succeeded all the same.
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
        self.store.write_behind(WriteBehind::AlertLinked(link));
    }
}

/// The rate limits' ledger kept in a store every instance shares
/// ([`Store::take_quota`]), so a destination's quota holds for the cluster.
pub struct StoredQuotas {
    store: Arc<dyn Store>,
}

impl StoredQuotas {
    /// The store's ledger, if it keeps quotas for several instances.
    pub fn of(store: &Arc<dyn Store>) -> Option<Arc<dyn QuotaLedger>> {
        store.shares_quotas().then(|| {
            Arc::new(Self {
                store: Arc::clone(store),
            }) as Arc<dyn QuotaLedger>
        })
    }
}

#[async_trait]
impl QuotaLedger for StoredQuotas {
    async fn take(
        &self,
        slot: &str,
        limit: u32,
        window: std::time::Duration,
    ) -> Result<Option<std::time::Duration>, String> {
        self.store
            .take_quota(slot, limit, window)
            .await
            .map_err(|e| e.to_string())
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
            store.sync_writes().await.unwrap();
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
