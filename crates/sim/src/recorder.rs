//! The log of requests each receiver got, in arrival order, with the status it answered.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock;
use crate::state::lock;

/// The simulated services that record what they receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Receiver {
    Sekoia,
    Intake,
    Ilert,
    #[serde(rename = "pagerduty", alias = "pager_duty")]
    PagerDuty,
    Mattermost,
    Sink,
}

/// One request as a receiver saw it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub receiver: Receiver,
    pub method: String,
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// Header names in lower case; repeated headers are joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// The body parsed as JSON, or the raw text as a JSON string when it is not JSON, or
    /// `null` when the body is empty.
    pub body: Value,
    pub received_at_ms: u64,
    /// The status the receiver answered.
    pub status: u16,
}

#[derive(Default)]
pub(crate) struct Recorder {
    requests: Mutex<HashMap<Receiver, Vec<RecordedRequest>>>,
}

impl Recorder {
    pub(crate) fn record(&self, request: RecordedRequest) {
        lock(&self.requests)
            .entry(request.receiver)
            .or_default()
            .push(request);
    }

    pub(crate) fn requests(&self, receiver: Receiver) -> Vec<RecordedRequest> {
        lock(&self.requests)
            .get(&receiver)
            .cloned()
            .unwrap_or_default()
    }

    pub(crate) fn clear(&self) {
        lock(&self.requests).clear();
    }
}

/// One timestamped step of an alert's journey, in microseconds since the Unix epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimedEvent {
    /// The Sekoia.io alert uuid (for ilert: the alert key of the accepted event).
    pub alert_uuid: String,
    /// For a notification `<type> <action>` (`alert created`); for ilert the event's status
    /// or event type.
    pub what: String,
    pub at_us: u64,
}

/// When each live notification was handed to the subscribed connections and when ilert
/// accepted each event: what notification → ilert latency measurements need.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    /// Notifications sent to at least one live connection, in emission order.
    pub notifications: Vec<TimedEvent>,
    /// Events ilert answered 202 to, in acceptance order.
    pub ilert: Vec<TimedEvent>,
}

#[derive(Default)]
pub(crate) struct Timeline {
    timings: Mutex<Timings>,
}

impl Timeline {
    pub(crate) fn notified(&self, alert_uuid: &str, what: String) {
        let event = timed(alert_uuid, what);
        lock(&self.timings).notifications.push(event);
    }

    pub(crate) fn ilert_accepted(&self, alert_uuid: &str, what: String) {
        let event = timed(alert_uuid, what);
        lock(&self.timings).ilert.push(event);
    }

    /// (notifications, ilert events) stamped so far.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let timings = lock(&self.timings);
        (timings.notifications.len(), timings.ilert.len())
    }

    pub(crate) fn snapshot(&self) -> Timings {
        lock(&self.timings).clone()
    }

    pub(crate) fn clear(&self) {
        *lock(&self.timings) = Timings::default();
    }
}

fn timed(alert_uuid: &str, what: String) -> TimedEvent {
    TimedEvent {
        alert_uuid: alert_uuid.to_owned(),
        what,
        at_us: u64::try_from(clock::now_nanos() / 1_000).unwrap_or(0),
    }
}
