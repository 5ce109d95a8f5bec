//! Memory under a burst: alerts raised while the service is stopped are all found by the
//! back-fill when it starts again, and reach ilert, while the service's memory stays under a
//! stated bound (its peak resident set, read from `/proc/<pid>/status`).

mod common;

use std::time::Instant;

use common::delivery::{
    UNLIMITED, all_in_ilert, delivery, forward_to_ilert, live_connected, service_dir, uuid_of,
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

/// `VmHWM` of a process: its peak resident set, in KiB.
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc is readable");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

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
    let pid = service.pid();
    let (took, duplicates) = all_in_ilert(&sim, &uuids, started).await;
    let peak = peak_rss_kb(pid);
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
