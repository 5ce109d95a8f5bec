//! The Sekoia.io triggers that are not about one alert change, under `serve` against the
//! simulator: the case triggers (live `case` notifications, their filters applied to the
//! case read from Sekoia.io), the feed triggers (an intelligence feed read page by page,
//! resumed from its cursor after a restart), and Alert Events Threshold (a run only once
//! enough new events gathered on an alert).

mod common;

use std::time::Duration;

use alertsync_sim::{Receiver, Simulator};
use common::delivery::{
    PATIENCE, UNLIMITED, delivery, live_connected, service_dir, wait_for_async,
};
use common::service::{ServeProcess, http, run_detail};
use common::*;
use serde_json::{Value, json};

const SEKOIA: &str = "92d8bb47-7c51-445d-81de-ae04edbb6f0a";
const UTILS: &str = "07cce76b-a319-40ee-a0cf-1ba433431e21";
const READ_JSON_FILE: &str = "ecedfa52-7033-4ea8-9c3b-93ad34295f87";

/// A playbook `id`: one Sekoia.io trigger with `arguments`, then, if `read` names one of
/// the trigger's outputs, Read JSON File of the file it names (selecting `jsonpath`).
fn playbook(id: &str, trigger: &str, arguments: Value, read: Option<(&str, &str)>) -> String {
    let outputs = if read.is_some() {
        json!(["1"])
    } else {
        json!([])
    };
    let mut nodes = json!({
        "0": {"name": "trigger", "type": "trigger", "module_uuid": SEKOIA, "trigger_uuid": trigger,
              "arguments": arguments, "outputs": {"default": outputs}}
    });
    if let Some((file, jsonpath)) = read {
        nodes["1"] = json!({"name": "read", "type": "action", "module_uuid": UTILS,
            "action_uuid": READ_JSON_FILE, "outputs": {"default": []},
            "arguments": {"file_path": format!("{{{{ node.0.{file} }}}}"), "jsonpath": jsonpath}});
    }
    json!({"name": id, "uuid": id, "nodes": nodes}).to_string()
}

/// A service running `playbooks` (id → playbook text).
fn service_with(sim: &Simulator, playbooks: &[(&str, String)]) -> ConfigDir {
    let entries: String = playbooks
        .iter()
        .map(|(id, _)| format!("[[playbook]]\nfile = \"{id}.json\"\n\n"))
        .collect();
    let dir = service_dir(sim, &entries, &delivery(2, UNLIMITED));
    for (id, text) in playbooks {
        dir.write(&format!("{id}.json"), text);
    }
    dir
}

/// The runs of a playbook, oldest first, each with its nodes (a run its trigger's filter
/// or threshold discards is gone once it is looked at).
async fn runs_of(service: &ServeProcess, playbook: &str) -> Vec<Value> {
    let path = format!("/api/v1/runs?playbook={playbook}&limit=100");
    let (status, body) = http(&service.address, "GET", &path, None, "").await;
    assert_eq!(status, 200, "{body}");
    let mut runs = Vec::new();
    for summary in body["runs"].as_array().into_iter().flatten().rev() {
        let id = summary["id"].as_i64().expect("a run id");
        let (status, detail) = run_detail(&service.address, id).await;
        match status {
            200 => runs.push(detail),
            404 => {}
            _ => panic!("run {id}: {status} {detail}"),
        }
    }
    runs
}

/// Waits until `playbook` has `count` runs that ended, and answers them.
async fn ended_runs(service: &ServeProcess, playbook: &str, count: usize) -> Vec<Value> {
    wait_for_async(
        &format!("{count} ended runs of {playbook}"),
        PATIENCE,
        || async {
            let runs = runs_of(service, playbook).await;
            // Runs of events stored together run side by side: one still running (or about
            // to be discarded by its filter) may come before one that ended.
            let ended: Vec<Value> = runs
                .iter()
                .filter(|r| matches!(r["run"]["status"].as_str(), Some("succeeded" | "failed")))
                .cloned()
                .collect();
            if ended.len() >= count {
                Ok(ended)
            } else {
                Err(format!("runs so far: {runs:#?}"))
            }
        },
    )
    .await
}

/// The output of node `id` in a run.
fn results<'a>(run: &'a Value, id: &str) -> &'a Value {
    run["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["id"] == id))
        .map(|n| &n["results"])
        .unwrap_or_else(|| panic!("node {id} in {run:#}"))
}

/// A call to the simulated Sekoia.io REST API with the test key.
async fn sekoia(sim: &Simulator, method: reqwest::Method, path: &str, body: Value) -> Value {
    let url = format!("{}/v1/{path}", sim.urls().sekoia);
    let answer = reqwest::Client::new()
        .request(method, &url)
        .bearer_auth(SEKOIA_KEY)
        .json(&body)
        .send()
        .await
        .expect("the simulator answers");
    assert!(answer.status().is_success(), "{url}: {}", answer.status());
    answer.json().await.expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_notifications_start_the_case_triggers_that_their_filters_let_through() {
    let sim = simulator().await;
    let dir = service_with(
        &sim,
        &[
            (
                "case-created",
                playbook(
                    "case-created",
                    "408814cf-993b-43a6-ae9d-f6d9a9cd762f",
                    json!({"mode_filter": "manual"}),
                    None,
                ),
            ),
            (
                "case-updated",
                playbook(
                    "case-updated",
                    "d420e76e-c4e7-42fd-ba15-a6b6df6a2cb3",
                    json!({"case_uuids_filter": ["CAwatched"]}),
                    None,
                ),
            ),
            (
                "case-alerts",
                playbook(
                    "case-alerts",
                    "93a34848-06f3-4ed9-b2c9-e5fdaf1a8157",
                    json!({}),
                    None,
                ),
            ),
        ],
    );
    let service = ServeProcess::start(&dir, &[]).await;
    live_connected(&sim).await;

    use reqwest::Method;
    let automatic = sekoia(
        &sim,
        Method::POST,
        "sic/cases",
        json!({"title": "raised by a rule", "manual": false}),
    )
    .await;
    let watched = sekoia(
        &sim,
        Method::POST,
        "sic/cases",
        json!({"title": "Phishing wave", "short_id": "CAwatched", "description": "three mailboxes"}),
    )
    .await;
    let watched_uuid = watched["uuid"].as_str().expect("a case uuid");
    let other_uuid = automatic["uuid"].as_str().expect("a case uuid");
    sekoia(
        &sim,
        Method::PATCH,
        &format!("sic/cases/{other_uuid}"),
        json!({"status_uuid": "closed"}),
    )
    .await;
    sekoia(
        &sim,
        Method::PATCH,
        &format!("sic/cases/{watched_uuid}"),
        json!({"title": "Phishing wave, contained", "tags": ["mail"]}),
    )
    .await;
    let alert = sim.create_alert(Value::Null);
    let alert_uuid = alert["uuid"].as_str().expect("an alert uuid");
    sekoia(
        &sim,
        Method::PATCH,
        &format!("sic/cases/{watched_uuid}/alerts"),
        json!({"alerts": [alert_uuid]}),
    )
    .await;

    let created = ended_runs(&service, "case-created", 1).await;
    let event = results(&created[0], "0");
    assert_eq!(
        event["uuid"], watched_uuid,
        "the automatic case is filtered out"
    );
    assert_eq!(event["short_id"], "CAwatched");
    assert_eq!(event["mode"], "manual");
    assert_eq!(event["title"], "Phishing wave");
    assert_eq!(event["description"], "three mailboxes");
    assert!(
        event["tags"].is_array(),
        "as the case is when the run reads it: {event}"
    );

    let updated = ended_runs(&service, "case-updated", 1).await;
    let event = results(&updated[0], "0");
    assert_eq!(
        event["uuid"], watched_uuid,
        "only the case the filter names"
    );
    assert_eq!(event["title"], "Phishing wave, contained");
    assert_eq!(event["tags"], json!(["mail"]));
    assert!(event["updated_at"].is_string(), "{event}");
    assert!(
        event.get("status_uuid").is_none(),
        "only what changed: {event}"
    );

    let alerts = ended_runs(&service, "case-alerts", 1).await;
    let event = results(&alerts[0], "0");
    assert_eq!(event["uuid"], watched_uuid);
    assert_eq!(event["added_alerts"], json!([alert_uuid]));
    assert_eq!(event["deleted_alerts"], json!([]));

    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(runs_of(&service, "case-created").await.len(), 1);
    assert_eq!(runs_of(&service, "case-updated").await.len(), 1);
    let case_reads = sim
        .requests(Receiver::Sekoia)
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains("/sic/cases/"))
        .count();
    assert!(
        case_reads >= 4,
        "each case change reads its case ({case_reads})"
    );
}

/// A STIX indicator of the test feed.
fn indicator(n: u32) -> Value {
    json!({"type": "indicator", "id": format!("indicator--{n:08}-0000-4000-8000-000000000000"),
           "modified": format!("2026-11-{:02}T00:00:00Z", n.min(28)), "pattern": format!("[ipv4-addr:value = '198.51.100.{n}']"),
           "x_inthreat_sources_refs": ["identity--source-one"]})
}

/// The ids of the objects a feed run read from its page's file.
fn page_ids(run: &Value) -> Vec<Value> {
    results(run, "1")["output"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|object| object["id"].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_triggers_read_their_feed_page_by_page_and_resume_after_a_restart() {
    const FEED: &str = "c1b6a8e4-feed-4e5c-9d1f-3a7b2c0e9f11";
    let sim = simulator().await;
    sim.add_feed_objects(
        "sources",
        vec![json!({"type": "identity", "id": "identity--source-one", "name": "Partner CERT", "confidence": 80})],
    );
    sim.add_feed_objects(
        FEED,
        vec![
            indicator(1),
            json!({"type": "malware", "id": "malware--0001", "modified": "2026-11-02T00:00:00Z"}),
            indicator(2),
            json!({"type": "indicator", "id": "indicator--revoked", "revoked": true}),
            indicator(3),
        ],
    );
    let dir = service_with(
        &sim,
        &[(
            "iocs",
            playbook(
                "iocs",
                "9859df5d-a743-41e9-ad6c-cca078b3e054",
                json!({"feed_id": FEED, "batch_size_limit": 2, "resolve_sources": true}),
                Some(("stix_objects_path", "$")),
            ),
        )],
    );
    let mut service = ServeProcess::start(&dir, &[]).await;

    let runs = ended_runs(&service, "iocs", 2).await;
    let read: Vec<Vec<Value>> = runs.iter().map(page_ids).collect();
    assert_eq!(
        read,
        [
            vec![indicator(1)["id"].clone(), indicator(2)["id"].clone()],
            vec![indicator(3)["id"].clone()]
        ],
        "a run per page, indicators only, none revoked"
    );
    let first_object = &results(&runs[0], "1")["output"][0];
    assert_eq!(
        first_object["x_inthreat_sources"],
        json!([{"name": "Partner CERT", "confidence": 80}]),
        "sources resolved"
    );
    let path = results(&runs[0], "0")["stix_objects_path"]
        .as_str()
        .expect("stix_objects_path")
        .to_owned();
    assert!(
        path.starts_with("feeds/") && path.ends_with("/stix_objects.json"),
        "{path}"
    );
    let files = dir.dir.path().join("data/files");
    assert!(
        files.join("feeds").is_dir(),
        "pages are written under {files:?}"
    );
    assert!(
        !files.join(&path).exists(),
        "the page's file goes with its run"
    );

    let reads: Vec<_> = sim
        .requests(Receiver::Sekoia)
        .into_iter()
        .filter(|r| r.path.contains("/inthreat/collections/"))
        .collect();
    let first = &reads[0];
    assert!(
        first
            .path
            .contains(&format!("/v2/inthreat/collections/{FEED}/objects")),
        "{first:?}"
    );
    let query = |r: &alertsync_sim::RecordedRequest, key: &str| {
        let url = reqwest::Url::parse(&format!("http://sim/?{}", r.query)).expect("a query");
        url.query_pairs()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(query(first, "match[type]").as_deref(), Some("indicator"));
    assert_eq!(query(first, "include_revoked").as_deref(), Some("false"));
    assert_eq!(query(first, "limit").as_deref(), Some("2"));
    assert_eq!(query(first, "cursor"), None);
    assert!(
        query(&reads[1], "cursor").is_some(),
        "the second page follows the cursor"
    );
    let sources = sim
        .requests(Receiver::Sekoia)
        .into_iter()
        .find(|r| r.path.ends_with("/v2/inthreat/objects"))
        .expect("the sources are resolved");
    assert_eq!(
        query(&sources, "match[id]").as_deref(),
        Some("identity--source-one")
    );

    service.terminate().await;
    sim.add_feed_objects(FEED, vec![indicator(4)]);
    service.restart().await;
    let runs = ended_runs(&service, "iocs", 3).await;
    assert_eq!(
        page_ids(&runs[2]),
        [indicator(4)["id"].clone()],
        "after a restart, only what is new"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        runs_of(&service, "iocs").await.len(),
        3,
        "no page read twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_events_threshold_starts_a_run_once_enough_new_events_gathered() {
    let sim = simulator().await;
    let dir = service_with(
        &sim,
        &[(
            "threshold",
            playbook(
                "threshold",
                "83d7092a-0036-4adb-83c1-087265c57659",
                json!({"event_count_threshold": 10, "enable_time_threshold": false,
                       "fetch_events": true, "max_events_per_fetch": 50}),
                Some(("events_file_path", "$")),
            ),
        )],
    );
    let service = ServeProcess::start(&dir, &[]).await;
    live_connected(&sim).await;
    let alert = sim.create_alert(json!({"similar": 0}));
    let uuid = alert["uuid"].as_str().expect("uuid");

    sim.add_occurrences(uuid, 4).expect("4 events");
    sim.add_occurrences(uuid, 7).expect("7 events");
    let runs = ended_runs(&service, "threshold", 1).await;
    let event = results(&runs[0], "0");
    assert_eq!(event["alert_uuid"], uuid);
    assert_eq!(event["events_count"], 11);
    let context = &event["trigger_context"];
    assert_eq!(context["trigger_type"], "alert_events_threshold");
    // The run reads the alert when it runs: it may see all 11 events at its first look.
    let reason = context["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("volume_threshold"), "{reason}");
    assert_eq!(
        (
            context["new_events"].as_u64(),
            context["previous_count"].as_u64()
        ),
        (Some(11), Some(0))
    );
    assert!(
        event["file_path"]
            .as_str()
            .is_some_and(|p| p.ends_with("/alert.json"))
    );
    assert!(event["fetched_events_count"].is_u64(), "{event}");
    assert!(
        results(&runs[0], "1")["output"].is_array(),
        "the events file holds the events"
    );

    sim.add_occurrences(uuid, 3).expect("3 events");
    sim.add_occurrences(uuid, 10).expect("10 events");
    let runs = ended_runs(&service, "threshold", 2).await;
    let context = &results(&runs[1], "0")["trigger_context"];
    assert_eq!(
        (
            context["new_events"].as_u64(),
            context["previous_count"].as_u64()
        ),
        (Some(13), Some(11))
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        runs_of(&service, "threshold").await.len(),
        2,
        "3 new events start no run"
    );
    let searches = sim
        .requests(Receiver::Sekoia)
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/events/search/jobs"))
        .count();
    assert_eq!(searches, 2, "one event search per run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_events_threshold_starts_a_run_for_events_that_waited_the_time_window() {
    use alertsync_store::{Checkpoint, SqliteStore, Store};
    const HOUR_MS: u64 = 3_600_000;
    let sim = simulator().await;
    let alert = sim.create_alert(json!({"similar": 5}));
    let uuid = alert["uuid"].as_str().expect("uuid");
    let dir = service_with(
        &sim,
        &[(
            "waited",
            playbook(
                "waited",
                "83d7092a-0036-4adb-83c1-087265c57659",
                json!({"event_count_threshold": 100, "time_window_hours": 1}),
                None,
            ),
        )],
    );
    // What the trigger kept after an earlier look: 3 events waiting since two hours ago.
    let waiting_since = alertsync_engine::now_ms() - 2 * HOUR_MS;
    {
        let store = SqliteStore::open(dir.dir.path().join("data/alertsync.db"))
            .await
            .expect("the store opens");
        let state = json!({"last_triggered_count": 0, "current_count": 3,
                           "pending_since_ms": waiting_since});
        store
            .set_checkpoint(Checkpoint::new(
                format!("threshold/waited/0/{uuid}"),
                state.to_string(),
            ))
            .await
            .expect("the state is kept");
    }
    let service = ServeProcess::start(&dir, &[]).await;

    let runs = ended_runs(&service, "waited", 1).await;
    let event = results(&runs[0], "0");
    assert_eq!(event["alert_uuid"], uuid);
    let context = &event["trigger_context"];
    assert_eq!(context["reason"], "time_threshold");
    assert_eq!(
        context["new_events"], 5,
        "as many as the alert counts when the run reads it"
    );
    assert_eq!(context["time_window_hours"], 1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        runs_of(&service, "waited").await.len(),
        1,
        "one run per waiting spell"
    );
}
