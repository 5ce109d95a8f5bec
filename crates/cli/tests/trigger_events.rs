//! What a trigger node outputs under `alertsync run --alert`, as Sekoia.io's triggers do: an
//! alert trigger's event with `file_path` (the alert written to a file of the run, readable
//! by later nodes and removed when the run ends), the comment trigger's `comment`, and
//! Manual Trigger's `{alert_uuid}`; Alert Events Threshold the alert's event as if its
//! threshold were met; Alert Changed in ilert, the case triggers and the feed triggers, whose
//! events are not an alert's, only from `--event` (`--alert` is refused without reading
//! anything).

mod common;

use common::*;
use serde_json::{Value, json};

const SEKOIA: &str = "92d8bb47-7c51-445d-81de-ae04edbb6f0a";
const UTILS: &str = "07cce76b-a319-40ee-a0cf-1ba433431e21";
const READ_JSON_FILE: &str = "ecedfa52-7033-4ea8-9c3b-93ad34295f87";

/// `trigger` → Read JSON File of the trigger's `file_path`, selecting the short id.
fn reading_the_alert_file(trigger: &str) -> String {
    json!({"name": "read", "nodes": {
        "0": {"name": "trigger", "type": "trigger", "module_uuid": SEKOIA, "trigger_uuid": trigger,
              "outputs": {"default": ["1"]}},
        "1": {"name": "read", "type": "action", "module_uuid": UTILS, "action_uuid": READ_JSON_FILE,
              "arguments": {"file_path": "{{ node.0.file_path }}", "jsonpath": "$.short_id"},
              "outputs": {"default": []}}
    }})
    .to_string()
}

async fn run(config: &ConfigDir, playbook: &str, alert: &Value) -> Value {
    let file = config.write("playbook.json", playbook);
    let args = [
        "run",
        file.to_str().expect("UTF-8"),
        "--alert",
        alert["uuid"].as_str().expect("uuid"),
        "--format",
        "json",
    ];
    let out = alertsync(config.dir.path(), &args).await;
    assert_eq!(exit_code(&out), 0, "{}", stderr(&out));
    stdout_json(&out)
}

#[tokio::test]
async fn alert_triggers_write_the_alert_to_a_file_of_the_run() {
    let sim = simulator().await;
    let config = sim_config(&sim, ILERT_KEY);
    let alert = sim.create_alert(Value::Null);

    let record = run(
        &config,
        &reading_the_alert_file("785583cf-4377-43ce-a5fb-f4572eb57456"),
        &alert,
    )
    .await;

    let event = &record["nodes"][0]["results"];
    let file_path = event["file_path"].as_str().expect("a file_path");
    assert!(
        file_path.starts_with("alerts/") && file_path.ends_with("/alert.json"),
        "{file_path}"
    );
    assert_eq!(event["short_id"], alert["short_id"]);
    assert_eq!(
        record["nodes"][1]["results"]["output"], alert["short_id"],
        "the file holds the alert"
    );
    let files = config.dir.path().join("alertsync-data/files");
    let left: Vec<_> = std::fs::read_dir(files.join("alerts"))
        .map(|d| d.count())
        .into_iter()
        .collect();
    assert_eq!(left, [0], "the run's files are removed when it ends");
}

#[tokio::test]
async fn the_comment_trigger_gives_the_comment_and_manual_trigger_the_alert_uuid() {
    let sim = simulator().await;
    let config = sim_config(&sim, ILERT_KEY);
    let alert = sim.create_alert(Value::Null);
    let uuid = alert["uuid"].as_str().expect("uuid");
    sim.add_comment(uuid, "first", None).expect("commented");
    let latest = sim
        .add_comment(uuid, "Please isolate the host", Some("analyst"))
        .expect("commented");

    let record = run(
        &config,
        &reading_the_alert_file("5bd0d367-3332-48ed-8fe9-d4eda0d7de4a"),
        &alert,
    )
    .await;
    let event = &record["nodes"][0]["results"];
    assert_eq!(event["event_type"], "alert-comment");
    assert_eq!(
        event["comment"],
        json!({"uuid": latest["uuid"], "content": "Please isolate the host",
               "author": latest["created_by"], "date": latest["date"]})
    );

    let manual = json!({"name": "manual", "nodes": {"0": {"name": "Manual", "type": "trigger",
        "module_uuid": SEKOIA, "trigger_uuid": "fc26eb9f-b272-4c15-b3bf-ace397c0dc57", "outputs": {}}}});
    let record = run(&config, &manual.to_string(), &alert).await;
    assert_eq!(record["nodes"][0]["results"], json!({"alert_uuid": uuid}));
}

#[tokio::test]
async fn the_threshold_trigger_under_run_alert_gives_the_alert_as_if_its_threshold_were_met() {
    let sim = simulator().await;
    let config = sim_config(&sim, ILERT_KEY);
    let alert = sim.create_alert(json!({"similar": 7}));
    let record = run(
        &config,
        &reading_the_alert_file("83d7092a-0036-4adb-83c1-087265c57659"),
        &alert,
    )
    .await;
    let event = &record["nodes"][0]["results"];
    assert_eq!(event["events_count"], 7);
    assert_eq!(event["trigger_context"]["reason"], "run_by_hand");
    assert_eq!(record["nodes"][1]["results"]["output"], alert["short_id"]);
}

#[tokio::test]
async fn triggers_whose_event_is_not_an_alert_take_it_from_a_file() {
    let sim = simulator().await;
    let config = sim_config(&sim, ILERT_KEY);
    let alert = sim.create_alert(Value::Null);
    let uuid = alert["uuid"].as_str().expect("uuid");
    for (module, trigger, event) in [
        (
            "4970d347-495b-4f40-8e66-244abec12d8b",
            "dd6bc561-d049-4bfb-beab-f76ed534f2e5",
            json!({"status": "accepted", "alert_uuid": uuid, "ilert_alert_id": "1"}),
        ),
        (
            SEKOIA,
            "408814cf-993b-43a6-ae9d-f6d9a9cd762f",
            json!({"uuid": "c1", "short_id": "CA1", "title": "case"}),
        ),
        (
            SEKOIA,
            "9859df5d-a743-41e9-ad6c-cca078b3e054",
            json!({"stix_objects_path": "feeds/x/stix_objects.json"}),
        ),
    ] {
        let playbook = json!({"name": "t", "nodes": {"0": {"name": "t", "type": "trigger",
            "module_uuid": module, "trigger_uuid": trigger, "outputs": {}}}});
        let file = config.write("playbook.json", &playbook.to_string());
        let out = alertsync(
            config.dir.path(),
            &["run", file.to_str().expect("UTF-8"), "--alert", uuid],
        )
        .await;
        assert_eq!(exit_code(&out), 2, "{}", stderr(&out));
        assert!(stderr(&out).contains("--event FILE"), "{}", stderr(&out));
        assert!(
            sim.requests(alertsync_sim::Receiver::Sekoia).is_empty(),
            "nothing read for {trigger}"
        );
        let event_file = config.write("event.json", &event.to_string());
        let out = alertsync(
            config.dir.path(),
            &[
                "run",
                file.to_str().expect("UTF-8"),
                "--event",
                event_file.to_str().expect("UTF-8"),
                "--format",
                "json",
            ],
        )
        .await;
        assert_eq!(exit_code(&out), 0, "{}", stderr(&out));
        assert_eq!(stdout_json(&out)["nodes"][0]["results"], event);
    }
}
