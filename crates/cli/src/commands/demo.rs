//! `alertsync demo`: the whole product with nothing to configure. A simulated Sekoia.io
//! raises alerts and analysts work on them; `alertsync serve`, running the shipped
//! `forward-alerts-to-ilert` playbook, hears it all through live notifications and keeps a
//! simulated ilert in step — alerts opened, acknowledged and resolved there. With `--keep`
//! everything stays up afterwards, and the web console shows the runs.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alertsync_config::Config;
use alertsync_engine::Cancellation;
use alertsync_server::serve::{ServeOptions, serve};
use alertsync_sim::{IlertAlertView, SimConfig, Simulator};
use clap::Args;
use serde_json::Value;

use super::{shutdown_signal, usage};

/// The playbook the demo runs: Alert Created and Alert Status Changed → ilert Trigger Alert.
const PLAYBOOK: &str = include_str!("../../../../examples/playbooks/forward-alerts-to-ilert.json");

/// What the analysts do, alert by alert (cycled): the final Sekoia.io status.
const ANALYST_STEPS: [Option<&str>; 3] = [Some("Acknowledged"), Some("Closed"), None];

/// The pause between two things the simulated analysts do.
const STEP_PAUSE: Duration = Duration::from_millis(300);

/// How long the demo waits for ilert to catch up before it gives up.
const PATIENCE: Duration = Duration::from_secs(90);

/// Where the service listens unless `--listen` says otherwise (when that port is free).
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Args)]
#[command(
    after_help = "The demo keeps its state in a temporary directory and sends nothing \
outside this machine.\n\
The service (API and web console) listens on 127.0.0.1:8080, or on a free loopback port when \
8080 is taken; --listen chooses the address. The demo has no [server] token, so it refuses \
addresses beyond loopback, as `alertsync serve` does without one."
)]
pub struct DemoArgs {
    /// How many alerts the simulated Sekoia.io raises.
    #[arg(long, default_value_t = 9, value_parser = clap::value_parser!(u16).range(1..=1000))]
    alerts: u16,
    /// Keep the simulator and the service running after the summary (Ctrl-C to stop), and
    /// print the web console's URL.
    #[arg(long)]
    keep: bool,
    /// Where the service (API and web console) listens; default: 127.0.0.1:8080, or a free
    /// loopback port when 8080 is taken. Loopback addresses only.
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let listen = match args.listen {
        Some(listen) => listen,
        None => default_listen(),
    };
    if let Err(refusal) = alertsync_server::api::auth::refuse_open_listen(&listen, false) {
        return usage(format!("{refusal} (the demo runs without a token)"));
    }
    let simulator = alertsync_sim::start(SimConfig::default())
        .await
        .map_err(|err| anyhow::anyhow!("the simulator cannot start: {err}"))?;
    let workdir = tempfile::tempdir()?;
    let config = demo_config(&simulator, workdir.path())?;
    let stop = Cancellation::new();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let service = tokio::spawn(serve(
        config,
        Arc::new(alertsync_integrations::registry()),
        ServeOptions {
            listen,
            grace: Duration::from_secs(5),
        },
        stop.clone(),
        move |address| {
            let _ = ready_tx.send(address);
        },
    ));
    let Ok(address) = ready_rx.await else {
        let why = match service.await {
            Ok(Err(err)) => err.to_string(),
            Ok(Ok(())) => "it stopped before serving".to_owned(),
            Err(err) => err.to_string(),
        };
        simulator.shutdown().await;
        return usage(format!("alertsync serve did not start: {why}"));
    };
    let console = format!("http://{address}/");
    println!("simulated Sekoia.io at {}", simulator.urls().sekoia);
    println!("simulated ilert at     {}", simulator.urls().ilert);
    println!("alertsync serving at   http://{address}, running forward-alerts-to-ilert");
    if args.keep {
        println!("console:               {console}");
    }
    println!();

    let outcome = story(&simulator, usize::from(args.alerts)).await;
    if outcome.is_ok() && args.keep {
        println!("\nstill running; Ctrl-C to stop");
        println!("console: {console}");
        println!("simulator control API: {}", simulator.urls().control);
        shutdown_signal().await;
    }
    stop.cancel();
    let _ = service.await;
    simulator.shutdown().await;
    outcome?;
    Ok(ExitCode::SUCCESS)
}

/// 127.0.0.1:8080 when nothing listens there, else a free loopback port.
fn default_listen() -> String {
    match std::net::TcpListener::bind(DEFAULT_LISTEN) {
        Ok(_) => DEFAULT_LISTEN.to_owned(),
        Err(_) => "127.0.0.1:0".to_owned(),
    }
}

/// A configuration on the simulator, with the shipped playbook, stored in `dir`.
fn demo_config(simulator: &Simulator, dir: &std::path::Path) -> anyhow::Result<Config> {
    let defaults = SimConfig::default();
    let playbook = dir.join("forward-alerts-to-ilert.json");
    std::fs::write(&playbook, PLAYBOOK)?;
    let text = format!(
        "[[account]]\nname = \"sekoia\"\nmodule = \"sekoia.io\"\nbase_url = \"{}\"\napi_key = \"{}\"\n\n\
         [[account]]\nname = \"ilert\"\nmodule = \"ilert\"\nintegration_url = \"{}\"\nintegration_key = \"{}\"\n\n\
         [[playbook]]\nfile = \"forward-alerts-to-ilert.json\"\n\n[store]\npath = \"data/alertsync.db\"\n",
        simulator.urls().sekoia,
        defaults.api_key,
        simulator.urls().ilert,
        defaults
            .ilert_integration_keys
            .first()
            .cloned()
            .unwrap_or_default(),
    );
    let path = dir.join("alertsync.toml");
    std::fs::write(&path, text)?;
    let registry = alertsync_integrations::registry();
    Config::load(&path, &registry).map_err(|err| anyhow::anyhow!("{err}"))
}

/// Raises the alerts and works on them while following ilert, until ilert is in step.
async fn story(simulator: &Simulator, count: usize) -> anyhow::Result<()> {
    wait_until(
        || simulator.live_connection_count() > 0,
        "the live notifications to connect",
    )
    .await?;
    println!("Sekoia.io raises {count} alerts; analysts acknowledge some and close others:");
    let expected = Mutex::new(Vec::new());
    let done = AtomicBool::new(false);
    let (raised, followed) = tokio::join!(
        async {
            let outcome = raise_and_work(simulator, count, &expected).await;
            done.store(true, Ordering::SeqCst);
            outcome
        },
        follow(simulator, count, &expected, &done)
    );
    let alerts = raised?;
    followed?;
    print_summary(simulator, &alerts);
    Ok(())
}

/// Creates the alerts and changes their status, noting the ilert status each should reach.
async fn raise_and_work(
    simulator: &Simulator,
    count: usize,
    expected: &Mutex<Vec<(String, &'static str)>>,
) -> anyhow::Result<Vec<Value>> {
    let mut alerts = Vec::new();
    for step in ANALYST_STEPS.iter().cycle().take(count) {
        let alert = simulator.create_alert(Value::Null);
        lock(expected).push((text(&alert, "uuid"), ilert_status(*step)));
        alerts.push(alert);
        tokio::time::sleep(STEP_PAUSE).await;
    }
    for (alert, step) in alerts.iter().zip(ANALYST_STEPS.iter().cycle()) {
        if let Some(status) = step {
            let short_id = text(alert, "short_id");
            simulator
                .set_status(&short_id, status, Some("handled in the alertsync demo"))
                .map_err(|err| anyhow::anyhow!("changing the status of {short_id}: {err}"))?;
            tokio::time::sleep(STEP_PAUSE).await;
        }
    }
    Ok(alerts)
}

/// Prints ilert's side whenever it changes, until every alert is where it should be.
async fn follow(
    simulator: &Simulator,
    count: usize,
    expected: &Mutex<Vec<(String, &'static str)>>,
    done: &AtomicBool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut last_line = String::new();
    loop {
        let view = simulator.ilert_alerts();
        let line = progress_line(&view, count);
        if line != last_line {
            println!("  {:>5.1} s  {line}", started.elapsed().as_secs_f32());
            last_line = line;
        }
        if done.load(Ordering::SeqCst) && in_step(&view, &lock(expected)) {
            return Ok(());
        }
        if started.elapsed() > PATIENCE {
            anyhow::bail!("ilert did not catch up within {PATIENCE:?}: {last_line}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The ilert status an alert ends in after the analysts' step.
fn ilert_status(step: Option<&str>) -> &'static str {
    match step {
        Some("Acknowledged") => "acknowledged",
        Some(_) => "resolved",
        None => "open",
    }
}

fn in_step(view: &[IlertAlertView], expected: &[(String, &'static str)]) -> bool {
    expected.iter().all(|(uuid, status)| {
        view.iter()
            .any(|a| &a.alert_key == uuid && a.status == *status)
    })
}

fn progress_line(view: &[IlertAlertView], count: usize) -> String {
    let with = |status: &str| view.iter().filter(|a| a.status == status).count();
    format!(
        "ilert: {}/{count} alerts — {} open, {} acknowledged, {} resolved",
        view.len(),
        with("open"),
        with("acknowledged"),
        with("resolved")
    )
}

fn print_summary(simulator: &Simulator, alerts: &[Value]) {
    let view = simulator.ilert_alerts();
    println!("\nwhat ilert received:");
    // Fixed-width columns by hand: short ASCII ids and status words need no table crate.
    println!("{:<12} {:<14} {:<13} events", "alert", "Sekoia.io", "ilert");
    for alert in alerts {
        let uuid = text(alert, "uuid");
        let sekoia_status = simulator
            .alert(&uuid)
            .map(|a| text(&a["status"], "name"))
            .unwrap_or_default();
        if let Some(ilert) = view.iter().find(|a| a.alert_key == uuid) {
            println!(
                "{:<12} {sekoia_status:<14} {:<13} {}",
                text(alert, "short_id"),
                ilert.status,
                ilert.events.join(" → ")
            );
        }
    }
}

/// Polls `condition` until it holds or the demo's patience runs out.
async fn wait_until(condition: impl Fn() -> bool, what: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    while !condition() {
        if started.elapsed() > PATIENCE {
            anyhow::bail!("gave up waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_owned()
}
