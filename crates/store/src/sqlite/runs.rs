//! The runs and node runs tables: starting or resuming runs, node-run upserts, finishing,
//! and the queries of the API and console.

use alertsync_engine::{NodeRecord, NodeStatus, RunRecord, RunStatus};
use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, Row, Transaction, params, params_from_iter};

use super::{
    Fault, from_json, inbox, ms_to_sql, node_status_to_sql, optional_unsigned_from_sql,
    run_status_from_sql, run_status_to_sql, seq_to_sql, state, to_json, unsigned_from_sql,
};
use crate::model::{
    InboxId, MAX_PAGE_SIZE, NewRun, RunCountFilter, RunCounts, RunDetail, RunId, RunPage, RunQuery,
    RunStart, RunSummary, UnfinishedRun,
};

/// The columns [`summary_from_row`] reads, from the table aliased `r`.
const RUN_COLUMNS: &str = "r.id, r.inbox_id, r.playbook_id, r.trigger_node, r.alert_uuid, \
     r.status, r.started_at_ms, r.ended_at_ms, r.error";

pub(super) fn begin(tx: &Transaction<'_>, new: &NewRun) -> Result<RunStart, Fault> {
    let existing = {
        let mut statement = tx.prepare_cached(&format!(
            "SELECT {RUN_COLUMNS} FROM runs r WHERE r.inbox_id = ?1 AND r.playbook_id = ?2"
        ))?;
        let mut rows = statement.query(params![new.inbox_id.0, new.playbook_id])?;
        match rows.next()? {
            Some(row) => Some(summary_from_row(row)?),
            None => None,
        }
    };
    if let Some(run) = existing {
        return Ok(match run.status {
            RunStatus::Running => RunStart::Resume {
                run: Box::new(unfinished_run(tx, run)?),
            },
            _ => RunStart::Finished { run },
        });
    }
    let alert_uuid: Option<String> = tx
        .prepare_cached("SELECT alert_uuid FROM inbox WHERE id = ?1")?
        .query_row([new.inbox_id.0], |row| row.get(0))
        .optional()?
        .ok_or(Fault::UnknownEvent(new.inbox_id))?;
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO runs (inbox_id, playbook_id, trigger_node, alert_uuid, status, \
                 started_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             RETURNING id",
        )?
        .query_row(
            params![
                new.inbox_id.0,
                new.playbook_id,
                new.trigger_node,
                alert_uuid,
                run_status_to_sql(RunStatus::Running),
                ms_to_sql(new.started_at_ms),
            ],
            |row| row.get(0),
        )?;
    Ok(RunStart::Started { id: RunId(id) })
}

/// Fails with [`Fault::UnknownRun`] unless the run exists.
pub(super) fn require_run(tx: &Transaction<'_>, run: RunId) -> Result<(), Fault> {
    let found: Option<i64> = tx
        .prepare_cached("SELECT 1 FROM runs WHERE id = ?1")?
        .query_row([run.0], |row| row.get(0))
        .optional()?;
    found.map(|_| ()).ok_or(Fault::UnknownRun(run))
}

pub(super) fn upsert_node(
    tx: &Transaction<'_>,
    run: RunId,
    node: &NodeRecord,
) -> Result<(), Fault> {
    let record = to_json(node, "the node record")?;
    tx.prepare_cached(
        "INSERT INTO node_runs (run_id, seq, node_id, name, status, started_at_ms, \
             ended_at_ms, error, record) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT (run_id, seq) DO UPDATE SET \
             node_id = excluded.node_id, name = excluded.name, status = excluded.status, \
             started_at_ms = excluded.started_at_ms, ended_at_ms = excluded.ended_at_ms, \
             error = excluded.error, record = excluded.record",
    )?
    .execute(params![
        run.0,
        seq_to_sql(node.seq),
        node.id,
        node.name,
        node_status_to_sql(node.status),
        ms_to_sql(node.started_at_ms),
        node.ended_at_ms.map(ms_to_sql),
        node.error,
        record,
    ])?;
    Ok(())
}

pub(super) fn finish(tx: &Transaction<'_>, run: RunId, record: &RunRecord) -> Result<(), Fault> {
    let changed = tx
        .prepare_cached("UPDATE runs SET status = ?1, ended_at_ms = ?2, error = ?3 WHERE id = ?4")?
        .execute(params![
            run_status_to_sql(record.status),
            record.ended_at_ms.map(ms_to_sql),
            record.error,
            run.0,
        ])?;
    if changed == 0 {
        return Err(Fault::UnknownRun(run));
    }
    for node in &record.nodes {
        upsert_node(tx, run, node)?;
    }
    // A finished run waits for no retry.
    state::clear_retries_of_run(tx, run)
}

pub(super) fn unfinished(tx: &Transaction<'_>) -> Result<Vec<UnfinishedRun>, Fault> {
    let runs = {
        let mut statement = tx.prepare_cached(&format!(
            "SELECT {RUN_COLUMNS} FROM runs r WHERE r.status = ?1 ORDER BY r.id"
        ))?;
        let mut rows = statement.query([run_status_to_sql(RunStatus::Running)])?;
        let mut runs = Vec::new();
        while let Some(row) = rows.next()? {
            runs.push(summary_from_row(row)?);
        }
        runs
    };
    runs.into_iter()
        .map(|run| unfinished_run(tx, run))
        .collect()
}

fn unfinished_run(tx: &Transaction<'_>, run: RunSummary) -> Result<UnfinishedRun, Fault> {
    let event = inbox::event_of_run(tx, run.inbox_id)?;
    let (completed_nodes, interrupted_nodes) = nodes(tx, run.id)?
        .into_iter()
        .partition(|node| is_completed(node.status));
    let retries = state::retries_of_run(tx, run.id)?;
    Ok(UnfinishedRun {
        run,
        event,
        completed_nodes,
        interrupted_nodes,
        retries,
    })
}

/// Whether a node run ended, so a resumed run must not run it again.
fn is_completed(status: NodeStatus) -> bool {
    match status {
        NodeStatus::Succeeded | NodeStatus::Failed | NodeStatus::Skipped => true,
        NodeStatus::Pending | NodeStatus::Running => false,
    }
}

pub(super) fn detail(tx: &Transaction<'_>, id: RunId) -> Result<Option<RunDetail>, Fault> {
    let run = {
        let mut statement =
            tx.prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs r WHERE r.id = ?1"))?;
        let mut rows = statement.query([id.0])?;
        match rows.next()? {
            Some(row) => summary_from_row(row)?,
            None => return Ok(None),
        }
    };
    Ok(Some(RunDetail {
        nodes: nodes(tx, id)?,
        retries: state::retries_of_run(tx, id)?,
        run,
    }))
}

/// The node runs of a run, in `seq` order.
fn nodes(tx: &Transaction<'_>, run: RunId) -> Result<Vec<NodeRecord>, Fault> {
    let mut statement =
        tx.prepare_cached("SELECT seq, record FROM node_runs WHERE run_id = ?1 ORDER BY seq")?;
    let mut rows = statement.query([run.0])?;
    let mut nodes = Vec::new();
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let record: String = row.get(1)?;
        nodes.push(from_json(
            &record,
            &format!("the record of node run {seq} of run {run}"),
        )?);
    }
    Ok(nodes)
}

pub(super) fn list(tx: &Transaction<'_>, query: &RunQuery) -> Result<RunPage, Fault> {
    let limit = query.limit.min(MAX_PAGE_SIZE);
    if limit == 0 {
        return Ok(RunPage {
            runs: Vec::new(),
            next_before: None,
        });
    }
    let (mut conditions, mut values) =
        filter_conditions(query.playbook_id.as_deref(), query.alert_uuid.as_deref());
    if let Some(status) = query.status {
        conditions.push("r.status = ?");
        values.push(SqlValue::Text(run_status_to_sql(status).to_owned()));
    }
    if let Some(inbox_id) = query.inbox_id {
        conditions.push("r.inbox_id = ?");
        values.push(SqlValue::Integer(inbox_id.0));
    }
    if let Some(before) = query.before {
        conditions.push("r.id < ?");
        values.push(SqlValue::Integer(before.0));
    }
    // One more than the page, to know whether another page follows.
    values.push(SqlValue::Integer(i64::from(limit) + 1));
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM runs r{} ORDER BY r.id DESC LIMIT ?",
        where_clause(&conditions)
    );
    let mut statement = tx.prepare_cached(&sql)?;
    let mut rows = statement.query(params_from_iter(values))?;
    let mut runs = Vec::new();
    while let Some(row) = rows.next()? {
        runs.push(summary_from_row(row)?);
    }
    let next_before = if runs.len() > limit as usize {
        runs.truncate(limit as usize);
        runs.last().map(|run| run.id)
    } else {
        None
    };
    Ok(RunPage { runs, next_before })
}

pub(super) fn counts(tx: &Transaction<'_>, filter: &RunCountFilter) -> Result<RunCounts, Fault> {
    let (conditions, values) =
        filter_conditions(filter.playbook_id.as_deref(), filter.alert_uuid.as_deref());
    let sql = format!(
        "SELECT r.status, COUNT(*) FROM runs r{} GROUP BY r.status",
        where_clause(&conditions)
    );
    let mut statement = tx.prepare_cached(&sql)?;
    let mut rows = statement.query(params_from_iter(values))?;
    let mut counts = RunCounts::default();
    while let Some(row) = rows.next()? {
        let status: String = row.get(0)?;
        let count: u64 = unsigned_from_sql(row.get(1)?, "a run count")?;
        match run_status_from_sql(&status)? {
            RunStatus::Running => counts.running = count,
            RunStatus::Succeeded => counts.succeeded = count,
            RunStatus::Failed => counts.failed = count,
            RunStatus::Cancelled => counts.cancelled = count,
        }
    }
    Ok(counts)
}

/// Conditions on the playbook and the alert shared by listing and counting.
fn filter_conditions(
    playbook_id: Option<&str>,
    alert_uuid: Option<&str>,
) -> (Vec<&'static str>, Vec<SqlValue>) {
    let mut conditions = Vec::new();
    let mut values = Vec::new();
    if let Some(playbook_id) = playbook_id {
        conditions.push("r.playbook_id = ?");
        values.push(SqlValue::Text(playbook_id.to_owned()));
    }
    if let Some(alert_uuid) = alert_uuid {
        conditions.push("r.alert_uuid = ?");
        values.push(SqlValue::Text(alert_uuid.to_owned()));
    }
    (conditions, values)
}

fn where_clause(conditions: &[&str]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    }
}

/// Reads the [`RUN_COLUMNS`] of a row.
fn summary_from_row(row: &Row<'_>) -> Result<RunSummary, Fault> {
    let id = RunId(row.get(0)?);
    let status: String = row.get(5)?;
    Ok(RunSummary {
        id,
        inbox_id: InboxId(row.get(1)?),
        playbook_id: row.get(2)?,
        trigger_node: row.get(3)?,
        alert_uuid: row.get(4)?,
        status: run_status_from_sql(&status)?,
        started_at_ms: unsigned_from_sql(row.get(6)?, &format!("the start of run {id}"))?,
        ended_at_ms: optional_unsigned_from_sql(row.get(7)?, &format!("the end of run {id}"))?,
        error: row.get(8)?,
    })
}
