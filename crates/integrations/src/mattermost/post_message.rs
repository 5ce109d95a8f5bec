//! The Post Message action.

use alertsync_engine::{Action, ActionContext, ActionError, ActionManifest, ActionOutput};
use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Hook, add_overrides};
use crate::args::required_str;

/// Posts a text message.
pub struct PostMessage {
    manifest: ActionManifest,
}

impl PostMessage {
    pub fn new() -> Self {
        Self {
            manifest: ActionManifest {
                uuid: "e682ce5e-57aa-49b0-aace-9849448b2082",
                name: "Post Message",
                slug: "post_message",
                command: "mattermost_post_message",
                description: "Post a message to a Mattermost channel",
                arguments: json!({
                    "type": "object",
                    "properties": {
                        "message": {"type": "string", "description": "The message (Markdown)"},
                        "channel": {"type": "string", "description": "The channel (default: the webhook's)"},
                        "username": {"type": "string", "description": "The name to post as (default: the webhook's)"}
                    },
                    "required": ["message"]
                }),
                secrets: Vec::new(),
                results: json!({"type": "object", "description": "The message posted"}),
                outputs: Vec::new(),
            },
        }
    }
}

impl Default for PostMessage {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Action for PostMessage {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let mut message = json!({"text": required_str(&args, "message")?});
        add_overrides(&mut message, &args, &["channel", "username"])?;
        let hook = Hook::from_account(cx)?;
        hook.post(cx, &message).await?;
        Ok(ActionOutput::new(message))
    }
}
