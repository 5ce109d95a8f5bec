//! The runs and node runs tables: node-run upserts, the alert a run read, and the queries
//! of the API and console (one run with its node runs, pages of runs, counts). The queue's
//! side of the runs table (claims, holds, ends) is in [`super::queue`].

use alertsync_engine::{NodeRecord, RunStatus};
use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, Row, Transaction, params, params_from_iter};
use serde_json::Value;

use super::{
    Fault, from_json, ms_to_sql, optional_unsigned_from_sql, seq_to_sql, state, to_json,
    unsigned_from_sql,
};
use crate::model::{
    InboxId, MAX_PAGE_SIZE, RunAlert, RunCountFilter, RunCounts, RunDetail, RunId, RunPage,
    RunQuery, RunSummary,
};

/// The columns [`summary_from_row`] reads, from the table aliased `r`.
pub(super) const RUN_COLUMNS: &str = "r.id, r.inbox_id, r.playbook_id, r.trigger_node, \
     r.alert_uuid, r.status, r.queued_at_ms, r.started_at_ms, r.ended_at_ms, r.error, \
     r.due_at_ms, r.waiting_on, r.interruptions, r.rerun_of, r.dismissed_at_ms, \
     r.alert_account, r.alert_short_id, r.alert_title, r.alert_urgency";

/// One run without its node runs.
pub(super) fn summary(tx: &Transaction<'_>, id: RunId) -> Result<Option<RunSummary>, Fault> {
    let mut statement =
        tx.prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs r WHERE r.id = ?1"))?;
    let mut rows = statement.query([id.0])?;
    match rows.next()? {
        Some(row) => Ok(Some(summary_from_row(row)?)),
        None => Ok(None),
    }
}

/// Fails with [`Fault::UnknownRun`] unless the run exists.
pub(super) fn require_run(tx: &Transaction<'_>, run: RunId) -> Result<(), Fault> {
    let found: Option<i64> = tx
        .prepare_cached("SELECT 1 FROM runs WHERE id = ?1")?
        .query_row([run.0], |row| row.get(0))
        .optional()?;
    found.map(|_| ()).ok_or(Fault::UnknownRun(run))
}

/// Records what a run read of its alert.
pub(super) fn set_alert(tx: &Transaction<'_>, run: RunId, alert: &RunAlert) -> Result<(), Fault> {
    tx.prepare_cached(
        "UPDATE runs SET alert_account = ?1, alert_short_id = ?2, alert_title = ?3, \
             alert_urgency = ?4 \
         WHERE id = ?5",
    )?
    .execute(params![
        alert.account,
        alert.short_id,
        alert.title,
        alert.urgency,
        run.0
    ])?;
    Ok(())
}

/// Writes node run `node.seq` of `run`, unless the row already holds this very record: a
/// run's end repeats every node record its progress already wrote, and leaving the
/// unchanged rows alone spares their rewrite (and, on SQLite, their pages in the log).
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
             error = excluded.error, record = excluded.record \
         WHERE node_runs.record <> excluded.record",
    )?
    .execute(params![
        run.0,
        seq_to_sql(node.seq),
        node.id,
        node.name,
        node.status.as_str(),
        ms_to_sql(node.started_at_ms),
        node.ended_at_ms.map(ms_to_sql),
        node.error,
        record,
    ])?;
    Ok(())
}

/// Makes the node runs of `run` exactly `nodes` (a resumed attempt numbers them anew).
pub(super) fn replace_nodes(
    tx: &Transaction<'_>,
    run: RunId,
    nodes: &[NodeRecord],
) -> Result<(), Fault> {
    for node in nodes {
        upsert_node(tx, run, node)?;
    }
    tx.prepare_cached("DELETE FROM node_runs WHERE run_id = ?1 AND seq >= ?2")?
        .execute(params![run.0, seq_to_sql(nodes.len())])?;
    Ok(())
}

pub(super) fn detail(tx: &Transaction<'_>, id: RunId) -> Result<Option<RunDetail>, Fault> {
    let Some(run) = summary(tx, id)? else {
        return Ok(None);
    };
    Ok(Some(RunDetail {
        nodes: nodes(tx, id)?,
        retries: state::retries_of_run(tx, id)?,
        run,
    }))
}

/// The node runs of a run. `+?1`, not `?1`: with a plain parameter before `ORDER BY`,
/// SQLite compiles the statement again whenever the run changes (its planner looks at the
/// value), which it did at every claim; the plan is the same primary-key search.
const NODES_OF_RUN: &str = "SELECT seq, record FROM node_runs WHERE run_id = +?1 ORDER BY seq";

/// The node runs of a run, in `seq` order.
pub(super) fn nodes(tx: &Transaction<'_>, run: RunId) -> Result<Vec<NodeRecord>, Fault> {
    let mut statement = tx.prepare_cached(NODES_OF_RUN)?;
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
    let (mut conditions, mut values) = filter_conditions(&RunCountFilter {
        playbook_id: query.playbook_id.clone(),
        alert_uuid: query.alert_uuid.clone(),
        alert_short_id: query.alert_short_id.clone(),
    });
    if let Some(status) = query.status {
        conditions.push("r.status = ?");
        values.push(SqlValue::Text(status.as_str().to_owned()));
    }
    if let Some(since) = query.since_ms {
        conditions.push("r.queued_at_ms >= ?");
        values.push(SqlValue::Integer(ms_to_sql(since)));
    }
    if let Some(until) = query.until_ms {
        conditions.push("r.queued_at_ms <= ?");
        values.push(SqlValue::Integer(ms_to_sql(until)));
    }
    if let Some(text) = query.text.as_deref().filter(|t| !t.is_empty()) {
        conditions.push(TEXT_CONDITION);
        values.extend(text_values(text));
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
    let (conditions, values) = filter_conditions(filter);
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
        counts.set(status_from_sql(&status)?, count);
    }
    Ok(counts)
}

/// Conditions on the playbook and the alert shared by listing and counting.
fn filter_conditions(filter: &RunCountFilter) -> (Vec<&'static str>, Vec<SqlValue>) {
    let mut conditions = Vec::new();
    let mut values = Vec::new();
    let equal = [
        ("r.playbook_id = ?", &filter.playbook_id),
        ("r.alert_uuid = ?", &filter.alert_uuid),
        ("r.alert_short_id = ?", &filter.alert_short_id),
    ];
    for (condition, value) in equal {
        if let Some(value) = value {
            conditions.push(condition);
            values.push(SqlValue::Text(value.clone()));
        }
    }
    (conditions, values)
}

/// The text search: the run's error, alert title or short id, or the JSON of one of its
/// node runs contains the text. Letters are compared lower-cased (SQLite lowers ASCII
/// only, so the text is lowered the same way); in JSON the text is searched as a JSON
/// string holds it (quotes and backslashes escaped).
const TEXT_CONDITION: &str = "(instr(lower(coalesce(r.error, '')), ?) > 0 \
     OR instr(lower(coalesce(r.alert_title, '')), ?) > 0 \
     OR instr(lower(coalesce(r.alert_short_id, '')), ?) > 0 \
     OR EXISTS (SELECT 1 FROM node_runs n WHERE n.run_id = r.id \
                AND instr(lower(n.record), ?) > 0))";

/// The values of [`TEXT_CONDITION`]'s placeholders.
fn text_values(text: &str) -> [SqlValue; 4] {
    let plain = text.to_ascii_lowercase();
    let quoted = Value::String(plain.clone()).to_string();
    let in_json = quoted[1..quoted.len() - 1].to_owned();
    [
        SqlValue::Text(plain.clone()),
        SqlValue::Text(plain.clone()),
        SqlValue::Text(plain),
        SqlValue::Text(in_json),
    ]
}

fn where_clause(conditions: &[&str]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    }
}

/// Reads the [`RUN_COLUMNS`] of a row.
pub(super) fn summary_from_row(row: &Row<'_>) -> Result<RunSummary, Fault> {
    let id = RunId(row.get(0)?);
    let status: String = row.get(5)?;
    let time = |at: usize, what: &str| -> Result<Option<u64>, Fault> {
        optional_unsigned_from_sql(row.get(at)?, &format!("the {what} of run {id}"))
    };
    Ok(RunSummary {
        id,
        inbox_id: InboxId(row.get(1)?),
        playbook_id: row.get(2)?,
        trigger_node: row.get(3)?,
        alert_uuid: row.get(4)?,
        status: status_from_sql(&status)?,
        queued_at_ms: unsigned_from_sql(row.get(6)?, &format!("the queue time of run {id}"))?,
        started_at_ms: time(7, "start")?,
        ended_at_ms: time(8, "end")?,
        error: row.get(9)?,
        due_at_ms: time(10, "next attempt")?,
        waiting_on: row.get(11)?,
        interruptions: unsigned_from_sql(row.get(12)?, &format!("the interruptions of run {id}"))?,
        rerun_of: row.get::<_, Option<i64>>(13)?.map(RunId),
        dismissed_at_ms: time(14, "dismissal")?,
        alert: alert_from_row(row)?,
        ran_by: None,
    })
}

/// The [`RunAlert`] of a row read with [`RUN_COLUMNS`], `None` when nothing is known.
fn alert_from_row(row: &Row<'_>) -> Result<Option<RunAlert>, Fault> {
    let alert = RunAlert {
        account: row.get(15)?,
        short_id: row.get(16)?,
        title: row.get(17)?,
        urgency: row.get(18)?,
    };
    Ok((alert != RunAlert::default()).then_some(alert))
}

/// A stored run status read back.
fn status_from_sql(text: &str) -> Result<RunStatus, Fault> {
    text.parse().map_err(Fault::Corrupt)
}

/// Clears `rerun_of` in the reruns of run `?1` (index `runs_rerun_of`).
pub(super) const UNLINK_RERUNS: &str = "UPDATE runs SET rerun_of = NULL WHERE rerun_of = ?1";

/// Deletes a run, its node runs and its retry state; a rerun of it (asked for while it was
/// open, or kept after it) no longer points to it.
pub(super) fn delete(tx: &Transaction<'_>, run: RunId) -> Result<(), Fault> {
    state::clear_retries_of_run(tx, run)?;
    tx.prepare_cached("DELETE FROM node_runs WHERE run_id = ?1")?
        .execute([run.0])?;
    tx.prepare_cached(UNLINK_RERUNS)?.execute([run.0])?;
    tx.prepare_cached("DELETE FROM runs WHERE id = ?1")?
        .execute([run.0])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use alertsync_engine::{NodeRecord, NodeStatus};
    use rusqlite::Connection;
    use serde_json::json;

    use super::{nodes, upsert_node};
    use crate::model::RunId;

    #[test]
    fn reading_a_runs_nodes_is_compiled_once_for_every_run() {
        super::super::assert_compiled_once(super::NODES_OF_RUN);
    }

    #[test]
    fn a_node_record_written_again_unchanged_leaves_its_row_alone() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO inbox (source, account, dedup_key, payload, received_at_ms) \
                 VALUES ('webhook', 'a', 'k', '{}', 0); \
             INSERT INTO runs (inbox_id, playbook_id, trigger_node, status, queued_at_ms) \
                 VALUES (1, 'p', 't', 'running', 0);",
        )
        .unwrap();
        let tx = conn.transaction().unwrap();
        let mut node = NodeRecord {
            seq: 0,
            id: "1".to_owned(),
            name: "Forward to ilert".to_owned(),
            status: NodeStatus::Running,
            started_at_ms: 1,
            ended_at_ms: None,
            duration_ms: None,
            arguments: json!({"alert_uuid": "a-1"}),
            results: None,
            error: None,
            logs: vec![],
            outputs: vec![],
            iteration: vec![],
            dry_run_writes: vec![],
            attempts: 0,
            exchanges: vec![],
        };
        upsert_node(&tx, RunId(1), &node).unwrap();
        assert_eq!(tx.changes(), 1, "a new record is written");
        upsert_node(&tx, RunId(1), &node).unwrap();
        assert_eq!(tx.changes(), 0, "the same record again writes nothing");
        node.status = NodeStatus::Succeeded;
        node.results = Some(json!({"ok": true}));
        upsert_node(&tx, RunId(1), &node).unwrap();
        assert_eq!(tx.changes(), 1, "a changed record is written");
        assert_eq!(nodes(&tx, RunId(1)).unwrap(), [node]);
    }
}
