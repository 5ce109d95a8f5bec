//! Every action of the Sekoia.io, HTTP and Utils modules against one simulator: the request
//! each one sends (method, path, query, body), what it changed in the simulated Sekoia.io,
//! and that its results have the shape its manifest declares. The last check makes sure no
//! action of the three modules was left out.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use alertsync_engine::ActionContext;
use alertsync_integrations::sekoia;
use alertsync_sim::{Fault, Receiver, RecordedRequest, Route, Simulator};
use common::{API_KEY, context, run, simulator};
use serde_json::{Value, json};

const ACKNOWLEDGE: &str = "937bdabf-6a08-434b-b6d3-d7447e4e452a";
const CLOSED: &str = "1738b1c1-767d-489e-bada-19176621a007";
const COLLECTION: &str = "ioc-collection--00000000-0000-4000-8000-000000000001";

/// The simulator, a Sekoia.io account on it, the run's data directory, and what ran.
struct Bench {
    sim: Simulator,
    cx: ActionContext,
    _dir: tempfile::TempDir,
    covered: BTreeSet<String>,
    seen: [usize; 3],
}

const RECEIVERS: [Receiver; 3] = [Receiver::Sekoia, Receiver::Intake, Receiver::Sink];

impl Bench {
    async fn new() -> Self {
        let sim = simulator().await;
        let account = json!({"api_key": API_KEY, "base_url": sim.urls().sekoia});
        let mut cx = context(Some((&sekoia::manifest(), account)));
        let dir = tempfile::tempdir().expect("a data directory");
        cx.data_dir = dir.path().to_path_buf();
        Self {
            sim,
            cx,
            _dir: dir,
            covered: BTreeSet::new(),
            seen: [0; 3],
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.cx.data_dir.clone()
    }

    /// Runs `<module>.<action>`; answers its results (checked against the manifest's results
    /// schema) and the requests it made, receiver by receiver.
    async fn call(&mut self, name: &str, args: Value) -> (Value, Vec<RecordedRequest>) {
        let out = run(name, &self.cx, args)
            .await
            .unwrap_or_else(|err| panic!("{name}: {}", err.message));
        let registry = alertsync_integrations::registry();
        let (_, action) = registry.action_by_name(name).expect("the action exists");
        let schema = jsonschema::validator_for(&action.manifest().results)
            .unwrap_or_else(|e| panic!("{name}: results schema: {e}"));
        let problems: Vec<String> = schema
            .iter_errors(&out.results)
            .map(|e| e.to_string())
            .collect();
        assert!(
            problems.is_empty(),
            "{name}: results {:#} break the schema: {problems:#?}",
            out.results
        );
        self.covered.insert(name.to_owned());
        let mut sent = Vec::new();
        for (index, receiver) in RECEIVERS.into_iter().enumerate() {
            let all = self.sim.requests(receiver);
            sent.extend(all[self.seen[index]..].iter().cloned());
            self.seen[index] = all.len();
        }
        (out.results, sent)
    }
}

/// Asserts one request's method, path, query and body.
fn sent(request: &RecordedRequest, method: &str, path: &str, query: &str, body: Value) {
    assert_eq!(
        (
            request.method.as_str(),
            request.path.as_str(),
            request.query.as_str(),
            &request.body
        ),
        (method, path, query, &body),
        "{request:#?}"
    );
}

/// The only request made.
fn only(requests: &[RecordedRequest]) -> &RecordedRequest {
    assert_eq!(requests.len(), 1, "{requests:#?}");
    &requests[0]
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{pointer} in {value:#}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_action_sends_what_sekoia_io_would_and_reads_back_what_it_changed() {
    let mut b = Bench::new().await;
    alerts(&mut b).await;
    events(&mut b).await;
    countermeasures(&mut b).await;
    cases(&mut b).await;
    references(&mut b).await;
    rules(&mut b).await;
    assets(&mut b).await;
    intelligence(&mut b).await;
    http(&mut b).await;
    utils(&mut b).await;

    let registry = alertsync_integrations::registry();
    let all: BTreeSet<String> = ["sekoia.io", "http", "utils"]
        .iter()
        .filter_map(|slug| registry.module_by_slug(slug))
        .flat_map(|module| {
            module
                .actions
                .iter()
                .map(move |action| format!("{}.{}", module.manifest.slug, action.manifest().slug))
        })
        .collect();
    let missed: Vec<&String> = all.difference(&b.covered).collect();
    assert!(missed.is_empty(), "actions not exercised: {missed:?}");
}

async fn alerts(b: &mut Bench) {
    let alert = b.sim.create_alert(Value::Null);
    let uuid = text(&alert, "/uuid").to_owned();
    let short_id = text(&alert, "/short_id").to_owned();
    let at = format!("/v1/sic/alerts/{uuid}");

    let (got, requests) = b
        .call("sekoia.io.get_alert", json!({"uuid": uuid, "cases": true}))
        .await;
    sent(only(&requests), "GET", &at, "cases=true", Value::Null);
    assert_eq!(got["short_id"], short_id.as_str());

    let (page, requests) = b
        .call(
            "sekoia.io.search_alerts",
            json!({"match[short_id]": short_id, "limit": 5, "with_count": true}),
        )
        .await;
    let query = &only(&requests).query;
    assert!(
        query.contains(&format!("match%5Bshort_id%5D={short_id}"))
            && query.contains("with_count=true"),
        "{query}"
    );
    assert_eq!(page["total"], 1);

    let (edited, requests) = b
        .call(
            "sekoia.io.edit_alert",
            json!({"uuid": uuid, "title": "Renamed", "urgency": 12}),
        )
        .await;
    sent(
        only(&requests),
        "PATCH",
        &at,
        "",
        json!({"title": "Renamed", "urgency": 12}),
    );
    assert_eq!(edited["urgency"]["value"], 12);

    let (comment, requests) = b
        .call(
            "sekoia.io.comment_alert",
            json!({"uuid": uuid, "content": "Seen", "author": "SOC"}),
        )
        .await;
    sent(
        only(&requests),
        "POST",
        &format!("{at}/comments"),
        "",
        json!({"content": "Seen", "author": "SOC"}),
    );
    assert_eq!(comment["author"], "SOC");

    let (_, requests) = b
        .call(
            "sekoia.io.update_alert_status",
            json!({"uuid": uuid, "action_uuid": ACKNOWLEDGE}),
        )
        .await;
    sent(
        only(&requests),
        "PATCH",
        &format!("{at}/workflow"),
        "",
        json!({"action_uuid": ACKNOWLEDGE}),
    );
    let (_, requests) = b
        .call(
            "sekoia.io.update_alert_status_by_name",
            json!({"uuid": uuid, "status": "closed", "comment": "Done"}),
        )
        .await;
    sent(
        only(&requests),
        "PATCH",
        &format!("{at}/workflow"),
        "",
        json!({"action_uuid": CLOSED, "comment": "Done"}),
    );
    let now = b.sim.alert(&uuid).expect("the alert");
    assert_eq!(
        (now["status"]["name"].as_str(), now["title"].as_str()),
        (Some("Closed"), Some("Renamed"))
    );
}

async fn events(b: &mut Bench) {
    let alert = b
        .sim
        .create_alert(json!({"source": "198.51.100.7", "event_uuids": ["e-1", "e-2", "e-3"]}));
    let short_id = text(&alert, "/short_id").to_owned();
    let term = format!("alert_short_ids:\"{short_id}\"");
    let search = json!({"query": term, "earliest_time": "-1d", "latest_time": "now", "limit": 2});

    let (found, requests) = b.call("sekoia.io.get_events", search.clone()).await;
    sent(
        &requests[0],
        "POST",
        "/v1/sic/conf/events/search/jobs",
        "",
        json!({"term": term, "earliest_time": "-1d", "latest_time": "now", "visible": false, "max_last_events": 2}),
    );
    let events = found["events"].as_array().expect("events");
    assert_eq!(events.len(), 2, "the job holds at most `limit` events");
    assert!(
        events
            .iter()
            .all(|e| e["alert_short_ids"][0] == short_id.as_str())
    );

    let mut counting = search;
    counting["fields"] = json!("source.ip, destination.port");
    let (counted, requests) = b
        .call("sekoia.io.get_event_field_common_values", counting)
        .await;
    let fields = requests.last().expect("the field list was read");
    assert!(
        fields.path.ends_with("/fields") && fields.method == "GET",
        "{fields:#?}"
    );
    assert_eq!(counted["fields"][0]["name"], "source.ip");
    assert_eq!(
        counted["fields"][0]["common_values"][0],
        json!({"name": "198.51.100.7", "value": 2})
    );
    assert_eq!(counted["fields"][1]["name"], "destination.port");

    let aggregation = json!({"aggregation_type": "count", "query_term": term, "earliest_time": "-1d",
                             "latest_time": "now", "minutes_per_bucket": 1440});
    let (buckets, requests) = b.call("sekoia.io.get_aggregation_query", aggregation).await;
    assert_eq!(only(&requests).path, "/v1/events/stats");
    let counted: u64 = buckets["aggregations"]
        .as_array()
        .expect("buckets")
        .iter()
        .filter_map(|b| b["value"].as_u64())
        .sum();
    assert_eq!(counted, 3, "every event of the alert is counted once");

    let file = "events-to-push.json";
    std::fs::write(
        b.data_dir().join(file),
        json!([{"message": "a"}, "raw line"]).to_string(),
    )
    .expect("the file");
    let push = json!({"intake_key": "sim-intake-key", "intake_server": b.sim.urls().intake, "events_path": file});
    let (pushed, requests) = b.call("sekoia.io.push_events_to_intake", push).await;
    let batch = only(&requests);
    assert_eq!(
        (batch.method.as_str(), batch.path.as_str()),
        ("POST", "/batch")
    );
    assert_eq!(
        batch.body["jsons"],
        json!(["{\"message\":\"a\"}", "raw line"])
    );
    assert_eq!(pushed["event_ids"].as_array().map(Vec::len), Some(2));
    assert!(
        !b.data_dir().join(file).exists(),
        "the event file is removed once pushed"
    );
}

async fn countermeasures(b: &mut Bench) {
    let measure =
        |uuid: &str| json!({"uuid": uuid, "name": "Block", "status": "pending", "relevance": 50});
    let alert = b
        .sim
        .create_alert(json!({"countermeasures": [measure("cm-1"), measure("cm-2")]}));
    let uuid = text(&alert, "/uuid").to_owned();
    let comment = json!({"content": "Blocked at the firewall", "author": "SOC"});

    let (activated, requests) = b
        .call(
            "sekoia.io.activate_countermeasure",
            json!({"cm_uuid": "cm-1", "comment": comment}),
        )
        .await;
    sent(
        only(&requests),
        "PATCH",
        "/v1/sic/alerts/countermeasures/cm-1/activate",
        "",
        json!({"comment": comment}),
    );
    assert_eq!(activated["status"], "activated");
    let (_, requests) = b
        .call("sekoia.io.deny_countermeasure", json!({"cm_uuid": "cm-2"}))
        .await;
    sent(
        only(&requests),
        "PATCH",
        "/v1/sic/alerts/countermeasures/cm-2/deny",
        "",
        json!({}),
    );
    let now = b.sim.alert(&uuid).expect("the alert");
    assert_eq!(now["countermeasures"][0]["status"], "activated");
    assert_eq!(now["countermeasures"][1]["status"], "denied");
}

async fn cases(b: &mut Bench) {
    let alert = b.sim.create_alert(Value::Null);
    let created_with =
        json!({"title": "Phishing wave", "tags": ["phishing"], "custom_priority_uuid": "prio-1"});
    let (case, requests) = b.call("sekoia.io.create_case", created_with.clone()).await;
    sent(only(&requests), "POST", "/v1/sic/cases", "", created_with);
    let uuid = text(&case, "/uuid").to_owned();
    let at = format!("/v1/sic/cases/{uuid}");

    let (read, requests) = b
        .call("sekoia.io.get_case", json!({"uuid": uuid, "render": true}))
        .await;
    sent(only(&requests), "GET", &at, "render=1", Value::Null);
    assert_eq!(read["title"], "Phishing wave");
    let (_, requests) = b
        .call(
            "sekoia.io.edit_case",
            json!({"uuid": uuid, "description": "Ten users"}),
        )
        .await;
    sent(
        only(&requests),
        "PATCH",
        &at,
        "",
        json!({"description": "Ten users"}),
    );
    let (page, requests) = b
        .call(
            "sekoia.io.search_cases",
            json!({"match[tags]": "phishing", "limit": 10}),
        )
        .await;
    sent(
        only(&requests),
        "GET",
        "/v1/sic/cases",
        "limit=10&match%5Btags%5D=phishing",
        Value::Null,
    );
    assert_eq!(page["total"], 1);

    let alerts = json!([alert["uuid"]]);
    let (_, requests) = b
        .call(
            "sekoia.io.attach_alerts_to_case",
            json!({"case_uuid": uuid, "alerts": alerts}),
        )
        .await;
    sent(
        only(&requests),
        "PATCH",
        &format!("{at}/alerts"),
        "",
        json!({"alerts": alerts}),
    );
    let (_, requests) = b
        .call(
            "sekoia.io.add_events_to_case",
            json!({"uuid": uuid, "event_ids": ["e-1", "e-2"]}),
        )
        .await;
    sent(
        only(&requests),
        "POST",
        &format!("{at}/events"),
        "",
        json!({"event_ids": ["e-1", "e-2"]}),
    );
    let (_, requests) = b
        .call(
            "sekoia.io.remove_event_from_case",
            json!({"case_uuid": uuid, "event_id": "e-1"}),
        )
        .await;
    sent(
        only(&requests),
        "DELETE",
        &format!("{at}/events/e-1"),
        "",
        Value::Null,
    );
    let (_, requests) = b
        .call(
            "sekoia.io.comment_case",
            json!({"uuid": uuid, "content": "Users warned"}),
        )
        .await;
    sent(
        only(&requests),
        "POST",
        &format!("{at}/comments"),
        "",
        json!({"content": "Users warned"}),
    );
    let (comments, _) = b
        .call("sekoia.io.list_case_comments", json!({"case_uuid": uuid}))
        .await;
    assert_eq!(comments["items"][0]["content"], "Users warned");
    let (priority, requests) = b
        .call(
            "sekoia.io.get_custom_priority",
            json!({"priority_uuid": "prio-1"}),
        )
        .await;
    sent(
        only(&requests),
        "GET",
        "/v1/sic/custom_priorities/prio-1",
        "",
        Value::Null,
    );
    assert_eq!(priority["uuid"], "prio-1");

    let now = b.sim.case(&uuid).expect("the case");
    assert_eq!(
        (&now["description"], &now["alerts"], &now["event_ids"]),
        (&json!("Ten users"), &alerts, &json!(["e-2"]))
    );
    let (_, requests) = b
        .call("sekoia.io.delete_case", json!({"case_uuid": uuid}))
        .await;
    sent(only(&requests), "DELETE", &at, "", Value::Null);
    assert!(b.sim.case(&uuid).is_none());
}

async fn references(b: &mut Bench) {
    let alert = b.sim.create_alert(Value::Null);
    let lookups = [
        (
            "get_custom_status",
            "status_uuid",
            text(&alert, "/custom_status_uuid"),
            "/v1/sic/custom_statuses/",
        ),
        (
            "get_custom_verdict",
            "verdict_uuid",
            text(&alert, "/verdict_uuid"),
            "/v1/sic/custom_verdicts/",
        ),
        (
            "get_entity",
            "uuid",
            text(&alert, "/entity/uuid"),
            "/v1/sic/conf/entities/",
        ),
        (
            "get_intake",
            "uuid",
            text(&alert, "/intake_uuids/0"),
            "/v1/sic/conf/intakes/",
        ),
        (
            "get_community",
            "uuid",
            text(&alert, "/community_uuid"),
            "/v1/communities/",
        ),
    ];
    for (action, argument, id, path) in lookups {
        let (found, requests) = b
            .call(&format!("sekoia.io.{action}"), json!({argument: id}))
            .await;
        sent(
            only(&requests),
            "GET",
            &format!("{path}{id}"),
            "",
            Value::Null,
        );
        assert_eq!(found["uuid"], id, "{action}");
    }
    let judged = json!({"alert": {"urgency": {"current_value": 80}}});
    let (prediction, requests) = b
        .call("sekoia.io.predict_alert_state", judged.clone())
        .await;
    sent(only(&requests), "POST", "/v1/predict/alert", "", judged);
    assert_eq!(prediction["worth_human_attention"], true);
}

async fn rules(b: &mut Bench) {
    let rule = json!({"name": "Beacon", "type": "sigma", "description": "Beaconing", "payload": "detection: x",
                      "severity": 50, "effort": 2, "alert_type_uuid": "at-1", "enabled": false});
    let (created, requests) = b.call("sekoia.io.create_rule", rule.clone()).await;
    sent(
        only(&requests),
        "POST",
        "/v1/sic/conf/rules-catalog/rules",
        "",
        rule.clone(),
    );
    let uuid = text(&created, "/uuid").to_owned();
    let at = format!("/v1/sic/conf/rules-catalog/rules/{uuid}");

    let (read, requests) = b.call("sekoia.io.get_rule", json!({"uuid": uuid})).await;
    sent(only(&requests), "GET", &at, "", Value::Null);
    assert_eq!(read["name"], "Beacon");
    let mut changed = rule;
    changed["severity"] = json!(80);
    let mut args = changed.clone();
    args["uuid"] = json!(uuid);
    let (updated, requests) = b.call("sekoia.io.update_rule", args).await;
    sent(only(&requests), "PUT", &at, "", changed);
    assert_eq!(updated["severity"], 80);
    let (enabled, requests) = b
        .call(
            "sekoia.io.enable_rule",
            json!({"uuid": uuid, "community_uuid": "c-1"}),
        )
        .await;
    sent(
        only(&requests),
        "PUT",
        &format!("{at}/enabled"),
        "community_uuid=c-1",
        json!({}),
    );
    assert_eq!(enabled["enabled"], true);
    let (disabled, _) = b
        .call("sekoia.io.disable_rule", json!({"uuid": uuid}))
        .await;
    assert_eq!(disabled["enabled"], false);
    let (_, requests) = b.call("sekoia.io.delete_rule", json!({"uuid": uuid})).await;
    sent(only(&requests), "DELETE", &at, "", Value::Null);
}

async fn assets(b: &mut Bench) {
    let v1 = json!({"name": "web-1", "asset_type": {"name": "computer"}, "criticity": 70});
    let (asset, requests) = b.call("sekoia.io.create_asset", v1.clone()).await;
    sent(
        only(&requests),
        "POST",
        "/v1/asset-management/assets",
        "",
        v1,
    );
    let uuid = text(&asset, "/uuid").to_owned();
    let at = format!("/v1/asset-management/assets/{uuid}");
    let (_, requests) = b
        .call(
            "sekoia.io.add_attribute_to_asset",
            json!({"uuid": uuid, "name": "os", "value": "linux"}),
        )
        .await;
    sent(
        only(&requests),
        "POST",
        &format!("{at}/attr"),
        "name=os&value=linux",
        json!({}),
    );
    let (_, requests) = b
        .call(
            "sekoia.io.add_key_to_asset",
            json!({"uuid": uuid, "name": "ip-v4", "value": "10.0.0.5"}),
        )
        .await;
    sent(
        only(&requests),
        "POST",
        &format!("{at}/keys"),
        "name=ip-v4&value=10.0.0.5",
        json!({}),
    );
    let (read, _) = b.call("sekoia.io.get_asset", json!({"uuid": uuid})).await;
    assert_eq!(
        (&read["attributes"][0]["value"], &read["keys"][0]["value"]),
        (&json!("linux"), &json!("10.0.0.5"))
    );
    let (listed, requests) = b
        .call("sekoia.io.list_assets", json!({"match[name]": "web-1"}))
        .await;
    sent(
        only(&requests),
        "GET",
        "/v1/asset-management/assets",
        "match%5Bname%5D=web-1",
        Value::Null,
    );
    assert_eq!(listed["total"], 1);
    let (_, requests) = b
        .call("sekoia.io.delete_asset", json!({"uuid": uuid}))
        .await;
    sent(only(&requests), "DELETE", &at, "", Value::Null);

    let community = "c-1";
    let host = json!({"community_uuid": community, "name": "db-1", "type": "host", "atoms": {"ipv4": ["10.0.0.9"]}});
    let (host, requests) = b.call("sekoia.io.create_assetv2", host.clone()).await;
    assert_eq!(
        (
            only(&requests).method.as_str(),
            only(&requests).path.as_str()
        ),
        ("POST", "/v2/asset-management/assets")
    );
    let uuid = text(&host, "/uuid").to_owned();
    let at = format!("/v2/asset-management/assets/{uuid}");
    let (_, requests) = b
        .call(
            "sekoia.io.retrieve_assetv2",
            json!({"uuid": uuid, "with_telemetry": true}),
        )
        .await;
    sent(only(&requests), "GET", &at, "with_telemetry=1", Value::Null);
    let (updated, requests) = b
        .call(
            "sekoia.io.update_assets",
            json!({"uuid": uuid, "description": "Database", "criticality": 0, "reviewed": true}),
        )
        .await;
    sent(
        only(&requests),
        "PUT",
        &at,
        "",
        json!({"description": "Database", "reviewed": true}),
    );
    assert_eq!(updated["description"], "Database");
    let (legacy, _) = b.call("sekoia.io.get_assetv2", json!({"uuid": uuid})).await;
    assert_eq!(legacy["asset_type"]["name"], "computer");
    assert_eq!(
        legacy["keys"][0],
        json!({"uuid": "1aa12ae4-c22e-4d2e-89cb-764285b74fef", "name": "ip-v4", "value": "10.0.0.9"})
    );
    let (found, requests) = b
        .call("sekoia.io.list_assetsv2", json!({"search": "db-1"}))
        .await;
    sent(
        only(&requests),
        "GET",
        "/v2/asset-management/assets",
        "search=db-1",
        Value::Null,
    );
    assert_eq!(found["total"], 1);

    let (twin, _) = b
        .call(
            "sekoia.io.create_assetv2",
            json!({"community_uuid": community, "name": "db-1-old", "type": "host"}),
        )
        .await;
    let twin = text(&twin, "/uuid").to_owned();
    let (merged, requests) = b
        .call(
            "sekoia.io.merge_assets",
            json!({"destination": uuid, "sources": [twin]}),
        )
        .await;
    sent(
        only(&requests),
        "POST",
        "/v2/asset-management/assets/merge",
        "",
        json!({"destination": uuid, "sources": [twin]}),
    );
    assert_eq!(merged["status_code"], 200);

    let user = json!({"sAMAccountName": "jdoe", "mail": "jdoe@example.org", "department": "IT"});
    let configuration = json!({"asset_name_field": "sAMAccountName", "detection_properties": {"email": ["mail"]},
                               "contextual_properties": {"department": "department"}});
    let (synced, requests) = b
        .call("sekoia.io.synchronize_assets_with_ad",
              json!({"community_uuid": community, "user_ad_data": user, "asset_synchronization_configuration": configuration}))
        .await;
    let created = requests
        .iter()
        .find(|r| r.method == "POST")
        .expect("the account asset was created");
    assert_eq!(
        created.body["atoms"],
        json!({"email": ["jdoe@example.org"]})
    );
    assert_eq!(created.body["props"], json!({"department": "IT"}));
    assert_eq!(synced["data"][0]["created_asset"], true);

    let (_, requests) = b
        .call("sekoia.io.delete_assetv2", json!({"uuid": uuid}))
        .await;
    sent(only(&requests), "DELETE", &at, "", Value::Null);
}

async fn intelligence(b: &mut Bench) {
    let ips = json!({"indicators": ["198.51.100.7", "2001:db8::7", "not an ip"], "indicator_type": "IP address",
                     "ioc_collection_id": COLLECTION, "valid_for": 7});
    let (_, requests) = b.call("sekoia.io.add_to_ioc_collection", ips).await;
    let path = format!("/v2/inthreat/ioc-collections/{COLLECTION}/indicators/text");
    assert_eq!(requests.len(), 2, "IPv4 and IPv6 addresses go separately");
    assert_eq!(
        (
            requests[0].path.as_str(),
            &requests[0].body["format"],
            &requests[0].body["indicators"]
        ),
        (
            path.as_str(),
            &json!("ipv4-addr.value"),
            &json!("198.51.100.7")
        )
    );
    assert_eq!(requests[1].body["format"], "ipv6-addr.value");
    assert!(
        requests[0].body["valid_until"]
            .as_str()
            .is_some_and(|d| d.ends_with('Z'))
    );
    let domain = json!({"indicator": "bad.example", "indicator_type": "domain", "ioc_collection_id": COLLECTION});
    let (_, requests) = b.call("sekoia.io.add_to_ioc_collection", domain).await;
    sent(
        only(&requests),
        "POST",
        &path,
        "",
        json!({"format": "domain-name.value", "indicators": "bad.example"}),
    );
    assert_eq!(b.sim.ioc_collection(COLLECTION).len(), 3);

    let observable = json!({"type": "ipv4-addr", "value": "198.51.100.7", "x_inthreat_tags": [{"name": "scanner"}]});
    let (_, requests) = b
        .call(
            "sekoia.io.upload_observables",
            json!({"observables": [observable]}),
        )
        .await;
    sent(
        only(&requests),
        "POST",
        "/v2/inthreat/observables/bulk",
        "",
        json!({"data": [observable]}),
    );
    assert_eq!(b.sim.observables(), vec![observable]);

    let bundle = json!({"type": "bundle", "id": "bundle--1", "objects": [{"type": "indicator", "id": "indicator--1"}]});
    let (proposal, requests) = b
        .call(
            "sekoia.io.create_content_proposal",
            json!({"bundle": bundle, "name": "Wave", "auto_merge": true}),
        )
        .await;
    sent(
        only(&requests),
        "POST",
        "/v2/inthreat/bundles",
        "auto_merge=1&name=Wave",
        json!({"data": bundle}),
    );
    assert!(text(&proposal, "/content_proposal_id").starts_with("content-proposal--"));

    let (context, requests) = b
        .call("sekoia.io.get_context", json!({"term": "scanner"}))
        .await;
    sent(
        only(&requests),
        "POST",
        "/v2/inthreat/objects/search",
        "term=scanner",
        json!({}),
    );
    assert_eq!(context["items"][0]["value"], "198.51.100.7");

    let (from_url, requests) = b
        .call(
            "sekoia.io.create_content_proposal_from_url",
            json!({"url": "https://blog.example/apt"}),
        )
        .await;
    sent(
        only(&requests),
        "POST",
        "/v2/inthreat/reports/url",
        "",
        json!({"url": "https://blog.example/apt"}),
    );
    let report = text(&from_url, "/data/content_proposal_id").to_owned();
    let (read, requests) = b
        .call("sekoia.io.get_cti_report", json!({"uuid": report}))
        .await;
    sent(
        only(&requests),
        "GET",
        &format!("/v2/inthreat/reports/{report}"),
        "",
        Value::Null,
    );
    assert!(text(&read, "/data").contains("https://blog.example/apt"));
    let (_, requests) = b
        .call(
            "sekoia.io.create_content_proposal_from_pdf",
            json!({"file": "JVBERi0xLjQ=", "name": "apt.pdf"}),
        )
        .await;
    sent(
        only(&requests),
        "POST",
        "/v2/inthreat/reports/pdf",
        "name=apt.pdf",
        json!({"file": "JVBERi0xLjQ="}),
    );

    let notification =
        json!({"data": {"rule": {"name": "watch"}, "observable": {"value": "bad.example"}}});
    let (created, requests) = b
        .call(
            "sekoia.io.create_tracker_notification",
            notification.clone(),
        )
        .await;
    sent(
        only(&requests),
        "POST",
        "/v2/inthreat/trackers/notifications/",
        "",
        notification,
    );
    assert_eq!(created["data"]["status"], "new");
}

async fn http(b: &mut Bench) {
    let url = format!("{}/api/logs", b.sim.urls().sink);
    let (answer, requests) = b
        .call(
            "http.request_url",
            json!({"url": url, "method": "get", "params": "since=2024-01-01T00:00:00Z&until=now"}),
        )
        .await;
    sent(
        only(&requests),
        "GET",
        "/api/logs",
        "since=2024-01-01T00%3A00%3A00Z&until=now",
        Value::Null,
    );
    assert_eq!(answer["status_code"], 200);

    b.sim.inject_fault(Fault {
        body: Some(json!({"report": "contents"})),
        ..Fault::status(Route::Sink, 200)
    });
    let (file, requests) = b
        .call("http.download_file", json!({"url": format!("{}/files/report.json", b.sim.urls().sink), "headers": {"x-token": "t"}}))
        .await;
    let request = only(&requests);
    assert_eq!(
        (
            request.method.as_str(),
            request.path.as_str(),
            request.headers["x-token"].as_str()
        ),
        ("GET", "/files/report.json", "t")
    );
    let saved = b.data_dir().join(text(&file, "/file_relative_path"));
    assert_eq!(
        std::fs::read_to_string(saved).expect("the file is saved"),
        "{\"report\":\"contents\"}"
    );
}

async fn utils(b: &mut Bench) {
    std::fs::write(
        b.data_dir().join("doc.json"),
        json!({"items": [{"id": "a"}, {"id": "b"}]}).to_string(),
    )
    .expect("doc");
    let (read, _) = b
        .call(
            "utils.read_json_file",
            json!({"file_path": "doc.json", "jsonpath": "$.items[*].id", "to_file": true}),
        )
        .await;
    let written = b.data_dir().join(text(&read, "/output_path"));
    assert_eq!(
        std::fs::read_to_string(written).expect("the output file"),
        "[\"a\",\"b\"]"
    );

    let xml = "<alerts><alert id=\"1\">first</alert><alert id=\"2\">second</alert></alerts>";
    let (found, _) = b
        .call(
            "utils.read_xml_file",
            json!({"file": xml, "source_type": "xml", "xpath": "//alert[@id='2']/text()"}),
        )
        .await;
    assert_eq!(found["output"], "second");

    let items = json!([{"host": "a", "user": "x"}, {"host": "b"}, {"host": "a", "user": "y"}]);
    let (groups, _) = b
        .call(
            "utils.groupby",
            json!({"group_key": "host", "input": items}),
        )
        .await;
    assert_eq!(
        groups["results"][0]["group_data"].as_array().map(Vec::len),
        Some(2)
    );
    let (password, _) = b
        .call(
            "utils.generate_password",
            json!({"password_length": 16, "number_of_digits": 4}),
        )
        .await;
    assert_eq!(text(&password, "/password").len(), 16);
    let (time, _) = b
        .call(
            "utils.get_current_time",
            json!({"selectedTimezone": "UTC +2"}),
        )
        .await;
    assert!(time["epoch"].as_i64().is_some_and(|e| e > 1_700_000_000));
    let (_, requests) = b.call("utils.wait", json!({"duration": 0})).await;
    assert!(requests.is_empty());
}
