//! The modules alertsync implements natively, under the UUIDs Sekoia.io uses, so that a
//! playbook exported from Sekoia.io resolves to these implementations without edits.
//!
//! One folder per module; each exposes a `module()` returning its [`Module`] (manifest,
//! actions, triggers). Adding a module is one folder here and one line in [`all_modules`].

pub mod alert;
pub mod args;
pub mod cron;
pub mod delivery;
pub mod files;
pub mod http;
pub mod ilert;
pub mod mattermost;
pub mod pagerduty;
pub mod probe;
pub mod sekoia;
pub mod source;
pub mod utils;

use alertsync_engine::{Module, Registry};

/// Every module alertsync implements.
pub fn registry() -> Registry {
    Registry::new(all_modules())
}

fn all_modules() -> Vec<Module> {
    vec![
        sekoia::module(),
        http::module(),
        ilert::module(),
        pagerduty::module(),
        mattermost::module(),
        utils::module(),
        cron::module(),
    ]
}
