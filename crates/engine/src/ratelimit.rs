//! Per-destination rate limits: at most N requests in any window of a minute, per key (for
//! ilert: per integration key, 50 a minute by default).
//!
//! The log is this process's own, unless a [`QuotaLedger`] shared by several instances
//! keeps it ([`RateLimits::shared`]): then the quota holds for the cluster, not for each
//! instance.
//!
//! A sliding log of send times rather than a token bucket: a bucket lets a full burst plus
//! its refill through within one minute, which is exactly what a per-minute quota answers
//! with 429. The log is small (N instants per key) and the wait is exact. Written here
//! because the guarantee ("never more than N in any minute") is the whole point and the
//! general-purpose limiter crates approximate it with buckets.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

/// A log of sends kept where several instances see it (the store they share).
#[async_trait]
pub trait QuotaLedger: Send + Sync {
    /// Counts one send to `slot` now if fewer than `limit` were counted in the `window`
    /// before; else answers how long to wait before asking again. `Err` says why the
    /// ledger cannot be read (the caller then counts in its own log).
    async fn take(
        &self,
        slot: &str,
        limit: u32,
        window: Duration,
    ) -> Result<Option<Duration>, String>;
}

/// The window quotas are counted over.
const WINDOW: Duration = Duration::from_secs(60);

/// Quotas per kind of destination (`ilert` → 50), shared by every clone.
#[derive(Clone, Default)]
pub struct RateLimits {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    per_minute: HashMap<String, u32>,
    sent: Mutex<HashMap<String, VecDeque<Instant>>>,
    /// Where sends are counted instead of `sent`, when instances share the quota.
    ledger: Option<Arc<dyn QuotaLedger>>,
}

impl RateLimits {
    /// Limits with a quota per destination kind; kinds without one are not limited.
    pub fn new(per_minute: impl IntoIterator<Item = (String, u32)>) -> Self {
        Self {
            inner: Arc::new(Inner {
                per_minute: per_minute.into_iter().filter(|(_, n)| *n > 0).collect(),
                sent: Mutex::default(),
                ledger: None,
            }),
        }
    }

    /// The same quotas, counted in `ledger`, which several instances share.
    pub fn shared(self, ledger: Arc<dyn QuotaLedger>) -> Self {
        Self {
            inner: Arc::new(Inner {
                per_minute: self.inner.per_minute.clone(),
                sent: Mutex::default(),
                ledger: Some(ledger),
            }),
        }
    }

    /// Waits until one more request to `key` of destination `kind` fits the quota, and
    /// counts it. Returns at once when `kind` has no quota.
    pub async fn acquire(&self, kind: &str, key: &str) {
        let Some(&limit) = self.inner.per_minute.get(kind) else {
            return;
        };
        let slot = format!("{kind}/{key}");
        let mut waited_since = None;
        loop {
            let wait = match self.take_shared(&slot, limit).await {
                Some(wait) => wait,
                None => self.try_take(&slot, limit as usize, Instant::now()),
            };
            match wait {
                None => break,
                Some(until) => {
                    waited_since.get_or_insert_with(Instant::now);
                    tokio::time::sleep_until(until).await;
                }
            }
        }
        if let Some(since) = waited_since {
            crate::telemetry::rate_limit_wait(kind, since.elapsed());
        }
    }

    /// Counts a send in the shared ledger: `Some(None)` if it fits, `Some(Some(when))` when
    /// to retry; `None` without a ledger, or when it cannot be read (logged).
    async fn take_shared(&self, slot: &str, limit: u32) -> Option<Option<Instant>> {
        let ledger = self.inner.ledger.as_ref()?;
        match ledger.take(slot, limit, WINDOW).await {
            Ok(wait) => Some(wait.map(|wait| Instant::now() + wait)),
            Err(why) => {
                tracing::warn!(
                    "the shared quota of {slot} cannot be read ({why}); counting in this \
                     instance alone meanwhile"
                );
                None
            }
        }
    }

    /// Counts a send at `now` if the quota allows it (`None`), else tells when to retry.
    fn try_take(&self, slot: &str, limit: usize, now: Instant) -> Option<Instant> {
        let mut sent = self.inner.sent.lock().unwrap_or_else(|p| p.into_inner());
        let log = sent.entry(slot.to_owned()).or_default();
        while log
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            log.pop_front();
        }
        if log.len() < limit {
            log.push_back(now);
            return None;
        }
        log.front().map(|oldest| *oldest + WINDOW)
    }
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("per_minute", &self.inner.per_minute)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn never_more_than_the_quota_in_any_minute() {
        let limits = RateLimits::new([("ilert".to_owned(), 3)]);
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..7 {
            limits.acquire("ilert", "key-a").await;
            at.push(start.elapsed());
        }
        for (i, sent) in at.iter().enumerate().skip(3) {
            assert!(*sent >= at[i - 3] + WINDOW, "send {i} at {sent:?}: {at:?}");
        }
        assert!(at[..3].iter().all(|t| *t == Duration::ZERO));
    }

    /// A ledger in memory, standing for the store several instances share.
    #[derive(Default)]
    struct SharedLog(Mutex<VecDeque<Instant>>);

    #[async_trait]
    impl QuotaLedger for SharedLog {
        async fn take(
            &self,
            _slot: &str,
            limit: u32,
            window: Duration,
        ) -> Result<Option<Duration>, String> {
            let now = Instant::now();
            let mut log = self.0.lock().unwrap();
            log.retain(|sent| now.duration_since(*sent) < window);
            if log.len() < limit as usize {
                log.push_back(now);
                return Ok(None);
            }
            Ok(log.front().map(|oldest| *oldest + window - now))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn instances_sharing_a_ledger_keep_one_quota_between_them() {
        let ledger: Arc<dyn QuotaLedger> = Arc::new(SharedLog::default());
        let instances: Vec<RateLimits> = (0..3)
            .map(|_| RateLimits::new([("ilert".to_owned(), 2)]).shared(Arc::clone(&ledger)))
            .collect();
        let start = Instant::now();
        let mut at = Vec::new();
        for round in 0..3 {
            for instance in &instances {
                instance.acquire("ilert", "key-a").await;
                at.push((round, start.elapsed()));
            }
        }
        let in_first_minute = at.iter().filter(|(_, t)| *t < WINDOW).count();
        assert_eq!(in_first_minute, 2, "{at:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn keys_and_unlimited_kinds_do_not_wait() {
        let limits = RateLimits::new([("ilert".to_owned(), 1)]);
        let start = Instant::now();
        limits.acquire("ilert", "key-a").await;
        limits.acquire("ilert", "key-b").await;
        for _ in 0..100 {
            limits.acquire("http", "anything").await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
