//! HTTP: the generic Request URL action, for any endpoint a playbook needs to call, and
//! Download File.

mod download_file;
mod request;
mod request_url;
mod response;

use std::sync::Arc;

use alertsync_engine::{Module, ModuleManifest};
use serde_json::json;

pub use download_file::DownloadFile;
pub use request_url::RequestUrl;

pub const MODULE_UUID: &str = "5894985f-91eb-46db-9306-cc5ac6463d3d";
pub const SLUG: &str = "http";

pub fn manifest() -> ModuleManifest {
    ModuleManifest {
        uuid: MODULE_UUID,
        name: "HTTP",
        slug: SLUG,
        version: "1.0.0",
        description: "Send HTTP requests to any endpoint.",
        configuration: json!({"type": "object", "properties": {}}),
        secrets: Vec::new(),
    }
}

pub fn module() -> Module {
    Module {
        manifest: manifest(),
        actions: vec![Arc::new(RequestUrl::new()), Arc::new(DownloadFile::new())],
        triggers: Vec::new(),
    }
}
