//! The registry: every module of the catalogue, in order, with well-formed manifests.

use std::collections::HashSet;

use alertsync_engine::invoke::validate_arguments;
use alertsync_integrations::registry;
use serde_json::json;

#[test]
fn every_module_and_action_is_registered_under_its_slug() {
    let registry = registry();
    let modules: Vec<&str> = registry.modules().iter().map(|m| m.manifest.slug).collect();
    assert_eq!(
        modules,
        [
            "sekoia.io",
            "http",
            "ilert",
            "pagerduty",
            "mattermost",
            "utils",
            "cron"
        ]
    );
    for name in [
        "sekoia.io.get_alert",
        "sekoia.io.search_alerts",
        "sekoia.io.edit_alert",
        "sekoia.io.update_alert_status",
        "sekoia.io.update_alert_status_by_name",
        "sekoia.io.comment_alert",
        "sekoia.io.get_events",
        "sekoia.io.get_event_field_common_values",
        "sekoia.io.push_events_to_intake",
        "http.request_url",
        "ilert.trigger_alert",
        "pagerduty.trigger_alert",
        "mattermost.post_alert",
        "mattermost.post_message",
        "utils.read_json_file",
    ] {
        assert!(registry.action_by_name(name).is_ok(), "{name}");
    }
    let cron = registry.trigger(
        "1ad1b7ce-e335-4532-83ce-1d43c864720c",
        "5039c9fe-b2d8-40b3-a11b-d2a810ddbf91",
    );
    assert!(cron.is_some_and(|(_, t)| t.arguments["properties"].get("cron").is_some()));
}

#[test]
fn uuids_are_unique_schemas_compile_and_secrets_are_arguments() {
    let registry = registry();
    let mut uuids = HashSet::new();
    for module in registry.modules() {
        assert!(
            uuids.insert(module.manifest.uuid),
            "{}",
            module.manifest.uuid
        );
        for action in &module.actions {
            let manifest = action.manifest();
            assert!(uuids.insert(manifest.uuid), "{}", manifest.name);
            // Compiles the schema; an error is only about the (empty) arguments.
            if let Err(err) = validate_arguments(manifest, &json!({})) {
                assert!(
                    !err.message.contains("schema"),
                    "{}: {}",
                    manifest.name,
                    err.message
                );
            }
            for secret in &manifest.secrets {
                assert!(
                    manifest.argument_keys().contains(secret),
                    "{}: {secret}",
                    manifest.name
                );
            }
        }
    }
}
