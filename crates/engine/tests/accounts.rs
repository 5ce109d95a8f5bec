//! Which account a node uses, how Sekoia.io access arguments are filled, and what playbook
//! validation reports about modules, arguments and accounts.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use alertsync_engine::{Account, AccountBook, NoObserver, RegistryCatalog, RunRequest, RunStatus};
use alertsync_spl::{Node, validate};
use common::*;
use serde_json::{Value, json};

fn vault(name: &str) -> Arc<Account> {
    account(
        name,
        &vault_manifest(),
        json!({"key": format!("{name}-key")}),
    )
}

fn sekoia(name: &str) -> Arc<Account> {
    account(
        name,
        &sekoia_manifest(),
        json!({"api_key": format!("{name}-api-key")}),
    )
}

/// Node "1" of a playbook whose node "1" is `node`.
fn node_of(node: Value) -> Node {
    let playbook = playbook(json!({"0": trigger(&["1"]), "1": node}));
    playbook.node("1").expect("node 1").clone()
}

fn reveal_node(module_configuration: Option<&str>) -> Node {
    let mut node = json!({"name": "reveal", "type": "action", "module_uuid": VAULT,
                          "action_uuid": REVEAL, "arguments": {}, "outputs": {"default": []}});
    if let Some(name) = module_configuration {
        node["module_configuration"] = json!(name);
    }
    node_of(node)
}

fn resolve(
    accounts: Vec<Arc<Account>>,
    node: &Node,
    bindings: &[(&str, &str)],
) -> Result<Option<String>, String> {
    let bindings: BTreeMap<String, String> = bindings
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    AccountBook::new(accounts)
        .resolve(&registry(), node, &bindings)
        .map(|found| found.map(|a| a.name.clone()))
        .map_err(|why| why.to_string())
}

#[test]
fn the_node_s_module_configuration_wins_then_the_binding_then_the_only_account() {
    let accounts = || vec![vault("a"), vault("b"), sekoia("s")];
    assert_eq!(
        resolve(accounts(), &reveal_node(Some("b")), &[("1", "a")]),
        Ok(Some("b".to_owned()))
    );
    assert_eq!(
        resolve(accounts(), &reveal_node(None), &[("1", "a")]),
        Ok(Some("a".to_owned()))
    );
    assert_eq!(
        resolve(vec![vault("only"), sekoia("s")], &reveal_node(None), &[]),
        Ok(Some("only".to_owned()))
    );
}

#[test]
fn a_module_that_needs_no_configuration_may_have_no_account() {
    let node = node_of(echo("echo", json!({}), &[]));
    assert_eq!(resolve(vec![vault("a")], &node, &[]), Ok(None));
    let operator = node_of(json!({"name": "s", "type": "operator", "subtype": "store",
                                  "modifications": [], "outputs": {}}));
    assert_eq!(resolve(Vec::new(), &operator, &[]), Ok(None));
}

#[test]
fn missing_and_ambiguous_accounts_name_the_node_and_the_candidates() {
    let none = resolve(vec![sekoia("s")], &reveal_node(None), &[]).unwrap_err();
    assert!(
        none.contains("node `1` (reveal)") && none.contains("no vault account"),
        "{none}"
    );

    let several = resolve(vec![vault("a"), vault("b")], &reveal_node(None), &[]).unwrap_err();
    assert!(several.contains("node `1` (reveal)"), "{several}");
    assert!(several.contains("`a`, `b`"), "{several}");

    let unknown = resolve(vec![vault("a")], &reveal_node(Some("zzz")), &[]).unwrap_err();
    assert!(
        unknown.contains("`zzz`") && unknown.contains("does not exist"),
        "{unknown}"
    );
    assert!(unknown.contains("vault accounts: `a`"), "{unknown}");

    let wrong = resolve(
        vec![vault("a"), sekoia("s")],
        &reveal_node(None),
        &[("1", "s")],
    );
    let wrong = wrong.unwrap_err();
    assert!(
        wrong.contains("binding") && wrong.contains("is a sekoia.io account"),
        "{wrong}"
    );
}

fn read_alert_arguments(
    book: &AccountBook,
    module: &str,
    arguments: Value,
) -> Result<Value, String> {
    let registry = registry();
    let uuid = if module == READER {
        READ_ALERT
    } else {
        SEKOIA_GET
    };
    let (module, action) = registry.action(module, uuid).expect("the action exists");
    let mut arguments = arguments;
    book.fill_sekoia_access(&module.manifest, action.manifest(), &mut arguments)
        .map_err(|why| why.to_string())?;
    Ok(arguments)
}

#[test]
fn sekoia_access_comes_from_the_sekoia_account_when_absent_or_a_placeholder() {
    let book = AccountBook::new(vec![sekoia("s")]);
    let filled =
        json!({"alert_uuid": "AL1", "api_key": "s-api-key", "base_url": "https://api.sekoia.io"});
    assert_eq!(
        read_alert_arguments(&book, READER, json!({"alert_uuid": "AL1"})),
        Ok(filled.clone())
    );
    assert_eq!(
        read_alert_arguments(
            &book,
            READER,
            json!({"alert_uuid": "AL1", "api_key": "changeme", "base_url": "https://elsewhere/"})
        ),
        Ok(filled)
    );
    let own = json!({"alert_uuid": "AL1", "api_key": "mine", "base_url": "https://mine/"});
    assert_eq!(read_alert_arguments(&book, READER, own.clone()), Ok(own));
}

#[test]
fn sekoia_actions_use_their_own_account_and_others_need_one_sekoia_account() {
    let book = AccountBook::new(vec![sekoia("s")]);
    assert_eq!(
        read_alert_arguments(
            &book,
            SEKOIA,
            json!({"api_key": "CHANGEME", "base_url": "x"})
        ),
        Ok(json!({}))
    );
    let none = read_alert_arguments(
        &AccountBook::default(),
        READER,
        json!({"alert_uuid": "AL1"}),
    );
    assert!(none.unwrap_err().contains("no Sekoia.io account"));
    let two = AccountBook::new(vec![sekoia("s"), sekoia("t")]);
    let several = read_alert_arguments(&two, READER, json!({"alert_uuid": "AL1"})).unwrap_err();
    assert!(several.contains("`s`, `t`"), "{several}");
}

#[tokio::test]
async fn a_run_fills_sekoia_access_and_masks_the_key() {
    let nodes = json!({
        "0": trigger(&["1", "2"]),
        "1": {"name": "read", "type": "action", "module_uuid": READER, "action_uuid": READ_ALERT,
              "arguments": {"alert_uuid": "{{ node.0.alert }}"}, "outputs": {"default": []}},
        "2": reveal_node(None).raw,
    });
    let reader = account("reader", &reader_manifest(), json!({"url": "http://r"}));
    let request = RunRequest::new(playbook(nodes), "0", json!({"alert": "AL1"}));
    let record = executor(vec![sekoia("s"), reader])
        .run(request, &NoObserver)
        .await;
    assert_eq!(
        record.nodes[1].status,
        alertsync_engine::NodeStatus::Succeeded
    );
    assert_eq!(
        record.nodes[1].results,
        Some(
            json!({"alert_uuid": "AL1", "api_key": "********", "base_url": "https://api.sekoia.io"})
        )
    );
    assert_eq!(record.status, RunStatus::Failed);
    assert!(
        record.nodes[2]
            .error
            .clone()
            .unwrap_or_default()
            .contains("no vault account")
    );
}

fn validation(nodes: Value, accounts: Vec<Arc<Account>>) -> Vec<(String, String)> {
    report_of(nodes, accounts)
        .errors
        .into_iter()
        .map(|p| (p.path, p.message))
        .collect()
}

fn report_of(nodes: Value, accounts: Vec<Arc<Account>>) -> alertsync_spl::Report {
    let playbook = playbook(nodes);
    let registry = registry();
    let book = AccountBook::new(accounts);
    let bindings = BTreeMap::new();
    validate(
        &playbook,
        &RegistryCatalog::new(&registry, &book, &bindings),
    )
}

#[test]
fn a_valid_playbook_validates_cleanly() {
    let errors = validation(
        json!({
            "0": trigger(&["1"]),
            "1": {"name": "read", "type": "action", "module_uuid": READER, "action_uuid": READ_ALERT,
                  "arguments": {"alert_uuid": "{{ node.0.alert }}", "limit": 5}, "outputs": {"default": ["2"]}},
            "2": reveal_node(None).raw,
        }),
        vec![
            sekoia("s"),
            vault("v"),
            account("r", &reader_manifest(), json!({"url": "u"})),
        ],
    );
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn validation_reports_uuids_literal_arguments_and_accounts() {
    let nodes = json!({
        "0": {"name": "t", "type": "trigger", "module_uuid": TOOLS, "trigger_uuid": "nope",
              "outputs": {"default": ["1", "2", "3", "4"]}},
        "1": tool("no-such-action", "missing", json!({}), &[]),
        "2": {"name": "read", "type": "action", "module_uuid": READER, "action_uuid": READ_ALERT,
              "arguments": {"limit": "many", "api_key": "k", "base_url": "b"},
              "outputs": {"default": []}},
        "3": reveal_node(None).raw,
        "4": {"name": "module", "type": "action", "module_uuid": "not-a-module",
              "action_uuid": "x", "arguments": {}, "outputs": {}},
    });
    let report = report_of(nodes, vec![vault("a"), vault("b")]);
    let errors: Vec<(String, String)> = report
        .errors
        .iter()
        .map(|p| (p.path.clone(), p.message.clone()))
        .collect();
    let find = |path: &str| {
        errors
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, m)| m.as_str())
            .collect::<Vec<_>>()
    };
    // What alertsync does not implement is needed, with the nodes needing it, not an error.
    let needed: Vec<(&str, &str, &[String])> = report
        .needs_modules
        .iter()
        .map(|n| (n.kind, n.uuid.as_str(), n.nodes.as_slice()))
        .collect();
    assert_eq!(
        needed,
        [
            ("trigger", "nope", &["0".to_owned()][..]),
            ("action", "no-such-action", &["1".to_owned()][..]),
            ("module", "not-a-module", &["4".to_owned()][..]),
        ]
    );
    assert!(find("$.nodes['0'].trigger_uuid").is_empty());
    assert_eq!(find("$.nodes['2'].arguments.limit").len(), 1, "{errors:#?}");
    assert_eq!(
        find("$.nodes['2'].arguments.alert_uuid").len(),
        1,
        "{errors:#?}"
    );
    assert!(
        find("$.nodes['2']")[0].contains("no reader account"),
        "{errors:#?}"
    );
    assert!(find("$.nodes['3']")[0].contains("`a`, `b`"), "{errors:#?}");
    assert!(find("$.nodes['4'].module_uuid").is_empty());
}

#[test]
fn templated_arguments_satisfy_required_and_size_rules() {
    let errors = validation(
        json!({
            "0": trigger(&["1"]),
            "1": {"name": "read", "type": "action", "module_uuid": READER, "action_uuid": READ_ALERT,
                  "arguments": {"alert_uuid": "{{ node.0.a }}", "api_key": "{{ node.0.k }}",
                                "base_url": "{{ node.0.b }}"},
                  "outputs": {"default": []}},
        }),
        vec![account("r", &reader_manifest(), json!({"url": "u"}))],
    );
    assert!(errors.is_empty(), "{errors:#?}");
}
