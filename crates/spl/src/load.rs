//! Loading a playbook from JSON text.
//!
//! Hard errors are few: malformed JSON (reported with line and column), a
//! document that is not an object, a missing `name` or `nodes`. Everything else
//! loads, and fields of the wrong shape become [`ShapeProblem`]s that
//! validation reports together with the other problems of the file.

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::model::{
    Case, Modification, Node, NodeKind, Operator, Playbook, ShapeProblem, index_path, key_path,
    node_path,
};

/// Why a playbook could not be loaded at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("{origin}:{line}:{column}: {message}")]
    Syntax {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{origin}: {message}")]
    Structure { origin: String, message: String },
}

/// Parses an SPL playbook; `origin` (usually the file name) prefixes messages.
pub fn parse_playbook(source: &str, origin: &str) -> Result<Playbook, LoadError> {
    let document: Value = serde_json::from_str(source).map_err(|err| LoadError::Syntax {
        origin: origin.to_owned(),
        line: err.line(),
        column: err.column(),
        message: syntax_message(&err),
    })?;
    let structure_error = |message: &str| LoadError::Structure {
        origin: origin.to_owned(),
        message: message.to_owned(),
    };
    let Value::Object(document) = document else {
        return Err(structure_error(
            "a playbook is a JSON object with `name` and `nodes`",
        ));
    };
    match document.get("name") {
        Some(Value::String(_)) => {}
        Some(_) => return Err(structure_error("`name` must be a string")),
        None => return Err(structure_error("missing `name` (the playbook's name)")),
    }
    let raw_nodes = match document.get("nodes") {
        Some(Value::Object(nodes)) => nodes,
        Some(_) => return Err(structure_error("`nodes` must be an object of id → node")),
        None => return Err(structure_error("missing `nodes` (the object of id → node)")),
    };
    let mut problems = Vec::new();
    let mut nodes = IndexMap::new();
    for (id, raw) in raw_nodes {
        let mut reader = NodeReader {
            id,
            problems: &mut problems,
        };
        if let Some(node) = reader.node(raw) {
            nodes.insert(id.clone(), node);
        }
    }
    Ok(Playbook::new(document, nodes, problems))
}

/// serde_json's message without its trailing " at line L column C".
fn syntax_message(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// Reads one node leniently, recording fields of the wrong shape.
struct NodeReader<'a> {
    id: &'a str,
    problems: &'a mut Vec<ShapeProblem>,
}

impl NodeReader<'_> {
    fn node(&mut self, raw: &Value) -> Option<Node> {
        let path = node_path(self.id);
        let Value::Object(fields) = raw else {
            self.problem(path, "a node must be a JSON object");
            return None;
        };
        if !self.id.chars().all(|c| c.is_ascii_digit()) || self.id.is_empty() {
            self.problem(path.clone(), "node ids are strings of digits");
        }
        let name = self.string(fields, &path, "name").unwrap_or_default();
        let kind = self.kind(fields, &path);
        let outputs = self.outputs(fields, &path);
        let module_configuration = self.optional_string(fields, &path, "module_configuration");
        Some(Node {
            id: self.id.to_owned(),
            name,
            kind,
            outputs,
            module_configuration,
            raw: fields.clone(),
        })
    }

    fn kind(&mut self, fields: &Map<String, Value>, path: &str) -> NodeKind {
        let node_type = self.string(fields, path, "type");
        match node_type.as_deref() {
            Some("trigger") => NodeKind::Trigger {
                module_uuid: self.string(fields, path, "module_uuid").unwrap_or_default(),
                trigger_uuid: self
                    .string(fields, path, "trigger_uuid")
                    .unwrap_or_default(),
                arguments: self.arguments(fields, path),
            },
            Some("action") => NodeKind::Action {
                module_uuid: self.string(fields, path, "module_uuid").unwrap_or_default(),
                action_uuid: self.string(fields, path, "action_uuid").unwrap_or_default(),
                arguments: self.arguments(fields, path),
            },
            Some("operator") => NodeKind::Operator(self.operator(fields, path)),
            _ => NodeKind::Unknown { node_type },
        }
    }

    fn operator(&mut self, fields: &Map<String, Value>, path: &str) -> Operator {
        let subtype = self.string(fields, path, "subtype");
        match subtype.as_deref() {
            Some("condition") => Operator::Condition {
                cases: self.cases(fields, path),
            },
            Some("foreach") => Operator::Foreach {
                items: fields.get("items").cloned().unwrap_or(Value::Null),
                loop_start: self.loop_start(fields, path),
            },
            Some("store") => Operator::Store {
                modifications: self.modifications(fields, path),
            },
            _ => Operator::Unknown { subtype },
        }
    }

    fn arguments(&mut self, fields: &Map<String, Value>, path: &str) -> Value {
        match fields.get("arguments") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(arguments @ Value::Object(_)) => arguments.clone(),
            Some(other) => {
                self.problem(key_path(path, "arguments"), "`arguments` must be an object");
                other.clone()
            }
        }
    }

    fn outputs(
        &mut self,
        fields: &Map<String, Value>,
        path: &str,
    ) -> IndexMap<String, Vec<String>> {
        let path = key_path(path, "outputs");
        let mut outputs = IndexMap::new();
        let entries = match fields.get("outputs") {
            None | Some(Value::Null) => return outputs,
            Some(Value::Object(entries)) => entries,
            Some(_) => {
                self.problem(
                    path,
                    "`outputs` must be an object of output name → node ids",
                );
                return outputs;
            }
        };
        for (name, targets) in entries {
            let targets_path = key_path(&path, name);
            outputs.insert(name.clone(), self.id_list(targets, &targets_path));
        }
        outputs
    }

    fn loop_start(&mut self, fields: &Map<String, Value>, path: &str) -> Option<String> {
        let loop_path = key_path(path, "loop");
        let Some(raw) = fields.get("loop") else {
            self.problem(
                loop_path,
                "a foreach needs `loop`, the id of its first body node",
            );
            return None;
        };
        let ids = self.id_list(raw, &loop_path);
        if ids.len() > 1 {
            self.problem(loop_path, "a foreach body starts at a single node");
        }
        ids.into_iter().next()
    }

    /// A list of node ids; numbers are accepted and a single id stands for a list of one.
    fn id_list(&mut self, raw: &Value, path: &str) -> Vec<String> {
        match raw {
            Value::Null => Vec::new(),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .filter_map(|(index, item)| self.node_id(item, &index_path(path, index)))
                .collect(),
            single => self.node_id(single, path).into_iter().collect(),
        }
    }

    fn node_id(&mut self, raw: &Value, path: &str) -> Option<String> {
        match raw {
            Value::String(id) => Some(id.clone()),
            Value::Number(number) => Some(number.to_string()),
            _ => {
                self.problem(path.to_owned(), "a node id must be a string");
                None
            }
        }
    }

    fn cases(&mut self, fields: &Map<String, Value>, path: &str) -> Vec<Case> {
        let path = key_path(path, "cases");
        self.objects(fields, &path, "cases")
            .into_iter()
            .map(|(case_path, case)| Case {
                name: self.string(&case, &case_path, "name").unwrap_or_default(),
                left: case.get("left").cloned().unwrap_or(Value::Null),
                comparison: self
                    .string(&case, &case_path, "comparison")
                    .unwrap_or_default(),
                right: case.get("right").cloned().unwrap_or(Value::Null),
                value_type: self.optional_string(&case, &case_path, "value_type"),
                description: self.optional_string(&case, &case_path, "description"),
            })
            .collect()
    }

    fn modifications(&mut self, fields: &Map<String, Value>, path: &str) -> Vec<Modification> {
        let path = key_path(path, "modifications");
        self.objects(fields, &path, "modifications")
            .into_iter()
            .map(|(item_path, item)| Modification {
                key: self.string(&item, &item_path, "key").unwrap_or_default(),
                kind: self.string(&item, &item_path, "type").unwrap_or_default(),
                value: item.get("value").cloned().unwrap_or(Value::Null),
            })
            .collect()
    }

    /// The objects of the list `key`, each with its path.
    fn objects(
        &mut self,
        fields: &Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Vec<(String, Map<String, Value>)> {
        let items = match fields.get(key) {
            Some(Value::Array(items)) => items,
            _ => {
                self.problem(path.to_owned(), &format!("`{key}` must be a list"));
                return Vec::new();
            }
        };
        let mut objects = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let item_path = index_path(path, index);
            match item {
                Value::Object(object) => objects.push((item_path, object.clone())),
                _ => self.problem(item_path, "must be an object"),
            }
        }
        objects
    }

    /// A required string field.
    fn string(&mut self, fields: &Map<String, Value>, path: &str, key: &str) -> Option<String> {
        if !fields.contains_key(key) {
            self.problem(key_path(path, key), &format!("missing `{key}`"));
            return None;
        }
        self.optional_string(fields, path, key)
    }

    /// An optional string field (`null` counts as absent).
    fn optional_string(
        &mut self,
        fields: &Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<String> {
        match fields.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(_) => {
                self.problem(key_path(path, key), &format!("`{key}` must be a string"));
                None
            }
        }
    }

    fn problem(&mut self, path: String, message: &str) {
        self.problems.push(ShapeProblem {
            node_id: Some(self.id.to_owned()),
            path,
            message: message.to_owned(),
        });
    }
}
