//! The inbox table: enqueueing with deduplication (and the runs an event starts), reading
//! events back, routing events stored by an older build, and the expiry of dedup keys.

use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::unsigned_from_sql;
use super::{Fault, from_json, ms_to_sql, now_sql, optional_unsigned_from_sql, queue, to_json};
use crate::model::{Enqueued, InboxCounts, InboxEvent, InboxId, NewInboxEvent, RunTarget};

/// The columns [`event_from_row`] reads, from the table aliased `i`.
pub(super) const EVENT_COLUMNS: &str = "i.id, i.source, i.account, i.alert_uuid, i.dedup_key, \
     i.payload, i.received_at_ms, i.done_at_ms";

/// Stores `event` and queues its runs, unless its key is already stored. An event that
/// starts no run is done at once.
pub(super) fn enqueue(tx: &Transaction<'_>, event: &NewInboxEvent) -> Result<Enqueued, Fault> {
    let payload = to_json(&event.payload, "the event payload")?;
    let received = ms_to_sql(event.received_at_ms);
    let done = event.runs.is_empty().then(now_sql);
    let inserted: Option<i64> = tx
        .prepare_cached(
            "INSERT INTO inbox (source, account, alert_uuid, dedup_key, payload, \
                 received_at_ms, done_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (dedup_key) DO NOTHING \
             RETURNING id",
        )?
        .query_row(
            params![
                event.source.as_str(),
                event.account,
                event.alert_uuid,
                event.dedup_key,
                payload,
                received,
                done,
            ],
            |row| row.get(0),
        )
        .optional()?;
    let Some(id) = inserted.map(InboxId) else {
        let existing: i64 = tx
            .prepare_cached("SELECT id FROM inbox WHERE dedup_key = ?1")?
            .query_row([&event.dedup_key], |row| row.get(0))?;
        return Ok(Enqueued::Duplicate(InboxId(existing)));
    };
    for target in &event.runs {
        queue::insert_run(tx, id, event.alert_uuid.as_deref(), target, received)?;
    }
    Ok(Enqueued::New(id))
}

pub(super) fn event(tx: &Transaction<'_>, id: InboxId) -> Result<Option<InboxEvent>, Fault> {
    let mut statement = tx.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM inbox i WHERE i.id = ?1"
    ))?;
    let mut rows = statement.query([id.0])?;
    match rows.next()? {
        Some(row) => Ok(Some(event_from_row(row)?)),
        None => Ok(None),
    }
}

/// The event of a run, which must exist.
pub(super) fn event_of_run(tx: &Transaction<'_>, id: InboxId) -> Result<InboxEvent, Fault> {
    event(tx, id)?
        .ok_or_else(|| Fault::Corrupt(format!("a run refers to inbox event {id}, which is gone")))
}

/// Open events stored before events queued their runs, oldest first.
pub(super) fn unrouted(tx: &Transaction<'_>) -> Result<Vec<InboxEvent>, Fault> {
    let mut statement = tx.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM inbox i WHERE i.routed = 0 ORDER BY i.id"
    ))?;
    let mut rows = statement.query([])?;
    let mut events = Vec::new();
    while let Some(row) = rows.next()? {
        events.push(event_from_row(row)?);
    }
    Ok(events)
}

/// Queues the runs of an unrouted event that it lacks (by playbook) and marks it routed.
pub(super) fn route(tx: &Transaction<'_>, id: InboxId, runs: &[RunTarget]) -> Result<(), Fault> {
    let event = event(tx, id)?.ok_or(Fault::UnknownEvent(id))?;
    let received = ms_to_sql(event.received_at_ms);
    for target in runs {
        let exists: Option<i64> = tx
            .prepare_cached("SELECT 1 FROM runs WHERE inbox_id = ?1 AND playbook_id = ?2")?
            .query_row(params![id.0, target.playbook_id], |row| row.get(0))
            .optional()?;
        if exists.is_none() {
            queue::insert_run(tx, id, event.alert_uuid.as_deref(), target, received)?;
        }
    }
    tx.prepare_cached("UPDATE inbox SET routed = 1 WHERE id = ?1")?
        .execute([id.0])?;
    complete_if_done(tx, id)
}

/// Marks the event done if none of its runs is open.
pub(super) fn complete_if_done(tx: &Transaction<'_>, id: InboxId) -> Result<(), Fault> {
    tx.prepare_cached(concat!(
        "UPDATE inbox SET done_at_ms = ?1 \
         WHERE id = ?2 AND done_at_ms IS NULL AND routed = 1 AND NOT EXISTS ( \
             SELECT 1 FROM runs r WHERE r.inbox_id = ?2 AND ",
        open_status!("r.status"),
        ")"
    ))?
    .execute(params![now_sql(), id.0])?;
    Ok(())
}

/// Opens a done event again (a run of it was queued again).
pub(super) fn reopen(tx: &Transaction<'_>, id: InboxId) -> Result<(), Fault> {
    tx.prepare_cached("UPDATE inbox SET done_at_ms = NULL WHERE id = ?1")?
        .execute([id.0])?;
    Ok(())
}

/// What [`expire_keys`] runs, through the index of the keys in force, named: while an
/// index of every done event by arrival existed, the planner chose that one, and read the
/// events whose keys had expired already at every expiry.
pub(super) const EXPIRE_KEYS: &str = "UPDATE inbox INDEXED BY inbox_keys_in_force \
     SET dedup_key = dedup_key || '#expired/' || id \
     WHERE done_at_ms IS NOT NULL AND instr(dedup_key, '#expired/') = 0 \
       AND received_at_ms < ?2 AND substr(dedup_key, 1, length(?1)) = ?1";

/// Renames the dedup keys in force that start with `prefix`, of done events received before
/// `received_before_ms`, to `<key>#expired/<id>` (unique, and no source makes such keys).
pub(super) fn expire_keys(
    tx: &Transaction<'_>,
    prefix: &str,
    received_before_ms: u64,
) -> Result<u64, Fault> {
    let expired = tx
        .prepare_cached(EXPIRE_KEYS)?
        .execute(params![prefix, ms_to_sql(received_before_ms)])?;
    Ok(expired as u64)
}

pub(super) fn counts(tx: &Transaction<'_>) -> Result<InboxCounts, Fault> {
    let (open, done): (i64, i64) = tx.query_row(
        "SELECT COALESCE(SUM(done_at_ms IS NULL), 0), COALESCE(SUM(done_at_ms IS NOT NULL), 0) \
         FROM inbox",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    Ok(InboxCounts {
        open: unsigned_from_sql(open, "the open event count")?,
        done: unsigned_from_sql(done, "the done event count")?,
    })
}

/// Reads the [`EVENT_COLUMNS`] of a row, starting at column `at`.
pub(super) fn event_from_row_at(row: &Row<'_>, at: usize) -> Result<InboxEvent, Fault> {
    let id = InboxId(row.get(at)?);
    let source: String = row.get(at + 1)?;
    let source = source
        .parse()
        .map_err(|e| Fault::Corrupt(format!("inbox event {id}: {e}")))?;
    let payload: String = row.get(at + 5)?;
    Ok(InboxEvent {
        id,
        source,
        account: row.get(at + 2)?,
        alert_uuid: row.get(at + 3)?,
        dedup_key: row.get(at + 4)?,
        payload: from_json(&payload, &format!("the payload of inbox event {id}"))?,
        received_at_ms: unsigned_from_sql(
            row.get(at + 6)?,
            &format!("the arrival time of inbox event {id}"),
        )?,
        done_at_ms: optional_unsigned_from_sql(
            row.get(at + 7)?,
            &format!("the end of inbox event {id}"),
        )?,
    })
}

fn event_from_row(row: &Row<'_>) -> Result<InboxEvent, Fault> {
    event_from_row_at(row, 0)
}
