//! The Sekoia.io live source: the live notifications of one account — alert and case
//! changes — with a back-fill of alert changes from the last committed checkpoint after
//! every (re)connect; both give a change the same dedup key, so a change seen twice is
//! stored once. While a session stays up the checkpoint moves forward (every change before
//! it has been stored), and dedup keys older than any later back-fill window expire, so an
//! alert entering a status it had before (reopened, then closed again) makes a new run.
//! Case changes are not back-filled: one notified while no session is up is not seen.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use alertsync_engine::{Cancellation, telemetry};
use alertsync_store::{Checkpoint, EventSource, Lease, Store};
use async_trait::async_trait;
use serde_json::json;

use crate::args::{is_alert_id, shown_id};
use crate::sekoia::backfill::{BackfillOptions, Checkpoint as BackfillCheckpoint, backfill_with};
use crate::sekoia::live::{AlertChange, CaseChange, LiveEvent, LiveNotifications, Notification};
use crate::sekoia::{SLUG, SekoiaClient};
use crate::source::{InboxPayload, InboxWriter, IncomingEvent, Source, SourceError, keys};

/// Alert changes the back-fill found that were not stored yet, by `account` (a counter:
/// each is one the live notifications missed).
pub const BACKFILLED_ALERTS: &str = "alertsync_backfilled_alerts_total";

/// How a [`LiveSource`] keeps its checkpoint and dedup keys.
#[derive(Debug, Clone, Copy)]
pub struct CheckpointTiming {
    /// How often the checkpoint moves forward while a live session stays up.
    pub advance_every: Duration,
    /// How far behind this machine's clock a checkpoint taken from it stays, and how much
    /// older than a back-fill window a dedup key must be to expire: covers notification lag
    /// and the skew between this clock and Sekoia.io's.
    pub clock_margin: Duration,
    /// How a back-fill reads (its window starts `overlap` before the checkpoint).
    pub backfill: BackfillOptions,
}

impl Default for CheckpointTiming {
    fn default() -> Self {
        Self {
            advance_every: Duration::from_secs(60),
            clock_margin: Duration::from_secs(300),
            backfill: BackfillOptions::default(),
        }
    }
}

/// The live notifications of one Sekoia.io account.
pub struct LiveSource {
    /// The account's name.
    pub account: String,
    pub live: Arc<LiveNotifications>,
    /// Where the checkpoint is kept.
    pub store: Arc<dyn Store>,
    pub timing: CheckpointTiming,
    /// Where the first back-fill starts when no checkpoint was ever committed, in Unix
    /// seconds: when the service started (what happened before is not replayed into ilert,
    /// and what happened while the first connection was being made is not lost).
    pub first_start_s: i64,
}

#[async_trait]
impl Source for LiveSource {
    fn describe(&self) -> String {
        format!("Sekoia.io account `{}`", self.account)
    }

    /// Listens until `stop`, while this instance holds the account's lease: on a store
    /// several instances share, one of them listens and the others stand by, and one of
    /// them takes over (back-filling from the checkpoint) when the holder stops or dies.
    async fn run(self: Box<Self>, inbox: Arc<dyn InboxWriter>, stop: Cancellation) {
        while let Some(mut lease) = self.wait_for_lease(&stop).await {
            tokio::select! {
                () = self.follow(inbox.as_ref(), &stop) => return,
                () = lease.lost() => {
                    self.live.stand_by(true);
                    tracing::warn!(
                        account = %self.account,
                        "this instance lost the lease of the live connection (its session \
                         with the store ended); it stops listening and stands by"
                    );
                }
            }
        }
    }
}

/// How often a standing-by instance tries to take the live connection's lease.
const LEASE_RETRY: Duration = Duration::from_secs(2);

impl LiveSource {
    /// Takes the account's lease, trying again every [`LEASE_RETRY`] while another instance
    /// holds it; `None` once `stop` is cancelled.
    async fn wait_for_lease(&self, stop: &Cancellation) -> Option<Lease> {
        let name = keys::live_lease(&self.account);
        loop {
            match self.store.try_lease(&name).await {
                Ok(Some(lease)) => {
                    self.live.stand_by(false);
                    tracing::info!(account = %self.account, "this instance holds the live connection");
                    return Some(lease);
                }
                Ok(None) => self.live.stand_by(true),
                Err(e) => {
                    tracing::warn!(account = %self.account, "cannot take the live connection's lease: {e}")
                }
            }
            tokio::select! {
                () = stop.cancelled() => return None,
                () = tokio::time::sleep(LEASE_RETRY) => {}
            }
        }
    }

    /// Follows the live notifications, back-filling after each (re)connect, until `stop`.
    async fn follow(&self, inbox: &dyn InboxWriter, stop: &Cancellation) {
        let live = Arc::clone(&self.live);
        let this = self;
        let client = live.client().clone();
        let client = &client;
        // The session whose back-fill is committed: from then on, its changes arrive live.
        let backfilled = &AtomicU64::new(0);
        let following = live.run(stop, |event| async move {
            match event {
                LiveEvent::Connected { session } => {
                    telemetry::for_destination(SLUG, this.backfill(inbox, client)).await?;
                    backfilled.store(session, Ordering::SeqCst);
                    Ok(())
                }
                LiveEvent::Notified(notified) => this.store_notified(inbox, notified).await,
            }
        });
        let mut stats = live.stats();
        let advancing = async {
            let mut ticks = tokio::time::interval(self.timing.advance_every);
            loop {
                ticks.tick().await;
                let (connected, sessions) = {
                    let now = stats.borrow_and_update();
                    (now.connected, now.sessions)
                };
                if connected && sessions == backfilled.load(Ordering::SeqCst) {
                    self.advance_checkpoint().await;
                }
            }
        };
        tokio::select! {
            () = following => {}
            () = advancing => {}
        }
    }

    fn checkpoint_key(&self) -> String {
        keys::backfill_checkpoint(&self.account)
    }

    /// The committed checkpoint, if any (an unreadable one counts as none: the back-fill
    /// then starts from the beginning, a duplicate is harmless).
    async fn committed_checkpoint(&self) -> Result<Option<BackfillCheckpoint>, SourceError> {
        let text = self
            .store
            .checkpoint(&self.checkpoint_key())
            .await
            .map_err(SourceError::store("read the back-fill checkpoint"))?;
        Ok(text.map(|text| serde_json::from_str(&text).unwrap_or_default()))
    }

    /// Moves the checkpoint to this machine's clock less the clock margin: the session has
    /// stayed up since its back-fill, so every change before that was stored.
    async fn advance_checkpoint(&self) {
        let now = (alertsync_engine::now_ms() / 1000) as i64;
        let candidate = now - self.timing.clock_margin.as_secs() as i64;
        let advanced = match self.committed_checkpoint().await {
            Ok(Some(current)) if current.updated_at >= candidate => return,
            Ok(_) => BackfillCheckpoint::at(candidate),
            Err(err) => {
                tracing::warn!("Sekoia.io account `{}`: {err}", self.account);
                return;
            }
        };
        let checkpoint = Checkpoint::new(
            self.checkpoint_key(),
            serde_json::json!(advanced).to_string(),
        );
        match self.store.set_checkpoint(checkpoint).await {
            Ok(()) => self.expire_keys_before(advanced).await,
            Err(err) => tracing::warn!(
                "Sekoia.io account `{}`: cannot move the checkpoint: {err}",
                self.account
            ),
        }
    }

    /// Lets the dedup keys expire that no back-fill from `checkpoint` could meet again.
    async fn expire_keys_before(&self, checkpoint: BackfillCheckpoint) {
        let window = self.timing.backfill.overlap + self.timing.clock_margin;
        let before_ms = u64::try_from(checkpoint.updated_at)
            .unwrap_or(0)
            .saturating_mul(1000)
            .saturating_sub(window.as_millis() as u64);
        if let Err(err) = self
            .store
            .expire_dedup_keys(&keys::sekoia_changes(&self.account), before_ms)
            .await
        {
            tracing::warn!(
                "Sekoia.io account `{}`: cannot expire old dedup keys: {err}",
                self.account
            );
        }
    }

    /// Stores what changed since the last checkpoint, and the new checkpoint with it.
    async fn backfill(
        &self,
        inbox: &dyn InboxWriter,
        client: &SekoiaClient,
    ) -> Result<(), SourceError> {
        let key = self.checkpoint_key();
        let since = match self.committed_checkpoint().await? {
            Some(checkpoint) => checkpoint,
            None => BackfillCheckpoint::at(self.first_start_s),
        };
        let found = backfill_with(client, since, &self.timing.backfill).await?;
        let events = found
            .changes
            .into_iter()
            .filter_map(|change| self.incoming(change, EventSource::Backfill))
            .collect();
        let checkpoint = Checkpoint {
            key,
            value: json!(found.checkpoint).to_string(),
        };
        let stored = inbox
            .accept_batch(events, Some(checkpoint))
            .await
            .map_err(SourceError::store("store the back-filled changes"))?;
        self.expire_keys_before(found.checkpoint).await;
        let new = stored.iter().filter(|s| s.is_new()).count();
        if new > 0 {
            metrics::counter!(BACKFILLED_ALERTS, "account" => self.account.clone())
                .increment(new as u64);
        }
        Ok(())
    }

    /// Stores changes notified together in one transaction: a burst costs one commit.
    async fn store_notified(
        &self,
        inbox: &dyn InboxWriter,
        notified: Vec<Notification>,
    ) -> Result<(), SourceError> {
        let events: Vec<_> = notified
            .into_iter()
            .filter_map(|notification| match notification {
                Notification::Alert(change) => self.incoming(change, EventSource::Live),
                Notification::Case(change) => Some(self.case_incoming(change)),
            })
            .collect();
        if events.is_empty() {
            return Ok(());
        }
        inbox
            .accept_batch(events, None)
            .await
            .map(drop)
            .map_err(SourceError::store("store the changes"))
    }

    /// The inbox event of a case change.
    fn case_incoming(&self, change: CaseChange) -> IncomingEvent {
        IncomingEvent {
            source: EventSource::Live,
            account: self.account.clone(),
            dedup_key: keys::sekoia_change(&self.account, &change.change_id),
            payload: InboxPayload::CaseChange {
                change: change.kind,
                case_uuid: change.case_uuid,
                attributes: change.attributes,
            },
        }
    }

    /// The inbox event of a change; `None` (logged) for a change whose alert id is not one
    /// (it could never be read, and must not reach a URL).
    fn incoming(&self, change: AlertChange, source: EventSource) -> Option<IncomingEvent> {
        if !is_alert_id(&change.alert_uuid) {
            tracing::warn!(
                "Sekoia.io account `{}`: a {source} change names {}, which is not an alert \
                 id; skipped",
                self.account,
                shown_id(&change.alert_uuid)
            );
            return None;
        }
        let comment = change
            .comment_uuid
            .as_ref()
            .map(|uuid| json!({"uuid": uuid}));
        Some(IncomingEvent {
            source,
            account: self.account.clone(),
            dedup_key: keys::sekoia_change(&self.account, &change.change_id),
            payload: InboxPayload::AlertChange {
                change: change.kind,
                alert_uuid: change.alert_uuid,
                comment,
            },
        })
    }
}
