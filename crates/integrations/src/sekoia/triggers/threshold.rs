//! Alert Events Threshold: an alert trigger that starts a run only once enough new events
//! (occurrences, the alert's `similar` count) have gathered on an alert since its last run —
//! at once when `event_count_threshold` new events are there (volume), or when some new
//! events have waited `time_window_hours` (time, found by a periodic check).
//!
//! The decision needs what the alert's last run saw: a [`ThresholdState`] per playbook
//! trigger and alert, kept by the caller between runs. This module decides; it keeps
//! nothing.

use alertsync_engine::{ActionContext, ActionError, TriggerManifest};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{EventFileError, SettingsError, alert_event};
use crate::sekoia::SekoiaClient;

pub const ALERT_EVENTS_THRESHOLD: &str = "83d7092a-0036-4adb-83c1-087265c57659";

/// How often alerts waiting for their time window are looked at.
pub const TIME_CHECK_EVERY_SECS: u64 = 300;

pub fn manifest() -> TriggerManifest {
    let mut results = super::alert_event_schema();
    results["properties"]["events_count"] = json!({"type": "integer"});
    results["properties"]["trigger_context"] = json!({"type": "object", "properties": {
        "triggered_at": {"type": "string"}, "trigger_type": {"type": "string"},
        "reason": {"type": "string"}, "new_events": {"type": "integer"},
        "previous_count": {"type": "integer"}, "current_count": {"type": "integer"},
        "time_window_hours": {"type": "integer"}
    }});
    results["properties"]["events_file_path"] = json!({"type": "string"});
    results["properties"]["fetched_events_count"] = json!({"type": "integer"});
    results["required"] = json!([
        "alert_type",
        "alert_uuid",
        "created_at",
        "entity",
        "short_id",
        "status",
        "urgency",
        "rule",
        "last_seen_at",
        "first_seen_at",
        "events_count",
        "trigger_context"
    ]);
    let mut arguments = super::rule_filter_arguments();
    let properties = &mut arguments["properties"];
    properties["event_count_threshold"] = json!({"type": "integer", "minimum": 1, "default": 100,
        "description": "New events that start a run at once"});
    properties["time_window_hours"] = json!({"type": "integer", "minimum": 1, "maximum": 168, "default": 1,
        "description": "Hours new events may wait before they start a run"});
    properties["enable_volume_threshold"] = json!({"type": "boolean", "default": true,
        "description": "Start a run once event_count_threshold new events are there"});
    properties["enable_time_threshold"] = json!({"type": "boolean", "default": true,
        "description": "Start a run for new events that waited time_window_hours"});
    properties["state_cleanup_days"] = json!({"type": "integer", "minimum": 1, "maximum": 365, "default": 30,
        "description": "Forget alerts unchanged for this many days"});
    properties["fetch_events"] = json!({"type": "boolean", "default": false,
        "description": "Write the alert's events to a file of the run (events_file_path)"});
    properties["fetch_all_events"] = json!({"type": "boolean", "default": false,
        "description": "All the alert's events, not only those since its last run"});
    properties["max_events_per_fetch"] = json!({"type": "integer", "minimum": 1, "maximum": 10000, "default": 1000,
        "description": "Events fetched at most"});
    TriggerManifest {
        uuid: ALERT_EVENTS_THRESHOLD,
        name: "Alert Events Threshold",
        slug: "alert_events_threshold",
        description: "Starts a run when enough new events gathered on an alert, or when new events waited long enough.",
        arguments,
        results,
        extension: false,
    }
}

/// What an Alert Events Threshold node's arguments ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThresholdSettings {
    pub event_count_threshold: u64,
    pub time_window_hours: u64,
    pub volume: bool,
    pub time: bool,
    pub state_cleanup_days: u64,
    pub fetch_events: bool,
    pub fetch_all_events: bool,
    pub max_events_per_fetch: u64,
}

impl ThresholdSettings {
    /// The settings of a node; `Err` names the argument that is wrong.
    pub fn from_arguments(arguments: &Value) -> Result<Self, SettingsError> {
        let number = |name: &'static str, default: u64, max: u64| match arguments.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(n) => n
                .as_u64()
                .filter(|n| (1..=max).contains(n))
                .ok_or(SettingsError::OutOfRange { name, max }),
        };
        let flag = |name: &'static str, default: bool| match arguments.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(SettingsError::NotAFlag { name }),
        };
        let settings = Self {
            event_count_threshold: number("event_count_threshold", 100, u64::MAX)?,
            time_window_hours: number("time_window_hours", 1, 168)?,
            volume: flag("enable_volume_threshold", true)?,
            time: flag("enable_time_threshold", true)?,
            state_cleanup_days: number("state_cleanup_days", 30, 365)?,
            fetch_events: flag("fetch_events", false)?,
            fetch_all_events: flag("fetch_all_events", false)?,
            max_events_per_fetch: number("max_events_per_fetch", 1000, 10_000)?,
        };
        if !settings.volume && !settings.time {
            return Err(SettingsError::NeverFires);
        }
        Ok(settings)
    }

    fn window_ms(&self) -> u64 {
        self.time_window_hours * 3_600_000
    }

    /// How long an alert's state is kept after its last change.
    pub fn keep_state_ms(&self) -> u64 {
        self.state_cleanup_days * 86_400_000
    }
}

/// What a trigger remembers of one alert between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ThresholdState {
    /// The event count when a run last started (0 before the first).
    pub last_triggered_count: u64,
    /// When a run last started (Unix ms).
    pub last_triggered_at_ms: Option<u64>,
    /// When the run before that one started: the last run's new events are those since.
    pub previous_triggered_at_ms: Option<u64>,
    /// The event count last seen.
    pub current_count: u64,
    /// Since when new events wait for a run (Unix ms), if some do.
    pub pending_since_ms: Option<u64>,
    /// The inbox event that last started a run, with the context it started with: that
    /// event run again (a replay) starts the same way.
    pub fired_by: Option<i64>,
    pub fired_context: Option<Value>,
}

impl ThresholdState {
    /// Whether new events have waited the time window, so a time check should look at the
    /// alert.
    pub fn time_check_due(&self, settings: &ThresholdSettings, now_ms: u64) -> bool {
        let waiting_since = self.pending_since_ms.or(self.last_triggered_at_ms);
        settings.time
            && self.current_count > self.last_triggered_count
            && waiting_since
                .is_some_and(|since| now_ms >= since.saturating_add(settings.window_ms()))
    }

    /// Where the time check stands, as a dedup key part: one time check per waiting spell.
    pub fn waiting_mark(&self) -> u64 {
        self.pending_since_ms
            .or(self.last_triggered_at_ms)
            .unwrap_or(0)
    }
}

/// Why a threshold was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The alert was created or changed.
    Change,
    /// The periodic check found new events that waited the time window.
    TimeWindow,
}

/// The decision for one look at an alert: the state to keep, and the context of the run to
/// start, if one starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub state: ThresholdState,
    pub fire: Option<Value>,
}

/// Decides whether `count` events on an alert start a run, given what the last look saw.
pub fn decide(
    settings: &ThresholdSettings,
    previous: Option<&ThresholdState>,
    count: u64,
    check: Check,
    now_ms: u64,
) -> Decision {
    let first = previous.is_none();
    let mut state = previous.cloned().unwrap_or_default();
    let previous_count = state.last_triggered_count;
    let new_events = count.saturating_sub(previous_count);
    state.current_count = count;
    let reasons: Vec<&str> = match check {
        _ if new_events == 0 => Vec::new(),
        Check::Change if settings.volume && new_events >= settings.event_count_threshold => {
            if first {
                vec!["volume_threshold", "first_occurrence"]
            } else {
                vec!["volume_threshold"]
            }
        }
        Check::TimeWindow if state.time_check_due(settings, now_ms) => vec!["time_threshold"],
        _ => Vec::new(),
    };
    if reasons.is_empty() {
        if new_events > 0 && state.pending_since_ms.is_none() {
            state.pending_since_ms = Some(now_ms);
        }
        return Decision { state, fire: None };
    }
    let context = json!({
        "triggered_at": iso_time(now_ms),
        "trigger_type": "alert_events_threshold",
        "reason": reasons.join(", "),
        "new_events": new_events,
        "previous_count": previous_count,
        "current_count": count,
        "time_window_hours": settings.time_window_hours,
    });
    state.last_triggered_count = count;
    state.previous_triggered_at_ms = state.last_triggered_at_ms;
    state.last_triggered_at_ms = Some(now_ms);
    state.pending_since_ms = None;
    state.fired_context = Some(context.clone());
    Decision {
        state,
        fire: Some(context),
    }
}

/// A Unix time in ms as RFC 3339.
pub fn iso_time(ms: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The events an alert counts, as Sekoia.io reports them: its `similar` count.
pub fn event_count(alert: &Value) -> u64 {
    alert.get("similar").and_then(Value::as_u64).unwrap_or(0)
}

/// The event the trigger emits for `alert` (as the REST API answers it) and the context
/// of its decision.
pub fn threshold_event(alert: &Value, context: &Value) -> Value {
    let mut event = alert_event(alert, "alert");
    event["events_count"] = context
        .get("current_count")
        .cloned()
        .unwrap_or_else(|| json!(event_count(alert)));
    event["trigger_context"] = context.clone();
    event
}

/// The alert's events (`alert_short_ids:"<short id>"`) from its first occurrence — or, unless
/// `fetch_all_events`, from its last run (`since`) — to its last, at most
/// `max_events_per_fetch`.
pub async fn fetch_events(
    client: &SekoiaClient,
    cx: &ActionContext,
    settings: &ThresholdSettings,
    alert: &Value,
    since: Option<&str>,
) -> Result<Vec<Value>, ActionError> {
    let text = |key: &str| alert.get(key).and_then(Value::as_str).unwrap_or_default();
    let (short_id, first, last) = (
        text("short_id"),
        text("first_seen_at"),
        text("last_seen_at"),
    );
    if short_id.is_empty() || first.is_empty() || last.is_empty() {
        return Err(ActionError::permanent(
            "the alert lacks short_id, first_seen_at or last_seen_at: its events cannot be searched",
        ));
    }
    let earliest = match since {
        Some(since) if !settings.fetch_all_events => since,
        _ => first,
    };
    let term = format!("alert_short_ids:\"{short_id}\"");
    crate::sekoia::actions::search_events(
        cx,
        client,
        &term,
        (earliest, last),
        settings.max_events_per_fetch,
    )
    .await
}

/// Writes `events` next to the alert file of `event` (`events.json`) and adds
/// `events_file_path` and `fetched_events_count` to the event.
pub async fn attach_events_file(
    data_dir: &std::path::Path,
    events: &[Value],
    event: &mut Value,
) -> Result<(), EventFileError> {
    let alert_file = event
        .get("file_path")
        .and_then(Value::as_str)
        .ok_or(EventFileError::NoAlertFile)?;
    let folder = alert_file.rsplit_once('/').map_or("", |(folder, _)| folder);
    let relative = format!("{folder}/events.json");
    let text = serde_json::to_vec(events)?;
    crate::files::write(data_dir, &relative, &text).await?;
    event["events_file_path"] = Value::String(relative);
    event["fetched_events_count"] = json!(events.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3_600_000;

    fn settings(arguments: Value) -> ThresholdSettings {
        ThresholdSettings::from_arguments(&arguments).expect("valid settings")
    }

    #[test]
    fn volume_fires_once_enough_new_events_gathered() {
        let s = settings(json!({"event_count_threshold": 10}));
        let quiet = decide(&s, None, 4, Check::Change, 1_000);
        assert_eq!(quiet.fire, None);
        assert_eq!(quiet.state.pending_since_ms, Some(1_000));
        let fired = decide(&s, Some(&quiet.state), 12, Check::Change, 2_000);
        let context = fired.fire.expect("fires at 12 new events");
        assert_eq!(context["reason"], "volume_threshold");
        assert_eq!(context["new_events"], 12);
        assert_eq!(fired.state.last_triggered_count, 12);
        assert_eq!(fired.state.pending_since_ms, None);
        let again = decide(&s, Some(&fired.state), 15, Check::Change, 3_000);
        assert_eq!(again.fire, None, "3 new events are not 10");
        let first = decide(&s, None, 10, Check::Change, 1_000);
        assert_eq!(
            first.fire.expect("fires")["reason"],
            "volume_threshold, first_occurrence"
        );
    }

    #[test]
    fn time_fires_for_events_that_waited_the_window() {
        let s = settings(json!({"event_count_threshold": 100, "time_window_hours": 2}));
        let waiting = decide(&s, None, 3, Check::Change, 0).state;
        assert!(!waiting.time_check_due(&s, HOUR));
        assert!(waiting.time_check_due(&s, 2 * HOUR));
        assert_eq!(
            decide(&s, Some(&waiting), 3, Check::TimeWindow, HOUR).fire,
            None
        );
        let fired = decide(&s, Some(&waiting), 5, Check::TimeWindow, 2 * HOUR);
        assert_eq!(fired.fire.expect("fires")["reason"], "time_threshold");
        assert!(
            !fired.state.time_check_due(&s, 10 * HOUR),
            "nothing new since"
        );
        let off = settings(json!({"enable_time_threshold": false}));
        assert!(!waiting.time_check_due(&off, 10 * HOUR));
    }

    #[test]
    fn settings_are_checked() {
        for wrong in [
            json!({"enable_volume_threshold": false, "enable_time_threshold": false}),
            json!({"time_window_hours": 169}),
            json!({"event_count_threshold": 0}),
            json!({"fetch_events": "yes"}),
        ] {
            assert!(
                ThresholdSettings::from_arguments(&wrong).is_err(),
                "{wrong}"
            );
        }
    }
}
