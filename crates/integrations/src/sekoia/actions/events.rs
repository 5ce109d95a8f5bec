//! Get Events, and the event search it shares with Get Event Field Common Values: a search
//! job — created, polled until done (for a bounded time), then read page by page.

use std::time::Duration;

use alertsync_engine::{Action, ActionContext, ActionError, ActionManifest, ActionOutput};
use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{RestAction, rest_client};
use crate::args::{optional_str, required_str};
use crate::sekoia::client::{ApiPath, SekoiaClient};

const JOBS_PATH: &str = "sic/conf/events/search/jobs";
/// Events returned when `limit` is not given.
const DEFAULT_LIMIT: u64 = 100;
/// Events asked for per page.
const PAGE_SIZE: u64 = 100;
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
        let manifest = RestAction {
            uuid: "af0b4355-a428-43d6-991c-d5ff878e17d5",
            name: "Get Events",
            slug: "get_events",
            command: "get-events",
            description: "Search events (e.g. alert_short_ids:\"ALxxxx\") between two dates",
            properties: search_properties(DEFAULT_LIMIT),
            required: vec!["latest_time"],
            results: json!({"type": "object", "properties": {"events": {"type": "array"}}}),
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
        let events = EventSearch::from_args(&args, DEFAULT_LIMIT)?
            .run(cx, &args)
            .await?;
        Ok(ActionOutput::new(json!({"events": events})))
    }
}

/// The arguments of an event search: `query`, `earliest_time`, `latest_time`, `limit`.
pub(super) fn search_properties(default_limit: u64) -> Value {
    json!({
        "query": {"type": "string", "description": "The search term (default: every event)"},
        "earliest_time": {"type": "string", "description": "Start of the period (ISO 8601 or relative, e.g. -5d)"},
        "latest_time": {"type": "string", "description": "End of the period (ISO 8601 or relative, e.g. now)"},
        "limit": {"type": "integer", "minimum": 1, "default": default_limit, "description": "Events to read at most"}
    })
}

/// An event search as the `query`, `earliest_time`, `latest_time` and `limit` arguments
/// describe it.
pub(super) struct EventSearch {
    /// The body of the job creation: `term`, `earliest_time`, `latest_time`.
    job: Value,
    /// Events read at most.
    limit: u64,
}

impl EventSearch {
    /// Reads the search arguments; `limit` defaults to `default_limit`.
    pub(super) fn from_args(args: &Value, default_limit: u64) -> Result<Self, ActionError> {
        let mut job = json!({
            "term": optional_str(args, "query")?.unwrap_or("*"),
            "latest_time": required_str(args, "latest_time")?,
        });
        if let Some(earliest) = optional_str(args, "earliest_time")? {
            job["earliest_time"] = Value::String(earliest.to_owned());
        }
        let limit = match args.get("limit") {
            None | Some(Value::Null) => default_limit,
            Some(value) => value.as_u64().filter(|n| *n > 0).ok_or_else(|| {
                ActionError::invalid_argument("limit", "must be a positive integer")
            })?,
        };
        Ok(Self { job, limit })
    }

    /// Runs the search job with the access the action's arguments (or account) give, and
    /// returns the events found, at most `limit` of them.
    pub(super) async fn run(
        &self,
        cx: &ActionContext,
        args: &Value,
    ) -> Result<Vec<Value>, ActionError> {
        let client = rest_client(cx, args)?;
        let created = client
            .call(
                cx,
                Method::POST,
                &ApiPath::new(JOBS_PATH),
                &[],
                Some(&self.job),
            )
            .await?;
        let job_uuid = created.get("uuid").and_then(Value::as_str).ok_or_else(|| {
            ActionError::permanent(format!(
                "Sekoia.io POST {}: the answer has no job uuid",
                client.url(&ApiPath::new(JOBS_PATH))
            ))
        })?;
        wait_until_done(cx, &client, job_uuid).await?;
        let events = read_events(cx, &client, job_uuid, self.limit).await?;
        cx.log
            .info(format!("search job {job_uuid}: {} events", events.len()));
        Ok(events)
    }
}

/// Polls the job until its status is done, for at most [`MAX_JOB_WAIT`].
async fn wait_until_done(
    cx: &ActionContext,
    client: &SekoiaClient,
    job_uuid: &str,
) -> Result<(), ActionError> {
    let path = ApiPath::new(JOBS_PATH).value(job_uuid);
    let deadline = Instant::now() + MAX_JOB_WAIT;
    let interval = cx.retry.initial_delay.min(MAX_POLL_INTERVAL);
    loop {
        let job = client.call(cx, Method::GET, &path, &[], None).await?;
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

/// Reads up to `limit` events, a page at a time.
async fn read_events(
    cx: &ActionContext,
    client: &SekoiaClient,
    job_uuid: &str,
    limit: u64,
) -> Result<Vec<Value>, ActionError> {
    let path = ApiPath::new(JOBS_PATH).value(job_uuid).then("events");
    let mut events = Vec::new();
    while (events.len() as u64) < limit {
        let offset = events.len() as u64;
        let page_size = PAGE_SIZE.min(limit - offset);
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
