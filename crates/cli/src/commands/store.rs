//! `alertsync store …`: care of the store file an SRE does by hand — an online backup, an
//! integrity check, and pruning finished work now rather than at `serve`'s next hourly pass.
//!
//! The store is the configuration's `[store] path`. `backup` and `check` are safe while
//! `serve` runs on it; `prune` takes the store's lock, so it runs only while `serve` does not
//! (`serve` prunes by itself).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use alertsync_engine::Cancellation;
use alertsync_server::retention;
use alertsync_store::sqlite::maintenance;
use alertsync_store::{SqliteOptions, SqliteStore};
use clap::{Args, Subcommand};

use super::{GlobalArgs, load_config, usage};

#[derive(Args)]
#[command(after_help = "Examples:\n  \
alertsync store backup /var/backups/alertsync-$(date +%F).db\n  \
alertsync store check\n  \
alertsync store prune --older-than-days 7\n\n\
To restore, stop serve, replace the store file with the backup (and remove the old file's \
-wal and -shm files), then start serve.\n\
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
}

pub async fn run(global: &GlobalArgs, args: StoreArgs) -> anyhow::Result<ExitCode> {
    let registry = alertsync_integrations::registry();
    let config = load_config(global, &registry)?;
    let path = config.store.path.clone();
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
    }
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
