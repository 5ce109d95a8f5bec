//! The service's Prometheus metrics, served as text at `GET /metrics`.
//!
//! This module owns the metric names of the service and the process-wide recorder; the
//! engine's own names (deliveries, retries, rate-limit waits) are in
//! [`alertsync_engine::telemetry`] and described here too. Labels stay low-cardinality:
//! playbook ids, statuses, module and action slugs, destination kinds and account names —
//! never alert ids, URLs or keys.
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `alertsync_runs_total` | counter | `playbook`, `status` |
//! | `alertsync_node_duration_seconds` | histogram | `module`, `action`, `status` |
//! | `alertsync_deliveries_total` | counter | `destination`, `outcome` |
//! | `alertsync_retries_total` | counter | `destination` |
//! | `alertsync_rate_limit_waits_total` | counter | `destination` |
//! | `alertsync_rate_limit_wait_seconds` | histogram | `destination` |
//! | `alertsync_queue_runs` | gauge | `state` (`queued`, `running`, `waiting`, `held`) |
//! | `alertsync_dead_letters` | gauge | |
//! | `alertsync_dead_letters_total` | counter | `playbook` |
//! | `alertsync_oldest_queued_seconds` | gauge | |
//! | `alertsync_healthy` | gauge | |
//! | `alertsync_health_problem` | gauge | `problem` (each code of [`crate::health::Problem`]) |
//! | `alertsync_live_connected` | gauge | `account` |
//! | `alertsync_live_reconnects_total` | counter | `account` |
//! | `alertsync_backfilled_alerts_total` | counter | `account` |

use std::sync::OnceLock;

use alertsync_engine::{NodeStatus, Registry, RunRecord, telemetry};
use alertsync_integrations::sekoia::live::LiveStats;
use alertsync_spl::{NodeKind, Operator, Playbook};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::sync::watch;

use crate::health::{Health, HealthStatus, Problem};
use crate::http::AppState;

/// Runs that ended, by `playbook` and `status` (`succeeded`, `failed`).
pub const RUNS: &str = "alertsync_runs_total";
/// How long node runs took (histogram), by `module`, `action` and `status`.
pub const NODE_DURATION_SECONDS: &str = "alertsync_node_duration_seconds";
/// Runs in the queue by `state`: `queued`, `running`, `waiting` (held by a failing
/// destination) and `held` (their playbook is disabled); set at each scrape and health check.
pub const QUEUE_RUNS: &str = "alertsync_queue_runs";
/// Dead letters nobody has replayed or dismissed.
pub const DEAD_LETTERS: &str = "alertsync_dead_letters";
/// Runs that became dead letters, by `playbook`.
pub const DEAD_LETTERS_TOTAL: &str = "alertsync_dead_letters_total";
/// Age of the oldest queued run of an enabled playbook (0 when none waits).
pub const OLDEST_QUEUED_SECONDS: &str = "alertsync_oldest_queued_seconds";
/// 1 while `/healthz` would answer 200.
pub const HEALTHY: &str = "alertsync_healthy";
/// 1 while the health problem `problem` holds, else 0.
pub const HEALTH_PROBLEM: &str = "alertsync_health_problem";
/// 1 while the live notification connection of an `account` is established, else 0.
pub const LIVE_CONNECTED: &str = "alertsync_live_connected";
/// Times the live connection of an `account` was lost or failed to open (each is followed
/// by a reconnect after a backoff).
pub const LIVE_RECONNECTS: &str = "alertsync_live_reconnects_total";
/// Alert changes found by a back-fill that live notifications had not delivered, by
/// `account` (recorded by the live source).
pub use alertsync_integrations::sekoia::sources::BACKFILLED_ALERTS;

/// Buckets of the duration histograms, in seconds.
const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// The module label of operator nodes (condition, foreach, store).
const OPERATOR_MODULE: &str = "operator";
/// The label of a module or action the registry does not know.
const UNKNOWN: &str = "unknown";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder (once; later calls return the same handle) and
/// describes every metric. `None` when another recorder was installed first: metrics are
/// then recorded there and `/metrics` answers 503.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = [NODE_DURATION_SECONDS, telemetry::RATE_LIMIT_WAIT_SECONDS]
                .into_iter()
                .try_fold(PrometheusBuilder::new(), |builder, name| {
                    builder.set_buckets_for_metric(Matcher::Full(name.to_owned()), DURATION_BUCKETS)
                });
            let handle = match builder.map(PrometheusBuilder::install_recorder) {
                Ok(Ok(handle)) => handle,
                Ok(Err(err)) | Err(err) => {
                    tracing::warn!("metrics are not served: {err}");
                    return None;
                }
            };
            describe();
            Some(handle)
        })
        .clone()
}

fn describe() {
    describe_counter!(RUNS, "Playbook runs that ended, by playbook and status.");
    describe_histogram!(
        NODE_DURATION_SECONDS,
        Unit::Seconds,
        "How long node runs took, by module, action and status."
    );
    describe_gauge!(
        QUEUE_RUNS,
        "Runs in the queue: queued, running, waiting (a destination fails), held (playbook disabled)."
    );
    describe_gauge!(
        DEAD_LETTERS,
        "Dead letters (runs that can never run or succeed) nobody has replayed or dismissed."
    );
    describe_counter!(
        DEAD_LETTERS_TOTAL,
        "Runs that became dead letters, by playbook."
    );
    describe_gauge!(
        OLDEST_QUEUED_SECONDS,
        "Age of the oldest queued run of an enabled playbook."
    );
    describe_gauge!(HEALTHY, "1 while /healthz answers 200.");
    describe_gauge!(
        HEALTH_PROBLEM,
        "1 while a health problem holds (the reasons /healthz gives), by problem."
    );
    describe_gauge!(
        LIVE_CONNECTED,
        "1 while the live notification connection of an account is established."
    );
    describe_counter!(
        LIVE_RECONNECTS,
        "Times the live notification connection of an account was lost or failed to open."
    );
    describe_counter!(
        BACKFILLED_ALERTS,
        "Alert changes found by a back-fill that live notifications had not delivered."
    );
    telemetry::describe();
}

/// How often recorded histogram samples are folded into their buckets when nobody scrapes.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Folds histogram samples into their buckets every few seconds until `stop`: the recorder
/// keeps every sample until then, so a service nobody scrapes would otherwise grow.
pub async fn keep_up(stop: alertsync_engine::Cancellation) {
    let Some(handle) = HANDLE.get().and_then(Option::as_ref) else {
        return;
    };
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(UPKEEP_EVERY) => handle.run_upkeep(),
        }
    }
}

/// `GET /metrics`: the Prometheus text exposition, with the health and the queue read now.
pub async fn scrape(State(state): State<AppState>) -> Response {
    let Some(handle) = HANDLE.get().and_then(Option::as_ref) else {
        return (StatusCode::SERVICE_UNAVAILABLE, "metrics are not enabled\n").into_response();
    };
    record_health(&crate::health::assess(&state.health).await);
    handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

/// Sets the health and queue gauges from an assessment.
pub fn record_health(health: &Health) {
    gauge!(HEALTHY).set(f64::from(u8::from(health.status == HealthStatus::Ok)));
    for code in Problem::CODES {
        let holds = health.problems.iter().any(|p| p.code() == code);
        gauge!(HEALTH_PROBLEM, "problem" => code).set(f64::from(u8::from(holds)));
    }
    let Some(queue) = &health.queue else {
        return;
    };
    for (state, count) in [
        ("queued", queue.queued),
        ("running", queue.running),
        ("waiting", queue.waiting),
        ("held", queue.held_by_disabled_playbooks),
    ] {
        gauge!(QUEUE_RUNS, "state" => state).set(count as f64);
    }
    gauge!(DEAD_LETTERS).set(queue.dead_letters as f64);
    let oldest = queue
        .oldest_queued_at_ms
        .map_or(0, |at| alertsync_engine::now_ms().saturating_sub(at) / 1000);
    gauge!(OLDEST_QUEUED_SECONDS).set(oldest as f64);
}

/// Counts a run of `playbook_id` that became a dead letter.
pub fn record_dead_letter(playbook_id: &str) {
    counter!(DEAD_LETTERS_TOTAL, "playbook" => playbook_id.to_owned()).increment(1);
}

/// Counts a run that ended and the durations of its node runs. Node runs restored from
/// before a restart (a resumed run) started before the record and were counted then.
pub fn record_run(registry: &Registry, playbook_id: &str, playbook: &Playbook, record: &RunRecord) {
    counter!(RUNS, "playbook" => playbook_id.to_owned(), "status" => record.status.as_str())
        .increment(1);
    for node in record
        .nodes
        .iter()
        .filter(|n| n.started_at_ms >= record.started_at_ms)
    {
        let (Some(duration_ms), Some(status)) = (node.duration_ms, node_status(node.status)) else {
            continue;
        };
        let (module, action) = node_labels(registry, playbook, &node.id);
        metrics::histogram!(
            NODE_DURATION_SECONDS,
            "module" => module,
            "action" => action,
            "status" => status
        )
        .record(duration_ms as f64 / 1000.0);
    }
}

/// The status label of a node run that ended.
fn node_status(status: NodeStatus) -> Option<&'static str> {
    matches!(status, NodeStatus::Succeeded | NodeStatus::Failed).then(|| status.as_str())
}

/// The (module slug, action slug) of a node: operators are `operator` / their kind.
fn node_labels(registry: &Registry, playbook: &Playbook, node_id: &str) -> (&'static str, String) {
    let Some(node) = playbook.node(node_id) else {
        return (UNKNOWN, UNKNOWN.to_owned());
    };
    match &node.kind {
        NodeKind::Action {
            module_uuid,
            action_uuid,
            ..
        } => match registry.action(module_uuid, action_uuid) {
            Some((module, action)) => (module.manifest.slug, action.manifest().slug.to_owned()),
            None => (UNKNOWN, UNKNOWN.to_owned()),
        },
        NodeKind::Trigger {
            module_uuid,
            trigger_uuid,
            ..
        } => match registry.module(module_uuid) {
            Some(module) => (
                module.manifest.slug,
                module
                    .trigger(trigger_uuid)
                    .map_or(UNKNOWN, |t| t.slug)
                    .to_owned(),
            ),
            None => (UNKNOWN, UNKNOWN.to_owned()),
        },
        NodeKind::Operator(operator) => {
            let kind = match operator {
                Operator::Condition { .. } => "condition",
                Operator::Foreach { .. } => "foreach",
                Operator::Store { .. } => "store",
                Operator::Unknown { .. } => UNKNOWN,
            };
            (OPERATOR_MODULE, kind.to_owned())
        }
        NodeKind::Unknown { .. } => (UNKNOWN, UNKNOWN.to_owned()),
    }
}

/// Mirrors the live connection counters of `account` until the connection is dropped.
pub fn follow_live(account: String, mut stats: watch::Receiver<LiveStats>) {
    tokio::spawn(async move {
        loop {
            let (connected, interruptions) = {
                let now = stats.borrow_and_update();
                (now.connected, now.interruptions)
            };
            gauge!(LIVE_CONNECTED, "account" => account.clone())
                .set(f64::from(u8::from(connected)));
            counter!(LIVE_RECONNECTS, "account" => account.clone()).absolute(interruptions);
            if stats.changed().await.is_err() {
                gauge!(LIVE_CONNECTED, "account" => account).set(0.0);
                return;
            }
        }
    });
}
