//! `alertsync check`: the configuration and every playbook it names, loaded as `serve` loads
//! them, with everything wrong listed at once; `--online` also proves each account works.

use std::process::ExitCode;
use std::sync::Arc;

use alertsync_config::Config;
use alertsync_engine::http::HttpClient;
use alertsync_integrations::probe::{Probe, probe};
use clap::Args;
use futures_util::future::join_all;
use serde::Serialize;

use super::{GlobalArgs, OutputFormat, print_json, usage};

#[derive(Args)]
#[command(
    after_help = "Checks what `serve` checks before it starts: the configuration file \
(every key, account and setting), every [[playbook]] it names (disabled ones too), the \
accounts the alert triggers listen with and the listening address against the token. \
Nothing is started, stored or sent unless --online.\n\
--online also proves every account works: Sekoia.io answers GET /v1/me with the API key; \
ilert accepts a resolve event for an alert key no alert has (nothing is created; it counts \
as one event against the key's rate limit). Other modules are not checked online: any \
request they make posts something.\n\
Exit codes: 0 nothing wrong, 1 something is wrong (all of it is listed), 2 no configuration \
file, or it cannot be read."
)]
pub struct CheckArgs {
    /// Also prove that every account works, over the network.
    #[arg(long)]
    online: bool,
    /// Output format; `json` prints `{config, problems, accounts, ok}`.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
}

/// What `check` found.
#[derive(Serialize)]
struct CheckReport {
    config: String,
    /// Everything `serve` would refuse, each naming its file and line.
    problems: Vec<String>,
    /// With `--online`: each account and how its check went.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    accounts: Vec<AccountCheck>,
    ok: bool,
}

#[derive(Serialize)]
struct AccountCheck {
    name: String,
    module: String,
    status: AccountStatus,
    detail: String,
}

#[derive(Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum AccountStatus {
    Works,
    Fails,
    NotChecked,
}

pub async fn run(global: &GlobalArgs, args: CheckArgs) -> anyhow::Result<ExitCode> {
    let registry = Arc::new(alertsync_integrations::registry());
    let (path, explicit) = alertsync_config::config_path(global.config.as_deref());
    if !explicit && !path.exists() {
        return usage(format!(
            "no configuration to check: {} is not in the current directory; give --config \
             FILE or set ALERTSYNC_CONFIG",
            path.display()
        ));
    }
    let (config, config_problems) = match Config::load_partial(&path, &registry) {
        Ok(loaded) => loaded,
        Err(err) => return usage(err.to_string()),
    };
    let mut problems: Vec<String> = config_problems.iter().map(ToString::to_string).collect();
    problems.extend(
        alertsync_server::check::startup_problems(&config, &registry)
            .map_err(anyhow::Error::msg)?,
    );
    let accounts = if args.online {
        check_accounts(&config).await?
    } else {
        Vec::new()
    };
    let ok = problems.is_empty() && accounts.iter().all(|a| a.status != AccountStatus::Fails);
    let report = CheckReport {
        config: path.display().to_string(),
        problems,
        accounts,
        ok,
    };
    match args.format {
        OutputFormat::Json => print_json(&report)?,
        OutputFormat::Text => print!("{}", report_text(&report, args.online)),
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Every account checked over the network, at once.
async fn check_accounts(config: &Config) -> anyhow::Result<Vec<AccountCheck>> {
    let http = HttpClient::new()
        .map_err(anyhow::Error::msg)?
        .with_rate_limits(config.delivery.rate_limits());
    let probes = config.accounts.iter().map(|account| {
        let http = http.clone();
        let account = Arc::clone(account);
        async move {
            let (status, detail) = match probe(&http, Arc::clone(&account)).await {
                Probe::Works(proof) => (AccountStatus::Works, proof),
                Probe::Fails(error) => (AccountStatus::Fails, error),
                Probe::NotChecked(why) => (AccountStatus::NotChecked, why.to_owned()),
            };
            AccountCheck {
                name: account.name.clone(),
                module: account.module.clone(),
                status,
                detail,
            }
        }
    });
    Ok(join_all(probes).await)
}

fn report_text(report: &CheckReport, online: bool) -> String {
    let mut out = String::new();
    let failed = report
        .accounts
        .iter()
        .filter(|a| a.status == AccountStatus::Fails)
        .count();
    match report.problems.len() {
        0 => out.push_str(&format!("{}: no problem\n", report.config)),
        n => {
            out.push_str(&format!("{}: {n} problem(s)\n", report.config));
            for problem in &report.problems {
                // Multi-line problems keep their indentation under the first line.
                out.push_str(&format!("  {}\n", problem.replace('\n', "\n  ")));
            }
        }
    }
    if online {
        out.push_str(&format!(
            "accounts: {} checked online, {failed} failing\n",
            report.accounts.len()
        ));
        for account in &report.accounts {
            let mark = match account.status {
                AccountStatus::Works => "ok  ",
                AccountStatus::Fails => "FAIL",
                AccountStatus::NotChecked => "skip",
            };
            out.push_str(&format!(
                "  {mark} account `{}` ({}): {}\n",
                account.name, account.module, account.detail
            ));
        }
    }
    out
}
