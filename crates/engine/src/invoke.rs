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
    let validator = compiled_schema(manifest)?;
    let Some(error) = validator.iter_errors(args).next() else {
        return Ok(());
    };
    let argument = match error.kind() {
        ValidationErrorKind::Required { property } => {
            property.as_str().unwrap_or_default().to_owned()
        }
        _ => error
            .instance_path()
            .as_str()
            .trim_start_matches('/')
            .replace('/', ".")
            .replace("~1", "/")
            .replace("~0", "~"),
    };
    let argument = if argument.is_empty() {
        "(arguments)".to_owned()
    } else {
        argument
    };
    Err(ActionError::invalid_argument(
        argument,
        error.masked_with("the value").to_string(),
    ))
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
