//! The REST API of `serve`, end to end: the real service over a loopback listener with a
//! SQLite store in a temporary directory, the simulator playing Sekoia.io and ilert. Every
//! route, access control, bad input, the OpenAPI document, and no secret in any answer.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use alertsync_engine::Cancellation;
use alertsync_server::serve::{ServeOptions, serve};
use alertsync_sim::{Receiver, SimConfig};
use common::{Answer, PLAYBOOK, PLAYBOOK_ID, Service, config_text, load, secrets, start};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "api-test-token-5f1c";

impl Service {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        self.send(request).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, Some(TOKEN), None).await
    }

    async fn post(&self, path: &str, body: Option<&str>) -> Answer {
        self.call(Method::POST, path, Some(TOKEN), body).await
    }

    /// Waits until the run listing at `path` has at least `count` runs, all finished.
    async fn wait_runs(&self, path: &str, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answer = self.get(path).await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
            let runs = answer.json()["runs"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let finished = |run: &Value| {
                !matches!(
                    run["status"].as_str(),
                    Some("queued" | "running" | "waiting")
                )
            };
            if runs.len() >= count && runs.iter().all(finished) {
                return runs;
            }
            assert!(
                Instant::now() < deadline,
                "no {count} finished runs: {}",
                answer.text
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn assert_error(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["error"], code, "{}", answer.text);
    assert!(!body["detail"].is_null(), "{}", answer.text);
}

/// Every route a test calls, as (method, OpenAPI path).
const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/playbooks"),
    ("get", "/api/v1/playbooks/{id}"),
    ("post", "/api/v1/playbooks/{id}/enable"),
    ("post", "/api/v1/playbooks/{id}/disable"),
    ("post", "/api/v1/playbooks/validate"),
    ("post", "/api/v1/playbooks/import"),
    ("get", "/api/v1/playbooks/{id}/export"),
    ("get", "/api/v1/runs"),
    ("get", "/api/v1/runs/{id}"),
    ("post", "/api/v1/runs/{id}/rerun"),
    ("post", "/api/v1/runs/{id}/dismiss"),
    ("get", "/api/v1/accounts"),
    ("get", "/api/v1/modules"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_behind_the_token() {
    let service = start(Some(TOKEN), "sekoia").await;

    // Access control: API needs the token; health and webhooks do not.
    let anonymous = service
        .call(Method::GET, "/api/v1/playbooks", None, None)
        .await;
    assert_error(&anonymous, StatusCode::UNAUTHORIZED, "unauthorized");
    let wrong = service
        .call(Method::GET, "/api/v1/runs", Some("wrong-token"), None)
        .await;
    assert_error(&wrong, StatusCode::UNAUTHORIZED, "unauthorized");
    let spec = service
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(spec.status, StatusCode::UNAUTHORIZED);
    let health = service.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status, StatusCode::OK, "{}", health.text);
    assert_eq!(health.json()["status"], "ok");
    assert_eq!(health.json()["live"][0]["account"], "sekoia");
    let hook = service
        .call(Method::POST, "/hooks/nope/1", None, Some("{}"))
        .await;
    assert_eq!(
        hook.status,
        StatusCode::NOT_FOUND,
        "webhooks keep their own checks"
    );

    // Security headers on every answer, refused ones included.
    for answer in [&anonymous, &health] {
        assert_eq!(answer.headers["x-content-type-options"], "nosniff");
        assert_eq!(answer.headers["x-frame-options"], "DENY");
        assert_eq!(answer.headers["referrer-policy"], "no-referrer");
        let csp = answer.headers["content-security-policy"]
            .to_str()
            .expect("csp");
        assert!(csp.contains("default-src 'self'"), "{csp}");
    }

    // The login form sets an HttpOnly, SameSite=Strict cookie that opens the API.
    let login = service.login_request(TOKEN).send().await.expect("login");
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().expect("cookie pair");
    let with_cookie = service
        .client
        .get(format!("{}/api/v1/accounts", service.base))
        .header("cookie", pair)
        .send()
        .await
        .expect("cookie request");
    assert_eq!(with_cookie.status(), StatusCode::OK);
    let bad_login = service.login_request("nope").send().await.expect("login");
    assert_eq!(bad_login.status(), StatusCode::UNAUTHORIZED);

    // Unknown routes are JSON 404s too.
    assert_error(
        &service.get("/api/v1/nothing").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    // Playbooks.
    let list = service.get("/api/v1/playbooks").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let list = list.json();
    assert_eq!(list[0]["id"], PLAYBOOK_ID);
    assert_eq!(list[0]["state"], "enabled");
    let one = service
        .get(&format!("/api/v1/playbooks/{PLAYBOOK_ID}"))
        .await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text);
    assert_eq!(one.json()["playbook"]["uuid"], PLAYBOOK_ID);
    assert_error(
        &service.get("/api/v1/playbooks/unknown").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let export = service
        .get(&format!("/api/v1/playbooks/{PLAYBOOK_ID}/export"))
        .await;
    assert_eq!(export.status, StatusCode::OK);
    let exported: Value = serde_json::from_str(&export.text).expect("export is JSON");
    assert_eq!(exported["uuid"], PLAYBOOK_ID);
    assert_error(
        &service.get("/api/v1/playbooks/unknown/export").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    // Disable persists in the store health; enable clears it.
    let disabled = service
        .post(&format!("/api/v1/playbooks/{PLAYBOOK_ID}/disable"), None)
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.text);
    assert_eq!(disabled.json()["state"], "disabled");
    let listed = service.get("/api/v1/playbooks").await.json();
    assert_eq!(listed[0]["state"], "disabled");
    assert_eq!(listed[0]["disabled_reason"], "disabled through the API");
    let enabled = service
        .post(&format!("/api/v1/playbooks/{PLAYBOOK_ID}/enable"), None)
        .await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.text);
    assert_eq!(enabled.json()["state"], "enabled");
    assert_eq!(enabled.json()["consecutive_failures"], 0);
    for action in ["enable", "disable"] {
        assert_error(
            &service
                .post(&format!("/api/v1/playbooks/unknown/{action}"), None)
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }

    // Validate and import.
    let valid = service
        .post("/api/v1/playbooks/validate", Some(PLAYBOOK))
        .await;
    assert_eq!(valid.status, StatusCode::OK, "{}", valid.text);
    assert_eq!(valid.json()["valid"], true, "{}", valid.text);
    let mut broken: Value = serde_json::from_str(PLAYBOOK).expect("playbook JSON");
    broken["nodes"]["1"]["outputs"]["default"] = json!(["99"]);
    let broken = broken.to_string();
    let invalid = service
        .post("/api/v1/playbooks/validate", Some(&broken))
        .await;
    assert_eq!(invalid.status, StatusCode::OK);
    assert_eq!(invalid.json()["valid"], false, "{}", invalid.text);
    let refused = service
        .post("/api/v1/playbooks/import", Some(&broken))
        .await;
    assert_error(&refused, StatusCode::BAD_REQUEST, "invalid_playbook");
    let errors = refused.json()["detail"]["errors"].clone();
    assert!(
        errors.as_array().is_some_and(|e| !e.is_empty()),
        "the report lists the problems: {}",
        refused.text
    );
    let not_json = service
        .post("/api/v1/playbooks/import", Some("{not json"))
        .await;
    assert_error(&not_json, StatusCode::BAD_REQUEST, "invalid_playbook");
    let imported = service
        .post("/api/v1/playbooks/import", Some(PLAYBOOK))
        .await;
    assert_eq!(imported.status, StatusCode::CREATED, "{}", imported.text);
    let file = imported.json()["file"].as_str().expect("file").to_owned();
    let saved = std::fs::read_to_string(&file).expect("imported file saved");
    assert!(saved.contains(PLAYBOOK_ID));

    // Accounts (masked) and modules.
    let accounts = service.get("/api/v1/accounts").await;
    assert_eq!(accounts.status, StatusCode::OK);
    let accounts = accounts.json();
    assert_eq!(accounts[0]["name"], "sekoia");
    assert!(accounts[0]["values"]["api_key"].is_string());
    let modules = service.get("/api/v1/modules").await;
    assert_eq!(modules.status, StatusCode::OK);
    assert!(
        modules
            .json()
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["manifest"]["slug"] == "ilert"))
    );

    // Runs: an alert raised in Sekoia.io runs the playbook.
    let deadline = Instant::now() + Duration::from_secs(20);
    while service.simulator.live_connection_count() == 0 {
        assert!(
            Instant::now() < deadline,
            "live notifications never connected"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let alert = service.simulator.create_alert(Value::Null);
    let alert_uuid = alert["uuid"].as_str().expect("alert uuid").to_owned();
    let runs = service
        .wait_runs(&format!("/api/v1/runs?alert={alert_uuid}"), 1)
        .await;
    let run = &runs[0];
    assert_eq!(run["playbook_id"], PLAYBOOK_ID);
    let run_id = run["id"].as_i64().expect("run id");
    let started = run["queued_at_ms"].as_u64().expect("queue time");

    let filtered = service
        .get(&format!(
            "/api/v1/runs?playbook={PLAYBOOK_ID}&status={}&since={started}&until={started}&limit=10",
            run["status"].as_str().expect("status")
        ))
        .await;
    assert_eq!(filtered.status, StatusCode::OK, "{}", filtered.text);
    assert_eq!(filtered.json()["runs"][0]["id"], run_id);
    let later = service
        .get(&format!("/api/v1/runs?since={}", started + 1))
        .await;
    assert_eq!(later.json()["runs"], json!([]), "{}", later.text);
    let older = service.get(&format!("/api/v1/runs?before={run_id}")).await;
    assert_eq!(older.json()["runs"], json!([]), "{}", older.text);
    for bad in [
        "status=exploded",
        "limit=0",
        "limit=5000",
        "since=yesterday",
        "since=10&until=5",
        "before=-1",
    ] {
        assert_error(
            &service.get(&format!("/api/v1/runs?{bad}")).await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        );
    }

    let detail = service.get(&format!("/api/v1/runs/{run_id}")).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.text);
    let detail = detail.json();
    assert_eq!(detail["run"]["id"], run_id);
    assert!(
        detail["nodes"].as_array().is_some_and(|n| n.len() >= 2),
        "the node runs: {detail}"
    );
    assert_error(
        &service.get("/api/v1/runs/999999").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &service.get("/api/v1/runs/abc").await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );

    // Rerun: a new run of the same playbook for the same alert.
    assert_error(
        &service
            .post(
                &format!("/api/v1/runs/{run_id}/rerun?only=everything"),
                None,
            )
            .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert_error(
        &service.post("/api/v1/runs/999999/rerun", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let rerun = service
        .post(&format!("/api/v1/runs/{run_id}/rerun"), None)
        .await;
    assert_eq!(rerun.status, StatusCode::ACCEPTED, "{}", rerun.text);
    assert_eq!(rerun.json()["rerun_of"], run_id);
    let runs = service
        .wait_runs(&format!("/api/v1/runs?alert={alert_uuid}"), 2)
        .await;
    assert_eq!(runs.len(), 2, "exactly one new run: {runs:?}");
    assert!(runs[0]["id"].as_i64() > Some(run_id));
    assert_eq!(runs[0]["playbook_id"], PLAYBOOK_ID);
    assert_eq!(runs[0]["trigger_node"], run["trigger_node"]);

    // Rerun of only the failed and pending nodes: the action that succeeded is reused,
    // ilert is not called again.
    let ilert_calls = service.simulator.requests(Receiver::Ilert).len();
    let partial = service
        .post(&format!("/api/v1/runs/{run_id}/rerun?only=failed"), None)
        .await;
    assert_eq!(partial.status, StatusCode::ACCEPTED, "{}", partial.text);
    assert_eq!(partial.json()["only_failed"], true);
    let runs = service
        .wait_runs(&format!("/api/v1/runs?alert={alert_uuid}"), 3)
        .await;
    assert_eq!(runs.len(), 3, "{runs:?}");
    assert_eq!(runs[0]["status"], "succeeded", "{runs:?}");
    let reused = service
        .get(&format!("/api/v1/runs/{}", runs[0]["id"]))
        .await
        .json();
    assert!(
        reused["nodes"].as_array().is_some_and(|nodes| nodes
            .iter()
            .any(|n| n["id"] == "3" && n["status"] == "succeeded")),
        "the action's earlier result is in the new run: {reused}"
    );
    assert_eq!(
        service.simulator.requests(Receiver::Ilert).len(),
        ilert_calls,
        "the succeeded action is not called again"
    );

    // Pages: one run each, the second the last.
    let first = service
        .get(&format!("/api/v1/runs?alert={alert_uuid}&limit=1"))
        .await
        .json();
    assert_eq!(first["runs"].as_array().map(Vec::len), Some(1), "{first}");
    let before = first["next_before"].as_i64().expect("a next page");
    let second = service
        .get(&format!(
            "/api/v1/runs?alert={alert_uuid}&limit=1&before={before}"
        ))
        .await
        .json();
    assert_eq!(second["runs"].as_array().map(Vec::len), Some(1), "{second}");
    assert!(second["runs"][0]["id"].as_i64() < first["runs"][0]["id"].as_i64());
    let mut seen = Vec::new();
    let mut before = String::new();
    loop {
        let page = service
            .get(&format!("/api/v1/runs?alert={alert_uuid}&limit=2{before}"))
            .await
            .json();
        seen.extend(page["runs"].as_array().cloned().unwrap_or_default());
        match page["next_before"].as_i64() {
            Some(next) => before = format!("&before={next}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 3, "every run once over the pages: {seen:?}");

    // Metrics sit behind the token too.
    let metrics = service.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(metrics.status, StatusCode::UNAUTHORIZED);

    // Health now knows the queue and the last event, and says all is well.
    let health = service.get("/healthz").await;
    assert_eq!(health.status, StatusCode::OK, "{}", health.text);
    let health = health.json();
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["problems"], json!([]), "{health}");
    assert!(health["last_event_at_ms"].as_u64().is_some(), "{health}");
    assert_eq!(health["queue"]["queued"], 0, "{health}");
    assert_eq!(health["live"][0]["connected"], true, "{health}");

    // The OpenAPI document lists every route.
    let spec = service.get("/api/v1/openapi.json").await;
    assert_eq!(spec.status, StatusCode::OK);
    let spec = spec.json();
    for (method, path) in ROUTES {
        assert!(
            spec["paths"][path][method].is_object(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(spec["paths"]["/healthz"]["get"]["security"], json!([{}]));
    let documented: usize = spec["paths"]
        .as_object()
        .expect("paths")
        .values()
        .map(|item| item.as_object().map_or(0, |m| m.len()))
        .sum();
    assert_eq!(
        documented,
        ROUTES.len(),
        "no undocumented extra: {}",
        spec["paths"]
    );

    // No secret value in any answer.
    let bodies = service.stop().await;
    for body in &bodies {
        for secret in &secrets() {
            assert!(!body.contains(secret.as_str()), "a secret leaked: {body}");
        }
    }
}

#[tokio::test]
async fn without_a_token_the_api_is_open_on_loopback() {
    let service = start(None, "sekoia-open").await;
    let list = service
        .call(Method::GET, "/api/v1/playbooks", None, None)
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert_eq!(list.headers["x-frame-options"], "DENY");
    service.stop().await;
}

#[tokio::test]
async fn changes_a_browser_sends_from_another_site_are_refused() {
    let service = start(None, "sekoia-cross-site").await;
    let disable = format!("{}/api/v1/playbooks/{PLAYBOOK_ID}/disable", service.base);
    let send = |headers: &[(&'static str, String)]| {
        let mut request = service.client.post(&disable);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        async move { request.send().await.expect("request").status() }
    };
    let host = service.base.trim_start_matches("http://").to_owned();
    for refused in [
        vec![("origin", "http://attacker.example".to_owned())],
        vec![("sec-fetch-site", "cross-site".to_owned())],
        vec![
            ("sec-fetch-site", "same-site".to_owned()),
            ("origin", service.base.clone()),
        ],
    ] {
        assert_eq!(send(&refused).await, StatusCode::FORBIDDEN, "{refused:?}");
    }
    let state = service
        .get(&format!("/api/v1/playbooks/{PLAYBOOK_ID}"))
        .await;
    assert_eq!(state.json()["state"], "enabled", "{}", state.text);

    // The console's own requests, and clients that are not browsers, pass.
    let own = [
        ("origin", service.base.clone()),
        ("sec-fetch-site", "same-origin".to_owned()),
    ];
    assert_eq!(send(&own).await, StatusCode::OK);
    assert_eq!(send(&[("host", host)]).await, StatusCode::OK);
    // Reading is not a change.
    let read = service
        .client
        .get(format!("{}/api/v1/playbooks", service.base))
        .header("origin", "http://attacker.example")
        .send()
        .await
        .expect("request");
    assert_eq!(read.status(), StatusCode::OK);
    service.stop().await;
}

#[tokio::test]
async fn serve_refuses_a_public_address_without_a_token() {
    let simulator = alertsync_sim::start(SimConfig::default())
        .await
        .expect("simulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = load(dir.path(), &config_text(&simulator, None, "sekoia-refused"));
    let served = serve(
        config,
        Arc::new(alertsync_integrations::registry()),
        ServeOptions {
            listen: "0.0.0.0:0".to_owned(),
            grace: Duration::from_secs(1),
        },
        Cancellation::new(),
        |_| panic!("must not start"),
    )
    .await;
    let err = served.expect_err("refused").to_string();
    assert!(err.contains("token"), "the error names the fix: {err}");
    simulator.shutdown().await;
}
