//! `alertsync export`: writes a playbook back out as SPL, keys and order preserved, so that
//! what alertsync loaded can go back to Sekoia.io.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::playbook_file;
use super::usage;

#[derive(Args)]
pub struct ExportArgs {
    /// The playbook (SPL JSON).
    playbook: PathBuf,
    /// Write here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let playbook = match playbook_file::load(&args.playbook) {
        Ok(playbook) => playbook,
        Err(err) => return usage(err.to_string()),
    };
    let text = playbook.to_json_string_pretty();
    match args.output {
        None => println!("{text}"),
        Some(path) => std::fs::write(&path, format!("{text}\n"))
            .map_err(|err| anyhow::anyhow!("cannot write {}: {err}", path.display()))?,
    }
    Ok(ExitCode::SUCCESS)
}
