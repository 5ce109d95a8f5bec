//! `alertsync check`: a configuration is checked as `serve` would check it, with every
//! mistake listed at once, and `--online` proves each account works against the simulator.

mod common;

use alertsync_sim::Receiver;
use common::*;
use serde_json::{Value, json};

/// A playbook with one trigger node and nothing after it.
fn trigger_only(name: &str, module_uuid: &str, trigger_uuid: &str, arguments: Value) -> String {
    json!({
        "name": name,
        "uuid": format!("check-{}", name.to_lowercase().replace(' ', "-")),
        "nodes": {
            "1": {
                "name": name,
                "type": "trigger",
                "outputs": {"default": []},
                "position": {"x": 0, "y": 0},
                "arguments": arguments,
                "module_uuid": module_uuid,
                "trigger_uuid": trigger_uuid,
                "trigger_configuration_uuid": null
            }
        }
    })
    .to_string()
}

fn manual_trigger_playbook() -> String {
    trigger_only(
        "On demand",
        alertsync_integrations::sekoia::MODULE_UUID,
        alertsync_integrations::sekoia::triggers::MANUAL_TRIGGER,
        json!({}),
    )
}

fn cron_playbook(expression: &str) -> String {
    trigger_only(
        "Every hour",
        alertsync_integrations::cron::MODULE_UUID,
        alertsync_integrations::cron::CRON_TRIGGER,
        json!({ "cron": expression }),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn check_lists_every_mistake_of_a_configuration_at_once() {
    let sim = simulator().await;
    let config = ConfigDir::new("");
    config.write("on-demand.json", &manual_trigger_playbook());
    config.write("every-hour.json", &cron_playbook("61 * * * *"));
    config.write(
        "alertsync.toml",
        &format!(
            "{accounts}\n{shipped}\n\
             [[playbook]]\nfile = \"on-demand.json\"\n\n\
             [[playbook]]\nfile = \"every-hour.json\"\n\n\
             [[playbook]]\nfile = \"not-there.json\"\n\n\
             [server]\nlisten = \"0.0.0.0:8080\"\n\n\
             [delivery]\nmax_atempts = 3\n",
            accounts = sim_accounts(&sim, SEKOIA_KEY, ILERT_KEY),
            shipped = shipped_playbook("forward-alerts-to-ilert.json"),
        ),
    );
    // `validate` passes the webhook playbook that `serve` refuses without a token.
    let elsewhere = tempfile::tempdir().unwrap();
    let playbook = config.dir.path().join("on-demand.json");
    let validated = alertsync(
        elsewhere.path(),
        &["validate", playbook.to_str().expect("a UTF-8 path")],
    )
    .await;
    assert_eq!(exit_code(&validated), 0, "{}", stdout(&validated));

    let out = alertsync(config.dir.path(), &["check"]).await;

    assert_eq!(exit_code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    for expected in [
        "5 problem(s)",
        "[delivery]: unknown key `max_atempts` (did you mean `max_attempts`?",
        "on-demand.json (alertsync.toml:",
        "a Manual Trigger needs `webhook_token`",
        "every-hour.json (alertsync.toml:",
        "cron `61 * * * *`",
        "not-there.json (alertsync.toml:",
        "cannot read the playbook",
        "refusing to listen on 0.0.0.0:8080 without a token",
    ] {
        assert!(
            text.contains(expected),
            "`{expected}` missing from:\n{text}"
        );
    }
    assert!(
        !text.contains("forward-alerts-to-ilert"),
        "the sound playbook has no problem:\n{text}"
    );
    assert!(
        sim.requests(Receiver::Sekoia).is_empty() && sim.requests(Receiver::Ilert).is_empty(),
        "nothing is sent without --online"
    );

    let out = alertsync(config.dir.path(), &["check", "--format", "json"]).await;
    assert_eq!(exit_code(&out), 1);
    let report = stdout_json(&out);
    assert_eq!(report["ok"], false);
    assert_eq!(report["problems"].as_array().map(Vec::len), Some(5));
}

#[tokio::test(flavor = "multi_thread")]
async fn check_online_proves_each_account_without_creating_an_alert() {
    let sim = simulator().await;
    let config = ConfigDir::new(&format!(
        "{}\n[[account]]\nname = \"chat\"\nmodule = \"mattermost\"\nhook_url = \"{}\"\n\n{}",
        sim_accounts(&sim, SEKOIA_KEY, ILERT_KEY),
        sim.urls().mattermost,
        shipped_playbook("forward-alerts-to-ilert.json"),
    ));

    let out = alertsync(config.dir.path(), &["check", "--online"]).await;

    assert_eq!(exit_code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("no problem"), "{text}");
    assert!(text.contains("3 checked online, 0 failing"), "{text}");
    assert!(text.contains("ok   account `sekoia` (sekoia.io)"), "{text}");
    assert!(text.contains("ok   account `ilert` (ilert)"), "{text}");
    assert!(text.contains("skip account `chat` (mattermost)"), "{text}");
    let identity: Vec<_> = sim
        .requests(Receiver::Sekoia)
        .into_iter()
        .filter(|r| r.path.ends_with("/v1/me"))
        .collect();
    assert_eq!(identity.len(), 1, "one GET /v1/me");
    assert_eq!(sim.requests(Receiver::Ilert).len(), 1, "one event to ilert");
    assert!(
        sim.ilert_alerts().is_empty(),
        "the check created an ilert alert: {:?}",
        sim.ilert_alerts()
    );
    assert!(sim.requests(Receiver::Mattermost).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn check_online_with_wrong_keys_fails_naming_each_account() {
    let sim = simulator().await;
    let wrong_sekoia = "wrong-sekoia-key-1234";
    let wrong_ilert = "wrong-ilert-key-5678";
    let config = ConfigDir::new(&format!(
        "{}\n{}",
        sim_accounts(&sim, wrong_sekoia, wrong_ilert),
        shipped_playbook("forward-alerts-to-ilert.json"),
    ));

    let out = alertsync(config.dir.path(), &["check", "--online"]).await;

    assert_eq!(exit_code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("2 checked online, 2 failing"), "{text}");
    let line = |account: &str| {
        text.lines()
            .find(|l| l.contains(&format!("FAIL account `{account}`")))
            .unwrap_or_else(|| panic!("no failing line for `{account}`:\n{text}"))
            .to_owned()
    };
    let sekoia = line("sekoia");
    assert!(
        sekoia.contains("/v1/me") && sekoia.contains("401"),
        "{sekoia}"
    );
    assert!(
        sekoia.contains("the API key is missing, expired or invalid"),
        "{sekoia}"
    );
    let ilert = line("ilert");
    assert!(
        ilert.contains("404") && ilert.contains("integration_key"),
        "{ilert}"
    );
    for secret in [wrong_sekoia, wrong_ilert] {
        assert!(!text.contains(secret), "a key leaked:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn check_without_a_configuration_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = alertsync(dir.path(), &["check"]).await;
    assert_eq!(exit_code(&out), 2);
    assert!(
        stderr(&out).contains("no configuration to check"),
        "{}",
        stderr(&out)
    );

    let out = alertsync(dir.path(), &["check", "--config", "missing.toml"]).await;
    assert_eq!(exit_code(&out), 2);
    assert!(
        stderr(&out).contains("cannot read missing.toml"),
        "{}",
        stderr(&out)
    );
}
