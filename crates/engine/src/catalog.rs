//! What playbook validation knows about the modules alertsync implements.
//!
//! [`RegistryCatalog`] answers [`alertsync_spl::validate`]'s questions from the module
//! [`Registry`], the configured accounts and a playbook's bindings: which module, action and
//! trigger uuids exist, whether the literal arguments of an action fit its schema (with the
//! same compiled schema [`crate::invoke`] validates with at run time), and which account
//! each action node uses.

use std::collections::BTreeMap;

use alertsync_spl::{Catalog, Node};
use serde_json::Value;

use crate::account::{AccountBook, SEKOIA_ACCESS_ARGUMENTS};
use crate::invoke::{Rule, Violation, violations};
use crate::registry::Registry;

/// A [`Catalog`] over the registry, the accounts and one playbook's bindings (node id →
/// account name).
pub struct RegistryCatalog<'a> {
    registry: &'a Registry,
    accounts: &'a AccountBook,
    bindings: &'a BTreeMap<String, String>,
    check_accounts: bool,
}

impl<'a> RegistryCatalog<'a> {
    pub fn new(
        registry: &'a Registry,
        accounts: &'a AccountBook,
        bindings: &'a BTreeMap<String, String>,
    ) -> Self {
        Self {
            registry,
            accounts,
            bindings,
            check_accounts: true,
        }
    }

    /// Whether accounts are checked (default). Without a configuration there is nothing to
    /// check them against: account resolution is skipped and the Sekoia.io access arguments
    /// an account would fill count as given.
    pub fn checking_accounts(mut self, check: bool) -> Self {
        self.check_accounts = check;
        self
    }
}

impl Catalog for RegistryCatalog<'_> {
    fn module_name(&self, module_uuid: &str) -> Option<String> {
        self.registry
            .module(module_uuid)
            .map(|m| m.manifest.name.to_owned())
    }

    fn has_action(&self, module_uuid: &str, action_uuid: &str) -> bool {
        self.registry.action(module_uuid, action_uuid).is_some()
    }

    fn action_outputs(&self, module_uuid: &str, action_uuid: &str) -> Vec<String> {
        self.registry
            .action(module_uuid, action_uuid)
            .map(|(_, action)| {
                action
                    .manifest()
                    .outputs
                    .iter()
                    .map(|o| (*o).to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn has_trigger(&self, module_uuid: &str, trigger_uuid: &str) -> bool {
        self.registry.trigger(module_uuid, trigger_uuid).is_some()
    }

    fn check_arguments(
        &self,
        module_uuid: &str,
        action_uuid: &str,
        literal_arguments: &Value,
        templated_paths: &[String],
    ) -> Vec<(String, String)> {
        let Some((module, action)) = self.registry.action(module_uuid, action_uuid) else {
            return Vec::new();
        };
        let mut templated: Vec<Vec<String>> =
            templated_paths.iter().map(|p| path_segments(p)).collect();
        if !self.check_accounts {
            templated.extend(SEKOIA_ACCESS_ARGUMENTS.map(|key| vec![key.to_owned()]));
        }
        let mut arguments = literal_arguments.clone();
        let key_is_templated = templated.iter().any(|p| p == &["api_key"]);
        if !key_is_templated
            && let Err(why) = self.accounts.fill_sekoia_access(
                &module.manifest,
                action.manifest(),
                &mut arguments,
            )
        {
            return vec![(String::new(), why.to_string())];
        }
        match violations(action.manifest(), &arguments) {
            Ok(found) => found
                .into_iter()
                .filter(|v| !caused_by_templates(v, &templated))
                .map(|v| (pointer(&v.path), v.message))
                .collect(),
            Err(err) => vec![(String::new(), err.message)],
        }
    }

    fn resolve_account(&self, node: &Node) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if !self.check_accounts {
            return Ok(());
        }
        self.accounts
            .resolve(self.registry, node, self.bindings)
            .map(drop)
            .map_err(Box::from)
    }
}

/// Whether a violation only comes from templated leaves having been left out: a required
/// argument that a template gives, or a list or object made too small by leaving them out.
fn caused_by_templates(violation: &Violation, templated: &[Vec<String>]) -> bool {
    match violation.rule {
        Rule::Required => templated.contains(&violation.path),
        Rule::TooFew => templated
            .iter()
            .any(|p| p.len() > violation.path.len() && p.starts_with(&violation.path)),
        Rule::Other => false,
    }
}

/// A JSON pointer from path segments.
fn pointer(segments: &[String]) -> String {
    segments
        .iter()
        .map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// The segments of a path in validation's notation (`.url`, `['date[updated_at]']`,
/// `.headers[0]`); list indexes become their decimal text.
fn path_segments(path: &str) -> Vec<String> {
    let mut segments = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        let (segment, tail) = if let Some(after) = rest.strip_prefix("['") {
            quoted_key(after)
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').unwrap_or(after.len());
            (after[..end].to_owned(), after.get(end + 1..).unwrap_or(""))
        } else {
            let after = rest.strip_prefix('.').unwrap_or(rest);
            let end = after.find(['.', '[']).unwrap_or(after.len());
            (after[..end].to_owned(), &after[end..])
        };
        segments.push(segment);
        rest = tail;
    }
    segments
}

/// A key written `'...'` (with `\\` and `\'` escapes) up to its closing `']`; returns the
/// key and what follows.
fn quoted_key(text: &str) -> (String, &str) {
    let mut key = String::new();
    let mut chars = text.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    key.push(escaped);
                }
            }
            '\'' => {
                let tail = &text[index + 1..];
                return (key, tail.strip_prefix(']').unwrap_or(tail));
            }
            other => key.push(other),
        }
    }
    (key, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_paths_split_into_segments() {
        assert_eq!(path_segments(".url"), ["url"]);
        assert_eq!(path_segments(".headers[0]"), ["headers", "0"]);
        assert_eq!(
            path_segments("['date[updated_at]'].x"),
            ["date[updated_at]", "x"]
        );
        assert_eq!(path_segments(r"['it\'s']"), ["it's"]);
        assert!(path_segments("").is_empty());
    }

    #[test]
    fn pointers_escape_their_segments() {
        assert_eq!(pointer(&["a/b".to_owned(), "0".to_owned()]), "/a~1b/0");
        assert_eq!(pointer(&[]), "");
    }
}
