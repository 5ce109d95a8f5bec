//! Utils: small helpers playbooks use between steps: reading a JSON or XML file of the run,
//! grouping items, generating a password, telling the time and waiting.

mod group_by;
mod password;
mod read_json_file;
mod read_xml_file;
mod time;

use std::sync::Arc;

use alertsync_engine::{Module, ModuleManifest};
use serde_json::json;

pub use group_by::GroupBy;
pub use password::PasswordGenerator;
pub use read_json_file::ReadJsonFile;
pub use read_xml_file::ReadXmlFile;
pub use time::{GetCurrentTime, Wait};

pub const MODULE_UUID: &str = "07cce76b-a319-40ee-a0cf-1ba433431e21";
pub const SLUG: &str = "utils";

pub fn manifest() -> ModuleManifest {
    ModuleManifest {
        uuid: MODULE_UUID,
        name: "Utils",
        slug: SLUG,
        version: "1.0.0",
        description: "Helpers for playbooks: read JSON files, group items, generate passwords, tell the time, wait.",
        configuration: json!({"type": "object", "properties": {}}),
        secrets: Vec::new(),
    }
}

pub fn module() -> Module {
    Module {
        manifest: manifest(),
        actions: vec![
            Arc::new(ReadJsonFile::new()),
            Arc::new(ReadXmlFile::new()),
            Arc::new(GroupBy::new()),
            Arc::new(PasswordGenerator::new()),
            Arc::new(GetCurrentTime::new()),
            Arc::new(Wait::new()),
        ],
        triggers: Vec::new(),
    }
}
