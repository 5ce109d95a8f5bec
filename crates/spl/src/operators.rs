//! The pure parts of the operator nodes: condition comparisons, foreach item
//! expansion and store modifications. Values here are already rendered.

use serde_json::{Map, Value};

/// Why an operator could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperatorError {
    #[error("unknown comparison `{0}` (expected ==, !=, <, <=, >, >=, in, not in or range)")]
    UnknownComparison(String),
    #[error("unknown value_type `{0}` (expected integer or string)")]
    UnknownValueType(String),
    #[error("cannot compare {left} {comparison} {right}: {reason}")]
    Incomparable {
        left: String,
        comparison: String,
        right: String,
        #[source]
        reason: Incomparability,
    },
    #[error("range needs a pair [low, high], got {0}")]
    BadRange(String),
    #[error("foreach items must be a list, an object or null, got {0}")]
    NotIterable(String),
    #[error("unknown store modification `{0}` (expected set, unset, append or remove)")]
    UnknownModification(String),
    #[error("store key `{0}` is empty or has an empty part")]
    BadKey(String),
    #[error("store key `{key}`: `{part}` holds {found}, not an object")]
    NotAnObject {
        key: String,
        part: String,
        found: String,
    },
    #[error("store key `{key}` holds {found}, not a list")]
    NotAList { key: String, found: String },
}

/// Why two values do not compare.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Incomparability {
    #[error("{0} is not an integer")]
    NotAnInteger(String),
    #[error("numbers are not comparable")]
    UnorderedNumbers,
}

/// How two values are compared.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Typing {
    Integer,
    String,
    Automatic,
}

/// Whether `left <comparison> right` holds, per the condition rules:
/// numbers (or numeric strings, unless `value_type` is `string`) compare as
/// numbers, `value_type: integer` forces integers, `string` forces strings,
/// anything else compares as text; `"[]"` equals an empty list; `range` is
/// inclusive with bounds `[low, high]` given as an array or a string.
pub fn evaluate_case(
    left: &Value,
    comparison: &str,
    right: &Value,
    value_type: Option<&str>,
) -> Result<bool, OperatorError> {
    let typing = match value_type.map(str::trim) {
        None | Some("") => Typing::Automatic,
        Some("integer" | "int" | "number") => Typing::Integer,
        Some("string" | "str") => Typing::String,
        Some(other) => return Err(OperatorError::UnknownValueType(other.to_owned())),
    };
    let ordering = |wanted: &[std::cmp::Ordering]| -> Result<bool, OperatorError> {
        compare(left, right, typing)
            .map(|order| wanted.contains(&order))
            .map_err(|reason| incomparable(left, comparison, right, reason))
    };
    use std::cmp::Ordering::{Equal, Greater, Less};
    match comparison.trim() {
        "==" => equal(left, right, typing)
            .map_err(|reason| incomparable(left, comparison, right, reason)),
        "!=" => equal(left, right, typing)
            .map(|same| !same)
            .map_err(|reason| incomparable(left, comparison, right, reason)),
        "<" => ordering(&[Less]),
        "<=" => ordering(&[Less, Equal]),
        ">" => ordering(&[Greater]),
        ">=" => ordering(&[Greater, Equal]),
        "in" => Ok(contains(right, left, typing)),
        "not in" => Ok(!contains(right, left, typing)),
        "range" => in_range(left, right, typing),
        other => Err(OperatorError::UnknownComparison(other.to_owned())),
    }
}

fn incomparable(
    left: &Value,
    comparison: &str,
    right: &Value,
    reason: Incomparability,
) -> OperatorError {
    OperatorError::Incomparable {
        left: left.to_string(),
        comparison: comparison.to_owned(),
        right: right.to_string(),
        reason,
    }
}

/// A number read from a JSON number or a numeric string.
fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
        _ => None,
    }
}

fn as_integer(value: &Value) -> Result<i64, Incomparability> {
    let parsed = match value {
        Value::Number(number) => number
            .as_i64()
            .or_else(|| number.as_f64().map(|f| f.trunc() as i64)),
        Value::String(text) => {
            let text = text.trim();
            text.parse::<i64>().ok().or_else(|| {
                text.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(|f| f.trunc() as i64)
            })
        }
        Value::Bool(flag) => Some(i64::from(*flag)),
        _ => None,
    };
    parsed.ok_or_else(|| Incomparability::NotAnInteger(value.to_string()))
}

/// The text a value compares as: strings as they are, others as JSON.
fn as_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn is_empty_list_text(value: &Value) -> bool {
    matches!(value, Value::String(text) if text.trim() == "[]")
}

fn equal(left: &Value, right: &Value, typing: Typing) -> Result<bool, Incomparability> {
    let empty_list = |value: &Value| matches!(value, Value::Array(items) if items.is_empty());
    if (is_empty_list_text(left) && empty_list(right))
        || (empty_list(left) && is_empty_list_text(right))
    {
        return Ok(true);
    }
    compare(left, right, typing).map(|order| order == std::cmp::Ordering::Equal)
}

fn compare(
    left: &Value,
    right: &Value,
    typing: Typing,
) -> Result<std::cmp::Ordering, Incomparability> {
    match typing {
        Typing::Integer => Ok(as_integer(left)?.cmp(&as_integer(right)?)),
        Typing::String => Ok(as_text(left).cmp(&as_text(right))),
        Typing::Automatic => match (as_number(left), as_number(right)) {
            (Some(l), Some(r)) => l.partial_cmp(&r).ok_or(Incomparability::UnorderedNumbers),
            _ => Ok(as_text(left).cmp(&as_text(right))),
        },
    }
}

/// Whether `needle` is in `haystack` (a list, an object's keys, or a string).
fn contains(haystack: &Value, needle: &Value, typing: Typing) -> bool {
    match haystack {
        Value::Array(items) => items
            .iter()
            .any(|item| equal(needle, item, typing).unwrap_or(false)),
        Value::Object(entries) => entries.contains_key(&as_text(needle)),
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(list @ Value::Array(_)) => contains(&list, needle, typing),
            _ => text.contains(&as_text(needle)),
        },
        _ => false,
    }
}

fn in_range(value: &Value, bounds: &Value, typing: Typing) -> Result<bool, OperatorError> {
    let bad_range = || OperatorError::BadRange(bounds.to_string());
    let pair = match bounds {
        Value::Array(pair) => pair.clone(),
        Value::String(text) => match serde_json::from_str(text) {
            Ok(Value::Array(pair)) => pair,
            _ => return Err(bad_range()),
        },
        _ => return Err(bad_range()),
    };
    let [low, high] = pair.as_slice() else {
        return Err(bad_range());
    };
    let typing = if typing == Typing::String {
        Typing::String
    } else {
        Typing::Automatic
    };
    let order = |a: &Value, b: &Value| {
        compare(a, b, typing).map_err(|reason| incomparable(value, "range", bounds, reason))
    };
    Ok(order(low, value)?.is_le() && order(value, high)?.is_le())
}

/// The items a foreach iterates: a list's elements, an object's keys, nothing for null.
pub fn foreach_items(value: &Value) -> Result<Vec<Value>, OperatorError> {
    match value {
        Value::Array(items) => Ok(items.clone()),
        Value::Object(entries) => Ok(entries
            .keys()
            .map(|key| Value::String(key.clone()))
            .collect()),
        Value::Null => Ok(Vec::new()),
        other => Err(OperatorError::NotIterable(other.to_string())),
    }
}

/// Applies one store modification; a dotted `key` addresses a nested path.
pub fn apply_modification(
    store: &mut Value,
    kind: &str,
    key: &str,
    value: Value,
) -> Result<(), OperatorError> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|part| part.is_empty()) {
        return Err(OperatorError::BadKey(key.to_owned()));
    }
    let (last, parents) = parts
        .split_last()
        .ok_or_else(|| OperatorError::BadKey(key.to_owned()))?;
    match kind.trim() {
        "set" => {
            parent_object(store, key, parents)?.insert((*last).to_owned(), value);
        }
        "unset" => {
            if let Some(parent) = existing_parent(store, parents) {
                parent.shift_remove(*last);
            }
        }
        "append" => list_at(parent_object(store, key, parents)?, key, last)?.push(value),
        "remove" => {
            if let Some(parent) = existing_parent(store, parents) {
                let list = list_at(parent, key, last)?;
                if let Some(position) = list.iter().position(|item| *item == value) {
                    list.remove(position);
                }
            }
        }
        other => return Err(OperatorError::UnknownModification(other.to_owned())),
    }
    Ok(())
}

/// The object holding the last part of a key, creating missing objects.
fn parent_object<'a>(
    store: &'a mut Value,
    key: &str,
    parents: &[&str],
) -> Result<&'a mut Map<String, Value>, OperatorError> {
    if store.is_null() {
        *store = Value::Object(Map::new());
    }
    let mut current = store;
    let mut walked = Vec::with_capacity(parents.len());
    for part in parents {
        let found = describe(current);
        let Value::Object(entries) = current else {
            return Err(not_an_object(key, &walked, found));
        };
        walked.push(*part);
        current = entries
            .entry((*part).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if current.is_null() {
            *current = Value::Object(Map::new());
        }
    }
    let found = describe(current);
    match current {
        Value::Object(entries) => Ok(entries),
        _ => Err(not_an_object(key, &walked, found)),
    }
}

/// The object holding the last part of a key, if the path exists.
fn existing_parent<'a>(
    store: &'a mut Value,
    parents: &[&str],
) -> Option<&'a mut Map<String, Value>> {
    let mut current = store;
    for part in parents {
        current = current.as_object_mut()?.get_mut(*part)?;
    }
    current.as_object_mut()
}

/// The list under `last`, created when absent (or null).
fn list_at<'a>(
    parent: &'a mut Map<String, Value>,
    key: &str,
    last: &str,
) -> Result<&'a mut Vec<Value>, OperatorError> {
    let slot = parent.entry(last.to_owned()).or_insert(Value::Null);
    if slot.is_null() {
        *slot = Value::Array(Vec::new());
    }
    let found = describe(slot);
    slot.as_array_mut().ok_or_else(|| OperatorError::NotAList {
        key: key.to_owned(),
        found,
    })
}

fn not_an_object(key: &str, walked: &[&str], found: String) -> OperatorError {
    OperatorError::NotAnObject {
        key: key.to_owned(),
        part: if walked.is_empty() {
            "the store".to_owned()
        } else {
            walked.join(".")
        },
        found,
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(_) => "a boolean".to_owned(),
        Value::Number(_) => "a number".to_owned(),
        Value::String(_) => "a string".to_owned(),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}
