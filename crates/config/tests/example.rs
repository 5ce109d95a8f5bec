//! The `alertsync.example.toml` shipped at the root of the repository loads, with every
//! variable it reads set, and shows the defaults.

use std::path::{Path, PathBuf};

use alertsync_config::{Config, DeliveryConfig, ServerConfig, StoreConfig};

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../alertsync.example.toml")
}

const VARIABLES: &[(&str, &str)] = &[
    ("SEKOIA_API_KEY", "fake-sekoia-key"),
    ("ILERT_INTEGRATION_KEY", "fake-ilert-key"),
    ("PAGERDUTY_INTEGRATION_KEY", "fake-pagerduty-key"),
    ("MATTERMOST_HOOK_URL", "https://chat.example.com/hooks/fake"),
];

fn fake_env(name: &str) -> Option<String> {
    VARIABLES
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| (*v).to_owned())
}

#[test]
fn the_example_configuration_loads() {
    let path = example_path();
    let registry = alertsync_integrations::registry();
    let config = match Config::load_with_env(&path, &registry, &fake_env) {
        Ok(config) => config,
        Err(error) => panic!("{error}"),
    };

    let modules: Vec<&str> = config.accounts.iter().map(|a| a.module.as_str()).collect();
    assert_eq!(modules, ["sekoia.io", "ilert", "pagerduty", "mattermost"]);
    let sekoia = config.account("sekoia").unwrap();
    assert_eq!(sekoia.str("api_key"), Some("fake-sekoia-key"));
    assert_eq!(sekoia.str("base_url"), Some("https://api.sekoia.io"));
    let ilert = config.account("ilert-prod").unwrap();
    assert_eq!(ilert.str("integration_key"), Some("fake-ilert-key"));

    let [playbook] = &config.playbooks[..] else {
        panic!("one playbook expected: {:?}", config.playbooks);
    };
    assert!(playbook.enabled);
    assert!(
        playbook
            .file
            .ends_with("examples/playbooks/forward-alerts-to-ilert.json")
    );
    assert_eq!(
        playbook
            .file
            .parent()
            .and_then(Path::parent)
            .and_then(Path::parent),
        path.parent()
    );

    assert_eq!(config.server, ServerConfig::default());
    assert_eq!(config.store, StoreConfig::in_dir(path.parent().unwrap()));
    assert_eq!(config.delivery, DeliveryConfig::default());
}

#[test]
fn every_variable_the_example_reads_is_needed() {
    let registry = alertsync_integrations::registry();
    for (missing, _) in VARIABLES {
        let env = |name: &str| (name != *missing).then(|| fake_env(name)).flatten();
        let error = Config::load_with_env(&example_path(), &registry, &env).unwrap_err();
        let shown = error.to_string();
        assert_eq!(error.problems().len(), 1, "{shown}");
        assert!(
            shown.contains(&format!("`{missing}` is not set")),
            "{shown}"
        );
    }
}
