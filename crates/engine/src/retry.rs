//! The one retry policy: capped exponential backoff with jitter, honouring `Retry-After`,
//! bounded by a number of attempts and by the age of the first failure.
//!
//! Actions retry transient failures ([`crate::ErrorKind::Transient`]) in process with
//! [`with_retries`]; permanent failures return at once. Before each wait the progress
//! ([`RetryProgress`]) goes to the run's [`RetryJournal`], if it has one, so that a node
//! interrupted while it waits (crash, shutdown) continues its retries where they were when
//! the run resumes: same attempt count, same first-failure time, not before the planned
//! next attempt.
//!
//! # Holding
//!
//! A one-shot command gives up after [`RetryPolicy::max_attempts`]. The service instead
//! *holds* transient failures ([`NodeRetries::holding`]): attempts are not counted against
//! a limit, only [`RetryPolicy::max_age`] ends them. Short waits happen in place; once the
//! backoff reaches [`HOLD_AFTER`] (or the policy's cap), the progress is journalled and
//! the action fails with [`ActionError::held_until_ms`] set: the executor stops the run
//! as `waiting`, and the service resumes it when the attempt is due, without keeping a
//! worker busy in the meantime.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::action::{ActionContext, ActionError};
use crate::{now_ms, telemetry};

/// How many times, and how far apart, transient failures are retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Delay before the first retry; each further retry doubles it.
    pub initial_delay: Duration,
    /// No delay is longer than this, `Retry-After` included.
    pub max_delay: Duration,
    /// No retry is planned later than this after the first failure: an operation failing
    /// for longer gives up even with attempts left (a stale delivery is not worth more).
    pub max_age: Duration,
}

/// The default [`RetryPolicy::max_age`]: a day.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// While holding, a wait this long or longer (or as long as the policy's cap) is spent
/// with the run put aside rather than in place.
pub const HOLD_AFTER: Duration = Duration::from_secs(2);

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_age: DEFAULT_MAX_AGE,
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The delay before retry number `retry` (1 for the first retry). A server's
    /// `Retry-After` wins over the backoff; both are capped at `max_delay`. The backoff gets
    /// "equal jitter" (a random point in its upper half) so clients that failed together do
    /// not retry together.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.max_delay);
        }
        let exp = self.backoff(retry);
        let half = exp / 2;
        half + half.mul_f64(rand::random::<f64>())
    }

    /// The backoff before retry number `retry`, without jitter: the initial delay doubled
    /// at each retry, capped at `max_delay`.
    pub fn backoff(&self, retry: u32) -> Duration {
        self.initial_delay
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)))
            .min(self.max_delay)
    }
}

/// Where one operation's retries stand, as a [`RetryJournal`] keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryProgress {
    /// The operation retried, as [`with_retries`] names it (secrets masked).
    pub operation: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the first attempt failed (Unix ms): [`RetryPolicy::max_age`] counts from here.
    pub first_failed_at_ms: u64,
    /// When the next attempt is due (Unix ms).
    pub next_attempt_at_ms: u64,
    /// Why the last attempt failed (secrets masked).
    pub last_error: String,
}

/// Keeps the retry progress of a run's node runs where it survives the process (the
/// service's store). Node runs are named by their `seq` in the run's record.
#[async_trait]
pub trait RetryJournal: Send + Sync {
    /// Records that node run `seq` (node `node_id`) waits for its next attempt. Returns
    /// once the progress is kept, or logs why it could not be.
    async fn waiting(&self, seq: usize, node_id: &str, progress: &RetryProgress);
    /// Forgets the progress of node run `seq`: its retries ended.
    async fn ended(&self, seq: usize);
}

/// The retries of one node run: where they are journalled, for a resumed run the progress
/// the interrupted attempt had made, and how many attempts its most tried operation took
/// (kept in the node's record: the journalled progress is forgotten once retries end).
#[derive(Clone, Default)]
pub struct NodeRetries {
    journal: Option<Arc<dyn RetryJournal>>,
    seq: usize,
    node_id: String,
    resumed: Arc<Mutex<Option<RetryProgress>>>,
    hold: bool,
    attempts: Arc<AtomicU32>,
}

impl NodeRetries {
    /// The retries of node run `seq` of node `node_id`, journalled in `journal`, continuing
    /// from `resumed` if the node was interrupted while retrying.
    pub fn new(
        journal: Option<Arc<dyn RetryJournal>>,
        seq: usize,
        node_id: impl Into<String>,
        resumed: Option<RetryProgress>,
    ) -> Self {
        Self {
            journal,
            seq,
            node_id: node_id.into(),
            resumed: Arc::new(Mutex::new(resumed)),
            hold: false,
            attempts: Arc::default(),
        }
    }

    /// The attempts the node's most tried operation made so far, those of an interrupted
    /// attempt of the run included; 0 before any.
    pub fn attempts(&self) -> u32 {
        self.attempts.load(Ordering::Relaxed)
    }

    /// Counts attempt number `attempt` of an operation.
    fn attempting(&self, attempt: u32) {
        self.attempts.fetch_max(attempt, Ordering::Relaxed);
    }

    /// Holds transient failures instead of giving up after the policy's attempts (see the
    /// module documentation). Needs a journal: without one, failures are given up as usual.
    pub fn holding(mut self, hold: bool) -> Self {
        self.hold = hold;
        self
    }

    /// Whether transient failures are held.
    fn holds(&self) -> bool {
        self.hold && self.journal.is_some()
    }

    /// The interrupted progress of `operation`, once: the first call for the same
    /// operation takes it.
    fn take_resumed(&self, operation: &str) -> Option<RetryProgress> {
        let mut resumed = self.resumed.lock().unwrap_or_else(PoisonError::into_inner);
        if resumed.as_ref().is_some_and(|p| p.operation == operation) {
            resumed.take()
        } else {
            None
        }
    }

    async fn waiting(&self, progress: &RetryProgress) {
        if let Some(journal) = &self.journal {
            journal.waiting(self.seq, &self.node_id, progress).await;
        }
    }

    async fn ended(&self) {
        if let Some(journal) = &self.journal {
            journal.ended(self.seq).await;
        }
    }
}

/// Runs `op` until it succeeds, fails permanently, or the policy's attempts or age are
/// spent, logging each retry into the node's log and journalling each wait.
///
/// `what` names the operation ("Sekoia.io GET https://.../alerts/AL..."); it must already be
/// free of secrets. The errors `op` returns name it already (as [`crate::http::HttpClient::send`]
/// and [`crate::http::check_status`] do), so it is not added to them again. It also identifies
/// the operation when an interrupted node resumes its retries, so it must be the same for the
/// same request.
pub async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    cx: &ActionContext,
    what: &str,
    mut op: F,
) -> Result<T, ActionError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ActionError>>,
{
    let mut attempt = 1;
    let mut first_failed_at_ms = None;
    let mut journalled = false;
    if let Some(resumed) = cx.retries.take_resumed(what) {
        attempt = resumed.attempts.saturating_add(1);
        first_failed_at_ms = Some(resumed.first_failed_at_ms);
        journalled = true;
        let wait = Duration::from_millis(resumed.next_attempt_at_ms.saturating_sub(now_ms()));
        cx.log.warn(format!(
            "resuming retries after a restart (attempt {attempt}/{}); last error: {}; \
             next attempt in {:.1}s",
            policy.max_attempts,
            resumed.last_error,
            wait.as_secs_f64()
        ));
        tokio::time::sleep(wait).await;
    }
    let holds = cx.retries.holds();
    let outcome = loop {
        cx.retries.attempting(attempt);
        let err = match op().await {
            Err(err) if err.is_transient() => err,
            other => {
                telemetry::delivery(if other.is_ok() { "succeeded" } else { "failed" });
                break other;
            }
        };
        let first = *first_failed_at_ms.get_or_insert_with(now_ms);
        let delay = policy.delay(attempt, err.retry_after);
        let age = Duration::from_millis(now_ms().saturating_sub(first));
        let out_of_attempts = !holds && attempt >= policy.max_attempts;
        if out_of_attempts || age + delay > policy.max_age {
            telemetry::delivery("gave_up");
            if policy.max_attempts <= 1 && !holds {
                // No retry was allowed: the error is all there is to say.
                break Err(err);
            }
            let why = if out_of_attempts {
                format!("gave up after {attempt} attempts")
            } else {
                format!(
                    "gave up after {attempt} attempts: failing for {}s, the retry limit is {}s",
                    age.as_secs(),
                    policy.max_age.as_secs()
                )
            };
            break Err(ActionError {
                message: format!("{} ({why})", err.message),
                ..err
            });
        }
        let of = if holds {
            String::new()
        } else {
            format!("/{}", policy.max_attempts)
        };
        cx.log.warn(format!(
            "{err} (attempt {attempt}{of}); retrying in {:.1}s",
            delay.as_secs_f64()
        ));
        let progress = RetryProgress {
            operation: what.to_owned(),
            attempts: attempt,
            first_failed_at_ms: first,
            next_attempt_at_ms: now_ms().saturating_add(delay.as_millis() as u64),
            last_error: err.message.clone(),
        };
        cx.retries.waiting(&progress).await;
        journalled = true;
        // Whether the wait is long, jitter aside: what the server asked for, else the backoff.
        let planned = err.retry_after.unwrap_or_else(|| policy.backoff(attempt));
        let long_wait = planned >= HOLD_AFTER.min(policy.max_delay);
        if holds && long_wait {
            // Journalled as waiting, not ended: the resumed run continues from here.
            return Err(ActionError {
                message: format!(
                    "{} (attempt {attempt}; held, next attempt in {:.0}s)",
                    err.message,
                    delay.as_secs_f64()
                ),
                held_until_ms: Some(progress.next_attempt_at_ms),
                ..err
            });
        }
        tokio::time::sleep(delay).await;
        telemetry::retry();
        attempt += 1;
    };
    if journalled {
        cx.retries.ended().await;
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpClient;
    use crate::redact::Redactor;

    /// A journal in memory: what was recorded, in order.
    #[derive(Default)]
    struct Journal(Mutex<Vec<String>>);

    #[async_trait]
    impl RetryJournal for Journal {
        async fn waiting(&self, seq: usize, node_id: &str, progress: &RetryProgress) {
            let entry = format!("{seq}/{node_id} waiting after {}", progress.attempts);
            self.0.lock().unwrap().push(entry);
        }
        async fn ended(&self, seq: usize) {
            self.0.lock().unwrap().push(format!("{seq} ended"));
        }
    }

    fn fast(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            initial_delay: Duration::from_millis(2),
            max_delay: Duration::from_millis(4),
            max_age: DEFAULT_MAX_AGE,
        }
    }

    fn context(journal: &Arc<Journal>, resumed: Option<RetryProgress>) -> ActionContext {
        let mut cx = ActionContext::new(HttpClient::new().unwrap(), Redactor::default());
        let journal: Arc<dyn RetryJournal> = journal.clone();
        cx.retries = NodeRetries::new(Some(journal), 7, "ilert", resumed);
        cx
    }

    #[tokio::test]
    async fn a_held_operation_ignores_the_attempt_limit_and_stops_once_the_backoff_is_capped() {
        let journal = Arc::new(Journal::default());
        let mut cx = context(&journal, None);
        cx.retries = cx.retries.clone().holding(true);
        let policy = RetryPolicy {
            max_attempts: 2,
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(8),
            max_age: DEFAULT_MAX_AGE,
        };
        let before = now_ms();
        let (err, calls) = always_failing(policy, &cx).await;
        // Delays 1, 2, 4 (in place), then 8 = the cap: held after the fourth attempt.
        assert_eq!(
            calls, 4,
            "the attempt limit of 2 does not apply while holding"
        );
        let due = err.held_until_ms.expect("held");
        assert!(due >= before, "{due} {before}");
        assert!(err.message.contains("held, next attempt in"), "{err}");
        assert_eq!(
            journal.0.lock().unwrap().last().map(String::as_str),
            Some("7/ilert waiting after 4"),
            "the progress stays journalled for the resumed run"
        );
    }

    #[tokio::test]
    async fn holding_needs_a_journal() {
        let mut cx = ActionContext::new(HttpClient::new().unwrap(), Redactor::default());
        cx.retries = NodeRetries::default().holding(true);
        let (err, calls) = always_failing(fast(3), &cx).await;
        assert_eq!(calls, 3);
        assert!(err.held_until_ms.is_none());
    }

    /// Runs `with_retries` over an operation that always fails transiently; returns the
    /// error and how many attempts it made.
    async fn always_failing(policy: RetryPolicy, cx: &ActionContext) -> (ActionError, u32) {
        let calls = std::sync::atomic::AtomicU32::new(0);
        let err = with_retries(&policy, cx, "POST http://ilert/events", || async {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err::<(), _>(ActionError::transient("HTTP 503", None))
        })
        .await
        .unwrap_err();
        (err, calls.into_inner())
    }

    #[tokio::test]
    async fn every_wait_is_journalled_and_the_end_forgets_it() {
        let journal = Arc::new(Journal::default());
        let (err, calls) = always_failing(fast(3), &context(&journal, None)).await;
        assert_eq!(calls, 3);
        assert!(err.message.contains("gave up after 3 attempts"), "{err}");
        assert_eq!(
            *journal.0.lock().unwrap(),
            [
                "7/ilert waiting after 1",
                "7/ilert waiting after 2",
                "7 ended"
            ]
        );
    }

    #[tokio::test]
    async fn the_attempts_outlive_the_journalled_progress() {
        let journal = Arc::new(Journal::default());
        let cx = context(&journal, None);
        assert_eq!(cx.retries.attempts(), 0);
        let calls = std::sync::atomic::AtomicU32::new(0);
        with_retries(&fast(5), &cx, "POST http://ilert/events", || async {
            match calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                0..=1 => Err(ActionError::transient("HTTP 503", None)),
                _ => Ok(()),
            }
        })
        .await
        .expect("the third attempt succeeds");
        assert_eq!(
            journal.0.lock().unwrap().last().map(String::as_str),
            Some("7 ended"),
            "the journal forgets the progress"
        );
        assert_eq!(cx.retries.attempts(), 3, "the node keeps the count");
    }

    #[tokio::test]
    async fn a_resumed_operation_continues_its_count_and_waits_for_its_due_time() {
        let journal = Arc::new(Journal::default());
        let due_in = 150;
        let resumed = RetryProgress {
            operation: "POST http://ilert/events".to_owned(),
            attempts: 2,
            first_failed_at_ms: now_ms(),
            next_attempt_at_ms: now_ms() + due_in,
            last_error: "HTTP 503".to_owned(),
        };
        let cx = context(&journal, Some(resumed));
        let started = std::time::Instant::now();
        let (err, calls) = always_failing(fast(3), &cx).await;
        assert_eq!(calls, 1, "attempts 1 and 2 were made before the restart");
        assert_eq!(cx.retries.attempts(), 3);
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(due_in - 30), "{waited:?}");
        assert!(err.message.contains("gave up after 3 attempts"), "{err}");
        assert!(cx.log.lines()[0].message.contains("resuming retries"));
        assert_eq!(*journal.0.lock().unwrap(), ["7 ended"]);
    }

    #[tokio::test]
    async fn progress_of_another_operation_is_not_taken() {
        let journal = Arc::new(Journal::default());
        let resumed = RetryProgress {
            operation: "GET http://sekoia/alerts/x".to_owned(),
            attempts: 2,
            first_failed_at_ms: now_ms(),
            next_attempt_at_ms: now_ms(),
            last_error: "HTTP 503".to_owned(),
        };
        let (_, calls) = always_failing(fast(3), &context(&journal, Some(resumed))).await;
        assert_eq!(calls, 3);
    }

    #[tokio::test]
    async fn an_operation_failing_longer_than_the_max_age_gives_up_with_attempts_left() {
        let journal = Arc::new(Journal::default());
        let resumed = RetryProgress {
            operation: "POST http://ilert/events".to_owned(),
            attempts: 1,
            first_failed_at_ms: now_ms() - 60_000,
            next_attempt_at_ms: now_ms(),
            last_error: "HTTP 503".to_owned(),
        };
        let policy = RetryPolicy {
            max_age: Duration::from_secs(30),
            ..fast(100)
        };
        let (err, calls) = always_failing(policy, &context(&journal, Some(resumed))).await;
        assert_eq!(calls, 1);
        assert!(
            err.message
                .contains("gave up after 2 attempts: failing for 60s, the retry limit is 30s"),
            "{err}"
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
            max_age: DEFAULT_MAX_AGE,
        };
        for _ in 0..50 {
            let d1 = p.delay(1, None);
            assert!(d1 >= Duration::from_millis(500) && d1 <= Duration::from_secs(1));
            let d3 = p.delay(3, None);
            assert!(d3 >= Duration::from_secs(2) && d3 <= Duration::from_secs(4));
            assert!(p.delay(9, None) <= Duration::from_secs(5));
        }
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let p = RetryPolicy {
            max_delay: Duration::from_secs(10),
            ..RetryPolicy::default()
        };
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(300))),
            Duration::from_secs(10)
        );
    }
}
