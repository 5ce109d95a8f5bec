//! `alertsync validate`: checks playbooks before they are enabled and reports every problem
//! at once, each located by node and JSON path, and what each needs that alertsync does not
//! implement. `--summary` turns a folder of exported playbooks into the table a Sekoia.io user
//! reads before migrating: which run, which need what, which are broken and why.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use alertsync_config::Config;
use alertsync_engine::{AccountBook, Registry, RegistryCatalog};
use alertsync_spl::{LoadError, NeededModule, Playbook, Problem, Report};
use clap::Args;
use serde::Serialize;

use super::playbook_file::{self, FileError};
use super::summary::Summary;
use super::{GlobalArgs, NEEDS_EXIT_CODE, OutputFormat, UsageError, load_config, print_json};

#[derive(Args)]
#[command(
    after_help = "A folder stands for the .json files in it. Accounts are checked against the \
configuration file when one is in use (`--config`, ALERTSYNC_CONFIG or ./alertsync.toml).\n\
A node whose module, action or trigger alertsync does not implement is not an error in the \
file: it is listed as `needs module X (uuid)` (JSON: `needs_modules`, with the nodes).\n\
Exit codes: 0 every file is fine (warnings allowed), 1 some file has errors (it is broken), \
2 a file cannot be read (every other file is still checked) or usage error, 3 no file has \
errors but in some a trigger reaches what alertsync does not implement."
)]
pub struct ValidateArgs {
    /// Playbook files (SPL JSON), or folders of them.
    #[arg(required = true, value_name = "FILE|DIR")]
    files: Vec<PathBuf>,
    /// Output format; `json` prints `[{file, errors, warnings, needs_modules}]` (with
    /// `--summary`: `{playbooks: [{file, verdict, needs, problem}], totals, needed}`).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    /// Print one line per playbook (runs, needs, broken) and the totals: what a folder of
    /// exported playbooks needs before it can move to alertsync.
    #[arg(long)]
    summary: bool,
}

/// The report of one file.
#[derive(Serialize)]
pub(super) struct FileReport {
    pub(super) file: String,
    #[serde(flatten)]
    pub(super) report: Report,
}

pub fn run(global: &GlobalArgs, args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let registry = alertsync_integrations::registry();
    let config = load_config(global, &registry)?;
    let accounts = AccountBook::new(config.accounts.clone());
    let check_accounts = config_in_use(&config);
    let files = playbook_files(&args.files)?;
    let checked: Vec<(FileReport, Result<Playbook, FileError>)> = files
        .iter()
        .map(|file| validate_file(&registry, &accounts, &config, check_accounts, file))
        .collect();
    let unreadable = checked
        .iter()
        .any(|(_, loaded)| matches!(loaded, Err(FileError::Read(_))));
    let validated: Vec<(FileReport, Option<Playbook>)> = checked
        .into_iter()
        .map(|(report, loaded)| (report, loaded.ok()))
        .collect();
    let broken = validated.iter().any(|(r, _)| !r.report.is_valid());
    let needing = validated.iter().any(|(report, playbook)| {
        playbook
            .as_ref()
            .is_some_and(|p| !reachable_needs(p, &report.report).is_empty())
    });
    if args.summary {
        let summary = Summary::of(&validated);
        match args.format {
            OutputFormat::Json => print_json(&summary)?,
            OutputFormat::Text => print!("{}", summary.text()),
        }
    } else {
        let reports: Vec<&FileReport> = validated.iter().map(|(report, _)| report).collect();
        print_reports(&reports, args.format, check_accounts)?;
    }
    Ok(if unreadable {
        ExitCode::from(2)
    } else if broken {
        ExitCode::from(1)
    } else if needing {
        ExitCode::from(NEEDS_EXIT_CODE)
    } else {
        ExitCode::SUCCESS
    })
}

/// What the nodes the playbook's triggers reach (the triggers included) need that alertsync
/// does not implement.
pub(super) fn reachable_needs<'r>(
    playbook: &Playbook,
    report: &'r Report,
) -> Vec<&'r NeededModule> {
    let starts: Vec<&str> = playbook.triggers().map(|n| n.id.as_str()).collect();
    report.needs_among(&playbook.reachable_from(&starts))
}

/// The files to check: each file given, and the `.json` files of each folder given (sorted).
fn playbook_files(given: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in given {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let entries = std::fs::read_dir(path).map_err(|err| {
            UsageError(format!("cannot read the folder {}: {err}", path.display()))
        })?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|ext| ext == "json"))
            .collect();
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

fn print_reports(
    reports: &[&FileReport],
    format: OutputFormat,
    check_accounts: bool,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => print_json(&reports)?,
        OutputFormat::Text => {
            for report in reports {
                print!("{}", report_text(report));
            }
            if !check_accounts {
                println!("(no configuration file: accounts were not checked)");
            }
        }
    }
    Ok(())
}

fn config_in_use(config: &Config) -> bool {
    config.path.exists()
}

fn validate_file(
    registry: &Registry,
    accounts: &AccountBook,
    config: &Config,
    check_accounts: bool,
    file: &Path,
) -> (FileReport, Result<Playbook, FileError>) {
    let (report, loaded) = match playbook_file::load(file) {
        Ok(playbook) => {
            let bindings = playbook_file::bindings(config, file);
            let catalog = RegistryCatalog::new(registry, accounts, &bindings)
                .checking_accounts(check_accounts);
            (alertsync_spl::validate(&playbook, &catalog), Ok(playbook))
        }
        Err(err) => (
            Report {
                errors: vec![file_problem(&err)],
                ..Report::default()
            },
            Err(err),
        ),
    };
    let report = FileReport {
        file: file.display().to_string(),
        report,
    };
    (report, loaded)
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
    let mut verdict = match (report.errors.len(), report.warnings.len()) {
        (0, 0) => "ok".to_owned(),
        (0, w) => format!("ok, {w} warning(s)"),
        (e, w) => format!("{e} error(s), {w} warning(s)"),
    };
    if !report.needs_modules.is_empty() {
        verdict.push_str(&format!(
            "; needs {} thing(s) alertsync does not implement",
            report.needs_modules.len()
        ));
    }
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
