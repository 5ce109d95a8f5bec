//! `alertsync modules`: the catalogue of modules, actions and triggers, with the UUIDs a
//! Sekoia.io playbook refers to and the arguments each action takes.

use std::fmt::Write as _;
use std::process::ExitCode;

use alertsync_engine::{ActionManifest, Module};
use clap::Args;
use serde_json::{Value, json};

use super::{OutputFormat, print_json, usage};

#[derive(Args)]
pub struct ModulesArgs {
    /// Show only this module (its slug, name or UUID), with every argument described.
    module: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
}

pub fn run(args: ModulesArgs) -> anyhow::Result<ExitCode> {
    let registry = alertsync_integrations::registry();
    let modules: Vec<&Module> = registry
        .modules()
        .iter()
        .filter(|m| {
            args.module
                .as_deref()
                .is_none_or(|wanted| matches(m, wanted))
        })
        .collect();
    if modules.is_empty() {
        let known: Vec<&str> = registry.modules().iter().map(|m| m.manifest.slug).collect();
        return usage(format!(
            "no module `{}` (modules: {})",
            args.module.unwrap_or_default(),
            known.join(", ")
        ));
    }
    match args.format {
        OutputFormat::Json => {
            print_json(&modules.iter().map(|m| module_json(m)).collect::<Vec<_>>())?
        }
        OutputFormat::Text => {
            let detailed = args.module.is_some();
            for module in modules {
                print!("{}", module_text(module, detailed));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn matches(module: &Module, wanted: &str) -> bool {
    let m = &module.manifest;
    [m.slug, m.name, m.uuid]
        .iter()
        .any(|name| name.eq_ignore_ascii_case(wanted))
}

fn module_json(module: &Module) -> Value {
    json!({
        "uuid": module.manifest.uuid,
        "name": module.manifest.name,
        "slug": module.manifest.slug,
        "version": module.manifest.version,
        "description": module.manifest.description,
        "configuration": module.manifest.configuration,
        "secrets": module.manifest.secrets,
        "actions": module.actions.iter().map(|a| a.manifest()).collect::<Vec<_>>(),
        "triggers": module.triggers,
    })
}

fn module_text(module: &Module, detailed: bool) -> String {
    let m = &module.manifest;
    let mut out = format!(
        "{}  ({})  {}\n  {}\n",
        m.slug, m.name, m.uuid, m.description
    );
    let keys = schema_summary(&m.configuration);
    if !keys.is_empty() {
        let _ = writeln!(out, "  account keys: {keys}");
    }
    for action in &module.actions {
        let a = action.manifest();
        let _ = writeln!(
            out,
            "  action  {}.{}  {}  {}",
            m.slug, a.slug, a.name, a.uuid
        );
        if detailed {
            out.push_str(&arguments_text(a));
        }
    }
    for trigger in &module.triggers {
        let extension = if trigger.extension {
            "  (alertsync extension: Sekoia.io has no such trigger)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  trigger {}  {}  {}{extension}",
            trigger.slug, trigger.name, trigger.uuid
        );
    }
    out.push('\n');
    out
}

/// One line per argument: name, type, required, description.
fn arguments_text(action: &ActionManifest) -> String {
    let required = required_keys(&action.arguments);
    let mut out = String::new();
    for (name, schema) in properties(&action.arguments) {
        let kind = schema["type"].as_str().unwrap_or("any");
        let need = if required.contains(&name.as_str()) {
            "required"
        } else {
            "optional"
        };
        let secret = if action.secrets.contains(&name.as_str()) {
            ", secret"
        } else {
            ""
        };
        let description = schema["description"].as_str().unwrap_or_default();
        let _ = writeln!(out, "      {name} ({kind}, {need}{secret})  {description}");
    }
    out
}

/// `key*, other` — the schema's properties, required ones starred.
fn schema_summary(schema: &Value) -> String {
    let required = required_keys(schema);
    properties(schema)
        .map(|(name, _)| {
            if required.contains(&name.as_str()) {
                format!("{name}*")
            } else {
                name.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn properties(schema: &Value) -> impl Iterator<Item = (&String, &Value)> {
    schema["properties"].as_object().into_iter().flatten()
}

fn required_keys(schema: &Value) -> Vec<&str> {
    schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}
