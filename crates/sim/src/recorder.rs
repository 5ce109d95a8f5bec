//! The log of requests each receiver got, in arrival order, with the status it answered.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

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
