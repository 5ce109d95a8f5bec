//! Accounts: a module's configuration (Sekoia.io calls it a "module configuration").

use std::fmt;

use serde_json::{Map, Value};

use crate::manifest::ModuleManifest;
use crate::redact::Redactor;

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
        }
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
