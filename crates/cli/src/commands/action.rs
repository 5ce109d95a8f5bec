//! `alertsync action`: runs one action once, outside any playbook — to try a module, to
//! script a one-off, or to check an account.

use std::process::ExitCode;
use std::sync::Arc;

use alertsync_engine::http::HttpClient;
use alertsync_engine::invoke::invoke;
use alertsync_engine::{
    Account, AccountBook, ActionContext, ActionManifest, ErrorKind, Module, Redactor,
};
use clap::Args;
use serde_json::{Map, Value};

use super::{GlobalArgs, UsageError, load_config, print_json, usage};

#[derive(Args)]
#[command(
    after_help = "Examples:\n  alertsync action ilert.trigger_alert --arg alert_uuid=ALxxxxxx\n  \
alertsync action sekoia.io.get_alert --args-json '{\"uuid\": \"ALxxxxxx\"}'\n\n\
`api_key` and `base_url` may be left out when a Sekoia.io account is configured.\n\
Results are printed as JSON on stdout; errors go to stderr.\n\
Exit codes: 0 the action succeeded, 1 it failed, 2 usage, configuration or invalid argument \
(nothing was sent)."
)]
pub struct ActionArgs {
    /// The action as `<module>.<action>`; `alertsync modules` lists them.
    #[arg(value_name = "MODULE.ACTION")]
    name: String,
    /// The `[[account]]` to use; default: the only account configured for the module.
    #[arg(long, value_name = "NAME")]
    account: Option<String>,
    /// One argument, `KEY=VALUE` (repeatable). VALUE is a string where the action expects a
    /// string, otherwise JSON (`--arg limit=10`, `--arg tags='["a"]'`).
    #[arg(long = "arg", value_name = "KEY=VALUE")]
    args: Vec<String>,
    /// Every argument as one JSON object; `--arg` overrides its keys.
    #[arg(long, value_name = "JSON")]
    args_json: Option<String>,
}

pub async fn run(global: &GlobalArgs, cli: ActionArgs) -> anyhow::Result<ExitCode> {
    let registry = alertsync_integrations::registry();
    let (module, action) = registry
        .action_by_name(&cli.name)
        .map_err(|why| UsageError(why.to_string()))?;
    let config = load_config(global, &registry)?;
    let mut args = arguments(action.manifest(), &cli)?;
    let accounts = AccountBook::new(config.accounts.clone());
    let account = choose_account(&accounts, module, cli.account.as_deref())?;
    fill_sekoia_access(&accounts, module, action.manifest(), &mut args)?;

    let redactor = redactor(account.as_deref(), action.manifest(), &args);
    let http = HttpClient::new()
        .map_err(anyhow::Error::msg)?
        .with_rate_limits(config.delivery.rate_limits());
    let mut cx = ActionContext::new(http, redactor);
    cx.account = account;
    let outcome = invoke(action.as_ref(), &cx, Value::Object(args)).await;
    for line in cx.log.lines() {
        tracing::info!(target: "alertsync::action", "{}", line.message);
    }
    let redactor = cx.log.redactor();
    match outcome {
        Ok(output) => {
            print_json(&redactor.mask_value(&output.results))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            let err = err.masked(redactor);
            if let Some(results) = &err.results {
                print_json(results)?;
            }
            match err.kind {
                ErrorKind::InvalidArgument { .. } => usage(err.message),
                _ => anyhow::bail!("{} failed: {}", cli.name, err.message),
            }
        }
    }
}

/// The arguments from `--args-json` then `--arg`, typed by the action's argument schema.
fn arguments(manifest: &ActionManifest, cli: &ActionArgs) -> anyhow::Result<Map<String, Value>> {
    let mut args = match cli.args_json.as_deref().map(serde_json::from_str::<Value>) {
        None => Map::new(),
        Some(Ok(Value::Object(map))) => map,
        Some(Ok(_)) => return usage("--args-json must be a JSON object"),
        Some(Err(err)) => return usage(format!("--args-json is not valid JSON: {err}")),
    };
    for pair in &cli.args {
        let Some((key, value)) = pair.split_once('=') else {
            return usage(format!("--arg `{pair}`: expected KEY=VALUE"));
        };
        let key = key.trim();
        if !manifest.argument_keys().contains(&key) {
            return usage(format!(
                "--arg `{key}`: `{}` has no such argument (it takes: {})",
                manifest.slug,
                manifest.argument_keys().join(", ")
            ));
        }
        args.insert(key.to_owned(), typed_value(manifest, key, value));
    }
    Ok(args)
}

/// `value` as a string where the schema says string (or says nothing), else as JSON when it
/// parses, else as a string (the schema check then names the argument).
fn typed_value(manifest: &ActionManifest, key: &str, value: &str) -> Value {
    let declared = manifest.arguments["properties"][key]["type"].as_str();
    match declared {
        None | Some("string") => Value::String(value.to_owned()),
        Some(_) => serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned())),
    }
}

/// The account named with `--account`, else the only one of the module, else none.
fn choose_account(
    accounts: &AccountBook,
    module: &Module,
    named: Option<&str>,
) -> anyhow::Result<Option<Arc<Account>>> {
    let slug = module.manifest.slug;
    if let Some(name) = named {
        return match accounts.get(name) {
            Some(account) if account.module == slug => Ok(Some(Arc::clone(account))),
            Some(account) => usage(format!(
                "account `{name}` is a {} account, not a {slug} one",
                account.module
            )),
            None => usage(format!("no account named `{name}` in the configuration")),
        };
    }
    match accounts.of_module(slug).collect::<Vec<_>>().as_slice() {
        [] => Ok(None),
        [only] => Ok(Some(Arc::clone(only))),
        _ => usage(format!(
            "several {slug} accounts are configured: choose one with --account"
        )),
    }
}

/// When neither `api_key` nor `base_url` is given, the Sekoia.io account provides them.
fn fill_sekoia_access(
    accounts: &AccountBook,
    module: &Module,
    action: &ActionManifest,
    args: &mut Map<String, Value>,
) -> anyhow::Result<()> {
    if args.contains_key("api_key") || args.contains_key("base_url") {
        return Ok(());
    }
    let mut filled = Value::Object(std::mem::take(args));
    let outcome = accounts.fill_sekoia_access(&module.manifest, action, &mut filled);
    if let Value::Object(map) = filled {
        *args = map;
    }
    outcome.map_err(|why| UsageError(why.to_string()).into())
}

/// Masks the account's secrets and the values of the arguments the action declares secret.
fn redactor(
    account: Option<&Account>,
    manifest: &ActionManifest,
    args: &Map<String, Value>,
) -> Redactor {
    let mut redactor = account.map(Account::redactor).unwrap_or_default();
    for key in &manifest.secrets {
        if let Some(value) = args.get(*key) {
            redactor.add_value(value);
        }
    }
    redactor
}
