//! `alertsync demo`: the whole product with nothing to configure. A simulated Sekoia.io
//! raises alerts; `alertsync serve`, running the shipped `forward-alerts-to-ilert` playbook,
//! hears it through live notifications and opens them in a simulated ilert. Then analysts
//! acknowledge and close some in Sekoia.io, which ilert follows, and on-call accepts and
//! resolves others in ilert, whose webhook runs the shipped `sync-ilert-to-sekoia` playbook
//! so that Sekoia.io follows — and nothing bounces back and forth. With `--keep` everything
//! stays up afterwards, and the web console shows the runs.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alertsync_config::Config;
use alertsync_engine::Cancellation;
use alertsync_server::serve::{ServeOptions, serve};
use alertsync_sim::{IlertAlertView, IlertWebhook, SimConfig, Simulator};
use clap::Args;
use serde_json::Value;

use super::{shutdown_signal, usage};

/// Alert Created and Alert Status Changed → ilert Trigger Alert.
const FORWARD: (&str, &str) = (
    "forward-alerts-to-ilert.json",
    include_str!("../../../../examples/playbooks/forward-alerts-to-ilert.json"),
);

/// Alert Changed in ilert → Get Alert → Update Alert Status by name.
const SYNC: (&str, &str) = (
    "sync-ilert-to-sekoia.json",
    include_str!("../../../../examples/playbooks/sync-ilert-to-sekoia.json"),
);

/// What is done to each alert once it is in ilert (cycled over the alerts).
const STEPS: [Step; 5] = [
    Step::AnalystAcknowledges,
    Step::AnalystCloses,
    Step::OnCallAccepts,
    Step::OnCallResolves,
    Step::Nothing,
];

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
    let webhook_token = uuid::Uuid::new_v4().simple().to_string();
    let config = demo_config(&simulator, workdir.path(), &webhook_token)?;
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
    if let Err(err) = register_webhook(&simulator, &address.to_string(), &webhook_token) {
        stop.cancel();
        let _ = service.await;
        simulator.shutdown().await;
        return Err(err);
    }
    println!("simulated Sekoia.io at {}", simulator.urls().sekoia);
    println!("simulated ilert at     {}", simulator.urls().ilert);
    println!(
        "alertsync serving at   http://{address}, running forward-alerts-to-ilert and \
         sync-ilert-to-sekoia"
    );
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

/// A configuration on the simulator, with the shipped playbooks, stored in `dir`.
fn demo_config(
    simulator: &Simulator,
    dir: &std::path::Path,
    webhook_token: &str,
) -> anyhow::Result<Config> {
    let defaults = SimConfig::default();
    for (file, playbook) in [FORWARD, SYNC] {
        std::fs::write(dir.join(file), playbook)?;
    }
    let text = format!(
        "[[account]]\nname = \"sekoia\"\nmodule = \"sekoia.io\"\nbase_url = \"{}\"\napi_key = \"{}\"\n\n\
         [[account]]\nname = \"ilert\"\nmodule = \"ilert\"\nintegration_url = \"{}\"\nintegration_key = \"{}\"\n\n\
         [[playbook]]\nfile = \"{}\"\n\n[[playbook]]\nfile = \"{}\"\nwebhook_token = \"{webhook_token}\"\n\n\
         [store]\npath = \"data/alertsync.db\"\n",
        simulator.urls().sekoia,
        defaults.api_key,
        simulator.urls().ilert,
        defaults
            .ilert_integration_keys
            .first()
            .cloned()
            .unwrap_or_default(),
        FORWARD.0,
        SYNC.0,
    );
    let path = dir.join("alertsync.toml");
    std::fs::write(&path, text)?;
    let registry = alertsync_integrations::registry();
    Config::load(&path, &registry).map_err(|err| anyhow::anyhow!("{err}"))
}

/// Sets up ilert's webhook alert action for the sync playbook, as its README section says:
/// accepted and resolved alerts, the webhook token as the password of the URL.
fn register_webhook(
    simulator: &Simulator,
    address: &str,
    webhook_token: &str,
) -> anyhow::Result<()> {
    let playbook: Value = serde_json::from_str(SYNC.1)?;
    let sync = playbook["uuid"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the sync playbook has no uuid"))?;
    let webhook = IlertWebhook {
        url: format!("http://ilert:{webhook_token}@{address}/hooks/{sync}/1"),
        alert_source: None,
        events: vec!["alert-accepted".to_owned(), "alert-resolved".to_owned()],
    };
    simulator
        .register_ilert_webhook(webhook)
        .map_err(|err| anyhow::anyhow!("the simulated ilert refused the webhook: {err}"))?;
    Ok(())
}

/// What is done to an alert once it is in ilert, and by whom.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    AnalystAcknowledges,
    AnalystCloses,
    OnCallAccepts,
    OnCallResolves,
    Nothing,
}

impl Step {
    /// Who did it, for the summary.
    fn described(self) -> &'static str {
        match self {
            Self::AnalystAcknowledges => "analyst acknowledged",
            Self::AnalystCloses => "analyst closed",
            Self::OnCallAccepts => "on-call accepted",
            Self::OnCallResolves => "on-call resolved",
            Self::Nothing => "nobody",
        }
    }

    /// Where the alert ends: (its Sekoia.io status, its ilert status).
    fn outcome(self) -> (&'static str, &'static str) {
        match self {
            Self::AnalystAcknowledges | Self::OnCallAccepts => ("Acknowledged", "acknowledged"),
            Self::AnalystCloses | Self::OnCallResolves => ("Closed", "resolved"),
            Self::Nothing => ("Pending", "open"),
        }
    }

    /// Does it: analysts in Sekoia.io, on-call in ilert.
    fn take(self, simulator: &Simulator, alert: &Value) -> anyhow::Result<()> {
        let (uuid, short_id) = (text(alert, "uuid"), text(alert, "short_id"));
        let done = match self {
            Self::AnalystAcknowledges | Self::AnalystCloses => simulator
                .set_status(
                    &short_id,
                    self.outcome().0,
                    Some("handled in the alertsync demo"),
                )
                .map(drop),
            Self::OnCallAccepts => simulator.ilert_accept(&uuid, None).map(drop),
            Self::OnCallResolves => simulator.ilert_resolve(&uuid, None).map(drop),
            Self::Nothing => Ok(()),
        };
        done.map_err(|err| anyhow::anyhow!("{} {short_id}: {err}", self.described()))
    }
}

/// An alert of the story and what is done to it.
struct Planned {
    alert: Value,
    step: Step,
}

/// Raises the alerts, works on them on both sides, and follows both until they are in step.
async fn story(simulator: &Simulator, count: usize) -> anyhow::Result<()> {
    wait_until(
        || simulator.live_connection_count() > 0,
        "the live notifications to connect",
    )
    .await?;
    println!(
        "Sekoia.io raises {count} alerts; once they are in ilert, analysts acknowledge or \
         close some in Sekoia.io and on-call accepts or resolves others in ilert:"
    );
    let planned = Mutex::new(Vec::new());
    let done = AtomicBool::new(false);
    let (worked, followed) = tokio::join!(
        async {
            let outcome = raise_and_work(simulator, count, &planned).await;
            done.store(true, Ordering::SeqCst);
            outcome
        },
        follow(simulator, count, &planned, &done)
    );
    worked?;
    followed?;
    print_summary(simulator, &lock(&planned));
    Ok(())
}

/// Creates the alerts, waits until ilert has them, then takes each alert's step.
async fn raise_and_work(
    simulator: &Simulator,
    count: usize,
    planned: &Mutex<Vec<Planned>>,
) -> anyhow::Result<()> {
    for step in STEPS.iter().cycle().take(count) {
        let alert = simulator.create_alert(Value::Null);
        lock(planned).push(Planned { alert, step: *step });
        tokio::time::sleep(STEP_PAUSE).await;
    }
    let uuids: Vec<String> = lock(planned)
        .iter()
        .map(|p| text(&p.alert, "uuid"))
        .collect();
    wait_until(
        || {
            let view = simulator.ilert_alerts();
            uuids
                .iter()
                .all(|uuid| view.iter().any(|a| &a.alert_key == uuid))
        },
        "every alert to reach ilert",
    )
    .await?;
    let steps: Vec<(Value, Step)> = lock(planned)
        .iter()
        .map(|p| (p.alert.clone(), p.step))
        .collect();
    for (alert, step) in steps.iter().filter(|(_, step)| *step != Step::Nothing) {
        step.take(simulator, alert)?;
        tokio::time::sleep(STEP_PAUSE).await;
    }
    Ok(())
}

/// Prints both sides whenever they change, until every alert is where it should be.
async fn follow(
    simulator: &Simulator,
    count: usize,
    planned: &Mutex<Vec<Planned>>,
    done: &AtomicBool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut last_line = String::new();
    loop {
        let view = simulator.ilert_alerts();
        let line = progress_line(simulator, &view, count, &lock(planned));
        if line != last_line {
            println!("  {:>5.1} s  {line}", started.elapsed().as_secs_f32());
            last_line = line;
        }
        if done.load(Ordering::SeqCst) && in_step(simulator, &view, &lock(planned)) {
            return Ok(());
        }
        if started.elapsed() > PATIENCE {
            anyhow::bail!(
                "Sekoia.io and ilert did not get in step within {PATIENCE:?}: {last_line}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The Sekoia.io status of an alert, by name.
fn sekoia_status(simulator: &Simulator, alert: &Value) -> String {
    simulator
        .alert(&text(alert, "uuid"))
        .map(|a| text(&a["status"], "name"))
        .unwrap_or_default()
}

/// The ilert alert of a Sekoia.io alert.
fn ilert_alert<'a>(view: &'a [IlertAlertView], alert: &Value) -> Option<&'a IlertAlertView> {
    let uuid = text(alert, "uuid");
    view.iter().find(|a| a.alert_key == uuid)
}

/// Whether every alert is where its step leads, on both sides.
fn in_step(simulator: &Simulator, view: &[IlertAlertView], planned: &[Planned]) -> bool {
    planned.iter().all(|p| {
        let (sekoia, ilert) = p.step.outcome();
        sekoia_status(simulator, &p.alert) == sekoia
            && ilert_alert(view, &p.alert).is_some_and(|a| a.status == ilert)
    })
}

fn progress_line(
    simulator: &Simulator,
    view: &[IlertAlertView],
    count: usize,
    planned: &[Planned],
) -> String {
    let in_ilert = |status: &str| view.iter().filter(|a| a.status == status).count();
    let statuses: Vec<String> = planned
        .iter()
        .map(|p| sekoia_status(simulator, &p.alert))
        .collect();
    let in_sekoia = |status: &str| statuses.iter().filter(|s| *s == status).count();
    format!(
        "ilert {}/{count}: {} open, {} acknowledged, {} resolved · Sekoia.io: {} pending, {} \
         acknowledged, {} closed",
        view.len(),
        in_ilert("open"),
        in_ilert("acknowledged"),
        in_ilert("resolved"),
        in_sekoia("Pending"),
        in_sekoia("Acknowledged"),
        in_sekoia("Closed"),
    )
}

fn print_summary(simulator: &Simulator, planned: &[Planned]) {
    let view = simulator.ilert_alerts();
    println!("\nwhere each alert ended:");
    // Fixed-width columns by hand: short ASCII ids and status words need no table crate.
    println!(
        "{:<12} {:<20} {:<14} {:<13} what ilert received and did",
        "alert", "changed by", "Sekoia.io", "ilert"
    );
    for p in planned {
        if let Some(ilert) = ilert_alert(&view, &p.alert) {
            println!(
                "{:<12} {:<20} {:<14} {:<13} {}",
                text(&p.alert, "short_id"),
                p.step.described(),
                sekoia_status(simulator, &p.alert),
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
