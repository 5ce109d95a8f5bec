//! The registry: every module alertsync implements, found by UUID (playbooks) or slug (CLI,
//! configuration).

use std::sync::Arc;

use crate::action::Action;
use crate::manifest::{ModuleManifest, TriggerManifest};

/// A module with its actions and triggers.
pub struct Module {
    pub manifest: ModuleManifest,
    pub actions: Vec<Arc<dyn Action>>,
    pub triggers: Vec<TriggerManifest>,
}

impl Module {
    /// The action with this UUID.
    pub fn action(&self, action_uuid: &str) -> Option<&Arc<dyn Action>> {
        self.actions
            .iter()
            .find(|a| a.manifest().uuid == action_uuid)
    }

    /// The action with this slug.
    pub fn action_by_slug(&self, slug: &str) -> Option<&Arc<dyn Action>> {
        self.actions.iter().find(|a| a.manifest().slug == slug)
    }

    /// The trigger with this UUID.
    pub fn trigger(&self, trigger_uuid: &str) -> Option<&TriggerManifest> {
        self.triggers.iter().find(|t| t.uuid == trigger_uuid)
    }
}

/// All modules, in the order they were registered.
pub struct Registry {
    modules: Vec<Module>,
}

impl Registry {
    pub fn new(modules: Vec<Module>) -> Self {
        Self { modules }
    }

    pub fn modules(&self) -> &[Module] {
        &self.modules
    }

    pub fn module(&self, module_uuid: &str) -> Option<&Module> {
        self.modules.iter().find(|m| m.manifest.uuid == module_uuid)
    }

    pub fn module_by_slug(&self, slug: &str) -> Option<&Module> {
        self.modules.iter().find(|m| m.manifest.slug == slug)
    }

    /// The action a playbook node names.
    pub fn action(
        &self,
        module_uuid: &str,
        action_uuid: &str,
    ) -> Option<(&Module, &Arc<dyn Action>)> {
        let module = self.module(module_uuid)?;
        Some((module, module.action(action_uuid)?))
    }

    /// The action named `<module slug>.<action slug>` (split at the last dot, since module
    /// slugs may contain dots: `sekoia.io.get_alert`). The error lists what exists.
    pub fn action_by_name(&self, name: &str) -> Result<(&Module, &Arc<dyn Action>), UnknownAction> {
        let available = || self.available_actions();
        let (module_slug, action_slug) =
            name.rsplit_once('.')
                .ok_or_else(|| UnknownAction::NotQualified {
                    name: name.to_owned(),
                    available: available(),
                })?;
        let module = self
            .module_by_slug(module_slug)
            .ok_or_else(|| UnknownAction::NoModule {
                module: module_slug.to_owned(),
                available: available(),
            })?;
        let action = module
            .action_by_slug(action_slug)
            .ok_or_else(|| UnknownAction::NoAction {
                module: module_slug.to_owned(),
                action: action_slug.to_owned(),
                available: available(),
            })?;
        Ok((module, action))
    }

    /// The trigger a playbook node names.
    pub fn trigger(
        &self,
        module_uuid: &str,
        trigger_uuid: &str,
    ) -> Option<(&Module, &TriggerManifest)> {
        let module = self.module(module_uuid)?;
        Some((module, module.trigger(trigger_uuid)?))
    }

    fn available_actions(&self) -> String {
        let names: Vec<String> = self
            .modules
            .iter()
            .flat_map(|m| {
                m.actions
                    .iter()
                    .map(move |a| format!("{}.{}", m.manifest.slug, a.manifest().slug))
            })
            .collect();
        format!("available actions: {}", names.join(", "))
    }
}

/// Why [`Registry::action_by_name`] found no action; each says which actions exist.
#[derive(Debug, thiserror::Error)]
pub enum UnknownAction {
    #[error("`{name}` is not <module>.<action>; {available}")]
    NotQualified { name: String, available: String },
    #[error("no module `{module}`; {available}")]
    NoModule { module: String, available: String },
    #[error("module `{module}` has no action `{action}`; {available}")]
    NoAction {
        module: String,
        action: String,
        available: String,
    },
}
