//! The web console in a real browser: headless Chromium, driven over WebDriver
//! (`chromedriver`), against `alertsync serve` and the simulated Sekoia.io and ilert.
//!
//! Two user stories, one browser at a time:
//!
//! * open the runs page, get sent to the login page, log in with the server token, watch
//!   the run of a new Sekoia.io alert appear without reloading, open it, click the ilert
//!   action in the graph and read its arguments — secrets masked — then rerun it and see the
//!   new run arrive;
//! * an SOC analyst finds an alert's runs by its short id, reads the requests ilert got
//!   (three attempts, two refused) and its answers as JSON trees, follows the banner of a
//!   playbook disabled after an error, and reads the modules laid out as tables.
//!
//! Screenshots of each page looked at are saved to `target/console-*.png`; the run detail
//! with the node panel open is copied to `docs/console-run-detail.png` (the README's
//! picture) when `ALERTSYNC_UPDATE_SCREENSHOTS=1`: a test run leaves the checkout as it was.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian: `apt-get install chromium
//! chromium-driver`). Without them the test says SKIPPED on stderr and passes, unless
//! `ALERTSYNC_REQUIRE_BROWSER=1` makes that a failure. Every wait polls the page with a
//! generous limit and, on failure, says what it expected, the page's URL and a piece of its
//! source.

mod common;

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use alertsync_sim::{Fault, Receiver, Route, SimConfig, Simulator};
use anyhow::{Context, anyhow, bail, ensure};
use common::service::ServeProcess;
use common::{ConfigDir, shipped_playbook, sim_accounts};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long a wait lasts before the test fails.
const PATIENCE: Duration = Duration::from_secs(20);
/// How long chromedriver, the browser and the service may take to start.
const STARTUP: Duration = Duration::from_secs(60);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(100);

/// The `[server] token` the console asks for.
const SERVER_TOKEN: &str = "console-login-token-51f0";
/// The Sekoia.io API key and the ilert integration key: recognisable, so that their
/// absence from the pages means something.
const SEKOIA_SECRET: &str = "sekoia-secret-key-9f2b7d41";
const ILERT_SECRET: &str = "ilert-secret-key-c83a16e5";
/// What a masked secret shows as.
const MASK: &str = "********";
/// The ilert Trigger Alert node of the shipped playbook.
const ILERT_NODE: &str = "3";
/// The shipped playbook's id and name.
const PLAYBOOK_ID: &str = "096acba7-ca84-4bc7-8fcb-8b44f5464b89";
const PLAYBOOK_NAME: &str = "Forward alerts to ilert";

/// One browser at a time: the machines that run the tests are small.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread")]
async fn console_login_live_runs_masked_node_arguments_and_rerun() {
    if !browser_available() {
        return;
    }
    let _one_browser = ONE_BROWSER.lock().await;
    let sim = simulator().await;
    let dir = console_config(&sim, "");
    let service = ServeProcess::start(&dir, &["--grace", "2"]).await;
    let driver = ChromeDriver::start().await;
    let browser = driver.open_browser().await;

    let outcome = user_story(&browser, &service.base_url(), &sim).await;
    let closed = browser.close().await;
    drop(driver);
    if let Err(err) = outcome {
        panic!("{err:#}");
    }
    closed.expect("the browser session closes");
    sim.shutdown().await;
}

/// The simulator, with the recognisable keys.
async fn simulator() -> Simulator {
    alertsync_sim::start(SimConfig {
        api_key: SEKOIA_SECRET.to_owned(),
        ilert_integration_keys: vec![ILERT_SECRET.to_owned()],
        ..SimConfig::default()
    })
    .await
    .expect("the simulator starts")
}

/// Logs in through the form the runs page sends a browser to.
async fn log_in(browser: &Client, base: &str) -> anyhow::Result<()> {
    browser.goto(&format!("{base}/runs")).await?;
    wait_for_path(browser, "/login", "the login page instead of /runs").await?;
    find_now(browser, r#"form[method="post"][action="/login"]"#).await?;
    let field = wait_for_element(browser, "input#token[name=token][type=password]").await?;
    field.send_keys(SERVER_TOKEN).await?;
    find_now(browser, "button#login").await?.click().await?;
    wait_for_path(browser, "/runs", "the runs page after logging in").await
}

/// The story, step by step; an error says which step failed and where the page was.
async fn user_story(browser: &Client, base: &str, sim: &Simulator) -> anyhow::Result<()> {
    let started = Instant::now();

    // Not logged in: the runs page sends the browser to the login form.
    log_in(browser, base).await?;
    wait_for_element(browser, "table#runs").await?;
    wait_for_element(browser, "#run-counts").await?;
    find_now(browser, "form#run-filters").await?;
    let session = browser
        .get_named_cookie(alertsync_server::api::auth::COOKIE)
        .await
        .context("the login sets the session cookie")?;
    ensure!(
        session.http_only() == Some(true),
        "the session cookie is not HttpOnly: {session:?}"
    );
    let script_cookies = browser.execute("return document.cookie;", vec![]).await?;
    ensure!(
        !script_cookies.to_string().contains(SERVER_TOKEN),
        "page scripts can read the token: {script_cookies}"
    );
    ensure!(
        browser
            .find_all(Locator::Css("tr[data-run-id]"))
            .await?
            .is_empty(),
        "no run exists yet, but the runs page lists some:\n{}",
        snippet(&browser.source().await?)
    );

    // Sekoia.io raises an alert; its run shows up on the open page by itself.
    wait_until(
        "the service to follow Sekoia.io's live notifications",
        || sim.live_connection_count() > 0,
    )
    .await?;
    sim.create_alert(Value::Null);
    let row = wait_for_element(browser, "table#runs tr[data-run-id]").await?;
    let run_id = row
        .attr("data-run-id")
        .await?
        .ok_or_else(|| anyhow!("the run row has no data-run-id"))?;
    wait_until("ilert to receive the alert", || {
        sim.requests(Receiver::Ilert)
            .iter()
            .any(|r| (200..300).contains(&r.status))
    })
    .await?;
    // The row and the counts follow the run to its end, still without reloading.
    wait_for_element(
        browser,
        &format!(r#"tr[data-run-id="{run_id}"][data-status="succeeded"]"#),
    )
    .await?;
    wait_until_page(browser, "the succeeded count to be 1", async || {
        let count = find_now(
            browser,
            r#"#run-counts span.count[data-status="succeeded"]"#,
        )
        .await?
        .text()
        .await?;
        Ok((count.trim() == "1").then_some(()))
    })
    .await?;

    // The run detail: the graph, and the ilert node's arguments with the key masked.
    let link = format!(r#"tr[data-run-id="{run_id}"] a[href="/runs/{run_id}"]"#);
    click_now(browser, &link).await?;
    wait_for_path(browser, &format!("/runs/{run_id}"), "the run detail").await?;
    wait_for_element(browser, "svg#graph").await?;
    let node = format!(r#"svg#graph g.node[data-node-id="{ILERT_NODE}"]"#);
    let ilert_node = wait_for_element(browser, &node).await?;
    let status = ilert_node.attr("data-status").await?;
    ensure!(
        status.as_deref() == Some("succeeded"),
        "the ilert node's data-status is {status:?}, expected \"succeeded\""
    );
    for id in ["1", "2"] {
        find_now(
            browser,
            &format!(r#"svg#graph g.node[data-node-id="{id}"]"#),
        )
        .await?;
    }
    ilert_node.click().await?;
    let panel = wait_for_element(browser, "aside#node-panel").await?;
    wait_until_page(browser, "the node panel to be shown", async || {
        Ok(panel.is_displayed().await?.then_some(()))
    })
    .await?;
    let name = find_now(browser, "aside#node-panel h2.node-name")
        .await?
        .text()
        .await?;
    ensure!(
        name.contains("Trigger Alert"),
        "the node panel is titled {name:?}, expected the ilert Trigger Alert node"
    );
    let arguments = find_now(
        browser,
        r#"aside#node-panel section[data-part="arguments"] .json-tree"#,
    )
    .await?
    .text()
    .await?;
    ensure!(
        arguments.contains("alert_uuid"),
        "the arguments shown lack alert_uuid:\n{arguments}"
    );
    ensure!(
        arguments.contains(MASK),
        "the arguments shown carry no masked secret ({MASK}):\n{arguments}"
    );
    for part in ["results", "logs"] {
        find_now(
            browser,
            &format!(r#"aside#node-panel section[data-part="{part}"]"#),
        )
        .await?;
    }
    let source = browser.source().await?;
    for secret in [SEKOIA_SECRET, ILERT_SECRET, SERVER_TOKEN] {
        ensure!(
            !source.contains(secret),
            "the run detail page shows the secret {secret:?}:\n{}",
            around(&source, secret)
        );
    }
    ensure!(
        browser
            .find_all(Locator::Css("button#rerun-failed"))
            .await?
            .is_empty(),
        "a succeeded run offers to rerun its failed nodes"
    );
    save_screenshot("console-run-detail.png", &browser.screenshot().await?, true)?;

    // Rerun: the browser lands on the playbook's runs, where the new run appears.
    find_now(browser, "button#rerun-all").await?.click().await?;
    wait_until_page(browser, "the runs page of the rerun", async || {
        let url = browser.current_url().await?;
        let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let has = |key: &str, value: Option<&str>| {
            query
                .iter()
                .any(|(k, v)| k == key && value.is_none_or(|value| v == value))
        };
        Ok(
            (url.path() == "/runs" && has("playbook", None) && has("rerun_of", Some(&run_id)))
                .then_some(()),
        )
    })
    .await?;
    let new_run = wait_until_page(browser, "the rerun's row", async || {
        for row in browser
            .find_all(Locator::Css("table#runs tr[data-run-id]"))
            .await?
        {
            let id = row.attr("data-run-id").await?;
            if id.as_deref().is_some_and(|id| id != run_id) {
                return Ok(id);
            }
        }
        Ok(None)
    })
    .await?;
    find_now(browser, &format!(r#"a[href="/runs/{new_run}"]"#)).await?;

    // The other pages: the playbook is listed, accounts never show their secrets.
    browser.goto(&format!("{base}/playbooks")).await?;
    let playbooks = wait_for_element(browser, "table#playbooks")
        .await?
        .text()
        .await?;
    ensure!(
        playbooks.contains("Forward alerts to ilert"),
        "the playbooks table lacks the configured playbook:\n{playbooks}"
    );
    browser.goto(&format!("{base}/accounts")).await?;
    wait_for_path(browser, "/accounts", "the accounts page").await?;
    wait_until_page(browser, "both accounts listed", async || {
        let source = browser.source().await?;
        for secret in [SEKOIA_SECRET, ILERT_SECRET, SERVER_TOKEN] {
            ensure!(
                !source.contains(secret),
                "the accounts page shows {secret:?}"
            );
        }
        Ok((source.contains("sekoia") && source.contains("ilert")).then_some(()))
    })
    .await?;
    browser.goto(&format!("{base}/modules")).await?;
    wait_for_path(browser, "/modules", "the modules page").await?;
    wait_until_page(browser, "the modules listed", async || {
        let source = browser.source().await?;
        Ok((source.contains("Trigger Alert") && source.contains("Sekoia.io")).then_some(()))
    })
    .await?;
    eprintln!(
        "console story done in {:.1} s (run {run_id}, rerun {new_run})",
        started.elapsed().as_secs_f32()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_analyst_finds_an_alert_by_short_id_reads_its_delivery_and_sees_what_needs_someone() {
    if !browser_available() {
        return;
    }
    let _one_browser = ONE_BROWSER.lock().await;
    let sim = simulator().await;
    // Quick retries; one failure to fix disables the playbook.
    let dir = console_config(
        &sim,
        "initial_delay_ms = 20\nmax_delay_ms = 1000\ndisable_after_failures = 1\n",
    );
    let service = ServeProcess::start(&dir, &["--grace", "2"]).await;
    let driver = ChromeDriver::start().await;
    let browser = driver.open_browser().await;

    let outcome = analyst_story(&browser, &service.base_url(), &sim).await;
    let closed = browser.close().await;
    drop(driver);
    if let Err(err) = outcome {
        panic!("{err:#}");
    }
    closed.expect("the browser session closes");
    sim.shutdown().await;
}

/// The rows of the runs table, as (run id, status), read in one script: the page renders
/// the table again every second, so rows read one by one could go stale in between.
async fn rows(browser: &Client) -> anyhow::Result<Vec<(String, String)>> {
    let found = script(
        browser,
        "return Array.from(document.querySelectorAll('table#runs tr[data-run-id]'))\
             .map(row => [row.dataset.runId || '', row.dataset.status || '']);",
    )
    .await?;
    Ok(serde_json::from_value(found)?)
}

/// Waits until the runs table (kept current by the page) has `count` rows, all ended.
async fn wait_for_ended_rows(
    browser: &Client,
    count: usize,
) -> anyhow::Result<Vec<(String, String)>> {
    wait_until_page(browser, &format!("{count} ended runs"), async || {
        let rows = rows(browser).await?;
        let ended = rows
            .iter()
            .all(|(_, status)| !matches!(status.as_str(), "queued" | "running" | "waiting"));
        Ok((rows.len() == count && ended).then_some(rows))
    })
    .await
}

/// The text of the element matching `selector` now, read in one script (see [`rows`]).
async fn text_of(browser: &Client, selector: &str) -> anyhow::Result<String> {
    let text = browser
        .execute(
            "const found = document.querySelector(arguments[0]); \
             return found === null ? null : found.innerText;",
            vec![Value::String(selector.to_owned())],
        )
        .await?;
    match text {
        Value::String(text) => Ok(text),
        _ => find_now(browser, selector).await.map(|_| String::new()),
    }
}

/// An attribute of the element matching `selector` now, read in one script (see [`rows`]).
async fn attribute_of(browser: &Client, selector: &str, name: &str) -> anyhow::Result<String> {
    let value = browser
        .execute(
            "const found = document.querySelector(arguments[0]); \
             return found === null ? null : found.getAttribute(arguments[1]);",
            vec![
                Value::String(selector.to_owned()),
                Value::String(name.to_owned()),
            ],
        )
        .await?;
    match value {
        Value::String(value) => Ok(value),
        _ => find_now(browser, selector).await.map(|_| String::new()),
    }
}

/// Clicks the element matching `selector`, found again when the page replaced it between
/// finding and clicking (a table the page keeps current).
async fn click_now(browser: &Client, selector: &str) -> anyhow::Result<()> {
    for _ in 0..5 {
        match find_now(browser, selector).await?.click().await {
            Err(err) if err.to_string().contains("stale element") => continue,
            clicked => return Ok(clicked?),
        }
    }
    bail!("`{selector}` kept being replaced before it could be clicked")
}

/// What a script finds on the page.
async fn script(browser: &Client, code: &str) -> anyhow::Result<Value> {
    Ok(browser.execute(code, vec![]).await?)
}

async fn analyst_story(browser: &Client, base: &str, sim: &Simulator) -> anyhow::Result<()> {
    log_in(browser, base).await?;
    wait_until(
        "the service to follow Sekoia.io's live notifications",
        || sim.live_connection_count() > 0,
    )
    .await?;

    // Two alerts: ilert refuses the first one twice (503) before accepting it.
    sim.inject_fault(Fault::status(Route::Ilert, 503).times(2));
    let retried = sim.create_alert(Value::Null);
    wait_for_ended_rows(browser, 1).await?;
    let other = sim.create_alert(Value::Null);
    let all = wait_for_ended_rows(browser, 2).await?;
    ensure!(
        all.iter().all(|(_, status)| status == "succeeded"),
        "both runs succeed in the end: {all:?}"
    );
    let short_id = retried["short_id"].as_str().context("short id")?;
    let title = retried["title"].as_str().context("title")?;
    let other_short_id = other["short_id"].as_str().context("short id")?;

    // The runs page finds the first alert by its short id, and the form keeps it.
    let field = find_now(browser, r#"#run-filters input[name="alert"]"#).await?;
    field.send_keys(short_id).await?;
    find_now(browser, r#"#run-filters button[type="submit"]"#)
        .await?
        .click()
        .await?;
    wait_until_page(browser, "the runs of the short id", async || {
        let url = browser.current_url().await?;
        let filtered = url
            .query_pairs()
            .any(|(key, value)| key == "alert" && value == short_id);
        Ok((url.path() == "/runs" && filtered).then_some(()))
    })
    .await?;
    let found = wait_until_page(browser, "one row", async || {
        let rows = rows(browser).await?;
        Ok((rows.len() == 1).then_some(rows))
    })
    .await?;
    let run_id = found[0].0.clone();
    let kept = find_now(browser, r#"#run-filters input[name="alert"]"#)
        .await?
        .prop("value")
        .await?;
    ensure!(
        kept.as_deref() == Some(short_id),
        "the alert field shows {kept:?} after filtering, not {short_id}"
    );
    let row = text_of(browser, &format!(r#"tr[data-run-id="{run_id}"]"#)).await?;
    ensure!(
        row.contains(short_id) && row.contains(title) && !row.contains(other_short_id),
        "the row names the alert by short id and title: {row}"
    );
    let sekoia = attribute_of(
        browser,
        &format!(r#"tr[data-run-id="{run_id}"] td.alert a.external"#),
        "href",
    )
    .await?;
    ensure!(
        sekoia.ends_with(&format!("/operations/alerts/{short_id}")),
        "the Sekoia.io link is {sekoia}"
    );
    save_screenshot(
        "console-runs-by-short-id.png",
        &browser.screenshot().await?,
        false,
    )?;

    // Its run: ilert's node says three attempts and shows each request and answer.
    click_now(browser, &format!(r#"a[href="/runs/{run_id}"]"#)).await?;
    wait_for_path(browser, &format!("/runs/{run_id}"), "the run").await?;
    let header = text_of(browser, "section.run-header dd.alert").await?;
    ensure!(
        header.contains(short_id) && header.contains(title) && header.contains("Open in ilert"),
        "the run header names the alert and links it in ilert: {header}"
    );
    find_now(
        browser,
        &format!(r#"svg#graph g.node[data-node-id="{ILERT_NODE}"]"#),
    )
    .await?
    .click()
    .await?;
    let attempts = wait_for_element(browser, "aside#node-panel dd.attempts")
        .await?
        .text()
        .await?;
    ensure!(
        attempts == "3",
        "the ilert node shows {attempts:?} attempts, not 3"
    );
    let exchanges = browser
        .find_all(Locator::Css(
            r#"aside#node-panel section[data-part="requests"] details.exchange"#,
        ))
        .await?;
    ensure!(
        exchanges.len() == 3,
        "{} requests shown, not 3",
        exchanges.len()
    );
    let refused = exchanges[0].text().await?;
    ensure!(
        refused.contains("503 Service Unavailable"),
        "the first request is shown refused: {refused}"
    );
    let accepted = exchanges[2].text().await?;
    ensure!(
        accepted.contains("POST") && accepted.contains("202 Accepted") && accepted.contains(MASK),
        "the last request is shown accepted, its key masked: {accepted}"
    );
    // The answer is a tree: collapsed, then shown raw.
    let answer = r#"aside#node-panel details.exchange[open] .answer .json"#;
    find_now(
        browser,
        &format!(r#"{answer} button[data-json="collapse"]"#),
    )
    .await?
    .click()
    .await?;
    let open = script(
        browser,
        &format!("return document.querySelectorAll('{answer} details.j[open]').length;"),
    )
    .await?;
    ensure!(
        open == json!(0),
        "{open} branches stay open after collapsing"
    );
    find_now(browser, &format!(r#"{answer} button[data-json="raw"]"#))
        .await?
        .click()
        .await?;
    let raw = wait_for_element(browser, &format!("{answer} pre.json-raw"))
        .await?
        .text()
        .await?;
    ensure!(
        raw.contains("\"incidentUrl\""),
        "the raw answer shows ilert's JSON: {raw}"
    );
    let source = browser.source().await?;
    for secret in [SEKOIA_SECRET, ILERT_SECRET, SERVER_TOKEN] {
        ensure!(
            !source.contains(secret),
            "the run page shows the secret {secret:?}:\n{}",
            around(&source, secret)
        );
    }
    save_screenshot(
        "console-retried-delivery.png",
        &browser.screenshot().await?,
        false,
    )?;

    // ilert refuses the next alert (400): a failure to fix, the playbook disabled after it.
    sim.inject_fault(Fault::status(Route::Ilert, 400).times(1));
    sim.create_alert(Value::Null);
    wait_until_page(
        browser,
        "the disabled-playbook banner of the runs page",
        async || {
            browser.goto(&format!("{base}/runs")).await?;
            let banner = browser
                .find_all(Locator::Css(
                    r#"#health-problems li[data-problem="playbook_disabled"]"#,
                ))
                .await?;
            match banner.first() {
                Some(line) => Ok(Some(line.text().await?)),
                None => Ok(None),
            }
        },
    )
    .await
    .and_then(|line| {
        ensure!(
            line.contains(PLAYBOOK_NAME) && line.contains("HTTP 400"),
            "the banner names the playbook and why: {line}"
        );
        Ok(())
    })?;
    browser.goto(&format!("{base}/playbooks")).await?;
    let banner = wait_for_element(
        browser,
        r#"#health-problems li[data-problem="playbook_disabled"]"#,
    )
    .await?
    .text()
    .await?;
    ensure!(
        banner.contains(PLAYBOOK_NAME),
        "the playbooks page banner: {banner}"
    );
    save_screenshot(
        "console-playbooks-disabled.png",
        &browser.screenshot().await?,
        false,
    )?;
    find_now(
        browser,
        &format!(r#"#health-problems a[href="/playbooks/{PLAYBOOK_ID}"]"#),
    )
    .await?
    .click()
    .await?;
    let why = wait_for_element(browser, "#playbook-disabled")
        .await?
        .text()
        .await?;
    ensure!(
        why.contains("This playbook is disabled") && why.contains("HTTP 400"),
        "the playbook page says why it is disabled: {why}"
    );

    // The modules: an index, and each module's actions as a table, not a flex box.
    browser.goto(&format!("{base}/modules")).await?;
    wait_for_element(browser, "#module-index a[href=\"#module-ilert\"]").await?;
    let layout = script(
        browser,
        "var t = document.querySelector('section.module table.actions'); \
         var row = t.querySelector('tbody tr'); \
         return [getComputedStyle(t).display, getComputedStyle(row).display, \
                 t.getBoundingClientRect().width >= t.parentElement.clientWidth * 0.9];",
    )
    .await?;
    ensure!(
        layout == json!(["table", "table-row", true]),
        "an actions table is laid out as {layout} (display, row display, full width)"
    );
    save_screenshot("console-modules.png", &browser.screenshot().await?, false)?;
    Ok(())
}

/// Whether the browser is installed; says SKIPPED loudly when not (or fails, when
/// `ALERTSYNC_REQUIRE_BROWSER=1`).
fn browser_available() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|path| !Path::new(path).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let need = format!(
        "the web console test needs {} — install chromium chromium-driver \
         (apt-get install chromium chromium-driver)",
        missing.join(" and ")
    );
    alertsync_testing::available_or_skip(false, "ALERTSYNC_REQUIRE_BROWSER", &need)
}

/// A configuration with the server token, both accounts on the simulator, the shipped
/// Alert Created / Alert Status Changed → ilert playbook, a store in the directory, and
/// `delivery` as the `[delivery]` table.
fn console_config(sim: &Simulator, delivery: &str) -> ConfigDir {
    ConfigDir::new(&format!(
        "[server]\ntoken = \"{SERVER_TOKEN}\"\n{accounts}\n{playbook}\n[store]\npath = \"data/alertsync.db\"\n\n[delivery]\n{delivery}",
        accounts = sim_accounts(sim, SEKOIA_SECRET, ILERT_SECRET),
        playbook = shipped_playbook("forward-alerts-to-ilert.json"),
    ))
}

/// `chromedriver` on a free loopback port, in its own process group so that it and the
/// browsers it starts are all killed when this is dropped.
struct ChromeDriver {
    child: tokio::process::Child,
    port: u16,
    /// The browser profile and chromedriver's log.
    scratch: tempfile::TempDir,
}

impl ChromeDriver {
    async fn start() -> ChromeDriver {
        let scratch = tempfile::tempdir().expect("a temporary directory");
        let port = free_port();
        let child = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                scratch.path().join("chromedriver.log").display()
            ))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let mut driver = ChromeDriver {
            child,
            port,
            scratch,
        };
        let start = Instant::now();
        while tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .is_err()
        {
            if let Ok(Some(status)) = driver.child.try_wait() {
                panic!("chromedriver exited ({status}):\n{}", driver.log());
            }
            assert!(
                start.elapsed() < STARTUP,
                "chromedriver did not listen on port {port} within {STARTUP:?}:\n{}",
                driver.log()
            );
            tokio::time::sleep(POLL).await;
        }
        driver
    }

    /// A new headless Chromium session, 1400×900.
    async fn open_browser(&self) -> Client {
        let profile = self.scratch.path().join("profile");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".to_owned(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--window-size=1400,900",
                    "--no-first-run",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let connecting = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await;
        match connecting {
            Ok(client) => client,
            Err(err) => panic!(
                "no browser session from chromedriver ({err}):\n{}",
                self.log()
            ),
        }
    }

    /// The end of chromedriver's log.
    fn log(&self) -> String {
        let text = std::fs::read_to_string(self.scratch.path().join("chromedriver.log"))
            .unwrap_or_default();
        let start = text.len().saturating_sub(4000);
        let start = (start..text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        text[start..].to_owned()
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            // The whole group: chromedriver and every browser process it started.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.start_kill();
        if std::thread::panicking() {
            eprintln!("chromedriver log (end):\n{}", self.log());
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Polls `check` on the page until it gives a value. On timeout the error names what was
/// expected, the last error seen, the page's URL and the start of its source.
async fn wait_until_page<T>(
    browser: &Client,
    what: &str,
    mut check: impl AsyncFnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let start = Instant::now();
    let mut last_error = None;
    loop {
        match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(err) => last_error = Some(err),
        }
        if start.elapsed() >= PATIENCE {
            let url = browser
                .current_url()
                .await
                .map_or_else(|err| format!("(unknown: {err})"), |url| url.to_string());
            let source = browser.source().await.unwrap_or_default();
            let last = last_error.map_or_else(String::new, |err| format!(" (last error: {err:#})"));
            bail!(
                "gave up after {PATIENCE:?} waiting for {what}{last}\npage: {url}\nsource:\n{}",
                snippet(&source)
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until an element matches `selector`.
async fn wait_for_element(
    browser: &Client,
    selector: &str,
) -> anyhow::Result<fantoccini::elements::Element> {
    wait_until_page(
        browser,
        &format!("an element matching `{selector}`"),
        async || {
            Ok(browser
                .find_all(Locator::Css(selector))
                .await?
                .into_iter()
                .next())
        },
    )
    .await
}

/// Waits until the page's path is `path`.
async fn wait_for_path(browser: &Client, path: &str, what: &str) -> anyhow::Result<()> {
    wait_until_page(browser, &format!("{what} (path {path})"), async || {
        Ok((browser.current_url().await?.path() == path).then_some(()))
    })
    .await
}

/// The element matching `selector` on the page as it is now.
async fn find_now(
    browser: &Client,
    selector: &str,
) -> anyhow::Result<fantoccini::elements::Element> {
    match browser
        .find_all(Locator::Css(selector))
        .await?
        .into_iter()
        .next()
    {
        Some(element) => Ok(element),
        None => {
            let url = browser.current_url().await?;
            let source = browser.source().await?;
            bail!(
                "no element matches `{selector}`\npage: {url}\nsource:\n{}",
                snippet(&source)
            )
        }
    }
}

/// Polls a condition outside the browser (the simulator) with the same patience.
async fn wait_until(what: &str, condition: impl Fn() -> bool) -> anyhow::Result<()> {
    let start = Instant::now();
    while !condition() {
        if start.elapsed() >= PATIENCE {
            bail!("gave up after {PATIENCE:?} waiting for {what}");
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}

/// The body of a page source, cut to a readable length.
fn snippet(source: &str) -> String {
    const LIMIT: usize = 3000;
    let body = source.find("<body").map_or(source, |at| &source[at..]);
    match body.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &body[..cut]),
        None => body.to_owned(),
    }
}

/// The text around `needle` in `source`.
fn around(source: &str, needle: &str) -> String {
    let Some(at) = source.find(needle) else {
        return String::new();
    };
    let start = (at.saturating_sub(300)..=at)
        .find(|i| source.is_char_boundary(*i))
        .unwrap_or(at);
    let end = (at + needle.len() + 300).min(source.len());
    let end = (end..=source.len())
        .find(|i| source.is_char_boundary(*i))
        .unwrap_or(source.len());
    source[start..end].to_owned()
}

/// Writes the screenshot `name` to the target directory and, for `readme`, to the README's
/// picture when `ALERTSYNC_UPDATE_SCREENSHOTS=1`.
fn save_screenshot(name: &str, png: &[u8], readme: bool) -> anyhow::Result<()> {
    ensure!(
        png.starts_with(b"\x89PNG"),
        "the screenshot is not a PNG image"
    );
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .context("the workspace directory")?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_relative() {
                workspace.join(dir)
            } else {
                dir
            }
        })
        .unwrap_or_else(|| workspace.join("target"));
    let mut paths = vec![target.join(name)];
    if readme && std::env::var("ALERTSYNC_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        paths.push(workspace.join("docs").join(name));
    }
    for path in paths {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("screenshot: {}", path.display());
    }
    Ok(())
}
