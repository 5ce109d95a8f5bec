//! `GET /console/events`: server-sent events telling open console pages that runs started
//! or finished.
//!
//! Each connection reads the store about once a second — the run counts and the newest run
//! of the `playbook` and `alert` (UUID or short id) of the runs page's filters
//! ([`RunFilters::count_filter`]) — and sends an event named `runs`
//! whenever they changed (and once at the start), with data
//! `{"counts": {"running": n, …}, "latest": <newest run id or null>}`. A connection ends
//! when the service stops, or after [`LIFETIME`] (so a proxy's idle limits never matter);
//! browsers reconnect on their own after the `retry` delay the stream announces.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use alertsync_engine::RunStatus;
use alertsync_store::{RunCountFilter, RunCounts, RunQuery};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use serde_json::json;

use super::runs::counts;
use crate::api::runs::RunFilters;
use crate::http::AppState;

/// How often the store is read.
const POLL: Duration = Duration::from_secs(1);
/// How long one connection lasts before the browser reconnects.
pub const LIFETIME: Duration = Duration::from_secs(300);
/// How long browsers wait before reconnecting.
const RETRY: Duration = Duration::from_secs(1);

/// What a page shows that an event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Snapshot {
    counts: RunCounts,
    latest: Option<i64>,
}

impl Snapshot {
    fn event(&self) -> Event {
        let counts: serde_json::Map<String, serde_json::Value> = RunStatus::ALL
            .into_iter()
            .map(|s| (s.as_str().to_owned(), json!(self.counts.get(s))))
            .collect();
        Event::default()
            .event("runs")
            .data(json!({"counts": counts, "latest": self.latest}).to_string())
    }
}

async fn snapshot(state: &AppState, filter: &RunCountFilter) -> Option<Snapshot> {
    let counts = counts(state, filter.clone()).await.ok()?;
    let newest = state
        .store
        .list_runs(RunQuery {
            playbook_id: filter.playbook_id.clone(),
            alert_uuid: filter.alert_uuid.clone(),
            alert_short_id: filter.alert_short_id.clone(),
            limit: 1,
            ..RunQuery::default()
        })
        .await
        .ok()?;
    Some(Snapshot {
        counts,
        latest: newest.runs.first().map(|r| r.id.0),
    })
}

/// Where the stream is: what was last sent and when it ends.
struct Cursor {
    state: AppState,
    filter: RunCountFilter,
    last: Option<Snapshot>,
    first: bool,
    ends: Instant,
}

/// `GET /console/events`.
pub async fn events(
    State(state): State<AppState>,
    filters: Result<Query<RunFilters>, QueryRejection>,
) -> impl IntoResponse {
    // Filters that do not parse follow every run (the page itself says what is wrong).
    let filter = filters
        .ok()
        .and_then(|Query(filters)| filters.count_filter().ok())
        .unwrap_or_default();
    let cursor = Cursor {
        state,
        filter,
        last: None,
        first: true,
        ends: Instant::now() + LIFETIME,
    };
    Sse::new(changes(cursor)).keep_alive(KeepAlive::new().interval(Duration::from_secs(5)))
}

fn changes(cursor: Cursor) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(cursor, |mut cursor| async move {
        if cursor.first {
            cursor.first = false;
            return Some((Ok(Event::default().retry(RETRY).comment("runs")), cursor));
        }
        loop {
            if Instant::now() >= cursor.ends || cursor.state.stopping.is_cancelled() {
                return None;
            }
            // A store that cannot be read now is read again at the next tick.
            if let Some(now) = snapshot(&cursor.state, &cursor.filter).await
                && cursor.last != Some(now)
            {
                cursor.last = Some(now);
                return Some((Ok(now.event()), cursor));
            }
            tokio::select! {
                () = cursor.state.stopping.cancelled() => return None,
                () = tokio::time::sleep(POLL) => {}
            }
        }
    })
}
