//! The metrics the engine records, through the `metrics` facade: what is sent to
//! destinations, retried and held back by rate limits. Without an installed recorder
//! (the CLI's one-shot commands) recording costs nothing and goes nowhere; the service
//! installs one and describes these names with [`describe`].
//!
//! Labels stay low-cardinality: the destination is the module slug of the action that
//! calls it (`ilert`, `pagerduty`, `sekoia.io`...), or the rate-limit kind; never an alert
//! id, a URL or a key.

use std::future::Future;
use std::time::Duration;

use metrics::{Unit, counter, describe_counter, describe_histogram, histogram};

/// Calls to a destination made with [`crate::retry::with_retries`], once per call whatever
/// its retries, by `destination` and final `outcome` (`succeeded`, `failed`, `gave_up`).
pub const DELIVERIES: &str = "alertsync_deliveries_total";
/// Retries of transient failures, by `destination`.
pub const RETRIES: &str = "alertsync_retries_total";
/// Requests that had to wait for their rate limit, by `destination` (the limit's kind).
pub const RATE_LIMIT_WAITS: &str = "alertsync_rate_limit_waits_total";
/// How long requests waited for their rate limit (histogram), by `destination`.
pub const RATE_LIMIT_WAIT_SECONDS: &str = "alertsync_rate_limit_wait_seconds";

/// The destination label of calls made outside an action (the service's own reads).
pub const OTHER_DESTINATION: &str = "other";

tokio::task_local! {
    static DESTINATION: &'static str;
}

/// Runs `future` with calls inside it counted for `destination` (a module slug).
pub async fn for_destination<F: Future>(destination: &'static str, future: F) -> F::Output {
    DESTINATION.scope(destination, future).await
}

/// The destination of the calls made by the current task.
pub fn destination() -> &'static str {
    DESTINATION.try_with(|d| *d).unwrap_or(OTHER_DESTINATION)
}

/// Describes the engine's metrics to the installed recorder.
pub fn describe() {
    describe_counter!(
        DELIVERIES,
        "Calls to a destination by playbook actions, counted once with their retries, by final outcome."
    );
    describe_counter!(RETRIES, "Retries of transient failures, by destination.");
    describe_counter!(
        RATE_LIMIT_WAITS,
        "Requests that waited for their destination's rate limit."
    );
    describe_histogram!(
        RATE_LIMIT_WAIT_SECONDS,
        Unit::Seconds,
        "How long requests waited for their destination's rate limit."
    );
}

/// Counts one call to the current destination that ended with `outcome`.
pub(crate) fn delivery(outcome: &'static str) {
    counter!(DELIVERIES, "destination" => destination(), "outcome" => outcome).increment(1);
}

/// Counts one retry to the current destination.
pub(crate) fn retry() {
    counter!(RETRIES, "destination" => destination()).increment(1);
}

/// Counts a wait of `waited` for the rate limit of destination kind `kind`.
pub(crate) fn rate_limit_wait(kind: &str, waited: Duration) {
    counter!(RATE_LIMIT_WAITS, "destination" => kind.to_owned()).increment(1);
    histogram!(RATE_LIMIT_WAIT_SECONDS, "destination" => kind.to_owned())
        .record(waited.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_are_counted_for_the_destination_in_scope() {
        assert_eq!(destination(), OTHER_DESTINATION);
        let inner = for_destination("ilert", async { destination() }).await;
        assert_eq!(inner, "ilert");
        assert_eq!(destination(), OTHER_DESTINATION);
    }
}
