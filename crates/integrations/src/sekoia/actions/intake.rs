//! Push Events to Intake: events posted to an intake's `/batch` endpoint in requests that
//! stay under the intake's size limits. Events come from the `event` / `events` arguments
//! or from the files of the run their `event_path` / `events_path` arguments name; such a
//! file is removed once pushed unless `keep_file_after_push` is true.

use alertsync_engine::{Action, ActionContext, ActionError, ActionManifest, ActionOutput};
use async_trait::async_trait;
use serde_json::{Value, json};

use super::shapes::Shape;
use crate::args::{optional_bool, optional_str, parse_http_url, required_str};
use crate::delivery::JsonPost;
use crate::files::{json_argument, remove};
use crate::sekoia::client::read_json;

/// The intake used when neither the argument nor the account names one.
const DEFAULT_INTAKE_URL: &str = "https://intake.sekoia.io";
/// The intake refuses larger events.
const MAX_EVENT_BYTES: usize = 250_000;
/// A request body stays under this (the intake accepts about 9 MiB).
const MAX_BATCH_BYTES: usize = 9 * 1024 * 1024;
/// Room for the body's envelope (`{"intake_key": ..., "jsons": [...]}`) besides the events.
const ENVELOPE_BYTES: usize = 4 * 1024;

/// Sends events to a Sekoia.io intake.
pub struct PushEventsToIntake {
    manifest: ActionManifest,
}

impl PushEventsToIntake {
    pub fn new() -> Self {
        Self {
            manifest: ActionManifest {
                uuid: "10314466-ac0c-4067-8e81-4093e3d1e1da",
                name: "Push Events to Intake",
                slug: "push_events_to_intake",
                command: "push-events-to-intake",
                description: "Push one event or a list of events to a Sekoia.io intake",
                arguments: json!({
                    "type": "object",
                    "properties": {
                        "intake_key": {"type": "string", "description": "The intake's key"},
                        "intake_server": {"type": "string", "description": "The intake URL (default: the Sekoia.io account's intake_url, else https://intake.sekoia.io)"},
                        "event": {"type": "object", "description": "One event"},
                        "event_path": {"type": "string", "description": "A file of the run holding one event"},
                        "events": {"type": "array", "description": "Events (strings are sent as they are, anything else as JSON)"},
                        "events_path": {"type": "string", "description": "A file of the run holding a list of events"},
                        "keep_file_after_push": {"type": "boolean", "default": false, "description": "Keep the event file once its events are pushed (default: remove it)"}
                    },
                    "required": ["intake_key"]
                }),
                secrets: vec!["intake_key"],
                results: Shape::EventIds.schema(),
                outputs: Vec::new(),
            },
        }
    }
}

impl Default for PushEventsToIntake {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Action for PushEventsToIntake {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let intake_key = required_str(&args, "intake_key")?;
        let url = batch_url(cx, &args)?;
        let single = json_argument(cx, &args, "event").await?;
        let listed = json_argument(cx, &args, "events").await?;
        let events = serialised_events(single.as_ref(), listed.as_ref())?;
        if events.is_empty() {
            cx.log.info("no event to push");
            return Ok(ActionOutput::new(json!({"event_ids": []})));
        }
        let mut event_ids = Vec::with_capacity(events.len());
        for batch in batches(&events) {
            let body = json!({"intake_key": intake_key, "jsons": batch});
            let what = format!("intake POST {url}");
            let answer = read_json(
                JsonPost::new(&url, &what).send(cx, &body).await?,
                cx.max_response_bytes,
                &what,
            )
            .await?;
            match answer.get("event_ids") {
                Some(Value::Array(ids)) => event_ids.extend(ids.iter().cloned()),
                _ => cx
                    .log
                    .warn(format!("intake POST {url}: the answer has no event_ids")),
            }
        }
        cx.log
            .info(format!("{} events pushed to {url}", events.len()));
        if !optional_bool(&args, "keep_file_after_push")?.unwrap_or(false) {
            for argument in ["event_path", "events_path"] {
                if let Some(file) = optional_str(&args, argument)? {
                    remove(&cx.data_dir, argument, file).await?;
                }
            }
        }
        Ok(ActionOutput::new(json!({"event_ids": event_ids})))
    }
}

/// `<intake_server>/batch`, the intake server coming from the argument, else the Sekoia.io
/// account's `intake_url`, else the default intake.
fn batch_url(cx: &ActionContext, args: &Value) -> Result<String, ActionError> {
    let server = match optional_str(args, "intake_server")? {
        Some(server) => server,
        None => cx
            .account
            .as_deref()
            .filter(|account| account.module == crate::sekoia::SLUG)
            .and_then(|account| account.str("intake_url"))
            .unwrap_or(DEFAULT_INTAKE_URL),
    };
    parse_http_url(server)
        .map_err(|why| ActionError::invalid_argument("intake_server", why.to_string()))?;
    Ok(format!("{}/batch", server.trim().trim_end_matches('/')))
}

/// The events of `event` and `events` as the strings the intake takes; an event over the
/// intake's limit fails the action before anything is sent.
fn serialised_events(
    single: Option<&Value>,
    listed: Option<&Value>,
) -> Result<Vec<String>, ActionError> {
    let listed: Vec<&Value> = match listed {
        None => Vec::new(),
        Some(Value::Array(events)) => events.iter().collect(),
        Some(_) => return Err(ActionError::invalid_argument("events", "must be a list")),
    };
    let all = single
        .map(|event| ("event", event))
        .into_iter()
        .chain(listed.into_iter().map(|event| ("events", event)));
    all.enumerate()
        .map(|(index, (argument, event))| {
            let text = match event {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if text.len() > MAX_EVENT_BYTES {
                return Err(ActionError::invalid_argument(
                    argument,
                    format!("event {index} is {} bytes; the intake accepts events of at most {MAX_EVENT_BYTES} bytes", text.len()),
                ));
            }
            Ok(text)
        })
        .collect()
}

/// Splits events into batches whose request bodies stay under [`MAX_BATCH_BYTES`].
fn batches(events: &[String]) -> Vec<&[String]> {
    let mut batches = Vec::new();
    let mut start = 0;
    let mut size = ENVELOPE_BYTES;
    for (index, event) in events.iter().enumerate() {
        // As a JSON string: quotes, escapes and a separating comma.
        let encoded = Value::String(event.clone()).to_string().len() + 1;
        if index > start && size + encoded > MAX_BATCH_BYTES {
            batches.push(&events[start..index]);
            start = index;
            size = ENVELOPE_BYTES;
        }
        size += encoded;
    }
    if start < events.len() {
        batches.push(&events[start..]);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_stay_under_the_request_limit() {
        let event = "x".repeat(200_000);
        let events = vec![event; 100];
        let split = batches(&events);
        assert!(split.len() > 1);
        assert_eq!(split.iter().map(|b| b.len()).sum::<usize>(), 100);
        for batch in split {
            let body = json!({"intake_key": "k", "jsons": batch}).to_string();
            assert!(body.len() < MAX_BATCH_BYTES, "{}", body.len());
        }
    }

    #[test]
    fn non_string_events_are_sent_as_json() {
        let events =
            serialised_events(Some(&json!({"a": 1})), Some(&json!(["raw line", [1, 2]]))).unwrap();
        assert_eq!(events, vec![r#"{"a":1}"#, "raw line", "[1,2]"]);
    }
}
