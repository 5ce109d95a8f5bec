//! What a run starts from: the trigger node's output for an inbox event, built when the run
//! starts. Alert events read the alert (and a comment event its comment), case events the
//! case, through the event's Sekoia.io account, retried (and held) like a delivery; the
//! trigger's filters then say whether the run happens at all. Alert Events Threshold also
//! decides from what the alert's previous runs saw, kept in the store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use alertsync_engine::{ActionContext, ActionError, AlertsRead, now_ms};
use alertsync_integrations::sekoia::triggers::cases::{self, CaseChangeKind};
use alertsync_integrations::sekoia::triggers::threshold::{
    self, Check, Decision, ThresholdSettings, ThresholdState,
};
use alertsync_integrations::sekoia::triggers::{self as sekoia_triggers, feeds};
use alertsync_integrations::sekoia::{ApiPath, SekoiaClient};
use alertsync_store::{Checkpoint, InboxId, RunAlert, Store};
use axum::http::Method;
use serde_json::{Value, json};

use crate::deploy::{AlertTrigger, TriggerKind, TriggerNode};
use alertsync_integrations::sekoia::live::ChangeKind;
use alertsync_integrations::source::{InboxPayload, keys};

/// What a run starts from: the trigger node's output, the files made for the run, and the
/// alert the trigger read, if it read one — as the run keeps it, and whole, for the run's
/// actions that read it again.
#[derive(Debug)]
pub struct TriggerEvent {
    pub output: Value,
    /// Removed when the run ends.
    pub files: Option<PathBuf>,
    pub alert: Option<RunAlert>,
    pub alerts_read: Option<Arc<AlertsRead>>,
}

impl TriggerEvent {
    /// An event that read nothing and made no file.
    fn of(output: Value) -> Self {
        Self {
            output,
            files: None,
            alert: None,
            alerts_read: None,
        }
    }
}

/// Everything building a trigger's output may use.
pub struct TriggerInput<'a> {
    /// The Sekoia.io account the event came through, and its client.
    pub account: &'a str,
    pub sekoia: Option<&'a SekoiaClient>,
    /// The retry policy and journal of the run's trigger node.
    pub cx: &'a ActionContext,
    pub data_dir: &'a Path,
    pub playbook_id: &'a str,
    pub trigger: &'a TriggerNode,
    /// The inbox event the run is for.
    pub event_id: InboxId,
    /// Where Alert Events Threshold keeps its state of each alert.
    pub store: &'a dyn Store,
}

impl TriggerInput<'_> {
    fn client(&self, reading: &str) -> Result<&SekoiaClient, ActionError> {
        self.sekoia.ok_or_else(|| {
            ActionError::permanent(format!("no Sekoia.io account to read the {reading} with"))
        })
    }
}

/// The trigger node's output for `payload`, or `None` when the trigger's filters (or its
/// threshold) say this event starts no run. An ilert change that belongs to no Sekoia.io
/// alert fails, saying what was tried.
pub async fn trigger_event(
    payload: &InboxPayload,
    input: &TriggerInput<'_>,
) -> Result<Option<TriggerEvent>, ActionError> {
    match payload {
        InboxPayload::Cron { scheduled_at, .. } => Ok(Some(TriggerEvent::of(
            json!({ "scheduled_at": scheduled_at }),
        ))),
        InboxPayload::Webhook { alert_uuid, .. } => Ok(Some(TriggerEvent::of(
            sekoia_triggers::manual_event(alert_uuid),
        ))),
        InboxPayload::IlertAlertChanged {
            change, alert_uuid, ..
        } => match alert_uuid {
            Some(alert_uuid) => Ok(Some(TriggerEvent::of(change.event(alert_uuid)))),
            None => Err(ActionError::permanent(change.untraced())),
        },
        InboxPayload::FeedPage { objects, .. } => {
            let (output, files) = feeds::objects_event(input.data_dir, objects)
                .await
                .map_err(|why| ActionError::permanent(why.to_string()))?;
            Ok(Some(TriggerEvent {
                files: Some(files),
                ..TriggerEvent::of(output)
            }))
        }
        InboxPayload::CaseChange {
            change,
            case_uuid,
            attributes,
        } => case_event(input, *change, case_uuid, attributes).await,
        InboxPayload::ThresholdTimeCheck { alert_uuid, .. } => {
            threshold_event(input, alert_uuid, Check::TimeWindow).await
        }
        InboxPayload::AlertChange {
            change,
            alert_uuid,
            comment,
        } => match input.trigger.kind {
            TriggerKind::Alert(AlertTrigger::EventsThreshold) => {
                threshold_event(input, alert_uuid, Check::Change).await
            }
            _ => alert_event(input, *change, alert_uuid, comment.as_ref()).await,
        },
    }
}

/// An alert trigger's event: the alert read now, its comment for a comment event, the alert
/// written to a file of the run.
async fn alert_event(
    input: &TriggerInput<'_>,
    change: ChangeKind,
    alert_uuid: &str,
    comment: Option<&Value>,
) -> Result<Option<TriggerEvent>, ActionError> {
    let client = input.client("alert")?;
    let alert = read_alert(client, alert_uuid, input.cx).await?;
    if !sekoia_triggers::rule_filters_pass(&input.trigger.arguments, &alert) {
        return Ok(None);
    }
    let event_type = match change {
        ChangeKind::CommentCreated => "alert-comment",
        _ => "alert",
    };
    let mut output = sekoia_triggers::alert_event(&alert, event_type);
    if let Some(comment) = comment {
        let comment = read_comment(client, alert_uuid, comment, input.cx).await?;
        output["comment"] = sekoia_triggers::comment_of(&comment);
    }
    with_alert_file(input, client, alert, output)
        .await
        .map(Some)
}

/// The event with the alert written to a file of the run (`file_path`) when the playbook
/// may read it, and kept for the run's actions that read it through `client`'s API and key.
async fn with_alert_file(
    input: &TriggerInput<'_>,
    client: &SekoiaClient,
    alert: Value,
    mut output: Value,
) -> Result<TriggerEvent, ActionError> {
    let files = if input.trigger.alert_file_read {
        let written = sekoia_triggers::attach_alert_file(input.data_dir, &alert, &mut output)
            .await
            .map_err(|why| ActionError::permanent(why.to_string()))?;
        Some(written)
    } else {
        None
    };
    let kept = run_alert(input.account, &alert);
    let alerts_read = AlertsRead::default();
    alerts_read.remember(&client.source(), alert);
    Ok(TriggerEvent {
        output,
        files,
        alert: Some(kept),
        alerts_read: Some(Arc::new(alerts_read)),
    })
}

/// A case trigger's event, from the case read now, if it passes the trigger's filters.
async fn case_event(
    input: &TriggerInput<'_>,
    change: CaseChangeKind,
    case_uuid: &str,
    attributes: &Value,
) -> Result<Option<TriggerEvent>, ActionError> {
    let client = input.client("case")?;
    let path = ApiPath::new("sic/cases").value(case_uuid);
    let case = client
        .call(input.cx, Method::GET, &path, &[], None)
        .await
        .map_err(|err| ActionError {
            message: format!("reading case {case_uuid}: {}", err.message),
            ..err
        })?;
    if !cases::case_filters_pass(change, &input.trigger.arguments, &case) {
        return Ok(None);
    }
    Ok(Some(TriggerEvent::of(cases::case_event(
        change, &case, attributes,
    ))))
}

/// Alert Events Threshold: reads the alert, decides from its event count and the state
/// the previous runs left, keeps the new state, and — when the threshold is met — starts
/// from the alert's event with the decision's context (and its events, if asked). The same
/// inbox event run again (a replay) starts again with the context it first had.
async fn threshold_event(
    input: &TriggerInput<'_>,
    alert_uuid: &str,
    check: Check,
) -> Result<Option<TriggerEvent>, ActionError> {
    let settings = ThresholdSettings::from_arguments(&input.trigger.arguments)
        .map_err(|why| ActionError::invalid_argument("arguments", why.to_string()))?;
    let client = input.client("alert")?;
    let alert = read_alert(client, alert_uuid, input.cx).await?;
    if !sekoia_triggers::rule_filters_pass(&input.trigger.arguments, &alert) {
        return Ok(None);
    }
    let key = keys::threshold_state(input.playbook_id, &input.trigger.node_id, alert_uuid);
    let previous = read_state(input.store, &key).await?;
    let event_id = input.event_id.0;
    let state = match previous {
        Some(state) if state.fired_by == Some(event_id) => state,
        previous => {
            let count = threshold::event_count(&alert);
            let Decision { mut state, fire } =
                threshold::decide(&settings, previous.as_ref(), count, check, now_ms());
            if fire.is_some() {
                state.fired_by = Some(event_id);
            }
            // An alert whose count did not move leaves its state as it was: no write.
            if previous.as_ref() != Some(&state) {
                write_state(input.store, key, &state).await?;
            }
            if fire.is_none() {
                return Ok(None);
            }
            state
        }
    };
    let Some(context) = &state.fired_context else {
        return Ok(None);
    };
    let output = threshold::threshold_event(&alert, context);
    let events = if settings.fetch_events {
        let since = state.previous_triggered_at_ms.map(threshold::iso_time);
        Some(threshold::fetch_events(client, input.cx, &settings, &alert, since.as_deref()).await?)
    } else {
        None
    };
    let mut event = with_alert_file(input, client, alert, output).await?;
    if let Some(events) = events {
        threshold::attach_events_file(input.data_dir, &events, &mut event.output)
            .await
            .map_err(|why| ActionError::permanent(why.to_string()))?;
    }
    Ok(Some(event))
}

async fn read_state(store: &dyn Store, key: &str) -> Result<Option<ThresholdState>, ActionError> {
    let text = store.checkpoint(key).await.map_err(|err| {
        ActionError::transient(format!("reading the threshold state: {err}"), None)
    })?;
    // A state that cannot be read counts as none: the alert starts over.
    Ok(text.and_then(|text| serde_json::from_str(&text).ok()))
}

async fn write_state(
    store: &dyn Store,
    key: String,
    state: &ThresholdState,
) -> Result<(), ActionError> {
    let text =
        serde_json::to_string(state).map_err(|err| ActionError::permanent(err.to_string()))?;
    store
        .set_checkpoint(Checkpoint::new(key, text))
        .await
        .map_err(|err| ActionError::transient(format!("keeping the threshold state: {err}"), None))
}

/// What a run keeps of a Sekoia.io alert (as the REST API serves it) read through
/// `account`.
pub fn run_alert(account: &str, alert: &Value) -> RunAlert {
    let text = |key: &str| alert.get(key).and_then(Value::as_str).map(str::to_owned);
    RunAlert {
        account: Some(account.to_owned()),
        short_id: text("short_id"),
        title: text("title"),
        urgency: alert
            .pointer("/urgency/current_value")
            .and_then(Value::as_i64),
    }
}

/// The comment a notification names (`{"uuid": ...}`), read from Sekoia.io.
async fn read_comment(
    client: &SekoiaClient,
    alert_uuid: &str,
    comment: &Value,
    cx: &ActionContext,
) -> Result<Value, ActionError> {
    let comment_uuid = comment
        .get("uuid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let path = ApiPath::alert(alert_uuid)
        .then("comments")
        .value(comment_uuid);
    client
        .call(cx, Method::GET, &path, &[], None)
        .await
        .map_err(|err| ActionError {
            message: format!(
                "reading comment {comment_uuid} of alert {alert_uuid}: {}",
                err.message
            ),
            ..err
        })
}

/// The alert as Sekoia.io serves it by default: the form the forwarders send, so the run's
/// actions can use this read.
async fn read_alert(
    client: &SekoiaClient,
    alert_uuid: &str,
    cx: &ActionContext,
) -> Result<Value, ActionError> {
    client
        .get_served_alert(cx, alert_uuid)
        .await
        .map_err(|err| ActionError {
            message: format!("reading alert {alert_uuid}: {}", err.message),
            ..err
        })
}
