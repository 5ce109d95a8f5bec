//! Mattermost: posts Sekoia.io alerts and free messages to an incoming webhook.
//!
//! The hook URL is a capability (whoever knows it can post), so it is a secret: it never
//! appears in logs, errors or results.

mod post_alert;
mod post_message;

use std::sync::Arc;

use alertsync_engine::{ActionContext, ActionError, Module, ModuleManifest};
use serde_json::{Value, json};

pub use post_alert::PostAlert;
pub use post_message::PostMessage;

use crate::args::parse_http_url;
use crate::delivery::JsonPost;

pub const MODULE_UUID: &str = "89c860f0-3e73-4946-a5c9-431deb33b0e8";
pub const SLUG: &str = "mattermost";

pub fn manifest() -> ModuleManifest {
    ModuleManifest {
        uuid: MODULE_UUID,
        name: "Mattermost",
        slug: SLUG,
        version: "1.0.0",
        description: "Mattermost is a team messaging platform. This module posts messages and Sekoia.io alerts to a channel.",
        configuration: json!({
            "type": "object",
            "properties": {
                "hook_url": {"type": "string", "description": "The incoming webhook URL"}
            },
            "required": ["hook_url"]
        }),
        secrets: vec!["hook_url"],
    }
}

pub fn module() -> Module {
    Module {
        manifest: manifest(),
        actions: vec![Arc::new(PostAlert::new()), Arc::new(PostMessage::new())],
        triggers: Vec::new(),
    }
}

/// The account's incoming webhook, checked before anything is fetched or sent.
struct Hook {
    url: String,
    /// Names the hook in logs and errors without its URL.
    what: String,
}

impl Hook {
    fn from_account(cx: &ActionContext) -> Result<Self, ActionError> {
        let account = cx.require_account(SLUG)?;
        let url = account.str("hook_url").unwrap_or_default().trim();
        if url.is_empty() {
            return Err(ActionError::permanent(format!(
                "Mattermost account `{}`: hook_url is blank",
                account.name
            )));
        }
        parse_http_url(url).map_err(|why| {
            ActionError::permanent(format!(
                "Mattermost account `{}`: hook_url {why}",
                account.name
            ))
        })?;
        let what = format!(
            "Mattermost POST to the incoming webhook of account `{}`",
            account.name
        );
        Ok(Self {
            url: url.to_owned(),
            what,
        })
    }

    async fn post(&self, cx: &ActionContext, message: &Value) -> Result<(), ActionError> {
        JsonPost::new(&self.url, &self.what)
            .send(cx, message)
            .await?;
        cx.log.info(format!("{}: posted", self.what));
        Ok(())
    }
}

/// `channel` and `username` overrides, when given.
fn add_overrides(message: &mut Value, args: &Value, names: &[&str]) -> Result<(), ActionError> {
    for name in names {
        if let Some(value) = crate::args::optional_str(args, name)? {
            message[*name] = Value::String(value.to_owned());
        }
    }
    Ok(())
}
