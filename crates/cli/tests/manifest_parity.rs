//! The catalogue `alertsync modules --format json` prints, against the interface facts of the
//! modules as Sekoia.io publishes them (tests/fixtures/sekoia-manifest-facts.json: uuids,
//! names, slugs, argument names, types and required flags of Sekoia.io, HTTP, Utils, ilert,
//! PagerDuty and Mattermost). A renamed argument, a dropped required flag or a narrowed type
//! fails here; alertsync may add arguments of its own.

mod common;

use std::collections::BTreeSet;

use common::{alertsync, exit_code, stdout_json};
use serde_json::{Value, json};

/// Triggers of the Sekoia.io module that no published manifest has (one Sekoia.io might add
/// later): validate reports them as needs.
const TRIGGERS_NOT_IMPLEMENTED: [&str; 2] = [
    "0d1c7a52-93f4-4c8e-b7e2-5a6f3c9d1e40",
    "7f3e9b21-4c6a-4d85-a1f0-2b8c6e4d9a13",
];

fn facts() -> Value {
    let text = include_str!("fixtures/sekoia-manifest-facts.json");
    serde_json::from_str(text).expect("the fixture is JSON")
}

async fn catalogue() -> Value {
    let dir = tempfile::tempdir().expect("a directory");
    let out = alertsync(dir.path(), &["modules", "--format", "json"]).await;
    assert_eq!(exit_code(&out), 0);
    stdout_json(&out)
}

fn by_uuid<'a>(items: &'a Value, uuid: &str) -> Option<&'a Value> {
    items
        .as_array()?
        .iter()
        .find(|item| item["uuid"].as_str() == Some(uuid))
}

/// The JSON types a schema admits (none listed: any).
fn types(schema: &Value) -> Option<BTreeSet<String>> {
    match &schema["type"] {
        Value::String(one) => Some(BTreeSet::from([one.clone()])),
        Value::Array(many) => Some(
            many.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        _ => None,
    }
}

/// Whether alertsync's schema accepts every value of the real argument's type (an integer
/// is a number).
fn admits(ours: &Value, theirs: &Value) -> bool {
    let Some(ours) = types(ours) else {
        return true;
    };
    let Some(theirs) = types(&json!({"type": theirs})) else {
        return false;
    };
    theirs
        .iter()
        .all(|t| ours.contains(t) || (t == "integer" && ours.contains("number")))
}

/// Compares one action's or trigger's arguments; returns what differs.
fn argument_differences(what: &str, ours: &Value, theirs: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let required: BTreeSet<&str> = ours["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let Some(arguments) = theirs.as_object() else {
        return problems;
    };
    for (name, fact) in arguments {
        let Some(schema) = ours["properties"].get(name) else {
            problems.push(format!("{what}: no argument `{name}`"));
            continue;
        };
        if !admits(schema, &fact["type"]) {
            problems.push(format!(
                "{what}: argument `{name}` is {} where Sekoia.io's is {}",
                schema["type"], fact["type"]
            ));
        }
        let real = fact["required"] == true;
        if real != required.contains(name.as_str()) {
            problems.push(format!(
                "{what}: argument `{name}` is {} where Sekoia.io's is {}",
                if real { "optional" } else { "required" },
                if real { "required" } else { "optional" }
            ));
        }
    }
    for name in &required {
        if !arguments.contains_key(*name) {
            problems.push(format!(
                "{what}: requires `{name}`, which Sekoia.io does not declare"
            ));
        }
    }
    problems
}

#[tokio::test]
async fn every_module_action_and_trigger_matches_sekoia_io() {
    let catalogue = catalogue().await;
    let mut problems = Vec::new();
    for module in facts()["modules"].as_array().expect("modules") {
        let uuid = module["uuid"].as_str().unwrap_or_default();
        let Some(ours) = by_uuid(&catalogue, uuid) else {
            problems.push(format!("no module {} ({uuid})", module["name"]));
            continue;
        };
        if ours["slug"] != module["slug"] {
            problems.push(format!(
                "module {uuid}: slug {} is {}",
                ours["slug"], module["slug"]
            ));
        }
        for action in module["actions"].as_array().into_iter().flatten() {
            let what = format!(
                "{} “{}”",
                module["name"].as_str().unwrap_or_default(),
                action["name"].as_str().unwrap_or_default()
            );
            let Some(mine) = by_uuid(
                &ours["actions"],
                action["uuid"].as_str().unwrap_or_default(),
            ) else {
                problems.push(format!("{what}: no action {}", action["uuid"]));
                continue;
            };
            for field in ["name", "slug", "command"] {
                if mine[field] != action[field] {
                    problems.push(format!(
                        "{what}: {field} {} is {}",
                        mine[field], action[field]
                    ));
                }
            }
            problems.extend(argument_differences(
                &what,
                &mine["arguments"],
                &action["arguments"],
            ));
        }
        for trigger in module["triggers"].as_array().into_iter().flatten() {
            let uuid = trigger["uuid"].as_str().unwrap_or_default();
            let what = format!("trigger “{}”", trigger["name"].as_str().unwrap_or_default());
            match by_uuid(&ours["triggers"], uuid) {
                None => problems.push(format!("{what}: no trigger {uuid}")),
                Some(mine) => {
                    if mine["name"] != trigger["name"] {
                        problems.push(format!("{what}: named {}", mine["name"]));
                    }
                    problems.extend(argument_differences(
                        &what,
                        &mine["arguments"],
                        &trigger["arguments"],
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_comparison_fails_on_a_renamed_argument_a_dropped_required_flag_and_a_narrowed_type() {
    let theirs = json!({"uuid": {"type": "string", "required": true}, "limit": {"type": "number"}});
    let ours = json!({"properties": {"uuid": {"type": "string"}, "limit": {"type": "number"}}, "required": ["uuid"]});
    assert!(argument_differences("x", &ours, &theirs).is_empty());
    let renamed = json!({"properties": {"id": {"type": "string"}, "limit": {"type": "number"}}, "required": ["id"]});
    assert_eq!(argument_differences("x", &renamed, &theirs).len(), 2);
    let optional = json!({"properties": {"uuid": {"type": "string"}, "limit": {"type": "number"}}});
    assert_eq!(
        argument_differences("x", &optional, &theirs),
        ["x: argument `uuid` is optional where Sekoia.io's is required"]
    );
    let narrowed = json!({"properties": {"uuid": {"type": "string"}, "limit": {"type": "integer"}}, "required": ["uuid"]});
    assert_eq!(argument_differences("x", &narrowed, &theirs).len(), 1);
}

#[tokio::test]
async fn sekoia_triggers_alertsync_lacks_are_reported_as_needs() {
    let facts = facts();
    let published: Vec<&str> = facts["modules"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|module| module["triggers"].as_array().into_iter().flatten())
        .filter_map(|trigger| trigger["uuid"].as_str())
        .collect();
    assert!(!published.is_empty(), "the fixture lists triggers");
    let catalogue = catalogue().await;
    let sekoia = by_uuid(&catalogue, "92d8bb47-7c51-445d-81de-ae04edbb6f0a").expect("Sekoia.io");
    for uuid in TRIGGERS_NOT_IMPLEMENTED {
        assert!(
            by_uuid(&sekoia["triggers"], uuid).is_none() && !published.contains(&uuid),
            "{uuid} exists: pick another"
        );
    }
    let nodes: serde_json::Map<String, Value> = TRIGGERS_NOT_IMPLEMENTED
        .iter()
        .enumerate()
        .map(|(index, uuid)| {
            (index.to_string(), json!({"name": format!("t{index}"), "type": "trigger", "module_uuid": "92d8bb47-7c51-445d-81de-ae04edbb6f0a", "trigger_uuid": uuid, "outputs": {}}))
        })
        .collect();
    let dir = tempfile::tempdir().expect("a directory");
    let file = dir.path().join("triggers.json");
    std::fs::write(
        &file,
        json!({"name": "triggers", "nodes": nodes}).to_string(),
    )
    .expect("written");
    let out = alertsync(
        dir.path(),
        &[
            "validate",
            "--format",
            "json",
            file.to_str().expect("UTF-8"),
        ],
    )
    .await;
    assert_eq!(exit_code(&out), 3);
    let report = stdout_json(&out);
    let needed: Vec<&str> = report[0]["needs_modules"]
        .as_array()
        .expect("needs")
        .iter()
        .filter(|n| n["kind"] == "trigger")
        .filter_map(|n| n["uuid"].as_str())
        .collect();
    assert_eq!(needed, TRIGGERS_NOT_IMPLEMENTED);
}
