//! Memory under a burst: alerts raised while the service is stopped are all found by the
//! back-fill when it starts again, and reach ilert, while the service's memory stays under a
//! stated bound (its peak resident set, `VmHWM` in `/proc/<pid>/status`).

mod common;

use std::time::{Duration, Instant};

use common::delivery::{
    POLL, UNLIMITED, all_posted, delivery, duplicates, forward_to_ilert, ilert_posts, ilert_quiet,
    live_connected, service_dir, uuid_of, wait_for,
};
use common::service::ServeProcess;
use common::simulator;

/// Alerts raised while the service is down.
const BURST: usize = 5_000;
/// The peak resident set the service may reach while it catches up. The queue lives in the
/// store and the back-fill keeps each alert's changes, not the alert, so memory does not
/// grow with what each alert carries; this debug build peaked near 60 MiB for 5,000 alerts
/// (over 200 MiB when the back-fill kept every alert it read), and the bound leaves room
/// for a slower machine's deeper queues.
const PEAK_RSS_BOUND_KB: u64 = 96 * 1024;
/// How long delivering the burst may take.
const CATCH_UP: Duration = Duration::from_secs(600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_raised_while_stopped_is_delivered_within_a_memory_bound() {
    let sim = simulator().await;
    let dir = service_dir(&sim, &forward_to_ilert(), &delivery(8, UNLIMITED));
    let mut service = ServeProcess::start(&dir, &[]).await;
    live_connected(&sim).await;
    service.terminate().await;

    let uuids: Vec<String> = sim.create_alerts(BURST).iter().map(uuid_of).collect();
    let started = Instant::now();
    service.restart().await;
    // Catching up is not what this test measures: a slow machine gets all the time it needs.
    wait_for("every alert in ilert", CATCH_UP, POLL, || {
        all_posted(&sim, &uuids, 1)
    })
    .await;
    let took = started.elapsed();
    ilert_quiet(&sim).await;
    let duplicates = duplicates(&ilert_posts(&sim), &uuids);
    let peak = service.peak_rss_kb();
    eprintln!(
        "{BURST} alerts back-filled and delivered in {took:?}; peak RSS {} MiB",
        peak / 1024
    );
    assert_eq!(duplicates, 0);
    assert!(
        peak <= PEAK_RSS_BOUND_KB,
        "peak RSS {peak} KiB is over the bound of {PEAK_RSS_BOUND_KB} KiB"
    );
}
