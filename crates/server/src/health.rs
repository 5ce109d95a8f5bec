//! Whether the service is doing its job, and if not, why: the one assessment behind
//! `/healthz` (200 or 503), the health gauges of `/metrics`, and the console's banners.
//!
//! The service is unhealthy while any of these holds, each a machine-readable problem:
//!
//! | code | when |
//! | --- | --- |
//! | `live_disconnected` | a live connection has been down longer than `[health] live_grace_secs` |
//! | `live_rejected` | Sekoia.io refuses an account's key or URL (401, 403, 404), longer than the grace |
//! | `playbook_disabled` | a playbook is disabled (by an operator or after errors): its runs are held |
//! | `deliveries_held` | runs wait because a destination fails transiently |
//! | `dead_letters` | runs that can never run or succeed wait for someone to replay or dismiss them |
//! | `backlog` | the oldest queued run is older than `[health] max_queue_age_secs` |
//! | `store_failing` | the store's writes do not reach the disk (full disk, I/O errors) |

use std::sync::Arc;

use alertsync_config::HealthConfig;
use alertsync_integrations::sekoia::live::LiveStats;
use alertsync_store::{ClusterView, QueueHealth, Store, WriteHealth};
use serde::Serialize;
use tokio::sync::watch;
use utoipa::ToSchema;

use crate::deploy::Deployment;

/// The live connection of one Sekoia.io account, as its source reports it.
#[derive(Clone)]
pub struct LiveStatus {
    pub account: String,
    pub stats: watch::Receiver<LiveStats>,
}

/// What the assessment reads.
#[derive(Clone)]
pub struct HealthInputs {
    pub store: Arc<dyn Store>,
    pub deployment: Arc<Deployment>,
    pub live: Arc<[LiveStatus]>,
    pub config: HealthConfig,
}

/// The service's health.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `unhealthy` when `problems` is not empty.
    pub status: HealthStatus,
    /// Why the service is not doing its job; empty when it is.
    pub problems: Vec<Problem>,
    /// The live notification connection of each followed account.
    pub live: Vec<LiveView>,
    /// The run queue; absent when the store cannot be read.
    #[schema(value_type = Option<Object>)]
    pub queue: Option<QueueHealth>,
    /// Whether the store's writes reach the disk.
    #[schema(value_type = Object)]
    pub store: WriteHealth,
    /// When the newest event arrived (ms since the epoch).
    pub last_event_at_ms: Option<u64>,
    /// On a store several instances share: this instance, every instance and who holds
    /// which lease (the live connection of each account). Absent on a store file.
    #[schema(value_type = Option<Object>)]
    pub cluster: Option<ClusterView>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Ok,
    Unhealthy,
}

/// One reason the service is not doing its job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Problem {
    LiveDisconnected {
        account: String,
        since_ms: u64,
        last_error: Option<String>,
    },
    LiveRejected {
        account: String,
        since_ms: u64,
        detail: String,
    },
    PlaybookDisabled {
        playbook: String,
        reason: String,
        since_ms: u64,
    },
    DeliveriesHeld {
        runs: u64,
        oldest_since_ms: Option<u64>,
    },
    DeadLetters {
        runs: u64,
    },
    Backlog {
        queued: u64,
        oldest_queued_at_ms: u64,
    },
    StoreFailing {
        since_ms: Option<u64>,
        detail: String,
    },
}

impl Problem {
    /// Every problem code, for metrics that list each one.
    pub const CODES: [&'static str; 7] = [
        "live_disconnected",
        "live_rejected",
        "playbook_disabled",
        "deliveries_held",
        "dead_letters",
        "backlog",
        "store_failing",
    ];

    /// The problem's code (its `code` in JSON).
    pub fn code(&self) -> &'static str {
        match self {
            Self::LiveDisconnected { .. } => "live_disconnected",
            Self::LiveRejected { .. } => "live_rejected",
            Self::PlaybookDisabled { .. } => "playbook_disabled",
            Self::DeliveriesHeld { .. } => "deliveries_held",
            Self::DeadLetters { .. } => "dead_letters",
            Self::Backlog { .. } => "backlog",
            Self::StoreFailing { .. } => "store_failing",
        }
    }
}

/// The live connection of an account.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LiveView {
    pub account: String,
    /// Whether a session is established now.
    pub connected: bool,
    /// Since when no session is established (ms since the epoch).
    pub disconnected_since_ms: Option<u64>,
    /// While Sekoia.io refuses the key or URL: what it said.
    pub rejection: Option<String>,
    /// Why the last session or attempt ended.
    pub last_error: Option<String>,
    /// Another instance of the cluster holds this account's live connection; this one
    /// stands by (not a problem).
    pub held_elsewhere: bool,
}

/// Assesses the service now.
pub async fn assess(inputs: &HealthInputs) -> Health {
    let now = alertsync_engine::now_ms();
    let mut problems = Vec::new();
    let live: Vec<LiveView> = inputs.live.iter().map(live_view).collect();
    let grace_ms = inputs.config.live_grace_secs.saturating_mul(1000);
    for view in &live {
        problems.extend(live_problem(view, now, grace_ms));
    }
    match inputs.store.all_playbook_health().await {
        Ok(all) => problems.extend(
            all.into_iter()
                .filter(|health| {
                    inputs
                        .deployment
                        .get(&health.playbook_id)
                        .is_some_and(|p| p.enabled)
                })
                .filter_map(|health| {
                    let disabled = health.disabled?;
                    Some(Problem::PlaybookDisabled {
                        playbook: health.playbook_id,
                        reason: disabled.reason,
                        since_ms: disabled.at_ms,
                    })
                }),
        ),
        Err(err) => problems.push(store_unreadable(&err)),
    }
    let queue = match inputs.store.queue_health().await {
        Ok(queue) => {
            problems.extend(queue_problems(
                &queue,
                now,
                inputs.config.max_queue_age_secs,
            ));
            Some(queue)
        }
        Err(err) => {
            problems.push(store_unreadable(&err));
            None
        }
    };
    let store = inputs.store.write_health();
    if let Some(detail) = &store.last_error {
        problems.push(Problem::StoreFailing {
            since_ms: store.failing_since_ms,
            detail: detail.clone(),
        });
    }
    let cluster = match inputs.store.cluster().await {
        Ok(cluster) => cluster,
        Err(err) => {
            problems.push(store_unreadable(&err));
            None
        }
    };
    problems.dedup();
    Health {
        cluster,
        status: if problems.is_empty() {
            HealthStatus::Ok
        } else {
            HealthStatus::Unhealthy
        },
        last_event_at_ms: queue.and_then(|q| q.last_event_at_ms),
        problems,
        live,
        queue,
        store,
    }
}

fn live_view(status: &LiveStatus) -> LiveView {
    let stats = status.stats.borrow();
    LiveView {
        account: status.account.clone(),
        connected: stats.connected,
        disconnected_since_ms: stats.disconnected_since_ms,
        rejection: stats.rejection.clone(),
        last_error: stats.last_error.clone(),
        held_elsewhere: stats.held_elsewhere,
    }
}

/// A live connection down (or refused) for longer than the grace period.
fn live_problem(view: &LiveView, now: u64, grace_ms: u64) -> Option<Problem> {
    let since_ms = view.disconnected_since_ms.filter(|_| !view.connected)?;
    if now.saturating_sub(since_ms) < grace_ms {
        return None;
    }
    Some(match &view.rejection {
        Some(detail) => Problem::LiveRejected {
            account: view.account.clone(),
            since_ms,
            detail: detail.clone(),
        },
        None => Problem::LiveDisconnected {
            account: view.account.clone(),
            since_ms,
            last_error: view.last_error.clone(),
        },
    })
}

fn queue_problems(queue: &QueueHealth, now: u64, max_age_secs: u64) -> Vec<Problem> {
    let mut problems = Vec::new();
    if queue.waiting > 0 {
        problems.push(Problem::DeliveriesHeld {
            runs: queue.waiting,
            oldest_since_ms: queue.oldest_waiting_since_ms,
        });
    }
    if queue.dead_letters > 0 {
        problems.push(Problem::DeadLetters {
            runs: queue.dead_letters,
        });
    }
    if let Some(oldest) = queue.oldest_queued_at_ms
        && now.saturating_sub(oldest) > max_age_secs.saturating_mul(1000)
    {
        problems.push(Problem::Backlog {
            queued: queue.queued,
            oldest_queued_at_ms: oldest,
        });
    }
    problems
}

fn store_unreadable(err: &alertsync_store::StoreError) -> Problem {
    Problem::StoreFailing {
        since_ms: None,
        detail: err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(connected: bool, since_ms: Option<u64>, rejection: Option<&str>) -> LiveView {
        LiveView {
            account: "sekoia".to_owned(),
            connected,
            disconnected_since_ms: since_ms,
            rejection: rejection.map(str::to_owned),
            last_error: None,
            held_elsewhere: false,
        }
    }

    #[test]
    fn a_live_connection_is_a_problem_only_after_the_grace_period() {
        assert_eq!(live_problem(&view(true, None, None), 100_000, 60_000), None);
        assert_eq!(
            live_problem(&view(false, Some(90_000), None), 100_000, 60_000),
            None
        );
        let down = live_problem(&view(false, Some(10_000), None), 100_000, 60_000);
        assert_eq!(down.map(|p| p.code()), Some("live_disconnected"));
        let refused = live_problem(
            &view(false, Some(10_000), Some("HTTP 401")),
            100_000,
            60_000,
        );
        assert_eq!(refused.map(|p| p.code()), Some("live_rejected"));
    }

    #[test]
    fn the_queue_tells_held_dead_and_late_runs() {
        let queue = QueueHealth {
            queued: 3,
            waiting: 2,
            dead_letters: 1,
            oldest_queued_at_ms: Some(1_000),
            ..QueueHealth::default()
        };
        let codes: Vec<_> = queue_problems(&queue, 400_000, 300)
            .iter()
            .map(Problem::code)
            .collect();
        assert_eq!(codes, ["deliveries_held", "dead_letters", "backlog"]);
        assert!(queue_problems(&QueueHealth::default(), 400_000, 300).is_empty());
    }
}
