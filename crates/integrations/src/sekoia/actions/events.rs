//! Get Events, and the event search it shares with Get Event Field Common Values: a search
//! job — created (invisible to analysts, holding at most `limit` events), polled until done
//! (for a bounded time), then read page by page.

use std::time::Duration;

use alertsync_engine::{Action, ActionContext, ActionError, ActionManifest, ActionOutput};
use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::arguments::{Arg, Kind::*, opt, properties, req};
use super::shapes::Shape;
use super::{RestAction, rest_client};
use crate::args::required_str;
use crate::sekoia::{ApiPath, SekoiaClient};

pub(super) const JOBS_PATH: &str = "sic/conf/events/search/jobs";
/// Events a search holds when `limit` is not given, and at most (as Sekoia.io's action).
const MAX_LIMIT: u64 = 100;
/// A search job that is not done after this long fails the action.
const MAX_JOB_WAIT: Duration = Duration::from_secs(300);
/// Polls are spaced by the retry policy's first delay, never more than this.
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(2);
/// The job status Sekoia.io reports once results are ready.
const JOB_DONE: u64 = 2;

/// Searches events.
pub struct GetEvents {
    manifest: ActionManifest,
}

impl GetEvents {
    pub fn new() -> Self {
        let (properties, required) = properties(SEARCH_ARGUMENTS);
        let manifest = RestAction {
            uuid: "af0b4355-a428-43d6-991c-d5ff878e17d5",
            name: "Get Events",
            slug: "get_events",
            command: "get-events",
            description: "Search events (e.g. alert_short_ids:\"ALxxxx\") between two dates; at most 100",
            properties,
            required,
            results: Shape::Events.schema(),
        };
        Self {
            manifest: manifest.manifest(),
        }
    }
}

impl Default for GetEvents {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Action for GetEvents {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let search = EventSearch::from_args(&args)?;
        let client = rest_client(cx, &args)?;
        let job_uuid = search.start(cx, &client).await?;
        let events = read_events(cx, &client, &job_uuid, search.limit).await?;
        cx.log
            .info(format!("search job {job_uuid}: {} events", events.len()));
        Ok(ActionOutput::new(json!({"events": events})))
    }
}

/// The arguments of an event search, as Sekoia.io declares them.
pub(super) const SEARCH_ARGUMENTS: &[Arg] = &[
    req("query", Str),
    req("earliest_time", Str),
    req("latest_time", Str),
    opt("limit", Num),
];

/// An event search as the `query`, `earliest_time`, `latest_time` and `limit` arguments
/// describe it.
pub(super) struct EventSearch {
    /// The body of the job creation.
    job: Value,
    /// Events the job holds at most (1 to 100).
    limit: u64,
}

impl EventSearch {
    pub(super) fn from_args(args: &Value) -> Result<Self, ActionError> {
        let limit = match args.get("limit") {
            None | Some(Value::Null) => MAX_LIMIT,
            Some(value) => value
                .as_f64()
                .filter(|n| *n >= 1.0)
                .map(|n| (n as u64).min(MAX_LIMIT))
                .ok_or_else(|| {
                    ActionError::invalid_argument("limit", "must be a positive number")
                })?,
        };
        Ok(Self::new(
            required_str(args, "query")?,
            required_str(args, "earliest_time")?,
            required_str(args, "latest_time")?,
            limit,
        ))
    }

    /// A search for `term` between two dates holding at most `limit` events.
    fn new(term: &str, earliest_time: &str, latest_time: &str, limit: u64) -> Self {
        let job = json!({
            "term": term,
            "earliest_time": earliest_time,
            "latest_time": latest_time,
            "visible": false,
            "max_last_events": limit,
        });
        Self { job, limit }
    }

    /// Creates the search job and waits until it is done; returns its uuid.
    pub(super) async fn start(
        &self,
        cx: &ActionContext,
        client: &SekoiaClient,
    ) -> Result<String, ActionError> {
        let created = client
            .call(
                cx,
                Method::POST,
                &ApiPath::new(JOBS_PATH),
                &[],
                Some(&self.job),
            )
            .await?;
        let job_uuid = created
            .get("uuid")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ActionError::permanent(format!(
                    "Sekoia.io POST {}: the answer has no job uuid",
                    client.url(&ApiPath::new(JOBS_PATH))
                ))
            })?
            .to_owned();
        wait_until_done(cx, client, &job_uuid).await?;
        Ok(job_uuid)
    }
}

/// Searches events matching `term` between two dates and reads up to `limit` of them (the
/// Alert Events Threshold trigger's event fetch).
pub(crate) async fn search_events(
    cx: &ActionContext,
    client: &SekoiaClient,
    term: &str,
    (earliest_time, latest_time): (&str, &str),
    limit: u64,
) -> Result<Vec<Value>, ActionError> {
    let search = EventSearch::new(term, earliest_time, latest_time, limit);
    let job_uuid = search.start(cx, client).await?;
    read_events(cx, client, &job_uuid, limit).await
}

/// Polls the job until its status is done, for at most [`MAX_JOB_WAIT`].
async fn wait_until_done(
    cx: &ActionContext,
    client: &SekoiaClient,
    job_uuid: &str,
) -> Result<(), ActionError> {
    let deadline = Instant::now() + MAX_JOB_WAIT;
    let interval = cx.retry.initial_delay.min(MAX_POLL_INTERVAL);
    loop {
        let job = client
            .call(cx, Method::GET, &job_path(job_uuid), &[], None)
            .await?;
        if is_done(job.get("status")) {
            return Ok(());
        }
        if Instant::now() + interval > deadline {
            return Err(ActionError::transient(
                format!(
                    "search job {job_uuid} is not done after {} s",
                    MAX_JOB_WAIT.as_secs()
                ),
                None,
            ));
        }
        tokio::time::sleep(interval).await;
    }
}

/// Done is status `2` (Sekoia.io's code) or `"done"`.
fn is_done(status: Option<&Value>) -> bool {
    match status {
        Some(Value::Number(n)) => n.as_u64() == Some(JOB_DONE),
        Some(Value::String(s)) => s.eq_ignore_ascii_case("done") || s == "2",
        _ => false,
    }
}

/// A search job.
pub(super) fn job_path(job_uuid: &str) -> ApiPath {
    ApiPath::new(JOBS_PATH).value(job_uuid)
}

/// Reads up to `limit` events, a page at a time.
async fn read_events(
    cx: &ActionContext,
    client: &SekoiaClient,
    job_uuid: &str,
    limit: u64,
) -> Result<Vec<Value>, ActionError> {
    let path = job_path(job_uuid).then("events");
    let mut events = Vec::new();
    while (events.len() as u64) < limit {
        let offset = events.len() as u64;
        let page_size = limit - offset;
        let query = [
            ("limit", page_size.to_string()),
            ("offset", offset.to_string()),
        ];
        let page = client.call(cx, Method::GET, &path, &query, None).await?;
        let items = match page.get("items") {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        let total = page.get("total").and_then(Value::as_u64);
        let fetched = items.len() as u64;
        events.extend(items);
        if fetched < page_size || total.is_some_and(|t| events.len() as u64 >= t) {
            break;
        }
    }
    Ok(events)
}
