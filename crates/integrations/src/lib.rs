//! The modules alertsync implements natively, under the UUIDs Sekoia.io uses, so that a
//! playbook exported from Sekoia.io resolves to these implementations without edits.
//!
//! One folder per module; each exposes a `module()` returning its [`Module`] (manifest,
//! actions, triggers). Adding a module is one folder here and one line in [`registry`].

pub mod alert;
pub mod args;
pub mod ilert;
pub mod sekoia;

use alertsync_engine::{Module, Registry};

/// Every module alertsync implements.
pub fn registry() -> Registry {
    Registry::new(all_modules())
}

fn all_modules() -> Vec<Module> {
    vec![sekoia::module(), ilert::module()]
}
