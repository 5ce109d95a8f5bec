//! Retention: removing finished work older than the configured window, a bounded batch
//! per transaction ([`crate::Store::prune`]).

use super::{Fault, Tx, execute, rows, runs};
use crate::fault::ms_to_sql;
use crate::model::{Pruned, RunId};

/// One batch: at most `limit` finished runs, then at most `limit` done events, then at most
/// `limit` alert links.
pub(super) async fn prune(tx: &Tx<'_>, ended_before_ms: u64, limit: u32) -> Result<Pruned, Fault> {
    let before = ms_to_sql(ended_before_ms);
    let limit = i64::from(limit);
    let finished: Vec<RunId> = rows(
        tx,
        "SELECT id FROM runs \
         WHERE status IN ('succeeded', 'failed', 'cancelled', 'dead') AND ended_at_ms < $1 \
           AND (status <> 'dead' OR dismissed_at_ms IS NOT NULL) \
         ORDER BY ended_at_ms LIMIT $2",
        &[&before, &limit],
    )
    .await?
    .iter()
    .map(|row| row.try_get(0).map(RunId))
    .collect::<Result<_, _>>()?;
    for run in &finished {
        runs::delete(tx, *run).await?;
    }
    let events = execute(
        tx,
        "DELETE FROM inbox WHERE id IN ( \
             SELECT id FROM inbox \
             WHERE done_at_ms IS NOT NULL AND received_at_ms < $1 \
               AND (source IN ('webhook', 'cron') OR strpos(dedup_key, '#expired/') > 0) \
               AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.inbox_id = inbox.id) \
             LIMIT $2)",
        &[&before, &limit],
    )
    .await?;
    let links = execute(
        tx,
        "DELETE FROM alert_links WHERE (system, remote_id) IN ( \
             SELECT system, remote_id FROM alert_links WHERE linked_at_ms < $1 LIMIT $2)",
        &[&before, &limit],
    )
    .await?;
    Ok(Pruned {
        runs: finished.len() as u64,
        events,
        links,
    })
}
