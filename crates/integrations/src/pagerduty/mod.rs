//! PagerDuty: forwards Sekoia.io alerts as PagerDuty Events v2, keyed by the alert's short
//! id so that a later status change acknowledges or resolves the same incident.

mod trigger_alert;

use std::sync::Arc;

use crate::alert::integration_configuration;
use alertsync_engine::{Module, ModuleManifest};

pub use trigger_alert::TriggerAlert;

pub const MODULE_UUID: &str = "97864342-32c5-4076-b590-ba0179db9233";
pub const SLUG: &str = "pagerduty";
pub const DEFAULT_INTEGRATION_URL: &str = "https://events.pagerduty.com/v2/enqueue";

pub fn manifest() -> ModuleManifest {
    ModuleManifest {
        uuid: MODULE_UUID,
        name: "PagerDuty",
        slug: SLUG,
        version: "1.0.0",
        description: "PagerDuty is an incident response platform. This module triggers PagerDuty alerts from Sekoia.io alerts.",
        configuration: integration_configuration(
            "The integration (routing) key of a PagerDuty service",
            "URL of the PagerDuty Events v2 endpoint",
            DEFAULT_INTEGRATION_URL,
        ),
        secrets: vec!["integration_key"],
    }
}

pub fn module() -> Module {
    Module {
        manifest: manifest(),
        actions: vec![Arc::new(TriggerAlert::new())],
        triggers: Vec::new(),
    }
}
