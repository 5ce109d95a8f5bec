//! The state every simulator shares, and the operations both the Rust API and the HTTP
//! routes use to change it.

use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::Value;

use crate::alerts::{AlertStore, Change, Inclusions, Notification};
use crate::faults::FaultQueue;
use crate::ilert::{IlertAlertView, IlertService, OnCall, OnCallUser};
use crate::ilert_webhooks::{IlertWebhooks, Outgoing};
use crate::live::LiveHub;
use crate::recorder::{Recorder, Timeline};
use crate::resources::Resources;
use crate::search::SearchJobs;
use crate::{SimConfig, SimError, SimUrls};

/// Locks a mutex; a panic elsewhere while holding it does not make the data unusable here.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) struct SimState {
    pub(crate) config: SimConfig,
    pub(crate) urls: SimUrls,
    pub(crate) alerts: Mutex<AlertStore>,
    pub(crate) search_jobs: Mutex<SearchJobs>,
    pub(crate) resources: Mutex<Resources>,
    pub(crate) ilert: Mutex<IlertService>,
    pub(crate) webhooks: IlertWebhooks,
    pub(crate) live: LiveHub,
    pub(crate) recorder: Recorder,
    pub(crate) timeline: Timeline,
    pub(crate) faults: FaultQueue,
}

impl SimState {
    /// The state of simulators started with `config` at `urls`; webhooks of the simulated
    /// ilert go to `webhooks`, for its sender.
    pub(crate) fn new(
        config: SimConfig,
        urls: SimUrls,
        webhooks: tokio::sync::mpsc::UnboundedSender<Outgoing>,
    ) -> Self {
        Self {
            webhooks: IlertWebhooks::new(config.ilert_integration_keys.clone(), webhooks),
            alerts: Mutex::new(AlertStore::new(config.seed)),
            search_jobs: Mutex::new(SearchJobs::default()),
            resources: Mutex::new(Resources::default()),
            ilert: Mutex::new(IlertService::default()),
            live: LiveHub::default(),
            recorder: Recorder::default(),
            timeline: Timeline::default(),
            faults: FaultQueue::default(),
            config,
            urls,
        }
    }

    /// Runs a change and pushes its notification before any later change can happen, so
    /// notifications go out in the order of the changes.
    pub(crate) fn change_alerts(
        &self,
        change: impl FnOnce(&mut AlertStore) -> Result<Change, SimError>,
    ) -> Result<Value, SimError> {
        let mut store = lock(&self.alerts);
        let change = change(&mut store)?;
        Ok(self.announce(&store, change))
    }

    /// Pushes a change's notification (the caller still holds the store) and returns its answer.
    fn announce(&self, store: &AlertStore, change: Change) -> Value {
        if self
            .live
            .publish(&change.notification, store.community_uuid())
        {
            let attributes = &change.notification.attributes;
            let alert_uuid = attributes
                .get("alert_uuid")
                .or_else(|| attributes.get("uuid"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let what = format!(
                "{} {}",
                change.notification.kind, change.notification.action
            );
            self.timeline.notified(alert_uuid, what);
        }
        change.answer
    }

    pub(crate) fn create_alert(&self, overrides: Value) -> Value {
        let mut store = lock(&self.alerts);
        let change = store.create(overrides);
        self.announce(&store, change)
    }

    pub(crate) fn set_status(
        &self,
        alert_id: &str,
        status: &str,
        comment: Option<&str>,
    ) -> Result<Value, SimError> {
        self.change_alerts(|store| store.set_status(alert_id, status, comment))
    }

    pub(crate) fn add_comment(
        &self,
        alert_id: &str,
        content: &str,
        author: Option<&str>,
    ) -> Result<Value, SimError> {
        self.change_alerts(|store| store.add_comment(alert_id, content, author))
    }

    /// Pushes a case notification (`case` / `action`).
    pub(crate) fn notify_case(&self, action: &'static str, attributes: Value) {
        let store = lock(&self.alerts);
        let notification = Notification {
            kind: "case",
            action,
            attributes,
        };
        if self.live.publish(&notification, store.community_uuid()) {
            let case = notification.attributes["uuid"].as_str().unwrap_or_default();
            self.timeline.notified(case, format!("case {action}"));
        }
    }

    /// `count` more events on an alert: its `similar` count grows and its last occurrence
    /// is now, notified as an update.
    pub(crate) fn add_occurrences(&self, alert_id: &str, count: u64) -> Result<Value, SimError> {
        self.change_alerts(|store| store.add_occurrences(alert_id, count))
    }

    /// The alert with every optional array.
    pub(crate) fn alert(&self, id: &str) -> Option<Value> {
        let everything = Inclusions {
            stix: false,
            comments: true,
            countermeasures: true,
            history: true,
            cases: true,
        };
        lock(&self.alerts)
            .find(id)
            .map(|alert| alert.render(everything))
    }

    /// What on-call does in ilert: `action` on an alert (ilert id or alert key) as `user`;
    /// a real change goes to the webhooks of its alert source.
    pub(crate) fn ilert_on_call(
        &self,
        alert: &str,
        action: OnCall,
        user: &OnCallUser,
    ) -> Result<IlertAlertView, SimError> {
        let mut ilert = lock(&self.ilert);
        let (alert, changed) = ilert.on_call(alert, action, user)?;
        if changed {
            self.webhooks.changed(&alert);
        }
        Ok(alert.view())
    }

    pub(crate) fn reset(&self) {
        lock(&self.alerts).reset();
        lock(&self.search_jobs).clear();
        lock(&self.resources).clear();
        lock(&self.ilert).clear();
        self.webhooks.clear();
        self.recorder.clear();
        self.timeline.clear();
        self.faults.clear();
    }
}
