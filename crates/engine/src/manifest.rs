//! Manifests: the static description of a module, its actions and its triggers.
//!
//! They carry Sekoia.io's UUIDs so that exported playbooks resolve to alertsync's
//! implementations, the JSON schemas used to validate configuration and arguments, and the
//! names of the values that are secrets (masked everywhere they could be recorded).

use serde::Serialize;
use serde_json::Value;

/// A module: a named group of actions and triggers sharing one kind of account.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleManifest {
    pub uuid: &'static str,
    pub name: &'static str,
    /// What users write in `module = "..."` and `alertsync action <slug>.<action>`.
    pub slug: &'static str,
    pub version: &'static str,
    pub description: &'static str,
    /// JSON schema of the module configuration (an account), with `properties` and `required`.
    pub configuration: Value,
    /// Configuration keys whose values are secrets.
    pub secrets: Vec<&'static str>,
}

impl ModuleManifest {
    /// The configuration keys the module knows (the schema's `properties`).
    pub fn configuration_keys(&self) -> Vec<&str> {
        schema_keys(&self.configuration)
    }

    /// The configuration keys that must be present.
    pub fn required_configuration_keys(&self) -> Vec<&str> {
        schema_required(&self.configuration)
    }
}

/// An action: one step of a playbook that a module performs.
#[derive(Debug, Clone, Serialize)]
pub struct ActionManifest {
    pub uuid: &'static str,
    pub name: &'static str,
    pub slug: &'static str,
    /// The command name Sekoia.io's runtime uses for this action.
    pub command: &'static str,
    pub description: &'static str,
    /// JSON schema of the arguments.
    pub arguments: Value,
    /// Arguments whose values are secrets.
    pub secrets: Vec<&'static str>,
    /// JSON schema of the results.
    pub results: Value,
    /// Named outputs the action may activate; empty means the single output `default`.
    pub outputs: Vec<&'static str>,
}

impl ActionManifest {
    /// The argument names the action knows.
    pub fn argument_keys(&self) -> Vec<&str> {
        schema_keys(&self.arguments)
    }
}

/// A trigger: what starts a run (a live notification, a webhook, a schedule).
#[derive(Debug, Clone, Serialize)]
pub struct TriggerManifest {
    pub uuid: &'static str,
    pub name: &'static str,
    pub slug: &'static str,
    pub description: &'static str,
    /// JSON schema of the trigger's configuration arguments.
    pub arguments: Value,
    /// JSON schema of the event the trigger emits (the trigger node's output).
    pub results: Value,
    /// Whether the trigger is alertsync's own: Sekoia.io's module has no such trigger, so a
    /// playbook using it runs on alertsync only.
    pub extension: bool,
}

fn schema_keys(schema: &Value) -> Vec<&str> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

fn schema_required(schema: &Value) -> Vec<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}
