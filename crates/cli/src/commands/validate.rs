//! `alertsync validate`: checks playbooks before they are enabled and reports every problem
//! at once, each located by node and JSON path.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use alertsync_config::Config;
use alertsync_engine::{AccountBook, Registry, RegistryCatalog};
use alertsync_spl::{LoadError, Problem, Report};
use clap::Args;
use serde::Serialize;

use super::playbook_file::{self, FileError};
use super::{GlobalArgs, OutputFormat, load_config, print_json};

#[derive(Args)]
#[command(
    after_help = "Accounts are checked against the configuration file when one is in \
use (`--config`, ALERTSYNC_CONFIG or ./alertsync.toml).\n\
Exit codes: 0 no file has errors (warnings allowed), 1 some file has errors, 2 a file cannot \
be read (every other file is still checked) or usage error."
)]
pub struct ValidateArgs {
    /// Playbook files (SPL JSON).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Output format; `json` prints `[{file, errors, warnings, needs_modules}]`.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
}

/// The report of one file.
#[derive(Serialize)]
struct FileReport {
    file: String,
    #[serde(flatten)]
    report: Report,
}

pub fn run(global: &GlobalArgs, args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let registry = alertsync_integrations::registry();
    let config = load_config(global, &registry)?;
    let accounts = AccountBook::new(config.accounts.clone());
    let check_accounts = config_in_use(&config);
    let checked: Vec<(FileReport, bool)> = args
        .files
        .iter()
        .map(|file| validate_file(&registry, &accounts, &config, check_accounts, file))
        .collect();
    let unreadable = checked.iter().any(|(_, readable)| !readable);
    let reports: Vec<FileReport> = checked.into_iter().map(|(report, _)| report).collect();
    match args.format {
        OutputFormat::Json => print_json(&reports)?,
        OutputFormat::Text => {
            for report in &reports {
                print!("{}", report_text(report));
            }
            if !check_accounts {
                println!("(no configuration file: accounts were not checked)");
            }
        }
    }
    let failed = reports.iter().any(|r| !r.report.is_valid());
    Ok(match (unreadable, failed) {
        (true, _) => ExitCode::from(2),
        (false, true) => ExitCode::from(1),
        (false, false) => ExitCode::SUCCESS,
    })
}

fn config_in_use(config: &Config) -> bool {
    config.path.exists()
}

/// The report of one file, and whether the file could be read.
fn validate_file(
    registry: &Registry,
    accounts: &AccountBook,
    config: &Config,
    check_accounts: bool,
    file: &Path,
) -> (FileReport, bool) {
    let mut readable = true;
    let report = match playbook_file::load(file) {
        Ok(playbook) => {
            let bindings = playbook_file::bindings(config, file);
            let catalog = RegistryCatalog::new(registry, accounts, &bindings)
                .checking_accounts(check_accounts);
            alertsync_spl::validate(&playbook, &catalog)
        }
        Err(err) => {
            readable = !matches!(err, FileError::Read(_));
            Report {
                errors: vec![file_problem(&err)],
                ..Report::default()
            }
        }
    };
    let report = FileReport {
        file: file.display().to_string(),
        report,
    };
    (report, readable)
}

/// A file that cannot be read or parsed, as one problem at the document's root.
fn file_problem(err: &FileError) -> Problem {
    let message = match err {
        FileError::Load(LoadError::Syntax {
            line,
            column,
            message,
            ..
        }) => format!("line {line}, column {column}: {message}"),
        FileError::Load(LoadError::Structure { message, .. }) => message.clone(),
        FileError::Read(message) => message.clone(),
    };
    Problem {
        node_id: None,
        node_name: None,
        path: "$".to_owned(),
        message,
    }
}

fn report_text(file: &FileReport) -> String {
    let report = &file.report;
    let verdict = match (report.errors.len(), report.warnings.len()) {
        (0, 0) => "ok".to_owned(),
        (0, w) => format!("ok, {w} warning(s)"),
        (e, w) => format!("{e} error(s), {w} warning(s)"),
    };
    let mut out = format!("{}: {verdict}\n", file.file);
    for (label, problems) in [("error", &report.errors), ("warning", &report.warnings)] {
        for problem in problems {
            out.push_str(&format!("  {label:<7} {}\n", problem_text(problem)));
        }
    }
    for needed in &report.needs_modules {
        out.push_str(&format!("  {needed}\n"));
    }
    out
}

fn problem_text(problem: &Problem) -> String {
    let node = match (&problem.node_id, &problem.node_name) {
        (Some(id), Some(name)) => format!("node {id} \"{name}\" "),
        (Some(id), None) => format!("node {id} "),
        _ => String::new(),
    };
    format!("{node}{}: {}", problem.path, problem.message)
}
