//! Scripted misbehaviour: the next requests of a route get a delay and/or an error answer.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::state::lock;

/// The request families a fault can target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    SekoiaMe,
    SekoiaGetAlert,
    SekoiaListAlerts,
    SekoiaEditAlert,
    SekoiaWorkflow,
    SekoiaComments,
    SekoiaEvents,
    /// Cases, rules, assets, countermeasures, threat intelligence and the other resources.
    SekoiaResources,
    Intake,
    Ilert,
    #[serde(rename = "pagerduty", alias = "pager_duty")]
    PagerDuty,
    Mattermost,
    Sink,
}

/// Applies to the next `count` requests of `route`: wait `latency_ms`, then answer
/// `status` (with `Retry-After` and `body` when given) instead of the normal answer. Without
/// `status`, the request is only delayed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    pub route: Route,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
    #[serde(default)]
    pub latency_ms: Option<u64>,
    #[serde(default)]
    pub body: Option<Value>,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// The next request of `route` answers `status`.
    pub fn status(route: Route, status: u16) -> Self {
        Self {
            route,
            status: Some(status),
            count: 1,
            retry_after_secs: None,
            latency_ms: None,
            body: None,
        }
    }

    /// The next request of `route` is answered normally after `latency_ms`.
    pub fn latency(route: Route, latency_ms: u64) -> Self {
        Self {
            status: None,
            latency_ms: Some(latency_ms),
            ..Self::status(route, 0)
        }
    }

    /// Applies to the next `count` requests instead of one.
    pub fn times(self, count: u32) -> Self {
        Self { count, ..self }
    }

    /// Adds a `Retry-After` header to the answer.
    pub fn retry_after(self, seconds: u64) -> Self {
        Self {
            retry_after_secs: Some(seconds),
            ..self
        }
    }
}

/// Pending faults per route, first in first out.
#[derive(Default)]
pub(crate) struct FaultQueue {
    pending: Mutex<HashMap<Route, VecDeque<Fault>>>,
}

impl FaultQueue {
    pub(crate) fn inject(&self, fault: Fault) {
        if fault.count > 0 {
            lock(&self.pending)
                .entry(fault.route)
                .or_default()
                .push_back(fault);
        }
    }

    /// The fault that applies to the request being handled, if any; uses up one of its count.
    pub(crate) fn take(&self, route: Route) -> Option<Fault> {
        let mut pending = lock(&self.pending);
        let queue = pending.get_mut(&route)?;
        let front = queue.front_mut()?;
        let taken = front.clone();
        front.count -= 1;
        if front.count == 0 {
            queue.pop_front();
        }
        Some(taken)
    }

    pub(crate) fn clear(&self) {
        lock(&self.pending).clear();
    }
}
