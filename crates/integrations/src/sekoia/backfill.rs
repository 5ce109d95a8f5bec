//! Back-fill: the alert changes the live stream may have missed, read from the alerts list
//! API (`GET /v1/sic/alerts`) from a checkpoint.
//!
//! The live stream has no replay, so after every (re)connect the caller runs [`backfill`]
//! from its last committed [`Checkpoint`], stores the changes, then commits the returned
//! checkpoint. A change found both live and by back-fill must make one run, so both sources
//! give it the same [`AlertChange::change_id`].
//!
//! # Dedup keys
//!
//! A key names one change of one alert, from facts both sources see (every uuid lowercase):
//!
//! | change | key | live notification | list API item |
//! |---|---|---|---|
//! | created | `<alert>:created` | `alert`/`created`, `attributes.uuid` | the item itself, if `created_at` is in the window |
//! | status change | `<alert>:status:<status uuid>` | `alert`/`updated` with `updated.status` | each `history` entry with `alert.status` but the earliest (the status the alert was created in), if its `created_at` is in the window; and the alert's current status if no entry explains it |
//! | comment | `<alert>:comment:<comment uuid>` | `alert-comment`/`created`, `attributes.uuid` | each entry of `comments`, if its `date` is in the window |
//! | other update | `<alert>:updated:<notification uuid>` | `alert`/`updated` without a status | not back-filled |
//!
//! Why these, and what they cost:
//!
//! * **No timestamps in keys.** A notification carries its own `metadata.created_at`, not
//!   the alert's `updated_at`, and the two need not fall in the same second; a key with a
//!   time in it would not match across sources. Uuids do.
//! * **Status changes are keyed by the status entered.** A notification says only "alert X
//!   is now in status S" (`updated.status`, a status uuid, and `updated.status_name`), while
//!   a history entry gives the status by name: names of built-in statuses map to their uuids
//!   (the table of the status actions); another name becomes `name:<lowercase name>` on
//!   both sides. The cost: an alert that enters the same status a second time (reopened and
//!   closed again) gets the same key for both entries. A dedup ledger that keeps keys
//!   forever would drop the second one; keys only need to outlive the back-fill window (the
//!   time between two committed checkpoints plus [`BackfillOptions::overlap`]), so a ledger
//!   that forgets keys older than that lets a later re-entry through.
//! * **History is read in time order, whatever its order in the answer.** Sekoia.io lists
//!   it newest first, and a status entry carries only `alert.status` (`previous_status` is
//!   not always there): the creation is the earliest status entry by `created_at`, and
//!   every later one is a change.
//! * **History is not trusted to be complete.** When the newest status entry read is not
//!   the alert's current status (no history, a truncated or unreadable one), a change to
//!   the current status is assumed, at the alert's `updated_at`: if the live stream
//!   delivered it, its key is the same and it is not stored twice; a duplicate is
//!   harmless, a gap is not.
//! * **Other updates (title, urgency, ... edits) are live-only.** The list API tells neither
//!   which fields changed nor when (history records status changes only), so back-fill
//!   cannot name such a change the way the notification does; it does not guess, because a
//!   guessed key would turn every re-read into a duplicate run. An edit made while
//!   disconnected is therefore not replayed; status changes, creations and comments are.
//!
//! # Window and checkpoint
//!
//! Timestamps of the list API are whole Unix seconds of the server's clock. The window
//! starts at `since − overlap` (inclusive), so a change in the checkpoint's own second, or
//! one the server lists late, is read again — and deduplicated. The returned checkpoint is
//! the newest `updated_at` read (never older than `since`).
//!
//! Pages are read in `updated_at` order with a moving lower bound (`date[updated_at]`), not
//! by offset alone: an alert that changes while pages are read moves to the end of the
//! order, which would make a plain offset skip an unread alert. The offset is used only to
//! step through more than a page of alerts updated in the same second. An alert read twice
//! (pages overlap on the bound's second) counts once, in its latest state.
//!
//! Each list item is requested with its `history` and `comments`; an item that comes
//! without them is read again with `GET /v1/sic/alerts/{uuid}`.

use std::collections::HashMap;
use std::time::Duration;

use alertsync_engine::{ActionContext, ActionError, LogLevel, RetryPolicy};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::warn;

use super::client::{ApiPath, SekoiaClient};
use super::live::{
    AlertChange, ChangeKind, ChangeSource, comment_id, created_id, status_id, status_token,
    token_uuid,
};

/// A page larger than this is refused by the API.
const MAX_PAGE_SIZE: usize = 100;
/// Requests one back-fill may make before it gives up (a misbehaving server).
const MAX_REQUESTS: usize = 100_000;

/// Where the next back-fill starts: the newest alert `updated_at` a committed back-fill read,
/// in Unix seconds of the server's clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Checkpoint {
    pub updated_at: i64,
}

impl Checkpoint {
    pub fn at(updated_at: i64) -> Self {
        Self { updated_at }
    }
}

/// How a back-fill reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackfillOptions {
    /// Alerts per request (at most 100).
    pub page_size: usize,
    /// How far before the checkpoint the window starts, for changes listed late.
    pub overlap: Duration,
    /// How transient failures of each request are retried.
    pub retry: RetryPolicy,
}

impl Default for BackfillOptions {
    fn default() -> Self {
        Self {
            page_size: MAX_PAGE_SIZE,
            overlap: Duration::from_secs(60),
            retry: RetryPolicy::default(),
        }
    }
}

/// What a back-fill found.
#[derive(Debug, Clone, PartialEq)]
pub struct Backfill {
    /// The changes in the window, oldest first; the changes of one alert in their order.
    pub changes: Vec<AlertChange>,
    /// Commit this once every change is stored.
    pub checkpoint: Checkpoint,
    /// Distinct alerts read.
    pub alerts: usize,
    /// Requests made.
    pub requests: usize,
}

/// The changes since `since`, with the default options.
pub async fn backfill(client: &SekoiaClient, since: Checkpoint) -> Result<Backfill, ActionError> {
    backfill_with(client, since, &BackfillOptions::default()).await
}

/// The changes since `since` (see the module documentation).
pub async fn backfill_with(
    client: &SekoiaClient,
    since: Checkpoint,
    options: &BackfillOptions,
) -> Result<Backfill, ActionError> {
    let cx = client.service_context(options.retry);
    let result = read_window(client, &cx, since, options).await;
    for line in cx.log.lines() {
        if line.level != LogLevel::Info {
            warn!(message = %line.message, "Sekoia.io back-fill");
        }
    }
    result
}

async fn read_window(
    client: &SekoiaClient,
    cx: &ActionContext,
    since: Checkpoint,
    options: &BackfillOptions,
) -> Result<Backfill, ActionError> {
    let page_size = options.page_size.clamp(1, MAX_PAGE_SIZE);
    let overlap = i64::try_from(options.overlap.as_secs()).unwrap_or(i64::MAX);
    let from = since.updated_at.saturating_sub(overlap).max(0);
    // Each alert's changes, computed as its page is read (the alert itself, with its
    // history and comments, is not kept): memory grows with the changes, not the alerts.
    let mut alerts: Vec<Vec<(i64, AlertChange)>> = Vec::new();
    let mut position: HashMap<String, usize> = HashMap::new();
    let mut newest = since.updated_at;
    let mut bound = from;
    let mut skip = 0usize;
    let mut requests = 0usize;
    loop {
        if requests >= MAX_REQUESTS {
            return Err(ActionError::transient(
                format!("Sekoia.io back-fill: still paging after {requests} requests"),
                None,
            ));
        }
        let query = [
            ("sort", "updated_at".to_owned()),
            ("direction", "asc".to_owned()),
            ("limit", page_size.to_string()),
            ("offset", skip.to_string()),
            ("date[updated_at]", format!("{},now", iso_seconds(bound))),
            ("comments", "true".to_owned()),
            ("history", "true".to_owned()),
            ("stix", "false".to_owned()),
            ("countermeasures", "false".to_owned()),
            ("cases", "false".to_owned()),
        ];
        let page = client
            .call(cx, Method::GET, &ApiPath::new("sic/alerts"), &query, None)
            .await?;
        requests += 1;
        let items = page.get("items").and_then(Value::as_array).ok_or_else(|| {
            ActionError::permanent(format!(
                "Sekoia.io GET {}: the answer has no `items` list",
                client.url(&ApiPath::new("sic/alerts"))
            ))
        })?;
        if items.is_empty() {
            break;
        }
        let mut page_newest = bound;
        for item in items {
            let Some(uuid) = item.get("uuid").and_then(Value::as_str) else {
                warn!("Sekoia.io back-fill: a listed alert has no uuid; skipped");
                continue;
            };
            let updated = item
                .get("updated_at")
                .and_then(unix_seconds)
                .unwrap_or(bound);
            page_newest = page_newest.max(updated);
            newest = newest.max(updated);
            let uuid = uuid.trim().to_lowercase();
            let complete = item.get("history").is_some_and(Value::is_array)
                && item.get("comments").is_some_and(Value::is_array);
            let changes = if complete {
                changes_of_alert(item, from)
            } else {
                requests += 1;
                changes_of_alert(&read_alert(client, cx, item).await?, from)
            };
            match position.get(&uuid) {
                Some(&at) => alerts[at] = changes,
                None => {
                    position.insert(uuid, alerts.len());
                    alerts.push(changes);
                }
            }
        }
        let has_more = page
            .get("has_more")
            .and_then(Value::as_bool)
            .unwrap_or(items.len() >= page_size);
        if !has_more {
            break;
        }
        if page_newest > bound {
            bound = page_newest;
            skip = 0;
        } else {
            skip += items.len();
        }
    }
    let read = alerts.len();
    let mut changes: Vec<(i64, AlertChange)> = alerts.into_iter().flatten().collect();
    // Oldest first; the stable sort keeps each alert's own order within a second.
    changes.sort_by_key(|(at, _)| *at);
    Ok(Backfill {
        changes: changes.into_iter().map(|(_, change)| change).collect(),
        checkpoint: Checkpoint::at(newest),
        alerts: read,
        requests,
    })
}

/// One alert with its history and comments.
async fn read_alert(
    client: &SekoiaClient,
    cx: &ActionContext,
    listed: &Value,
) -> Result<Value, ActionError> {
    let uuid = listed
        .get("uuid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let flags = [
        ("comments", "true".to_owned()),
        ("history", "true".to_owned()),
        ("stix", "false".to_owned()),
        ("countermeasures", "false".to_owned()),
        ("cases", "false".to_owned()),
    ];
    client
        .call(cx, Method::GET, &ApiPath::alert(uuid), &flags, None)
        .await
}

/// The changes of one alert (as the list API gives it, with `history` and `comments`) at
/// or after `from` (Unix seconds), each with its time, in the alert's own order.
pub fn changes_of_alert(alert: &Value, from: i64) -> Vec<(i64, AlertChange)> {
    let Some(alert_uuid) = alert
        .get("uuid")
        .and_then(Value::as_str)
        .map(|uuid| uuid.trim().to_lowercase())
        .filter(|uuid| !uuid.is_empty())
    else {
        return Vec::new();
    };
    let short_id = alert
        .get("short_id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    // Unreadable times count as in the window: a duplicate is harmless, a gap is not.
    let in_window = |at: Option<i64>| at.is_none_or(|at| at >= from);
    let time = |at: Option<i64>| at.unwrap_or(from);
    let change = |kind: ChangeKind, change_id: String| AlertChange {
        alert_uuid: alert_uuid.clone(),
        short_id: short_id.clone(),
        kind,
        change_id,
        status_uuid: None,
        comment_uuid: None,
        source: ChangeSource::Backfill,
    };
    let mut changes = Vec::new();
    let created_at = alert.get("created_at").and_then(unix_seconds);
    if in_window(created_at) {
        changes.push((
            time(created_at),
            change(ChangeKind::Created, created_id(&alert_uuid)),
        ));
    }
    let current_name = alert.pointer("/status/name").and_then(Value::as_str);
    let current_uuid = alert.pointer("/status/uuid").and_then(Value::as_str);
    let status_change = |name: &str, at: Option<i64>| {
        // A name the built-in table does not know is resolved by the alert's current status.
        let uuid = current_uuid.filter(|_| current_name == Some(name));
        let token = status_token(uuid, Some(name)).or_else(|| status_token(uuid, None))?;
        let mut status_change = change(
            ChangeKind::Updated {
                status_changed: true,
            },
            status_id(&alert_uuid, &token),
        );
        status_change.status_uuid = token_uuid(&token);
        Some((time(at), status_change))
    };
    let mut later = Vec::new();
    let entries = status_entries(alert);
    let mut before: Option<&str> = None;
    for (index, entry) in entries.iter().enumerate() {
        let is_creation = index == 0 && is_creation_entry(entry, created_at);
        let unchanged = before.is_some_and(|b| entry.status.eq_ignore_ascii_case(b));
        before = Some(&entry.status);
        if is_creation || unchanged || !in_window(entry.at) {
            continue;
        }
        later.extend(status_change(&entry.status, entry.at));
    }
    let explained = match (entries.last(), current_name) {
        (Some(newest), Some(current)) => newest.status.eq_ignore_ascii_case(current),
        // No status at all: nothing to explain. No history: the creation status is unknown.
        (_, None) => true,
        (None, Some(_)) => false,
    };
    let updated_at = alert.get("updated_at").and_then(unix_seconds);
    if let (false, Some(current)) = (explained, current_name) {
        let created_in_window = in_window(created_at) && entries.is_empty();
        // An alert created in the window with no history is taken to be in the status it
        // was created in, unless that is known not to be the case.
        let initial = created_in_window && is_initial_status(current);
        if !initial && in_window(updated_at) {
            warn!(
                alert = %alert_uuid,
                status = %current,
                "Sekoia.io back-fill: the alert's history does not explain its current status; \
                 a change to it is assumed"
            );
            later.extend(status_change(current, updated_at));
        }
    }
    for comment in alert
        .get("comments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(comment_uuid) = comment
            .get("uuid")
            .and_then(Value::as_str)
            .map(|uuid| uuid.trim().to_lowercase())
        else {
            continue;
        };
        let at = comment.get("date").and_then(unix_seconds);
        if !in_window(at) {
            continue;
        }
        let mut comment_change = change(
            ChangeKind::CommentCreated,
            comment_id(&alert_uuid, &comment_uuid),
        );
        comment_change.comment_uuid = Some(comment_uuid);
        later.push((time(at), comment_change));
    }
    // Status changes and comments interleave by time; within a second, history first.
    later.sort_by_key(|(at, _)| *at);
    changes.extend(later);
    changes
}

/// One status entry of an alert's history.
struct StatusEntry {
    status: String,
    at: Option<i64>,
}

/// The status entries of an alert's history, oldest first (entries without a readable time
/// keep their place relative to each other, after the dated ones).
fn status_entries(alert: &Value) -> Vec<StatusEntry> {
    let mut entries: Vec<StatusEntry> = alert
        .get("history")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let status = entry.pointer("/alert/status").and_then(Value::as_str)?;
            Some(StatusEntry {
                status: status.trim().to_owned(),
                at: entry.get("created_at").and_then(unix_seconds),
            })
        })
        .collect();
    // Sekoia.io lists history newest first: entries dated in the same second are put back
    // in the order they happened before the stable sort by time.
    let oldest_first = match (entries.first(), entries.last()) {
        (Some(first), Some(last)) => matches!((first.at, last.at), (Some(a), Some(b)) if a < b),
        _ => true,
    };
    if !oldest_first {
        entries.reverse();
    }
    entries.sort_by_key(|entry| entry.at.unwrap_or(i64::MAX));
    entries
}

/// Whether the earliest status entry read is the alert's creation rather than a change (a
/// history cut short starts with a change): it is in the initial status, or dated at the
/// alert's creation.
fn is_creation_entry(entry: &StatusEntry, created_at: Option<i64>) -> bool {
    const SAME_MOMENT_SECS: i64 = 2;
    is_initial_status(&entry.status)
        || match (entry.at, created_at) {
            (Some(at), Some(created)) => (at - created).abs() <= SAME_MOMENT_SECS,
            _ => true,
        }
}

/// Whether `name` is the status Sekoia.io creates alerts in.
fn is_initial_status(name: &str) -> bool {
    name.eq_ignore_ascii_case("pending")
}

/// Unix seconds from an integer, a float, a numeric string or an ISO 8601 date.
fn unix_seconds(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.floor() as i64)),
        Value::String(text) => {
            let text = text.trim();
            text.parse::<i64>().ok().or_else(|| {
                OffsetDateTime::parse(text, &Rfc3339)
                    .ok()
                    .map(OffsetDateTime::unix_timestamp)
            })
        }
        _ => None,
    }
}

/// `2024-05-01T10:00:00Z`.
fn iso_seconds(seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(seconds)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .format(&Rfc3339)
        .unwrap_or_else(|_| seconds.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ALERT: &str = "6A1D7B0E-6F0E-4C56-9C3C-5E0E8F0A1B2C";
    const ACKNOWLEDGED: &str = "8f206505-af6d-433e-93f4-775d46dc7d0f";
    const CLOSED: &str = "1738b1c1-767d-489e-bada-19176621a007";

    fn alert() -> Value {
        json!({
            "uuid": ALERT, "short_id": "ALx", "created_at": 100, "updated_at": 130,
            "status": {"uuid": CLOSED, "name": "Closed"},
            "history": [
                {"uuid": "h0", "alert": {"status": "Pending"}, "created_at": 100},
                {"uuid": "h1", "alert": {"previous_status": "Pending", "status": "Acknowledged"}, "created_at": 110},
                {"uuid": "h2", "alert": {"previous_status": "Acknowledged", "status": "Closed"}, "created_at": 130},
                {"uuid": "h3", "entry_type": "comment", "created_at": 120}
            ],
            "comments": [{"uuid": "C-1", "content": "x", "date": 120}]
        })
    }

    #[test]
    fn every_change_of_an_alert_gets_the_live_key() {
        let uuid = ALERT.to_lowercase();
        let ids: Vec<String> = changes_of_alert(&alert(), 0)
            .into_iter()
            .map(|(_, c)| c.change_id)
            .collect();
        assert_eq!(
            ids,
            [
                format!("{uuid}:created"),
                format!("{uuid}:status:{ACKNOWLEDGED}"),
                format!("{uuid}:comment:c-1"),
                format!("{uuid}:status:{CLOSED}"),
            ]
        );
    }

    #[test]
    fn only_changes_in_the_window_are_returned() {
        let changes = changes_of_alert(&alert(), 120);
        let kinds: Vec<_> = changes.iter().map(|(at, c)| (*at, c.kind)).collect();
        assert_eq!(
            kinds,
            [
                (120, ChangeKind::CommentCreated),
                (
                    130,
                    ChangeKind::Updated {
                        status_changed: true
                    }
                )
            ]
        );
        assert_eq!(changes[1].1.status_uuid.as_deref(), Some(CLOSED));
    }

    #[test]
    fn custom_status_names_resolve_through_the_current_status() {
        let custom = "0f0e0d0c-0b0a-4909-8807-060504030201";
        let alert = json!({
            "uuid": ALERT, "created_at": 1, "status": {"uuid": custom, "name": "Triage"},
            "history": [{"alert": {"previous_status": "Pending", "status": "Triage"}, "created_at": 5}],
            "comments": []
        });
        let changes = changes_of_alert(&alert, 2);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].1.status_uuid.as_deref(), Some(custom));
    }

    /// The alert as Sekoia.io lists it: history newest first, status entries with only
    /// `alert.status`, other entry types between them.
    fn alert_as_sekoia_lists_it() -> Value {
        json!({
            "uuid": ALERT, "short_id": "ALx", "created_at": 100, "updated_at": 3700,
            "status": {"uuid": CLOSED, "name": "Closed"},
            "history": [
                {"uuid": "h3", "entry_type": "alert", "alert": {"status": "Closed"}, "created_at": 3700},
                {"uuid": "h2", "entry_type": "countermeasure", "created_at": 3650},
                {"uuid": "h1", "entry_type": "alert", "alert": {"status": "Acknowledged"}, "created_at": 3600},
                {"uuid": "h0", "entry_type": "alert", "alert": {"status": "Pending"}, "created_at": 100}
            ],
            "comments": []
        })
    }

    fn keys(changes: &[(i64, AlertChange)]) -> Vec<String> {
        changes.iter().map(|(_, c)| c.change_id.clone()).collect()
    }

    #[test]
    fn history_newest_first_without_previous_status_gives_every_later_change() {
        let uuid = ALERT.to_lowercase();
        let changes = changes_of_alert(&alert_as_sekoia_lists_it(), 3000);
        assert_eq!(
            keys(&changes),
            [
                format!("{uuid}:status:{ACKNOWLEDGED}"),
                format!("{uuid}:status:{CLOSED}"),
            ],
            "the alert was created long before the window: both changes, oldest first"
        );
        let all = changes_of_alert(&alert_as_sekoia_lists_it(), 0);
        assert_eq!(
            all.len(),
            3,
            "created, acknowledged, closed: {:?}",
            keys(&all)
        );
    }

    #[test]
    fn entries_of_the_same_second_listed_newest_first_keep_their_order() {
        let uuid = ALERT.to_lowercase();
        let mut alert = alert_as_sekoia_lists_it();
        alert["history"] = json!([
            {"alert": {"status": "Closed"}, "created_at": 3600},
            {"alert": {"status": "Acknowledged"}, "created_at": 3600},
            {"alert": {"status": "Pending"}, "created_at": 3600}
        ]);
        alert["created_at"] = json!(3600);
        assert_eq!(
            keys(&changes_of_alert(&alert, 3000)),
            [
                format!("{uuid}:created"),
                format!("{uuid}:status:{ACKNOWLEDGED}"),
                format!("{uuid}:status:{CLOSED}"),
            ],
            "the creation first, then the changes as they happened"
        );
    }

    #[test]
    fn a_current_status_no_history_explains_is_a_change() {
        let uuid = ALERT.to_lowercase();
        let mut alert = alert_as_sekoia_lists_it();
        alert["history"] = json!([]);
        assert_eq!(
            keys(&changes_of_alert(&alert, 3000)),
            [format!("{uuid}:status:{CLOSED}")]
        );
        alert.as_object_mut().map(|a| a.remove("history"));
        assert_eq!(
            keys(&changes_of_alert(&alert, 3000)),
            [format!("{uuid}:status:{CLOSED}")],
            "no history at all"
        );
        let mut cut = alert_as_sekoia_lists_it();
        cut["history"] = json!([{"alert": {"status": "Acknowledged"}, "created_at": 3600}]);
        assert_eq!(
            keys(&changes_of_alert(&cut, 3000)),
            [
                format!("{uuid}:status:{ACKNOWLEDGED}"),
                format!("{uuid}:status:{CLOSED}")
            ],
            "a history cut short: its first entry is a change, the current status too"
        );
    }

    #[test]
    fn a_new_alert_without_history_is_only_created() {
        let uuid = ALERT.to_lowercase();
        let alert = json!({
            "uuid": ALERT, "created_at": 100, "updated_at": 100,
            "status": {"uuid": "2efc4930-1442-4abb-acf2-58ba219a4fd0", "name": "Pending"},
            "comments": []
        });
        assert_eq!(
            keys(&changes_of_alert(&alert, 50)),
            [format!("{uuid}:created")]
        );
    }

    #[test]
    fn times_are_read_in_every_form() {
        assert_eq!(unix_seconds(&json!(12)), Some(12));
        assert_eq!(unix_seconds(&json!(12.9)), Some(12));
        assert_eq!(unix_seconds(&json!("12")), Some(12));
        assert_eq!(
            unix_seconds(&json!("1970-01-01T00:01:00.500000Z")),
            Some(60)
        );
        assert_eq!(unix_seconds(&json!(null)), None);
        assert_eq!(iso_seconds(60), "1970-01-01T00:01:00Z");
    }
}
