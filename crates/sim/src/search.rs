//! Sekoia.io event search jobs: create a job for a term, poll it until done (the first
//! poll answers "running", later ones "done"), then page through the events it found, or
//! through the most common values of their fields (`.../fields`). The events are generated
//! for the stored alerts; a term is `field:value` pairs, all of which must hold
//! (`alert_short_ids:"AL..."`, `event.id:"<uuid>"`, `source.ip:1.2.3.4`, quoted or not,
//! with or without a space after the colon); a term without any (`*`) finds every alert's
//! events, or unrelated events when there is no alert. A job holds at most its
//! `max_last_events` events.
//!
//! The event statistics WebSocket (`/v1/events/stats`) answers one aggregation query: the
//! events the query's term finds, counted per bucket of `minutes_per_bucket`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::SimError;
use crate::gateway::{answer, json_object, required_text};
use crate::recorder::Receiver;
use crate::state::{SimState, lock};

const RUNNING: u8 = 1;
const DONE: u8 = 2;
const DEFAULT_PAGE: usize = 100;
/// Alerts whose events a term without an alert reads at most.
const MAX_ALERTS_SEARCHED: usize = 500;
/// Common values listed per field.
const COMMON_VALUES: usize = 10;

struct SearchJob {
    request: Value,
    polls: u32,
    events: Vec<Value>,
}

#[derive(Default)]
pub(crate) struct SearchJobs {
    jobs: HashMap<String, SearchJob>,
}

impl SearchJobs {
    pub(crate) fn clear(&mut self) {
        self.jobs.clear();
    }
}

/// `POST /v1/sic/conf/events/search/jobs`.
pub(crate) async fn create_job(State(sim): State<Arc<SimState>>, body: Bytes) -> Response {
    answer(Receiver::Sekoia, start_job(&sim, &body))
}

fn start_job(sim: &SimState, body: &Bytes) -> Result<Value, SimError> {
    let request = json_object(body)?;
    let term = required_text(&request, "term")?;
    let limit = request
        .get("max_last_events")
        .and_then(Value::as_u64)
        .map_or(usize::MAX, |n| n as usize);
    let (uuid, mut events) = {
        let mut store = lock(&sim.alerts);
        let events = matching_events(&mut store, term);
        (store.generator().uuid(), events)
    };
    events.truncate(limit);
    let job = SearchJob {
        request: Value::Object(request),
        polls: 0,
        events,
    };
    lock(&sim.search_jobs).jobs.insert(uuid.clone(), job);
    Ok(json!({ "uuid": uuid }))
}

/// The events a term finds (see the module documentation).
fn matching_events(store: &mut crate::alerts::AlertStore, term: &str) -> Vec<Value> {
    let conditions = conditions(term);
    let named = |field: &str| {
        conditions
            .iter()
            .find(|(name, _)| name == field)
            .map(|(_, value)| value.as_str())
    };
    let alerts: Vec<Value> = if let Some(short_id) = named("alert_short_ids") {
        store
            .find(short_id)
            .map(|a| a.doc.clone())
            .into_iter()
            .collect()
    } else if let Some(event_id) = named("event.id") {
        store
            .find_by_event(event_id)
            .map(|a| a.doc.clone())
            .into_iter()
            .collect()
    } else {
        store
            .all()
            .take(MAX_ALERTS_SEARCHED)
            .map(|a| a.doc.clone())
            .collect()
    };
    let generator = store.generator();
    let events = if alerts.is_empty() && conditions.is_empty() {
        generator.events(None)
    } else {
        alerts
            .iter()
            .flat_map(|alert| generator.events(Some(alert)))
            .collect()
    };
    events
        .into_iter()
        .filter(|event| {
            conditions
                .iter()
                .all(|(field, wanted)| holds(&event[field.as_str()], wanted))
        })
        .collect()
}

/// The `field:value` conditions of a term; values may be quoted, and a space may follow the
/// colon. Words without a colon (`AND`, `*`) are not conditions.
fn conditions(term: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = term.trim();
    while !rest.is_empty() {
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let Some(colon) = rest[..word_end].find(':') else {
            rest = rest[word_end..].trim_start();
            continue;
        };
        let field = rest[..colon].trim_matches(['(', ')']).to_owned();
        let after = rest[colon + 1..].trim_start();
        let (value, tail) = match after.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                let inner = &after[1..];
                let end = inner.find(quote).unwrap_or(inner.len());
                (&inner[..end], inner.get(end + 1..).unwrap_or(""))
            }
            _ => {
                let end = after.find(char::is_whitespace).unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        if !field.is_empty() && !value.is_empty() {
            found.push((field, value.trim_end_matches(')').to_owned()));
        }
        rest = tail.trim_start();
    }
    found
}

/// Whether an event field holds a value: equal text or number, or a list containing it.
fn holds(field: &Value, wanted: &str) -> bool {
    match field {
        Value::String(text) => text == wanted,
        Value::Number(number) => number.to_string() == wanted,
        Value::Array(items) => items.iter().any(|item| holds(item, wanted)),
        _ => false,
    }
}

/// `GET .../search/jobs/{uuid}`.
pub(crate) async fn job_status(
    State(sim): State<Arc<SimState>>,
    Path(uuid): Path<String>,
) -> Response {
    let mut jobs = lock(&sim.search_jobs);
    let result = match jobs.jobs.get_mut(&uuid) {
        None => Err(SimError::UnknownSearchJob(uuid.clone())),
        Some(job) => {
            job.polls += 1;
            Ok(json!({
                "uuid": uuid,
                "term": job.request["term"],
                "earliest_time": job.request["earliest_time"],
                "latest_time": job.request["latest_time"],
                "status": if job.polls > 1 { DONE } else { RUNNING },
                "total": job.events.len(),
            }))
        }
    };
    answer(Receiver::Sekoia, result)
}

/// `GET .../search/jobs/{uuid}/events?limit=&offset=`.
pub(crate) async fn job_events(
    State(sim): State<Arc<SimState>>,
    Path(uuid): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let result = job_page(&sim, &uuid, &params, |events| events.to_vec());
    answer(Receiver::Sekoia, result)
}

/// `GET .../search/jobs/{uuid}/fields?limit=&offset=`: each field of the job's events with
/// its most common values, `{"name": <value>, "value": <events holding it>}`, most common
/// first.
pub(crate) async fn job_fields(
    State(sim): State<Arc<SimState>>,
    Path(uuid): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let result = job_page(&sim, &uuid, &params, field_counts);
    answer(Receiver::Sekoia, result)
}

/// One page (`limit`, `offset`) of what `list` makes of search job `uuid`'s events:
/// `{"items", "total"}`.
fn job_page(
    sim: &SimState,
    uuid: &str,
    params: &HashMap<String, String>,
    list: impl FnOnce(&[Value]) -> Vec<Value>,
) -> Result<Value, SimError> {
    let number = |name: &str, default: usize| match params.get(name) {
        None => Ok(default),
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| SimError::invalid(name, "expected a non-negative integer")),
    };
    let limit = number("limit", DEFAULT_PAGE)?;
    let offset = number("offset", 0)?;
    let jobs = lock(&sim.search_jobs);
    let job = jobs
        .jobs
        .get(uuid)
        .ok_or_else(|| SimError::UnknownSearchJob(uuid.to_owned()))?;
    let all = list(&job.events);
    let total = all.len();
    let items: Vec<Value> = all.into_iter().skip(offset).take(limit).collect();
    Ok(json!({"items": items, "total": total}))
}

/// Every field of `events`, in order of first appearance, with its most common values.
fn field_counts(events: &[Value]) -> Vec<Value> {
    let mut fields: Vec<(String, Vec<(Value, u64)>)> = Vec::new();
    for event in events {
        let Some(entries) = event.as_object() else {
            continue;
        };
        for (name, value) in entries {
            let index = match fields.iter().position(|(known, _)| known == name) {
                Some(index) => index,
                None => {
                    fields.push((name.clone(), Vec::new()));
                    fields.len() - 1
                }
            };
            let values: Vec<&Value> = match value {
                Value::Array(items) => items.iter().collect(),
                Value::Null => Vec::new(),
                one => vec![one],
            };
            let counted = &mut fields[index].1;
            for value in values {
                match counted.iter_mut().find(|(known, _)| known == value) {
                    Some((_, count)) => *count += 1,
                    None => counted.push((value.clone(), 1)),
                }
            }
        }
    }
    fields
        .into_iter()
        .map(|(name, mut counted)| {
            counted.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
            let values: Vec<Value> = counted
                .into_iter()
                .take(COMMON_VALUES)
                .map(|(value, count)| json!({"name": value, "value": count}))
                .collect();
            json!({"name": name, "most_common_values": values})
        })
        .collect()
}

/// `GET /v1/events/stats` (WebSocket): answers each aggregation query sent.
pub(crate) async fn statistics(
    State(sim): State<Arc<SimState>>,
    socket: WebSocketUpgrade,
) -> Response {
    socket
        .on_upgrade(move |socket| answer_statistics(sim, socket))
        .into_response()
}

async fn answer_statistics(sim: Arc<SimState>, mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        let Message::Text(text) = message else {
            continue;
        };
        let answer = match serde_json::from_str::<Value>(text.as_str()) {
            Ok(query) => aggregation(&sim, &query),
            Err(error) => json!({"error": format!("not JSON: {error}")}),
        };
        if socket
            .send(Message::Text(answer.to_string().into()))
            .await
            .is_err()
        {
            return;
        }
    }
}

/// The events a query's term finds, counted per bucket of `minutes_per_bucket`.
fn aggregation(sim: &SimState, query: &Value) -> Value {
    let term = query["term"].as_str().unwrap_or_default();
    let minutes = query["minutes_per_bucket"]
        .as_i64()
        .filter(|m| *m > 0)
        .unwrap_or(60);
    let events = matching_events(&mut lock(&sim.alerts), term);
    let mut buckets: Vec<(i64, u64)> = Vec::new();
    for event in &events {
        let Some(at) = event["timestamp"].as_str().and_then(|text| {
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
        }) else {
            continue;
        };
        let bucket = at.unix_timestamp() / (minutes * 60) * (minutes * 60);
        match buckets.iter_mut().find(|(start, _)| *start == bucket) {
            Some((_, count)) => *count += 1,
            None => buckets.push((bucket, 1)),
        }
    }
    buckets.sort_unstable();
    let aggregations: Vec<Value> = buckets
        .into_iter()
        .map(|(start, count)| {
            let datetime = time::OffsetDateTime::from_unix_timestamp(start)
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                });
            json!({"datetime": datetime, "value": count})
        })
        .collect();
    json!({
        "aggregations": aggregations,
        "anomaly_detection_candidate": false,
        "anomaly_detection_candidate_score_y_acf1": 0.0,
        "anomaly_detection_candidate_score_y_acf5": 0.0,
        "anomaly_detection_candidate_score_seas_acf1": 0.0,
    })
}

#[cfg(test)]
mod tests {
    use super::conditions;

    #[test]
    fn terms_read_as_the_corpus_writes_them() {
        let pairs = |term: &str| -> Vec<(String, String)> { conditions(term) };
        let one = |f: &str, v: &str| vec![(f.to_owned(), v.to_owned())];
        assert_eq!(
            pairs("alert_short_ids: \"ALx1\""),
            one("alert_short_ids", "ALx1")
        );
        assert_eq!(
            pairs("alert_short_ids:ALx1"),
            one("alert_short_ids", "ALx1")
        );
        assert_eq!(
            pairs("alert_short_ids: ALx1"),
            one("alert_short_ids", "ALx1")
        );
        assert_eq!(pairs("event.id:\"5d2d-1\""), one("event.id", "5d2d-1"));
        assert_eq!(
            pairs("source.ip:1.2.3.4 AND host.name:'web 1'"),
            vec![
                ("source.ip".to_owned(), "1.2.3.4".to_owned()),
                ("host.name".to_owned(), "web 1".to_owned())
            ]
        );
        assert!(pairs("*").is_empty());
    }
}
