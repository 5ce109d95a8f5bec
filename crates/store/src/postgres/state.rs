//! Small state tables: delivery retry state, trigger checkpoints, playbook health, alert
//! links.

use tokio_postgres::Row;

use super::{Fault, Tx, execute, row_opt, rows};
use crate::fault::{ms_to_sql, now_sql, optional_unsigned_from_sql, seq_to_sql, unsigned_from_sql};
use crate::model::{
    AlertLink, Checkpoint, ClusterInstance, ClusterLease, ClusterView, PlaybookDisabled,
    PlaybookHealth, RetryState, RunId,
};

// ----- retry state -----

/// The columns [`retry_from_row`] reads.
const RETRY_COLUMNS: &str = "run_id, seq, node_id, attempts, next_attempt_at_ms, last_error, \
     updated_at_ms, operation, first_failed_at_ms";

pub(super) async fn save_retry(tx: &Tx<'_>, retry: &RetryState) -> Result<(), Fault> {
    execute(
        tx,
        "INSERT INTO node_retries (run_id, seq, node_id, attempts, next_attempt_at_ms, \
             last_error, updated_at_ms, operation, first_failed_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (run_id, seq) DO UPDATE SET \
             node_id = excluded.node_id, attempts = excluded.attempts, \
             next_attempt_at_ms = excluded.next_attempt_at_ms, \
             last_error = excluded.last_error, updated_at_ms = excluded.updated_at_ms, \
             operation = excluded.operation, first_failed_at_ms = excluded.first_failed_at_ms",
        &[
            &retry.run_id.0,
            &seq_to_sql(retry.seq),
            &retry.node_id,
            &i64::from(retry.attempts),
            &retry.next_attempt_at_ms.map(ms_to_sql),
            &retry.last_error,
            &ms_to_sql(retry.updated_at_ms),
            &retry.operation,
            &retry.first_failed_at_ms.map(ms_to_sql),
        ],
    )
    .await?;
    Ok(())
}

/// The retry state of a run's node runs, in `seq` order.
pub(super) async fn retries_of_run(tx: &Tx<'_>, run: RunId) -> Result<Vec<RetryState>, Fault> {
    let sql = format!("SELECT {RETRY_COLUMNS} FROM node_retries WHERE run_id = $1 ORDER BY seq");
    rows(tx, &sql, &[&run.0])
        .await?
        .iter()
        .map(retry_from_row)
        .collect()
}

pub(super) async fn clear_retry(tx: &Tx<'_>, run: RunId, seq: usize) -> Result<(), Fault> {
    execute(
        tx,
        "DELETE FROM node_retries WHERE run_id = $1 AND seq = $2",
        &[&run.0, &seq_to_sql(seq)],
    )
    .await?;
    Ok(())
}

/// Drops the retry state of a run's node runs but those at `seqs`.
pub(super) async fn keep_retries_of(tx: &Tx<'_>, run: RunId, seqs: &[usize]) -> Result<(), Fault> {
    let seqs: Vec<i64> = seqs.iter().map(|seq| seq_to_sql(*seq)).collect();
    execute(
        tx,
        "DELETE FROM node_retries WHERE run_id = $1 AND NOT (seq = ANY($2))",
        &[&run.0, &seqs],
    )
    .await?;
    Ok(())
}

pub(super) async fn clear_retries_of_run(tx: &Tx<'_>, run: RunId) -> Result<(), Fault> {
    execute(tx, "DELETE FROM node_retries WHERE run_id = $1", &[&run.0]).await?;
    Ok(())
}

fn retry_from_row(row: &Row) -> Result<RetryState, Fault> {
    let run_id = RunId(row.try_get(0)?);
    let seq: i64 = row.try_get(1)?;
    let what =
        |field: &str| format!("the {field} of the retry state of node run {seq} of run {run_id}");
    Ok(RetryState {
        run_id,
        seq: unsigned_from_sql(seq, &what("position"))?,
        node_id: row.try_get(2)?,
        attempts: unsigned_from_sql(row.try_get(3)?, &what("attempt count"))?,
        next_attempt_at_ms: optional_unsigned_from_sql(
            row.try_get(4)?,
            &what("next attempt time"),
        )?,
        last_error: row.try_get(5)?,
        updated_at_ms: unsigned_from_sql(row.try_get(6)?, &what("update time"))?,
        operation: row.try_get(7)?,
        first_failed_at_ms: optional_unsigned_from_sql(
            row.try_get(8)?,
            &what("first failure time"),
        )?,
    })
}

// ----- checkpoints -----

pub(super) async fn checkpoint(tx: &Tx<'_>, key: &str) -> Result<Option<String>, Fault> {
    let row = row_opt(tx, "SELECT value FROM checkpoints WHERE key = $1", &[&key]).await?;
    Ok(row.map(|row| row.try_get(0)).transpose()?)
}

pub(super) async fn set_checkpoint(tx: &Tx<'_>, checkpoint: &Checkpoint) -> Result<(), Fault> {
    execute(
        tx,
        "INSERT INTO checkpoints (key, value, updated_at_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO UPDATE SET \
             value = excluded.value, updated_at_ms = excluded.updated_at_ms",
        &[&checkpoint.key, &checkpoint.value, &now_sql()],
    )
    .await?;
    Ok(())
}

pub(super) async fn checkpoints_under(tx: &Tx<'_>, prefix: &str) -> Result<Vec<Checkpoint>, Fault> {
    let found = rows(
        tx,
        "SELECT key, value FROM checkpoints WHERE left(key, length($1)) = $1 \
         ORDER BY key COLLATE \"C\"",
        &[&prefix],
    )
    .await?;
    found
        .iter()
        .map(|row| {
            Ok(Checkpoint {
                key: row.try_get(0)?,
                value: row.try_get(1)?,
            })
        })
        .collect()
}

pub(super) async fn forget_checkpoints(
    tx: &Tx<'_>,
    prefix: &str,
    updated_before_ms: u64,
) -> Result<u64, Fault> {
    execute(
        tx,
        "DELETE FROM checkpoints WHERE left(key, length($1)) = $1 AND updated_at_ms < $2",
        &[&prefix, &ms_to_sql(updated_before_ms)],
    )
    .await
}

// ----- playbook health -----

pub(super) async fn record_failure(
    tx: &Tx<'_>,
    playbook_id: &str,
    error: &str,
) -> Result<PlaybookHealth, Fault> {
    let health = health(tx, playbook_id).await?.after_failure(error);
    save_health(tx, &health).await?;
    Ok(health)
}

pub(super) async fn record_success(tx: &Tx<'_>, playbook_id: &str) -> Result<(), Fault> {
    let health = health(tx, playbook_id).await?.after_success();
    save_health(tx, &health).await
}

pub(super) async fn enable(tx: &Tx<'_>, playbook_id: &str) -> Result<PlaybookHealth, Fault> {
    let health = PlaybookHealth::healthy(playbook_id);
    save_health(tx, &health).await?;
    Ok(health)
}

pub(super) async fn disable(
    tx: &Tx<'_>,
    playbook_id: &str,
    reason: &str,
) -> Result<PlaybookHealth, Fault> {
    let health = health(tx, playbook_id).await?;
    match health.clone().disabled_for(reason) {
        Some(disabled) => {
            save_health(tx, &disabled).await?;
            Ok(disabled)
        }
        None => Ok(health),
    }
}

/// The columns [`health_from_row`] reads.
const HEALTH_COLUMNS: &str =
    "playbook_id, consecutive_failures, last_error, disabled_reason, disabled_at_ms";

/// A playbook's health; its row is locked until the transaction ends, so that two
/// instances counting failures of one playbook at once count both.
pub(super) async fn health(tx: &Tx<'_>, playbook_id: &str) -> Result<PlaybookHealth, Fault> {
    let sql =
        format!("SELECT {HEALTH_COLUMNS} FROM playbook_health WHERE playbook_id = $1 FOR UPDATE");
    match row_opt(tx, &sql, &[&playbook_id]).await? {
        Some(row) => health_from_row(&row),
        None => Ok(PlaybookHealth::healthy(playbook_id)),
    }
}

pub(super) async fn all_health(tx: &Tx<'_>) -> Result<Vec<PlaybookHealth>, Fault> {
    let sql = format!("SELECT {HEALTH_COLUMNS} FROM playbook_health ORDER BY playbook_id");
    rows(tx, &sql, &[])
        .await?
        .iter()
        .map(health_from_row)
        .collect()
}

async fn save_health(tx: &Tx<'_>, health: &PlaybookHealth) -> Result<(), Fault> {
    let (reason, at_ms) = match &health.disabled {
        Some(disabled) => (
            Some(disabled.reason.as_str()),
            Some(ms_to_sql(disabled.at_ms)),
        ),
        None => (None, None),
    };
    execute(
        tx,
        "INSERT INTO playbook_health (playbook_id, consecutive_failures, last_error, \
             disabled_reason, disabled_at_ms, updated_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (playbook_id) DO UPDATE SET \
             consecutive_failures = excluded.consecutive_failures, \
             last_error = excluded.last_error, disabled_reason = excluded.disabled_reason, \
             disabled_at_ms = excluded.disabled_at_ms, updated_at_ms = excluded.updated_at_ms",
        &[
            &health.playbook_id,
            &i64::from(health.consecutive_failures),
            &health.last_error,
            &reason,
            &at_ms,
            &now_sql(),
        ],
    )
    .await?;
    Ok(())
}

fn health_from_row(row: &Row) -> Result<PlaybookHealth, Fault> {
    let playbook_id: String = row.try_get(0)?;
    let reason: Option<String> = row.try_get(3)?;
    let at_ms: Option<i64> = row.try_get(4)?;
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
            row.try_get(1)?,
            &format!("the failure count of playbook {playbook_id}"),
        )?,
        last_error: row.try_get(2)?,
        disabled,
        playbook_id,
    })
}

// ----- shared quotas -----

/// Counts one request to `slot` if fewer than `limit` were counted in the `window` before
/// now, by the database's clock (instances' clocks may differ); else answers how long until
/// the oldest of them leaves the window. Requests to one slot are counted one at a time.
pub(super) async fn take_quota(
    tx: &Tx<'_>,
    slot: &str,
    limit: u32,
    window: std::time::Duration,
) -> Result<Option<std::time::Duration>, Fault> {
    execute(
        tx,
        "SELECT pg_advisory_xact_lock(5, hashtext(current_schema() || '/' || $1))",
        &[&slot],
    )
    .await?;
    let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
    let found = rows(
        tx,
        "WITH now AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms), \
              gone AS (DELETE FROM quota_sends WHERE slot = $1 \
                           AND sent_at_ms <= (SELECT ms FROM now) - $2) \
         SELECT (SELECT ms FROM now), COUNT(*), MIN(sent_at_ms) FROM quota_sends \
         WHERE slot = $1 AND sent_at_ms > (SELECT ms FROM now) - $2",
        &[&slot, &window_ms],
    )
    .await?;
    let row = found
        .first()
        .ok_or_else(|| Fault::Corrupt("counting a quota answered nothing".to_owned()))?;
    let (now, count, oldest): (i64, i64, Option<i64>) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    if count < i64::from(limit) {
        execute(
            tx,
            "INSERT INTO quota_sends (slot, sent_at_ms) VALUES ($1, $2)",
            &[&slot, &now],
        )
        .await?;
        return Ok(None);
    }
    let free_at = oldest.unwrap_or(now).saturating_add(window_ms);
    let wait_ms = u64::try_from(free_at.saturating_sub(now))
        .unwrap_or(0)
        .max(1);
    Ok(Some(std::time::Duration::from_millis(wait_ms)))
}

// ----- alert links -----

pub(super) async fn link_alert(tx: &Tx<'_>, link: &AlertLink) -> Result<(), Fault> {
    execute(
        tx,
        "INSERT INTO alert_links (system, remote_id, alert_uuid, linked_at_ms) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (system, remote_id) DO UPDATE SET \
             alert_uuid = excluded.alert_uuid, linked_at_ms = excluded.linked_at_ms",
        &[&link.system, &link.remote_id, &link.alert_uuid, &now_sql()],
    )
    .await?;
    Ok(())
}

pub(super) async fn linked_alert(
    tx: &Tx<'_>,
    system: &str,
    remote_id: &str,
) -> Result<Option<String>, Fault> {
    let row = row_opt(
        tx,
        "SELECT alert_uuid FROM alert_links WHERE system = $1 AND remote_id = $2",
        &[&system, &remote_id],
    )
    .await?;
    Ok(row.map(|row| row.try_get(0)).transpose()?)
}

// ----- the cluster -----

/// Instances not seen for this long are left out of the cluster view (a day).
const FORGET_INSTANCES_AFTER_MS: i64 = 86_400_000;

/// The instances seen within a day, newest first, and every lease, as `this_instance` sees
/// them.
pub(super) async fn cluster(tx: &Tx<'_>, this_instance: String) -> Result<ClusterView, Fault> {
    let instances = rows(
        tx,
        "SELECT i.id, i.label, i.host, i.pid, i.started_at_ms, i.seen_at_ms, \
             i.id IN (SELECT id FROM live_instances) \
         FROM instances i WHERE i.seen_at_ms > $1 ORDER BY i.started_at_ms DESC",
        &[&(now_sql() - FORGET_INSTANCES_AFTER_MS)],
    )
    .await?
    .iter()
    .map(|row| {
        Ok(ClusterInstance {
            id: row.try_get(0)?,
            label: row.try_get(1)?,
            host: row.try_get(2)?,
            pid: unsigned_from_sql(row.try_get(3)?, "an instance's process id")?,
            started_at_ms: unsigned_from_sql(row.try_get(4)?, "an instance's start")?,
            seen_at_ms: unsigned_from_sql(row.try_get(5)?, "when an instance was seen")?,
            alive: row.try_get(6)?,
        })
    })
    .collect::<Result<_, Fault>>()?;
    let leases = rows(
        tx,
        "SELECT l.name, l.holder, l.acquired_at_ms, EXISTS ( \
             SELECT 1 FROM pg_locks k WHERE k.locktype = 'advisory' AND k.granted AND k.classid = 2 \
               AND k.objsubid = 2 \
               AND k.objid = (hashtext(current_schema() || '/' || l.name))::oid \
               AND k.database = (SELECT oid FROM pg_database \
                                 WHERE datname = current_database())) \
         FROM leases l ORDER BY l.name",
        &[],
    )
    .await?
    .iter()
    .map(|row| {
        Ok(ClusterLease {
            name: row.try_get(0)?,
            holder: row.try_get(1)?,
            acquired_at_ms: unsigned_from_sql(row.try_get(2)?, "when a lease was taken")?,
            held: row.try_get(3)?,
        })
    })
    .collect::<Result<_, Fault>>()?;
    Ok(ClusterView {
        this_instance,
        instances,
        leases,
    })
}
