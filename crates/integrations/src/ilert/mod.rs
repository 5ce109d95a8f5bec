//! ilert: forwards Sekoia.io alerts to an ilert alert source, exactly as Sekoia.io's own
//! ilert module does — the alert is fetched and posted whole, with `status` mapped so that
//! ilert acknowledges or resolves its alert when the Sekoia.io alert changes.
//!
//! Two endpoint forms: the Sekoia.io-typed alert source (`.../events/sekoia/<key>`, the
//! default) and ilert's generic Events API (`.../api/events`, with `alertKey` = alert uuid).
//!
//! The other way, ilert's webhook alert action reports changes made in ilert to the trigger
//! Alert Changed in ilert ([`alert_changed`], an alertsync extension), so that an alert
//! accepted or resolved by on-call can follow in Sekoia.io.

pub mod alert_changed;
mod trigger_alert;

use crate::alert::integration_configuration;
use alertsync_engine::{Module, ModuleManifest};

pub use trigger_alert::{TriggerAlert, resolve_nothing};

pub const MODULE_UUID: &str = "4970d347-495b-4f40-8e66-244abec12d8b";
pub const SLUG: &str = "ilert";
pub const DEFAULT_INTEGRATION_URL: &str = "https://api.ilert.com/api/v1/events/sekoia";

pub fn manifest() -> ModuleManifest {
    ModuleManifest {
        uuid: MODULE_UUID,
        name: "ilert",
        slug: SLUG,
        version: "1.0.0",
        description: "ilert is an incident management platform. This module triggers alerts and manages incidents.",
        configuration: integration_configuration(
            "The integration key of your ilert alert source",
            "URL of the ilert Events API endpoint",
            DEFAULT_INTEGRATION_URL,
        ),
        secrets: vec!["integration_key"],
    }
}

pub fn module() -> Module {
    Module {
        manifest: manifest(),
        actions: vec![std::sync::Arc::new(TriggerAlert::new())],
        triggers: vec![alert_changed::trigger_manifest()],
    }
}
