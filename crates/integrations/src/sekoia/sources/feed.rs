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
use alertsync_store::{Checkpoint, EventSource, Store};
use async_trait::async_trait;

use crate::sekoia::SekoiaClient;
use crate::sekoia::triggers::feeds::{FeedSettings, read_page};
use crate::source::{
    InboxPayload, InboxWriter, IncomingEvent, Source, SourceError, TriggerAt, keys,
};

/// How often a feed read to its end is read again (as Sekoia.io's trigger does).
const POLL_EVERY: Duration = Duration::from_secs(300);
/// The first pause after a failed read; it doubles up to [`POLL_EVERY`].
const FIRST_RETRY: Duration = Duration::from_secs(5);

/// One feed trigger of one playbook.
pub struct FeedSource {
    trigger: TriggerAt,
    settings: FeedSettings,
    reader: SekoiaReader,
    /// Where the cursor is kept.
    store: Arc<dyn Store>,
}

/// The Sekoia.io account a trigger reads with: its name, its client, and how its reads
/// are retried.
#[derive(Clone)]
pub struct SekoiaReader {
    pub account: String,
    pub client: SekoiaClient,
    pub retry: RetryPolicy,
}

impl FeedSource {
    /// The source of the feed trigger at `trigger`, reading as `settings` say with
    /// `reader`, keeping its cursor in `store`.
    pub fn new(
        trigger: TriggerAt,
        settings: FeedSettings,
        reader: SekoiaReader,
        store: Arc<dyn Store>,
    ) -> Self {
        Self {
            trigger,
            settings,
            reader,
            store,
        }
    }
}

#[async_trait]
impl Source for FeedSource {
    fn describe(&self) -> String {
        format!("feed trigger of {}", self.trigger)
    }

    /// Reads the feed until `stop`.
    async fn run(self: Box<Self>, inbox: Arc<dyn InboxWriter>, stop: Cancellation) {
        let cx = self.reader.client.service_context(self.reader.retry);
        let mut failed_wait = FIRST_RETRY;
        loop {
            let wait = match self.next_page(inbox.as_ref(), &cx).await {
                Ok(more) => {
                    failed_wait = FIRST_RETRY;
                    if more { Duration::ZERO } else { POLL_EVERY }
                }
                Err(why) => {
                    tracing::warn!(
                        "{}: {why}; trying again in {} s",
                        self.describe(),
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
}

impl FeedSource {
    /// Where this trigger's cursor in its feed is kept.
    fn cursor_key(&self) -> String {
        keys::feed_cursor(
            &self.trigger.playbook_id,
            &self.trigger.node_id,
            &self.settings.feed_id,
        )
    }

    /// Reads and stores the page after the cursor; whether more may follow at once (the page
    /// was full and the feed moved its cursor: a full page without a new cursor would be
    /// read again and again).
    async fn next_page(
        &self,
        inbox: &dyn InboxWriter,
        cx: &ActionContext,
    ) -> Result<bool, SourceError> {
        let key = self.cursor_key();
        let cursor = self
            .store
            .checkpoint(&key)
            .await
            .map_err(SourceError::store("read the cursor"))?;
        let page = read_page(&self.reader.client, cx, &self.settings, cursor.as_deref()).await?;
        if page.objects.is_empty() {
            return Ok(false);
        }
        let full = page.objects.len() as u64 >= self.settings.batch_size_limit;
        let moved = page.next_cursor.is_some() && page.next_cursor != cursor;
        let dedup_key = keys::feed_page(
            &self.trigger.playbook_id,
            &self.trigger.node_id,
            &page_fingerprint(cursor.as_deref(), &page.objects),
        );
        let next = page.next_cursor.or(cursor);
        let event = IncomingEvent {
            source: EventSource::Feed,
            account: self.reader.account.clone(),
            dedup_key,
            payload: InboxPayload::FeedPage {
                playbook_id: self.trigger.playbook_id.clone(),
                trigger_node: self.trigger.node_id.clone(),
                objects: page.objects,
            },
        };
        let checkpoint = next.map(|cursor| Checkpoint::new(key, cursor));
        inbox
            .accept_batch(vec![event], checkpoint)
            .await
            .map_err(SourceError::store("store the page"))?;
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
