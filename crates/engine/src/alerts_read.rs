//! The alerts a run has read: the alert its trigger read is handed to the run's actions that
//! read the same alert through the same API and key, instead of a second request. Any write
//! the run makes through that API forgets them, so an action after it reads the alert as it
//! then is.

use std::sync::{Mutex, PoisonError};

use serde_json::Value;

/// The alerts one run has read, by the API they were read from.
#[derive(Default)]
pub struct AlertsRead {
    entries: Mutex<Vec<ReadAlert>>,
}

struct ReadAlert {
    /// What the API and key the alert was read with are known by (see
    /// [`AlertsRead::remember`]); never shown.
    source: String,
    alert: Value,
}

impl AlertsRead {
    /// Keeps `alert`, read from `source` (an identity of the API and key: alerts read with
    /// another key, which may see another community, are not shared).
    pub fn remember(&self, source: &str, alert: Value) {
        let mut entries = self.lock();
        entries.retain(|entry| !(entry.source == source && same_alert(&entry.alert, &alert)));
        entries.push(ReadAlert {
            source: source.to_owned(),
            alert,
        });
    }

    /// The alert `id` (uuid or short id) read from `source`, if the run has it.
    pub fn get(&self, source: &str, id: &str) -> Option<Value> {
        self.lock()
            .iter()
            .find(|entry| entry.source == source && is_named(&entry.alert, id))
            .map(|entry| entry.alert.clone())
    }

    /// Forgets what was read from `source`: the run has changed something there.
    pub fn forget(&self, source: &str) {
        self.lock().retain(|entry| entry.source != source);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<ReadAlert>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for AlertsRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertsRead")
            .field("alerts", &self.lock().len())
            .finish()
    }
}

/// Whether `alert` is the one `id` names, by uuid (any case) or short id.
fn is_named(alert: &Value, id: &str) -> bool {
    ["uuid", "short_id"].iter().any(|key| {
        alert
            .get(*key)
            .and_then(Value::as_str)
            .is_some_and(|known| known.eq_ignore_ascii_case(id.trim()))
    })
}

fn same_alert(a: &Value, b: &Value) -> bool {
    a.get("uuid")
        .and_then(Value::as_str)
        .is_some_and(|uuid| is_named(b, uuid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_alert_is_shared_by_id_and_source_until_a_write_there() {
        let read = AlertsRead::default();
        read.remember("api-a", json!({"uuid": "ABC-1", "short_id": "ALx", "v": 1}));
        assert_eq!(
            read.get("api-a", "abc-1").map(|a| a["v"].clone()),
            Some(json!(1))
        );
        assert!(read.get("api-a", "ALx").is_some());
        assert!(
            read.get("api-b", "ALx").is_none(),
            "another key may see another alert"
        );
        read.remember("api-a", json!({"uuid": "ABC-1", "short_id": "ALx", "v": 2}));
        assert_eq!(
            read.get("api-a", "ALx").map(|a| a["v"].clone()),
            Some(json!(2))
        );
        read.forget("api-a");
        assert!(read.get("api-a", "ALx").is_none());
    }
}
