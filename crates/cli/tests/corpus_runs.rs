//! The published community playbooks whose modules alertsync implements, run end to end
//! with `alertsync run` against the simulator: for a realistic alert chosen so that the
//! playbook's conditions take their interesting branch, each request the simulated services
//! receive is what the playbook's templates build.
//!
//! Each playbook is copied into the test's directory with its external URLs pointed at the
//! simulator's sink (keeping their paths) and its Sekoia.io `base_url` / placeholder
//! `api_key` arguments pointed at the simulated Sekoia.io; accounts come from a temporary
//! configuration. The corpus is read from `../shared/corpus/spl` next to the workspace; when
//! it is absent the tests are skipped, unless `ALERTSYNC_REQUIRE_CORPUS=1`.

mod common;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use alertsync_sim::{Fault, Receiver, RecordedRequest, Route, Simulator};
use alertsync_testing::corpus_dir;
use common::*;
use serde_json::{Value, json};

const REJECT_ACTION: &str = "ade85d7b-7507-4026-bfc6-cc006d10ddac";
const PENDING: &str = "2efc4930-1442-4abb-acf2-58ba219a4fd0";

/// `https://host/path...` → `<sink>/path...`; anything else is left alone.
fn at_sink(url: &str, sink: &str) -> String {
    let Some((_, after_scheme)) = url.split_once("://") else {
        return url.to_owned();
    };
    let path = after_scheme
        .find('/')
        .map_or("/", |start| &after_scheme[start..]);
    format!("{sink}{path}")
}

/// A simulator, a configuration with its accounts, and the corpus playbooks copied to use them.
struct Scenario {
    sim: Simulator,
    config: ConfigDir,
    corpus: PathBuf,
}

impl Scenario {
    async fn new(corpus: PathBuf) -> Self {
        let sim = simulator().await;
        let config = ConfigDir::new(&format!(
            r#"
[[account]]
name = "sekoia"
module = "sekoia.io"
base_url = "{sekoia}"
api_key = "{SEKOIA_KEY}"

[[account]]
name = "mattermost"
module = "mattermost"
hook_url = "{mattermost}"

[delivery]
initial_delay_ms = 5
max_delay_ms = 20
"#,
            sekoia = sim.urls().sekoia,
            mattermost = sim.urls().mattermost,
        ));
        Self {
            sim,
            config,
            corpus,
        }
    }

    /// The corpus playbook `name`, copied with its URLs and Sekoia.io access redirected.
    fn playbook(&self, name: &str) -> PathBuf {
        let source = self.corpus.join(format!("{name}.json"));
        let text = std::fs::read_to_string(&source).expect("the corpus playbook is readable");
        let mut doc: Value = serde_json::from_str(&text).expect("the corpus playbook is JSON");
        let urls = self.sim.urls();
        let nodes = doc["nodes"]
            .as_object_mut()
            .expect("the playbook has nodes");
        for node in nodes.values_mut() {
            let Some(arguments) = node.get_mut("arguments").and_then(Value::as_object_mut) else {
                continue;
            };
            if let Some(Value::String(url)) = arguments.get_mut("url") {
                *url = at_sink(url, &urls.sink);
            }
            if let Some(Value::String(base_url)) = arguments.get_mut("base_url") {
                *base_url = urls.sekoia.clone();
            }
            if let Some(Value::String(api_key)) = arguments.get_mut("api_key")
                && api_key == "changeme"
            {
                *api_key = SEKOIA_KEY.to_owned();
            }
        }
        self.config.write(&format!("{name}.json"), &doc.to_string())
    }

    /// `alertsync run PLAYBOOK --alert <uuid> --trigger TRIGGER --format json`.
    async fn run_for_alert(&self, playbook: &Path, alert: &Value, trigger: &str) -> (i32, Value) {
        let uuid = alert["uuid"].as_str().expect("the alert has a uuid");
        self.run(playbook, &["--alert", uuid, "--trigger", trigger])
            .await
    }

    /// `alertsync run PLAYBOOK --event <event> --format json`.
    async fn run_for_event(&self, playbook: &Path, event: &Value) -> (i32, Value) {
        let event_file = self.config.write("event.json", &event.to_string());
        self.run(playbook, &["--event", path_arg(&event_file)])
            .await
    }

    async fn run(&self, playbook: &Path, extra: &[&str]) -> (i32, Value) {
        let mut args = vec!["run", path_arg(playbook), "--format", "json"];
        args.extend_from_slice(extra);
        let out = alertsync(self.config.dir.path(), &args).await;
        let record = stdout_json(&out);
        assert!(
            !stdout(&out).contains(SEKOIA_KEY) && !stderr(&out).contains(SEKOIA_KEY),
            "the API key stays out of the output"
        );
        (exit_code(&out), record)
    }

    fn received(&self, receiver: Receiver) -> Vec<RecordedRequest> {
        self.sim.requests(receiver)
    }

    /// What the playbook changed in Sekoia.io: every request but reads and event searches.
    fn sekoia_changes(&self) -> Vec<RecordedRequest> {
        self.received(Receiver::Sekoia)
            .into_iter()
            .filter(|r| r.method != "GET" && !r.path.contains("/events/search/"))
            .collect()
    }

    /// The terms of the event searches the playbook started.
    fn search_terms(&self) -> Vec<Value> {
        self.received(Receiver::Sekoia)
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/events/search/jobs"))
            .map(|r| r.body["term"].clone())
            .collect()
    }

    fn alert(&self, alert: &Value) -> Value {
        let uuid = alert["uuid"].as_str().expect("the alert has a uuid");
        self.sim.alert(uuid).expect("the alert exists")
    }
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// The records of node `id`, in the order they ran (one per loop iteration).
fn runs_of<'a>(record: &'a Value, id: &str) -> Vec<&'a Value> {
    record["nodes"]
        .as_array()
        .map(|nodes| nodes.iter().filter(|n| n["id"] == id).collect())
        .unwrap_or_default()
}

fn node<'a>(record: &'a Value, id: &str) -> &'a Value {
    runs_of(record, id)
        .first()
        .copied()
        .unwrap_or_else(|| panic!("node {id} ran: {record:#}"))
}

fn succeeded(code: i32, record: &Value) {
    assert_eq!(
        (code, &record["status"]),
        (0, &json!("succeeded")),
        "{record:#}"
    );
}

/// An `urgency` object for alert overrides.
fn urgency(value: u64) -> Value {
    json!({"severity": value, "value": value, "criticity": 50, "current_value": value,
           "display": if value >= 80 { "Urgent" } else { "Major" }})
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{pointer} is text in {value:#}"))
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// Values in order of first appearance, as Jinja's `unique` keeps them.
fn unique(values: Vec<String>) -> Vec<String> {
    let mut kept: Vec<String> = Vec::new();
    for value in values {
        if !kept.contains(&value) {
            kept.push(value);
        }
    }
    kept
}

#[tokio::test(flavor = "multi_thread")]
async fn mattermost_notification_posts_the_alert_with_the_pretext_template() {
    let Some(corpus) = corpus_dir() else { return };
    let s = Scenario::new(corpus).await;
    let alert = s.sim.create_alert(json!({"urgency": urgency(85)}));
    let playbook = s.playbook("mattermost_notification_on_alert");

    let (code, record) = s.run_for_alert(&playbook, &alert, "0").await;

    succeeded(code, &record);
    let posted = s.received(Receiver::Mattermost);
    assert_eq!(posted.len(), 1);
    assert_eq!(
        (posted[0].method.as_str(), posted[0].path.as_str()),
        ("POST", "/hooks/sim-hook")
    );
    let attachment = &posted[0].body["attachments"][0];
    assert_eq!(
        attachment["pretext"],
        format!("New alert: {}. Urgency: 85", text(&alert, "/rule/name"))
    );
    assert_eq!(attachment["title"], alert["title"]);
    let fields = attachment["fields"].as_array().unwrap();
    assert!(fields.contains(&json!({"title": "Source", "value": alert["source"], "short": true})));
    assert!(fields.contains(&json!({"title": "Urgency", "value": "Urgent - 85", "short": true})));
    let reads = s.received(Receiver::Sekoia);
    assert!(
        reads
            .iter()
            .all(|r| r.method == "GET" && r.path.ends_with(text(&alert, "/uuid")))
    );
    assert_eq!(
        reads.len(),
        3,
        "the trigger event's read (`--alert`), Retrieve alert, then the notification's own"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn jira_ticket_is_requested_with_the_priority_of_the_urgency_range() {
    let Some(corpus) = corpus_dir() else { return };
    let s = Scenario::new(corpus).await;
    let alert = s.sim.create_alert(json!({"urgency": urgency(60)}));
    let playbook = s.playbook("create_jira_ticket_on_alert");
    s.sim.inject_fault(Fault {
        body: Some(json!({"id": "10042", "key": "SOC-42"})),
        ..Fault::status(Route::Sink, 201)
    });

    let (code, record) = s.run_for_alert(&playbook, &alert, "28").await;

    let sent = s.received(Receiver::Sink);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].method.as_str(), sent[0].path.as_str()),
        ("POST", "/rest/api/3/issue/")
    );
    assert_eq!(sent[0].headers["authorization"], "Basic _to_update_");
    assert_eq!(
        sent[0].body,
        json!({"fields": {
            "labels": [
                format!("alertType:{}", text(&alert, "/alert_type/value")),
                format!("categoryType:{}", text(&alert, "/alert_type/category")),
            ],
            "project": {"id": "_to_update_"},
            "summary": alert["rule"]["name"],
            "priority": {"name": "P2"},
            "issuetype": {"id": "_to_update_"},
            "components": [],
        }})
    );
    assert_eq!(node(&record, "8")["outputs"], json!(["P2"]));
    // The published playbook checks the answer of a node `18` it does not have (the request
    // is node 34): the check fails as Jinja fails on an attribute of an undefined value.
    assert_eq!((code, &record["status"]), (1, &json!("failed")));
    let check = node(&record, "21");
    assert_eq!(check["status"], "failed");
    assert!(
        check["error"]
            .as_str()
            .unwrap()
            .contains("node.18.status_code"),
        "{check:#}"
    );
    assert!(
        s.sekoia_changes().is_empty(),
        "no comment after the failed check"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn crowdsec_enrichment_comments_each_attack_category_of_the_source_address() {
    let Some(corpus) = corpus_dir() else { return };
    let s = Scenario::new(corpus).await;
    let alert = s.sim.create_alert(json!({"source": "198.51.100.23"}));
    let playbook = s.playbook("CrowdSec_alert_enrichment");
    let categories = [
        "IP has been reported for performing HTTP vulnerability scanning",
        "IP has been reported for performing brute force on SSH",
    ];
    s.sim.inject_fault(Fault {
        body: Some(json!({
            "ip": "198.51.100.23",
            "attack_categories": [
                {"name": "http:scan", "label": "HTTP Scan", "description": categories[0]},
                {"name": "ssh:bruteforce", "label": "SSH Bruteforce", "description": categories[1]}
            ]
        })),
        ..Fault::status(Route::Sink, 200)
    });

    let (code, record) = s.run_for_alert(&playbook, &alert, "0").await;

    succeeded(code, &record);
    let short_id = text(&alert, "/short_id");
    assert_eq!(
        s.search_terms(),
        [json!(format!("alert_short_ids: \"{short_id}\""))]
    );
    let sent = s.received(Receiver::Sink);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].method.as_str(), sent[0].path.as_str()),
        ("GET", "/v1/smoke/198.51.100.23")
    );
    assert_eq!(sent[0].headers["x-api-key"], "YOUR API KEY HERE");
    let comments = s.sekoia_changes();
    let comment_path = format!("/v1/sic/alerts/{}/comments", text(&alert, "/uuid"));
    let posted: Vec<(&str, &str, &Value)> = comments
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str(), &r.body))
        .collect();
    assert_eq!(
        posted,
        [
            (
                "POST",
                comment_path.as_str(),
                &json!({"content": categories[0], "author": "CrowdSec Smoke DB Playbook"})
            ),
            (
                "POST",
                comment_path.as_str(),
                &json!({"content": categories[1], "author": "CrowdSec Smoke DB Playbook"})
            ),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn abuseipdb_enrichment_checks_the_first_address_of_the_stix_bundle() {
    let Some(corpus) = corpus_dir() else { return };
    let s = Scenario::new(corpus).await;
    let alert = s
        .sim
        .create_alert(json!({"source": "198.51.100.77", "target": "10.0.8.9"}));
    let playbook = s.playbook("Enrich_alerts_with_AbuseIPDB");
    s.sim.inject_fault(Fault {
        body: Some(json!({"data": {"ipAddress": "198.51.100.77", "abuseConfidenceScore": 87,
                                   "countryCode": "NL", "isp": "Example Hosting", "domain": "example.net",
                                   "usageType": "Data Center/Web Hosting/Transit", "isWhitelisted": false,
                                   "lastReportedAt": "2026-07-01T10:00:00+00:00"}})),
        ..Fault::status(Route::Sink, 200)
    });

    let (code, record) = s.run_for_alert(&playbook, &alert, "0").await;

    assert_eq!(node(&record, "1")["results"]["output"][0], "198.51.100.77");
    let sent = s.received(Receiver::Sink);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].method.as_str(), sent[0].path.as_str()),
        ("GET", "/api/v2/check")
    );
    assert_eq!(sent[0].query, "ipAddress=198.51.100.77&maxAgeInDays=90");
    assert_eq!(sent[0].headers["key"], "AbuseIPDB_API_KEY");
    assert_eq!(sent[0].headers["accept"], "application/json");
    // The published comment reads a node `9` the playbook does not have.
    assert_eq!((code, &record["status"]), (1, &json!("failed")));
    assert!(
        node(&record, "7")["error"]
            .as_str()
            .unwrap()
            .contains("node.9")
    );
    assert!(s.sekoia_changes().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn hostnames_enrichment_comments_the_distinct_hosts_of_the_alert_events() {
    let Some(corpus) = corpus_dir() else { return };
    let s = Scenario::new(corpus).await;
    let alert = s.sim.create_alert(json!({
        "urgency": urgency(75),
        "event_uuids": ["ev-1", "ev-2", "ev-3", "ev-4", "ev-5", "ev-6"]
    }));
    let playbook = s.playbook("Enrich_alerts_with_hostnames");

    let (code, record) = s.run_for_alert(&playbook, &alert, "7").await;

    succeeded(code, &record);
    assert_eq!(
        s.search_terms(),
        [json!(format!(
            "alert_short_ids: {}",
            text(&alert, "/short_id")
        ))]
    );
    let events = node(&record, "2")["results"]["events"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(events.len(), 6);
    assert_eq!(runs_of(&record, "3").len(), 6, "one store per event");
    let hosts = unique(
        events
            .iter()
            .map(|e| text(e, "/host.name").to_owned())
            .collect(),
    );
    let changes = s.sekoia_changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].method, "POST");
    assert_eq!(
        changes[0].path,
        format!("/v1/sic/alerts/{}/comments", text(&alert, "/uuid"))
    );
    assert_eq!(
        changes[0].body,
        json!({"content": format!("Here you can find all related hostnames \n{}", hosts.join(","))})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn http_remediation_posts_the_first_event_message_and_the_rule() {
    let Some(corpus) = corpus_dir() else { return };
    let s = Scenario::new(corpus).await;
    let alert = s.sim.create_alert(json!({}));
    let playbook = s.playbook("HTTP_request_Remediation");

    let (code, record) = s.run_for_alert(&playbook, &alert, "0").await;

    succeeded(code, &record);
    let message = text(node(&record, "2"), "/results/events/0/message").to_owned();
    let sent = s.received(Receiver::Sink);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].method.as_str(), sent[0].path.as_str()),
        ("POST", "/5859f51c-a91c-4abe-ac78-e9c60a0b2ef4")
    );
    assert_eq!(
        sent[0].body,
        json!(format!(
            "Event with the message [{}] raised the alert {}",
            json!(message),
            text(&alert, "/rule/name")
        ))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn internet_scan_webhook_retypes_the_alert_and_rejects_it() {
    let Some(corpus) = corpus_dir() else { return };
    let s = Scenario::new(corpus).await;
    let alert = s.sim.create_alert(json!({}));
    let uuid = text(&alert, "/uuid").to_owned();
    let playbook = s.playbook("alert_webhook_internet_scan");

    let (code, record) = s.run_for_alert(&playbook, &alert, "0").await;

    succeeded(code, &record);
    let changes = s.sekoia_changes();
    let sent: Vec<(&str, &str, &Value)> = changes
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str(), &r.body))
        .collect();
    assert_eq!(
        sent,
        [
            (
                "PATCH",
                format!("/v1/sic/alerts/{uuid}").as_str(),
                &json!({"alert_type_value": "scanner", "alert_type_category": "information-gathering"})
            ),
            (
                "PATCH",
                format!("/v1/sic/alerts/{uuid}/workflow").as_str(),
                // An empty comment is left out, as Sekoia.io's action does.
                &json!({"action_uuid": REJECT_ACTION})
            ),
        ]
    );
    let now = s.alert(&alert);
    assert_eq!(now["status"]["name"], "Rejected");
    assert_eq!(
        now["alert_type"],
        json!({"category": "information-gathering", "value": "scanner"})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cortex_xsoar_incident_is_built_from_the_alert_and_its_first_event() {
    let Some(corpus) = corpus_dir() else { return };
    let s = Scenario::new(corpus).await;
    let alert = s
        .sim
        .create_alert(json!({"urgency": urgency(60), "created_at": 1_567_755_120}));
    let playbook = s.playbook("create_incident_on_cortex_xsoar");

    let (code, record) = s.run_for_alert(&playbook, &alert, "0").await;

    succeeded(code, &record);
    let short_id = text(&alert, "/short_id");
    assert_eq!(
        s.search_terms(),
        [json!(format!("alert_short_ids: \"{short_id}\""))]
    );
    let first_event = node(&record, "2")["results"]["events"][0].clone();
    assert!(first_event.is_object());
    let sent = s.received(Receiver::Sink);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].method.as_str(), sent[0].path.as_str()),
        ("POST", "/instance/execute/your-instance-name")
    );
    assert_eq!(sent[0].headers["authorization"], "Bearer YOUR_XSOAR_TOKEN");
    assert_eq!(
        sent[0].body,
        json!({
            "name": alert["rule"]["name"],
            "occurred": "2019-09-06T07:32:00Z",
            "alertId": short_id,
            "urgency": "Medium",
            "alertUrl": format!("https://app.sekoia.io/operations/alerts/{short_id}"),
            "events": [first_event],
        })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn msteams_notification_sends_the_card_with_the_common_values_of_the_events() {
    let Some(corpus) = corpus_dir() else { return };
    let s = Scenario::new(corpus).await;
    let alert = s.sim.create_alert(json!({
        "urgency": urgency(82),
        "source": "198.51.100.23",
        "target": "10.20.30.40",
    }));
    let quiet = s.sim.create_alert(json!({"urgency": urgency(40)}));
    let playbook = s.playbook("msteams_notification");

    let (code, record) = s.run_for_alert(&playbook, &alert, "0").await;

    succeeded(code, &record);
    let short_id = text(&alert, "/short_id");
    let term = json!(format!("alert_short_ids:{short_id}"));
    assert_eq!(s.search_terms(), vec![term; 4]);
    let names = |id: &str| -> String {
        let values = node(&record, id)["results"]["fields"][0]["common_values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| text(v, "/name").to_owned())
            .collect::<Vec<_>>();
        assert!(!values.is_empty(), "node {id} found values");
        values.join(", ")
    };
    let sent = s.received(Receiver::Sink);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].method.as_str(), sent[0].path.as_str()),
        ("POST", "/webhookb2/XXXXXX/IncomingWebhook/XXXXXX/XXXXXX")
    );
    let message = &sent[0].body;
    assert_eq!(message["type"], "message");
    let card = &message["attachments"][0]["content"];
    assert_eq!(
        card["body"][0]["columns"][1]["items"][1]["text"],
        format!(
            "{} - {} / {}",
            text(&alert, "/title"),
            text(&alert, "/alert_type/value"),
            text(&alert, "/alert_type/category")
        )
    );
    assert_eq!(card["body"][1]["text"], alert["details"]);
    assert_eq!(
        card["body"][2]["facts"],
        json!([
            {"title": "Urgency", "value": "82 / 100"},
            {"title": "Status", "value": "Pending"},
            {"title": "First seen", "value": alert["first_seen_at"]},
            {"title": "Last seen", "value": alert["last_seen_at"]},
            {"title": "Source IPs", "value": "198.51.100.23"},
            {"title": "Destination IPs", "value": "10.20.30.40"},
            {"title": "Hostnames", "value": names("5")},
            {"title": "User names", "value": names("6")},
        ])
    );
    assert_eq!(
        card["actions"][0]["url"],
        format!("https://app.sekoia.io/operations/alerts/{short_id}")
    );

    let (code, record) = s.run_for_alert(&playbook, &quiet, "0").await;
    succeeded(code, &record);
    assert_eq!(node(&record, "1")["outputs"], json!(["else"]));
    assert_eq!(
        s.received(Receiver::Sink).len(),
        1,
        "nothing for a low urgency"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn adware_playbook_downgrades_and_rejects_an_alert_on_an_adware_domain() {
    let Some(corpus) = corpus_dir() else { return };
    let s = Scenario::new(corpus).await;
    let alert = s.sim.create_alert(json!({
        "rule": {"uuid": "5e1f0c4e-8a43-4b36-9a55-0d1b2c3d4e5f", "name": "Webfilter - Malicious Websites",
                 "description": "Access to a website classified as malicious", "severity": 40,
                 "type": "cti", "pattern": "[domain-name:value = 'ads.exampleAdware.com']"},
        "stix": {"type": "bundle", "id": "bundle--0b6c2a4e-1d1e-4c55-9b67-3f1a2b3c4d5e", "objects": [
            {"type": "observed-data", "id": "observed-data--6a1d1b0e-4f43-4a8f-9f5e-1a2b3c4d5e6f",
             "objects": {
                 "0": {"type": "domain-name", "value": "cdn.example.org"},
                 "1": {"type": "domain-name", "value": "ads.exampleAdware.com"},
                 "2": {"type": "x-sic-customer-info", "zone_id": 386139}
             }}
        ]}
    }));
    let uuid = text(&alert, "/uuid").to_owned();
    let playbook = s.playbook("playbook_adware");

    let (code, record) = s.run_for_alert(&playbook, &alert, "0").await;

    succeeded(code, &record);
    assert_eq!(
        node(&record, "3")["results"]["output"],
        json!(["cdn.example.org", "ads.exampleAdware.com"])
    );
    let changes = s.sekoia_changes();
    let sent: Vec<(&str, &str, &Value)> = changes
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str(), &r.body))
        .collect();
    assert_eq!(
        sent,
        [
            (
                "PATCH",
                format!("/v1/sic/alerts/{uuid}").as_str(),
                &json!({"urgency": 0, "alert_type_value": "spam", "alert_type_category": "abusive-content"})
            ),
            (
                "PATCH",
                format!("/v1/sic/alerts/{uuid}/workflow").as_str(),
                &json!({"action_uuid": REJECT_ACTION,
                        "comment": "The domain ads.exampleAdware.com is related to adware."})
            ),
        ]
    );
}

/// The message `slack_notification_on_alert` posts, with its `Target(s)` text.
fn slack_message(alert: &Value, targets: &str) -> Value {
    json!({
        "username": "Sekoia alert",
        "attachments": [{
            "text": alert["rule"]["description"],
            "color": "#909090",
            "title": format!(
                "{} - {} / {}",
                text(alert, "/title"),
                text(alert, "/alert_type/value"),
                text(alert, "/alert_type/category")
            ),
            "fields": [
                {"short": "True", "title": "Severity", "value": format!("{} / 100", alert["urgency"]["current_value"])},
                {"short": "True", "title": "Target(s)", "value": targets}
            ],
            "pretext": "*An alert has been raised on Sekoia.io*",
            "fallback": "fallback",
            "mrkdwn_in": ["pretext"],
            "title_link": format!("https://app.sekoia.io/operations/alerts/{}", text(alert, "/short_id"))
        }]
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn slack_notification_names_the_alert_target() {
    let Some(corpus) = corpus_dir() else { return };
    let s = Scenario::new(corpus).await;
    let alert = s
        .sim
        .create_alert(json!({"urgency": urgency(80), "target": "10.20.30.40"}));
    let playbook = s.playbook("slack_notification_on_alert");

    let (code, record) = s.run_for_alert(&playbook, &alert, "0").await;

    succeeded(code, &record);
    assert_eq!(node(&record, "8")["outputs"], json!(["target defined"]));
    let sent = s.received(Receiver::Sink);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].method.as_str(), sent[0].path.as_str()),
        (
            "POST",
            "/services/XXXXXXXXX/XXXXXXXXX/XXXXXXXXXXXXXXXXXXXXXXXX"
        )
    );
    assert_eq!(sent[0].body, slack_message(&alert, "10.20.30.40 "));
}

#[tokio::test(flavor = "multi_thread")]
async fn slack_notification_without_target_names_the_hosts_of_the_observed_events() {
    let Some(corpus) = corpus_dir() else { return };
    let s = Scenario::new(corpus).await;
    let event_ids = [
        "3f0c9a52-7b1e-4d2a-9c6b-0a1b2c3d4e01",
        "3f0c9a52-7b1e-4d2a-9c6b-0a1b2c3d4e02",
    ];
    let alert = s.sim.create_alert(json!({
        "urgency": urgency(80),
        "target": null,
        "event_uuids": event_ids,
    }));
    let playbook = s.playbook("slack_notification_on_alert");

    let (code, record) = s.run_for_alert(&playbook, &alert, "0").await;

    succeeded(code, &record);
    assert_eq!(node(&record, "8")["outputs"], json!(["else"]));
    let terms: Vec<Value> = event_ids
        .iter()
        .map(|id| json!(format!("event.id:\"{id}\"")))
        .collect();
    assert_eq!(s.search_terms(), terms);
    let hosts = unique(
        runs_of(&record, "6")
            .iter()
            .map(|run| text(run, "/results/events/0/host.name").to_owned())
            .collect(),
    );
    let targets: String = hosts.iter().map(|h| format!("{h} ")).collect();
    let sent = s.received(Receiver::Sink);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body, slack_message(&alert, &targets));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_alert_gets_urgency_0_and_an_acknowledged_one_is_left_alone() {
    let Some(corpus) = corpus_dir() else { return };
    let s = Scenario::new(corpus).await;
    let rejected = s.sim.create_alert(json!({"urgency": urgency(70)}));
    let uuid = text(&rejected, "/uuid");
    s.sim.set_status(uuid, "Rejected", None).unwrap();
    let acknowledged = s.sim.create_alert(json!({"urgency": urgency(70)}));
    s.sim
        .set_status(text(&acknowledged, "/uuid"), "Acknowledged", None)
        .unwrap();
    let playbook = s.playbook("urgency_to_0_on_rejected");

    let (code, record) = s.run_for_alert(&playbook, &rejected, "0").await;

    succeeded(code, &record);
    let changes = s.sekoia_changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(
        (changes[0].method.as_str(), changes[0].path.as_str()),
        ("PATCH", format!("/v1/sic/alerts/{uuid}").as_str())
    );
    assert_eq!(changes[0].body, json!({"urgency": 0}));
    assert_eq!(s.alert(&rejected)["urgency"]["value"], 0);

    let (code, record) = s.run_for_alert(&playbook, &acknowledged, "0").await;
    succeeded(code, &record);
    assert_eq!(node(&record, "3")["outputs"], json!(["else"]));
    assert_eq!(s.sekoia_changes().len(), 1, "nothing more changed");
    assert_eq!(s.alert(&acknowledged)["urgency"]["value"], 70);
}

#[tokio::test(flavor = "multi_thread")]
async fn reject_old_alerts_rejects_pending_alerts_untouched_for_one_to_two_years() {
    let Some(corpus) = corpus_dir() else { return };
    let s = Scenario::new(corpus).await;
    let day = 86_400;
    let now = unix_now();
    let dated = |days: i64, status: &str| json!({"created_at": now - (days + 5) * day, "updated_at": now - days * day, "status": status});
    let old = s.sim.create_alert(dated(400, "Pending"));
    let too_old = s.sim.create_alert(dated(800, "Pending"));
    let old_but_acknowledged = s.sim.create_alert(dated(400, "Acknowledged"));
    let recent = s.sim.create_alert(json!({}));
    let playbook = s.playbook("Reject_old_alerts");

    let (code, record) = s
        .run_for_event(&playbook, &json!({"scheduled_at": "2026-07-08T02:00:00Z"}))
        .await;

    succeeded(code, &record);
    let listing = s
        .received(Receiver::Sekoia)
        .into_iter()
        .find(|r| r.method == "GET" && r.path == "/v1/sic/alerts")
        .expect("the old alerts were listed");
    for part in [
        "sort=updated_at",
        "direction=desc",
        "limit=100",
        "offset=0",
        &format!("match%5Bstatus_uuid%5D={PENDING}"),
        "date%5Bupdated_at%5D=",
    ] {
        assert!(listing.query.contains(part), "{part} in {}", listing.query);
    }
    assert_eq!(runs_of(&record, "9").len(), 1, "one alert to reject");
    let changes = s.sekoia_changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(
        (changes[0].method.as_str(), changes[0].path.as_str()),
        (
            "PATCH",
            format!("/v1/sic/alerts/{}/workflow", text(&old, "/uuid")).as_str()
        )
    );
    assert_eq!(
        changes[0].body,
        json!({"action_uuid": REJECT_ACTION, "comment": "Alert rejected due to inactivity."})
    );
    assert_eq!(s.alert(&old)["status"]["name"], "Rejected");
    for untouched in [&too_old, &recent] {
        assert_eq!(s.alert(untouched)["status"]["name"], "Pending");
    }
    assert_eq!(
        s.alert(&old_but_acknowledged)["status"]["name"],
        "Acknowledged"
    );
}

/// `add_<which>_ips_to_ioc_collection` / `add_domains_to_ioc_collection`: the common values
/// of the alert's events go to the IOC collection the playbook names.
async fn ioc_collection_receives(playbook_name: &str, trigger: &str) -> (Scenario, Value, Value) {
    let Some(corpus) = corpus_dir() else {
        panic!("the corpus is present")
    };
    let s = Scenario::new(corpus).await;
    let alert = s.sim.create_alert(json!({
        "source": "198.51.100.23",
        "target": "203.0.113.9",
        "event_uuids": ["ev-1", "ev-2"],
    }));
    let playbook = s.playbook(playbook_name);
    let (code, record) = s.run_for_alert(&playbook, &alert, trigger).await;
    succeeded(code, &record);
    (s, alert, record)
}

const COLLECTION: &str = "ioc-collection--xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

#[tokio::test(flavor = "multi_thread")]
async fn source_and_destination_addresses_of_the_events_go_to_the_ioc_collection() {
    if corpus_dir().is_none() {
        return;
    }
    for (playbook, address) in [
        ("add_source_ips_to_ioc_collection", "198.51.100.23"),
        ("add_destination_ips_to_ioc_collection", "203.0.113.9"),
    ] {
        let (s, alert, _) = ioc_collection_receives(playbook, "0").await;
        assert_eq!(
            s.search_terms(),
            [json!(format!(
                "alert_short_ids: {}",
                text(&alert, "/short_id")
            ))],
            "{playbook}"
        );
        let added: Vec<RecordedRequest> = s
            .sekoia_changes()
            .into_iter()
            .filter(|r| r.path.contains("/ioc-collections/"))
            .collect();
        assert_eq!(added.len(), 1, "{playbook}: {added:#?}");
        assert_eq!(
            (added[0].path.as_str(), &added[0].body),
            (
                format!("/v2/inthreat/ioc-collections/{COLLECTION}/indicators/text").as_str(),
                &json!({"format": "ipv4-addr.value", "indicators": address})
            ),
            "{playbook}"
        );
        assert_eq!(s.sim.ioc_collection(COLLECTION).len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn domain_names_of_the_events_go_to_the_ioc_collection_for_a_year() {
    if corpus_dir().is_none() {
        return;
    }
    let (s, _, record) = ioc_collection_receives("add_domains_to_ioc_collection", "0").await;
    let domains: Vec<String> = node(&record, "2")["results"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["name"] == "dns.question.name")
        .flat_map(|f| f["common_values"].as_array().unwrap().iter())
        .map(|v| text(v, "/name").to_owned())
        .collect();
    assert!(!domains.is_empty());
    let added = s
        .sekoia_changes()
        .into_iter()
        .filter(|r| r.path.contains("/ioc-collections/"))
        .collect::<Vec<_>>();
    assert_eq!(
        added.len(),
        1,
        "the first case that holds: dns.question.name"
    );
    assert_eq!(added[0].body["format"], "domain-name.value");
    assert_eq!(added[0].body["indicators"], domains.join("\n"));
    assert!(
        added[0].body["valid_until"]
            .as_str()
            .is_some_and(|d| d.ends_with('Z'))
    );
}
