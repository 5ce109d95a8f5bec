//! The one retry policy: capped exponential backoff with jitter, honouring `Retry-After`.
//!
//! Actions retry transient failures ([`crate::ErrorKind::Transient`]) in process with
//! [`with_retries`]; permanent failures return at once.

use std::future::Future;
use std::time::Duration;

use crate::action::{ActionError, NodeLog};
use crate::telemetry;

/// How many times, and how far apart, transient failures are retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Delay before the first retry; each further retry doubles it.
    pub initial_delay: Duration,
    /// No delay is longer than this, `Retry-After` included.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
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
        let exp = self
            .initial_delay
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)))
            .min(self.max_delay);
        let half = exp / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}

/// Runs `op` until it succeeds, fails permanently, or the policy's attempts are spent.
///
/// `what` names the operation in log lines ("GET https://.../alerts/AL..."); it must already
/// be free of secrets.
pub async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    log: &NodeLog,
    what: &str,
    mut op: F,
) -> Result<T, ActionError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ActionError>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Err(err) if err.is_transient() && attempt < policy.max_attempts => {
                let delay = policy.delay(attempt, err.retry_after);
                log.warn(format!(
                    "{what}: {err} (attempt {attempt}/{}); retrying in {:.1}s",
                    policy.max_attempts,
                    delay.as_secs_f64()
                ));
                tokio::time::sleep(delay).await;
                telemetry::retry();
                attempt += 1;
            }
            Err(err) if err.is_transient() => {
                telemetry::delivery("gave_up");
                return Err(ActionError {
                    message: format!("{what}: {} (gave up after {attempt} attempts)", err.message),
                    ..err
                });
            }
            other => {
                telemetry::delivery(if other.is_ok() { "succeeded" } else { "failed" });
                return other;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
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
