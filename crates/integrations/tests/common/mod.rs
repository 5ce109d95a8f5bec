//! What every integration test needs: the simulator, a context with fast retries, and
//! calling an action by name through argument validation.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use alertsync_engine::http::HttpClient;
use alertsync_engine::invoke::invoke;
use alertsync_engine::{
    Account, ActionContext, ActionError, ActionOutput, ModuleManifest, RetryPolicy,
};
use alertsync_sim::{SimConfig, Simulator};
use serde_json::{Map, Value};

/// The Sekoia.io API key the simulator accepts.
pub const API_KEY: &str = "sim-api-key";
/// Attempts in all under the test retry policy.
pub const ATTEMPTS: u32 = 3;

pub async fn simulator() -> Simulator {
    alertsync_sim::start(SimConfig::default())
        .await
        .expect("the simulator starts")
}

/// A context with an optional account and millisecond retries.
pub fn context(account: Option<(&ModuleManifest, Value)>) -> ActionContext {
    let account = account.map(|(manifest, values)| {
        let values: Map<String, Value> = values.as_object().cloned().unwrap_or_default();
        Arc::new(Account::new("test", manifest, values))
    });
    let redactor = account.as_ref().map(|a| a.redactor()).unwrap_or_default();
    let mut cx = ActionContext::new(HttpClient::new().expect("HTTP client"), redactor);
    cx.account = account;
    cx.retry = RetryPolicy {
        max_attempts: ATTEMPTS,
        initial_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        ..RetryPolicy::default()
    };
    cx
}

/// Runs `<module>.<action>` with argument validation, as the engine does.
pub async fn run(name: &str, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
    let registry = alertsync_integrations::registry();
    let (_, action) = registry.action_by_name(name).expect("the action exists");
    invoke(action.as_ref(), cx, args).await
}

/// The argument an invalid-argument error names.
pub fn invalid_argument(err: &ActionError) -> Option<&str> {
    match &err.kind {
        alertsync_engine::ErrorKind::InvalidArgument { argument } => Some(argument.as_str()),
        _ => None,
    }
}
