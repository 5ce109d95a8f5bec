//! Cron: the schedule trigger seen in exported Sekoia.io playbooks (undocumented there),
//! firing on a 5-field cron expression (UTC) or every `interval` seconds.

mod source;

use alertsync_engine::{Module, ModuleManifest, TriggerManifest};
use serde_json::json;

pub use source::{CronSource, Schedule, ScheduleError};

pub const MODULE_UUID: &str = "1ad1b7ce-e335-4532-83ce-1d43c864720c";
pub const SLUG: &str = "cron";
pub const CRON_TRIGGER: &str = "5039c9fe-b2d8-40b3-a11b-d2a810ddbf91";

pub fn manifest() -> ModuleManifest {
    ModuleManifest {
        uuid: MODULE_UUID,
        name: "Cron",
        slug: SLUG,
        version: "1.0.0",
        description: "Start playbooks on a schedule.",
        configuration: json!({"type": "object", "properties": {}}),
        secrets: Vec::new(),
    }
}

pub fn trigger_manifest() -> TriggerManifest {
    TriggerManifest {
        uuid: CRON_TRIGGER,
        name: "Cron",
        slug: "cron",
        description: "Starts a run on a schedule: a 5-field cron expression (UTC) or an interval in seconds.",
        arguments: json!({
            "type": "object",
            "properties": {
                "cron": {"type": "string", "description": "5-field cron expression, UTC (e.g. */5 * * * *)"},
                "interval": {"type": "integer", "minimum": 1, "description": "Seconds between runs"}
            }
        }),
        results: json!({
            "type": "object",
            "properties": {"scheduled_at": {"type": "string", "format": "date-time", "description": "When the run was due (RFC 3339)"}}
        }),
        extension: false,
    }
}

pub fn module() -> Module {
    Module {
        manifest: manifest(),
        actions: Vec::new(),
        triggers: vec![trigger_manifest()],
    }
}
