//! The run queue: runs queued with their event, claimed in order (for each alert and
//! playbook only the oldest open run; none of a disabled playbook), put aside while a
//! destination fails, finished, repeated, and the counts `/healthz` reports.

use std::collections::HashSet;

use alertsync_engine::{Hold, NodeStatus, RunRecord, RunStatus};
use rusqlite::{OptionalExtension, Transaction, params};

use super::runs;
use super::unsigned_from_sql;
use super::{Fault, inbox, ms_to_sql, now_sql, optional_unsigned_from_sql, state};
use crate::model::{ClaimedRun, InboxId, QueueHealth, Rerun, RunId, RunTarget};

/// Queues a run of `target` for event `id`.
pub(super) fn insert_run(
    tx: &Transaction<'_>,
    id: InboxId,
    alert_uuid: Option<&str>,
    target: &RunTarget,
    queued_at_ms: i64,
) -> Result<RunId, Fault> {
    let run: i64 = tx
        .prepare_cached(
            "INSERT INTO runs (inbox_id, playbook_id, trigger_node, alert_uuid, status, \
                 queued_at_ms) \
             VALUES (?1, ?2, ?3, ?4, 'queued', ?5) RETURNING id",
        )?
        .query_row(
            params![
                id.0,
                target.playbook_id,
                target.trigger_node,
                alert_uuid,
                queued_at_ms
            ],
            |row| row.get(0),
        )?;
    Ok(RunId(run))
}

/// A run that may be claimed now, as a snapshot shows it.
pub(super) struct Candidate {
    pub id: RunId,
    /// Left running by an earlier store instance: its claim counts an interruption.
    pub left_running: bool,
    /// The run with its event and what an earlier attempt left, or why it cannot be read.
    pub loaded: Result<ClaimedRun, String>,
}

/// Up to `limit` runs that may start now, oldest first, leaving out those in `claimed`
/// (this instance's claims) and those this instance started (`claimed_by`).
pub(super) fn ready(
    tx: &Transaction<'_>,
    instance: &str,
    limit: u32,
    claimed: &HashSet<RunId>,
) -> Result<Vec<Candidate>, Fault> {
    let now = now_sql();
    let wanted = i64::from(limit).saturating_add(claimed.len() as i64);
    let ready: Vec<(RunId, bool, bool)> = {
        let mut statement = tx.prepare_cached(&ready_sql())?;
        let rows = statement.query_map(params![instance, now, wanted], |row| {
            Ok((RunId(row.get(0)?), row.get(1)?, row.get(2)?))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    let mut candidates = Vec::with_capacity(ready.len());
    for (id, reuse_succeeded, left_running) in ready {
        if claimed.contains(&id) || candidates.len() >= limit as usize {
            continue;
        }
        let loaded = match claimed_run(tx, id, reuse_succeeded) {
            Ok(run) => Ok(run),
            Err(Fault::Corrupt(detail)) => Err(detail),
            Err(other) => return Err(other),
        };
        candidates.push(Candidate {
            id,
            left_running,
            loaded,
        });
    }
    Ok(candidates)
}

/// What [`ready`] selects: `?1` the claiming instance, `?2` now, `?3` how many (`+?3`: a
/// plain `LIMIT ?3` made SQLite compile the statement again at every claim whose limit
/// differed from the last one's). The open runs are read in id order from their partial
/// index, so a claim stops after the runs it takes: left to itself, the planner read them
/// by status and sorted every open run into a temporary b-tree at each claim, a cost that
/// grew with the backlog.
fn ready_sql() -> String {
    let (open, earlier_open) = (open_status!("r.status"), open_status!("e.status"));
    format!(
        "SELECT r.id, r.reuse_succeeded, \
             (r.status = 'running' AND r.claimed_by IS NOT NULL) \
         FROM runs r INDEXED BY runs_open \
         WHERE {open} \
           AND (r.claimed_by IS NULL OR r.claimed_by <> ?1) \
           AND (r.due_at_ms IS NULL OR r.due_at_ms <= ?2) \
           AND NOT EXISTS (SELECT 1 FROM playbook_health h \
               WHERE h.playbook_id = r.playbook_id AND h.disabled_reason IS NOT NULL) \
           AND (r.alert_uuid IS NULL OR NOT EXISTS ( \
               SELECT 1 FROM runs e INDEXED BY runs_open_by_alert \
               WHERE e.alert_uuid = r.alert_uuid AND e.playbook_id = r.playbook_id \
                 AND {earlier_open} AND e.id < r.id)) \
         ORDER BY r.id LIMIT +?3"
    )
}

/// Writes what claiming `candidates` changes: an interruption for each run an earlier
/// instance left running (now this instance's), a dead letter for each unreadable one.
pub(super) fn note_claims(
    tx: &Transaction<'_>,
    instance: &str,
    candidates: &[(RunId, Option<String>)],
) -> Result<(), Fault> {
    let mut interrupted = tx.prepare_cached(
        "UPDATE runs SET claimed_by = ?1, interruptions = interruptions + 1 WHERE id = ?2",
    )?;
    for (run, unreadable) in candidates {
        match unreadable {
            Some(detail) => bury_unreadable(tx, *run, detail)?,
            None => {
                interrupted.execute(params![instance, run.0])?;
            }
        }
    }
    Ok(())
}

/// Ends a run whose stored event or records cannot be read as a dead letter that says so:
/// one damaged row must not stop the whole queue.
fn bury_unreadable(tx: &Transaction<'_>, run: RunId, detail: &str) -> Result<(), Fault> {
    let now = alertsync_engine::now_ms();
    let error = format!("what the store holds for this run cannot be read: {detail}");
    tracing::error!("run {run} is a dead letter: {error}");
    let inbox_id = set_status(tx, run, RunStatus::Dead, Some(&error), Some(now), None, now)?;
    state::clear_retries_of_run(tx, run)?;
    inbox::complete_if_done(tx, inbox_id)
}

/// A claimed run with its event and what an earlier attempt left.
fn claimed_run(
    tx: &Transaction<'_>,
    id: RunId,
    reuse_succeeded: bool,
) -> Result<ClaimedRun, Fault> {
    let run = runs::summary(tx, id)?.ok_or(Fault::UnknownRun(id))?;
    let event = inbox::event_of_run(tx, run.inbox_id)?;
    let (mut completed_nodes, interrupted_nodes): (Vec<_>, Vec<_>) = runs::nodes(tx, id)?
        .into_iter()
        .partition(|node| node.status.is_completed());
    let fresh = completed_nodes.is_empty() && interrupted_nodes.is_empty();
    if let (true, true, Some(earlier)) = (fresh, reuse_succeeded, run.rerun_of) {
        completed_nodes.extend(
            runs::nodes(tx, earlier)?
                .into_iter()
                .filter(|node| node.status == NodeStatus::Succeeded),
        );
    }
    Ok(ClaimedRun {
        retries: state::retries_of_run(tx, id)?,
        completed_nodes,
        interrupted_nodes,
        event,
        run,
    })
}

/// Marks a run claimed by store instance `instance` as running from `at_ms` (its first
/// start is kept): left so by a crash, its next claim counts an interruption.
pub(super) fn started(
    tx: &Transaction<'_>,
    run: RunId,
    at_ms: u64,
    instance: &str,
) -> Result<(), Fault> {
    tx.prepare_cached(concat!(
        "UPDATE runs SET status = 'running', started_at_ms = COALESCE(started_at_ms, ?1), \
             due_at_ms = NULL, waiting_on = NULL, claimed_by = ?3 \
         WHERE id = ?2 AND ",
        open_status!("status")
    ))?
    .execute(params![ms_to_sql(at_ms), run.0, instance])?;
    Ok(())
}

/// Ends a run with its record and completes its event if that was its last open run.
pub(super) fn finish(tx: &Transaction<'_>, run: RunId, record: &RunRecord) -> Result<(), Fault> {
    let inbox_id = set_status(
        tx,
        run,
        record.status,
        record.error.as_deref(),
        record.ended_at_ms.or(Some(alertsync_engine::now_ms())),
        None,
        record.started_at_ms,
    )?;
    runs::replace_nodes(tx, run, &record.nodes)?;
    state::clear_retries_of_run(tx, run)?;
    inbox::complete_if_done(tx, inbox_id)
}

/// Puts a run aside until its hold is due.
pub(super) fn park(
    tx: &Transaction<'_>,
    run: RunId,
    record: &RunRecord,
    hold: &Hold,
) -> Result<(), Fault> {
    set_status(
        tx,
        run,
        RunStatus::Waiting,
        record.error.as_deref(),
        None,
        Some(hold),
        record.started_at_ms,
    )?;
    runs::replace_nodes(tx, run, &record.nodes)?;
    // Only the retry state of the nodes that wait is still meaningful.
    let waiting: Vec<usize> = record
        .nodes
        .iter()
        .filter(|node| node.status == NodeStatus::Waiting)
        .map(|node| node.seq)
        .collect();
    state::keep_retries_of(tx, run, &waiting)
}

/// Updates a run's status and releases its claim; returns its event.
fn set_status(
    tx: &Transaction<'_>,
    run: RunId,
    status: RunStatus,
    error: Option<&str>,
    ended_at_ms: Option<u64>,
    hold: Option<&Hold>,
    started_at_ms: u64,
) -> Result<InboxId, Fault> {
    let inbox_id: Option<i64> = tx
        .prepare_cached(
            "UPDATE runs SET status = ?1, error = ?2, ended_at_ms = ?3, due_at_ms = ?4, \
                 waiting_on = ?5, claimed_by = NULL, \
                 started_at_ms = COALESCE(started_at_ms, ?6) \
             WHERE id = ?7 RETURNING inbox_id",
        )?
        .query_row(
            params![
                status.as_str(),
                error,
                ended_at_ms.map(ms_to_sql),
                hold.map(|h| ms_to_sql(h.until_ms)),
                hold.map(|h| h.destination.as_str()),
                ms_to_sql(started_at_ms),
                run.0
            ],
            |row| row.get(0),
        )
        .optional()?;
    inbox_id.map(InboxId).ok_or(Fault::UnknownRun(run))
}

/// Releases the claim of a run (a shutdown stopped it): the next claim resumes it.
pub(super) fn release(tx: &Transaction<'_>, run: RunId) -> Result<(), Fault> {
    let changed = tx
        .prepare_cached("UPDATE runs SET claimed_by = NULL WHERE id = ?1")?
        .execute([run.0])?;
    if changed == 0 {
        return Err(Fault::UnknownRun(run));
    }
    Ok(())
}

/// Removes a run that did not apply, and completes its event if it was the last open run.
pub(super) fn discard(tx: &Transaction<'_>, run: RunId) -> Result<(), Fault> {
    let inbox_id: Option<i64> = tx
        .prepare_cached("SELECT inbox_id FROM runs WHERE id = ?1")?
        .query_row([run.0], |row| row.get(0))
        .optional()?;
    let inbox_id = inbox_id.map(InboxId).ok_or(Fault::UnknownRun(run))?;
    runs::delete(tx, run)?;
    inbox::complete_if_done(tx, inbox_id)
}

/// Queues a run again for the event of `rerun.of`; a dead letter replayed is dismissed.
pub(super) fn rerun(tx: &Transaction<'_>, rerun: Rerun) -> Result<RunId, Fault> {
    let now = now_sql();
    let inserted: Option<(i64, i64)> = tx
        .prepare_cached(
            "INSERT INTO runs (inbox_id, playbook_id, trigger_node, alert_uuid, status, \
                 queued_at_ms, rerun_of, reuse_succeeded, alert_account, alert_short_id, \
                 alert_title, alert_urgency) \
             SELECT inbox_id, playbook_id, trigger_node, alert_uuid, 'queued', ?1, id, ?2, \
                 alert_account, alert_short_id, alert_title, alert_urgency \
             FROM runs WHERE id = ?3 \
             RETURNING id, inbox_id",
        )?
        .query_row(params![now, rerun.only_failed, rerun.of.0], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    let (id, inbox_id) = inserted.ok_or(Fault::UnknownRun(rerun.of))?;
    inbox::reopen(tx, InboxId(inbox_id))?;
    dismiss(tx, rerun.of)?;
    Ok(RunId(id))
}

/// Marks a dead letter as handled; `false` if the run is not an unhandled dead letter.
pub(super) fn dismiss(tx: &Transaction<'_>, run: RunId) -> Result<bool, Fault> {
    let changed = tx
        .prepare_cached(
            "UPDATE runs SET dismissed_at_ms = ?1 \
             WHERE id = ?2 AND status = 'dead' AND dismissed_at_ms IS NULL",
        )?
        .execute(params![now_sql(), run.0])?;
    Ok(changed > 0)
}

/// Makes the runs waiting for `destination` due now.
pub(super) fn wake(tx: &Transaction<'_>, destination: &str) -> Result<u64, Fault> {
    let now = now_sql();
    let woken = tx
        .prepare_cached(
            "UPDATE runs SET due_at_ms = ?1 \
             WHERE status = 'waiting' AND waiting_on = ?2 AND due_at_ms > ?1",
        )?
        .execute(params![now, destination])?;
    Ok(woken as u64)
}

pub(super) fn health(tx: &Transaction<'_>) -> Result<QueueHealth, Fault> {
    let row = tx.query_row(
        &format!(
            "SELECT \
                 COALESCE(SUM(r.status = 'queued' AND h.playbook_id IS NULL), 0), \
                 COALESCE(SUM(r.status = 'running'), 0), \
                 COALESCE(SUM(r.status = 'waiting' AND h.playbook_id IS NULL), 0), \
                 COALESCE(SUM(r.status <> 'running' AND h.playbook_id IS NOT NULL), 0), \
                 MIN(CASE WHEN r.status = 'queued' AND h.playbook_id IS NULL \
                          THEN r.queued_at_ms END), \
                 MIN(CASE WHEN r.status = 'waiting' AND h.playbook_id IS NULL \
                          THEN r.queued_at_ms END) \
             FROM runs r LEFT JOIN playbook_health h \
                 ON h.playbook_id = r.playbook_id AND h.disabled_reason IS NOT NULL \
             WHERE {}",
            open_status!("r.status")
        ),
        [],
        |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, i64>(3)?,
                row.get::<_, Option<i64>>(4)?,
                row.get::<_, Option<i64>>(5)?,
            ))
        },
    )?;
    let dead: i64 = tx.query_row(
        "SELECT COUNT(*) FROM runs WHERE status = 'dead' AND dismissed_at_ms IS NULL",
        [],
        |row| row.get(0),
    )?;
    let last_event: Option<i64> = tx
        .query_row(
            "SELECT received_at_ms FROM inbox ORDER BY id DESC LIMIT 1",
            [],
            |row| row.get(0),
        )
        .optional()?;
    Ok(QueueHealth {
        queued: unsigned_from_sql(row.0, "the queued run count")?,
        running: unsigned_from_sql(row.1, "the running run count")?,
        waiting: unsigned_from_sql(row.2, "the waiting run count")?,
        held_by_disabled_playbooks: unsigned_from_sql(row.3, "the held run count")?,
        dead_letters: unsigned_from_sql(dead, "the dead letter count")?,
        oldest_queued_at_ms: optional_unsigned_from_sql(row.4, "the oldest queue time")?,
        oldest_waiting_since_ms: optional_unsigned_from_sql(row.5, "the oldest wait")?,
        last_event_at_ms: optional_unsigned_from_sql(last_event, "the last event time")?,
    })
}

#[cfg(test)]
mod tests {
    use rusqlite::{Connection, StatementStatus, params};

    #[test]
    fn picking_the_ready_runs_is_compiled_once_whatever_the_limit() {
        super::super::assert_compiled_once(&super::ready_sql());
    }

    #[test]
    fn the_ready_runs_are_read_in_order_without_sorting_the_backlog() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO inbox (source, account, dedup_key, payload, received_at_ms) \
             VALUES ('webhook', 'a', 'k', '{}', 0)",
            [],
        )
        .unwrap();
        // A backlog of open runs of distinct alerts, every third one ended.
        for n in 0..60 {
            let status = if n % 3 == 0 { "succeeded" } else { "queued" };
            conn.execute(
                "INSERT INTO runs (inbox_id, playbook_id, trigger_node, alert_uuid, status, \
                     queued_at_ms) VALUES (1, 'p', 't', ?1, ?2, 0)",
                params![format!("alert-{n}"), status],
            )
            .unwrap();
        }
        let mut statement = conn.prepare(&super::ready_sql()).unwrap();
        let ready: Vec<i64> = statement
            .query_map(params!["this instance", 0, 4], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(ready, [2, 3, 5, 6], "the oldest open runs");
        assert_eq!(
            statement.get_status(StatementStatus::Sort),
            0,
            "the open runs are not sorted at each claim"
        );
    }
}
