//! What alertsync lacks is a need, never an error in the file: `validate` names it (exit 3),
//! `run` refuses only when the trigger reaches it, and `validate --summary` tables a folder.

mod common;

use alertsync_sim::Receiver;
use common::*;
use serde_json::{Value, json};

const SEKOIA: &str = "92d8bb47-7c51-445d-81de-ae04edbb6f0a";
const MANUAL_TRIGGER: &str = "fc26eb9f-b272-4c15-b3bf-ace397c0dc57";
const GET_ALERT: &str = "8d189665-5401-4098-8d60-944de9a6199a";
const SENTINELONE: &str = "ff675e74-e5c1-47c8-a571-d207fc297464";

/// Manual Trigger → Get Alert, and a SentinelOne node that `isolate_from` (when given)
/// leads to.
fn playbook(isolate_from: Option<&str>) -> Value {
    let mut get_outputs = json!({"default": []});
    if isolate_from == Some("1") {
        get_outputs = json!({"default": ["2"]});
    }
    json!({
        "name": "Isolate the host",
        "nodes": {
            "0": {"name": "Manual", "type": "trigger", "module_uuid": SEKOIA, "trigger_uuid": MANUAL_TRIGGER,
                  "outputs": {"default": ["1"]}},
            "1": {"name": "Get Alert", "type": "action", "module_uuid": SEKOIA, "action_uuid": GET_ALERT,
                  "arguments": {"uuid": "{{ node.0.alert_uuid }}"}, "outputs": get_outputs},
            "2": {"name": "Isolate the endpoint", "type": "action", "module_uuid": SENTINELONE,
                  "action_uuid": "d3b0a5a4-1b7c-4c1e-9d3e-5f6a7b8c9d0e", "arguments": {"ids": ["x"]}, "outputs": {}}
        }
    })
}

#[tokio::test]
async fn validate_names_the_missing_module_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("isolate.json");
    std::fs::write(&file, playbook(Some("1")).to_string()).unwrap();

    let out = alertsync(dir.path(), &["validate", "--format", "json", path(&file)]).await;

    assert_eq!(exit_code(&out), 3, "{}", stderr(&out));
    let report = &stdout_json(&out)[0];
    assert_eq!(report["errors"], json!([]));
    assert_eq!(
        report["needs_modules"],
        json!([{"kind": "module", "name": "SentinelOne", "uuid": SENTINELONE, "nodes": ["2"]}])
    );
    let text = alertsync(dir.path(), &["validate", path(&file)]).await;
    assert_eq!(exit_code(&text), 3);
    assert!(
        stdout(&text).contains(&format!(
            "needs module SentinelOne ({SENTINELONE}), which alertsync does not implement (node 2)"
        )),
        "{}",
        stdout(&text)
    );
}

#[tokio::test]
async fn a_missing_required_argument_is_an_error_naming_it() {
    let mut doc = playbook(None);
    doc["nodes"]["1"]["arguments"] = json!({"stix": true});
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.json");
    std::fs::write(&file, doc.to_string()).unwrap();

    let out = alertsync(dir.path(), &["validate", "--format", "json", path(&file)]).await;

    assert_eq!(exit_code(&out), 1, "the file is broken");
    let error = &stdout_json(&out)[0]["errors"][0];
    assert_eq!(error["node_id"], "1");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("\"uuid\" is a required property"),
        "{error:#}"
    );
}

#[tokio::test]
async fn run_goes_ahead_when_the_missing_module_is_out_of_reach_and_refuses_otherwise() {
    let sim = simulator().await;
    let config = sim_config(&sim, ILERT_KEY);
    let alert = sim.create_alert(Value::Null);
    let event = config.write(
        "event.json",
        &json!({"alert_uuid": alert["uuid"]}).to_string(),
    );
    let unreachable = config.write("unreachable.json", &playbook(None).to_string());
    let reachable = config.write("reachable.json", &playbook(Some("1")).to_string());
    let run = |file| {
        let file: &std::path::Path = file;
        vec![
            "run".to_owned(),
            path(file).to_owned(),
            "--event".to_owned(),
            path(&event).to_owned(),
            "--format".to_owned(),
            "json".to_owned(),
        ]
    };

    let args = run(&unreachable);
    let out = alertsync(
        config.dir.path(),
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(exit_code(&out), 0, "{}", stderr(&out));
    let record = stdout_json(&out);
    assert_eq!(record["status"], "succeeded");
    assert_eq!(record["nodes"][1]["results"]["uuid"], alert["uuid"]);

    let before = sim.requests(Receiver::Sekoia).len();
    let args = run(&reachable);
    let out = alertsync(
        config.dir.path(),
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(exit_code(&out), 3);
    assert!(
        stderr(&out).contains(&format!("needs module SentinelOne ({SENTINELONE})")),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        sim.requests(Receiver::Sekoia).len(),
        before,
        "nothing was run"
    );
}

#[tokio::test]
async fn the_summary_tables_a_folder_of_playbooks() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("exported");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("a-runs.json"), playbook(None).to_string()).unwrap();
    std::fs::write(folder.join("b-needs.json"), playbook(Some("1")).to_string()).unwrap();
    std::fs::write(folder.join("c-broken.json"), "{\"name\": \"x\",").unwrap();
    std::fs::write(folder.join("notes.txt"), "not a playbook").unwrap();

    let out = alertsync(
        dir.path(),
        &["validate", "--summary", "--format", "json", path(&folder)],
    )
    .await;

    assert_eq!(exit_code(&out), 1, "a broken file wins over a need");
    let summary = stdout_json(&out);
    let verdicts: Vec<(&str, &str)> = summary["playbooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| {
            let file = line["file"].as_str().unwrap();
            (
                file.rsplit('/').next().unwrap(),
                line["verdict"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            ("a-runs.json", "runs"),
            ("b-needs.json", "needs"),
            ("c-broken.json", "broken")
        ]
    );
    assert_eq!(
        summary["totals"],
        json!({"playbooks": 3, "load": 2, "run": 1, "need": 1, "broken": 1})
    );
    assert_eq!(
        summary["needed"],
        json!([[format!("SentinelOne ({SENTINELONE})"), 1]])
    );

    let text = alertsync(dir.path(), &["validate", "--summary", path(&folder)]).await;
    assert!(
        stdout(&text).contains("3 playbooks: 2 load, 1 run, 1 need what alertsync lacks, 1 broken"),
        "{}",
        stdout(&text)
    );
}

fn path(file: &std::path::Path) -> &str {
    file.to_str().expect("a UTF-8 path")
}
