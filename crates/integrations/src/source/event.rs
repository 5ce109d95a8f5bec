//! The events sources hand to the inbox: what happened, with the key that makes two
//! deliveries of it one event.

use alertsync_store::EventSource;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ilert::alert_changed::IlertAlertChange;
use crate::sekoia::live::ChangeKind;
use crate::sekoia::triggers::cases::CaseChangeKind;

/// What an inbox event says happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InboxPayload {
    /// A Sekoia.io alert changed (live notification or back-fill).
    AlertChange {
        change: ChangeKind,
        alert_uuid: String,
        /// The comment, for a comment notification.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<Value>,
    },
    /// A playbook's webhook (Manual Trigger node `trigger_node`) was called for an alert.
    Webhook {
        playbook_id: String,
        trigger_node: String,
        alert_uuid: String,
    },
    /// ilert's webhook reported a change of an ilert alert to a playbook (Alert Changed in
    /// ilert node `trigger_node`); `alert_uuid` is the Sekoia.io alert it belongs to, if one
    /// was found.
    IlertAlertChanged {
        playbook_id: String,
        trigger_node: String,
        change: Box<IlertAlertChange>,
        alert_uuid: Option<String>,
    },
    /// A playbook's schedule (Cron trigger node `trigger_node`) fired.
    Cron {
        playbook_id: String,
        trigger_node: String,
        scheduled_at: String,
    },
    /// A Sekoia.io case changed (live notification); `attributes` are the notification's.
    CaseChange {
        change: CaseChangeKind,
        case_uuid: String,
        attributes: Value,
    },
    /// A page of the intelligence feed a playbook's feed trigger (node `trigger_node`)
    /// reads.
    FeedPage {
        playbook_id: String,
        trigger_node: String,
        objects: Vec<Value>,
    },
    /// New events on an alert waited the time window of a playbook's Alert Events
    /// Threshold trigger (node `trigger_node`).
    ThresholdTimeCheck {
        playbook_id: String,
        trigger_node: String,
        alert_uuid: String,
    },
}

impl InboxPayload {
    /// The alert the event is about, if any.
    pub fn alert_uuid(&self) -> Option<&str> {
        match self {
            Self::AlertChange { alert_uuid, .. }
            | Self::Webhook { alert_uuid, .. }
            | Self::ThresholdTimeCheck { alert_uuid, .. } => Some(alert_uuid),
            Self::IlertAlertChanged { alert_uuid, .. } => alert_uuid.as_deref(),
            Self::Cron { .. } | Self::CaseChange { .. } | Self::FeedPage { .. } => None,
        }
    }

    /// The playbook trigger node a targeted event is for (webhooks, schedules, feeds,
    /// time checks); `None` for the changes every matching trigger sees.
    pub fn target(&self) -> Option<(&str, &str)> {
        match self {
            Self::Webhook {
                playbook_id,
                trigger_node,
                ..
            }
            | Self::IlertAlertChanged {
                playbook_id,
                trigger_node,
                ..
            }
            | Self::Cron {
                playbook_id,
                trigger_node,
                ..
            }
            | Self::FeedPage {
                playbook_id,
                trigger_node,
                ..
            }
            | Self::ThresholdTimeCheck {
                playbook_id,
                trigger_node,
                ..
            } => Some((playbook_id, trigger_node)),
            Self::AlertChange { .. } | Self::CaseChange { .. } => None,
        }
    }
}

/// An event a source has received, before it is stored.
#[derive(Debug, Clone)]
pub struct IncomingEvent {
    pub source: EventSource,
    /// The account (Sekoia.io community connection) it came through, if any.
    pub account: String,
    /// What makes two deliveries of one change the same event.
    pub dedup_key: String,
    pub payload: InboxPayload,
}
