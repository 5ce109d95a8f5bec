//! Log lines as an operator's collector gets them: JSON lines that parse, no colour escape
//! codes when stderr is piped, and an audit line for every change made through the API.

mod common;

use std::time::{Duration, Instant};

use alertsync_engine::http::HttpClient;
use common::service::ServeProcess;
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;

const TOKEN: &str = "audit-test-token-0451";
/// The shipped playbook's uuid.
const PLAYBOOK_ID: &str = "096acba7-ca84-4bc7-8fcb-8b44f5464b89";
const PATIENCE: Duration = Duration::from_secs(30);

/// A service on the simulator with the shipped ilert playbook and an API token.
async fn service_with_token(
    sim: &alertsync_sim::Simulator,
    args: &[&str],
) -> (ConfigDir, ServeProcess) {
    let config = ConfigDir::new(&format!(
        "{}\n{}\n[server]\ntoken = \"{TOKEN}\"\n",
        sim_accounts(sim, SEKOIA_KEY, ILERT_KEY),
        shipped_playbook("forward-alerts-to-ilert.json"),
    ));
    let service = ServeProcess::start(&config, args).await;
    (config, service)
}

/// `POST <service><path>` with `body` and `token` as bearer, if any.
async fn post_body(
    service: &ServeProcess,
    path: &str,
    token: Option<&str>,
    body: String,
) -> StatusCode {
    let client = HttpClient::new().expect("an HTTP client");
    let mut request = client
        .request(Method::POST, &format!("{}{path}", service.base_url()))
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("the service answers").status()
}

async fn post(service: &ServeProcess, path: &str, token: Option<&str>) -> StatusCode {
    post_body(service, path, token, String::new()).await
}

/// Waits until the service's log has a line satisfying `wanted`.
async fn log_line(service: &ServeProcess, wanted: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        if let Some(line) = service.log().lines().find(|l| wanted(l)) {
            return line.to_owned();
        }
        assert!(
            started.elapsed() < PATIENCE,
            "no such log line within {PATIENCE:?}:\n{}",
            service.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_parse_line_by_line_and_api_changes_are_audited() {
    let sim = simulator().await;
    let (_config, mut service) = service_with_token(&sim, &["--log-format", "json"]).await;
    let disable = format!("/api/v1/playbooks/{PLAYBOOK_ID}/disable");

    assert_eq!(post(&service, &disable, Some(TOKEN)).await, StatusCode::OK);
    assert_eq!(
        post(&service, &disable, Some("not-the-token")).await,
        StatusCode::UNAUTHORIZED
    );
    let imported = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/playbooks/synchronise-alerts.json"),
    )
    .expect("a shipped playbook");
    let imported_id = serde_json::from_str::<Value>(&imported).unwrap()["uuid"]
        .as_str()
        .expect("the playbook has a uuid")
        .to_owned();
    assert_eq!(
        post_body(&service, "/api/v1/playbooks/import", Some(TOKEN), imported).await,
        StatusCode::CREATED
    );
    let done = log_line(&service, |l| l.contains("\"outcome\":\"done\"")).await;
    let refused = log_line(&service, |l| l.contains("\"outcome\":\"refused\"")).await;
    let import = log_line(&service, |l| l.contains("\"action\":\"import playbook\"")).await;
    service.terminate().await;

    let log = service.log();
    let lines: Vec<Value> = log
        .lines()
        .filter(|line| !line.starts_with("--- "))
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"))
        })
        .collect();
    assert!(
        lines.iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.contains("serving on"))),
        "{log}"
    );
    for line in &lines {
        for key in ["timestamp", "level", "target", "message"] {
            assert!(line.get(key).is_some(), "no `{key}` in {line}");
        }
    }
    let done: Value = serde_json::from_str(&done).unwrap();
    assert_eq!(done["target"], "alertsync::audit");
    assert_eq!(done["level"], "INFO");
    assert_eq!(done["actor"], "api token");
    assert_eq!(done["action"], "disable playbook");
    assert_eq!(done["subject"], PLAYBOOK_ID);
    assert_eq!(done["status"], 200);
    let refused: Value = serde_json::from_str(&refused).unwrap();
    assert_eq!(refused["status"], 401);
    let import: Value = serde_json::from_str(&import).unwrap();
    assert_eq!(import["subject"], imported_id.as_str(), "{import}");
    assert_eq!(import["status"], 201);
    assert!(!log.contains(TOKEN), "the token is never logged:\n{log}");
}

/// Logs in through the console's form: the session cookie (`name=value`) it sets.
async fn console_session(service: &ServeProcess) -> String {
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client");
    let login = no_redirects
        .post(format!("{}/login", service.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={TOKEN}"))
        .send()
        .await
        .expect("the service answers");
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .expect("a cookie")
        .to_owned();
    let pair = cookie.split(';').next().unwrap_or_default().to_owned();
    assert!(
        !pair.contains(TOKEN),
        "the session is not the token: {pair}"
    );
    pair
}

#[tokio::test(flavor = "multi_thread")]
async fn piped_logs_carry_no_escape_codes_and_audit_console_sessions() {
    let sim = simulator().await;
    let (_config, mut service) = service_with_token(&sim, &["-v"]).await;
    let session = console_session(&service).await;
    let client = HttpClient::new().expect("an HTTP client");
    let rerun = client
        .request(
            Method::POST,
            &format!("{}/api/v1/runs/999999/rerun", service.base_url()),
        )
        .header("Cookie", session)
        .send()
        .await
        .expect("the service answers");
    assert_eq!(rerun.status(), StatusCode::NOT_FOUND);

    let audit = log_line(&service, |l| {
        l.contains("alertsync::audit") && l.contains("rerun")
    })
    .await;
    service.terminate().await;

    assert!(
        audit.contains("audit: rerun run 999999 by console session: refused (404)"),
        "{audit}"
    );
    let log = service.log();
    assert!(log.contains("INFO"), "-v logs at INFO:\n{log}");
    assert!(
        !log.contains('\u{1b}'),
        "escape codes in piped logs:\n{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fatal_error_is_one_json_line_in_the_json_format() {
    let dir = tempfile::tempdir().unwrap();
    let out = alertsync(
        dir.path(),
        &[
            "--log-format",
            "json",
            "run",
            "missing.json",
            "--event",
            "-",
        ],
    )
    .await;
    assert_eq!(exit_code(&out), 2);
    let text = stderr(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let line: Value = serde_json::from_str(lines[0]).expect("a JSON line");
    assert_eq!(line["level"], "ERROR");
    assert!(
        line["message"]
            .as_str()
            .is_some_and(|m| m.contains("missing.json: cannot read")),
        "{line}"
    );
}
