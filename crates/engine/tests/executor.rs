//! Running playbooks: given a playbook and an event, which nodes run, with what, and how
//! the run ends.

mod common;

use std::sync::Mutex;

use alertsync_engine::{
    Cancellation, NoObserver, NodeRecord, NodeStatus, RunObserver, RunRecord, RunRequest, RunStatus,
};
use common::*;
use serde_json::{Value, json};

async fn run(nodes: Value, event: Value) -> RunRecord {
    run_from(nodes, "0", event).await
}

async fn run_from(nodes: Value, trigger: &str, event: Value) -> RunRecord {
    let request = RunRequest::new(playbook(nodes), trigger, event);
    executor(Vec::new()).run(request, &NoObserver).await
}

/// Ids of the node runs, in recording order.
fn ran(record: &RunRecord) -> Vec<&str> {
    record.nodes.iter().map(|n| n.id.as_str()).collect()
}

fn node<'r>(record: &'r RunRecord, id: &str) -> &'r NodeRecord {
    record
        .nodes
        .iter()
        .find(|n| n.id == id)
        .unwrap_or_else(|| panic!("node {id} ran: {record:#?}"))
}

fn results<'r>(record: &'r RunRecord, id: &str) -> &'r Value {
    node(record, id).results.as_ref().expect("results")
}

fn condition(cases: Value, outputs: Value) -> Value {
    json!({"name": "condition", "type": "operator", "subtype": "condition",
           "cases": cases, "outputs": outputs})
}

fn foreach(items: &str, body: &str, next: &[&str]) -> Value {
    json!({"name": "foreach", "type": "operator", "subtype": "foreach", "items": items,
           "loop": [body], "outputs": {"default": next}})
}

fn store(modifications: Value, next: &[&str]) -> Value {
    json!({"name": "store", "type": "operator", "subtype": "store",
           "modifications": modifications, "outputs": {"default": next}})
}

#[tokio::test]
async fn the_event_is_the_trigger_output_and_action_results_are_node_outputs() {
    let record = run(
        json!({
            "0": trigger(&["1"]),
            "1": echo("first", json!({"alert": "{{ node.0.alert_uuid }}", "n": 3}), &["2"]),
            "2": echo("second", json!({"copy": "{{ node.1 }}", "text": "n={{ node.1.n }}"}), &[]),
        }),
        json!({"alert_uuid": "AL1"}),
    )
    .await;
    assert_eq!(record.status, RunStatus::Succeeded, "{record:#?}");
    assert_eq!(ran(&record), ["0", "1", "2"]);
    assert_eq!(results(&record, "0"), &json!({"alert_uuid": "AL1"}));
    assert_eq!(
        results(&record, "2"),
        &json!({"copy": {"alert": "AL1", "n": 3}, "text": "n=3"})
    );
    let second = node(&record, "2");
    assert_eq!(second.outputs, ["default"]);
    assert_eq!(second.logs.len(), 1);
    assert!(second.ended_at_ms.is_some() && second.duration_ms.is_some());
    assert!(record.ended_at_ms.is_some() && record.error.is_none());
}

#[tokio::test]
async fn a_condition_follows_the_first_case_that_holds_else_else() {
    let nodes = json!({
        "0": trigger(&["1"]),
        "1": condition(
            json!([
                {"name": "low", "left": "{{ node.0.urgency }}", "comparison": "<", "right": 25},
                {"name": "high", "left": "{{ node.0.urgency }}", "comparison": ">=", "right": "50"},
                {"name": "very high", "left": "{{ node.0.urgency }}", "comparison": ">=", "right": 75},
            ]),
            json!({"low": ["2"], "high": ["3"], "very high": ["4"], "else": ["5"]}),
        ),
        "2": echo("low", json!({}), &[]),
        "3": echo("high", json!({}), &[]),
        "4": echo("very high", json!({}), &[]),
        "5": echo("medium", json!({}), &[]),
    });
    let high = run(nodes.clone(), json!({"urgency": 80})).await;
    assert_eq!(ran(&high), ["0", "1", "3"]);
    assert_eq!(node(&high, "1").outputs, ["high"]);
    assert_eq!(results(&high, "1"), &json!({"output": "high"}));
    let medium = run(nodes, json!({"urgency": 30})).await;
    assert_eq!(ran(&medium), ["0", "1", "5"]);
    assert_eq!(node(&medium, "1").outputs, ["else"]);
    assert_eq!(medium.status, RunStatus::Succeeded);
}

#[tokio::test]
async fn a_template_error_in_a_case_fails_the_condition() {
    let record = run(
        json!({
            "0": trigger(&["1"]),
            "1": condition(
                json!([{"name": "x", "left": "{{ node.0.missing.deeper }}", "comparison": "==", "right": 1}]),
                json!({"x": ["2"], "else": ["2"]}),
            ),
            "2": echo("never", json!({}), &[]),
        }),
        json!({}),
    )
    .await;
    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(ran(&record), ["0", "1"]);
    let failed = node(&record, "1");
    assert_eq!(failed.status, NodeStatus::Failed);
    let error = failed.error.as_deref().unwrap_or_default();
    assert!(
        error.contains("case `x`") && error.contains("node.0.missing.deeper"),
        "{error}"
    );
    let run_error = record.error.as_deref().unwrap_or_default();
    assert!(
        run_error.contains("node `1` (condition) failed"),
        "{run_error}"
    );
}

#[tokio::test]
async fn nested_loops_scope_body_outputs_to_the_current_iteration() {
    let record = run(
        json!({
            "0": trigger(&["1"]),
            "1": foreach("{{ node.0.groups }}", "2", &["5"]),
            "2": foreach("{{ node.1.default.value }}", "3", &[]),
            "3": echo("first", json!({
                "outer": "{{ node.1.default.index }}",
                "item": "{{ node.2.default.value }}",
                "index": "{{ node.2.default.index }}",
                "total": "{{ node.2.default.total }}",
                "second_seen": "{{ node.4 is defined }}",
            }), &["4"]),
            "4": echo("second", json!({"first_item": "{{ node.3.item }}"}), &[]),
            "5": echo("after", json!({
                "total": "{{ node.1.default.total }}",
                "body_seen": "{{ node.3 is defined }}",
            }), &[]),
        }),
        json!({"groups": [["a", "b"], ["c"]]}),
    )
    .await;
    assert_eq!(record.status, RunStatus::Succeeded, "{record:#?}");
    assert_eq!(
        ran(&record),
        ["0", "1", "2", "3", "4", "3", "4", "2", "3", "4", "5"]
    );
    let firsts: Vec<(&Vec<usize>, &Value)> = record
        .nodes
        .iter()
        .filter(|n| n.id == "3")
        .map(|n| (&n.iteration, n.results.as_ref().expect("results")))
        .collect();
    assert_eq!(
        firsts,
        [
            (
                &vec![0, 0],
                &json!({"outer": 0, "item": "a", "index": 0, "total": 2, "second_seen": false})
            ),
            (
                &vec![0, 1],
                &json!({"outer": 0, "item": "b", "index": 1, "total": 2, "second_seen": false})
            ),
            (
                &vec![1, 0],
                &json!({"outer": 1, "item": "c", "index": 0, "total": 1, "second_seen": false})
            ),
        ]
    );
    let seconds: Vec<&Value> = record
        .nodes
        .iter()
        .filter(|n| n.id == "4")
        .map(|n| &n.results.as_ref().expect("results")["first_item"])
        .collect();
    assert_eq!(seconds, [&json!("a"), &json!("b"), &json!("c")]);
    assert_eq!(node(&record, "2").iteration, [0]);
    assert_eq!(results(&record, "1"), &json!({"total": 2}));
    assert_eq!(node(&record, "1").outputs, ["default"]);
    assert_eq!(
        results(&record, "5"),
        &json!({"total": 2, "body_seen": false})
    );
    assert!(node(&record, "5").iteration.is_empty());
}

#[tokio::test]
async fn a_loop_over_an_object_iterates_its_keys_and_null_iterates_nothing() {
    let nodes = json!({
        "0": trigger(&["1"]),
        "1": foreach("{{ node.0.items }}", "2", &["3"]),
        "2": echo("body", json!({"key": "{{ node.1.default.value }}"}), &[]),
        "3": echo("after", json!({}), &[]),
    });
    let keys = run(nodes.clone(), json!({"items": {"x": 1, "y": 2}})).await;
    let seen: Vec<&Value> = keys
        .nodes
        .iter()
        .filter(|n| n.id == "2")
        .map(|n| &n.results.as_ref().expect("results")["key"])
        .collect();
    assert_eq!(seen, [&json!("x"), &json!("y")]);
    let nothing = run(nodes.clone(), json!({})).await;
    assert_eq!(ran(&nothing), ["0", "1", "3"]);
    let bad = run(nodes, json!({"items": 7})).await;
    assert_eq!(node(&bad, "1").status, NodeStatus::Failed);
    assert_eq!(ran(&bad), ["0", "1"]);
}

#[tokio::test]
async fn a_failure_in_a_loop_body_keeps_iterating_but_does_not_leave_the_loop() {
    let record = run(
        json!({
            "0": trigger(&["1"]),
            "1": foreach("{{ [1, 2, 3] }}", "2", &["4"]),
            "2": condition(
                json!([{"name": "two", "left": "{{ node.1.default.value }}", "comparison": "==", "right": 2}]),
                json!({"two": ["3"], "else": []}),
            ),
            "3": tool(FAIL, "fail", json!({"message": "no"}), &[]),
            "4": echo("after", json!({}), &[]),
        }),
        json!({}),
    )
    .await;
    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(ran(&record), ["0", "1", "2", "2", "3", "2"]);
    let loop_node = node(&record, "1");
    assert_eq!(loop_node.status, NodeStatus::Failed);
    assert!(loop_node.outputs.is_empty());
}

#[tokio::test]
async fn the_store_sets_unsets_appends_and_removes_with_dotted_keys() {
    let record = run(
        json!({
            "0": trigger(&["1"]),
            "1": store(json!([
                {"key": "alert.uuid", "type": "set", "value": "{{ node.0.uuid }}"},
                {"key": "alert.title", "type": "set", "value": "t"},
                {"key": "ips", "type": "append", "value": "1.1.1.1"},
                {"key": "ips", "type": "append", "value": "{{ node.0.ip }}"},
                {"key": "ips", "type": "append", "value": "3.3.3.3"},
            ]), &["2"]),
            "2": store(json!([
                {"key": "ips", "type": "remove", "value": "1.1.1.1"},
                {"key": "alert.title", "type": "unset", "value": null},
            ]), &["3"]),
            "3": echo("read", json!({"store": "{{ store }}", "uuid": "{{ store.alert.uuid }}"}), &[]),
        }),
        json!({"uuid": "AL9", "ip": "2.2.2.2"}),
    )
    .await;
    assert_eq!(record.status, RunStatus::Succeeded, "{record:#?}");
    assert_eq!(
        results(&record, "3"),
        &json!({"store": {"alert": {"uuid": "AL9"}, "ips": ["2.2.2.2", "3.3.3.3"]}, "uuid": "AL9"})
    );
    assert_eq!(
        node(&record, "1").arguments["modifications"][3]["value"],
        json!("2.2.2.2")
    );
}

#[tokio::test]
async fn a_bad_store_modification_fails_the_node_and_changes_nothing() {
    let record = run(
        json!({
            "0": trigger(&["1"]),
            "1": store(json!([
                {"key": "a", "type": "set", "value": 1},
                {"key": "a.b", "type": "set", "value": 2},
            ]), &["2"]),
            "2": echo("never", json!({}), &[]),
        }),
        json!({}),
    )
    .await;
    assert_eq!(ran(&record), ["0", "1"]);
    let error = node(&record, "1").error.clone().unwrap_or_default();
    assert!(error.contains("a.b"), "{error}");
}

#[tokio::test]
async fn a_fan_out_runs_each_branch_depth_first_in_list_order() {
    let record = run(
        json!({
            "0": trigger(&["1", "2"]),
            "1": echo("a", json!({}), &["3"]),
            "2": echo("b", json!({}), &[]),
            "3": echo("a then", json!({}), &[]),
        }),
        json!({}),
    )
    .await;
    assert_eq!(ran(&record), ["0", "1", "3", "2"]);
    let seqs: Vec<usize> = record.nodes.iter().map(|n| n.seq).collect();
    assert_eq!(seqs, [0, 1, 2, 3]);
}

#[tokio::test]
async fn a_run_starts_at_the_trigger_that_fired() {
    let nodes = json!({
        "0": trigger(&["1"]),
        "5": {"name": "manual", "type": "trigger", "module_uuid": TOOLS, "trigger_uuid": MANUAL,
              "outputs": {"default": ["2"]}},
        "1": echo("from alert", json!({}), &[]),
        "2": echo("from manual", json!({"who": "{{ node.5.user }}"}), &[]),
    });
    let record = run_from(nodes.clone(), "5", json!({"user": "ana"})).await;
    assert_eq!(ran(&record), ["5", "2"]);
    assert_eq!(record.trigger_node, "5");
    assert_eq!(results(&record, "2"), &json!({"who": "ana"}));

    let not_a_trigger = run_from(nodes.clone(), "1", json!({})).await;
    assert_eq!(not_a_trigger.status, RunStatus::Failed);
    assert!(not_a_trigger.nodes.is_empty());
    assert!(
        not_a_trigger
            .error
            .unwrap_or_default()
            .contains("not a trigger")
    );
    let missing = run_from(nodes, "42", json!({})).await;
    assert!(missing.error.unwrap_or_default().contains("no node `42`"));
}

#[tokio::test]
async fn named_outputs_the_action_activates_are_followed() {
    let record = run(
        json!({
            "0": trigger(&["1"]),
            "1": {"name": "scan", "type": "action", "module_uuid": TOOLS, "action_uuid": ECHO,
                  "arguments": {"outputs": ["not detected"]},
                  "outputs": {"detected": ["2"], "not detected": ["3"], "default": ["2"]}},
            "2": echo("detected", json!({}), &[]),
            "3": echo("clean", json!({}), &[]),
        }),
        json!({}),
    )
    .await;
    assert_eq!(ran(&record), ["0", "1", "3"]);
    assert_eq!(node(&record, "1").outputs, ["not detected"]);
}

#[tokio::test]
async fn a_failed_node_stops_its_branch_while_other_branches_run() {
    let record = run(
        json!({
            "0": trigger(&["1", "2"]),
            "1": tool(FAIL, "breaks", json!({"message": "the server said no"}), &["3"]),
            "2": echo("other branch", json!({}), &[]),
            "3": echo("after the failure", json!({}), &[]),
        }),
        json!({}),
    )
    .await;
    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(ran(&record), ["0", "1", "2"]);
    let failed = node(&record, "1");
    assert_eq!(failed.status, NodeStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("the server said no"));
    assert_eq!(failed.results, Some(json!({"partial": true})));
    assert_eq!(node(&record, "2").status, NodeStatus::Succeeded);
    assert_eq!(
        record.error.as_deref(),
        Some("node `1` (breaks) failed: the server said no")
    );
}

#[tokio::test]
async fn unknown_node_kinds_and_actions_fail_with_a_clear_message() {
    let record = run(
        json!({
            "0": trigger(&["1", "2", "3", "4"]),
            "1": {"name": "odd", "type": "gateway", "outputs": {}},
            "2": {"name": "odd operator", "type": "operator", "subtype": "parallel", "outputs": {}},
            "3": {"name": "vt", "type": "action", "module_uuid": "d023af1d-25d8-465b-b85f-2ed48214d6a5",
                  "action_uuid": "x", "arguments": {}, "outputs": {}},
            "4": tool("no-such-action", "missing", json!({}), &[]),
        }),
        json!({}),
    )
    .await;
    assert_eq!(record.status, RunStatus::Failed);
    let error = |id| node(&record, id).error.clone().unwrap_or_default();
    assert!(error("1").contains("unknown node type `gateway`"));
    assert!(error("2").contains("unknown operator subtype `parallel`"));
    assert!(error("3").contains("VirusTotal"), "{}", error("3"));
    assert!(error("4").contains("has no action `no-such-action`"));
}

#[tokio::test]
async fn invalid_arguments_fail_the_node_before_the_action_runs() {
    let reader = account("reader", &reader_manifest(), json!({"url": "http://r"}));
    let request = RunRequest::new(
        playbook(json!({
            "0": trigger(&["1"]),
            "1": {"name": "read", "type": "action", "module_uuid": READER, "action_uuid": READ_ALERT,
                  "arguments": {"alert_uuid": "AL1", "api_key": "k", "base_url": "http://x",
                                "limit": "{{ node.0.limit }}"},
                  "outputs": {"default": []}},
        })),
        "0",
        json!({"limit": "many"}),
    );
    let record = executor(vec![reader]).run(request, &NoObserver).await;
    let failed = node(&record, "1");
    assert_eq!(failed.status, NodeStatus::Failed);
    let error = failed.error.clone().unwrap_or_default();
    assert!(error.contains("argument `limit`"), "{error}");
}

#[tokio::test]
async fn a_runaway_cycle_stops_at_the_node_limit() {
    let request = RunRequest::new(
        playbook(json!({
            "0": trigger(&["1"]),
            "1": echo("ping", json!({}), &["2"]),
            "2": echo("pong", json!({}), &["1"]),
        })),
        "0",
        json!({}),
    );
    let record = executor(Vec::new())
        .with_node_limit(50)
        .run(request, &NoObserver)
        .await;
    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(record.nodes.len(), 50);
    assert!(
        record
            .error
            .unwrap_or_default()
            .contains("after 50 node runs")
    );
}

/// Keeps the latest version of every record it is told about.
#[derive(Default)]
struct Latest {
    records: Mutex<Vec<NodeRecord>>,
    started: Mutex<Vec<String>>,
    cancel_on: Option<(String, Cancellation)>,
}

impl Latest {
    fn keep(&self, node: &NodeRecord) {
        let mut records = self.records.lock().expect("lock");
        if records.len() <= node.seq {
            records.resize(node.seq + 1, node.clone());
        }
        records[node.seq] = node.clone();
    }
}

#[async_trait::async_trait]
impl RunObserver for Latest {
    async fn node_started(&self, node: &NodeRecord) {
        self.started.lock().expect("lock").push(node.id.clone());
        self.keep(node);
        if let Some((id, cancel)) = &self.cancel_on
            && *id == node.id
        {
            cancel.cancel();
        }
    }
    async fn node_finished(&self, node: &NodeRecord) {
        self.keep(node);
    }
}

#[tokio::test]
async fn secrets_are_masked_wherever_they_are_copied() {
    const TOKEN: &str = "tok-SECRET-123";
    const KEY: &str = "acct-SECRET-456";
    let vault = account("vault account", &vault_manifest(), json!({"key": KEY}));
    let nodes = json!({
        "0": trigger(&["1"]),
        "1": {"name": "use token", "type": "action", "module_uuid": TOOLS, "action_uuid": SECRET_ECHO,
              "arguments": {"token": "{{ node.0.token }}", "note": "copy: {{ node.0.token }}"},
              "outputs": {"default": ["2"]}},
        "2": echo("echo it", json!({"again": "{{ node.1.token }}", "parts": ["{{ node.1.note }}"]}), &["3"]),
        "3": {"name": "reveal", "type": "action", "module_uuid": VAULT, "action_uuid": REVEAL,
              "arguments": {}, "outputs": {"default": ["4"]}},
        "4": tool(FAIL, "fail loudly", json!({"message": "rejected {{ node.3.key }} and {{ node.1.token }}"}), &[]),
    });
    let observer = Latest::default();
    let request = RunRequest::new(playbook(nodes), "0", json!({"token": TOKEN}));
    let record = executor(vec![vault]).run(request, &observer).await;

    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(ran(&record), ["0", "1", "2", "3", "4"]);
    assert_eq!(results(&record, "3")["account"], json!("vault account"));
    let everything = serde_json::to_string(&record).expect("serialises");
    assert!(
        !everything.contains(TOKEN) && !everything.contains(KEY),
        "{everything}"
    );
    assert!(everything.contains("copy: ********"));
    assert!(
        node(&record, "1").logs[0]
            .message
            .contains("using token ********")
    );

    let observed = observer.records.lock().expect("lock").clone();
    assert_eq!(observed, record.nodes);
}

#[tokio::test]
async fn a_cancelled_run_stops_the_action_in_flight() {
    let cancel = Cancellation::new();
    let observer = Latest {
        cancel_on: Some(("1".to_owned(), cancel.clone())),
        ..Latest::default()
    };
    let request = RunRequest::new(
        playbook(json!({
            "0": trigger(&["1", "2"]),
            "1": tool(WAIT, "wait", json!({}), &[]),
            "2": echo("never", json!({}), &[]),
        })),
        "0",
        json!({}),
    )
    .with_cancellation(cancel);
    let record = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        executor(Vec::new()).run(request, &observer),
    )
    .await
    .expect("the run stops");
    assert_eq!(record.status, RunStatus::Cancelled);
    assert_eq!(ran(&record), ["0", "1"]);
    assert_eq!(node(&record, "1").status, NodeStatus::Failed);
    // The trigger started and ended at once: the observer is told only how it ended.
    assert_eq!(*observer.started.lock().expect("lock"), ["1"]);
}

#[tokio::test]
async fn records_round_trip_through_json() {
    let record = run(
        json!({"0": trigger(&["1"]), "1": echo("e", json!({"a": 1}), &[])}),
        json!({}),
    )
    .await;
    let text = serde_json::to_string(&record).expect("serialises");
    let back: RunRecord = serde_json::from_str(&text).expect("deserialises");
    assert_eq!(back, record);
    let value: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(value["status"], json!("succeeded"));
    assert_eq!(value["nodes"][1]["status"], json!("succeeded"));
}

#[test]
fn a_run_can_be_spawned() {
    fn assert_send<T: Send>(_: &T) {}
    let executor = executor(Vec::new());
    let request = RunRequest::new(playbook(json!({"0": trigger(&[])})), "0", json!({}));
    let future = executor.run(request, &NoObserver);
    assert_send(&future);
}

#[tokio::test]
async fn a_resumed_run_reuses_what_succeeded_and_reruns_the_rest() {
    let nodes = json!({
        "0": trigger(&["1"]),
        "1": echo("first", json!({"n": 1}), &["2"]),
        "2": echo("second", json!({"copy": "{{ node.1 }}"}), &[]),
    });
    let first = run(nodes.clone(), json!({})).await;
    // The process stopped while node 2 was running: nodes 0 and 1 were recorded as done.
    let mut completed: Vec<NodeRecord> = first.nodes[..2].to_vec();
    completed[1].results = Some(json!({"marker": "recorded before the stop"}));

    let request = RunRequest::new(playbook(nodes), "0", json!({})).resuming(completed.clone());
    let resumed = executor(Vec::new()).run(request, &NoObserver).await;

    assert_eq!(resumed.status, RunStatus::Succeeded, "{resumed:#?}");
    assert_eq!(ran(&resumed), ["0", "1", "2"]);
    assert_eq!(
        node(&resumed, "1").started_at_ms,
        completed[1].started_at_ms
    );
    assert_eq!(
        results(&resumed, "2"),
        &json!({"copy": {"marker": "recorded before the stop"}})
    );
}
