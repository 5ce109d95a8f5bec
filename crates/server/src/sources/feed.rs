//! The feed source: one Feed Consumption or Feed IOC Consumption trigger of one playbook,
//! reading its intelligence feed a page at a time. A page with objects is stored as one
//! inbox event (the objects with it, so a replay sees the same page) together with the
//! cursor after it, in one transaction: a crash between the two cannot skip or repeat a
//! page. A full page is followed at once by the next; after the last one the feed is read
//! again every [`POLL_EVERY`]. Failures are logged and retried after a growing pause; the
//! cursor stays where it was.

use std::sync::Arc;
use std::time::Duration;

use alertsync_engine::{ActionContext, Cancellation, RetryPolicy};
use alertsync_integrations::sekoia::SekoiaClient;
use alertsync_integrations::sekoia::triggers::feeds::{FeedKind, FeedSettings, read_page};
use alertsync_store::{Checkpoint, EventSource, Store};

use crate::deploy::{DeployedPlaybook, TriggerNode};
use crate::inbox::{Inbox, InboxPayload, IncomingEvent};
use crate::keys;

/// How often a feed read to its end is read again (as Sekoia.io's trigger does).
const POLL_EVERY: Duration = Duration::from_secs(300);
/// The first pause after a failed read; it doubles up to [`POLL_EVERY`].
const FIRST_RETRY: Duration = Duration::from_secs(5);

/// One feed trigger of one playbook.
pub struct FeedSource {
    playbook_id: String,
    node_id: String,
    /// The Sekoia.io account the feed is read with.
    account: String,
    settings: FeedSettings,
    client: SekoiaClient,
    inbox: Inbox,
    store: Arc<dyn Store>,
    retry: RetryPolicy,
}

impl FeedSource {
    /// The source of `trigger`, reading with `client` (the node's account `account`).
    pub fn new(
        playbook: &DeployedPlaybook,
        trigger: &TriggerNode,
        kind: FeedKind,
        (account, client): (String, SekoiaClient),
        inbox: Inbox,
        store: Arc<dyn Store>,
        retry: RetryPolicy,
    ) -> Result<Self, String> {
        let settings = trigger
            .settings(playbook, |arguments| {
                FeedSettings::from_arguments(kind, arguments)
            })
            .map_err(|e| e.to_string())?;
        Ok(Self {
            playbook_id: playbook.id.clone(),
            node_id: trigger.node_id.clone(),
            account,
            settings,
            client,
            inbox,
            store,
            retry,
        })
    }

    /// Reads the feed until `stop`.
    pub async fn run(self, stop: Cancellation) {
        let cx = self.client.service_context(self.retry);
        let mut failed_wait = FIRST_RETRY;
        loop {
            let wait = match self.next_page(&cx).await {
                Ok(more) => {
                    failed_wait = FIRST_RETRY;
                    if more { Duration::ZERO } else { POLL_EVERY }
                }
                Err(why) => {
                    tracing::warn!(
                        "feed trigger of playbook {} node {}: {why}; trying again in {} s",
                        self.playbook_id,
                        self.node_id,
                        failed_wait.as_secs()
                    );
                    let wait = failed_wait;
                    failed_wait = (failed_wait * 2).min(POLL_EVERY);
                    wait
                }
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Where this trigger's cursor in its feed is kept.
    fn cursor_key(&self) -> String {
        keys::feed_cursor(&self.playbook_id, &self.node_id, &self.settings.feed_id)
    }

    /// Reads and stores the page after the cursor; whether more may follow at once (the page
    /// was full and the feed moved its cursor: a full page without a new cursor would be
    /// read again and again).
    async fn next_page(&self, cx: &ActionContext) -> Result<bool, String> {
        let key = self.cursor_key();
        let cursor = self
            .store
            .checkpoint(&key)
            .await
            .map_err(|err| format!("cannot read the cursor: {err}"))?;
        let page = read_page(&self.client, cx, &self.settings, cursor.as_deref())
            .await
            .map_err(|err| err.message)?;
        if page.objects.is_empty() {
            return Ok(false);
        }
        let full = page.objects.len() as u64 >= self.settings.batch_size_limit;
        let moved = page.next_cursor.is_some() && page.next_cursor != cursor;
        let dedup_key = keys::feed_page(
            &self.playbook_id,
            &self.node_id,
            &page_fingerprint(cursor.as_deref(), &page.objects),
        );
        let next = page.next_cursor.or(cursor);
        let event = IncomingEvent {
            source: EventSource::Feed,
            account: self.account.clone(),
            dedup_key,
            payload: InboxPayload::FeedPage {
                playbook_id: self.playbook_id.clone(),
                trigger_node: self.node_id.clone(),
                objects: page.objects,
            },
        };
        let checkpoint = next.map(|cursor| Checkpoint::new(key, cursor));
        self.inbox
            .accept_batch(vec![event], checkpoint)
            .await
            .map_err(|err| format!("cannot store the page: {err}"))?;
        Ok(full && moved)
    }
}

/// What makes a page the same page: the cursor it was read after, and its objects' ids and
/// versions.
fn page_fingerprint(cursor: Option<&str>, objects: &[serde_json::Value]) -> String {
    let mut text = cursor.unwrap_or_default().to_owned();
    for object in objects {
        for key in ["id", "modified"] {
            text.push('\n');
            text.push_str(object.get(key).and_then(|v| v.as_str()).unwrap_or_default());
        }
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    digest.as_ref()[..12]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
