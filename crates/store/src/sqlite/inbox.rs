//! The inbox table: enqueueing with deduplication, per-alert ordering, claims.

use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::{Fault, from_json, ms_to_sql, now_sql, to_json, unsigned_from_sql};
use crate::model::{Enqueued, EventState, InboxCounts, InboxEvent, InboxId, NewInboxEvent};

/// The columns [`event_from_row`] reads, from the table aliased `i`.
const EVENT_COLUMNS: &str = "i.id, i.source, i.account, i.playbook_id, i.trigger_node, \
     i.alert_uuid, i.dedup_key, i.payload, i.received_at_ms, i.claimed_by, i.done_at_ms";

pub(super) fn enqueue(tx: &Transaction<'_>, event: &NewInboxEvent) -> Result<Enqueued, Fault> {
    let payload = to_json(&event.payload, "the event payload")?;
    let inserted: Option<i64> = tx
        .prepare_cached(
            "INSERT INTO inbox (source, account, playbook_id, trigger_node, alert_uuid, \
                 dedup_key, payload, received_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT (dedup_key) DO NOTHING \
             RETURNING id",
        )?
        .query_row(
            params![
                event.source.as_str(),
                event.account,
                event.playbook_id,
                event.trigger_node,
                event.alert_uuid,
                event.dedup_key,
                payload,
                ms_to_sql(event.received_at_ms),
            ],
            |row| row.get(0),
        )
        .optional()?;
    if let Some(id) = inserted {
        return Ok(Enqueued::New(InboxId(id)));
    }
    let existing: i64 = tx
        .prepare_cached("SELECT id FROM inbox WHERE dedup_key = ?1")?
        .query_row([&event.dedup_key], |row| row.get(0))?;
    Ok(Enqueued::Duplicate(InboxId(existing)))
}

/// Open events not claimed by `instance` that are the oldest open event of their alert (or
/// have no alert), oldest first.
pub(super) fn ready_events(
    tx: &Transaction<'_>,
    instance: &str,
    limit: u32,
) -> Result<Vec<InboxEvent>, Fault> {
    let mut statement = tx.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM inbox i \
         WHERE i.done_at_ms IS NULL \
           AND (i.claimed_by IS NULL OR i.claimed_by <> ?1) \
           AND (i.alert_uuid IS NULL \
                OR i.id = (SELECT MIN(j.id) FROM inbox j \
                           WHERE j.alert_uuid = i.alert_uuid AND j.done_at_ms IS NULL)) \
         ORDER BY i.id \
         LIMIT ?2"
    ))?;
    let mut rows = statement.query(params![instance, i64::from(limit)])?;
    let mut events = Vec::new();
    while let Some(row) = rows.next()? {
        events.push(event_from_row(row)?);
    }
    Ok(events)
}

pub(super) fn claim_ready_events(
    tx: &Transaction<'_>,
    instance: &str,
    limit: u32,
) -> Result<Vec<InboxEvent>, Fault> {
    let mut events = ready_events(tx, instance, limit)?;
    let now = now_sql();
    let mut claim =
        tx.prepare_cached("UPDATE inbox SET claimed_by = ?1, claimed_at_ms = ?2 WHERE id = ?3")?;
    for event in &mut events {
        claim.execute(params![instance, now, event.id.0])?;
        event.state = EventState::Claimed;
    }
    Ok(events)
}

pub(super) fn complete(tx: &Transaction<'_>, id: InboxId) -> Result<(), Fault> {
    let changed = tx
        .prepare_cached("UPDATE inbox SET done_at_ms = COALESCE(done_at_ms, ?1) WHERE id = ?2")?
        .execute(params![now_sql(), id.0])?;
    if changed == 0 {
        return Err(Fault::UnknownEvent(id));
    }
    Ok(())
}

pub(super) fn release(tx: &Transaction<'_>, id: InboxId) -> Result<(), Fault> {
    let changed = tx
        .prepare_cached(
            "UPDATE inbox SET claimed_by = NULL, claimed_at_ms = NULL \
             WHERE id = ?1 AND done_at_ms IS NULL",
        )?
        .execute([id.0])?;
    if changed == 0 && event(tx, id)?.is_none() {
        return Err(Fault::UnknownEvent(id));
    }
    Ok(())
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

/// Renames the dedup keys in force that start with `prefix`, of done events received before
/// `received_before_ms`, to `<key>#expired/<id>` (unique, and no source makes such keys).
pub(super) fn expire_keys(
    tx: &Transaction<'_>,
    prefix: &str,
    received_before_ms: u64,
) -> Result<u64, Fault> {
    let expired = tx
        .prepare_cached(
            "UPDATE inbox SET dedup_key = dedup_key || '#expired/' || id \
             WHERE done_at_ms IS NOT NULL AND instr(dedup_key, '#expired/') = 0 \
               AND received_at_ms < ?2 AND substr(dedup_key, 1, length(?1)) = ?1",
        )?
        .execute(params![prefix, ms_to_sql(received_before_ms)])?;
    Ok(expired as u64)
}

pub(super) fn counts(tx: &Transaction<'_>) -> Result<InboxCounts, Fault> {
    let (pending, claimed, done): (i64, i64, i64) = tx.query_row(
        "SELECT \
             COALESCE(SUM(done_at_ms IS NULL AND claimed_by IS NULL), 0), \
             COALESCE(SUM(done_at_ms IS NULL AND claimed_by IS NOT NULL), 0), \
             COALESCE(SUM(done_at_ms IS NOT NULL), 0) \
         FROM inbox",
        [],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    Ok(InboxCounts {
        pending: unsigned_from_sql(pending, "the pending event count")?,
        claimed: unsigned_from_sql(claimed, "the claimed event count")?,
        done: unsigned_from_sql(done, "the done event count")?,
    })
}

/// Reads the [`EVENT_COLUMNS`] of a row.
fn event_from_row(row: &Row<'_>) -> Result<InboxEvent, Fault> {
    let id = InboxId(row.get(0)?);
    let source: String = row.get(1)?;
    let source = source
        .parse()
        .map_err(|e| Fault::Corrupt(format!("inbox event {id}: {e}")))?;
    let payload: String = row.get(7)?;
    let claimed_by: Option<String> = row.get(9)?;
    let done_at_ms: Option<i64> = row.get(10)?;
    let state = match (done_at_ms, claimed_by) {
        (Some(_), _) => EventState::Done,
        (None, Some(_)) => EventState::Claimed,
        (None, None) => EventState::Pending,
    };
    Ok(InboxEvent {
        id,
        source,
        account: row.get(2)?,
        playbook_id: row.get(3)?,
        trigger_node: row.get(4)?,
        alert_uuid: row.get(5)?,
        dedup_key: row.get(6)?,
        payload: from_json(&payload, &format!("the payload of inbox event {id}"))?,
        received_at_ms: unsigned_from_sql(
            row.get(8)?,
            &format!("the arrival time of inbox event {id}"),
        )?,
        state,
    })
}

/// The event of a run, which must exist.
pub(super) fn event_of_run(tx: &Transaction<'_>, id: InboxId) -> Result<InboxEvent, Fault> {
    event(tx, id)?
        .ok_or_else(|| Fault::Corrupt(format!("a run refers to inbox event {id}, which is gone")))
}
