//! `alertsync store …`: care of the store an SRE does by hand — an online backup, an
//! integrity check, pruning finished work now rather than at `serve`'s next hourly pass,
//! bringing the schema up to date, and moving a SQLite store into PostgreSQL.
//!
//! The store is the configuration's `[store] path` (SQLite), or the database of
//! `[store] url` (PostgreSQL) for `migrate`. `backup` and `check` are safe while `serve`
//! runs on the file; `prune`, `migrate` (of a file) and `copy-to-postgres` take the store's
//! lock, so they run only while `serve` does not (`serve` prunes and migrates by itself).
//! A PostgreSQL store is only ever named without its password.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use alertsync_config::Config;
use alertsync_engine::Cancellation;
use alertsync_server::retention;
use alertsync_store::copy::{self, CopyProgress, CopyReport};
use alertsync_store::sqlite::maintenance;
use alertsync_store::{SchemaMigration, SqliteOptions, SqliteStore, StoreError, postgres};
use clap::{Args, Subcommand};

use super::{GlobalArgs, load_config, usage};

#[derive(Args)]
#[command(after_help = "Examples:\n  \
alertsync store backup /var/backups/alertsync-$(date +%F).db\n  \
alertsync store check\n  \
alertsync store prune --older-than-days 7\n  \
alertsync store migrate\n  \
alertsync store copy-to-postgres 'postgres://alertsync@db.internal:5432/alertsync'\n\n\
To restore, stop serve, replace the store file with the backup (and remove the old file's \
-wal and -shm files), then start serve.\n\
To move to PostgreSQL, stop serve, set [store] url (the password as ${VAR}), run \
`alertsync store copy-to-postgres`, then start serve on the database.\n\
Exit codes: 0 done (check: no problem), 1 check found problems, 2 the store cannot be read or \
the call is wrong.")]
pub struct StoreArgs {
    #[command(subcommand)]
    command: StoreCommand,
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Copy the store into a new file, consistently, while serve keeps running.
    Backup {
        /// The backup file to create (it must not exist).
        file: PathBuf,
    },
    /// Check the store file's integrity (pages, indexes, references) and schema version.
    Check,
    /// Remove finished runs and done events older than the retention window now (serve does
    /// it every hour by itself). Needs serve stopped.
    Prune {
        /// Keep this many days instead of `[store] retention_days`.
        #[arg(long, value_name = "DAYS")]
        older_than_days: Option<u32>,
    },
    /// Bring the store's schema up to date and print its version (serve does it by itself
    /// when it starts).
    ///
    /// The store is the PostgreSQL database of `[store] url` if it is set, else the SQLite
    /// file of `[store] path` (created if missing; serve must be stopped). Run it before
    /// starting a newer alertsync on a shared database, so that no instance waits for the
    /// migration.
    Migrate,
    /// Copy the SQLite store into an empty PostgreSQL database, to run several instances on
    /// it. Needs serve stopped.
    ///
    /// Copies everything of `[store] path` — events, runs (open ones too: they resume on
    /// PostgreSQL), node runs, retry state, checkpoints (back-fill positions), playbook
    /// health and alert links — keeping their ids, in one transaction: the copy is whole or
    /// absent. The database's schema is brought up to date first; a database that already
    /// holds a store's rows is refused and left unchanged. The SQLite file is kept (its
    /// schema brought up to date). Prints progress per table on stderr and a summary.
    #[command(name = "copy-to-postgres")]
    CopyToPostgres {
        /// The PostgreSQL store to fill: `postgres://user:password@host:port/database`
        /// (append `?options=-csearch_path%3DNAME` for a schema of its own). Default:
        /// `[store] url`, which keeps the password out of the shell's history (`${VAR}`).
        #[arg(value_name = "URL")]
        url: Option<String>,
    },
}

impl StoreCommand {
    /// The name of a command that only works on a store file.
    fn on_file_only(&self) -> Option<&'static str> {
        match self {
            Self::Backup { .. } => Some("backup"),
            Self::Check => Some("check"),
            Self::Prune { .. } => Some("prune"),
            Self::Migrate | Self::CopyToPostgres { .. } => None,
        }
    }
}

pub async fn run(global: &GlobalArgs, args: StoreArgs) -> anyhow::Result<ExitCode> {
    let registry = alertsync_integrations::registry();
    let config = load_config(global, &registry)?;
    let path = config.store.path.clone();
    if let (Some(url), Some(command)) = (&config.store.url, args.command.on_file_only()) {
        return usage(format!(
            "`store {command}` works on a store file, and [store] url makes the store the \
             PostgreSQL database {}: back it up and check it as any PostgreSQL database \
             (serve prunes it by itself every hour)",
            postgres::display_url(url)
        ));
    }
    match args.command {
        StoreCommand::Backup { file } => {
            let (bytes, file) =
                blocking(move || maintenance::backup(&path, &file).map(|b| (b, file))).await?;
            println!(
                "backed up {} to {} ({bytes} bytes)",
                config.store.path.display(),
                file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        StoreCommand::Check => {
            let report = blocking(move || maintenance::check(&path)).await?;
            print_check(&config.store.path, &report);
            Ok(if report.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        StoreCommand::Prune { older_than_days } => {
            let days = older_than_days.unwrap_or(config.store.retention_days);
            if days == 0 {
                return usage(
                    "nothing to prune: the retention is 0 days (keep for ever); pass \
                     --older-than-days N",
                );
            }
            let keep = Duration::from_secs(u64::from(days) * 86_400);
            let options = SqliteOptions {
                exclusive: true,
                ..SqliteOptions::default()
            };
            let store = match SqliteStore::open_with(path, options).await {
                Ok(store) => store,
                Err(err) => return usage(format!("{err} (serve prunes by itself every hour)")),
            };
            let keep_ms = u64::try_from(keep.as_millis()).unwrap_or(u64::MAX);
            let before = alertsync_engine::now_ms().saturating_sub(keep_ms);
            let data_dir = alertsync_server::serve::data_dir(&config);
            let report = retention::prune(&store, before, &data_dir, &Cancellation::new())
                .await
                .or_else(|err| usage(err.to_string()))?;
            println!("{}", retention::describe(&report, keep));
            Ok(ExitCode::SUCCESS)
        }
        StoreCommand::Migrate => migrate(&config).await,
        StoreCommand::CopyToPostgres { url } => copy_to_postgres(&config, url).await,
    }
}

/// `store migrate`: the PostgreSQL store if `[store] url` is set, else the SQLite file.
async fn migrate(config: &Config) -> anyhow::Result<ExitCode> {
    let (kind, migration) = match &config.store.url {
        Some(url) => {
            let migrated = postgres::migrate(url).await;
            (
                "PostgreSQL",
                migrated.or_else(|err| usage(err.to_string()))?,
            )
        }
        None => {
            let path = config.store.path.clone();
            (
                "SQLite",
                blocking(move || maintenance::migrate(&path)).await?,
            )
        }
    };
    println!("{}", describe_migration(kind, &migration));
    Ok(ExitCode::SUCCESS)
}

fn describe_migration(kind: &str, migration: &SchemaMigration) -> String {
    let SchemaMigration { store, from, to } = migration;
    let done = if from == to {
        format!("schema version {to}, already current")
    } else if *from == 0 {
        format!("schema version {to}, created")
    } else {
        format!("schema version {to}, migrated from version {from}")
    };
    format!("{kind} store {store}: {done}")
}

/// `store copy-to-postgres`: `[store] path` into `url`, else into `[store] url`.
async fn copy_to_postgres(config: &Config, url: Option<String>) -> anyhow::Result<ExitCode> {
    let Some(url) = url.or_else(|| config.store.url.clone()) else {
        return usage(
            "name the PostgreSQL store to copy into: alertsync store copy-to-postgres \
             postgres://user@host:port/database, or set [store] url",
        );
    };
    let copied = copy::sqlite_to_postgres(&config.store.path, &url, &print_progress).await;
    match copied {
        Ok(report) => {
            print_copy(&report);
            Ok(ExitCode::SUCCESS)
        }
        Err(err @ StoreError::InUse { .. }) => {
            usage(format!("{err}; stop serve before copying its store"))
        }
        Err(err) => usage(err.to_string()),
    }
}

/// Progress of a table copied in several batches, on stderr.
fn print_progress(progress: &CopyProgress) {
    if progress.copied < progress.total {
        eprintln!(
            "copying {}: {} of {} rows",
            progress.table, progress.copied, progress.total
        );
    }
}

fn print_copy(report: &CopyReport) {
    println!("copied {} into {}:", report.from.display(), report.to);
    for table in &report.tables {
        println!("  {:<16} {:>9} rows", table.table, table.rows);
    }
    println!(
        "Set [store] url to this database to start serve on it; the SQLite file is kept as \
         it was copied."
    );
}

fn print_check(path: &std::path::Path, report: &maintenance::CheckReport) {
    let schema = if report.schema_version == report.supported_version {
        format!("schema version {} (current)", report.schema_version)
    } else {
        format!(
            "schema version {} (this alertsync writes {}; serve upgrades older ones at start)",
            report.schema_version, report.supported_version
        )
    };
    if report.problems.is_empty() {
        println!("ok: {} — {schema}, no problem found", path.display());
        return;
    }
    println!(
        "{}: {} problem(s) — {schema}",
        path.display(),
        report.problems.len()
    );
    for problem in &report.problems {
        println!("  {problem}");
    }
    println!(
        "Restore the latest backup (stop serve, replace the file), or copy what can be read \
         with `alertsync store backup`."
    );
}

/// Runs blocking store maintenance off the async runtime; its errors are usage errors (exit 2).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> alertsync_store::StoreResult<T> + Send + 'static,
) -> anyhow::Result<T> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => usage(err.to_string()),
        Err(err) => usage(format!("the store maintenance stopped: {err}")),
    }
}
