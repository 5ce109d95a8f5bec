//! Argument lists of Sekoia.io actions, written as Sekoia.io's manifests declare them: name,
//! JSON type and whether it is required.

use serde_json::{Map, Value, json};

/// The JSON type of an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Str,
    Int,
    Num,
    Bool,
    Object,
    List,
    /// Any JSON value (the manifest gives no type).
    Any,
    StrOrNull,
    IntOrNull,
    BoolOrNull,
    ObjectOrNull,
}

impl Kind {
    /// The schema of a value of this kind.
    fn schema(self) -> Value {
        match self {
            Kind::Str => json!({"type": "string"}),
            Kind::Int => json!({"type": "integer"}),
            Kind::Num => json!({"type": "number"}),
            Kind::Bool => json!({"type": "boolean"}),
            Kind::Object => json!({"type": "object"}),
            Kind::List => json!({"type": "array"}),
            Kind::Any => json!({}),
            Kind::StrOrNull => json!({"type": ["string", "null"]}),
            Kind::IntOrNull => json!({"type": ["integer", "null"]}),
            Kind::BoolOrNull => json!({"type": ["boolean", "null"]}),
            Kind::ObjectOrNull => json!({"type": ["object", "null"]}),
        }
    }
}

/// One argument of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Arg {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
}

/// A required argument.
pub(crate) const fn req(name: &'static str, kind: Kind) -> Arg {
    Arg {
        name,
        kind,
        required: true,
    }
}

/// An optional argument.
pub(crate) const fn opt(name: &'static str, kind: Kind) -> Arg {
    Arg {
        name,
        kind,
        required: false,
    }
}

/// The `properties` and `required` of an arguments schema.
pub(crate) fn properties(arguments: &[Arg]) -> (Value, Vec<&'static str>) {
    let properties: Map<String, Value> = arguments
        .iter()
        .map(|arg| (arg.name.to_owned(), arg.kind.schema()))
        .collect();
    let required = arguments
        .iter()
        .filter(|arg| arg.required)
        .map(|arg| arg.name)
        .collect();
    (Value::Object(properties), required)
}
