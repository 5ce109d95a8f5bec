//! The run queue shared by every instance on the database: runs queued with their event,
//! claimed in order with `FOR UPDATE SKIP LOCKED` (for each alert and playbook only the
//! oldest open run; none of a disabled playbook; none another live instance holds), put
//! aside while a destination fails, finished, repeated, and the counts `/healthz` reports.
//!
//! A claim is the claiming instance's id in `runs.claimed_by`. It counts while that
//! instance lives ([`LIVE_INSTANCES`]) and has the run in hand; a run held by an instance
//! that died is ready again, and one it left running counts an interruption. A run whose
//! claim committed but whose answer was lost is not in hand: its instance claims it again.
//! A run's end, park or release by an instance whose claim another live instance has taken
//! since is not applied: the other instance runs it (fencing), so one alert's runs never
//! run side by side; nor is an end or park of a run that already ended (its claimer may
//! have lost it and come back).

use alertsync_engine::{Hold, NodeStatus, RunRecord, RunStatus};

use super::{Fault, Tx, execute, inbox, row_opt, rows, runs, state};
use crate::fault::{ms_to_sql, now_sql, optional_unsigned_from_sql, unsigned_from_sql};
use crate::model::{ClaimedRun, InboxId, QueueHealth, Rerun, RunId, RunTarget};

/// The statuses of a run that still has work ahead, as SQL.
const OPEN: &str = "('queued', 'running', 'waiting')";

/// The instances whose claims count.
const LIVE_INSTANCES: &str = "(SELECT id FROM live_instances)";

/// Queues a run of `target` for event `id`.
pub(super) async fn insert_run(
    tx: &Tx<'_>,
    id: InboxId,
    alert_uuid: Option<&str>,
    target: &RunTarget,
    queued_at_ms: i64,
) -> Result<RunId, Fault> {
    let row = row_opt(
        tx,
        "INSERT INTO runs (inbox_id, playbook_id, trigger_node, alert_uuid, status, \
             queued_at_ms) \
         VALUES ($1, $2, $3, $4, 'queued', $5) RETURNING id",
        &[
            &id.0,
            &target.playbook_id,
            &target.trigger_node,
            &alert_uuid,
            &queued_at_ms,
        ],
    )
    .await?
    .ok_or_else(|| Fault::Corrupt("inserting a run returned no id".to_owned()))?;
    Ok(RunId(row.try_get(0)?))
}

/// Tells every instance, once this transaction commits, that runs were queued (one
/// notification per transaction: PostgreSQL folds identical ones).
pub(super) async fn announce(tx: &Tx<'_>) -> Result<(), Fault> {
    execute(
        tx,
        &format!("SELECT pg_notify('{}', '')", super::cluster::QUEUE_CHANNEL),
        &[],
    )
    .await?;
    Ok(())
}

/// Claims up to `limit` runs that may start now for `instance`, oldest first, and loads
/// them; `held` are the runs the instance has in hand, and any other run the database says
/// it claimed is claimed anew (see [`crate::claims`]). A run whose stored event or records
/// cannot be read ends as a dead letter instead.
pub(super) async fn claim(
    tx: &Tx<'_>,
    instance: &str,
    held: &[i64],
    limit: u32,
) -> Result<Vec<ClaimedRun>, Fault> {
    let picked = rows(
        tx,
        &claim_sql(),
        &[&instance, &now_sql(), &i64::from(limit), &held],
    )
    .await?;
    let mut claimed = Vec::with_capacity(picked.len());
    for row in picked {
        let id = RunId(row.try_get(0)?);
        match claimed_run(tx, id, row.try_get(1)?).await {
            Ok(run) => claimed.push(run),
            Err(Fault::Corrupt(detail)) => bury_unreadable(tx, id, &detail).await?,
            Err(other) => return Err(other),
        }
    }
    Ok(claimed)
}

/// What [`claim`] runs: `$1` the claiming instance, `$2` now, `$3` how many, `$4` the
/// runs it has in hand.
fn claim_sql() -> String {
    format!(
        "WITH picked AS ( \
             SELECT r.id FROM runs r \
             WHERE r.status IN {OPEN} \
               AND (r.claimed_by IS NULL OR r.claimed_by NOT IN {LIVE_INSTANCES} \
                    OR (r.claimed_by = $1 AND r.id <> ALL($4::bigint[]))) \
               AND (r.due_at_ms IS NULL OR r.due_at_ms <= $2) \
               AND NOT EXISTS (SELECT 1 FROM playbook_health h \
                   WHERE h.playbook_id = r.playbook_id AND h.disabled_reason IS NOT NULL) \
               AND (r.alert_uuid IS NULL OR NOT EXISTS (SELECT 1 FROM runs e \
                   WHERE e.alert_uuid = r.alert_uuid AND e.playbook_id = r.playbook_id \
                     AND e.status IN {OPEN} AND e.id < r.id)) \
             ORDER BY r.id LIMIT $3 \
             FOR UPDATE OF r SKIP LOCKED) \
         UPDATE runs r SET claimed_by = $1, \
             interruptions = r.interruptions + \
                 CASE WHEN r.status = 'running' AND r.claimed_by IS NOT NULL THEN 1 ELSE 0 END \
         FROM picked WHERE r.id = picked.id \
         RETURNING r.id, r.reuse_succeeded"
    )
}

/// The condition that a run is not held by a live instance other than `$instance_param`:
/// what an instance may still release.
fn not_held_elsewhere(instance_param: &str) -> String {
    format!(
        "(claimed_by IS NULL OR claimed_by = {instance_param} \
          OR claimed_by NOT IN {LIVE_INSTANCES})"
    )
}

/// The condition that `$instance_param` may still end or park a run: it is open and not
/// held by another live instance. A run that ended is not opened or ended again: an
/// instance whose claim lapsed may come back after another one finished the run.
fn settleable_by(instance_param: &str) -> String {
    format!(
        "(status IN {OPEN} AND {})",
        not_held_elsewhere(instance_param)
    )
}

/// Ends a run whose stored event or records cannot be read as a dead letter that says so:
/// one damaged row must not stop the whole queue.
async fn bury_unreadable(tx: &Tx<'_>, run: RunId, detail: &str) -> Result<(), Fault> {
    let now = alertsync_engine::now_ms();
    let error = format!("what the store holds for this run cannot be read: {detail}");
    tracing::error!("run {run} is a dead letter: {error}");
    inbox::lock_event_of_run(tx, run).await?;
    let ended = Ending {
        status: RunStatus::Dead,
        error: Some(&error),
        ended_at_ms: Some(now),
        hold: None,
        started_at_ms: now,
    };
    let inbox_id = set_status(tx, run, &ended, None)
        .await?
        .ok_or(Fault::UnknownRun(run))?;
    state::clear_retries_of_run(tx, run).await?;
    inbox::complete_if_done(tx, inbox_id).await
}

/// A claimed run with its event and what an earlier attempt left.
async fn claimed_run(tx: &Tx<'_>, id: RunId, reuse_succeeded: bool) -> Result<ClaimedRun, Fault> {
    let run = runs::summary(tx, id).await?.ok_or(Fault::UnknownRun(id))?;
    let event = inbox::event_of_run(tx, run.inbox_id).await?;
    let (mut completed_nodes, interrupted_nodes): (Vec<_>, Vec<_>) = runs::nodes(tx, id)
        .await?
        .into_iter()
        .partition(|node| node.status.is_completed());
    let fresh = completed_nodes.is_empty() && interrupted_nodes.is_empty();
    if let (true, true, Some(earlier)) = (fresh, reuse_succeeded, run.rerun_of) {
        completed_nodes.extend(
            runs::nodes(tx, earlier)
                .await?
                .into_iter()
                .filter(|node| node.status == NodeStatus::Succeeded),
        );
    }
    Ok(ClaimedRun {
        retries: state::retries_of_run(tx, id).await?,
        completed_nodes,
        interrupted_nodes,
        event,
        run,
    })
}

/// Marks a run claimed by `instance` as running from `at_ms` (its first start is kept).
pub(super) async fn started(
    tx: &Tx<'_>,
    run: RunId,
    at_ms: u64,
    instance: &str,
    label: &str,
) -> Result<(), Fault> {
    execute(
        tx,
        "UPDATE runs SET status = 'running', started_at_ms = COALESCE(started_at_ms, $1), \
             due_at_ms = NULL, waiting_on = NULL, ran_by = $4 \
         WHERE id = $2 AND claimed_by = $3 AND status IN ('queued', 'running', 'waiting')",
        &[&ms_to_sql(at_ms), &run.0, &instance, &label],
    )
    .await?;
    Ok(())
}

/// How a run ends or pauses.
struct Ending<'a> {
    status: RunStatus,
    error: Option<&'a str>,
    ended_at_ms: Option<u64>,
    hold: Option<&'a Hold>,
    started_at_ms: u64,
}

/// Ends a run with its record and completes its event if that was its last open run;
/// nothing if another live instance holds the run now.
pub(super) async fn finish(
    tx: &Tx<'_>,
    run: RunId,
    record: &RunRecord,
    instance: &str,
) -> Result<(), Fault> {
    let ending = Ending {
        status: record.status,
        error: record.error.as_deref(),
        ended_at_ms: record.ended_at_ms.or(Some(alertsync_engine::now_ms())),
        hold: None,
        started_at_ms: record.started_at_ms,
    };
    let Some(inbox_id) = settle(tx, run, &ending, instance).await? else {
        return Ok(());
    };
    runs::replace_nodes(tx, run, &record.nodes).await?;
    state::clear_retries_of_run(tx, run).await?;
    inbox::complete_if_done(tx, inbox_id).await
}

/// Puts a run aside until its hold is due.
pub(super) async fn park(
    tx: &Tx<'_>,
    run: RunId,
    record: &RunRecord,
    hold: &Hold,
    instance: &str,
) -> Result<(), Fault> {
    let ending = Ending {
        status: RunStatus::Waiting,
        error: record.error.as_deref(),
        ended_at_ms: None,
        hold: Some(hold),
        started_at_ms: record.started_at_ms,
    };
    if settle(tx, run, &ending, instance).await?.is_none() {
        return Ok(());
    }
    runs::replace_nodes(tx, run, &record.nodes).await?;
    // Only the retry state of the nodes that wait is still meaningful.
    let waiting: Vec<usize> = record
        .nodes
        .iter()
        .filter(|node| node.status == NodeStatus::Waiting)
        .map(|node| node.seq)
        .collect();
    state::keep_retries_of(tx, run, &waiting).await
}

/// [`set_status`] for `instance`, unless the run ended or another live instance holds it
/// (`None`); fails if there is no such run.
async fn settle(
    tx: &Tx<'_>,
    run: RunId,
    ending: &Ending<'_>,
    instance: &str,
) -> Result<Option<InboxId>, Fault> {
    inbox::lock_event_of_run(tx, run).await?;
    match set_status(tx, run, ending, Some(instance)).await? {
        Some(inbox_id) => Ok(Some(inbox_id)),
        None => held_elsewhere(tx, run).await.map(|_| None),
    }
}

/// Fails with [`Fault::UnknownRun`] unless the run exists (it is then held elsewhere).
async fn held_elsewhere(tx: &Tx<'_>, run: RunId) -> Result<(), Fault> {
    runs::require_run(tx, run).await?;
    tracing::warn!(
        "run {run} is held by another instance now, or ended (this instance's claim \
         lapsed): its outcome here is not recorded, the other instance's is"
    );
    Ok(())
}

/// Updates a run's status and releases its claim; returns its event, or `None` if the run
/// is missing or (with `instance`) ended or held by another live instance.
async fn set_status(
    tx: &Tx<'_>,
    run: RunId,
    ending: &Ending<'_>,
    instance: Option<&str>,
) -> Result<Option<InboxId>, Fault> {
    let sql = format!(
        "UPDATE runs SET status = $1, error = $2, ended_at_ms = $3, due_at_ms = $4, \
             waiting_on = $5, claimed_by = NULL, \
             started_at_ms = COALESCE(started_at_ms, $6) \
         WHERE id = $7 AND ($8::text IS NULL OR {}) RETURNING inbox_id",
        settleable_by("$8")
    );
    let row = row_opt(
        tx,
        &sql,
        &[
            &ending.status.as_str(),
            &ending.error,
            &ending.ended_at_ms.map(ms_to_sql),
            &ending.hold.map(|h| ms_to_sql(h.until_ms)),
            &ending.hold.map(|h| h.destination.as_str()),
            &ms_to_sql(ending.started_at_ms),
            &run.0,
            &instance,
        ],
    )
    .await?;
    row.map(|row| row.try_get(0).map(InboxId))
        .transpose()
        .map_err(Fault::from)
}

/// Releases the claim of a run (a shutdown stopped it): the next claim resumes it.
pub(super) async fn release(tx: &Tx<'_>, run: RunId, instance: &str) -> Result<(), Fault> {
    let sql = format!(
        "UPDATE runs SET claimed_by = NULL WHERE id = $1 AND {}",
        not_held_elsewhere("$2")
    );
    if execute(tx, &sql, &[&run.0, &instance]).await? == 0 {
        held_elsewhere(tx, run).await?;
    }
    Ok(())
}

/// Removes a run that did not apply, and completes its event if it was the last open run.
pub(super) async fn discard(tx: &Tx<'_>, run: RunId) -> Result<(), Fault> {
    inbox::lock_event_of_run(tx, run).await?;
    let row = row_opt(tx, "SELECT inbox_id FROM runs WHERE id = $1", &[&run.0])
        .await?
        .ok_or(Fault::UnknownRun(run))?;
    let inbox_id = InboxId(row.try_get(0)?);
    runs::delete(tx, run).await?;
    inbox::complete_if_done(tx, inbox_id).await
}

/// Queues a run again for the event of `rerun.of`; a dead letter replayed is dismissed.
pub(super) async fn rerun(tx: &Tx<'_>, rerun: Rerun) -> Result<RunId, Fault> {
    let row = row_opt(
        tx,
        "INSERT INTO runs (inbox_id, playbook_id, trigger_node, alert_uuid, status, \
             queued_at_ms, rerun_of, reuse_succeeded, alert_account, alert_short_id, \
             alert_title, alert_urgency) \
         SELECT inbox_id, playbook_id, trigger_node, alert_uuid, 'queued', $1, id, $2, \
             alert_account, alert_short_id, alert_title, alert_urgency \
         FROM runs WHERE id = $3 \
         RETURNING id, inbox_id",
        &[&now_sql(), &rerun.only_failed, &rerun.of.0],
    )
    .await?
    .ok_or(Fault::UnknownRun(rerun.of))?;
    let (id, inbox_id): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    inbox::reopen(tx, InboxId(inbox_id)).await?;
    announce(tx).await?;
    dismiss(tx, rerun.of).await?;
    Ok(RunId(id))
}

/// Marks a dead letter as handled; `false` if the run is not an unhandled dead letter.
pub(super) async fn dismiss(tx: &Tx<'_>, run: RunId) -> Result<bool, Fault> {
    let changed = execute(
        tx,
        "UPDATE runs SET dismissed_at_ms = $1 \
         WHERE id = $2 AND status = 'dead' AND dismissed_at_ms IS NULL",
        &[&now_sql(), &run.0],
    )
    .await?;
    Ok(changed > 0)
}

/// Makes the runs waiting for `destination` due now.
pub(super) async fn wake(tx: &Tx<'_>, destination: &str) -> Result<u64, Fault> {
    execute(
        tx,
        "UPDATE runs SET due_at_ms = $1 \
         WHERE status = 'waiting' AND waiting_on = $2 AND due_at_ms > $1",
        &[&now_sql(), &destination],
    )
    .await
}

pub(super) async fn health(tx: &Tx<'_>) -> Result<QueueHealth, Fault> {
    let sql = format!(
        "SELECT \
             COUNT(*) FILTER (WHERE r.status = 'queued' AND h.playbook_id IS NULL), \
             COUNT(*) FILTER (WHERE r.status = 'running'), \
             COUNT(*) FILTER (WHERE r.status = 'waiting' AND h.playbook_id IS NULL), \
             COUNT(*) FILTER (WHERE r.status <> 'running' AND h.playbook_id IS NOT NULL), \
             MIN(r.queued_at_ms) FILTER (WHERE r.status = 'queued' AND h.playbook_id IS NULL), \
             MIN(r.queued_at_ms) FILTER (WHERE r.status = 'waiting' AND h.playbook_id IS NULL), \
             (SELECT COUNT(*) FROM runs WHERE status = 'dead' AND dismissed_at_ms IS NULL), \
             (SELECT received_at_ms FROM inbox ORDER BY id DESC LIMIT 1) \
         FROM runs r LEFT JOIN playbook_health h \
             ON h.playbook_id = r.playbook_id AND h.disabled_reason IS NOT NULL \
         WHERE r.status IN {OPEN}"
    );
    let found = rows(tx, &sql, &[]).await?;
    let row = found
        .first()
        .ok_or_else(|| Fault::Corrupt("the queue's counts answered nothing".to_owned()))?;
    Ok(QueueHealth {
        queued: unsigned_from_sql(row.try_get(0)?, "the queued run count")?,
        running: unsigned_from_sql(row.try_get(1)?, "the running run count")?,
        waiting: unsigned_from_sql(row.try_get(2)?, "the waiting run count")?,
        held_by_disabled_playbooks: unsigned_from_sql(row.try_get(3)?, "the held run count")?,
        dead_letters: unsigned_from_sql(row.try_get(6)?, "the dead letter count")?,
        oldest_queued_at_ms: optional_unsigned_from_sql(row.try_get(4)?, "the oldest queue time")?,
        oldest_waiting_since_ms: optional_unsigned_from_sql(row.try_get(5)?, "the oldest wait")?,
        last_event_at_ms: optional_unsigned_from_sql(row.try_get(7)?, "the last event time")?,
    })
}
