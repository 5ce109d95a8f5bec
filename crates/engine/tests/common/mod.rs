//! A small module registry of real actions for engine tests, and playbook helpers.
#![allow(dead_code)]

use std::sync::Arc;

use alertsync_engine::http::HttpClient;
use alertsync_engine::manifest::{ActionManifest, ModuleManifest, TriggerManifest};
use alertsync_engine::{
    Account, AccountBook, Action, ActionContext, ActionError, ActionOutput, Module, Registry,
    RunExecutor,
};
use alertsync_spl::{Playbook, parse_playbook};
use async_trait::async_trait;
use serde_json::{Map, Value, json};

pub const TOOLS: &str = "11111111-0000-0000-0000-000000000000";
pub const ECHO: &str = "11111111-0000-0000-0000-000000000001";
pub const FAIL: &str = "11111111-0000-0000-0000-000000000002";
pub const SECRET_ECHO: &str = "11111111-0000-0000-0000-000000000003";
pub const WAIT: &str = "11111111-0000-0000-0000-000000000004";
pub const ALERT: &str = "11111111-0000-0000-0000-0000000000a1";
pub const MANUAL: &str = "11111111-0000-0000-0000-0000000000a2";

pub const VAULT: &str = "22222222-0000-0000-0000-000000000000";
pub const REVEAL: &str = "22222222-0000-0000-0000-000000000001";

pub const READER: &str = "33333333-0000-0000-0000-000000000000";
pub const READ_ALERT: &str = "33333333-0000-0000-0000-000000000001";

pub const SEKOIA: &str = "92d8bb47-7c51-445d-81de-ae04edbb6f0a";
pub const SEKOIA_GET: &str = "44444444-0000-0000-0000-000000000001";

/// Returns its arguments; `outputs` (a list of names) chooses the outputs it activates.
pub struct Echo(ActionManifest);

/// Always fails permanently with its `message`, reporting `{"partial": true}`.
pub struct Fail(ActionManifest);

/// Returns its arguments (`token` is a secret) and logs the token.
pub struct SecretEcho(ActionManifest);

/// Never finishes (until the run is cancelled).
pub struct Wait(ActionManifest);

/// Returns the name and key of its account.
pub struct Reveal(ActionManifest);

fn action_manifest(uuid: &'static str, slug: &'static str, arguments: Value) -> ActionManifest {
    ActionManifest {
        uuid,
        name: slug,
        slug,
        command: slug,
        description: "test action",
        arguments,
        secrets: Vec::new(),
        results: json!({}),
        outputs: Vec::new(),
    }
}

#[async_trait]
impl Action for Echo {
    fn manifest(&self) -> &ActionManifest {
        &self.0
    }
    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        cx.log.info("echoing");
        let outputs = args
            .get("outputs")
            .and_then(Value::as_array)
            .map(|o| {
                o.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(ActionOutput {
            results: args,
            outputs,
        })
    }
}

#[async_trait]
impl Action for Fail {
    fn manifest(&self) -> &ActionManifest {
        &self.0
    }
    async fn run(&self, _cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let message = args
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("failed");
        Err(ActionError::permanent(message).with_results(json!({"partial": true})))
    }
}

#[async_trait]
impl Action for SecretEcho {
    fn manifest(&self) -> &ActionManifest {
        &self.0
    }
    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let token = args
            .get("token")
            .and_then(Value::as_str)
            .unwrap_or_default();
        cx.log.info(format!("using token {token}"));
        Ok(ActionOutput::new(args))
    }
}

#[async_trait]
impl Action for Wait {
    fn manifest(&self) -> &ActionManifest {
        &self.0
    }
    async fn run(&self, _cx: &ActionContext, _args: Value) -> Result<ActionOutput, ActionError> {
        std::future::pending().await
    }
}

#[async_trait]
impl Action for Reveal {
    fn manifest(&self) -> &ActionManifest {
        &self.0
    }
    async fn run(&self, cx: &ActionContext, _args: Value) -> Result<ActionOutput, ActionError> {
        let account = cx.require_account("vault")?;
        Ok(ActionOutput::new(json!({
            "account": account.name,
            "key": account.value("key"),
        })))
    }
}

fn module_manifest(
    uuid: &'static str,
    slug: &'static str,
    configuration: Value,
    secrets: Vec<&'static str>,
) -> ModuleManifest {
    ModuleManifest {
        uuid,
        name: slug,
        slug,
        version: "1",
        description: "test module",
        configuration,
        secrets,
    }
}

pub fn tools_manifest() -> ModuleManifest {
    module_manifest(
        TOOLS,
        "tools",
        json!({"type": "object", "properties": {}}),
        Vec::new(),
    )
}

pub fn vault_manifest() -> ModuleManifest {
    module_manifest(
        VAULT,
        "vault",
        json!({"type": "object", "properties": {"key": {"type": "string"}},
               "required": ["key"]}),
        vec!["key"],
    )
}

pub fn reader_manifest() -> ModuleManifest {
    module_manifest(
        READER,
        "reader",
        json!({"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]}),
        Vec::new(),
    )
}

pub fn sekoia_manifest() -> ModuleManifest {
    module_manifest(
        SEKOIA,
        "sekoia.io",
        json!({"type": "object",
               "properties": {"api_key": {"type": "string"},
                              "base_url": {"type": "string", "default": "https://api.sekoia.io"}},
               "required": ["api_key"]}),
        vec!["api_key"],
    )
}

/// Arguments of an action reading Sekoia.io alerts.
fn access_arguments(required: &[&str]) -> Value {
    json!({"type": "object",
           "properties": {"alert_uuid": {"type": "string"}, "limit": {"type": "integer"},
                          "api_key": {"type": "string"}, "base_url": {"type": "string"}},
           "required": required})
}

pub fn registry() -> Registry {
    let open = json!({"type": "object"});
    let mut secret_echo = action_manifest(SECRET_ECHO, "secret_echo", open.clone());
    secret_echo.secrets = vec!["token"];
    let mut read_alert = action_manifest(
        READ_ALERT,
        "read_alert",
        access_arguments(&["alert_uuid", "api_key", "base_url"]),
    );
    read_alert.secrets = vec!["api_key"];
    let mut sekoia_get = action_manifest(SEKOIA_GET, "get_alert", access_arguments(&[]));
    sekoia_get.secrets = vec!["api_key"];
    let trigger = |uuid, slug| TriggerManifest {
        uuid,
        name: slug,
        slug,
        description: "test trigger",
        arguments: json!({"type": "object"}),
        results: json!({"type": "object"}),
        extension: false,
    };
    Registry::new(vec![
        Module {
            manifest: tools_manifest(),
            actions: vec![
                Arc::new(Echo(action_manifest(ECHO, "echo", open.clone()))),
                Arc::new(Fail(action_manifest(FAIL, "fail", open.clone()))),
                Arc::new(SecretEcho(secret_echo)),
                Arc::new(Wait(action_manifest(WAIT, "wait", open.clone()))),
            ],
            triggers: vec![trigger(ALERT, "alert"), trigger(MANUAL, "manual")],
        },
        Module {
            manifest: vault_manifest(),
            actions: vec![Arc::new(Reveal(action_manifest(REVEAL, "reveal", open)))],
            triggers: Vec::new(),
        },
        Module {
            manifest: reader_manifest(),
            actions: vec![Arc::new(Echo(read_alert))],
            triggers: Vec::new(),
        },
        Module {
            manifest: sekoia_manifest(),
            actions: vec![Arc::new(Echo(sekoia_get))],
            triggers: Vec::new(),
        },
    ])
}

pub fn account(name: &str, manifest: &ModuleManifest, values: Value) -> Arc<Account> {
    let values: Map<String, Value> = values.as_object().cloned().unwrap_or_default();
    Arc::new(Account::new(name, manifest, values))
}

pub fn executor(accounts: Vec<Arc<Account>>) -> RunExecutor {
    let http = HttpClient::new().expect("the HTTP client builds");
    RunExecutor::new(Arc::new(registry()), AccountBook::new(accounts), http)
}

pub fn playbook(nodes: Value) -> Arc<Playbook> {
    let document = json!({"name": "test playbook", "nodes": nodes});
    Arc::new(parse_playbook(&document.to_string(), "test").expect("the playbook loads"))
}

/// A trigger node of the tools module.
pub fn trigger(next: &[&str]) -> Value {
    json!({"name": "trigger", "type": "trigger", "module_uuid": TOOLS, "trigger_uuid": ALERT,
           "outputs": {"default": next}})
}

/// An action node of the tools module.
pub fn tool(action: &str, name: &str, arguments: Value, next: &[&str]) -> Value {
    json!({"name": name, "type": "action", "module_uuid": TOOLS, "action_uuid": action,
           "arguments": arguments, "outputs": {"default": next}})
}

pub fn echo(name: &str, arguments: Value, next: &[&str]) -> Value {
    tool(ECHO, name, arguments, next)
}
