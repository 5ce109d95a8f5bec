//! The playbooks shipped in `examples/playbooks/`, run as a user runs them against the
//! simulator, and the playbook commands around them: `validate`, `run` (formats, dry run,
//! exit codes, secrets) and `export`.
//!
//! A playbook whose URL points at a placeholder is copied into the test's directory with the
//! URL pointed at the simulator; the shipped file stays as users get it.

mod common;

use std::path::{Path, PathBuf};

use alertsync_sim::{Fault, Receiver, Route, Simulator};
use alertsync_testing::corpus_dir;
use common::*;
use serde_json::{Value, json};

const SYNCHRONISE: &str = "synchronise-alerts.json";
const TO_INTAKE: &str = "synchronise-alerts-to-intake.json";
const TO_ILERT: &str = "forward-alerts-to-ilert.json";
const FROM_ILERT: &str = "sync-ilert-to-sekoia.json";
const SHIPPED: [&str; 4] = [SYNCHRONISE, TO_INTAKE, TO_ILERT, FROM_ILERT];
/// The placeholder URL of `synchronise-alerts.json`.
const PLACEHOLDER_URL: &str = "https://example.invalid/alerts";

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/playbooks")
        .join(name)
}

fn example_text(name: &str) -> String {
    std::fs::read_to_string(example(name)).expect("the example playbook is readable")
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the corpus folder is readable")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

/// `synchronise-alerts.json` as users get it, but posting to the simulator's sink.
fn synchronise_to_sink(config: &ConfigDir, sim: &Simulator) -> PathBuf {
    let text = example_text(SYNCHRONISE);
    assert!(text.contains(PLACEHOLDER_URL));
    let sink = format!("{}/alerts", sim.urls().sink);
    config.write(SYNCHRONISE, &text.replace(PLACEHOLDER_URL, &sink))
}

/// The body the use case's JSON template builds from an alert.
fn use_case_body(alert: &Value, description: &str) -> Value {
    json!({
        "alert_short_id": alert["uuid"],
        "rule_name": alert["rule"]["name"],
        "rule_severity": alert["rule"]["severity"].to_string(),
        "description": description,
    })
}

/// `alertsync run PLAYBOOK --alert ALERT EXTRA... --format json` in the configuration's
/// directory.
async fn run_json(
    config: &ConfigDir,
    playbook: &Path,
    alert: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec!["run", path_arg(playbook), "--alert", alert];
    args.extend_from_slice(extra);
    args.extend(["--format", "json"]);
    alertsync(config.dir.path(), &args).await
}

fn node<'a>(record: &'a Value, id: &str) -> &'a Value {
    record["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["id"] == id))
        .unwrap_or_else(|| panic!("node {id} ran: {record:#}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shipped_playbooks_validate_clean_with_a_configuration() {
    let sim = simulator().await;
    let config = sim_config(&sim, ILERT_KEY);
    let files: Vec<PathBuf> = SHIPPED.iter().map(|name| example(name)).collect();
    let mut args = vec!["validate", "--format", "json"];
    args.extend(files.iter().map(|f| path_arg(f)));

    let out = alertsync(config.dir.path(), &args).await;

    assert_eq!(exit_code(&out), 0, "stderr: {}", stderr(&out));
    let reports = stdout_json(&out);
    assert_eq!(reports.as_array().map(Vec::len), Some(SHIPPED.len()));
    for report in reports.as_array().unwrap() {
        assert_eq!(report["errors"], json!([]), "{report:#}");
        assert_eq!(report["warnings"], json!([]), "{report:#}");
        assert_eq!(report["needs_modules"], json!([]), "{report:#}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn synchronise_alerts_posts_the_use_case_json_built_from_the_alert() {
    let sim = simulator().await;
    let alert = sim.create_alert(json!({}));
    let config = sim_config(&sim, ILERT_KEY);
    let playbook = synchronise_to_sink(&config, &sim);
    let uuid = alert["uuid"].as_str().unwrap();

    let out = alertsync(
        config.dir.path(),
        &["run", path_arg(&playbook), "--alert", uuid],
    )
    .await;

    assert_eq!(exit_code(&out), 0, "stderr: {}", stderr(&out));
    assert!(stdout(&out).contains("run succeeded"), "{}", stdout(&out));
    let received = sim.requests(Receiver::Sink);
    assert_eq!(received.len(), 1, "{received:#?}");
    assert_eq!(received[0].method, "POST");
    assert_eq!(received[0].path, "/alerts");
    assert_eq!(
        received[0].headers["authorization"],
        "Bearer YOUR_EXTERNAL_PRODUCT_API_KEY_NOT_THE_SEKOIAIO_ONE"
    );
    assert_eq!(received[0].headers["content-type"], "application/json");
    assert_eq!(
        received[0].body,
        use_case_body(&alert, "This is a description")
    );
    let reads = sim.requests(Receiver::Sekoia);
    assert!(
        reads
            .iter()
            .any(|r| r.method == "GET" && r.path == format!("/v1/sic/alerts/{uuid}")),
        "Get Alert read the alert: {reads:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_json_output_is_the_run_record() {
    let sim = simulator().await;
    let alert = sim.create_alert(json!({}));
    let config = sim_config(&sim, ILERT_KEY);
    let playbook = synchronise_to_sink(&config, &sim);

    let out = run_json(&config, &playbook, alert["short_id"].as_str().unwrap(), &[]).await;

    assert_eq!(exit_code(&out), 0, "stderr: {}", stderr(&out));
    let record = stdout_json(&out);
    assert_eq!(record["status"], "succeeded");
    assert_eq!(record["trigger_node"], "0");
    assert_eq!(record["error"], Value::Null);
    let nodes = record["nodes"].as_array().unwrap();
    let ids: Vec<&Value> = nodes.iter().map(|n| &n["id"]).collect();
    assert_eq!(ids, ["0", "1", "2"]);
    for (seq, node) in nodes.iter().enumerate() {
        assert_eq!(node["seq"], seq);
        assert_eq!(node["status"], "succeeded");
        for key in ["name", "arguments", "results", "error", "logs", "outputs"] {
            assert!(node.get(key).is_some(), "node {seq} has `{key}`: {node:#}");
        }
        assert_eq!(node["iteration"], json!([]));
        assert!(node.get("dry_run_writes").is_none(), "not a dry run");
    }
    assert_eq!(nodes[0]["results"]["alert_uuid"], alert["uuid"]);
    assert_eq!(nodes[1]["arguments"], json!({"uuid": alert["uuid"]}));
    assert_eq!(nodes[1]["results"]["rule"], alert["rule"]);
    assert_eq!(nodes[2]["results"]["status_code"], 200);
    assert_eq!(nodes[2]["outputs"], json!(["default"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_intake_variant_sends_the_alert_as_one_intake_event() {
    let sim = simulator().await;
    let alert = sim.create_alert(json!({}));
    let config = sim_config(&sim, ILERT_KEY);
    let text = example_text(TO_INTAKE)
        .replace("https://intake.sekoia.io", &sim.urls().intake)
        .replace("MYINTAKEKEY", "sim-intake-key");
    let playbook = config.write(TO_INTAKE, &text);

    let out = alertsync(
        config.dir.path(),
        &[
            "run",
            path_arg(&playbook),
            "--alert",
            alert["uuid"].as_str().unwrap(),
        ],
    )
    .await;

    assert_eq!(exit_code(&out), 0, "stderr: {}", stderr(&out));
    let received = sim.requests(Receiver::Intake);
    assert_eq!(received.len(), 1, "{received:#?}");
    assert_eq!(
        (received[0].method.as_str(), received[0].status),
        ("POST", 200)
    );
    assert_eq!(received[0].path, "/");
    assert_eq!(received[0].body["intake_key"], "sim-intake-key");
    let event: Value = serde_json::from_str(received[0].body["json"].as_str().unwrap())
        .expect("the event is JSON text");
    assert_eq!(
        event,
        use_case_body(&alert, "An HTTP request was made from SEKOIA.IO Playbook")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn forward_to_ilert_opens_the_alert_then_follows_its_status() {
    let sim = simulator().await;
    let alert = sim.create_alert(json!({}));
    let uuid = alert["uuid"].as_str().unwrap();
    let config = sim_config(&sim, ILERT_KEY);
    let playbook = example(TO_ILERT);
    let run = |trigger: &'static str| {
        let dir = config.dir.path().to_owned();
        let playbook = playbook.clone();
        let uuid = uuid.to_owned();
        async move {
            alertsync(
                &dir,
                &[
                    "run",
                    path_arg(&playbook),
                    "--alert",
                    &uuid,
                    "--trigger",
                    trigger,
                ],
            )
            .await
        }
    };

    let created = run("1").await;
    assert_eq!(exit_code(&created), 0, "stderr: {}", stderr(&created));
    let ilert = sim.ilert_alerts();
    assert_eq!(ilert.len(), 1);
    assert_eq!(
        (ilert[0].alert_key.as_str(), ilert[0].status.as_str()),
        (uuid, "open")
    );

    sim.set_status(uuid, "Acknowledged", None).unwrap();
    let acknowledged = run("2").await;
    assert_eq!(
        exit_code(&acknowledged),
        0,
        "stderr: {}",
        stderr(&acknowledged)
    );
    assert_eq!(sim.ilert_alerts()[0].status, "acknowledged");

    sim.set_status(uuid, "Closed", None).unwrap();
    let closed = run("2").await;
    assert_eq!(exit_code(&closed), 0, "stderr: {}", stderr(&closed));
    let ilert = sim.ilert_alerts();
    assert_eq!(ilert.len(), 1, "the same ilert alert all along");
    assert_eq!(ilert[0].status, "resolved");

    let received = sim.requests(Receiver::Ilert);
    assert_eq!(received.len(), 3);
    for request in &received {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, format!("/api/v1/events/sekoia/{ILERT_KEY}"));
        assert_eq!(request.body["uuid"], alert["uuid"]);
        assert_eq!(request.body["title"], alert["title"]);
    }
    let statuses: Vec<&Value> = received.iter().map(|r| &r.body["status"]).collect();
    assert_eq!(statuses, ["pending", "acknowledged", "closed"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_from_ilert_changes_only_alerts_not_yet_where_ilert_says() {
    let sim = simulator().await;
    let config = sim_config(&sim, ILERT_KEY);
    let playbook = example(FROM_ILERT);
    // (what ilert reports, the Sekoia.io status before, the status after).
    let cases = [
        ("accepted", "Pending", "Acknowledged"),
        ("accepted", "Acknowledged", "Acknowledged"),
        ("accepted", "Ongoing", "Ongoing"),
        ("accepted", "Closed", "Closed"),
        ("resolved", "Pending", "Closed"),
        ("resolved", "Acknowledged", "Closed"),
        ("resolved", "Ongoing", "Closed"),
        ("resolved", "Rejected", "Rejected"),
        ("resolved", "Closed", "Closed"),
        ("pending", "Pending", "Pending"),
    ];
    for (ilert_status, before, after) in cases {
        let alert = sim.create_alert(json!({"status": before}));
        let uuid = alert["uuid"].as_str().unwrap();
        let event = json!({
            "event_type": format!("alert-{ilert_status}"), "ilert_alert_id": "2983781",
            "status": ilert_status, "alert_key": uuid, "alert_uuid": uuid,
            "summary": alert["title"], "priority": "HIGH", "alert_url": null,
            "report_time": "2026-12-01T09:52:39.551Z",
            "assigned_to": {"username": "ada", "email": "ada@example.com",
                            "first_name": "Ada", "last_name": "Lovelace"}
        });
        let event_file = config.write("event.json", &event.to_string());
        let out = alertsync(
            config.dir.path(),
            &["run", path_arg(&playbook), "--event", path_arg(&event_file)],
        )
        .await;
        let case = format!("{ilert_status} in ilert, {before} in Sekoia.io");
        assert_eq!(exit_code(&out), 0, "{case}: {}", stderr(&out));
        let now = sim.alert(uuid).unwrap();
        assert_eq!(now["status"]["name"], after, "{case}");
        if before != after {
            let expected = match ilert_status {
                "accepted" => "Accepted in ilert by Ada Lovelace",
                _ => "Resolved in ilert; assigned to Ada Lovelace",
            };
            assert_eq!(now["history"][0]["comment"], expected, "{case}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_sends_nothing_to_the_sink_but_records_the_write() {
    let sim = simulator().await;
    let alert = sim.create_alert(json!({}));
    let config = sim_config(&sim, ILERT_KEY);
    let playbook = synchronise_to_sink(&config, &sim);
    let uuid = alert["uuid"].as_str().unwrap();

    let out = run_json(&config, &playbook, uuid, &["--dry-run"]).await;

    assert_eq!(exit_code(&out), 0, "stderr: {}", stderr(&out));
    assert!(sim.requests(Receiver::Sink).is_empty());
    assert!(
        !sim.requests(Receiver::Sekoia).is_empty(),
        "reads are still sent"
    );
    let record = stdout_json(&out);
    let writes = node(&record, "2")["dry_run_writes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert_eq!(writes[0]["method"], "POST");
    let sink_url = format!("{}/alerts", sim.urls().sink);
    assert!(
        writes[0]["url"].as_str().unwrap().contains(&sink_url),
        "{writes:#?}"
    );
    assert_eq!(
        writes[0]["body"],
        use_case_body(&alert, "This is a description")
    );
    assert!(
        node(&record, "1")["dry_run_writes"].is_null(),
        "a read is no write"
    );

    let text = alertsync(
        config.dir.path(),
        &["run", path_arg(&playbook), "--alert", uuid, "--dry-run"],
    )
    .await;
    assert_eq!(exit_code(&text), 0);
    let shown = stdout(&text);
    let announced = shown
        .lines()
        .find(|line| line.contains("dry run, not sent: POST"))
        .unwrap_or_else(|| panic!("the write is shown:\n{shown}"));
    assert!(announced.contains(&sink_url), "{announced}");
    assert!(shown.contains("1 write(s) recorded, none sent"), "{shown}");
    assert!(sim.requests(Receiver::Sink).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_write_fails_the_run_with_exit_1_and_keeps_the_answer() {
    let sim = simulator().await;
    let alert = sim.create_alert(json!({}));
    let config = sim_config(&sim, ILERT_KEY);
    let playbook = synchronise_to_sink(&config, &sim);
    sim.inject_fault(Fault::status(Route::Sink, 400));

    let out = run_json(&config, &playbook, alert["uuid"].as_str().unwrap(), &[]).await;

    assert_eq!(exit_code(&out), 1, "stderr: {}", stderr(&out));
    let record = stdout_json(&out);
    assert_eq!(record["status"], "failed");
    let request_url = node(&record, "2");
    assert_eq!(request_url["status"], "failed");
    assert_eq!(request_url["results"]["status_code"], 400);
    assert!(
        request_url["error"].as_str().unwrap().contains("400"),
        "{request_url:#}"
    );
    assert_eq!(
        sim.requests(Receiver::Sink).len(),
        1,
        "a 400 is not retried"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_playbooks_and_usage_errors_exit_2_before_anything_is_sent() {
    let sim = simulator().await;
    let alert = sim.create_alert(json!({}));
    let uuid = alert["uuid"].as_str().unwrap();
    let config = sim_config(&sim, ILERT_KEY);
    let unknown_action = example_text(SYNCHRONISE).replace(
        "40bcf3c0-aa8b-4111-9b4e-f3caffccb4e5",
        "00000000-0000-4000-8000-000000000000",
    );
    let invalid = config.write("invalid.json", &unknown_action);
    let not_json = config.write("not-json.json", "{\"name\": \"broken\", \"nodes\": {");

    let out = alertsync(
        config.dir.path(),
        &["run", path_arg(&invalid), "--alert", uuid],
    )
    .await;
    // An action alertsync does not implement is a need, not an error in the file: exit 3.
    assert_eq!(exit_code(&out), 3);
    assert!(
        stderr(&out).contains("00000000-0000-4000-8000-000000000000"),
        "{}",
        stderr(&out)
    );

    let out = alertsync(
        config.dir.path(),
        &["run", path_arg(&not_json), "--alert", uuid],
    )
    .await;
    assert_eq!(exit_code(&out), 2);

    let several_triggers = example(TO_ILERT);
    let out = alertsync(
        config.dir.path(),
        &["run", path_arg(&several_triggers), "--alert", uuid],
    )
    .await;
    assert_eq!(exit_code(&out), 2);
    assert!(stderr(&out).contains("--trigger"), "{}", stderr(&out));

    let out = alertsync(config.dir.path(), &["run", path_arg(&several_triggers)]).await;
    assert_eq!(exit_code(&out), 2, "neither --event nor --alert");

    assert!(sim.requests(Receiver::Ilert).is_empty());
    assert!(sim.requests(Receiver::Sink).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_example_in_run_help_works_as_written() {
    let sim = simulator().await;
    let config = sim_config(&sim, ILERT_KEY);
    let alert = sim.create_alert(Value::Null);
    let help = stdout(&alertsync(config.dir.path(), &["run", "--help"]).await);
    // The example, its continued lines (`\` at the end) joined.
    let mut lines = help
        .lines()
        .map(str::trim)
        .skip_while(|line| !line.starts_with("alertsync run examples/"));
    let mut example = String::new();
    for line in lines.by_ref() {
        example.push_str(line.trim_end_matches('\\'));
        example.push(' ');
        if !line.ends_with('\\') {
            break;
        }
    }
    assert!(
        example.contains("--alert"),
        "an example with --alert in:\n{help}"
    );
    let short_id = alert["short_id"].as_str().unwrap();
    let mut args: Vec<&str> = example
        .split_whitespace()
        .skip(1)
        .map(|word| {
            if word == "ALxxxxxxxxxx" {
                short_id
            } else {
                word
            }
        })
        .collect();
    let config_path = config.path();
    args.extend(["--config", path_arg(&config_path)]);

    // Paths in the example are relative to the checkout's root.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = alertsync(&root, &args).await;

    assert_eq!(
        exit_code(&out),
        0,
        "{example}\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("dry run: 1 write(s) recorded, none sent"),
        "{}",
        stdout(&out)
    );
    assert!(
        sim.requests(Receiver::Ilert).is_empty(),
        "a dry run sends no write"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_file_exits_2_from_validate_and_from_run() {
    let dir = tempfile::tempdir().unwrap();
    let present = example(TO_ILERT);
    let validated = alertsync(
        dir.path(),
        &["validate", "missing.json", path_arg(&present)],
    )
    .await;
    let ran = alertsync(dir.path(), &["run", "missing.json", "--event", "-"]).await;

    assert_eq!(exit_code(&validated), 2, "{}", stdout(&validated));
    assert_eq!(exit_code(&ran), 2, "{}", stderr(&ran));
    let listed = stdout(&validated);
    assert!(listed.contains("missing.json: 1 error(s)"), "{listed}");
    assert!(
        listed.contains("forward-alerts-to-ilert.json: ok"),
        "the other file is checked: {listed}"
    );
    assert!(
        stderr(&ran).contains("missing.json: cannot read"),
        "{}",
        stderr(&ran)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_never_appear_in_run_output_even_when_a_template_copies_them() {
    let sim = simulator().await;
    let alert = sim.create_alert(json!({}));
    let config = sim_config(&sim, ILERT_KEY);
    let token = "tok-5ecret-4e1f9a27";
    let playbook = json!({
        "name": "Token copied into a header",
        "nodes": {
            "0": {"name": "Alert Created", "type": "trigger", "outputs": {"default": ["1"]},
                  "module_uuid": "92d8bb47-7c51-445d-81de-ae04edbb6f0a",
                  "trigger_uuid": "785583cf-4377-43ce-a5fb-f4572eb57456"},
            "1": {"name": "Keep the token", "type": "operator", "subtype": "store",
                  "modifications": [{"type": "set", "key": "token", "value": token}],
                  "outputs": {"default": ["2"]}},
            "2": {"name": "Get Alert", "type": "action", "outputs": {"default": ["3"]},
                  "arguments": {"uuid": "{{ node.0.alert_uuid }}"},
                  "module_uuid": "92d8bb47-7c51-445d-81de-ae04edbb6f0a",
                  "action_uuid": "8d189665-5401-4098-8d60-944de9a6199a"},
            "3": {"name": "Request URL", "type": "action", "outputs": {"default": []},
                  "arguments": {
                      "url": format!("{}/hooks", sim.urls().sink),
                      "method": "post",
                      "auth_type": "Bearer",
                      "auth_token": "{{ store.token }}",
                      "headers": {"X-Copy-Of-Token": "copy {{ store.token }}"},
                      "json": {"alert": "{{ node.2.short_id }}"}
                  },
                  "module_uuid": "5894985f-91eb-46db-9306-cc5ac6463d3d",
                  "action_uuid": "40bcf3c0-aa8b-4111-9b4e-f3caffccb4e5"}
        }
    });
    let path = config.write("token.json", &playbook.to_string());
    let uuid = alert["uuid"].as_str().unwrap();

    for extra in [&["--format", "json"][..], &[][..], &["--dry-run"][..]] {
        let mut args = vec!["run", path_arg(&path), "--alert", uuid];
        args.extend_from_slice(extra);
        let out = alertsync(config.dir.path(), &args).await;
        assert_eq!(exit_code(&out), 0, "{extra:?}: {}", stderr(&out));
        for shown in [stdout(&out), stderr(&out)] {
            assert!(
                !shown.contains(token),
                "{extra:?} shows the token:\n{shown}"
            );
            assert!(
                !shown.contains(SEKOIA_KEY),
                "{extra:?} shows the API key:\n{shown}"
            );
        }
    }
    let sent = sim.requests(Receiver::Sink);
    assert_eq!(sent.len(), 2, "the dry run sent nothing");
    assert_eq!(sent[0].headers["authorization"], format!("Bearer {token}"));
    assert_eq!(sent[0].headers["x-copy-of-token"], format!("copy {token}"));
    assert_eq!(sent[0].body, json!({"alert": alert["short_id"]}));
}

#[tokio::test(flavor = "multi_thread")]
async fn export_gives_back_every_corpus_and_shipped_playbook_unchanged() {
    let Some(corpus) = corpus_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> = corpus_files(&corpus)
        .into_iter()
        .filter(|f| !f.ends_with("playbooks.json"))
        .collect();
    files.extend(SHIPPED.iter().map(|name| example(name)));
    let mut exports = tokio::task::JoinSet::new();
    for file in files.clone() {
        let dir = dir.path().to_owned();
        exports.spawn(async move {
            let out = alertsync(&dir, &["export", path_arg(&file)]).await;
            (file, out)
        });
    }

    let mut exported = 0;
    while let Some(joined) = exports.join_next().await {
        let (file, out) = joined.expect("the export task ends");
        assert_eq!(exit_code(&out), 0, "{}: {}", file.display(), stderr(&out));
        let original: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let again = stdout_json(&out);
        assert_eq!(
            serde_json::to_string(&again).unwrap(),
            serde_json::to_string(&original).unwrap(),
            "{} changed on export (keys, values or their order)",
            file.display()
        );
        exported += 1;
    }
    assert_eq!(exported, files.len());

    let written = dir.path().join("exported.json");
    let out = alertsync(
        dir.path(),
        &[
            "export",
            path_arg(&example(TO_ILERT)),
            "-o",
            path_arg(&written),
        ],
    )
    .await;
    assert_eq!(exit_code(&out), 0);
    let reloaded: Value =
        serde_json::from_str(&std::fs::read_to_string(&written).unwrap()).unwrap();
    let shipped: Value = serde_json::from_str(&example_text(TO_ILERT)).unwrap();
    assert_eq!(reloaded, shipped);
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_json_reports_each_corpus_file_and_rejects_the_catalogue_file() {
    let Some(corpus) = corpus_dir() else { return };
    let files = corpus_files(&corpus);
    let mut args = vec!["validate", "--format", "json"];
    args.extend(files.iter().map(|f| path_arg(f)));
    let dir = tempfile::tempdir().unwrap();

    let out = alertsync(dir.path(), &args).await;

    assert_eq!(exit_code(&out), 1, "playbooks.json is not a playbook");
    let reports = stdout_json(&out);
    let reports = reports.as_array().unwrap();
    assert_eq!(reports.len(), files.len());
    let report = |name: &str| {
        reports
            .iter()
            .find(|r| r["file"].as_str().is_some_and(|f| f.ends_with(name)))
            .unwrap_or_else(|| panic!("a report for {name}"))
    };
    for entry in reports {
        let keys: Vec<&String> = entry.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["file", "errors", "warnings", "needs_modules"]);
    }

    let catalogue = report("/playbooks.json");
    assert_eq!(catalogue["errors"].as_array().unwrap().len(), 1);
    let message = catalogue["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("line 451, column 9"), "{message}");

    for runnable in [
        "msteams_notification.json",
        "mattermost_notification_on_alert.json",
        "urgency_to_0_on_rejected.json",
        "Reject_old_alerts.json",
    ] {
        let entry = report(runnable);
        assert_eq!(entry["errors"], json!([]), "{entry:#}");
        assert_eq!(entry["needs_modules"], json!([]), "{entry:#}");
    }
    let dangling = report("create_jira_ticket_on_alert.json");
    assert_eq!(dangling["errors"], json!([]));
    let warned: Vec<&Value> = dangling["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| &w["node_id"])
        .collect();
    assert_eq!(warned, ["19", "21"]);
    let shodan = report("Alerts_Shodan_Enrichment.json");
    assert_eq!(shodan["errors"], json!([]));
    assert_eq!(shodan["needs_modules"][0]["name"], "Shodan");
}
