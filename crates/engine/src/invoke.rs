//! Running one action: validate its arguments against the manifest, then run it.
//!
//! Both one-shot commands and the playbook executor go through [`invoke`], so an action never
//! sees arguments its schema rejects.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use crate::action::{Action, ActionContext, ActionError, ActionOutput};
use crate::manifest::ActionManifest;

/// Validates the arguments, then runs the action.
pub async fn invoke(
    action: &dyn Action,
    cx: &ActionContext,
    args: Value,
) -> Result<ActionOutput, ActionError> {
    validate_arguments(action.manifest(), &args)?;
    action.run(cx, args).await
}

/// Checks arguments against the action's schema; the first problem becomes an
/// [`ActionError::invalid_argument`] naming the argument. Values are never quoted in the
/// message (they may be secrets).
pub fn validate_arguments(manifest: &ActionManifest, args: &Value) -> Result<(), ActionError> {
    let Some(violation) = violations(manifest, args)?.into_iter().next() else {
        return Ok(());
    };
    let argument = violation.path.join(".");
    let argument = if argument.is_empty() {
        "(arguments)".to_owned()
    } else {
        argument
    };
    Err(ActionError::invalid_argument(argument, violation.message))
}

/// One way arguments break their schema.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Violation {
    /// Where, as path segments from the arguments (object keys, or list indexes in
    /// decimal). For a missing required argument, the path of that argument.
    pub path: Vec<String>,
    /// What schema rule was broken.
    pub rule: Rule,
    /// The message, with values masked (they may be secrets).
    pub message: String,
}

/// The schema rules validation treats apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    Required,
    /// `minItems` / `minProperties`: a container is too small.
    TooFew,
    Other,
}

/// Every violation of the action's argument schema, in the validator's order.
pub(crate) fn violations(
    manifest: &ActionManifest,
    args: &Value,
) -> Result<Vec<Violation>, ActionError> {
    let validator = compiled_schema(manifest)?;
    Ok(validator
        .iter_errors(args)
        .map(|error| {
            let mut path = pointer_segments(error.instance_path().as_str());
            let rule = match error.kind() {
                ValidationErrorKind::Required { property } => {
                    path.push(property.as_str().unwrap_or_default().to_owned());
                    Rule::Required
                }
                ValidationErrorKind::MinItems { .. }
                | ValidationErrorKind::MinProperties { .. } => Rule::TooFew,
                _ => Rule::Other,
            };
            Violation {
                path,
                rule,
                message: error.masked_with("the value").to_string(),
            }
        })
        .collect())
}

/// The segments of a JSON pointer (`/headers/a~1b` → `headers`, `a/b`).
fn pointer_segments(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|segment| segment.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// Schemas are compiled once per action and kept: validation runs for every node of every run.
fn compiled_schema(manifest: &ActionManifest) -> Result<Arc<jsonschema::Validator>, ActionError> {
    static CACHE: OnceLock<Mutex<HashMap<&'static str, Arc<jsonschema::Validator>>>> =
        OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(v) = cache.get(manifest.uuid) {
        return Ok(v.clone());
    }
    let validator = jsonschema::validator_for(&manifest.arguments).map_err(|e| {
        ActionError::permanent(format!(
            "the argument schema of action {} is invalid: {e}",
            manifest.name
        ))
    })?;
    let validator = Arc::new(validator);
    cache.insert(manifest.uuid, validator.clone());
    Ok(validator)
}
