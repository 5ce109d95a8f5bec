//! Sekoia.io: the REST client, the alert actions and the live alert triggers.

pub mod actions;
pub mod backfill;
pub mod client;
pub mod live;
pub mod sources;
pub mod triggers;

use alertsync_engine::{Account, ActionContext, ActionError, Module, ModuleManifest};
use serde_json::json;

pub use client::{ApiPath, ApiVersion, SekoiaClient};

pub const MODULE_UUID: &str = "92d8bb47-7c51-445d-81de-ae04edbb6f0a";
pub const SLUG: &str = "sekoia.io";
pub const DEFAULT_BASE_URL: &str = "https://api.sekoia.io";

pub fn manifest() -> ModuleManifest {
    ModuleManifest {
        uuid: MODULE_UUID,
        name: "Sekoia.io",
        slug: SLUG,
        version: "1.0.0",
        description: "Read and act on Sekoia.io alerts, events and intakes; start playbooks on alert changes.",
        configuration: json!({
            "type": "object",
            "properties": {
                "base_url": {"type": "string", "format": "uri", "default": DEFAULT_BASE_URL,
                              "description": "Sekoia.io API base URL (e.g. https://api.sekoia.io)"},
                "api_key": {"type": "string", "description": "Sekoia.io API key"},
                "liveapi_url": {"type": "string", "description": "Live notifications URL (default: derived from base_url)"},
                "intake_url": {"type": "string", "default": "https://intake.sekoia.io", "description": "Intake URL"},
                "app_url": {"type": "string", "description": "Sekoia.io app URL for alert links (default: derived from base_url)"}
            },
            "required": ["api_key"]
        }),
        secrets: vec!["api_key"],
    }
}

pub fn module() -> Module {
    Module {
        manifest: manifest(),
        actions: actions::all(),
        triggers: triggers::manifests(),
    }
}

/// A client from the `api_key` / `base_url` arguments an action received.
pub fn client_from_args(
    cx: &ActionContext,
    args: &serde_json::Value,
) -> Result<SekoiaClient, ActionError> {
    let base_url = crate::args::http_url(args, "base_url")?;
    let api_key = crate::args::required_str(args, "api_key")?;
    SekoiaClient::new(cx.http.clone(), base_url.as_str(), api_key)
        .map_err(|why| ActionError::invalid_argument("base_url", why.to_string()))
}

/// The page of alert `id` (short id or uuid) in the Sekoia.io app of `account`: its
/// `app_url` when set, else derived from its `base_url` ([`crate::alert::alert_page`]).
pub fn alert_page_of(account: &Account, id: &str) -> String {
    crate::alert::alert_page(
        account.str("base_url").unwrap_or(DEFAULT_BASE_URL),
        account.str("app_url"),
        id,
    )
}

/// A client from a Sekoia.io account.
pub fn client_from_account(
    cx: &ActionContext,
    account: &Account,
) -> Result<SekoiaClient, ActionError> {
    let base_url = account.str("base_url").unwrap_or(DEFAULT_BASE_URL);
    let api_key = account.str("api_key").unwrap_or_default();
    SekoiaClient::new(cx.http.clone(), base_url, api_key).map_err(|why| {
        ActionError::permanent(format!("Sekoia.io account `{}`: {why}", account.name))
    })
}

/// The alert an alert-forwarding action names in its `alert_uuid` argument, read with its
/// `api_key` / `base_url` arguments; also returns the client (for links to the alert).
pub async fn alert_from_args(
    cx: &ActionContext,
    args: &serde_json::Value,
) -> Result<(SekoiaClient, serde_json::Value), ActionError> {
    let alert_uuid = crate::args::alert_id(args, "alert_uuid")?;
    let client = client_from_args(cx, args)?;
    let alert = client.get_alert(cx, alert_uuid).await?;
    cx.log.info(format!("alert {alert_uuid} fetched"));
    Ok((client, alert))
}
