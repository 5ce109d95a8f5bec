//! Masking secrets by value.
//!
//! Every secret an action could see (account secrets, secret arguments) is registered with a
//! [`Redactor`]; everything recorded or printed — arguments, results, logs, error messages —
//! passes through it. Masking by value (not by key) means a secret copied elsewhere by a
//! template is masked too.

use serde_json::Value;

/// What a masked secret is replaced with.
pub const MASK: &str = "********";

/// Secrets shorter than this are masked only where a whole string equals them: masking every
/// occurrence of a two-letter secret would destroy the record without protecting anything.
const MIN_SUBSTRING_SECRET_LEN: usize = 4;

/// A set of secret values to mask.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so that a secret containing another is masked whole.
    secrets: Vec<String>,
}

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a secret value. Empty strings are ignored.
    pub fn add(&mut self, secret: impl Into<String>) {
        let secret = secret.into();
        if secret.is_empty() || self.secrets.contains(&secret) {
            return;
        }
        self.secrets.push(secret);
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// Registers every string found in a JSON value (a secret argument may be an object).
    pub fn add_value(&mut self, value: &Value) {
        match value {
            Value::String(s) => self.add(s.clone()),
            Value::Array(items) => items.iter().for_each(|v| self.add_value(v)),
            Value::Object(map) => map.values().for_each(|v| self.add_value(v)),
            _ => {}
        }
    }

    /// Adds every secret of another redactor.
    pub fn extend(&mut self, other: &Redactor) {
        for s in &other.secrets {
            self.add(s.clone());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// How many distinct secrets are known.
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    /// Returns the text with every secret replaced by [`MASK`].
    pub fn mask_str(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if secret.len() >= MIN_SUBSTRING_SECRET_LEN {
                if out.contains(secret.as_str()) {
                    out = out.replace(secret.as_str(), MASK);
                }
            } else if out == *secret {
                out = MASK.to_owned();
            }
        }
        out
    }

    /// Returns a copy of the value with every secret masked in every string (keys included).
    pub fn mask_value(&self, value: &Value) -> Value {
        if self.secrets.is_empty() {
            return value.clone();
        }
        match value {
            Value::String(s) => Value::String(self.mask_str(s)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.mask_value(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (self.mask_str(k), self.mask_value(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_secrets_anywhere_in_values_and_text() {
        let mut r = Redactor::new();
        r.add("s3cr3t-key");
        r.add("abc");
        let v =
            json!({"url": "http://x/s3cr3t-key", "k": "abc", "n": 1, "l": ["abcd", "s3cr3t-key"]});
        assert_eq!(
            r.mask_value(&v),
            json!({"url": "http://x/********", "k": "********", "n": 1, "l": ["abcd", "********"]})
        );
        assert_eq!(r.mask_str("error at s3cr3t-key!"), "error at ********!");
    }

    #[test]
    fn longer_secret_is_masked_whole_before_a_shorter_one_inside_it() {
        let mut r = Redactor::new();
        r.add("key1");
        r.add("key1-and-more");
        assert_eq!(r.mask_str("key1-and-more"), MASK);
    }
}
