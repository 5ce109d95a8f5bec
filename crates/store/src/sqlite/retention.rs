//! Retention: removing finished work older than the configured window, a bounded batch
//! per transaction ([`crate::Store::prune`]).

use rusqlite::{Transaction, params};

use super::{Fault, ms_to_sql, runs};
use crate::model::{Pruned, RunId};

/// Removes at most `?2` done events received before `?1` whose dedup key no longer counts
/// (webhook and cron events, expired keys) and that no run refers to. The condition is
/// the one of index `inbox_prunable`, which holds just these events.
pub(super) const PRUNE_EVENTS: &str = "DELETE FROM inbox WHERE id IN ( \
     SELECT id FROM inbox INDEXED BY inbox_prunable \
     WHERE done_at_ms IS NOT NULL \
       AND (source = 'webhook' OR source = 'cron' OR instr(dedup_key, '#expired/') > 0) \
       AND received_at_ms < ?1 \
       AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.inbox_id = inbox.id) \
     LIMIT ?2)";

/// One batch: at most `limit` finished runs, then at most `limit` done events.
pub(super) fn prune(
    tx: &Transaction<'_>,
    ended_before_ms: u64,
    limit: u32,
) -> Result<Pruned, Fault> {
    let before = ms_to_sql(ended_before_ms);
    let runs = finished_runs(tx, before, limit)?;
    for run in &runs {
        runs::delete(tx, *run)?;
    }
    let events = tx
        .prepare_cached(PRUNE_EVENTS)?
        .execute(params![before, limit])?;
    let links = tx
        .prepare_cached(
            "DELETE FROM alert_links WHERE (system, remote_id) IN ( \
                 SELECT system, remote_id FROM alert_links WHERE linked_at_ms < ?1 LIMIT ?2)",
        )?
        .execute(params![before, limit])?;
    Ok(Pruned {
        runs: runs.len() as u64,
        events: events as u64,
        links: links as u64,
    })
}

/// What [`finished_runs`] selects, with the condition of index `runs_finished_by_end`.
pub(super) const FINISHED_RUNS: &str = "SELECT id FROM runs INDEXED BY runs_finished_by_end \
     WHERE (status = 'succeeded' OR status = 'failed' OR status = 'cancelled' \
            OR status = 'dead') \
       AND ended_at_ms < ?1 \
       AND (status <> 'dead' OR dismissed_at_ms IS NOT NULL) \
     ORDER BY ended_at_ms LIMIT ?2";

/// Finished runs that ended before `before`, oldest first: dead letters only once someone
/// replayed or dismissed them.
fn finished_runs(tx: &Transaction<'_>, before: i64, limit: u32) -> Result<Vec<RunId>, Fault> {
    let mut statement = tx.prepare_cached(FINISHED_RUNS)?;
    let ids = statement
        .query_map(params![before, limit], |row| row.get(0).map(RunId))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ids)
}
