//! The embedded migrations and the `schema_version` table that records which ran.
//!
//! Migration `n` (1-based) is `MIGRATIONS[n - 1]`. Each runs in its own immediate
//! transaction together with the row that records it, so a crash leaves the schema at a
//! version boundary, and two processes opening a new file at once do not both migrate.
//! Migrations are append-only: a shipped one is never edited.
//!
//! Foreign keys are not enforced while migrations run (a table is changed by building its
//! new version beside it, as SQLite recommends) and are checked once they are done.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::Fault;

/// The migrations, oldest first.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_retry_operation.sql"),
    include_str!("migrations/0003_dedup_expiry.sql"),
    include_str!("migrations/0004_run_queue.sql"),
    include_str!("migrations/0005_retention.sql"),
    include_str!("migrations/0006_alert_links.sql"),
    include_str!("migrations/0007_run_alert.sql"),
    include_str!("migrations/0008_event_sources.sql"),
    include_str!("migrations/0009_fewer_index_writes.sql"),
];

/// The schema version this build knows.
pub(crate) const SUPPORTED_VERSION: i64 = MIGRATIONS.len() as i64;

/// What [`migrate`] found or did.
pub(crate) enum Migrated {
    /// The schema is at [`SUPPORTED_VERSION`]; it was at version `from` (0: a new file).
    Current { from: i64 },
    /// The file was written by a newer build.
    TooNew(i64),
}

/// Brings the schema up to [`SUPPORTED_VERSION`].
pub(crate) fn migrate(conn: &mut Connection) -> Result<Migrated, Fault> {
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let migrated = apply(conn);
    conn.pragma_update(None, "foreign_keys", "ON")?;
    let migrated = migrated?;
    let broken: Option<String> = conn
        .query_row("PRAGMA foreign_key_check", [], |row| row.get(0))
        .optional()?;
    if let Some(table) = broken {
        return Err(Fault::Corrupt(format!(
            "table `{table}` refers to rows that do not exist"
        )));
    }
    Ok(migrated)
}

fn apply(conn: &mut Connection) -> Result<Migrated, Fault> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (
             version       INTEGER PRIMARY KEY,
             applied_at_ms INTEGER NOT NULL
         )",
    )?;
    let from = current_version(conn)?;
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let version = index as i64 + 1;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = current_version(&tx)?;
        if current > SUPPORTED_VERSION {
            return Ok(Migrated::TooNew(current));
        }
        if current >= version {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_version (version, applied_at_ms) VALUES (?1, ?2)",
            (version, super::now_sql()),
        )?;
        tx.commit()?;
    }
    let current = current_version(conn)?;
    if current > SUPPORTED_VERSION {
        return Ok(Migrated::TooNew(current));
    }
    Ok(Migrated::Current { from })
}

/// The schema version of the file behind `conn` (0 for a file without the schema).
pub(crate) fn current_version(conn: &Connection) -> Result<i64, Fault> {
    let version: Option<i64> = conn
        .query_row("SELECT MAX(version) FROM schema_version", [], |row| {
            row.get(0)
        })
        .optional()?
        .flatten();
    Ok(version.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::{Migrated, migrate};
    use crate::sqlite::{inbox, retention, runs};

    /// A new database with the whole schema.
    fn migrated() -> Connection {
        let mut connection = Connection::open_in_memory().unwrap();
        assert!(matches!(
            migrate(&mut connection).unwrap(),
            Migrated::Current { from: 0 }
        ));
        connection
    }

    /// Column `column` of each row of `explain sql` (`EXPLAIN` or `EXPLAIN QUERY PLAN`).
    fn explained(connection: &Connection, explain: &str, sql: &str, column: usize) -> Vec<String> {
        let mut statement = connection
            .prepare(&format!("{explain} {sql}"))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let unbound = vec![rusqlite::types::Null; statement.parameter_count()];
        statement
            .query_map(rusqlite::params_from_iter(unbound), |row| row.get(column))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// The statements of retention and dedup-key expiry run in the writer's transaction, so
    /// a full scan of a large table there holds up every new event: each must find its
    /// rows through an index.
    #[test]
    fn maintenance_statements_find_their_rows_through_indexes() {
        let connection = migrated();
        let statements = [
            ("unlink reruns", runs::UNLINK_RERUNS),
            ("prune events", retention::PRUNE_EVENTS),
            ("finished runs", retention::FINISHED_RUNS),
            ("expire keys", inbox::EXPIRE_KEYS),
        ];
        for (name, sql) in statements {
            let steps = explained(&connection, "EXPLAIN QUERY PLAN", sql, 3);
            let scans: Vec<&String> = steps.iter().filter(|s| s.starts_with("SCAN")).collect();
            assert!(scans.is_empty(), "{name} scans a table: {steps:?}");
        }
    }

    /// SQLite evaluates an `IN` list in a partial index's condition or in a `CHECK` through a
    /// temporary table, built at each row written. Queuing or ending a run builds only the
    /// one of its status's `CHECK` (rewriting that takes building the table again).
    #[test]
    fn writing_a_run_builds_no_temporary_table_for_its_partial_indexes() {
        let connection = migrated();
        let writes = [
            (
                "queue a run",
                "INSERT INTO runs (inbox_id, playbook_id, trigger_node, alert_uuid, status, \
                     queued_at_ms) VALUES (1, 'pb', 'trigger', 'alert', 'queued', 1)",
            ),
            (
                "end a run",
                "UPDATE runs SET status = 'succeeded', ended_at_ms = 2 WHERE id = 1",
            ),
        ];
        for (name, sql) in writes {
            let opcodes = explained(&connection, "EXPLAIN", sql, 1);
            let temporary = opcodes.iter().filter(|op| *op == "OpenEphemeral").count();
            assert_eq!(temporary, 1, "{name}: temporary tables built");
        }
    }
}
