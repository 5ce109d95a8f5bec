//! `alertsync run`: runs a playbook once, for a playbook author — from an event file or a
//! real alert, optionally as a dry run, showing what every node did.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use alertsync_config::Config;
use alertsync_engine::http::HttpClient;
use alertsync_engine::{
    AccountBook, NoObserver, NodeRecord, NodeStatus, RunExecutor, RunRecord, RunRequest, RunStatus,
};
use alertsync_integrations::ilert;
use alertsync_integrations::sekoia::triggers::{self, cases, feeds, threshold};
use alertsync_integrations::sekoia::{self, ApiPath};
use alertsync_spl::{NodeKind, Playbook};
use clap::Args;
use reqwest::Method;
use serde_json::{Value, json};

use super::{
    GlobalArgs, NEEDS_EXIT_CODE, OutputFormat, UsageError, load_config, playbook_file, print_json,
    usage,
};

#[derive(Args)]
#[command(after_help = "Examples:\n  \
alertsync run examples/playbooks/forward-alerts-to-ilert.json \\\n      \
--trigger 1 --alert ALxxxxxxxxxx --dry-run\n  \
alertsync run my-playbook.json --event event.json --format json\n\n\
--alert reads the alert with the configured Sekoia.io account and builds the event the \
playbook's alert trigger would emit.\n\
A node alertsync does not implement (a module, action or trigger) stops the run only when \
the trigger can reach it; the trigger itself may be one alertsync lacks, since the event \
stands in for it.\n\
Exit codes: 0 the run succeeded, 1 it failed, 2 usage error, configuration error, a file \
that cannot be read or an invalid playbook, 3 the run would reach a node alertsync does not \
implement (nothing was run in either case).")]
pub struct RunArgs {
    /// The playbook (SPL JSON).
    playbook: PathBuf,
    /// The trigger event as a JSON file (`-` reads stdin).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "alert",
        conflicts_with = "alert"
    )]
    event: Option<PathBuf>,
    /// Run for this Sekoia.io alert (uuid or short id).
    #[arg(long, value_name = "ID")]
    alert: Option<String>,
    /// The trigger node to start at (its id); needed only when the playbook has several.
    #[arg(long, value_name = "NODE_ID")]
    trigger: Option<String>,
    /// Send reads (GET) but record every write instead of sending it, and show them.
    #[arg(long)]
    dry_run: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
}

pub async fn run(global: &GlobalArgs, args: RunArgs) -> anyhow::Result<ExitCode> {
    let registry = Arc::new(alertsync_integrations::registry());
    let config = load_config(global, &registry)?;
    let playbook = playbook_file::load(&args.playbook).map_err(|e| UsageError(e.to_string()))?;
    let bindings = playbook_file::bindings(&config, &args.playbook);
    let accounts = AccountBook::new(config.accounts.clone());
    let live_http = HttpClient::new()
        .map_err(anyhow::Error::msg)?
        .with_rate_limits(config.delivery.rate_limits());
    let http = if args.dry_run {
        live_http.dry_run()
    } else {
        live_http.clone()
    };
    let executor = RunExecutor::new(Arc::clone(&registry), accounts.clone(), http.clone())
        .with_retry(config.delivery.retry_policy())
        .with_data_dir(data_dir(&config));

    let report = executor.validate(&playbook, &bindings);
    for warning in &report.warnings {
        eprintln!("warning: {}: {}", warning.path, warning.message);
    }
    let problems: Vec<String> = report
        .errors
        .iter()
        .map(|p| format!("{}: {}", p.path, p.message))
        .collect();
    if let Some(first) = problems.first() {
        let more = problems.len() - 1;
        return usage(format!(
            "{} cannot run: {first}{}; `alertsync validate` lists every problem",
            args.playbook.display(),
            if more > 0 {
                format!(" (and {more} more)")
            } else {
                String::new()
            }
        ));
    }

    let trigger = trigger_node(&playbook, args.trigger.as_deref())?;
    let mut reachable = playbook.reachable_from(&[trigger.as_str()]);
    reachable.remove(trigger.as_str());
    let needed = report.needs_among(&reachable);
    if !needed.is_empty() {
        eprintln!(
            "error: {} cannot run from trigger node {trigger}: alertsync lacks what it reaches:",
            args.playbook.display()
        );
        for need in needed {
            eprintln!("  {need}");
        }
        return Ok(ExitCode::from(NEEDS_EXIT_CODE));
    }
    let (event, files) = match (&args.event, &args.alert) {
        (Some(file), _) => (read_event(file)?, None),
        (None, Some(alert)) => {
            let source = AlertSource {
                accounts: &accounts,
                http: &live_http,
                data_dir: executor.data_dir(),
            };
            source.event(&playbook, &trigger, alert).await?
        }
        (None, None) => return usage("give --event FILE or --alert ID"),
    };
    let mut request = RunRequest::new(Arc::new(playbook), trigger, event).with_bindings(bindings);
    if let Some(files) = files {
        request = request.with_run_files(files);
    }
    let record = executor.run(request, &NoObserver).await;

    match args.format {
        OutputFormat::Json => print_json(&record)?,
        OutputFormat::Text => print!("{}", record_text(&record, args.dry_run)),
    }
    Ok(match record.status {
        RunStatus::Succeeded => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

/// Run files (Utils Read JSON File) live next to the store.
fn data_dir(config: &Config) -> PathBuf {
    config
        .store
        .path
        .parent()
        .map(|dir| dir.join("files"))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The trigger to start at: the one named, else the only one.
fn trigger_node(playbook: &Playbook, named: Option<&str>) -> anyhow::Result<String> {
    let triggers: Vec<&str> = playbook.triggers().map(|n| n.id.as_str()).collect();
    let listed = || {
        playbook
            .triggers()
            .map(|n| format!("{} \"{}\"", n.id, n.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (named, triggers.as_slice()) {
        (Some(id), _) if triggers.contains(&id) => Ok(id.to_owned()),
        (Some(id), _) => usage(format!(
            "--trigger {id}: not a trigger node of this playbook (its triggers: {})",
            listed()
        )),
        (None, [only]) => Ok((*only).to_owned()),
        (None, []) => usage("the playbook has no trigger node"),
        (None, [first, ..]) => usage(format!(
            "the playbook has several triggers ({}): choose one with --trigger, e.g. \
             --trigger {first}",
            listed()
        )),
    }
}

fn read_event(file: &PathBuf) -> anyhow::Result<Value> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(file)
    }
    .map_err(|err| UsageError(format!("cannot read {}: {err}", file.display())))?;
    serde_json::from_str(&text)
        .map_err(|err| UsageError(format!("{}: not JSON: {err}", file.display())).into())
}

/// Where `--alert` reads the alert and writes its file.
struct AlertSource<'a> {
    accounts: &'a AccountBook,
    http: &'a HttpClient,
    data_dir: &'a Path,
}

impl AlertSource<'_> {
    /// The event the playbook's trigger would emit for `alert_id`, read with the Sekoia.io
    /// account: Manual Trigger's `{alert_uuid}`; for an alert trigger, the alert's event
    /// with `file_path` (the alert written to a file of the run, removed when it ends — the
    /// directory is returned) and, for the comment trigger, the alert's latest comment.
    async fn event(
        &self,
        playbook: &Playbook,
        trigger: &str,
        alert_id: &str,
    ) -> anyhow::Result<(Value, Option<PathBuf>)> {
        let (trigger_uuid, arguments) = match playbook.node(trigger).map(|n| &n.kind) {
            Some(NodeKind::Trigger {
                trigger_uuid,
                arguments,
                ..
            }) => (trigger_uuid.as_str(), arguments.clone()),
            _ => ("", Value::Null),
        };
        if let Some(what) = not_about_an_alert(trigger_uuid) {
            return usage(format!(
                "--alert cannot stand for {what}: give the event with --event FILE"
            ));
        }
        let account = self
            .accounts
            .sekoia()
            .map_err(|why| UsageError(format!("--alert needs a Sekoia.io account: {why}")))?;
        let cx = alertsync_engine::ActionContext::new(self.http.clone(), account.redactor());
        let client =
            sekoia::client_from_account(&cx, &account).map_err(|e| UsageError(e.message))?;
        let alert = client
            .get_alert(&cx, alert_id)
            .await
            .map_err(|err| anyhow::anyhow!("reading alert {alert_id}: {err}"))?;
        if trigger_uuid == triggers::MANUAL_TRIGGER {
            let uuid = alert
                .get("uuid")
                .and_then(Value::as_str)
                .unwrap_or(alert_id);
            return Ok((triggers::manual_event(uuid), None));
        }
        if !triggers::rule_filters_pass(&arguments, &alert) {
            eprintln!(
                "note: alert {alert_id} does not pass the trigger's rule filter; running anyway"
            );
        }
        let commented = trigger_uuid == triggers::ALERT_COMMENT_CREATED;
        let mut event = if trigger_uuid == threshold::ALERT_EVENTS_THRESHOLD {
            let count = threshold::event_count(&alert);
            let context = json!({"trigger_type": "alert_events_threshold", "reason": "run_by_hand",
                                 "new_events": count, "previous_count": 0, "current_count": count});
            threshold::threshold_event(&alert, &context)
        } else {
            triggers::alert_event(&alert, if commented { "alert-comment" } else { "alert" })
        };
        if commented {
            let comments = client
                .call(
                    &cx,
                    Method::GET,
                    &ApiPath::alert(alert_id).then("comments"),
                    &[],
                    None,
                )
                .await
                .map_err(|err| {
                    anyhow::anyhow!("reading the comments of alert {alert_id}: {err}")
                })?;
            let latest = comments
                .get("items")
                .and_then(Value::as_array)
                .and_then(|items| {
                    items
                        .iter()
                        .max_by_key(|c| c.get("date").and_then(Value::as_i64))
                })
                .ok_or_else(|| {
                    UsageError(format!(
                        "alert {alert_id} has no comment for the comment trigger to start with"
                    ))
                })?;
            event["comment"] = triggers::comment_of(latest);
        }
        let files = triggers::attach_alert_file(self.data_dir, &alert, &mut event)
            .await
            .map_err(anyhow::Error::msg)?;
        Ok((event, Some(files)))
    }
}

/// What a trigger whose event is not an alert's stands for, as `--alert` refuses it.
fn not_about_an_alert(trigger_uuid: &str) -> Option<&'static str> {
    if trigger_uuid == ilert::alert_changed::ALERT_CHANGED {
        Some("Alert Changed in ilert, whose event is a change ilert reports")
    } else if cases::CaseChangeKind::of_trigger(trigger_uuid).is_some() {
        Some("a case trigger, whose event is a case change")
    } else if feeds::FeedKind::of_trigger(trigger_uuid).is_some() {
        Some("a feed trigger, whose event is a page of STIX objects")
    } else {
        None
    }
}

fn record_text(record: &RunRecord, dry_run: bool) -> String {
    let mut out = String::new();
    for node in &record.nodes {
        out.push_str(&node_text(node));
    }
    if dry_run {
        let writes: usize = record.nodes.iter().map(|n| n.dry_run_writes.len()).sum();
        out.push_str(&format!(
            "\ndry run: {writes} write(s) recorded, none sent\n"
        ));
    }
    out.push_str(&format!("\nrun {}", status_word(&record.status)));
    if let Some(error) = &record.error {
        out.push_str(&format!(": {error}"));
    }
    out.push('\n');
    out
}

fn node_text(node: &NodeRecord) -> String {
    let mark = match node.status {
        NodeStatus::Succeeded => "ok  ",
        NodeStatus::Failed => "FAIL",
        NodeStatus::Waiting => "WAIT",
        _ => "    ",
    };
    let iteration = if node.iteration.is_empty() {
        String::new()
    } else {
        format!(
            " [iteration {}]",
            node.iteration
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(".")
        )
    };
    let duration = node
        .duration_ms
        .map(|ms| format!(" {ms} ms"))
        .unwrap_or_default();
    let mut out = format!(
        "{mark} node {} \"{}\"{iteration}{duration}\n",
        node.id, node.name
    );
    if !is_empty(&node.arguments) {
        out.push_str(&format!("  arguments:\n{}\n", indented(&node.arguments, 4)));
    }
    if let Some(results) = &node.results {
        out.push_str(&format!(
            "  results:\n{}\n",
            shortened(indented(results, 4))
        ));
    }
    if let Some(error) = &node.error {
        out.push_str(&format!("  error: {error}\n"));
    }
    for write in &node.dry_run_writes {
        out.push_str(&format!(
            "  dry run, not sent: {} {}\n{}\n",
            write.method,
            write.url,
            indented(&write.body, 4)
        ));
    }
    if !node.outputs.is_empty() {
        out.push_str(&format!("  → {}\n", node.outputs.join(", ")));
    }
    out
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// Results this long are cut in text output (`--format json` has them whole).
const RESULT_LINES: usize = 30;

fn shortened(text: String) -> String {
    let total = text.lines().count();
    if total <= RESULT_LINES {
        return text;
    }
    let kept: Vec<&str> = text.lines().take(RESULT_LINES).collect();
    format!(
        "{}\n    … {} more lines (--format json shows everything)",
        kept.join("\n"),
        total - RESULT_LINES
    )
}

fn indented(value: &Value, spaces: usize) -> String {
    let pad = " ".repeat(spaces);
    serde_json::to_string_pretty(value)
        .unwrap_or_default()
        .lines()
        .map(|line| format!("{pad}{line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn status_word(status: &RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "still running",
        other => other.as_str(),
    }
}
