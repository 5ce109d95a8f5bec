//! Accounts: a module's configuration (Sekoia.io calls it a "module configuration"), and
//! the [`AccountBook`] that picks the account each playbook node uses.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use alertsync_spl::Node;
use serde_json::{Map, Value};

use crate::manifest::{ActionManifest, ModuleManifest};
use crate::redact::Redactor;
use crate::registry::Registry;

/// One configured account of a module, e.g. an ilert alert source's integration key.
///
/// `Debug` never prints secret values.
#[derive(Clone)]
pub struct Account {
    pub name: String,
    /// The module's slug (`ilert`, `sekoia.io`, ...).
    pub module: String,
    values: Map<String, Value>,
    secret_keys: Vec<String>,
    /// The largest response body read for this account's requests, if set for it.
    max_response_bytes: Option<u64>,
}

impl Account {
    /// Builds an account from its values; the manifest says which keys are secrets and gives
    /// defaults for keys that are absent.
    pub fn new(
        name: impl Into<String>,
        manifest: &ModuleManifest,
        mut values: Map<String, Value>,
    ) -> Self {
        if let Some(props) = manifest
            .configuration
            .get("properties")
            .and_then(Value::as_object)
        {
            for (key, schema) in props {
                if let (false, Some(default)) = (values.contains_key(key), schema.get("default")) {
                    values.insert(key.clone(), default.clone());
                }
            }
        }
        Self {
            name: name.into(),
            module: manifest.slug.to_owned(),
            values,
            secret_keys: manifest.secrets.iter().map(|s| (*s).to_owned()).collect(),
            max_response_bytes: None,
        }
    }

    /// Sets the largest response body read for this account's requests.
    pub fn with_max_response_bytes(mut self, limit: Option<u64>) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// The largest response body read for this account's requests, if set for it.
    pub fn max_response_bytes(&self) -> Option<u64> {
        self.max_response_bytes
    }

    /// A configuration value as a string, if present and a string.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.values.get(key).and_then(Value::as_str)
    }

    pub fn value(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// A redactor that knows this account's secret values.
    pub fn redactor(&self) -> Redactor {
        let mut r = Redactor::new();
        for key in &self.secret_keys {
            if let Some(v) = self.values.get(key) {
                r.add_value(v);
            }
        }
        r
    }

    /// The configuration with secret values masked (for listings and API answers).
    pub fn masked_values(&self) -> Map<String, Value> {
        self.values
            .iter()
            .map(|(k, v)| {
                let shown = if self.secret_keys.contains(k) {
                    Value::String(crate::redact::MASK.to_owned())
                } else {
                    v.clone()
                };
                (k.clone(), shown)
            })
            .collect()
    }
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .field("module", &self.module)
            .field("values", &self.masked_values())
            .finish()
    }
}

/// The slug of the Sekoia.io module, whose account other modules read alerts with.
pub const SEKOIA_MODULE: &str = "sekoia.io";

/// Arguments through which an action reaches the Sekoia.io API.
pub(crate) const SEKOIA_ACCESS_ARGUMENTS: [&str; 2] = ["api_key", "base_url"];

/// Why no account can be picked for a node; each names the node (``node `3` (Send to
/// ilert)``) and, when accounts are to choose from, the module's accounts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("{node}: module `{module_uuid}` is not implemented")]
    ModuleNotImplemented { node: String, module_uuid: String },
    #[error("{node}: no {slug} account is configured (add `[[account]] module = \"{slug}\"`)")]
    NoAccount { node: String, slug: &'static str },
    #[error(
        "{node}: several {slug} accounts match ({accounts}); name one with the node's \
         `module_configuration` key or a playbook binding"
    )]
    SeveralAccounts {
        node: String,
        slug: &'static str,
        accounts: String,
    },
    #[error(
        "{node}: account `{name}` named by {named_by} does not exist; {slug} accounts: \
         {accounts}"
    )]
    UnknownAccount {
        node: String,
        name: String,
        named_by: NamedBy,
        slug: &'static str,
        accounts: String,
    },
    #[error(
        "{node}: account `{name}` named by {named_by} is a {module} account; {slug} \
         accounts: {accounts}"
    )]
    OtherModule {
        node: String,
        name: String,
        named_by: NamedBy,
        module: String,
        slug: &'static str,
        accounts: String,
    },
}

/// What names the account a node uses, when something does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedBy {
    /// The node's `module_configuration`.
    ModuleConfiguration,
    /// The playbook's binding for the node.
    Binding,
}

impl fmt::Display for NamedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ModuleConfiguration => "its `module_configuration`",
            Self::Binding => "the playbook's binding",
        })
    }
}

/// Why the Sekoia.io account that other modules read alerts with cannot be picked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SekoiaAccountError {
    #[error("no Sekoia.io account is configured")]
    NoAccount,
    #[error(
        "several Sekoia.io accounts are configured ({accounts}), so give the node `api_key` \
         and `base_url` arguments"
    )]
    SeveralAccounts { accounts: String },
}

/// Why an action that requires Sekoia.io access arguments gets none.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no `api_key` argument to read Sekoia.io with, and {0}")]
pub struct SekoiaAccessError(#[source] SekoiaAccountError);

/// `api_key` values that published playbook templates ship with instead of a key.
const PLACEHOLDER_KEYS: [&str; 1] = ["changeme"];

/// Every configured account, and the rules that pick the one a playbook node uses.
#[derive(Debug, Clone, Default)]
pub struct AccountBook {
    accounts: Vec<Arc<Account>>,
}

impl AccountBook {
    pub fn new(accounts: Vec<Arc<Account>>) -> Self {
        Self { accounts }
    }

    pub fn accounts(&self) -> &[Arc<Account>] {
        &self.accounts
    }

    /// The account with this name.
    pub fn get(&self, name: &str) -> Option<&Arc<Account>> {
        self.accounts.iter().find(|a| a.name == name)
    }

    /// The accounts of the module with this slug, in configuration order.
    pub fn of_module<'a>(&'a self, slug: &'a str) -> impl Iterator<Item = &'a Arc<Account>> {
        self.accounts.iter().filter(move |a| a.module == slug)
    }

    /// A redactor knowing the secrets of every account.
    pub fn redactor(&self) -> Redactor {
        let mut redactor = Redactor::new();
        for account in &self.accounts {
            redactor.extend(&account.redactor());
        }
        redactor
    }

    /// The account `node` uses: the account its `module_configuration` names, else the
    /// playbook's binding for it (node id → account name), else the only account of its
    /// module. A module whose configuration requires nothing may have no account
    /// (`Ok(None)`); any other miss, and a choice between several accounts, is an error that
    /// names the node and the candidates. Operator nodes use no account.
    pub fn resolve(
        &self,
        registry: &Registry,
        node: &Node,
        bindings: &BTreeMap<String, String>,
    ) -> Result<Option<Arc<Account>>, ResolveError> {
        let Some(module_uuid) = node.module_uuid() else {
            return Ok(None);
        };
        let label = node_label(node);
        let module =
            registry
                .module(module_uuid)
                .ok_or_else(|| ResolveError::ModuleNotImplemented {
                    node: label.clone(),
                    module_uuid: module_uuid.to_owned(),
                })?;
        let slug = module.manifest.slug;
        let named = [
            (
                node.module_configuration.as_deref(),
                NamedBy::ModuleConfiguration,
            ),
            (bindings.get(&node.id).map(String::as_str), NamedBy::Binding),
        ];
        if let Some((name, named_by)) = named.into_iter().find_map(|(n, s)| Some((n?, s))) {
            return self.named(label, slug, name, named_by).map(Some);
        }
        let candidates: Vec<&Arc<Account>> = self.of_module(slug).collect();
        match candidates.as_slice() {
            [only] => Ok(Some(Arc::clone(only))),
            [] if module.manifest.required_configuration_keys().is_empty() => Ok(None),
            [] => Err(ResolveError::NoAccount { node: label, slug }),
            several => Err(ResolveError::SeveralAccounts {
                node: label,
                slug,
                accounts: names(several),
            }),
        }
    }

    /// The account `name` (named by `named_by`), checked to belong to module `slug`.
    fn named(
        &self,
        node: String,
        slug: &'static str,
        name: &str,
        named_by: NamedBy,
    ) -> Result<Arc<Account>, ResolveError> {
        let accounts = || {
            let candidates: Vec<&Arc<Account>> = self.of_module(slug).collect();
            if candidates.is_empty() {
                "none".to_owned()
            } else {
                names(&candidates)
            }
        };
        match self.get(name) {
            Some(account) if account.module == slug => Ok(Arc::clone(account)),
            Some(other) => Err(ResolveError::OtherModule {
                node,
                name: name.to_owned(),
                named_by,
                module: other.module.clone(),
                slug,
                accounts: accounts(),
            }),
            None => Err(ResolveError::UnknownAccount {
                node,
                name: name.to_owned(),
                named_by,
                slug,
                accounts: accounts(),
            }),
        }
    }

    /// The Sekoia.io account that actions of other modules read alerts with: the only one
    /// configured.
    pub fn sekoia(&self) -> Result<Arc<Account>, SekoiaAccountError> {
        let candidates: Vec<&Arc<Account>> = self.of_module(SEKOIA_MODULE).collect();
        match candidates.as_slice() {
            [only] => Ok(Arc::clone(only)),
            [] => Err(SekoiaAccountError::NoAccount),
            several => Err(SekoiaAccountError::SeveralAccounts {
                accounts: names(several),
            }),
        }
    }

    /// Fills the Sekoia.io access arguments (`api_key`, `base_url`) an action takes.
    ///
    /// An `api_key` that is absent, empty or a template placeholder (`changeme`) counts as
    /// not given, and so does the `base_url` next to it. Actions of the Sekoia.io module then
    /// use their own account; actions of other modules (ilert, PagerDuty, ...) get the
    /// Sekoia.io account's values. Without a Sekoia.io account the arguments stay absent,
    /// which is an error only when the action requires them.
    pub fn fill_sekoia_access(
        &self,
        module: &ModuleManifest,
        action: &ActionManifest,
        arguments: &mut Value,
    ) -> Result<(), SekoiaAccessError> {
        let declared = action.argument_keys();
        if !SEKOIA_ACCESS_ARGUMENTS.iter().all(|a| declared.contains(a)) {
            return Ok(());
        }
        let Some(args) = arguments.as_object_mut() else {
            return Ok(());
        };
        if args.get("api_key").is_some_and(|key| !is_placeholder(key)) {
            return Ok(());
        }
        for name in SEKOIA_ACCESS_ARGUMENTS {
            args.remove(name);
        }
        if module.slug == SEKOIA_MODULE {
            return Ok(());
        }
        match self.sekoia() {
            Ok(account) => {
                for name in SEKOIA_ACCESS_ARGUMENTS {
                    if let Some(value) = account.value(name) {
                        args.insert(name.to_owned(), value.clone());
                    }
                }
                Ok(())
            }
            Err(why) if requires_any(action, &SEKOIA_ACCESS_ARGUMENTS) => {
                Err(SekoiaAccessError(why))
            }
            Err(_) => Ok(()),
        }
    }
}

/// `node `3` (Send to ilert)`.
fn node_label(node: &Node) -> String {
    format!("node `{}` ({})", node.id, node.name)
}

fn names(accounts: &[&Arc<Account>]) -> String {
    accounts
        .iter()
        .map(|a| format!("`{}`", a.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn is_placeholder(key: &Value) -> bool {
    match key {
        Value::Null => true,
        Value::String(text) => {
            let text = text.trim();
            text.is_empty()
                || PLACEHOLDER_KEYS
                    .iter()
                    .any(|p| text.eq_ignore_ascii_case(p))
        }
        _ => false,
    }
}

fn requires_any(action: &ActionManifest, names: &[&str]) -> bool {
    action
        .arguments
        .get("required")
        .and_then(Value::as_array)
        .is_some_and(|required| {
            required
                .iter()
                .filter_map(Value::as_str)
                .any(|r| names.contains(&r))
        })
}
