//! Conversion between JSON values and template values.
//!
//! JSON objects become [`JsonObject`]s rather than plain template maps: their
//! keys are always strings, and an integer subscript must find the key with
//! the same digits. The template parser turns `node.0` into the subscript
//! `node[0]` (an integer), so with plain maps `node.0` would look up the
//! integer key 0 and miss the node whose id is `"0"`. Handling the lookup in
//! the object itself covers every spelling (`node.0`, `node[0]`, `node['0']`,
//! computed subscripts) at any depth, without rewriting template text.

use std::sync::Arc;

use indexmap::IndexMap;
use minijinja::value::{
    Enumerator, Object, ObjectExt, ObjectRepr, Value as TemplateValue, ValueKind,
};
use minijinja::{Error, ErrorKind};
use serde_json::{Map, Number, Value};

/// A JSON object seen from templates: string keys, file order, integer
/// subscripts matched against their decimal spelling.
#[derive(Debug)]
pub(crate) struct JsonObject(IndexMap<String, TemplateValue>);

impl JsonObject {
    pub(crate) fn new(entries: IndexMap<String, TemplateValue>) -> JsonObject {
        JsonObject(entries)
    }
}

impl Object for JsonObject {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &TemplateValue) -> Option<TemplateValue> {
        match key.as_str() {
            Some(name) => self.0.get(name).cloned(),
            None if key.is_integer() => self.0.get(&key.to_string()).cloned(),
            None => None,
        }
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<TemplateValue> {
        self.0.get(key).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        self.mapped_enumerator(|this| {
            Box::new(this.0.keys().map(|key| TemplateValue::from(key.as_str())))
        })
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.0.len())
    }
}

/// JSON → template value.
pub(crate) fn to_template_value(value: &Value) -> TemplateValue {
    match value {
        Value::Null => TemplateValue::from(()),
        Value::Bool(flag) => TemplateValue::from(*flag),
        Value::Number(number) => number_to_template_value(number),
        Value::String(text) => TemplateValue::from(text.as_str()),
        Value::Array(items) => {
            TemplateValue::from(items.iter().map(to_template_value).collect::<Vec<_>>())
        }
        Value::Object(entries) => object_to_template_value(entries),
    }
}

pub(crate) fn object_to_template_value(entries: &Map<String, Value>) -> TemplateValue {
    let converted = entries
        .iter()
        .map(|(key, value)| (key.clone(), to_template_value(value)))
        .collect();
    TemplateValue::from_object(JsonObject::new(converted))
}

fn number_to_template_value(number: &Number) -> TemplateValue {
    if let Some(int) = number.as_i64() {
        TemplateValue::from(int)
    } else if let Some(unsigned) = number.as_u64() {
        TemplateValue::from(unsigned)
    } else {
        TemplateValue::from(number.as_f64().unwrap_or(f64::NAN))
    }
}

/// The largest value (about, in bytes of JSON) a template value is turned into. Template
/// values can be lazy — a list repeated a hundred million times costs nothing until it is
/// read — so the conversion counts what it builds and stops past this.
pub(crate) const MAX_CONVERTED_BYTES: usize = 16 * 1024 * 1024;

/// Template value → JSON. Undefined and none become `null`; values with no
/// JSON form (functions, macros) become their text. Fails for a value larger than
/// [`MAX_CONVERTED_BYTES`].
pub(crate) fn to_json(value: &TemplateValue) -> Result<Value, Error> {
    let mut left = MAX_CONVERTED_BYTES;
    convert(value, &mut left)
}

/// Takes `cost` from the budget `left`, or fails once it is spent.
fn charge(left: &mut usize, cost: usize) -> Result<(), Error> {
    *left = left.checked_sub(cost).ok_or_else(|| {
        Error::new(
            ErrorKind::OutOfFuel,
            format!("the value is larger than {MAX_CONVERTED_BYTES} bytes"),
        )
    })?;
    Ok(())
}

fn convert(value: &TemplateValue, left: &mut usize) -> Result<Value, Error> {
    Ok(match value.kind() {
        ValueKind::Undefined | ValueKind::None => {
            charge(left, 4)?;
            Value::Null
        }
        ValueKind::Bool => {
            charge(left, 5)?;
            Value::Bool(value.is_true())
        }
        ValueKind::Number => {
            charge(left, 8)?;
            number_to_json(value)
        }
        ValueKind::String => {
            let text = value.as_str().unwrap_or_default();
            charge(left, text.len() + 2)?;
            Value::String(text.to_owned())
        }
        ValueKind::Bytes => {
            let bytes = value.as_bytes().unwrap_or_default();
            charge(left, bytes.len() + 2)?;
            Value::String(String::from_utf8_lossy(bytes).into_owned())
        }
        ValueKind::Seq | ValueKind::Iterable => match value.try_iter() {
            Ok(items) => {
                let mut converted = Vec::new();
                for item in items {
                    charge(left, 1)?;
                    converted.push(convert(&item, left)?);
                }
                Value::Array(converted)
            }
            Err(_) => text_of(value, left)?,
        },
        ValueKind::Map => map_to_json(value, left)?,
        _ => text_of(value, left)?,
    })
}

/// A value's text, within the budget.
fn text_of(value: &TemplateValue, left: &mut usize) -> Result<Value, Error> {
    let text = value.to_string();
    charge(left, text.len() + 2)?;
    Ok(Value::String(text))
}

fn number_to_json(value: &TemplateValue) -> Value {
    if let Some(int) = value.as_i64() {
        return Value::from(int);
    }
    if let Ok(unsigned) = u64::try_from(value.clone()) {
        return Value::from(unsigned);
    }
    f64::try_from(value.clone())
        .ok()
        .and_then(Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

fn map_to_json(value: &TemplateValue, left: &mut usize) -> Result<Value, Error> {
    let Ok(keys) = value.try_iter() else {
        return text_of(value, left);
    };
    let mut entries = Map::new();
    for key in keys {
        let item = value.get_item(&key).unwrap_or_default();
        let name = match key.as_str() {
            Some(text) => text.to_owned(),
            None => key.to_string(),
        };
        charge(left, name.len() + 4)?;
        entries.insert(name, convert(&item, left)?);
    }
    Ok(Value::Object(entries))
}
