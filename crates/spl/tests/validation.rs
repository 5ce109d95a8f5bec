//! Loading errors and validation problems on small hand-written playbooks.

use alertsync_spl::{Catalog, Node, parse_playbook, validate};
use serde_json::{Value, json};

const SEKOIA: &str = "92d8bb47-7c51-445d-81de-ae04edbb6f0a";
const GET_ALERT: &str = "8d189665-5401-4098-8d60-944de9a6199a";
const ALERT_CREATED: &str = "785583cf-4377-43ce-a5fb-f4572eb57456";

/// Implements Sekoia.io's Get Alert (requires `uuid`, `stix` must be a boolean)
/// and the Alert Created trigger; nodes named "no account" have none.
struct TestCatalog;

impl Catalog for TestCatalog {
    fn module_name(&self, module_uuid: &str) -> Option<String> {
        (module_uuid == SEKOIA).then(|| "Sekoia.io".to_owned())
    }
    fn has_action(&self, _: &str, action_uuid: &str) -> bool {
        action_uuid == GET_ALERT
    }
    fn action_outputs(&self, _: &str, _: &str) -> Vec<String> {
        Vec::new()
    }
    fn has_trigger(&self, _: &str, trigger_uuid: &str) -> bool {
        trigger_uuid == ALERT_CREATED
    }
    fn check_arguments(
        &self,
        _: &str,
        _: &str,
        literal: &Value,
        templated: &[String],
    ) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if literal.get("uuid").is_none() && !templated.iter().any(|path| path == ".uuid") {
            problems.push((String::new(), "`uuid` is required".to_owned()));
        }
        if literal.get("stix").is_some_and(|stix| !stix.is_boolean()) {
            problems.push(("/stix".to_owned(), "must be a boolean".to_owned()));
        }
        problems
    }
    fn resolve_account(&self, node: &Node) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if node.name == "no account" {
            Err(format!("no Sekoia.io account for node {}", node.id).into())
        } else {
            Ok(())
        }
    }
}

fn playbook(nodes: Value) -> String {
    json!({"name": "test", "nodes": nodes}).to_string()
}

fn trigger(outputs: Value) -> Value {
    json!({"name": "Alert Created", "type": "trigger", "module_uuid": SEKOIA, "trigger_uuid": ALERT_CREATED, "outputs": outputs})
}

fn get_alert(name: &str, arguments: Value, outputs: Value) -> Value {
    json!({"name": name, "type": "action", "module_uuid": SEKOIA, "action_uuid": GET_ALERT, "arguments": arguments, "outputs": outputs})
}

fn report_of(nodes: Value) -> alertsync_spl::Report {
    let playbook =
        parse_playbook(&playbook(nodes), "test.json").unwrap_or_else(|err| panic!("{err}"));
    validate(&playbook, &TestCatalog)
}

fn messages(problems: &[alertsync_spl::Problem]) -> Vec<String> {
    problems
        .iter()
        .map(|p| format!("{} {}", p.path, p.message))
        .collect()
}

#[test]
fn load_errors_name_the_place() {
    let err = parse_playbook("{\n  \"name\": \"x\",\n  \"nodes\": {,}\n}", "bad.json").err();
    assert!(err.is_some_and(|err| err.to_string().starts_with("bad.json:3:13: ")));
    let err = parse_playbook(r#"{"name": "x"}"#, "x.json").err();
    assert!(err.is_some_and(|err| err.to_string().contains("missing `nodes`")));
    let err = parse_playbook(r#"{"nodes": {}}"#, "x.json").err();
    assert!(err.is_some_and(|err| err.to_string().contains("missing `name`")));
    assert!(parse_playbook("[]", "x.json").is_err());
}

#[test]
fn unknown_keys_survive_export() {
    let text = r#"{"zeta": 1, "name": "x", "nodes": {"5": {"type": "trigger", "name": "t", "extra": {"b": 1, "a": 2},
        "module_uuid": "m", "trigger_uuid": "t", "outputs": {}, "module_configuration": "ilert account"}}, "alpha": [1]}"#;
    let playbook = parse_playbook(text, "x.json").unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(
        playbook
            .node("5")
            .and_then(|n| n.module_configuration.clone())
            .as_deref(),
        Some("ilert account")
    );
    let exported = playbook.to_json_string_pretty();
    let keys: Vec<String> = serde_json::from_str::<serde_json::Map<String, Value>>(&exported)
        .unwrap_or_default()
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys, ["zeta", "name", "nodes", "alpha"]);
    assert!(exported.find("\"b\"") < exported.find("\"a\""));
}

#[test]
fn a_valid_playbook_has_no_problems() {
    let report = report_of(json!({
        "0": trigger(json!({"default": ["2"]})),
        "2": get_alert("Get", json!({"uuid": "{{ node.0.alert_uuid }}", "stix": false}), json!({"default": []})),
    }));
    assert_eq!(report.errors, []);
    assert_eq!(report.warnings, []);
    assert_eq!(report.needs_modules, []);
}

#[test]
fn every_problem_is_reported_at_once() {
    let report = report_of(json!({
        "1": get_alert("Get", json!({"stix": "yes"}), json!({"default": ["9"]})),
        "2": {"name": "Odd", "type": "gizmo", "outputs": {}},
        "3": {"name": "Op", "type": "operator", "subtype": "switch", "outputs": {}},
        "4": {"name": "Loop", "type": "operator", "subtype": "foreach", "items": "{{ node.1.items }}", "loop": ["8"], "outputs": {}},
        "5": {"name": "Unknown", "type": "action", "module_uuid": "00000000-0000-0000-0000-000000000000", "action_uuid": "a", "outputs": {}},
        "6": {"name": "VT", "type": "action", "module_uuid": "d023af1d-25d8-465b-b85f-2ed48214d6a5", "action_uuid": "a", "outputs": {}},
        "7": get_alert("no account", json!({"uuid": "{% if %}"}), json!({})),
        "10": {"name": "Wrong action", "type": "action", "module_uuid": SEKOIA, "action_uuid": "nope", "outputs": {}},
    }));
    let errors = messages(&report.errors);
    let expect = [
        "$.nodes '' the playbook has no trigger",
        "$.nodes['1'].arguments.stix must be a boolean",
        "$.nodes['1'].arguments `uuid` is required",
        "$.nodes['1'].outputs.default[0] output `default` leads to node `9`",
        "$.nodes['2'].type unknown node type `gizmo`",
        "$.nodes['3'].subtype unknown operator subtype `switch`",
        "$.nodes['4'].loop the loop body starts at node `8`",
        "$.nodes['7'].arguments.uuid template syntax error",
        "$.nodes['7'] no Sekoia.io account for node 7",
    ];
    for expected in expect {
        let (path, text) = expected.split_once(' ').unwrap_or_default();
        let text = text.trim_start_matches("'' ");
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with(path) && e.contains(text)),
            "missing {expected:?} in {errors:#?}"
        );
    }
    // A module alertsync does not implement, known to Sekoia.io or not, and an action a
    // module has in Sekoia.io but not in alertsync, are needed, never errors in the file.
    assert!(
        !errors.iter().any(|e| e.contains("$.nodes['5']")),
        "{errors:#?}"
    );
    let needed: Vec<(&str, Option<&str>, &str, &[String])> = report
        .needs_modules
        .iter()
        .map(|n| {
            (
                n.kind,
                n.name.as_deref(),
                n.uuid.as_str(),
                n.nodes.as_slice(),
            )
        })
        .collect();
    assert_eq!(
        needed,
        [
            (
                "module",
                None,
                "00000000-0000-0000-0000-000000000000",
                &["5".to_owned()][..]
            ),
            (
                "module",
                Some("VirusTotal"),
                "d023af1d-25d8-465b-b85f-2ed48214d6a5",
                &["6".to_owned()][..]
            ),
            (
                "action",
                Some("Sekoia.io “Wrong action”"),
                "nope",
                &["10".to_owned()][..]
            ),
        ],
        "{:#?}",
        report.needs_modules
    );
    let with_node = report
        .errors
        .iter()
        .find(|p| p.node_id.as_deref() == Some("2"));
    assert_eq!(with_node.and_then(|p| p.node_name.as_deref()), Some("Odd"));
}

#[test]
fn cycles_outside_foreach_bodies_are_errors() {
    let report = report_of(json!({
        "0": trigger(json!({"default": ["1"]})),
        "1": get_alert("A", json!({"uuid": "x"}), json!({"default": ["2"]})),
        "2": get_alert("B", json!({"uuid": "x"}), json!({"default": ["1"]})),
    }));
    let errors = messages(&report.errors);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("cycle through outputs: 1 → 2 → 1")),
        "{errors:#?}"
    );
}

#[test]
fn foreach_bodies_may_read_their_loop() {
    let report = report_of(json!({
        "0": trigger(json!({"default": ["1"]})),
        "1": {"name": "Loop", "type": "operator", "subtype": "foreach", "items": "{{ node.0.items }}", "loop": ["2"], "outputs": {"default": []}},
        "2": get_alert("Body", json!({"uuid": "{{ node.1.default.value }}"}), json!({"default": []})),
    }));
    assert_eq!(report.errors, []);
    assert_eq!(report.warnings, []);
}

#[test]
fn references_to_missing_or_later_nodes_are_warnings() {
    let report = report_of(json!({
        "0": trigger(json!({"default": ["1"]})),
        "1": get_alert("First", json!({"uuid": "{{ node.2.uuid }} {{ node['7'].x }}"}), json!({"default": ["2"]})),
        "2": get_alert("Second", json!({"uuid": "x"}), json!({"default": []})),
    }));
    assert_eq!(report.errors, []);
    let warnings = messages(&report.warnings);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("`node.2` refers to a node that does not run before this one"))
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("`node.7` refers to a node that does not exist"))
    );
}

#[test]
fn condition_cases_and_outputs_must_match() {
    let report = report_of(json!({
        "0": trigger(json!({"default": ["1"]})),
        "1": {"name": "Cond", "type": "operator", "subtype": "condition",
              "cases": [{"name": "Yes", "left": "{{ node.0.a }}", "comparison": "==", "right": "1"}],
              "outputs": {"Yse": [], "else": []}},
    }));
    let warnings = messages(&report.warnings);
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("$.nodes['1'].cases[0].name case `Yes`")),
        "{warnings:#?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("$.nodes['1'].outputs.Yse output `Yse`")),
        "{warnings:#?}"
    );
}

#[test]
fn report_serialises() {
    let report = report_of(json!({}));
    let text = serde_json::to_string(&report).unwrap_or_default();
    assert!(text.contains("\"errors\"") && text.contains("\"needs_modules\""));
}
