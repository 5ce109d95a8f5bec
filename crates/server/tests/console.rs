//! The web console of `serve`, end to end: the real service over a loopback listener with a
//! SQLite store in a temporary directory, the simulator playing Sekoia.io and ilert. Every
//! page answers HTML with the selectors its script and users rely on, runs show in the
//! list and as a coloured graph, unknown ids are HTML 404s, browsers without the token go
//! to the login form, the event stream tells of new runs, and no secret reaches a page.

mod common;

use std::time::{Duration, Instant};

use alertsync_sim::{Fault, Route};
use alertsync_testing::corpus_dir;
use common::{Answer, PLAYBOOK_ID, Service, secrets, start};
use reqwest::StatusCode;
use serde_json::Value;

const TOKEN: &str = "console-test-token-93ab";
/// The ilert module, as playbooks name it.
const ILERT_MODULE_UUID: &str = "4970d347-495b-4f40-8e66-244abec12d8b";

/// What a page answer is checked for.
trait PageAnswer {
    /// Asserts a 200 HTML page.
    fn assert_page(&self, what: &str);
    fn has(&self, needle: &str) -> bool;
}

impl PageAnswer for Answer {
    fn assert_page(&self, what: &str) {
        assert_eq!(self.status, StatusCode::OK, "{what}: {}", self.text);
        assert!(
            self.header("content-type").starts_with("text/html"),
            "{what}: {}",
            self.header("content-type")
        );
    }

    fn has(&self, needle: &str) -> bool {
        self.text.contains(needle)
    }
}

impl Service {
    /// A browser's GET: `Accept: text/html`, with the token when the service has one.
    async fn page(&self, path: &str) -> Answer {
        let mut request = self
            .client
            .get(format!("{}{path}", self.base))
            .header("accept", "text/html,application/xhtml+xml");
        if let Some(token) = self.token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    async fn api(&self, method: reqwest::Method, path: &str) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = self.token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    async fn wait_live(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.simulator.live_connection_count() == 0 {
            assert!(
                Instant::now() < deadline,
                "live notifications never connected"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Raises an alert in Sekoia.io and waits for its finished run; returns (alert, run).
    async fn alert_run(&self) -> (Value, Value) {
        let alert = self.simulator.create_alert(Value::Null);
        let alert_uuid = alert["uuid"].as_str().expect("alert uuid").to_owned();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answer = self
                .api(
                    reqwest::Method::GET,
                    &format!("/api/v1/runs?alert={alert_uuid}"),
                )
                .await;
            let body: Value = serde_json::from_str(&answer.text).expect("runs JSON");
            if let Some(run) = body["runs"]
                .as_array()
                .and_then(|runs| runs.first())
                .filter(|run| {
                    !matches!(
                        run["status"].as_str(),
                        Some("queued" | "running" | "waiting")
                    )
                })
            {
                return (alert, run.clone());
            }
            assert!(
                Instant::now() < deadline,
                "no finished run: {}",
                answer.text
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// No inline script, style or event handler (the Content-Security-Policy forbids them).
fn assert_no_inline_code(answer: &Answer, what: &str) {
    let text = answer.text.to_ascii_lowercase();
    assert!(!text.contains(" style="), "{what}: inline style");
    assert!(!text.contains("<style"), "{what}: style element");
    for (at, _) in text.match_indices("<script") {
        assert!(
            text[at..].starts_with("<script src=\"/assets/console.js\""),
            "{what}: inline script"
        );
    }
    for handler in [
        " onclick=",
        " onload=",
        " onerror=",
        " onsubmit=",
        " onchange=",
    ] {
        assert!(!text.contains(handler), "{what}: inline handler {handler}");
    }
    assert!(!text.contains("javascript:"), "{what}: javascript: URL");
}

/// What the node panel shows for a node: its `<template>`'s content.
fn template<'a>(page: &'a str, node_id: &str) -> &'a str {
    page.split(&format!(
        "<template data-node-id=\"{node_id}\" class=\"node-detail\">"
    ))
    .nth(1)
    .and_then(|rest| rest.split("</template>").next())
    .unwrap_or_else(|| panic!("no detail of node {node_id}"))
}

/// The `<g class="node" …>` opening tag of a node in the run graph.
fn node_tag<'a>(page: &'a str, node_id: &str) -> &'a str {
    let needle = format!("<g class=\"node\" data-node-id=\"{node_id}\"");
    let start = page
        .find(&needle)
        .unwrap_or_else(|| panic!("no node {node_id} in the graph"));
    let end = page[start..].find('>').map_or(page.len(), |e| start + e);
    &page[start..end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_answers_html_with_its_selectors() {
    let service = start(None, "sekoia-console").await;
    service.wait_live().await;
    let (alert, run) = service.alert_run().await;
    let alert_uuid = alert["uuid"].as_str().expect("alert uuid");
    let short_id = alert["short_id"].as_str().expect("short id");
    let run_id = run["id"].as_i64().expect("run id");
    assert_eq!(run["status"], "succeeded", "{run}");

    // `/` goes to the runs.
    let root = service.page("/").await;
    assert_eq!(root.status, StatusCode::SEE_OTHER);
    assert_eq!(root.header("location"), "/runs");

    // Login form (open even without a token).
    let login = service.page("/login").await;
    login.assert_page("login");
    assert!(login.has("<form method=\"post\" action=\"/login\">"));
    assert!(login.has("<input name=\"token\" type=\"password\" id=\"token\""));
    assert!(login.has("<button type=\"submit\" id=\"login\">"));

    // Runs: counts, filters, the stored run.
    let runs = service.page("/runs").await;
    runs.assert_page("runs");
    assert!(runs.has("<div id=\"run-counts\">"));
    for status in [
        "queued",
        "running",
        "waiting",
        "succeeded",
        "failed",
        "cancelled",
        "dead",
    ] {
        assert!(
            runs.has(&format!("<span class=\"count\" data-status=\"{status}\">")),
            "count of {status}"
        );
    }
    assert!(
        runs.has("<span class=\"count\" data-status=\"succeeded\">1</span>"),
        "{}",
        runs.text
    );
    assert!(runs.has("<form id=\"run-filters\" method=\"get\""));
    for name in ["playbook", "status", "alert", "q", "since", "until"] {
        assert!(runs.has(&format!("name=\"{name}\"")), "filter {name}");
    }
    assert!(runs.has("<table id=\"runs\""));
    let row = format!("<tr data-run-id=\"{run_id}\" data-status=\"succeeded\">");
    assert!(runs.has(&row), "{}", runs.text);
    assert!(runs.has(&format!("<a href=\"/runs/{run_id}\">")));
    // The row names the alert by short id and title, with its urgency and Sekoia.io page.
    assert!(
        runs.has(&format!(
            "<a class=\"short-id\" href=\"/runs?alert={short_id}\""
        )),
        "{}",
        runs.text
    );
    let title = alert["title"].as_str().expect("title");
    assert!(runs.has(&format!("<span class=\"alert-title\">{title}</span>")));
    let urgency = alert["urgency"]["current_value"].as_i64().expect("urgency");
    assert!(runs.has(&format!("<span class=\"value\">{urgency}</span>")));
    let sekoia_page = format!(
        "href=\"{}/operations/alerts/{short_id}\" target=\"_blank\" rel=\"noopener noreferrer\"",
        service.simulator.urls().sekoia.trim_end_matches('/')
    );
    assert!(runs.has(&sekoia_page), "{}", runs.text);

    // Filters, and the rows alone for the script.
    let filtered = service
        .page(&format!(
            "/runs?playbook={PLAYBOOK_ID}&status=succeeded&alert={alert_uuid}"
        ))
        .await;
    filtered.assert_page("filtered runs");
    assert!(filtered.has(&row));
    let none = service.page("/runs?status=failed&playbook=&alert=").await;
    none.assert_page("no failed runs");
    assert!(!none.has(&row));
    let fragment = service
        .page(&format!("/runs?fragment=rows&playbook={PLAYBOOK_ID}"))
        .await;
    fragment.assert_page("rows");
    assert!(fragment.has(&row));
    assert!(!fragment.has("<html"), "only rows: {}", fragment.text);
    let rerun_notice = service
        .page(&format!("/runs?playbook={PLAYBOOK_ID}&rerun_of={run_id}"))
        .await;
    rerun_notice.assert_page("runs after a rerun");
    assert!(rerun_notice.has(&format!("data-rerun-of=\"{run_id}\"")));
    let bad = service.page("/runs?status=exploded").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.header("content-type").starts_with("text/html"));

    // One run: header, buttons, graph, panel data.
    let detail = service.page(&format!("/runs/{run_id}")).await;
    detail.assert_page("run");
    assert!(detail.has(PLAYBOOK_ID) && detail.has(alert_uuid) && detail.has(short_id));
    assert!(detail.has(&sekoia_page), "{}", detail.text);
    assert!(detail.has(title));
    assert!(detail.has("<button id=\"rerun-all\""));
    assert!(
        !detail.has("id=\"rerun-failed\""),
        "only failed runs rerun their failed nodes"
    );
    assert!(detail.has("<svg id=\"graph\""));
    assert_eq!(detail.text.matches("<g class=\"node\"").count(), 3);
    assert!(node_tag(&detail.text, "1").contains("data-status=\"succeeded\""));
    assert!(
        node_tag(&detail.text, "2").contains("data-status=\"not-reached\""),
        "the other trigger did not fire"
    );
    assert!(node_tag(&detail.text, "3").contains("data-status=\"succeeded\""));
    assert!(detail.has("<aside id=\"node-panel\""));
    for id in ["1", "2", "3"] {
        assert!(detail.has(&format!(
            "<template data-node-id=\"{id}\" class=\"node-detail\">"
        )));
    }
    assert!(detail.has("<h2 class=\"node-name\">Trigger Alert</h2>"));
    let ilert_node = template(&detail.text, "3");
    for part in ["requests", "arguments", "results", "logs"] {
        assert!(
            ilert_node.contains(&format!("<section data-part=\"{part}\">")),
            "part {part}: {ilert_node}"
        );
    }
    assert!(!ilert_node.contains("data-part=\"error\""), "no error");
    assert!(
        ilert_node.contains("<dd class=\"attempts\">1</dd>"),
        "{ilert_node}"
    );
    // The request ilert got and its answer, which names the ilert alert: linked.
    assert!(
        ilert_node.contains("<span class=\"method\">POST</span>"),
        "{ilert_node}"
    );
    assert!(
        ilert_node.contains(&format!(
            "<code class=\"url\">{}/********</code>",
            service.simulator.urls().ilert.trim_end_matches('/')
        )),
        "the URL is shown with the key masked: {ilert_node}"
    );
    assert!(ilert_node.contains("data-outcome=\"ok\">202 Accepted</span>"));
    assert!(ilert_node.contains("<span class=\"j-key\">incidentUrl</span>"));
    assert!(
        detail.has("target=\"_blank\" rel=\"noopener noreferrer\">Open in ilert ↗</a>"),
        "{}",
        detail.text
    );
    // Stored JSON is a tree, with its raw form for copying.
    assert!(ilert_node.contains("<details class=\"j\" open>"));
    assert!(ilert_node.contains("<pre class=\"json-raw\" hidden>"));
    assert!(detail.has("marker-end=\"url(#arrow)\""));
    assert!(
        detail.has("<span class=\"j-key\">api_key</span>: <span class=\"j-str\">********</span>"),
        "the action's secret argument is shown masked: {}",
        detail.text
    );

    // Playbooks.
    let playbooks = service.page("/playbooks").await;
    playbooks.assert_page("playbooks");
    assert!(playbooks.has("<table id=\"playbooks\">"));
    assert!(playbooks.has(&format!("<tr data-playbook-id=\"{PLAYBOOK_ID}\"")));
    assert!(playbooks.has("<span class=\"badge enabled\">"));
    assert!(playbooks.has(&format!(
        "<button class=\"toggle\" data-playbook-id=\"{PLAYBOOK_ID}\""
    )));
    let playbook = service.page(&format!("/playbooks/{PLAYBOOK_ID}")).await;
    playbook.assert_page("playbook");
    assert!(playbook.has("<svg id=\"graph\""));
    assert_eq!(playbook.text.matches("<g class=\"node\"").count(), 3);
    for id in ["1", "2", "3"] {
        assert!(node_tag(&playbook.text, id).contains("data-status=\"idle\""));
    }
    assert!(playbook.has("ilert · Trigger Alert"), "{}", playbook.text);
    assert!(
        !playbook.has("node.1.alert_uuid"),
        "node arguments are not shown"
    );

    // Disabled through the API: the badge says so.
    service
        .api(
            reqwest::Method::POST,
            &format!("/api/v1/playbooks/{PLAYBOOK_ID}/disable"),
        )
        .await;
    let disabled = service.page("/playbooks").await;
    assert!(
        disabled.has("<span class=\"badge disabled\">disabled: disabled through the API</span>"),
        "{}",
        disabled.text
    );
    assert!(disabled.has("data-enabled=\"false\""));
    service
        .api(
            reqwest::Method::POST,
            &format!("/api/v1/playbooks/{PLAYBOOK_ID}/enable"),
        )
        .await;

    // Accounts: keys, never values.
    let accounts = service.page("/accounts").await;
    accounts.assert_page("accounts");
    assert!(accounts.has("<table id=\"accounts\">"));
    assert!(accounts.has("<tr data-account=\"sekoia-console\""));
    assert!(accounts.has("data-key=\"api_key\""));
    assert!(accounts.has("data-key=\"integration_key\""));
    assert!(
        !accounts.has(&service.simulator.urls().sekoia),
        "no value, even one that is no secret"
    );

    // Modules with their UUIDs.
    let modules = service.page("/modules").await;
    modules.assert_page("modules");
    assert!(modules.has("data-module=\"ilert\""));
    assert!(modules.has(ILERT_MODULE_UUID));
    assert!(modules.has("<table class=\"triggers\">"));

    // Unknown ids and routes: HTML 404 in the layout; the API keeps JSON.
    for path in [
        "/runs/999999",
        "/runs/abc",
        "/playbooks/unknown",
        "/nowhere",
    ] {
        let answer = service.page(path).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert!(
            answer.header("content-type").starts_with("text/html"),
            "{path}"
        );
        assert!(answer.has("<nav id=\"nav\">"), "{path}: in the layout");
    }
    let api_404 = service.page("/api/v1/nothing").await;
    assert_eq!(api_404.status, StatusCode::NOT_FOUND);
    assert!(
        api_404
            .header("content-type")
            .starts_with("application/json")
    );

    // Assets are served locally with their types.
    let css = service.page("/assets/console.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.header("content-type").starts_with("text/css"));
    let icon = service.page("/assets/icon.svg").await;
    assert_eq!(icon.status, StatusCode::OK);
    assert!(icon.header("content-type").starts_with("image/svg+xml"));
    let js = service.page("/assets/console.js").await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(js.header("content-type").starts_with("text/javascript"));
    assert!(js.has("/console/events"));

    // Every page: the layout, the strict policy, no inline code.
    for (what, answer) in [
        ("login", &login),
        ("runs", &runs),
        ("run", &detail),
        ("playbooks", &playbooks),
        ("playbook", &playbook),
        ("accounts", &accounts),
        ("modules", &modules),
    ] {
        assert!(
            answer
                .header("content-security-policy")
                .contains("default-src 'self'"),
            "{what}"
        );
        assert!(answer.has("<link rel=\"stylesheet\" href=\"/assets/console.css\">"));
        for nav in ["/runs", "/playbooks", "/accounts", "/modules"] {
            assert!(
                answer.has(&format!("<a href=\"{nav}\"")),
                "{what}: nav {nav}"
            );
        }
        assert_no_inline_code(answer, what);
    }

    let bodies = service.stop().await;
    for body in &bodies {
        for secret in secrets() {
            assert!(!body.contains(&secret), "a secret leaked: {body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_shows_where_it_failed() {
    let service = start(None, "sekoia-console-failed").await;
    service.wait_live().await;
    // ilert refuses the event: a 4xx fails the node at once.
    service
        .simulator
        .inject_fault(Fault::status(Route::Ilert, 400));
    let (_, run) = service.alert_run().await;
    assert_eq!(run["status"], "failed", "{run}");
    let run_id = run["id"].as_i64().expect("run id");

    let detail = service.page(&format!("/runs/{run_id}")).await;
    detail.assert_page("failed run");
    assert!(node_tag(&detail.text, "1").contains("data-status=\"succeeded\""));
    assert!(node_tag(&detail.text, "3").contains("data-status=\"failed\""));
    assert!(detail.has("<button id=\"rerun-failed\""));
    assert!(detail.has("<button id=\"rerun-all\""));
    // The error part of the failed node holds its error.
    let template = template(&detail.text, "3");
    let error = template
        .split("<section data-part=\"error\"><h3>Error</h3><pre>")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .expect("error part");
    assert!(error != "—" && !error.is_empty(), "{template}");
    assert!(template.contains("class=\"attempts\""));

    let runs = service.page("/runs?status=failed").await;
    assert!(runs.has(&format!(
        "<tr data-run-id=\"{run_id}\" data-status=\"failed\">"
    )));
    assert!(runs.has("<span class=\"count\" data-status=\"failed\">1</span>"));
    assert!(
        !runs.has("id=\"health-problems\""),
        "one failure is not a health problem"
    );

    // Disabled by an operator: the runs page says so, and where to enable it.
    let disabled = service
        .api(
            reqwest::Method::POST,
            &format!("/api/v1/playbooks/{PLAYBOOK_ID}/disable"),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.text);
    let runs = service.page("/runs").await;
    runs.assert_page("runs with a disabled playbook");
    assert!(runs.has("<section id=\"health-problems\""), "{}", runs.text);
    assert!(runs.has("<li data-problem=\"playbook_disabled\">"));
    assert!(runs.has(&format!("href=\"/playbooks/{PLAYBOOK_ID}\"")));

    let bodies = service.stop().await;
    for body in &bodies {
        for secret in secrets() {
            assert!(!body.contains(&secret), "a secret leaked: {body}");
        }
    }
}

/// The run ids of the rows of a runs page (or of its rows fragment), newest first.
fn row_ids(page: &str) -> Vec<i64> {
    page.split("<tr data-run-id=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next()?.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_found_by_short_id_uuid_time_and_text() {
    let service = start(None, "sekoia-console-filters").await;
    service.wait_live().await;
    let (first, first_run) = service.alert_run().await;
    let (second, second_run) = service.alert_run().await;
    // A third alert whose delivery ilert refuses: its run fails with ilert's answer.
    service
        .simulator
        .inject_fault(Fault::status(Route::Ilert, 400));
    let (_, failed_run) = service.alert_run().await;
    service.simulator.clear_faults();
    let id = |run: &Value| run["id"].as_i64().expect("run id");
    let (one, two, three) = (id(&first_run), id(&second_run), id(&failed_run));
    assert_eq!(failed_run["status"], "failed", "{failed_run}");
    let short_id = first["short_id"].as_str().expect("short id");

    // By short id: its runs only; the form keeps the value; counts follow the alert.
    let by_short_id = service.page(&format!("/runs?alert={short_id}")).await;
    by_short_id.assert_page("runs of a short id");
    assert_eq!(row_ids(&by_short_id.text), [one], "{}", by_short_id.text);
    assert!(by_short_id.has(&format!(
        "<input name=\"alert\" type=\"search\" value=\"{short_id}\""
    )));
    assert!(by_short_id.has("<span class=\"count\" data-status=\"succeeded\">1</span>"));
    assert!(
        by_short_id.has(&format!(
            "href=\"/runs?alert={short_id}&amp;status=failed\""
        )),
        "the counts link to the same alert's runs: {}",
        by_short_id.text
    );
    assert!(by_short_id.has(&format!("data-query=\"alert={short_id}\"")));
    let api = service
        .api(
            reqwest::Method::GET,
            &format!("/api/v1/runs?alert={short_id}"),
        )
        .await
        .json();
    let listed = &api["runs"][0];
    assert_eq!(listed["id"], one, "{api}");
    assert_eq!(listed["alert"]["short_id"], short_id);
    assert_eq!(listed["alert"]["title"], first["title"]);
    assert_eq!(
        listed["alert"]["urgency"],
        first["urgency"]["current_value"]
    );
    // By UUID, in any case.
    let uuid = second["uuid"].as_str().expect("uuid").to_uppercase();
    let by_uuid = service
        .page(&format!("/runs?fragment=rows&alert={uuid}"))
        .await;
    assert_eq!(row_ids(&by_uuid.text), [two]);

    // By time: the range is inclusive and shows in the form as UTC.
    let queued = |run: &Value| run["queued_at_ms"].as_u64().expect("queued_at_ms");
    let window = service
        .page(&format!(
            "/runs?since={}&until={}",
            queued(&second_run),
            queued(&failed_run)
        ))
        .await;
    assert_eq!(row_ids(&window.text), [three, two]);
    assert!(
        window.has("<input name=\"since\" type=\"text\" class=\"time\" value=\"20"),
        "{}",
        window.text
    );
    let before_all = service.page("/runs?fragment=rows&until=2020-01-01").await;
    assert!(row_ids(&before_all.text).is_empty(), "{}", before_all.text);
    let since_2020 = service
        .page("/runs?fragment=rows&since=2020-01-01T00%3A00")
        .await;
    assert_eq!(row_ids(&since_2020.text), [three, two, one]);

    // By text: in what a node sent (the alert's UUID, any case), in an error, kept in the
    // form and in the link to older runs.
    let in_request = service
        .page(&format!("/runs?q={}", uuid.to_lowercase()))
        .await;
    assert_eq!(row_ids(&in_request.text), [two], "{}", in_request.text);
    assert!(in_request.has(&format!(
        "name=\"q\" type=\"search\" value=\"{}\"",
        uuid.to_lowercase()
    )));
    let in_error = service.page("/runs?fragment=rows&q=HTTP+400").await;
    assert_eq!(row_ids(&in_error.text), [three], "{}", in_error.text);
    assert!(
        in_error.has("<div class=\"row-error\""),
        "{}",
        in_error.text
    );
    let paged = service.page("/runs?q=sekoia&limit=1").await;
    assert_eq!(row_ids(&paged.text), [three]);
    assert!(
        paged.has(&format!(
            "<a id=\"older\" href=\"/runs?q=sekoia&amp;before={three}\">"
        )),
        "{}",
        paged.text
    );
    let nothing = service
        .page("/runs?fragment=rows&q=no+such+text+anywhere")
        .await;
    assert!(nothing.has("No run matches."));

    // What cannot be a filter is a 400 page saying why, as the API says it.
    for (query, needle) in [
        (
            "alert=not-an-alert",
            "`alert` must be an alert UUID or short id",
        ),
        ("since=yesterday", "`since` must be"),
        (
            "since=2025-03-02&until=2025-03-01",
            "`since` is after `until`",
        ),
    ] {
        let page = service.page(&format!("/runs?{query}")).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(page.has(needle), "{query}: {}", page.text);
        let api = service
            .api(reqwest::Method::GET, &format!("/api/v1/runs?{query}"))
            .await;
        assert_eq!(api.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(api.text.contains(needle), "{query}: {}", api.text);
    }

    let bodies = service.stop().await;
    for body in &bodies {
        for secret in secrets() {
            assert!(!body.contains(&secret), "a secret leaked: {body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_delivery_shows_its_attempts_and_every_request() {
    let service = start(None, "sekoia-console-retries").await;
    service.wait_live().await;
    // ilert fails twice, then accepts: retried in place, its retry state then forgotten.
    service
        .simulator
        .inject_fault(Fault::status(Route::Ilert, 503).times(2));
    let (_, run) = service.alert_run().await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let run_id = run["id"].as_i64().expect("run id");
    let detail = service.page(&format!("/runs/{run_id}")).await;
    detail.assert_page("retried run");
    let ilert_node = template(&detail.text, "3");
    assert!(
        ilert_node.contains("<dd class=\"attempts\">3</dd>"),
        "{ilert_node}"
    );
    assert!(ilert_node.contains("Requests sent <span class=\"muted\">(3)</span>"));
    assert_eq!(
        ilert_node
            .matches("data-outcome=\"failed\">503 Service Unavailable</span>")
            .count(),
        2,
        "{ilert_node}"
    );
    assert_eq!(
        ilert_node
            .matches("data-outcome=\"ok\">202 Accepted</span>")
            .count(),
        1
    );
    let api = service
        .api(reqwest::Method::GET, &format!("/api/v1/runs/{run_id}"))
        .await
        .json();
    let node = api["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["id"] == "3"))
        .expect("node 3");
    assert_eq!(node["attempts"], 3, "{node}");
    assert_eq!(node["exchanges"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        api["retries"],
        serde_json::json!([]),
        "the retry state is gone"
    );

    // ilert asks to come back in 3 s: the run is held, then resumed; its node keeps the
    // request of the attempt before the hold.
    service
        .simulator
        .inject_fault(Fault::status(Route::Ilert, 503).times(1).retry_after(3));
    let alert = service.simulator.create_alert(Value::Null);
    let uuid = alert["uuid"].as_str().expect("uuid");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen_waiting = false;
    let held = loop {
        let runs = service
            .api(reqwest::Method::GET, &format!("/api/v1/runs?alert={uuid}"))
            .await
            .json();
        let run = runs["runs"][0].clone();
        match run["status"].as_str() {
            Some("waiting") if !seen_waiting => {
                seen_waiting = true;
                let page = service.page(&format!("/runs/{}", run["id"])).await;
                let waiting = template(&page.text, "3");
                assert!(waiting.contains("<dt>Next attempt</dt>"), "{waiting}");
                assert!(
                    waiting.contains("<dd class=\"attempts\">1</dd>"),
                    "{waiting}"
                );
            }
            Some("succeeded") => break run,
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "the held run never ended: {runs}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(seen_waiting, "the run was never seen held");
    let page = service.page(&format!("/runs/{}", held["id"])).await;
    let resumed = template(&page.text, "3");
    assert!(
        resumed.contains("<dd class=\"attempts\">2</dd>"),
        "{resumed}"
    );
    assert!(resumed.contains("Requests sent <span class=\"muted\">(2)</span>"));
    assert!(resumed.contains("data-outcome=\"failed\">503 Service Unavailable</span>"));

    let bodies = service.stop().await;
    for body in &bodies {
        for secret in secrets() {
            assert!(!body.contains(&secret), "a secret leaked: {body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_in_flight_shows_as_running() {
    let service = start(None, "sekoia-console-running").await;
    service.wait_live().await;
    // ilert answers slowly: the run waits on its action.
    service
        .simulator
        .inject_fault(Fault::latency(Route::Ilert, 4000));
    service.simulator.create_alert(Value::Null);
    let deadline = Instant::now() + Duration::from_secs(20);
    let run_id = loop {
        let runs = service.page("/runs?status=running").await;
        runs.assert_page("running runs");
        let running = runs
            .text
            .split("<tr data-run-id=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(str::to_owned);
        if let Some(id) = running {
            assert!(runs.has("<span class=\"count\" data-status=\"running\">1</span>"));
            let detail = service.page(&format!("/runs/{id}")).await;
            if node_tag(&detail.text, "3").contains("data-status=\"running\"") {
                assert!(detail.has("data-status=\"running\""));
                assert!(node_tag(&detail.text, "1").contains("data-status=\"succeeded\""));
                assert!(!detail.has("id=\"rerun-failed\""));
                break id;
            }
        }
        assert!(Instant::now() < deadline, "no run seen in flight");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Once ilert answers, the run is done.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let detail = service.page(&format!("/runs/{run_id}")).await;
        if node_tag(&detail.text, "3").contains("data-status=\"succeeded\"") {
            assert!(detail.has("<span class=\"status\" data-status=\"succeeded\">"));
            break;
        }
        assert!(Instant::now() < deadline, "the run never finished");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_browsers_go_to_the_login_form() {
    let service = start(Some(TOKEN), "sekoia-console-token").await;
    let url = |path: &str| format!("{}{path}", service.base);
    let html = "text/html,application/xhtml+xml";

    for path in [
        "/runs",
        "/runs/1",
        "/playbooks",
        "/accounts",
        "/modules",
        "/",
    ] {
        let answer = service
            .send(service.client.get(url(path)).header("accept", html))
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(answer.header("location"), "/login", "{path}");
    }
    // API, metrics, events and non-browser requests keep the JSON 401.
    for (path, accept) in [
        ("/api/v1/runs", html),
        ("/runs", "application/json"),
        ("/console/events", "text/event-stream"),
        ("/metrics", html),
    ] {
        let answer = service
            .send(service.client.get(url(path)).header("accept", accept))
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(
            answer
                .header("content-type")
                .starts_with("application/json"),
            "{path}"
        );
    }
    // The login page and its assets are open.
    for path in ["/login", "/assets/console.css", "/assets/console.js"] {
        let answer = service
            .send(service.client.get(url(path)).header("accept", html))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
    }
    // A wrong token shows the form again; the right one opens the pages.
    let wrong = service
        .send(service.login_request("nope").header("accept", html))
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.has("id=\"login-error\"") && wrong.has("id=\"token\""));
    let login = service
        .login_request(TOKEN)
        .header("accept", html)
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("cookie pair")
        .to_owned();
    for path in ["/runs", "/playbooks", "/accounts", "/modules"] {
        let answer = service
            .send(
                service
                    .client
                    .get(url(path))
                    .header("accept", html)
                    .header("cookie", &cookie),
            )
            .await;
        answer.assert_page(path);
    }
    let events = service
        .client
        .get(url("/console/events"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("events");
    assert_eq!(events.status(), StatusCode::OK);
    drop(events);

    let bodies = service.stop().await;
    for body in &bodies {
        assert!(!body.contains(TOKEN), "the token leaked: {body}");
        for secret in secrets() {
            assert!(!body.contains(&secret), "a secret leaked: {body}");
        }
    }
}

/// Reads server-sent events until one named `runs` satisfies `wanted` and returns its
/// data; `None` when the stream ends first (a connection lasts a few seconds).
async fn next_runs_event(
    response: &mut reqwest::Response,
    buffer: &mut String,
    wanted: impl Fn(&Value) -> bool,
) -> Option<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let mut name = "";
            let mut data = String::new();
            for line in event.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    name = value.trim();
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim());
                }
            }
            if name == "runs" {
                let data: Value = serde_json::from_str(&data).expect("event data is JSON");
                if wanted(&data) {
                    return Some(data);
                }
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no matching event; got so far: {buffer}");
        match tokio::time::timeout(left, response.chunk()).await {
            Ok(Ok(Some(chunk))) => buffer.push_str(&String::from_utf8_lossy(&chunk)),
            Ok(Ok(None)) => return None,
            Ok(Err(err)) => panic!("the event stream failed: {err}"),
            Err(_) => panic!("no matching event within 30 s"),
        }
    }
}

async fn open_events(service: &Service) -> reqwest::Response {
    let response = service
        .client
        .get(format!(
            "{}/console/events?playbook={PLAYBOOK_ID}",
            service.base
        ))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("events");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("content type")
        .to_owned();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_tells_of_new_runs() {
    let service = start(None, "sekoia-console-events").await;
    service.wait_live().await;
    let mut response = open_events(&service).await;
    let mut buffer = String::new();
    let first = next_runs_event(&mut response, &mut buffer, |_| true)
        .await
        .expect("the current state first");
    assert_eq!(first["latest"], Value::Null, "no run yet: {first}");
    assert_eq!(first["counts"]["succeeded"], 0, "{first}");
    assert!(buffer.is_empty() || !buffer.contains("event: runs"));

    let (_, run) = service.alert_run().await;
    let run_id = run["id"].as_i64().expect("run id");
    // Like a browser, reconnect when a connection ends.
    let deadline = Instant::now() + Duration::from_secs(30);
    let seen = loop {
        let found = next_runs_event(&mut response, &mut buffer, |data| {
            data["latest"] == run_id && data["counts"]["succeeded"] == 1
        })
        .await;
        if let Some(found) = found {
            break found;
        }
        assert!(Instant::now() < deadline, "no event for run {run_id}");
        response = open_events(&service).await;
        buffer.clear();
    };
    assert_eq!(seen["counts"]["succeeded"], 1, "{seen}");

    // An open stream does not hold the service up when it stops.
    let _open = open_events(&service).await;
    let stopping = Instant::now();
    service.stop().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(12),
        "stopping took {:?}",
        stopping.elapsed()
    );
}

struct Idle;

impl alertsync_server::console::graph::GraphState for Idle {
    fn status(&self, _: &str) -> String {
        "idle".to_owned()
    }
}

#[test]
fn every_corpus_playbook_draws_each_node_once() {
    let Some(corpus) = corpus_dir() else { return };
    let mut drawn = 0;
    for entry in std::fs::read_dir(&corpus).expect("corpus") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let source = std::fs::read_to_string(&path).expect("read");
        let Ok(playbook) = alertsync_spl::parse_playbook(&source, &path.display().to_string())
        else {
            continue;
        };
        let svg = alertsync_server::console::graph::svg(&playbook, &Idle);
        assert_eq!(
            svg.matches("<g class=\"node\"").count(),
            playbook.nodes().len(),
            "{}",
            path.display()
        );
        for id in playbook.nodes().keys() {
            let escaped = alertsync_server::console::html::esc(id);
            assert_eq!(
                svg.matches(&format!("data-node-id=\"{escaped}\" data-status="))
                    .count(),
                1,
                "{}: node {id}",
                path.display()
            );
        }
        drawn += 1;
    }
    assert!(drawn > 0, "no playbook in {}", corpus.display());
}
