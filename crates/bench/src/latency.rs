//! Notification → ilert latencies from the simulator's timings: for each alert, from the
//! moment its "alert created" notification went out to the first ilert event accepted for
//! it.

use std::collections::HashMap;

use serde::Serialize;

use crate::sim::Timings;
use crate::stats::{percentile, round3};

#[derive(Clone, Debug, Serialize)]
pub struct Latencies {
    /// Alerts both notified and received by ilert.
    pub alerts: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// From the first notification to the last ilert event.
    pub span_seconds: f64,
}

pub fn measure(timings: &Timings) -> Option<Latencies> {
    let mut notified: HashMap<&str, u64> = HashMap::new();
    for event in timings
        .notifications
        .iter()
        .filter(|e| e.what == "alert created")
    {
        notified
            .entry(event.alert_uuid.as_str())
            .or_insert(event.at_us);
    }
    let mut delivered: HashMap<&str, u64> = HashMap::new();
    for event in &timings.ilert {
        delivered
            .entry(event.alert_uuid.as_str())
            .or_insert(event.at_us);
    }
    let samples: Vec<f64> = notified
        .iter()
        .filter_map(|(uuid, sent)| {
            let received = delivered.get(uuid)?;
            Some(received.saturating_sub(*sent) as f64 / 1000.0)
        })
        .collect();
    let first = notified.values().min()?;
    let last = delivered.values().max()?;
    Some(Latencies {
        alerts: samples.len(),
        p50_ms: round3(percentile(&samples, 50.0)?),
        p95_ms: round3(percentile(&samples, 95.0)?),
        p99_ms: round3(percentile(&samples, 99.0)?),
        max_ms: round3(percentile(&samples, 100.0)?),
        span_seconds: last.saturating_sub(*first) as f64 / 1e6,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::TimedEvent;

    fn event(uuid: &str, what: &str, at_us: u64) -> TimedEvent {
        TimedEvent {
            alert_uuid: uuid.to_owned(),
            what: what.to_owned(),
            at_us,
        }
    }

    #[test]
    fn pairs_each_created_notification_with_the_first_ilert_event() {
        let timings = Timings {
            notifications: vec![
                event("a", "alert created", 1_000),
                event("b", "alert created", 2_000),
                event("a", "alert updated", 2_500),
            ],
            ilert: vec![
                event("a", "pending", 3_000),
                event("b", "pending", 6_000),
                event("a", "acknowledged", 9_000),
            ],
        };
        let latencies = measure(&timings).unwrap();
        assert_eq!(latencies.alerts, 2);
        assert_eq!(latencies.p50_ms, 2.0);
        assert_eq!(latencies.p99_ms, 4.0);
        assert!((latencies.span_seconds - 0.005).abs() < 1e-9);
    }
}
