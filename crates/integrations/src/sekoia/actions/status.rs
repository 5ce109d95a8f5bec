//! Update Alert Status (by workflow action or status uuid) and Update Alert Status by name.

use alertsync_engine::{Action, ActionContext, ActionError, ActionManifest, ActionOutput};
use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Value, json};

use super::shapes::Shape;
use super::{RestAction, rest_client};
use crate::args::{alert_id, optional_str, required_str};
use crate::sekoia::client::ApiPath;

/// Sekoia.io's built-in alert statuses, by name and uuid.
const STATUSES: [(&str, &str); 5] = [
    ("Pending", "2efc4930-1442-4abb-acf2-58ba219a4fd0"),
    ("Acknowledged", "8f206505-af6d-433e-93f4-775d46dc7d0f"),
    ("Ongoing", "1f2f88d5-ff5b-48bf-bbbc-00c2fff82d9f"),
    ("Rejected", "4f68da89-38e0-4703-a6ab-652f02bdf24e"),
    ("Closed", "1738b1c1-767d-489e-bada-19176621a007"),
];

/// What goes into the workflow's `action_uuid` for a status given by name
/// (case-insensitive) or by a status or workflow action uuid (passed through).
pub fn status_reference(status: &str) -> Option<String> {
    let status = status.trim();
    if let Some((_, uuid)) = STATUSES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(status))
    {
        return Some((*uuid).to_owned());
    }
    uuid::Uuid::parse_str(status)
        .is_ok()
        .then(|| status.to_lowercase())
}

/// `PATCH sic/alerts/{id}/workflow` with `{action_uuid, comment}` (`comment` left out when
/// empty); the answer is the results.
async fn change_status(
    cx: &ActionContext,
    args: &Value,
    action_uuid: String,
) -> Result<ActionOutput, ActionError> {
    let id = alert_id(args, "uuid")?;
    let comment = optional_str(args, "comment")?;
    let client = rest_client(cx, args)?;
    let mut body = json!({"action_uuid": action_uuid});
    if let Some(comment) = comment {
        body["comment"] = Value::String(comment.to_owned());
    }
    let answer = client
        .call(
            cx,
            Method::PATCH,
            &ApiPath::alert(id).then("workflow"),
            &[],
            Some(&body),
        )
        .await?;
    cx.log
        .info(format!("alert {id}: workflow {action_uuid} applied"));
    Ok(ActionOutput::new(answer))
}

fn status_manifest(
    uuid: &'static str,
    name: &'static str,
    slug: &'static str,
    command: &'static str,
    target: (&'static str, Value),
) -> ActionManifest {
    let (target_name, target_schema) = target;
    let mut properties = json!({
        "uuid": {"type": "string", "description": "The alert's UUID or short id"},
        "comment": {"type": "string", "description": "A comment recorded with the change"}
    });
    properties[target_name] = target_schema;
    RestAction {
        uuid,
        name,
        slug,
        command,
        description: "Change the status of an alert",
        properties,
        required: vec!["uuid", target_name],
        results: Shape::WorkflowActions.schema(),
    }
    .manifest()
}

/// Applies a workflow action (or status) uuid to an alert.
pub struct UpdateAlertStatus {
    manifest: ActionManifest,
}

impl UpdateAlertStatus {
    pub fn new() -> Self {
        let target = (
            "action_uuid",
            json!({"type": "string", "description": "The workflow action or status uuid"}),
        );
        Self {
            manifest: status_manifest(
                "c4b84449-a26f-4f18-bde4-33efa921f4d4",
                "Update Alert Status",
                "update_alert_status",
                "patch-alerts/{uuid}/workflow",
                target,
            ),
        }
    }
}

impl Default for UpdateAlertStatus {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Action for UpdateAlertStatus {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let action_uuid = required_str(&args, "action_uuid")?;
        if uuid::Uuid::parse_str(action_uuid).is_err() {
            return Err(ActionError::invalid_argument(
                "action_uuid",
                "must be a UUID",
            ));
        }
        change_status(cx, &args, action_uuid.to_lowercase()).await
    }
}

/// Moves an alert to a status given by name.
pub struct UpdateAlertStatusByName {
    manifest: ActionManifest,
}

impl UpdateAlertStatusByName {
    pub fn new() -> Self {
        let target = (
            "status",
            json!({"type": "string", "description": "Pending, Acknowledged, Ongoing, Rejected or Closed (or a status uuid)"}),
        );
        Self {
            manifest: status_manifest(
                "0d7c41fe-7991-42f7-9a04-702754b9700a",
                "Update Alert Status by name",
                "update_alert_status_by_name",
                "update-status-by-name",
                target,
            ),
        }
    }
}

impl Default for UpdateAlertStatusByName {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Action for UpdateAlertStatusByName {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let status = required_str(&args, "status")?;
        let reference = status_reference(status).ok_or_else(|| {
            let names: Vec<&str> = STATUSES.iter().map(|(name, _)| *name).collect();
            ActionError::invalid_argument(
                "status",
                format!("must be one of {} or a status uuid", names.join(", ")),
            )
        })?;
        change_status(cx, &args, reference).await
    }
}

#[cfg(test)]
mod tests {
    use super::status_reference;

    #[test]
    fn names_are_case_insensitive_and_uuids_pass_through() {
        assert_eq!(
            status_reference("closed").as_deref(),
            Some("1738b1c1-767d-489e-bada-19176621a007")
        );
        assert_eq!(
            status_reference(" ACKNOWLEDGED ").as_deref(),
            Some("8f206505-af6d-433e-93f4-775d46dc7d0f")
        );
        let action = "937bdabf-6a08-434b-b6d3-d7447e4e452a";
        assert_eq!(status_reference(action).as_deref(), Some(action));
        assert_eq!(status_reference("Done"), None);
    }
}
