//! The commands a new user meets first: `--help`, `--version`, `modules`, `sim`, `demo`.

mod common;

use std::process::Stdio;

use common::*;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

const SUBCOMMANDS: [&str; 11] = [
    "action",
    "sim",
    "modules",
    "demo",
    "validate",
    "check",
    "run",
    "export",
    "serve",
    "completions",
    "man",
];

#[tokio::test(flavor = "multi_thread")]
async fn every_subcommand_answers_help_and_the_binary_its_version() {
    let dir = tempfile::tempdir().unwrap();
    let out = alertsync(dir.path(), &["--help"]).await;
    assert_eq!(exit_code(&out), 0);
    for sub in SUBCOMMANDS {
        assert!(stdout(&out).contains(sub), "top-level help lists `{sub}`");
        let out = alertsync(dir.path(), &[sub, "--help"]).await;
        assert_eq!(exit_code(&out), 0, "{sub} --help");
        assert!(
            stdout(&out).contains("--config"),
            "{sub} --help mentions --config"
        );
    }
    let out = alertsync(dir.path(), &["--version"]).await;
    let version = stdout(&out);
    let rest = version
        .trim()
        .strip_prefix(&format!("alertsync {} (commit ", env!("CARGO_PKG_VERSION")))
        .unwrap_or_else(|| panic!("{version}"));
    let (commit, date) = rest
        .strip_suffix(')')
        .and_then(|r| r.split_once(", built "))
        .unwrap_or_else(|| panic!("{version}"));
    let checked_out = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned());
    match checked_out {
        Some(head) => assert_eq!(commit, head, "{version}"),
        None => assert_eq!(commit, "unknown", "{version}"),
    }
    let digits: Vec<usize> = date.split('-').map(str::len).collect();
    assert_eq!(digits, [4, 2, 2], "a YYYY-MM-DD build date: {version}");
    let out = alertsync(dir.path(), &["no-such-command"]).await;
    assert_eq!(exit_code(&out), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn modules_lists_the_catalogue_with_sekoia_uuids() {
    let dir = tempfile::tempdir().unwrap();
    let out = alertsync(dir.path(), &["modules", "--format", "json"]).await;
    assert_eq!(exit_code(&out), 0);
    let modules = stdout_json(&out);
    let ilert = modules
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["slug"] == "ilert")
        .expect("ilert is listed");
    assert_eq!(
        ilert["actions"][0]["uuid"],
        "7675796a-393d-42f2-9648-709483a22bc0"
    );
    assert_eq!(
        ilert["actions"][0]["arguments"]["required"][0],
        "alert_uuid"
    );
    assert_eq!(
        (
            &ilert["triggers"][0]["uuid"],
            &ilert["triggers"][0]["extension"]
        ),
        (&json!("dd6bc561-d049-4bfb-beab-f76ed534f2e5"), &json!(true)),
        "Alert Changed in ilert is alertsync's own"
    );

    let out = alertsync(dir.path(), &["modules", "ilert"]).await;
    assert_eq!(exit_code(&out), 0);
    let text = stdout(&out);
    assert!(
        text.contains("ilert.trigger_alert") && text.contains("alert_uuid (string, required)"),
        "{text}"
    );
    let trigger = text
        .lines()
        .find(|line| line.contains("Alert Changed in ilert"))
        .unwrap_or_else(|| panic!("the ilert trigger is listed:\n{text}"));
    assert!(trigger.contains("(alertsync extension"), "{trigger}");

    let out = alertsync(dir.path(), &["modules", "nope"]).await;
    assert_eq!(exit_code(&out), 2);
    assert!(
        stderr(&out).contains("sekoia.io"),
        "names the available modules"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sim_prints_its_urls_as_json_and_serves_them() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_alertsync"))
        .args(["sim", "--port", "0", "--alerts", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("alertsync sim starts");
    let stdout = child.stdout.take().unwrap();
    let line = BufReader::new(stdout)
        .lines()
        .next_line()
        .await
        .unwrap()
        .expect("a line of URLs");
    let urls: serde_json::Value = serde_json::from_str(&line).expect("the URLs are JSON");

    let client = alertsync_engine::http::HttpClient::new().unwrap();
    let list_url = format!("{}/v1/sic/alerts", urls["sekoia"].as_str().unwrap());
    let alerts: serde_json::Value = client
        .request(reqwest::Method::GET, &list_url)
        .bearer_auth(SEKOIA_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(alerts["total"], 2);
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_syncs_both_ways_and_every_alert_ends_in_step() {
    let dir = tempfile::tempdir().unwrap();
    let out = alertsync(dir.path(), &["demo", "--alerts", "5"]).await;
    assert_eq!(exit_code(&out), 0, "stderr: {}", stderr(&out));
    let printed = stdout(&out);
    let table = printed
        .split("where each alert ended:")
        .nth(1)
        .unwrap_or_else(|| panic!("no summary:\n{printed}"));
    let expected = [
        ("analyst acknowledged", "Acknowledged", "acknowledged"),
        ("analyst closed", "Closed", "resolved"),
        ("on-call accepted", "Acknowledged", "acknowledged"),
        ("on-call resolved", "Closed", "resolved"),
        ("nobody", "Pending", "open"),
    ];
    for (who, sekoia, ilert) in expected {
        let row = table
            .lines()
            .find_map(|line| line.split_once(who).map(|(_, rest)| rest))
            .unwrap_or_else(|| panic!("no row for {who}:\n{table}"));
        let columns: Vec<&str> = row.split_whitespace().take(2).collect();
        assert_eq!(columns, [sekoia, ilert], "{who}:\n{table}");
    }
    assert!(
        table.contains("accepted by ada") && table.contains("resolved by ada"),
        "on-call's actions are in ilert's history:\n{table}"
    );
    assert!(!printed.contains(SEKOIA_KEY) && !printed.contains(ILERT_KEY));
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_keep_listens_where_asked_and_prints_the_console_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port();
    let listen = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_alertsync"))
        .args(["demo", "--alerts", "1", "--keep", "--listen", &listen])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("alertsync demo starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = String::new();
    let console = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("stdout is readable") {
            printed.push_str(&line);
            printed.push('\n');
            if let Some(url) = line.strip_prefix("console:") {
                return Some(url.trim().to_owned());
            }
        }
        None
    })
    .await
    .unwrap_or_else(|_| panic!("no console URL within 60 s; stdout so far:\n{printed}"))
    .unwrap_or_else(|| panic!("the demo ended without a console URL:\n{printed}"));
    assert_eq!(console, format!("http://{listen}/"), "{printed}");

    let client = alertsync_engine::http::HttpClient::new().unwrap();
    let page = client
        .request(reqwest::Method::GET, &console)
        .send()
        .await
        .unwrap_or_else(|err| panic!("{console} does not answer: {err}"));
    assert!(
        page.status().is_success(),
        "{console} answers {}",
        page.status()
    );
    let body = page.text().await.unwrap();
    assert!(body.contains("id=\"runs\""), "not the runs page:\n{body}");
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_refuses_to_listen_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let out = alertsync(dir.path(), &["demo", "--listen", "0.0.0.0:0"]).await;
    assert_eq!(exit_code(&out), 2, "stdout: {}", stdout(&out));
    assert!(
        stderr(&out).contains("refusing to listen on 0.0.0.0:0 without a token"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thread_count_that_is_not_a_number_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for (value, accepted) in [("0", false), ("two", false), ("1", true)] {
        let out =
            alertsync_with_env(dir.path(), &["modules"], &[("TOKIO_WORKER_THREADS", value)]).await;
        if accepted {
            assert_eq!(exit_code(&out), 0, "{value}: {}", stderr(&out));
            continue;
        }
        assert_eq!(exit_code(&out), 2, "{value}");
        assert!(
            stderr(&out).contains(&format!(
                "TOKIO_WORKER_THREADS must be a number of threads, 1 or more (it is `{value}`)"
            )),
            "{value}: {}",
            stderr(&out)
        );
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
}
