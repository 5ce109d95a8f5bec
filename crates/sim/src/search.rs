//! Sekoia.io event search jobs: create a job for a term, poll it until done (the first
//! poll answers "running", later ones "done"), then page through generated events whose
//! fields match the alert named in the term (`alert_short_ids:"AL..."`), or the one event
//! a term `event.id:"<uuid>"` names; other terms find unrelated events.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::{Value, json};

use crate::SimError;
use crate::gateway::{answer, json_object, required_text};
use crate::recorder::Receiver;
use crate::state::{SimState, lock};

const RUNNING: u8 = 1;
const DONE: u8 = 2;
const DEFAULT_PAGE: usize = 100;

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
    let (uuid, events) = {
        let mut store = lock(&sim.alerts);
        let by_short_id = alert_short_id(term)
            .and_then(|short_id| store.find(short_id))
            .map(|alert| alert.doc.clone());
        let event_id = event_id(term);
        let by_event = event_id
            .and_then(|event_id| store.find_by_event(event_id))
            .map(|alert| alert.doc.clone());
        let generator = store.generator();
        let uuid = generator.uuid();
        let events = match (by_short_id, by_event) {
            (Some(alert), _) => generator.events(Some(&alert)),
            // Only the named event of the alert it belongs to.
            (None, Some(alert)) => generator
                .events(Some(&alert))
                .into_iter()
                .filter(|event| event["event.id"].as_str() == event_id)
                .collect(),
            (None, None) => generator.events(None),
        };
        (uuid, events)
    };
    let job = SearchJob {
        request: Value::Object(request),
        polls: 0,
        events,
    };
    lock(&sim.search_jobs).jobs.insert(uuid.clone(), job);
    Ok(json!({ "uuid": uuid }))
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
    let number = |name: &str, default: usize| match params.get(name) {
        None => Ok(default),
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| SimError::invalid(name, "expected a non-negative integer")),
    };
    let result = (|| {
        let limit = number("limit", DEFAULT_PAGE)?;
        let offset = number("offset", 0)?;
        let jobs = lock(&sim.search_jobs);
        let job = jobs
            .jobs
            .get(&uuid)
            .ok_or_else(|| SimError::UnknownSearchJob(uuid.clone()))?;
        let items: Vec<&Value> = job.events.iter().skip(offset).take(limit).collect();
        Ok(json!({"items": items, "total": job.events.len()}))
    })();
    answer(Receiver::Sekoia, result)
}

/// The short id in a term such as `alert_short_ids:"ALTqhwoRAyqk"`.
fn alert_short_id(term: &str) -> Option<&str> {
    let (_, rest) = term.split_once("alert_short_ids:")?;
    let rest = rest.trim_start_matches(['"', '\'', ' ']);
    let end = rest
        .find(|character: char| !character.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    Some(&rest[..end]).filter(|short_id| short_id.starts_with("AL"))
}

/// The event id in a term such as `event.id:"5d2d6b5e-..."`.
fn event_id(term: &str) -> Option<&str> {
    let (_, rest) = term.split_once("event.id:")?;
    let rest = rest.trim_start_matches(['"', '\'', ' ']);
    let end = rest
        .find(|character: char| !(character.is_ascii_hexdigit() || character == '-'))
        .unwrap_or(rest.len());
    Some(&rest[..end]).filter(|event_id| !event_id.is_empty())
}
