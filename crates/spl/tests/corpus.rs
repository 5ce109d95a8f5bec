#![recursion_limit = "256"]
//! The published playbooks: all load, validate with the expected warnings,
//! export without loss, and their templates render against a realistic run.

use std::collections::BTreeMap;

use alertsync_spl::{Catalog, Node, NodeKind, Operator, Playbook, RenderContext, TemplateEngine};
use alertsync_spl::{parse_playbook, validate};
use alertsync_testing::corpus_dir;
use serde_json::{Value, json};

const SEKOIA: &str = "92d8bb47-7c51-445d-81de-ae04edbb6f0a";
const HTTP: &str = "5894985f-91eb-46db-9306-cc5ac6463d3d";

/// Implements the Sekoia.io and HTTP modules, accepting any of their uuids.
struct TestCatalog;

impl Catalog for TestCatalog {
    fn module_name(&self, module_uuid: &str) -> Option<String> {
        match module_uuid {
            SEKOIA => Some("Sekoia.io".to_owned()),
            HTTP => Some("HTTP".to_owned()),
            _ => None,
        }
    }
    fn has_action(&self, _: &str, _: &str) -> bool {
        true
    }
    fn action_outputs(&self, _: &str, _: &str) -> Vec<String> {
        Vec::new()
    }
    fn has_trigger(&self, _: &str, _: &str) -> bool {
        true
    }
    fn check_arguments(&self, _: &str, _: &str, _: &Value, _: &[String]) -> Vec<(String, String)> {
        Vec::new()
    }
    fn resolve_account(&self, _: &Node) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Ok(())
    }
}

/// (file name, text) of every corpus playbook but the catalogue file.
fn corpus() -> Vec<(String, String)> {
    let Some(dir) = corpus_dir() else {
        return Vec::new();
    };
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json") && name != "playbooks.json")
        .map(|name| {
            let text = std::fs::read_to_string(dir.join(&name))
                .unwrap_or_else(|err| panic!("{name}: {err}"));
            (name, text)
        })
        .collect();
    files.sort();
    assert_eq!(files.len(), 38, "the corpus holds 38 playbooks");
    files
}

fn load(name: &str, text: &str) -> Playbook {
    parse_playbook(text, name).unwrap_or_else(|err| panic!("{err}"))
}

#[test]
fn every_playbook_loads_and_validates_without_errors() {
    for (name, text) in corpus() {
        let report = validate(&load(&name, &text), &TestCatalog);
        assert!(report.errors.is_empty(), "{name}: {:#?}", report.errors);
    }
}

#[test]
fn warnings_are_exactly_the_real_problems() {
    let mut warned: BTreeMap<String, Vec<(Option<String>, String)>> = BTreeMap::new();
    for (name, text) in corpus() {
        for warning in validate(&load(&name, &text), &TestCatalog).warnings {
            assert!(
                warning.node_id.is_some() && warning.node_name.is_some(),
                "{name}: {warning:?}"
            );
            warned
                .entry(name.clone())
                .or_default()
                .push((warning.node_id, warning.message));
        }
    }
    if corpus_dir().is_none() {
        return;
    }
    let files: Vec<&str> = warned.keys().map(String::as_str).collect();
    assert_eq!(
        files,
        [
            "CrowdSec_alert_enrichment.json",
            "Enrich_alerts_with_AbuseIPDB.json",
            "VirusTotal_Enrichement.json",
            "create_jira_ticket_on_alert.json",
        ],
        "{warned:#?}"
    );
    let has = |file: &str, node: &str, text: &str| {
        warned[file]
            .iter()
            .any(|(id, message)| id.as_deref() == Some(node) && message.contains(text))
    };
    assert!(has(
        "CrowdSec_alert_enrichment.json",
        "9",
        "`node.1` refers to a node that does not exist"
    ));
    assert!(has(
        "Enrich_alerts_with_AbuseIPDB.json",
        "7",
        "`node.9` refers to a node that does not exist"
    ));
    assert!(has("create_jira_ticket_on_alert.json", "19", "`node.18`"));
    assert!(has("create_jira_ticket_on_alert.json", "21", "`node.18`"));
    assert!(has(
        "VirusTotal_Enrichement.json",
        "25",
        "case `Webutation is defined`"
    ));
    assert!(has(
        "VirusTotal_Enrichement.json",
        "25",
        "output `Webtuation is defined`"
    ));
}

#[test]
fn unimplemented_modules_are_needed_not_errors() {
    for (name, text) in corpus() {
        if name != "Enrich_alerts_with_VirusTotal_Hash.json" {
            continue;
        }
        let report = validate(&load(&name, &text), &TestCatalog);
        let needed: Vec<String> = report
            .needs_modules
            .iter()
            .map(|module| {
                format!(
                    "{} ({})",
                    module.name.clone().unwrap_or_default(),
                    module.uuid
                )
            })
            .collect();
        assert!(
            needed.contains(&"VirusTotal (d023af1d-25d8-465b-b85f-2ed48214d6a5)".to_owned()),
            "{needed:?}"
        );
        assert!(report.errors.is_empty());
    }
}

#[test]
fn the_catalogue_file_is_rejected_with_line_and_column() {
    let Some(dir) = corpus_dir() else { return };
    let text =
        std::fs::read_to_string(dir.join("playbooks.json")).unwrap_or_else(|err| panic!("{err}"));
    let err = parse_playbook(&text, "playbooks.json")
        .err()
        .unwrap_or_else(|| panic!("must be rejected"));
    let message = err.to_string();
    assert!(message.starts_with("playbooks.json:451:9: "), "{message}");
}

#[test]
fn export_round_trips() {
    for (name, text) in corpus() {
        let playbook = load(&name, &text);
        let exported = playbook.to_json_string_pretty();
        let again = load(&name, &exported).to_json_string_pretty();
        assert_eq!(exported, again, "{name}");
        let original: Value = serde_json::from_str(&text).unwrap_or_else(|err| panic!("{err}"));
        let exported_value: Value =
            serde_json::from_str(&exported).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(original, exported_value, "{name}");
        let original_keys: Vec<&String> = original
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        let exported_keys: Vec<&String> = exported_value
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(original_keys, exported_keys, "{name}: key order");
    }
}

/// A plausible output for every node: an alert-like object rich enough for
/// the templates, with foreach nodes holding a current item.
fn realistic_context(playbook: &Playbook) -> RenderContext {
    let alert = json!({
        "alert_uuid": "0f3f0e3c-1111-4222-8333-944455556666", "uuid": "0f3f0e3c-1111-4222-8333-944455556666",
        "short_id": "ALxyz", "title": "Alert", "details": "details", "created_at": 1567755120,
        "first_seen_at": "2024-01-01T00:00:00Z", "last_seen_at": "2024-01-01T01:00:00Z",
        "urgency": {"value": 80, "current_value": 80}, "status": {"uuid": "s", "name": "Closed"},
        "rule": {"name": "Rule", "uuid": "r", "description": "d"}, "alert_type": {"value": "v", "category": "c"},
        "entity": {"name": "e"}, "kill_chain_short_id": "KC", "stix": {"objects": []}, "target": "t",
        "events": [{"destination.ip": "1.2.3.4", "source.ip": "5.6.7.8", "host.name": "h", "message": "m"}],
        "fields": [{"name": "url.domain", "common_values": [{"name": "a.com"}]}],
        "items": [{"uuid": "u1"}], "output": ["1.2.3.4"], "positives": 3, "total": 60, "permalink": "p",
        "scans": {"A": {"detected": true}, "indicator--abc": {"detected": true}}, "json": {"data": {"abuseConfidenceScore": 1, "isp": "i",
        "countryCode": "FR", "domain": "d", "usageType": "u", "isWhitelisted": false, "totalReports": 0}},
        "reason": "OK", "text": "{\"Answer\": [{\"data\": \"9.9.9.9\"}]}", "data": [{"os": "linux", "domains": ["d"], "asn": "AS1", "isp": "i", "org": "o", "hostnames": ["h"]}], "matches": [{"ip_str": "1.1.1.1"}],
        "Webutation domain info": {"Safety score": 90, "Adult content": "no", "Verdict": "safe"},
        "status_code": 201, "date": "2024-01-01", "bundle_path": "b", "observables": [], "bundle": {},
        "country_name": "France", "city": "Paris", "ports": [80], "chunk_offset": 10,
        "file_path": "f", "observables_path": "o", "output_path": "op", "emails_path": "e", "logs_path": "l",
        "alerts": [], "stix_objects_path": "s"
    });
    let mut node = serde_json::Map::new();
    for (id, item) in playbook.nodes() {
        let mut output = alert.clone();
        if let NodeKind::Operator(Operator::Foreach { .. }) = item.kind {
            output["default"] = json!({"value": "indicator--abc", "index": 0, "total": 1});
        }
        node.insert(id.clone(), output);
    }
    RenderContext::new(
        node,
        json!({"json": {"attack_categories": [{"description": "x"}]},
        "hostnames": ["h"], "vendor": ["A"], "vendor2": ["B"], "uuid": ["u"], "alert": {"uuid": "a"},
        "priority": {"id": "P1"}, "status": "isClosed", "targets": ["t"], "ip": ["1.1.1.1"], "tags": ["x"]}),
    )
}

#[test]
fn every_template_renders_against_a_realistic_run() {
    let engine = TemplateEngine::new();
    for (name, text) in corpus() {
        let playbook = load(&name, &text);
        let context = realistic_context(&playbook);
        for node in playbook.nodes().values() {
            let dangling = validate(&playbook, &TestCatalog)
                .warnings
                .iter()
                .any(|warning| {
                    warning.node_id.as_deref() == Some(node.id.as_str())
                        && warning.message.contains("does not exist")
                });
            if dangling {
                continue;
            }
            for key in ["arguments", "items", "cases", "modifications"] {
                if let Some(value) = node.raw.get(key) {
                    engine
                        .render_value(value, &context)
                        .unwrap_or_else(|err| panic!("{name} node {}: {err}", node.id));
                }
            }
        }
    }
}
