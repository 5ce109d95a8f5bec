//! The embedded migrations of a PostgreSQL store and the `schema_version` table that records
//! which ran. Each runs in one transaction with the row that records it, under a lock, so
//! several instances starting at once migrate once. Migrations are append-only.

use super::Fault;
use crate::fault::now_sql;

/// The migrations, oldest first.
const MIGRATIONS: &[&str] = &[include_str!("migrations/0001_initial.sql")];

/// The schema version this build knows.
pub(crate) const SUPPORTED_VERSION: i64 = MIGRATIONS.len() as i64;

/// What [`migrate`] found.
pub(crate) enum Migrated {
    /// The schema is at [`SUPPORTED_VERSION`]; it was at version `from` (0: a new store).
    Current { from: i64 },
    /// The database was written by a newer build.
    TooNew(i64),
}

/// Brings the schema of the current schema (`search_path`) up to [`SUPPORTED_VERSION`].
pub(crate) async fn migrate(client: &mut tokio_postgres::Client) -> Result<Migrated, Fault> {
    let tx = client.transaction().await?;
    // One migrating instance at a time, per database schema.
    tx.execute(
        "SELECT pg_advisory_xact_lock(4, hashtext(current_schema()))",
        &[],
    )
    .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (
             version       BIGINT PRIMARY KEY,
             applied_at_ms BIGINT NOT NULL
         )",
    )
    .await?;
    let current: Option<i64> = tx
        .query_one("SELECT MAX(version) FROM schema_version", &[])
        .await?
        .try_get(0)?;
    let current = current.unwrap_or(0);
    if current > SUPPORTED_VERSION {
        return Ok(Migrated::TooNew(current));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_version (version, applied_at_ms) VALUES ($1, $2)",
            &[&(index as i64 + 1), &now_sql()],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Migrated::Current { from: current })
}
