//! Utils: small helpers playbooks use between steps (reading a JSON file of the run).

mod read_json_file;

use std::sync::Arc;

use alertsync_engine::{Module, ModuleManifest};
use serde_json::json;

pub use read_json_file::ReadJsonFile;

pub const MODULE_UUID: &str = "07cce76b-a319-40ee-a0cf-1ba433431e21";
pub const SLUG: &str = "utils";

pub fn manifest() -> ModuleManifest {
    ModuleManifest {
        uuid: MODULE_UUID,
        name: "Utils",
        slug: SLUG,
        version: "1.0.0",
        description: "Helpers for playbooks: read JSON files.",
        configuration: json!({"type": "object", "properties": {}}),
        secrets: Vec::new(),
    }
}

pub fn module() -> Module {
    Module {
        manifest: manifest(),
        actions: vec![Arc::new(ReadJsonFile::new())],
        triggers: Vec::new(),
    }
}
