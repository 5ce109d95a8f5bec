//! The runs and node runs tables: node-run upserts, the alert a run read, and the queries
//! of the API and console (one run with its node runs, pages of runs, counts). The queue's
//! side of the runs table (claims, holds, ends) is in [`super::queue`].

use alertsync_engine::{NodeRecord, RunStatus};
use serde_json::Value;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{Fault, Tx, execute, row_opt, rows, state};
use crate::fault::{
    from_json, ms_to_sql, optional_unsigned_from_sql, seq_to_sql, to_json, unsigned_from_sql,
};
use crate::model::{
    InboxId, MAX_PAGE_SIZE, RunAlert, RunCountFilter, RunCounts, RunDetail, RunId, RunPage,
    RunQuery, RunSummary,
};

/// The columns [`summary_from_row`] reads, from the table aliased `r`.
const RUN_COLUMNS: &str = "r.id, r.inbox_id, r.playbook_id, r.trigger_node, \
     r.alert_uuid, r.status, r.queued_at_ms, r.started_at_ms, r.ended_at_ms, r.error, \
     r.due_at_ms, r.waiting_on, r.interruptions, r.rerun_of, r.dismissed_at_ms, \
     r.alert_account, r.alert_short_id, r.alert_title, r.alert_urgency, r.ran_by";

/// One run without its node runs.
pub(super) async fn summary(tx: &Tx<'_>, id: RunId) -> Result<Option<RunSummary>, Fault> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs r WHERE r.id = $1");
    row_opt(tx, &sql, &[&id.0])
        .await?
        .map(|row| summary_from_row(&row))
        .transpose()
}

/// Fails with [`Fault::UnknownRun`] unless the run exists.
pub(super) async fn require_run(tx: &Tx<'_>, run: RunId) -> Result<(), Fault> {
    row_opt(tx, "SELECT 1 FROM runs WHERE id = $1", &[&run.0])
        .await?
        .map(drop)
        .ok_or(Fault::UnknownRun(run))
}

/// Records what a run read of its alert.
pub(super) async fn set_alert(tx: &Tx<'_>, run: RunId, alert: &RunAlert) -> Result<(), Fault> {
    execute(
        tx,
        "UPDATE runs SET alert_account = $1, alert_short_id = $2, alert_title = $3, \
             alert_urgency = $4 \
         WHERE id = $5",
        &[
            &alert.account,
            &alert.short_id,
            &alert.title,
            &alert.urgency,
            &run.0,
        ],
    )
    .await?;
    Ok(())
}

/// Writes node run `node.seq` of `run`, unless the row already holds this very record: a
/// run's end repeats every node record its progress already wrote, and leaving the
/// unchanged rows alone spares their rewrite (and, on SQLite, their pages in the log).
pub(super) async fn upsert_node(tx: &Tx<'_>, run: RunId, node: &NodeRecord) -> Result<(), Fault> {
    let record = to_json(node, "the node record")?;
    execute(
        tx,
        "INSERT INTO node_runs (run_id, seq, node_id, name, status, started_at_ms, \
             ended_at_ms, error, record) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (run_id, seq) DO UPDATE SET \
             node_id = excluded.node_id, name = excluded.name, status = excluded.status, \
             started_at_ms = excluded.started_at_ms, ended_at_ms = excluded.ended_at_ms, \
             error = excluded.error, record = excluded.record \
         WHERE node_runs.record <> excluded.record",
        &[
            &run.0,
            &seq_to_sql(node.seq),
            &node.id,
            &node.name,
            &node.status.as_str(),
            &ms_to_sql(node.started_at_ms),
            &node.ended_at_ms.map(ms_to_sql),
            &node.error,
            &record,
        ],
    )
    .await?;
    Ok(())
}

/// Makes the node runs of `run` exactly `nodes` (a resumed attempt numbers them anew).
pub(super) async fn replace_nodes(
    tx: &Tx<'_>,
    run: RunId,
    nodes: &[NodeRecord],
) -> Result<(), Fault> {
    for node in nodes {
        upsert_node(tx, run, node).await?;
    }
    execute(
        tx,
        "DELETE FROM node_runs WHERE run_id = $1 AND seq >= $2",
        &[&run.0, &seq_to_sql(nodes.len())],
    )
    .await?;
    Ok(())
}

pub(super) async fn detail(tx: &Tx<'_>, id: RunId) -> Result<Option<RunDetail>, Fault> {
    let Some(run) = summary(tx, id).await? else {
        return Ok(None);
    };
    Ok(Some(RunDetail {
        nodes: nodes(tx, id).await?,
        retries: state::retries_of_run(tx, id).await?,
        run,
    }))
}

/// The node runs of a run, in `seq` order.
pub(super) async fn nodes(tx: &Tx<'_>, run: RunId) -> Result<Vec<NodeRecord>, Fault> {
    let found = rows(
        tx,
        "SELECT seq, record FROM node_runs WHERE run_id = $1 ORDER BY seq",
        &[&run.0],
    )
    .await?;
    found
        .iter()
        .map(|row| {
            let seq: i64 = row.try_get(0)?;
            let record: String = row.try_get(1)?;
            from_json(
                &record,
                &format!("the record of node run {seq} of run {run}"),
            )
        })
        .collect()
}

/// The values bound to a query built from a filter, in placeholder order.
type Values = Vec<Box<dyn ToSql + Sync + Send>>;

pub(super) async fn list(tx: &Tx<'_>, query: &RunQuery) -> Result<RunPage, Fault> {
    let limit = query.limit.min(MAX_PAGE_SIZE);
    if limit == 0 {
        return Ok(RunPage {
            runs: Vec::new(),
            next_before: None,
        });
    }
    let mut filter = Filter::of(&RunCountFilter {
        playbook_id: query.playbook_id.clone(),
        alert_uuid: query.alert_uuid.clone(),
        alert_short_id: query.alert_short_id.clone(),
    });
    if let Some(status) = query.status {
        filter.push("r.status = {}", status.as_str().to_owned());
    }
    if let Some(since) = query.since_ms {
        filter.push("r.queued_at_ms >= {}", ms_to_sql(since));
    }
    if let Some(until) = query.until_ms {
        filter.push("r.queued_at_ms <= {}", ms_to_sql(until));
    }
    if let Some(text) = query.text.as_deref().filter(|t| !t.is_empty()) {
        filter.push_text(text);
    }
    if let Some(inbox_id) = query.inbox_id {
        filter.push("r.inbox_id = {}", inbox_id.0);
    }
    if let Some(before) = query.before {
        filter.push("r.id < {}", before.0);
    }
    // One more than the page, to know whether another page follows.
    let limit_at = filter.bind(i64::from(limit) + 1);
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM runs r{} ORDER BY r.id DESC LIMIT {limit_at}",
        filter.where_clause()
    );
    let found = rows(tx, &sql, &filter.params()).await?;
    let mut runs = found
        .iter()
        .map(summary_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let next_before = if runs.len() > limit as usize {
        runs.truncate(limit as usize);
        runs.last().map(|run| run.id)
    } else {
        None
    };
    Ok(RunPage { runs, next_before })
}

pub(super) async fn counts(tx: &Tx<'_>, filter: &RunCountFilter) -> Result<RunCounts, Fault> {
    let filter = Filter::of(filter);
    let sql = format!(
        "SELECT r.status, COUNT(*) FROM runs r{} GROUP BY r.status",
        filter.where_clause()
    );
    let mut counts = RunCounts::default();
    for row in rows(tx, &sql, &filter.params()).await? {
        let status: String = row.try_get(0)?;
        let count: u64 = unsigned_from_sql(row.try_get(1)?, "a run count")?;
        counts.set(status_from_sql(&status)?, count);
    }
    Ok(counts)
}

/// The conditions of a listing or count, with their values bound to numbered placeholders.
struct Filter {
    conditions: Vec<String>,
    values: Values,
}

impl Filter {
    /// Conditions on the playbook and the alert shared by listing and counting.
    fn of(filter: &RunCountFilter) -> Self {
        let mut this = Self {
            conditions: Vec::new(),
            values: Vec::new(),
        };
        let equal = [
            ("r.playbook_id = {}", &filter.playbook_id),
            ("r.alert_uuid = {}", &filter.alert_uuid),
            ("r.alert_short_id = {}", &filter.alert_short_id),
        ];
        for (condition, value) in equal {
            if let Some(value) = value {
                this.push(condition, value.clone());
            }
        }
        this
    }

    /// Binds `value` and answers its placeholder.
    fn bind(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.values.push(Box::new(value));
        format!("${}", self.values.len())
    }

    /// Adds `condition`, its `{}` replaced by the placeholder of `value`.
    fn push(&mut self, condition: &str, value: impl ToSql + Sync + Send + 'static) {
        let placeholder = self.bind(value);
        self.conditions
            .push(condition.replacen("{}", &placeholder, 1));
    }

    /// The text search: the run's error, alert title or short id, or the JSON of one of its
    /// node runs contains the text, letters compared lower-cased; in JSON the text is
    /// searched as a JSON string holds it (quotes and backslashes escaped).
    fn push_text(&mut self, text: &str) {
        let plain = text.to_lowercase();
        let quoted = Value::String(plain.clone()).to_string();
        let in_json = quoted[1..quoted.len() - 1].to_owned();
        let plain_at = self.bind(plain);
        let json_at = self.bind(in_json);
        self.conditions.push(format!(
            "(strpos(lower(coalesce(r.error, '')), {plain_at}) > 0 \
              OR strpos(lower(coalesce(r.alert_title, '')), {plain_at}) > 0 \
              OR strpos(lower(coalesce(r.alert_short_id, '')), {plain_at}) > 0 \
              OR EXISTS (SELECT 1 FROM node_runs n WHERE n.run_id = r.id \
                         AND strpos(lower(n.record), {json_at}) > 0))"
        ));
    }

    fn where_clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        }
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.values
            .iter()
            .map(|value| value.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

/// Reads the [`RUN_COLUMNS`] of a row.
fn summary_from_row(row: &Row) -> Result<RunSummary, Fault> {
    let id = RunId(row.try_get(0)?);
    let status: String = row.try_get(5)?;
    let time = |at: usize, what: &str| -> Result<Option<u64>, Fault> {
        optional_unsigned_from_sql(row.try_get(at)?, &format!("the {what} of run {id}"))
    };
    let alert = RunAlert {
        account: row.try_get(15)?,
        short_id: row.try_get(16)?,
        title: row.try_get(17)?,
        urgency: row.try_get(18)?,
    };
    Ok(RunSummary {
        id,
        inbox_id: InboxId(row.try_get(1)?),
        playbook_id: row.try_get(2)?,
        trigger_node: row.try_get(3)?,
        alert_uuid: row.try_get(4)?,
        status: status_from_sql(&status)?,
        queued_at_ms: unsigned_from_sql(row.try_get(6)?, &format!("the queue time of run {id}"))?,
        started_at_ms: time(7, "start")?,
        ended_at_ms: time(8, "end")?,
        error: row.try_get(9)?,
        due_at_ms: time(10, "next attempt")?,
        waiting_on: row.try_get(11)?,
        interruptions: unsigned_from_sql(
            row.try_get(12)?,
            &format!("the interruptions of run {id}"),
        )?,
        rerun_of: row.try_get::<_, Option<i64>>(13)?.map(RunId),
        dismissed_at_ms: time(14, "dismissal")?,
        alert: (alert != RunAlert::default()).then_some(alert),
        ran_by: row.try_get(19)?,
    })
}

/// A stored run status read back.
fn status_from_sql(text: &str) -> Result<RunStatus, Fault> {
    text.parse().map_err(Fault::Corrupt)
}

/// Deletes a run, its node runs and its retry state; a rerun of it (asked for while it was
/// open, or kept after it) no longer points to it.
pub(super) async fn delete(tx: &Tx<'_>, run: RunId) -> Result<(), Fault> {
    state::clear_retries_of_run(tx, run).await?;
    execute(tx, "DELETE FROM node_runs WHERE run_id = $1", &[&run.0]).await?;
    execute(
        tx,
        "UPDATE runs SET rerun_of = NULL WHERE rerun_of = $1",
        &[&run.0],
    )
    .await?;
    execute(tx, "DELETE FROM runs WHERE id = $1", &[&run.0]).await?;
    Ok(())
}
