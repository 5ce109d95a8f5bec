//! The playbook model: typed access to an SPL document that keeps every key.
//!
//! A [`Playbook`] holds the document exactly as it was read (key order and
//! unknown keys included) next to a typed view of its nodes. Export writes the
//! document back, so load → export → load → export is the identity. The typed
//! view is lenient: a field of the wrong shape is recorded as a
//! [`ShapeProblem`] that validation reports, instead of failing the load.

use std::collections::BTreeSet;

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Map, Value};

/// A loaded SPL playbook.
#[derive(Debug, Clone, PartialEq)]
pub struct Playbook {
    document: Map<String, Value>,
    nodes: IndexMap<String, Node>,
    shape_problems: Vec<ShapeProblem>,
}

/// One node of a playbook.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub id: String,
    pub name: String,
    pub kind: NodeKind,
    /// Output name → ids of the nodes it activates, in file order.
    pub outputs: IndexMap<String, Vec<String>>,
    /// alertsync-only key naming the account (module configuration) to use.
    pub module_configuration: Option<String>,
    /// The node exactly as written in the file.
    pub raw: Map<String, Value>,
}

/// What a node does.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Trigger {
        module_uuid: String,
        trigger_uuid: String,
        arguments: Value,
    },
    Action {
        module_uuid: String,
        action_uuid: String,
        arguments: Value,
    },
    Operator(Operator),
    /// A `type` alertsync does not know (or none at all); validation reports it.
    Unknown {
        node_type: Option<String>,
    },
}

/// The built-in operators.
#[derive(Debug, Clone, PartialEq)]
pub enum Operator {
    Condition {
        cases: Vec<Case>,
    },
    Foreach {
        /// Template (or literal) giving the items to iterate.
        items: Value,
        /// Id of the first node of the loop body.
        loop_start: Option<String>,
    },
    Store {
        modifications: Vec<Modification>,
    },
    /// A `subtype` alertsync does not know (or none at all); validation reports it.
    Unknown {
        subtype: Option<String>,
    },
}

/// One case of a condition: `left <comparison> right`.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub name: String,
    pub left: Value,
    pub comparison: String,
    pub right: Value,
    pub value_type: Option<String>,
    pub description: Option<String>,
}

/// One modification of a store operator.
#[derive(Debug, Clone, PartialEq)]
pub struct Modification {
    pub key: String,
    /// `set`, `unset`, `append` or `remove`.
    pub kind: String,
    pub value: Value,
}

/// A field whose shape does not match the format, found while loading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShapeProblem {
    pub node_id: Option<String>,
    /// JSON path of the field, like `$.nodes['3'].outputs`.
    pub path: String,
    pub message: String,
}

impl Playbook {
    pub(crate) fn new(
        document: Map<String, Value>,
        nodes: IndexMap<String, Node>,
        shape_problems: Vec<ShapeProblem>,
    ) -> Playbook {
        Playbook {
            document,
            nodes,
            shape_problems,
        }
    }

    pub fn name(&self) -> &str {
        self.document_str("name").unwrap_or_default()
    }

    pub fn uuid(&self) -> Option<&str> {
        self.document_str("uuid")
    }

    pub fn description(&self) -> Option<&str> {
        self.document_str("description")
    }

    /// Nodes by id, in file order.
    pub fn nodes(&self) -> &IndexMap<String, Node> {
        &self.nodes
    }

    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.get(id)
    }

    /// Trigger nodes, in file order.
    pub fn triggers(&self) -> impl Iterator<Item = &Node> {
        self.nodes
            .values()
            .filter(|node| matches!(node.kind, NodeKind::Trigger { .. }))
    }

    /// The nodes a run started at `starts` may reach (the starts included): through outputs
    /// and foreach loop bodies. Ids that name no node are left out.
    pub fn reachable_from<'a>(&'a self, starts: &[&str]) -> BTreeSet<&'a str> {
        let mut reached = BTreeSet::new();
        let mut pending: Vec<&str> = starts.to_vec();
        while let Some(id) = pending.pop() {
            let Some((id, node)) = self.nodes.get_key_value(id) else {
                continue;
            };
            if reached.insert(id.as_str()) {
                pending.extend(node.activates());
            }
        }
        reached
    }

    /// Fields of the wrong shape found while loading (validation reports them).
    pub fn shape_problems(&self) -> &[ShapeProblem] {
        &self.shape_problems
    }

    /// The whole document, every key included, in file order.
    pub fn document(&self) -> &Map<String, Value> {
        &self.document
    }

    /// Exports the playbook as pretty JSON: the document as loaded.
    pub fn to_json_string_pretty(&self) -> String {
        // Serialising a map of JSON values cannot fail.
        serde_json::to_string_pretty(&self.document).unwrap_or_default()
    }

    fn document_str(&self, key: &str) -> Option<&str> {
        self.document.get(key).and_then(Value::as_str)
    }
}

impl Node {
    /// The action's or trigger's arguments (`null` for operators).
    pub fn arguments(&self) -> &Value {
        match &self.kind {
            NodeKind::Trigger { arguments, .. } | NodeKind::Action { arguments, .. } => arguments,
            _ => &Value::Null,
        }
    }

    pub fn module_uuid(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Trigger { module_uuid, .. } | NodeKind::Action { module_uuid, .. } => {
                Some(module_uuid)
            }
            _ => None,
        }
    }

    /// Ids this node activates through any of its outputs.
    pub fn successors(&self) -> impl Iterator<Item = &str> {
        self.outputs.values().flatten().map(String::as_str)
    }

    /// Ids this node may run next: its outputs' targets and, for a foreach, its loop body.
    pub fn activates(&self) -> impl Iterator<Item = &str> {
        let loop_start = match &self.kind {
            NodeKind::Operator(Operator::Foreach { loop_start, .. }) => loop_start.as_deref(),
            _ => None,
        };
        self.successors().chain(loop_start)
    }

    /// JSON path of this node in the document.
    pub fn path(&self) -> String {
        node_path(&self.id)
    }
}

/// JSON path of node `id`: `$.nodes['id']`.
pub(crate) fn node_path(id: &str) -> String {
    key_path("$.nodes", id)
}

/// JSON path of `key` under `parent`: `.key` for plain names, `['key']` otherwise.
pub(crate) fn key_path(parent: &str, key: &str) -> String {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        format!("{parent}.{key}")
    } else {
        format!(
            "{parent}['{}']",
            key.replace('\\', "\\\\").replace('\'', "\\'")
        )
    }
}

/// JSON path of element `index` under `parent`.
pub(crate) fn index_path(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}
