//! Small state tables: delivery retry state, trigger checkpoints, playbook health, alert
//! links.

use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::{Fault, ms_to_sql, now_sql, optional_unsigned_from_sql, seq_to_sql, unsigned_from_sql};
use crate::model::{AlertLink, Checkpoint, PlaybookDisabled, PlaybookHealth, RetryState, RunId};

// ----- retry state -----

/// The columns [`retry_from_row`] reads.
const RETRY_COLUMNS: &str = "run_id, seq, node_id, attempts, next_attempt_at_ms, last_error, \
     updated_at_ms, operation, first_failed_at_ms";

pub(super) fn save_retry(tx: &Transaction<'_>, retry: &RetryState) -> Result<(), Fault> {
    tx.prepare_cached(
        "INSERT INTO node_retries (run_id, seq, node_id, attempts, next_attempt_at_ms, \
             last_error, updated_at_ms, operation, first_failed_at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT (run_id, seq) DO UPDATE SET \
             node_id = excluded.node_id, attempts = excluded.attempts, \
             next_attempt_at_ms = excluded.next_attempt_at_ms, \
             last_error = excluded.last_error, updated_at_ms = excluded.updated_at_ms, \
             operation = excluded.operation, first_failed_at_ms = excluded.first_failed_at_ms",
    )?
    .execute(params![
        retry.run_id.0,
        seq_to_sql(retry.seq),
        retry.node_id,
        i64::from(retry.attempts),
        retry.next_attempt_at_ms.map(ms_to_sql),
        retry.last_error,
        ms_to_sql(retry.updated_at_ms),
        retry.operation,
        retry.first_failed_at_ms.map(ms_to_sql),
    ])?;
    Ok(())
}

/// What reads the retry state of a run (`+?1`: see `runs::NODES_OF_RUN`).
fn retries_of_run_sql() -> String {
    format!("SELECT {RETRY_COLUMNS} FROM node_retries WHERE run_id = +?1 ORDER BY seq")
}

/// The retry state of a run's node runs, in `seq` order.
pub(super) fn retries_of_run(tx: &Transaction<'_>, run: RunId) -> Result<Vec<RetryState>, Fault> {
    let mut statement = tx.prepare_cached(&retries_of_run_sql())?;
    let mut rows = statement.query([run.0])?;
    let mut retries = Vec::new();
    while let Some(row) = rows.next()? {
        retries.push(retry_from_row(row)?);
    }
    Ok(retries)
}

pub(super) fn clear_retry(tx: &Transaction<'_>, run: RunId, seq: usize) -> Result<(), Fault> {
    tx.prepare_cached("DELETE FROM node_retries WHERE run_id = ?1 AND seq = ?2")?
        .execute(params![run.0, seq_to_sql(seq)])?;
    Ok(())
}

/// Drops the retry state of a run's node runs but those at `seqs`.
pub(super) fn keep_retries_of(
    tx: &Transaction<'_>,
    run: RunId,
    seqs: &[usize],
) -> Result<(), Fault> {
    let kept: Vec<RetryState> = retries_of_run(tx, run)?
        .into_iter()
        .filter(|retry| seqs.contains(&retry.seq))
        .collect();
    clear_retries_of_run(tx, run)?;
    for retry in &kept {
        save_retry(tx, retry)?;
    }
    Ok(())
}

pub(super) fn clear_retries_of_run(tx: &Transaction<'_>, run: RunId) -> Result<(), Fault> {
    tx.prepare_cached("DELETE FROM node_retries WHERE run_id = ?1")?
        .execute([run.0])?;
    Ok(())
}

fn retry_from_row(row: &Row<'_>) -> Result<RetryState, Fault> {
    let run_id = RunId(row.get(0)?);
    let seq: i64 = row.get(1)?;
    let what =
        |field: &str| format!("the {field} of the retry state of node run {seq} of run {run_id}");
    Ok(RetryState {
        run_id,
        seq: unsigned_from_sql(seq, &what("position"))?,
        node_id: row.get(2)?,
        attempts: unsigned_from_sql(row.get(3)?, &what("attempt count"))?,
        next_attempt_at_ms: optional_unsigned_from_sql(row.get(4)?, &what("next attempt time"))?,
        last_error: row.get(5)?,
        updated_at_ms: unsigned_from_sql(row.get(6)?, &what("update time"))?,
        operation: row.get(7)?,
        first_failed_at_ms: optional_unsigned_from_sql(row.get(8)?, &what("first failure time"))?,
    })
}

// ----- checkpoints -----

pub(super) fn checkpoint(tx: &Transaction<'_>, key: &str) -> Result<Option<String>, Fault> {
    Ok(tx
        .prepare_cached("SELECT value FROM checkpoints WHERE key = ?1")?
        .query_row([key], |row| row.get(0))
        .optional()?)
}

pub(super) fn set_checkpoint(tx: &Transaction<'_>, checkpoint: &Checkpoint) -> Result<(), Fault> {
    tx.prepare_cached(
        "INSERT INTO checkpoints (key, value, updated_at_ms) VALUES (?1, ?2, ?3) \
         ON CONFLICT (key) DO UPDATE SET \
             value = excluded.value, updated_at_ms = excluded.updated_at_ms",
    )?
    .execute(params![checkpoint.key, checkpoint.value, now_sql()])?;
    Ok(())
}

pub(super) fn checkpoints_under(
    tx: &Transaction<'_>,
    prefix: &str,
) -> Result<Vec<Checkpoint>, Fault> {
    let mut statement = tx.prepare_cached(
        "SELECT key, value FROM checkpoints WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key",
    )?;
    let rows = statement.query_map([prefix], |row| {
        Ok(Checkpoint {
            key: row.get(0)?,
            value: row.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn forget_checkpoints(
    tx: &Transaction<'_>,
    prefix: &str,
    updated_before_ms: u64,
) -> Result<u64, Fault> {
    let forgotten = tx
        .prepare_cached(
            "DELETE FROM checkpoints \
             WHERE substr(key, 1, length(?1)) = ?1 AND updated_at_ms < ?2",
        )?
        .execute(params![prefix, ms_to_sql(updated_before_ms)])?;
    Ok(forgotten as u64)
}

// ----- playbook health -----

pub(super) fn record_failure(
    tx: &Transaction<'_>,
    playbook_id: &str,
    error: &str,
) -> Result<PlaybookHealth, Fault> {
    let health = health(tx, playbook_id)?.after_failure(error);
    save_health(tx, &health)?;
    Ok(health)
}

pub(super) fn record_success(
    tx: &Transaction<'_>,
    playbook_id: &str,
) -> Result<PlaybookHealth, Fault> {
    let health = health(tx, playbook_id)?.after_success();
    save_health(tx, &health)?;
    Ok(health)
}

pub(super) fn enable(tx: &Transaction<'_>, playbook_id: &str) -> Result<PlaybookHealth, Fault> {
    let health = PlaybookHealth::healthy(playbook_id);
    save_health(tx, &health)?;
    Ok(health)
}

pub(super) fn disable(
    tx: &Transaction<'_>,
    playbook_id: &str,
    reason: &str,
) -> Result<PlaybookHealth, Fault> {
    let health = health(tx, playbook_id)?;
    match health.clone().disabled_for(reason) {
        Some(disabled) => {
            save_health(tx, &disabled)?;
            Ok(disabled)
        }
        None => Ok(health),
    }
}

/// The columns [`health_from_row`] reads.
const HEALTH_COLUMNS: &str =
    "playbook_id, consecutive_failures, last_error, disabled_reason, disabled_at_ms";

pub(super) fn health(tx: &Transaction<'_>, playbook_id: &str) -> Result<PlaybookHealth, Fault> {
    let mut statement = tx.prepare_cached(&format!(
        "SELECT {HEALTH_COLUMNS} FROM playbook_health WHERE playbook_id = ?1"
    ))?;
    let mut rows = statement.query([playbook_id])?;
    match rows.next()? {
        Some(row) => health_from_row(row),
        None => Ok(PlaybookHealth::healthy(playbook_id)),
    }
}

pub(super) fn all_health(tx: &Transaction<'_>) -> Result<Vec<PlaybookHealth>, Fault> {
    let mut statement = tx.prepare_cached(&format!(
        "SELECT {HEALTH_COLUMNS} FROM playbook_health ORDER BY playbook_id"
    ))?;
    let mut rows = statement.query([])?;
    let mut all = Vec::new();
    while let Some(row) = rows.next()? {
        all.push(health_from_row(row)?);
    }
    Ok(all)
}

fn save_health(tx: &Transaction<'_>, health: &PlaybookHealth) -> Result<(), Fault> {
    let (reason, at_ms) = match &health.disabled {
        Some(disabled) => (
            Some(disabled.reason.as_str()),
            Some(ms_to_sql(disabled.at_ms)),
        ),
        None => (None, None),
    };
    tx.prepare_cached(
        "INSERT INTO playbook_health (playbook_id, consecutive_failures, last_error, \
             disabled_reason, disabled_at_ms, updated_at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (playbook_id) DO UPDATE SET \
             consecutive_failures = excluded.consecutive_failures, \
             last_error = excluded.last_error, disabled_reason = excluded.disabled_reason, \
             disabled_at_ms = excluded.disabled_at_ms, updated_at_ms = excluded.updated_at_ms",
    )?
    .execute(params![
        health.playbook_id,
        i64::from(health.consecutive_failures),
        health.last_error,
        reason,
        at_ms,
        now_sql(),
    ])?;
    Ok(())
}

fn health_from_row(row: &Row<'_>) -> Result<PlaybookHealth, Fault> {
    let playbook_id: String = row.get(0)?;
    let reason: Option<String> = row.get(3)?;
    let at_ms: Option<i64> = row.get(4)?;
    let disabled = match reason {
        Some(reason) => Some(PlaybookDisabled {
            reason,
            at_ms: optional_unsigned_from_sql(
                at_ms,
                &format!("the time playbook {playbook_id} was disabled"),
            )?
            .unwrap_or(0),
        }),
        None => None,
    };
    Ok(PlaybookHealth {
        consecutive_failures: unsigned_from_sql(
            row.get(1)?,
            &format!("the failure count of playbook {playbook_id}"),
        )?,
        last_error: row.get(2)?,
        disabled,
        playbook_id,
    })
}

// ----- alert links -----

pub(super) fn link_alert(tx: &Transaction<'_>, link: &AlertLink) -> Result<(), Fault> {
    tx.prepare_cached(
        "INSERT INTO alert_links (system, remote_id, alert_uuid, linked_at_ms) \
         VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (system, remote_id) DO UPDATE SET \
             alert_uuid = excluded.alert_uuid, linked_at_ms = excluded.linked_at_ms",
    )?
    .execute(params![
        link.system,
        link.remote_id,
        link.alert_uuid,
        now_sql()
    ])?;
    Ok(())
}

pub(super) fn linked_alert(
    tx: &Transaction<'_>,
    system: &str,
    remote_id: &str,
) -> Result<Option<String>, Fault> {
    Ok(tx
        .prepare_cached("SELECT alert_uuid FROM alert_links WHERE system = ?1 AND remote_id = ?2")?
        .query_row([system, remote_id], |row| row.get(0))
        .optional()?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reading_a_runs_retries_is_compiled_once_for_every_run() {
        super::super::assert_compiled_once(&super::retries_of_run_sql());
    }
}
