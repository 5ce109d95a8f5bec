//! `alertsync-bench`: runs every measurement back to back on this machine and writes
//! `latest.json` and `latest.md` (see `--help` for what each measurement is).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use serde_json::{Value, json};

/// Progress on stderr: which measurement, how far.
macro_rules! progress {
    ($($arg:tt)*) => {
        eprintln!("[bench] {}", format!($($arg)*))
    };
}

mod ceiling;
mod latency;
mod machine;
mod oneshot;
mod pipeline;
mod postgres;
mod procs;
mod profile;
mod python;
mod report;
mod serve;
mod sim;
mod stats;
mod templates;

use pipeline::Setup;
use python::{Python, Unavailable};
use serve::Store;
use sim::SimProcess;

/// The workspace root, where `bench/`, `examples/` and the default target dir are.
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

#[derive(Parser, Debug)]
#[command(
    name = "alertsync-bench",
    version,
    about = "Measures alertsync against the simulator and writes DIR/latest.json and DIR/latest.md.",
    long_about = "Measures alertsync against the simulator, each measurement back to back on this \
machine, and writes DIR/latest.json and a markdown table DIR/latest.md.\n\n\
Measurements:\n\
  1. one-shot   wall time and peak RSS (wait4) of `alertsync action ilert.trigger_alert`, \
as a whole process, alternating with the Python baseline (a sekoia_automation Action with \
requests + urllib3 Retry) doing the same GET alert + POST to ilert; medians.\n\
  2. pipeline   N alerts raised in the simulator -> live notifications -> `alertsync serve` \
(durable SQLite store, forward-alerts-to-ilert playbook) -> Get Alert -> ilert. Throughput, \
notification->ilert latency p50/p95/p99 (timed by the simulator), peak RSS (VmHWM) and CPU \
seconds of serve. Compared with the loopback ceiling (the same two HTTP calls per alert from \
a minimal reqwest client, same concurrency, no engine, no store) and with the Python action's \
run() in a loop in one process.\n\
  3. fixed rate 1,000 alerts/s offered for 30 s: notification->ilert latency p50/p99.\n\
  4. templates  renders/s over every argument template of the corpus playbooks \
(../shared/corpus/spl beside the checkout).\n\
  5. memory     RSS of serve idle with 10 playbooks enabled, then after 100,000 runs \
recorded (10,000 alerts, each running the 10 playbooks).\n\
  6. postgres   with --postgres URL, the sustained pipeline again with the store in \
PostgreSQL, by 1 and by 3 `alertsync serve` instances sharing a fresh schema (created, then \
dropped): one holds the live connection, all deliver. CPU is summed over the instances, \
peak RSS is the largest instance's.\n\n\
The Python baseline lives in bench/python; its virtualenv (bench/.venv) is created and \
filled from PyPI on first use. When that fails its columns read \"unavailable: <reason>\".\n\
Reproduce the committed results with: cargo run --release -p alertsync-bench"
)]
struct Args {
    /// Alerts for the sustained pipeline, the loopback ceiling and the Python loop.
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    alerts: usize,
    /// Seconds of the fixed-rate measurement.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    fixed_seconds: f64,
    /// Alerts a second offered in the fixed-rate measurement.
    #[arg(long, value_name = "N", default_value_t = 1_000)]
    rate: u32,
    /// Runs recorded before the second memory reading.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    memory_runs: usize,
    /// Runs of each side in the one-shot measurement.
    #[arg(long, value_name = "N", default_value_t = 11)]
    oneshot_runs: usize,
    /// A quick check that everything works, in seconds even with a debug build: 200
    /// alerts, 2 s at 100 alerts/s, 3 one-shot runs, 200 recorded runs, short template
    /// timing (explicit flags still win). Its numbers are not for comparison.
    #[arg(long)]
    smoke: bool,
    /// Leaves the Python baseline out (its columns read "unavailable: skipped").
    #[arg(long)]
    skip_python: bool,
    /// Where latest.json and latest.md are written [default: bench/results].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The alertsync binary to measure [default: `alertsync` beside this binary].
    #[arg(long, value_name = "PATH")]
    alertsync: Option<PathBuf>,
    /// Samples serve with `perf record -e cpu-clock --call-graph dwarf` during the
    /// fixed-rate measurement and writes DIR/serve-flamegraph.svg (and the folded stacks,
    /// DIR/serve.folded). Build with `--profile profiling` for symbols.
    #[arg(long, value_name = "DIR")]
    profile: Option<PathBuf>,
    /// Also measures the sustained pipeline on this PostgreSQL server, by 1 and by 3
    /// instances, each run on a schema it creates and drops (e.g.
    /// postgres://postgres@127.0.0.1:5432/test).
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
}

/// The settings of one invocation, smoke mode applied.
struct Plan {
    alerts: usize,
    fixed: Duration,
    rate: u32,
    memory_runs: usize,
    oneshot_runs: usize,
    template_budget: Duration,
}

impl Plan {
    fn from(args: &Args) -> Plan {
        let given = |flag: &str| {
            std::env::args().any(|arg| arg == flag || arg.starts_with(&format!("{flag}=")))
        };
        let quick = |flag: &str| args.smoke && !given(flag);
        let alerts = if quick("--alerts") { 200 } else { args.alerts };
        let fixed_seconds = if quick("--fixed-seconds") {
            2.0
        } else {
            args.fixed_seconds
        };
        let memory_runs = if quick("--memory-runs") {
            200
        } else {
            args.memory_runs
        };
        let oneshot_runs = if quick("--oneshot-runs") {
            3
        } else {
            args.oneshot_runs
        };
        Plan {
            alerts: alerts.max(1),
            fixed: Duration::from_secs_f64(fixed_seconds.max(0.1)),
            rate: if quick("--rate") { 100 } else { args.rate }.max(1),
            memory_runs: memory_runs.max(1),
            oneshot_runs: oneshot_runs.max(1),
            template_budget: Duration::from_millis(if args.smoke { 300 } else { 3_000 }),
        }
    }
}

/// Serve's `[delivery] workers` default, which the ceiling's concurrency matches.
const WORKERS: usize = 8;
/// Playbooks enabled in the memory measurement.
const MEMORY_PLAYBOOKS: usize = 10;
/// How many instances share the PostgreSQL database in each PostgreSQL pipeline run.
const POSTGRES_INSTANCES: [usize; 2] = [1, 3];
/// What the PostgreSQL columns say without `--postgres`.
const POSTGRES_NOT_MEASURED: &str = "not measured (give --postgres URL)";

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // reqwest is built without a default TLS provider; the simulator is plain HTTP, but the
    // client wants one installed all the same. Failing means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("alertsync-bench: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Every measurement; `Ok(false)` when one of them failed (the others are still reported).
async fn run(args: Args) -> anyhow::Result<bool> {
    let root = Path::new(ROOT).canonicalize()?;
    let plan = Plan::from(&args);
    let alertsync = match &args.alertsync {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("alertsync"),
    };
    anyhow::ensure!(
        alertsync.is_file(),
        "no alertsync binary at {} (build it, or give --alertsync)",
        alertsync.display()
    );
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| root.join("bench/results"));
    let scratch = tempfile::tempdir()?;
    let setup = Setup {
        alertsync: alertsync.clone(),
        playbook: root.join("examples/playbooks/forward-alerts-to-ilert.json"),
    };
    let python = prepare_python(&args, &root);

    let mut results = report::Results::new(machine::describe());
    results.settings = json!({
        "alerts": plan.alerts,
        "smoke": args.smoke,
        "oneshot_runs": plan.oneshot_runs,
        "fixed_rate": {"per_second": plan.rate, "seconds": plan.fixed.as_secs_f64()},
        "memory": {"playbooks": MEMORY_PLAYBOOKS, "runs": plan.memory_runs},
        "serve_workers": WORKERS,
        "postgres": args.postgres.as_deref().map(postgres::shown),
        "alertsync": alertsync.display().to_string(),
        "python": match &python {
            Ok(python) => format!("sekoia-automation-sdk {}", python.sdk_version()),
            Err(reason) => unavailable(reason),
        },
    });

    progress!(
        "templates: rendering the corpus for {:?}",
        plan.template_budget
    );
    let corpus = root.join("../shared/corpus/spl");
    results.templates = outcome(templates::run(&corpus, plan.template_budget));

    progress!("one-shot: {} runs each", plan.oneshot_runs);
    results.one_shot = outcome(one_shot(&setup, &python, &plan, scratch.path()).await);

    progress!("pipeline: {} alerts through alertsync serve", plan.alerts);
    results.pipeline = outcome(pipeline::sustained(&setup, plan.alerts, &Store::File, 1).await);
    results.postgres = postgres_pipelines(&setup, args.postgres.as_deref(), plan.alerts).await;

    progress!("ceiling: {} alerts, {WORKERS} at a time", plan.alerts);
    results.ceiling = outcome(ceiling_run(&setup, plan.alerts).await);

    results.python_loop = match &python {
        Ok(python) => {
            progress!("python loop: {} alerts, run() in one process", plan.alerts);
            outcome(python_loop(&setup, python, plan.alerts, scratch.path()).await)
        }
        Err(reason) => Value::String(unavailable(reason)),
    };

    progress!("fixed rate: {}/s for {:?}", plan.rate, plan.fixed);
    results.fixed_rate =
        outcome(pipeline::fixed_rate(&setup, plan.rate, plan.fixed, args.profile.as_deref()).await);

    progress!(
        "memory: {MEMORY_PLAYBOOKS} playbooks, {} runs",
        plan.memory_runs
    );
    results.memory = outcome(pipeline::memory(&setup, MEMORY_PLAYBOOKS, plan.memory_runs).await);

    let all_ok = results.all_ok();
    let (json_path, md_path) = results.write(&out)?;
    progress!("written {} and {}", json_path.display(), md_path.display());
    println!("{}", std::fs::read_to_string(&md_path)?);
    Ok(all_ok)
}

fn unavailable(reason: impl std::fmt::Display) -> String {
    format!("unavailable: {reason}")
}

fn prepare_python(args: &Args, root: &Path) -> Result<Python, Unavailable> {
    let forced = std::env::var("ALERTSYNC_BENCH_PYTHON").as_deref() == Ok("1");
    if args.skip_python && !forced {
        return Err(Unavailable::Skipped);
    }
    let python = Python::prepare(&root.join("bench"));
    if let Err(reason) = &python {
        progress!("python baseline unavailable: {reason}");
    }
    python
}

/// A measurement's result as JSON, or `{"error": ...}`.
fn outcome<T: serde::Serialize>(result: anyhow::Result<T>) -> Value {
    match result.and_then(|value| Ok(serde_json::to_value(value)?)) {
        Ok(value) => value,
        Err(error) => {
            progress!("measurement failed: {error:#}");
            json!({"error": format!("{error:#}")})
        }
    }
}

async fn one_shot(
    setup: &Setup,
    python: &Result<Python, Unavailable>,
    plan: &Plan,
    dir: &Path,
) -> anyhow::Result<Value> {
    let sim = SimProcess::start(&setup.alertsync).await?;
    let uuid = sim.create_alerts(1).await?.remove(0);
    let settings = python::write_settings(dir, &sim)?;
    let baseline = python
        .as_ref()
        .ok()
        .map(|python| (python, settings.as_path()));
    let (ours, theirs) = oneshot::run(
        &setup.alertsync,
        &sim,
        &uuid,
        baseline,
        plan.oneshot_runs,
        dir,
    )?;
    Ok(json!({
        "alertsync": ours,
        "python": match (theirs, python) {
            (Some(runs), _) => serde_json::to_value(runs)?,
            (None, Err(reason)) => Value::String(unavailable(reason)),
            (None, Ok(_)) => Value::String(unavailable("no run")),
        },
    }))
}

/// The sustained pipeline on PostgreSQL for each of [`POSTGRES_INSTANCES`], or "not
/// measured" without a server.
async fn postgres_pipelines(
    setup: &Setup,
    server: Option<&str>,
    alerts: usize,
) -> Vec<(usize, Value)> {
    let mut measured = Vec::with_capacity(POSTGRES_INSTANCES.len());
    for instances in POSTGRES_INSTANCES {
        let value = match server {
            Some(server) => {
                progress!(
                    "pipeline: {alerts} alerts through {instances} alertsync serve on {}",
                    postgres::shown(server)
                );
                outcome(postgres::sustained(setup, server, alerts, instances).await)
            }
            None => Value::String(POSTGRES_NOT_MEASURED.to_owned()),
        };
        measured.push((instances, value));
    }
    measured
}

async fn ceiling_run(setup: &Setup, alerts: usize) -> anyhow::Result<ceiling::Ceiling> {
    let sim = SimProcess::start(&setup.alertsync).await?;
    let uuids = sim.create_alerts(alerts).await?;
    ceiling::run(&sim, &uuids, WORKERS).await
}

async fn python_loop(
    setup: &Setup,
    python: &Python,
    alerts: usize,
    dir: &Path,
) -> anyhow::Result<python::Loop> {
    let sim = SimProcess::start(&setup.alertsync).await?;
    let uuids = sim.create_alerts(alerts).await?;
    let settings = python::write_settings(dir, &sim)?;
    python.run_loop(&settings, &uuids, dir)
}
