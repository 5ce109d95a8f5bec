//! Comment Alert.

use alertsync_engine::{Action, ActionContext, ActionError, ActionManifest, ActionOutput};
use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Value, json};

use super::shapes::Shape;
use super::{RestAction, rest_client};
use crate::args::{alert_id, optional_str, required_str};
use crate::sekoia::client::ApiPath;

/// Sekoia.io refuses longer comment authors.
const MAX_AUTHOR_CHARS: usize = 32;

/// Adds a comment to an alert.
pub struct CommentAlert {
    manifest: ActionManifest,
}

impl CommentAlert {
    pub fn new() -> Self {
        let manifest = RestAction {
            uuid: "0d323de3-a864-4afe-a0c3-e7ff45883d7a",
            name: "Comment Alert",
            slug: "comment_alert",
            command: "post-alerts/{uuid}/comments",
            description: "Add a comment to an alert",
            properties: json!({
                "uuid": {"type": "string", "description": "The alert's UUID or short id"},
                "content": {"type": "string", "description": "The comment"},
                "author": {"type": "string", "maxLength": MAX_AUTHOR_CHARS, "description": "Who wrote it (at most 32 characters)"}
            }),
            required: vec!["uuid", "content"],
            results: Shape::AlertComment.schema(),
        };
        Self {
            manifest: manifest.manifest(),
        }
    }
}

impl Default for CommentAlert {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Action for CommentAlert {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let id = alert_id(&args, "uuid")?;
        let content = required_str(&args, "content")?;
        let author = optional_str(&args, "author")?;
        if author.is_some_and(|a| a.chars().count() > MAX_AUTHOR_CHARS) {
            return Err(ActionError::invalid_argument(
                "author",
                format!("must be at most {MAX_AUTHOR_CHARS} characters"),
            ));
        }
        let client = rest_client(cx, &args)?;
        let mut body = json!({"content": content});
        if let Some(author) = author {
            body["author"] = Value::String(author.to_owned());
        }
        let comment = client
            .call(
                cx,
                Method::POST,
                &ApiPath::alert(id).then("comments"),
                &[],
                Some(&body),
            )
            .await?;
        Ok(ActionOutput::new(comment))
    }
}
