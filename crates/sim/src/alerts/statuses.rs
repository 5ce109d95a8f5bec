//! Sekoia.io's built-in alert statuses and the older workflow actions that lead to them.

use serde_json::{Value, json};

pub(crate) struct AlertStatus {
    pub(crate) name: &'static str,
    pub(crate) uuid: &'static str,
    pub(crate) description: &'static str,
}

struct WorkflowAction {
    uuid: &'static str,
    name: &'static str,
    description: &'static str,
    leads_to: &'static str,
}

pub(crate) const PENDING: &AlertStatus = &STATUSES[0];

const STATUSES: [AlertStatus; 5] = [
    AlertStatus {
        name: "Pending",
        uuid: "2efc4930-1442-4abb-acf2-58ba219a4fd0",
        description: "Default behavior, alert has been raised and is pending review",
    },
    AlertStatus {
        name: "Acknowledged",
        uuid: "8f206505-af6d-433e-93f4-775d46dc7d0f",
        description: "The alert has been acknowledged by an analyst",
    },
    AlertStatus {
        name: "Ongoing",
        uuid: "1f2f88d5-ff5b-48bf-bbbc-00c2fff82d9f",
        description: "The alert has been validated and is being handled",
    },
    AlertStatus {
        name: "Rejected",
        uuid: "4f68da89-38e0-4703-a6ab-652f02bdf24e",
        description: "The alert was a false positive",
    },
    AlertStatus {
        name: "Closed",
        uuid: "1738b1c1-767d-489e-bada-19176621a007",
        description: "The alert has been handled",
    },
];

const ACTIONS: [WorkflowAction; 4] = [
    WorkflowAction {
        uuid: "937bdabf-6a08-434b-b6d3-d7447e4e452a",
        name: "Acknowledge",
        description: "Acknowledge the alert",
        leads_to: "Acknowledged",
    },
    WorkflowAction {
        uuid: "c39a0a95-aa2c-4d0d-8d2e-d3decf426eea",
        name: "Validate",
        description: "Validate the alert and start handling it",
        leads_to: "Ongoing",
    },
    WorkflowAction {
        uuid: "ade85d7b-7507-4026-bfc6-cc006d10ddac",
        name: "Reject",
        description: "Reject the alert as a false positive",
        leads_to: "Rejected",
    },
    WorkflowAction {
        uuid: "1390be4e-ced8-4dd6-9bed-573471b235ab",
        name: "Close",
        description: "Close the alert",
        leads_to: "Closed",
    },
];

/// The status a name (case-insensitive), a status uuid or an action uuid designates.
pub(crate) fn resolve(reference: &str) -> Option<&'static AlertStatus> {
    let reference = reference.trim();
    let by_name_or_uuid = |name: &str| {
        STATUSES
            .iter()
            .find(|status| status.name.eq_ignore_ascii_case(name))
    };
    by_name_or_uuid(reference)
        .or_else(|| {
            STATUSES
                .iter()
                .find(|status| status.uuid.eq_ignore_ascii_case(reference))
        })
        .or_else(|| {
            ACTIONS
                .iter()
                .find(|action| action.uuid.eq_ignore_ascii_case(reference))
                .and_then(|action| by_name_or_uuid(action.leads_to))
        })
}

impl AlertStatus {
    pub(crate) fn to_json(&self) -> Value {
        json!({"uuid": self.uuid, "name": self.name, "description": self.description})
    }
}

/// The transitions `GET .../workflow` lists.
pub(crate) fn workflow_actions() -> Value {
    let actions: Vec<Value> = ACTIONS
        .iter()
        .map(|action| json!({"id": action.uuid, "name": action.name, "description": action.description}))
        .collect();
    json!({ "actions": actions })
}
