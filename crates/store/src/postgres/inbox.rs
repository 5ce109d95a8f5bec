//! The inbox table: enqueueing with deduplication (and the runs an event starts), reading
//! events back, routing events stored by an older build, and the expiry of dedup keys.

use tokio_postgres::Row;

use super::{Fault, Tx, execute, queue, row_opt, rows};
use crate::fault::unsigned_from_sql;
use crate::fault::{from_json, ms_to_sql, now_sql, optional_unsigned_from_sql, to_json};
use crate::model::{Enqueued, InboxCounts, InboxEvent, InboxId, NewInboxEvent, RunTarget};

/// The columns [`event_from_row`] reads, from the table aliased `i`.
const EVENT_COLUMNS: &str = "i.id, i.source, i.account, i.alert_uuid, i.dedup_key, \
     i.payload, i.received_at_ms, i.done_at_ms";

/// Stores `event` and queues its runs, unless its key is already stored. An event that
/// starts no run is done at once.
///
/// The events of one alert are stored one transaction at a time (a lock on the alert, held
/// to the commit), so their ids, and their runs' ids, grow in the order they are committed:
/// no claim can see a later event of an alert before an earlier one, whichever instance
/// stores them.
pub(super) async fn enqueue(tx: &Tx<'_>, event: &NewInboxEvent) -> Result<Enqueued, Fault> {
    if let Some(alert) = &event.alert_uuid {
        lock_alert(tx, alert).await?;
    }
    let payload = to_json(&event.payload, "the event payload")?;
    let received = ms_to_sql(event.received_at_ms);
    let done = event.runs.is_empty().then(now_sql);
    let inserted = row_opt(
        tx,
        "INSERT INTO inbox (source, account, alert_uuid, dedup_key, payload, \
             received_at_ms, done_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (dedup_key) DO NOTHING \
         RETURNING id",
        &[
            &event.source.as_str(),
            &event.account,
            &event.alert_uuid,
            &event.dedup_key,
            &payload,
            &received,
            &done,
        ],
    )
    .await?;
    let Some(row) = inserted else {
        let existing = row_opt(
            tx,
            "SELECT id FROM inbox WHERE dedup_key = $1",
            &[&event.dedup_key],
        )
        .await?
        .ok_or_else(|| Fault::Corrupt(format!("dedup key {} vanished", event.dedup_key)))?;
        return Ok(Enqueued::Duplicate(InboxId(existing.try_get(0)?)));
    };
    let id = InboxId(row.try_get(0)?);
    for target in &event.runs {
        queue::insert_run(tx, id, event.alert_uuid.as_deref(), target, received).await?;
    }
    if !event.runs.is_empty() {
        queue::announce(tx).await?;
    }
    Ok(Enqueued::New(id))
}

pub(super) async fn event(tx: &Tx<'_>, id: InboxId) -> Result<Option<InboxEvent>, Fault> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM inbox i WHERE i.id = $1");
    row_opt(tx, &sql, &[&id.0])
        .await?
        .map(|row| event_from_row(&row))
        .transpose()
}

/// The event of a run, which must exist.
pub(super) async fn event_of_run(tx: &Tx<'_>, id: InboxId) -> Result<InboxEvent, Fault> {
    event(tx, id)
        .await?
        .ok_or_else(|| Fault::Corrupt(format!("a run refers to inbox event {id}, which is gone")))
}

/// Open events stored before events queued their runs, oldest first.
pub(super) async fn unrouted(tx: &Tx<'_>) -> Result<Vec<InboxEvent>, Fault> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM inbox i WHERE NOT i.routed ORDER BY i.id");
    rows(tx, &sql, &[])
        .await?
        .iter()
        .map(event_from_row)
        .collect()
}

/// Queues the runs of an unrouted event that it lacks (by playbook) and marks it routed.
pub(super) async fn route(tx: &Tx<'_>, id: InboxId, runs: &[RunTarget]) -> Result<(), Fault> {
    let event = event(tx, id).await?.ok_or(Fault::UnknownEvent(id))?;
    let received = ms_to_sql(event.received_at_ms);
    for target in runs {
        let exists = row_opt(
            tx,
            "SELECT 1 FROM runs WHERE inbox_id = $1 AND playbook_id = $2",
            &[&id.0, &target.playbook_id],
        )
        .await?;
        if exists.is_none() {
            queue::insert_run(tx, id, event.alert_uuid.as_deref(), target, received).await?;
        }
    }
    execute(tx, "UPDATE inbox SET routed = TRUE WHERE id = $1", &[&id.0]).await?;
    complete_if_done(tx, id).await
}

/// Locks the event of `run` until the transaction ends, before the run changes: two runs
/// of one event ending at once then see each other's end, and the last completes the
/// event (each would otherwise see the other still open in its snapshot).
pub(super) async fn lock_event_of_run(tx: &Tx<'_>, run: crate::model::RunId) -> Result<(), Fault> {
    execute(
        tx,
        "SELECT i.id FROM inbox i JOIN runs r ON r.inbox_id = i.id WHERE r.id = $1 \
         FOR UPDATE OF i",
        &[&run.0],
    )
    .await?;
    Ok(())
}

/// Marks the event done if none of its runs is open.
pub(super) async fn complete_if_done(tx: &Tx<'_>, id: InboxId) -> Result<(), Fault> {
    execute(
        tx,
        "UPDATE inbox SET done_at_ms = $1 \
         WHERE id = $2 AND done_at_ms IS NULL AND routed AND NOT EXISTS ( \
             SELECT 1 FROM runs r \
             WHERE r.inbox_id = $2 AND r.status IN ('queued', 'running', 'waiting'))",
        &[&now_sql(), &id.0],
    )
    .await?;
    Ok(())
}

/// Opens a done event again (a run of it was queued again).
pub(super) async fn reopen(tx: &Tx<'_>, id: InboxId) -> Result<(), Fault> {
    execute(
        tx,
        "UPDATE inbox SET done_at_ms = NULL WHERE id = $1",
        &[&id.0],
    )
    .await?;
    Ok(())
}

/// Renames the dedup keys in force that start with `prefix`, of done events received before
/// `received_before_ms`, to `<key>#expired/<id>` (unique, and no source makes such keys).
pub(super) async fn expire_keys(
    tx: &Tx<'_>,
    prefix: &str,
    received_before_ms: u64,
) -> Result<u64, Fault> {
    execute(
        tx,
        "UPDATE inbox SET dedup_key = dedup_key || '#expired/' || id \
         WHERE done_at_ms IS NOT NULL AND strpos(dedup_key, '#expired/') = 0 \
           AND received_at_ms < $2 AND left(dedup_key, length($1)) = $1",
        &[&prefix, &ms_to_sql(received_before_ms)],
    )
    .await
}

pub(super) async fn counts(tx: &Tx<'_>) -> Result<InboxCounts, Fault> {
    let row = rows(
        tx,
        "SELECT COUNT(*) FILTER (WHERE done_at_ms IS NULL), \
             COUNT(*) FILTER (WHERE done_at_ms IS NOT NULL) FROM inbox",
        &[],
    )
    .await?;
    let row = row
        .first()
        .ok_or_else(|| Fault::Corrupt("counting the inbox answered nothing".to_owned()))?;
    Ok(InboxCounts {
        open: unsigned_from_sql(row.try_get(0)?, "the open event count")?,
        done: unsigned_from_sql(row.try_get(1)?, "the done event count")?,
    })
}

/// Reads the [`EVENT_COLUMNS`] of a row.
fn event_from_row(row: &Row) -> Result<InboxEvent, Fault> {
    let id = InboxId(row.try_get(0)?);
    let source: String = row.try_get(1)?;
    let source = source
        .parse()
        .map_err(|e| Fault::Corrupt(format!("inbox event {id}: {e}")))?;
    let payload: String = row.try_get(5)?;
    Ok(InboxEvent {
        id,
        source,
        account: row.try_get(2)?,
        alert_uuid: row.try_get(3)?,
        dedup_key: row.try_get(4)?,
        payload: from_json(&payload, &format!("the payload of inbox event {id}"))?,
        received_at_ms: unsigned_from_sql(
            row.try_get(6)?,
            &format!("the arrival time of inbox event {id}"),
        )?,
        done_at_ms: optional_unsigned_from_sql(
            row.try_get(7)?,
            &format!("the end of inbox event {id}"),
        )?,
    })
}

/// Takes the locks of every alert of `events` in one order, so that two batches storing
/// events of the same alerts wait for each other instead of deadlocking.
pub(super) async fn lock_alerts(tx: &Tx<'_>, events: &[NewInboxEvent]) -> Result<(), Fault> {
    let mut alerts: Vec<&str> = events
        .iter()
        .filter_map(|event| event.alert_uuid.as_deref())
        .collect();
    alerts.sort_unstable();
    alerts.dedup();
    for alert in alerts {
        lock_alert(tx, alert).await?;
    }
    Ok(())
}

/// Holds the alert's lock until the transaction ends.
async fn lock_alert(tx: &Tx<'_>, alert: &str) -> Result<(), Fault> {
    execute(
        tx,
        "SELECT pg_advisory_xact_lock(3, hashtext(current_schema() || '/' || $1))",
        &[&alert],
    )
    .await?;
    Ok(())
}
