//! `alertsync demo`: alertsync at work with nothing to configure — a simulated Sekoia.io
//! raises alerts, ilert's Trigger Alert forwards them to a simulated ilert, analysts
//! acknowledge and close some, the changes are forwarded again, and the ilert side is shown.

use std::process::ExitCode;
use std::sync::Arc;

use alertsync_engine::http::HttpClient;
use alertsync_engine::invoke::invoke;
use alertsync_engine::{Account, Action, ActionContext};
use alertsync_sim::{SimConfig, Simulator};
use clap::Args;
use serde_json::{Map, Value, json};

#[derive(Args)]
pub struct DemoArgs {
    /// How many alerts the simulated Sekoia.io raises.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=1000))]
    alerts: u16,
}

/// What the analysts do in the demo, alert by alert (cycled).
const ANALYST_STEPS: [Option<&str>; 3] = [Some("Acknowledged"), Some("Closed"), None];

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let simulator = alertsync_sim::start(SimConfig::default())
        .await
        .map_err(|err| anyhow::anyhow!("the simulator cannot start: {err}"))?;
    let outcome = forward_and_follow(&simulator, usize::from(args.alerts)).await;
    simulator.shutdown().await;
    outcome?;
    Ok(ExitCode::SUCCESS)
}

async fn forward_and_follow(simulator: &Simulator, count: usize) -> anyhow::Result<()> {
    let forwarder = Forwarder::new(simulator)?;
    println!("simulated Sekoia.io at {}", simulator.urls().sekoia);
    println!("simulated ilert at {}", simulator.urls().ilert);

    let alerts = simulator.create_alerts(count);
    println!("\nSekoia.io raised {count} alerts; forwarding each to ilert:");
    for alert in &alerts {
        forwarder.forward(alert).await?;
    }

    println!("\nanalysts work on them in Sekoia.io; forwarding the changes:");
    for (alert, step) in alerts.iter().zip(ANALYST_STEPS.iter().cycle()) {
        let Some(status) = step else { continue };
        let short_id = text(alert, "short_id");
        let updated = simulator
            .set_status(&short_id, status, Some("handled in the alertsync demo"))
            .map_err(|err| anyhow::anyhow!("changing the status of {short_id}: {err}"))?;
        forwarder.forward(&updated).await?;
    }

    println!("\nwhat ilert received:");
    println!("{:<12} {:<14} {:<13} events", "alert", "Sekoia.io", "ilert");
    for alert in &alerts {
        let uuid = text(alert, "uuid");
        let short_id = text(alert, "short_id");
        let sekoia_status = simulator
            .alert(&uuid)
            .map(|a| text(&a["status"], "name"))
            .unwrap_or_default();
        for ilert in simulator
            .ilert_alerts()
            .iter()
            .filter(|a| a.alert_key == uuid || a.alert_key == short_id)
        {
            println!(
                "{short_id:<12} {sekoia_status:<14} {:<13} {}",
                ilert.status,
                ilert.events.join(" → ")
            );
        }
    }
    Ok(())
}

/// ilert's Trigger Alert with an account pointing at the simulated ilert.
struct Forwarder {
    action: Arc<dyn Action>,
    cx: ActionContext,
    sekoia_url: String,
    sekoia_key: String,
}

impl Forwarder {
    fn new(simulator: &Simulator) -> anyhow::Result<Self> {
        let registry = alertsync_integrations::registry();
        let (module, action) = registry
            .action_by_name("ilert.trigger_alert")
            .map_err(anyhow::Error::msg)?;
        let defaults = SimConfig::default();
        let ilert_key = defaults
            .ilert_integration_keys
            .first()
            .cloned()
            .unwrap_or_default();
        let mut values = Map::new();
        values.insert("integration_key".into(), json!(ilert_key));
        values.insert("integration_url".into(), json!(simulator.urls().ilert));
        let account = Arc::new(Account::new("demo ilert", &module.manifest, values));
        let mut redactor = account.redactor();
        redactor.add(defaults.api_key.clone());
        let mut cx = ActionContext::new(HttpClient::new().map_err(anyhow::Error::msg)?, redactor);
        cx.account = Some(account);
        Ok(Self {
            action: Arc::clone(action),
            cx,
            sekoia_url: simulator.urls().sekoia.clone(),
            sekoia_key: defaults.api_key,
        })
    }

    async fn forward(&self, alert: &Value) -> anyhow::Result<()> {
        let short_id = text(alert, "short_id");
        let args = json!({
            "alert_uuid": text(alert, "uuid"),
            "api_key": self.sekoia_key,
            "base_url": self.sekoia_url,
        });
        let output = invoke(self.action.as_ref(), &self.cx, args)
            .await
            .map_err(|err| {
                anyhow::anyhow!(
                    "forwarding {short_id}: {}",
                    err.masked(self.cx.log.redactor())
                )
            })?;
        println!(
            "  {short_id} \"{}\" → ilert, status `{}`",
            text(alert, "title"),
            text(&output.results, "status")
        );
        Ok(())
    }
}

fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_owned()
}
