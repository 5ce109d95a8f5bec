//! Validation of a playbook before it may be enabled.
//!
//! [`validate`] reports every problem at once, each with the node id, node
//! name and JSON path. What alertsync can run is asked of a [`Catalog`] (the
//! module registry lives elsewhere). A well-formed node whose module, action
//! or trigger alertsync does not implement is never an error in the file: it
//! is listed in [`Report::needs_modules`], with the nodes that need it, so
//! that running the playbook is refused only when one of those nodes can be
//! reached ([`Report::needs_among`]).

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::model::{Node, NodeKind, Operator, Playbook, index_path, key_path};
use crate::modules::sekoia_module_name;
use crate::template::{TemplateEngine, references};

/// What validation needs to know about the modules alertsync implements.
pub trait Catalog {
    /// Name of the implemented module with this uuid; `None` when alertsync
    /// does not implement it.
    fn module_name(&self, module_uuid: &str) -> Option<String>;
    fn has_action(&self, module_uuid: &str, action_uuid: &str) -> bool;
    /// Named outputs the action may activate; empty when it only has `default`.
    fn action_outputs(&self, module_uuid: &str, action_uuid: &str) -> Vec<String>;
    fn has_trigger(&self, module_uuid: &str, trigger_uuid: &str) -> bool;
    /// Checks an action's literal arguments against its argument schema.
    ///
    /// `literal_arguments` are the node's arguments with templated leaves
    /// removed; `templated_paths` lists those leaves (paths relative to the
    /// arguments, like `.uuid` or `['date[updated_at]']`), so that a `required`
    /// rule does not flag them. Returns (path relative to the arguments, in
    /// the same notation or as a JSON pointer; empty for the arguments
    /// themselves, message) for each violation.
    fn check_arguments(
        &self,
        module_uuid: &str,
        action_uuid: &str,
        literal_arguments: &Value,
        templated_paths: &[String],
    ) -> Vec<(String, String)>;
    /// Resolves the account (module configuration) an action node uses;
    /// `Err` says why when none or several accounts match.
    fn resolve_account(&self, node: &Node) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

/// Everything validation found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Problems that prevent enabling the playbook.
    pub errors: Vec<Problem>,
    /// Problems in the file that do not prevent running it.
    pub warnings: Vec<Problem>,
    /// Modules, actions and triggers the playbook uses that alertsync does not implement.
    pub needs_modules: Vec<NeededModule>,
}

impl Report {
    /// Whether the playbook may be enabled as far as the file is concerned.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// What the given nodes need that alertsync does not implement (e.g. the nodes a run
    /// can reach: see [`Playbook::reachable_from`]).
    pub fn needs_among(&self, nodes: &BTreeSet<&str>) -> Vec<&NeededModule> {
        self.needs_modules
            .iter()
            .filter(|needed| needed.nodes.iter().any(|id| nodes.contains(id.as_str())))
            .collect()
    }
}

/// One problem, located in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub node_id: Option<String>,
    pub node_name: Option<String>,
    /// JSON path, like `$.nodes['3'].arguments.url`.
    pub path: String,
    pub message: String,
}

/// A module, or an action or trigger of a module, that the playbook uses and alertsync does
/// not implement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NeededModule {
    /// What is missing: `module`, `action` or `trigger`.
    pub kind: &'static str,
    /// Its name when known: the module's name, or `<module> “<node name>”` for an action or
    /// trigger.
    pub name: Option<String>,
    pub uuid: String,
    /// The ids of the nodes that use it, in the file's order.
    pub nodes: Vec<String>,
}

impl std::fmt::Display for NeededModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.name.as_deref().unwrap_or("(unknown to alertsync)");
        let plural = if self.nodes.len() == 1 { "" } else { "s" };
        write!(
            f,
            "needs {} {name} ({}), which alertsync does not implement (node{plural} {})",
            self.kind,
            self.uuid,
            self.nodes.join(", ")
        )
    }
}

/// Validates `playbook` against what `catalog` implements.
pub fn validate(playbook: &Playbook, catalog: &dyn Catalog) -> Report {
    let mut validation = Validation {
        playbook,
        catalog,
        templates: TemplateEngine::new(),
        report: Report::default(),
    };
    validation.run();
    validation.report
}

struct Validation<'a> {
    playbook: &'a Playbook,
    catalog: &'a dyn Catalog,
    templates: TemplateEngine,
    report: Report,
}

impl Validation<'_> {
    fn run(&mut self) {
        for problem in self.playbook.shape_problems() {
            let node = problem
                .node_id
                .as_deref()
                .and_then(|id| self.playbook.node(id));
            self.report.errors.push(problem_at(
                node,
                problem.path.clone(),
                problem.message.clone(),
            ));
        }
        if self.playbook.triggers().next().is_none() {
            self.error(
                None,
                "$.nodes".to_owned(),
                "the playbook has no trigger".to_owned(),
            );
        }
        let ancestors = ancestors(self.playbook);
        for node in self.playbook.nodes().values() {
            self.check_kind(node);
            self.check_targets(node);
            self.check_templates(node, ancestors.get(node.id.as_str()));
        }
        self.check_cycles();
    }

    fn error(&mut self, node: Option<&Node>, path: String, message: String) {
        self.report.errors.push(problem_at(node, path, message));
    }

    fn warning(&mut self, node: Option<&Node>, path: String, message: String) {
        self.report.warnings.push(problem_at(node, path, message));
    }

    fn check_kind(&mut self, node: &Node) {
        match &node.kind {
            NodeKind::Trigger {
                module_uuid,
                trigger_uuid,
                ..
            } => {
                if self.check_module(node, module_uuid)
                    && !self.catalog.has_trigger(module_uuid, trigger_uuid)
                {
                    self.unimplemented(node, "trigger", module_uuid, trigger_uuid);
                }
            }
            NodeKind::Action {
                module_uuid,
                action_uuid,
                arguments,
            } => {
                if self.check_module(node, module_uuid) {
                    self.check_action(node, module_uuid, action_uuid, arguments);
                }
            }
            NodeKind::Operator(operator) => self.check_operator(node, operator),
            NodeKind::Unknown {
                node_type: Some(node_type),
            } => {
                let message = format!(
                    "unknown node type `{node_type}` (expected trigger, action or operator)"
                );
                self.error(Some(node), key_path(&node.path(), "type"), message);
            }
            // A missing `type` is already a shape problem.
            NodeKind::Unknown { node_type: None } => {}
        }
    }

    /// Whether alertsync implements the module; otherwise records it as needed.
    fn check_module(&mut self, node: &Node, module_uuid: &str) -> bool {
        if module_uuid.is_empty() {
            return false;
        }
        if self.catalog.module_name(module_uuid).is_some() {
            return true;
        }
        let name = sekoia_module_name(module_uuid).map(str::to_owned);
        self.need("module", name, module_uuid, node);
        false
    }

    fn need(&mut self, kind: &'static str, name: Option<String>, uuid: &str, node: &Node) {
        let position = self
            .report
            .needs_modules
            .iter()
            .position(|needed| needed.kind == kind && needed.uuid == uuid);
        let needed = match position {
            Some(index) => &mut self.report.needs_modules[index],
            None => {
                self.report.needs_modules.push(NeededModule {
                    kind,
                    name,
                    uuid: uuid.to_owned(),
                    nodes: Vec::new(),
                });
                let last = self.report.needs_modules.len() - 1;
                &mut self.report.needs_modules[last]
            }
        };
        if !needed.nodes.contains(&node.id) {
            needed.nodes.push(node.id.clone());
        }
    }

    /// An action or trigger uuid the module does not have in alertsync: needed, like a
    /// missing module.
    fn unimplemented(&mut self, node: &Node, kind: &'static str, module_uuid: &str, uuid: &str) {
        let module = self
            .catalog
            .module_name(module_uuid)
            .or_else(|| sekoia_module_name(module_uuid).map(str::to_owned))
            .unwrap_or_else(|| module_uuid.to_owned());
        let name = format!("{module} “{}”", node.name);
        self.need(kind, Some(name), uuid, node);
    }

    fn check_action(
        &mut self,
        node: &Node,
        module_uuid: &str,
        action_uuid: &str,
        arguments: &Value,
    ) {
        if !self.catalog.has_action(module_uuid, action_uuid) {
            self.unimplemented(node, "action", module_uuid, action_uuid);
            return;
        }
        self.check_action_outputs(node, module_uuid, action_uuid);
        let mut templated = Vec::new();
        let literal = literal_part(arguments, "", &mut templated).unwrap_or(Value::Null);
        let arguments_path = key_path(&node.path(), "arguments");
        for (path, message) in
            self.catalog
                .check_arguments(module_uuid, action_uuid, &literal, &templated)
        {
            let path = format!("{arguments_path}{}", relative_path(&path));
            self.error(Some(node), path, message);
        }
        if let Err(why) = self.catalog.resolve_account(node) {
            self.error(Some(node), node.path(), why.to_string());
        }
    }

    fn check_action_outputs(&mut self, node: &Node, module_uuid: &str, action_uuid: &str) {
        let declared = self.catalog.action_outputs(module_uuid, action_uuid);
        let outputs_path = key_path(&node.path(), "outputs");
        for name in node.outputs.keys() {
            let known = if declared.is_empty() {
                name == "default"
            } else {
                declared.contains(name)
            };
            if !known {
                let message = format!("the action never activates output `{name}`");
                self.warning(Some(node), key_path(&outputs_path, name), message);
            }
        }
    }

    fn check_operator(&mut self, node: &Node, operator: &Operator) {
        match operator {
            Operator::Condition { cases } => {
                let outputs_path = key_path(&node.path(), "outputs");
                let case_names: Vec<&str> = cases.iter().map(|case| case.name.as_str()).collect();
                for (index, name) in case_names.iter().enumerate() {
                    if !node.outputs.contains_key(*name) {
                        let path =
                            key_path(&index_path(&key_path(&node.path(), "cases"), index), "name");
                        let message = format!(
                            "case `{name}` has no output of the same name, so it leads nowhere"
                        );
                        self.warning(Some(node), path, message);
                    }
                }
                for name in node.outputs.keys() {
                    if name != "else" && !case_names.contains(&name.as_str()) {
                        let message =
                            format!("output `{name}` matches no case name, so it is never taken");
                        self.warning(Some(node), key_path(&outputs_path, name), message);
                    }
                }
            }
            Operator::Foreach { .. } | Operator::Store { .. } => {}
            Operator::Unknown {
                subtype: Some(subtype),
            } => {
                let message = format!(
                    "unknown operator subtype `{subtype}` (expected condition, foreach or store)"
                );
                self.error(Some(node), key_path(&node.path(), "subtype"), message);
            }
            Operator::Unknown { subtype: None } => {}
        }
    }

    fn check_targets(&mut self, node: &Node) {
        let outputs_path = key_path(&node.path(), "outputs");
        for (name, targets) in &node.outputs {
            for (index, target) in targets.iter().enumerate() {
                if self.playbook.node(target).is_none() {
                    let path = index_path(&key_path(&outputs_path, name), index);
                    let message =
                        format!("output `{name}` leads to node `{target}`, which does not exist");
                    self.error(Some(node), path, message);
                }
            }
        }
        if let NodeKind::Operator(Operator::Foreach {
            loop_start: Some(start),
            ..
        }) = &node.kind
            && self.playbook.node(start).is_none()
        {
            let message = format!("the loop body starts at node `{start}`, which does not exist");
            self.error(Some(node), key_path(&node.path(), "loop"), message);
        }
    }

    fn check_templates(&mut self, node: &Node, ancestors: Option<&HashSet<&str>>) {
        let mut found = Vec::new();
        for (path, value) in template_roots(node) {
            collect_templates(value, path, &mut found);
        }
        for (path, template) in found {
            if let Err(err) = self.templates.check_syntax(template) {
                self.error(
                    Some(node),
                    path.clone(),
                    format!("template syntax error: {err}"),
                );
            }
            for id in references(template) {
                if self.playbook.node(&id).is_none() {
                    let message = format!("`node.{id}` refers to a node that does not exist");
                    self.warning(Some(node), path.clone(), message);
                } else if !ancestors.is_some_and(|set| set.contains(id.as_str())) {
                    let message =
                        format!("`node.{id}` refers to a node that does not run before this one");
                    self.warning(Some(node), path.clone(), message);
                }
            }
        }
    }

    fn check_cycles(&mut self) {
        for cycle in output_cycles(self.playbook) {
            let node = cycle.first().and_then(|id| self.playbook.node(id));
            let path = node.map_or_else(|| "$.nodes".to_owned(), Node::path);
            let message = format!(
                "cycle through outputs: {} (only foreach bodies may repeat)",
                cycle.join(" → ")
            );
            self.error(node, path, message);
        }
    }
}

fn problem_at(node: Option<&Node>, path: String, message: String) -> Problem {
    Problem {
        node_id: node.map(|node| node.id.clone()),
        node_name: node.map(|node| node.name.clone()),
        path,
        message,
    }
}

/// The node fields that hold templates, with their paths.
fn template_roots(node: &Node) -> Vec<(String, &Value)> {
    let base = node.path();
    let mut roots = Vec::new();
    for key in ["arguments", "items"] {
        if let Some(value) = node.raw.get(key) {
            roots.push((key_path(&base, key), value));
        }
    }
    for (list, fields) in [
        ("cases", &["left", "right"][..]),
        ("modifications", &["value"][..]),
    ] {
        let Some(Value::Array(items)) = node.raw.get(list) else {
            continue;
        };
        for (index, item) in items.iter().enumerate() {
            let item_path = index_path(&key_path(&base, list), index);
            for field in fields {
                if let Some(value) = item.get(field) {
                    roots.push((key_path(&item_path, field), value));
                }
            }
        }
    }
    roots
}

/// Every string with template markers under `value`, with its path.
fn collect_templates<'a>(value: &'a Value, path: String, found: &mut Vec<(String, &'a str)>) {
    match value {
        Value::String(text) if is_template(text) => found.push((path, text)),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                collect_templates(item, index_path(&path, index), found);
            }
        }
        Value::Object(entries) => {
            for (key, item) in entries {
                collect_templates(item, key_path(&path, key), found);
            }
        }
        _ => {}
    }
}

fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

/// `value` without its templated leaves (`None` when it is one), recording
/// their paths relative to the root.
fn literal_part(value: &Value, path: &str, templated: &mut Vec<String>) -> Option<Value> {
    match value {
        Value::String(text) if is_template(text) => {
            templated.push(path.to_owned());
            None
        }
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .enumerate()
                .filter_map(|(index, item)| literal_part(item, &index_path(path, index), templated))
                .collect(),
        )),
        Value::Object(entries) => Some(Value::Object(
            entries
                .iter()
                .filter_map(|(key, item)| {
                    literal_part(item, &key_path(path, key), templated)
                        .map(|kept| (key.clone(), kept))
                })
                .collect::<Map<_, _>>(),
        )),
        other => Some(other.clone()),
    }
}

/// A catalog's argument path as a suffix of `$.nodes['N'].arguments`.
fn relative_path(path: &str) -> String {
    let path = path.strip_prefix('$').unwrap_or(path);
    if let Some(pointer) = path.strip_prefix('/') {
        return pointer.split('/').fold(String::new(), |joined, segment| {
            let segment = segment.replace("~1", "/").replace("~0", "~");
            match segment.parse::<usize>() {
                Ok(index) => index_path(&joined, index),
                Err(_) => key_path(&joined, &segment),
            }
        });
    }
    if path.is_empty() || path.starts_with('.') || path.starts_with('[') {
        path.to_owned()
    } else {
        key_path("", path)
    }
}

/// For each node, the nodes that may run before it (through outputs and loop bodies).
fn ancestors(playbook: &Playbook) -> HashMap<&str, HashSet<&str>> {
    let mut predecessors: HashMap<&str, Vec<&str>> = HashMap::new();
    for node in playbook.nodes().values() {
        for target in node.activates() {
            predecessors.entry(target).or_default().push(&node.id);
        }
    }
    playbook
        .nodes()
        .keys()
        .map(|id| {
            let mut seen = HashSet::new();
            let mut pending = predecessors.get(id.as_str()).cloned().unwrap_or_default();
            while let Some(next) = pending.pop() {
                if seen.insert(next) {
                    pending.extend(predecessors.get(next).into_iter().flatten());
                }
            }
            (id.as_str(), seen)
        })
        .collect()
}

/// Cycles through output edges (loop edges excluded), each as a list of ids.
fn output_cycles(playbook: &Playbook) -> Vec<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Unvisited,
        OnPath,
        Done,
    }
    let nodes = playbook.nodes();
    let mut marks: HashMap<&str, Mark> = nodes
        .keys()
        .map(|id| (id.as_str(), Mark::Unvisited))
        .collect();
    let mut cycles = Vec::new();
    for start in nodes.keys() {
        if marks.get(start.as_str()) != Some(&Mark::Unvisited) {
            continue;
        }
        // Depth-first, iteratively: each frame is a node and its successors still to visit.
        let mut path: Vec<(&str, Vec<&str>)> = Vec::new();
        marks.insert(start, Mark::OnPath);
        path.push((start, successors_of(playbook, start)));
        while let Some((current, pending)) = path.last_mut() {
            let current = *current;
            match pending.pop() {
                Some(next) => match marks.get(next).copied() {
                    Some(Mark::Unvisited) => {
                        marks.insert(next, Mark::OnPath);
                        path.push((next, successors_of(playbook, next)));
                    }
                    Some(Mark::OnPath) => {
                        let from = path.iter().position(|(id, _)| *id == next).unwrap_or(0);
                        let mut cycle: Vec<String> = path[from..]
                            .iter()
                            .map(|(id, _)| (*id).to_owned())
                            .collect();
                        cycle.push(next.to_owned());
                        cycles.push(cycle);
                    }
                    _ => {}
                },
                None => {
                    marks.insert(current, Mark::Done);
                    path.pop();
                }
            }
        }
    }
    cycles
}

/// Existing nodes `id` activates through its outputs.
fn successors_of<'a>(playbook: &'a Playbook, id: &str) -> Vec<&'a str> {
    playbook
        .node(id)
        .map(|node| {
            node.successors()
                .filter_map(|target| {
                    playbook
                        .nodes()
                        .get_key_value(target)
                        .map(|(key, _)| key.as_str())
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::relative_path;

    #[test]
    fn catalog_paths_become_suffixes() {
        assert_eq!(relative_path(""), "");
        assert_eq!(relative_path("$.url"), ".url");
        assert_eq!(relative_path("url"), ".url");
        assert_eq!(relative_path("/headers/0"), ".headers[0]");
        assert_eq!(
            relative_path("['date[updated_at]']"),
            "['date[updated_at]']"
        );
    }
}
