//! `alertsync service …`: asks a running `alertsync serve` through its API what an SRE
//! needs at 3 a.m. — is it healthy and if not why, enable or disable a playbook (a disabled
//! playbook's runs are held and run, in order, once it is enabled), list the dead letters,
//! replay or dismiss one.
//!
//! The service is found at `--url`, else `ALERTSYNC_URL`, else the configuration's
//! `[server] public_url`, else `http://` + its `listen` address; the token is
//! `ALERTSYNC_TOKEN`, else the configuration's `[server] token`.

use std::process::ExitCode;

use alertsync_config::Config;
use alertsync_engine::http::HttpClient;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::Value;

use super::{GlobalArgs, OutputFormat, load_config, print_json, usage};

#[derive(Args)]
#[command(after_help = "Examples:\n  \
alertsync service health\n  \
alertsync service enable 3f1c0a9e-…\n  \
alertsync service dead-letters\n  \
alertsync service replay 42\n\n\
Exit codes: 0 done (health: healthy), 1 the service answered no (health: unhealthy), 2 the \
service cannot be reached or the call is wrong.")]
pub struct ServiceArgs {
    /// The service's address, e.g. `http://127.0.0.1:8080`.
    #[arg(long, env = "ALERTSYNC_URL", global = true, value_name = "URL")]
    url: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text, global = true)]
    format: OutputFormat,
    #[command(subcommand)]
    command: ServiceCommand,
}

#[derive(Subcommand)]
enum ServiceCommand {
    /// Whether the service is doing its job, and if not, every reason (`/healthz`).
    Health,
    /// The playbooks and their state.
    Playbooks,
    /// Enable a playbook: its held runs run, in order.
    Enable {
        /// The playbook's id (its uuid).
        playbook: String,
    },
    /// Disable a playbook: its runs are held until it is enabled again.
    Disable {
        /// The playbook's id (its uuid).
        playbook: String,
    },
    /// The dead letters: runs that can never succeed as they are, not yet replayed or
    /// dismissed.
    DeadLetters,
    /// Replay a dead letter (or rerun any run): a new run of its playbook for its event.
    Replay {
        /// The run's id.
        run: i64,
    },
    /// Dismiss a dead letter without replaying it.
    Dismiss {
        /// The run's id.
        run: i64,
    },
}

pub async fn run(global: &GlobalArgs, args: ServiceArgs) -> anyhow::Result<ExitCode> {
    let registry = alertsync_integrations::registry();
    let config = load_config(global, &registry)?;
    let client = Client::new(&config, args.url.as_deref())?;
    let format = args.format;
    match args.command {
        ServiceCommand::Health => {
            let (status, health) = client.call(Method::GET, "/healthz").await?;
            show(format, &health, health_text)?;
            Ok(if status.is_success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        ServiceCommand::Playbooks => {
            let playbooks = client.ok(Method::GET, "/api/v1/playbooks").await?;
            show(format, &playbooks, playbooks_text)?;
            Ok(ExitCode::SUCCESS)
        }
        ServiceCommand::Enable { playbook } => {
            let path = format!("/api/v1/playbooks/{}/enable", segment(&playbook));
            let answer = client.ok(Method::POST, &path).await?;
            show(format, &answer, |p| {
                format!("{}: {}\n", p["id"], p["state"])
            })?;
            Ok(ExitCode::SUCCESS)
        }
        ServiceCommand::Disable { playbook } => {
            let path = format!("/api/v1/playbooks/{}/disable", segment(&playbook));
            let answer = client.ok(Method::POST, &path).await?;
            show(format, &answer, |p| {
                format!("{}: {}\n", p["id"], p["state"])
            })?;
            Ok(ExitCode::SUCCESS)
        }
        ServiceCommand::DeadLetters => {
            let page = client
                .ok(Method::GET, "/api/v1/runs?status=dead&limit=1000")
                .await?;
            let waiting: Vec<Value> = page["runs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|run| run["dismissed_at_ms"].is_null())
                .cloned()
                .collect();
            show(format, &Value::Array(waiting), runs_text)?;
            Ok(ExitCode::SUCCESS)
        }
        ServiceCommand::Replay { run } => {
            let answer = client
                .ok(Method::POST, &format!("/api/v1/runs/{run}/rerun"))
                .await?;
            show(format, &answer, |a| {
                format!(
                    "run {} queued (replays run {})\n",
                    a["run_id"], a["rerun_of"]
                )
            })?;
            Ok(ExitCode::SUCCESS)
        }
        ServiceCommand::Dismiss { run } => {
            let answer = client
                .ok(Method::POST, &format!("/api/v1/runs/{run}/dismiss"))
                .await?;
            show(format, &answer, |a| {
                format!("run {} dismissed\n", a["run"]["id"])
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The API of one running service.
struct Client {
    http: HttpClient,
    base: String,
    token: Option<String>,
}

impl Client {
    fn new(config: &Config, url: Option<&str>) -> anyhow::Result<Self> {
        let base = url
            .map(str::to_owned)
            .or_else(|| config.server.public_url.clone())
            .unwrap_or_else(|| format!("http://{}", config.server.listen));
        let token = std::env::var("ALERTSYNC_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .or_else(|| config.server.token.clone());
        let http = HttpClient::new().map_err(anyhow::Error::msg)?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// One call: its status and JSON answer; an unreachable service is a usage error.
    async fn call(
        &self,
        method: Method,
        path: &str,
    ) -> anyhow::Result<(reqwest::StatusCode, Value)> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => {
                return usage(format!(
                    "cannot reach the service at {}: {} (give its address with --url)",
                    self.base,
                    err.without_url()
                ));
            }
        };
        let status = response.status();
        let answer = response.json::<Value>().await.unwrap_or(Value::Null);
        Ok((status, answer))
    }

    /// A call that must succeed: the service's error otherwise (exit code 1).
    async fn ok(&self, method: Method, path: &str) -> anyhow::Result<Value> {
        let (status, answer) = self.call(method, path).await?;
        if status.is_success() {
            return Ok(answer);
        }
        let detail = match &answer["detail"] {
            Value::String(text) => text.clone(),
            Value::Null => status.to_string(),
            other => other.to_string(),
        };
        anyhow::bail!("the service answered {status}: {detail}")
    }
}

/// `value` as one percent-encoded path segment.
fn segment(value: &str) -> String {
    let mut url = reqwest::Url::parse("http://localhost/").expect("a constant URL");
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.push(value);
    }
    url.path().trim_start_matches('/').to_owned()
}

fn show(
    format: OutputFormat,
    value: &Value,
    text: impl Fn(&Value) -> String,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => print_json(value),
        OutputFormat::Text => {
            print!("{}", text(value));
            Ok(())
        }
    }
}

fn health_text(health: &Value) -> String {
    let mut out = format!("{}\n", health["status"].as_str().unwrap_or("unknown"));
    for problem in health["problems"].as_array().into_iter().flatten() {
        let code = problem["code"].as_str().unwrap_or("problem");
        let details: Vec<String> = problem
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(key, value)| *key != "code" && !value.is_null())
            .map(|(key, value)| match value {
                Value::String(text) => format!("{key}={text}"),
                other => format!("{key}={other}"),
            })
            .collect();
        out.push_str(&format!("  {code}: {}\n", details.join(", ")));
    }
    out
}

fn playbooks_text(playbooks: &Value) -> String {
    playbooks
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let reason = p["disabled_reason"]
                .as_str()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            format!(
                "{}  {}  {}{reason}\n",
                p["id"].as_str().unwrap_or_default(),
                p["state"].as_str().unwrap_or_default(),
                p["name"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

fn runs_text(runs: &Value) -> String {
    let runs = runs.as_array().cloned().unwrap_or_default();
    if runs.is_empty() {
        return "no dead letters\n".to_owned();
    }
    runs.iter()
        .map(|run| {
            format!(
                "run {}  playbook {}  alert {}\n  {}\n",
                run["id"],
                run["playbook_id"].as_str().unwrap_or_default(),
                run["alert_uuid"].as_str().unwrap_or("-"),
                run["error"].as_str().unwrap_or("no reason recorded")
            )
        })
        .collect()
}
