//! `alertsync action`: one action from the command line, against the simulator.

mod common;

use alertsync_sim::{Fault, Receiver, Route};
use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn trigger_alert_forwards_the_alert_with_credentials_from_the_configuration() {
    let sim = simulator().await;
    let alert = sim.create_alert(json!({"status": "Acknowledged"}));
    let config = sim_config(&sim, ILERT_KEY);
    let uuid = alert["uuid"].as_str().unwrap();

    let out = alertsync(
        config.dir.path(),
        &[
            "action",
            "ilert.trigger_alert",
            "--arg",
            &format!("alert_uuid={uuid}"),
        ],
    )
    .await;

    assert_eq!(exit_code(&out), 0, "stderr: {}", stderr(&out));
    let results = stdout_json(&out);
    assert_eq!(results["uuid"], alert["uuid"]);
    assert_eq!(results["status"], "acknowledged");
    let received = sim.requests(Receiver::Ilert);
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body, results);
    assert!(!stdout(&out).contains(ILERT_KEY) && !stderr(&out).contains(ILERT_KEY));
    assert!(!stdout(&out).contains(SEKOIA_KEY) && !stderr(&out).contains(SEKOIA_KEY));
}

#[tokio::test(flavor = "multi_thread")]
async fn explicit_arguments_and_the_config_flag_work_from_any_directory() {
    let sim = simulator().await;
    let alert = sim.create_alert(json!({}));
    let config = ConfigDir::new(&format!(
        "[[account]]\nname = \"pager\"\nmodule = \"ilert\"\nintegration_url = \"{}\"\nintegration_key = \"{ILERT_KEY}\"\n",
        sim.urls().ilert
    ));
    let elsewhere = tempfile::tempdir().unwrap();
    let config_path = config.path();

    let out = alertsync(
        elsewhere.path(),
        &[
            "action",
            "ilert.trigger_alert",
            "--config",
            config_path.to_str().unwrap(),
            "--account",
            "pager",
            "--arg",
            &format!("alert_uuid={}", alert["short_id"].as_str().unwrap()),
            "--arg",
            &format!("base_url={}", sim.urls().sekoia),
            "--args-json",
            &json!({"api_key": SEKOIA_KEY}).to_string(),
        ],
    )
    .await;

    assert_eq!(exit_code(&out), 0, "stderr: {}", stderr(&out));
    assert_eq!(sim.ilert_alerts().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_integration_key_fails_with_exit_1_and_never_shows_the_key() {
    let sim = simulator().await;
    let alert = sim.create_alert(json!({}));
    let wrong_key = "wrong-key-0123456789";
    let config = sim_config(&sim, wrong_key);

    let out = alertsync(
        config.dir.path(),
        &[
            "action",
            "ilert.trigger_alert",
            "--arg",
            &format!("alert_uuid={}", alert["uuid"].as_str().unwrap()),
        ],
    )
    .await;

    assert_eq!(exit_code(&out), 1);
    assert!(
        stderr(&out).contains("wrong integration key or URL"),
        "{}",
        stderr(&out)
    );
    assert!(!stdout(&out).contains(wrong_key) && !stderr(&out).contains(wrong_key));
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_errors_are_retried_before_the_command_answers() {
    let sim = simulator().await;
    let alert = sim.create_alert(json!({}));
    sim.inject_fault(Fault::status(Route::Ilert, 503).times(2));
    let config = sim_config(&sim, ILERT_KEY);

    let out = alertsync(
        config.dir.path(),
        &[
            "action",
            "ilert.trigger_alert",
            "--arg",
            &format!("alert_uuid={}", alert["uuid"].as_str().unwrap()),
        ],
    )
    .await;

    assert_eq!(exit_code(&out), 0, "stderr: {}", stderr(&out));
    assert_eq!(sim.requests(Receiver::Ilert).len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_argument_is_a_usage_error_and_nothing_is_sent() {
    let sim = simulator().await;
    let config = sim_config(&sim, ILERT_KEY);

    for args in [
        vec!["--arg", "alert_uuid=not-an-id"],
        vec!["--arg", "alert_uuid=   "],
        vec![],
    ] {
        let mut argv = vec!["action", "ilert.trigger_alert"];
        argv.extend(args.iter().copied());
        let out = alertsync(config.dir.path(), &argv).await;
        assert_eq!(exit_code(&out), 2, "{argv:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("alert_uuid"),
            "{argv:?}: {}",
            stderr(&out)
        );
    }
    for receiver in [Receiver::Sekoia, Receiver::Ilert] {
        assert!(sim.requests(receiver).is_empty());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_mistakes_say_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["action", "ilert.nope"], "nope"),
        (
            &["action", "ilert.trigger_alert", "--arg", "oops"],
            "KEY=VALUE",
        ),
        (
            &["action", "ilert.trigger_alert", "--arg", "colour=red"],
            "colour",
        ),
        (
            &["action", "ilert.trigger_alert", "--args-json", "[1]"],
            "JSON object",
        ),
    ];
    for (argv, hint) in cases {
        let out = alertsync(dir.path(), argv).await;
        assert_eq!(exit_code(&out), 2, "{argv:?}");
        assert!(stderr(&out).contains(hint), "{argv:?}: {}", stderr(&out));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configuration_error_names_the_file_line_and_key() {
    let config = ConfigDir::new(
        "[[account]]\nname = \"ilert\"\nmodule = \"ilert\"\nintegration_key = \"${ALERTSYNC_TEST_UNSET_VARIABLE}\"\n",
    );
    let out = alertsync(
        config.dir.path(),
        &["action", "ilert.trigger_alert", "--arg", "alert_uuid=ALabc"],
    )
    .await;
    assert_eq!(exit_code(&out), 2);
    let err = stderr(&out);
    assert!(err.contains("alertsync.toml:4"), "{err}");
    assert!(
        err.contains("integration_key") && err.contains("ALERTSYNC_TEST_UNSET_VARIABLE"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_explicit_configuration_file_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let out = alertsync(dir.path(), &["modules", "--config", "missing.toml"]).await;
    // `modules` needs no configuration, so only commands that read it complain.
    assert_eq!(exit_code(&out), 0);
    let out = alertsync(
        dir.path(),
        &[
            "action",
            "ilert.trigger_alert",
            "--config",
            "missing.toml",
            "--arg",
            "alert_uuid=ALx",
        ],
    )
    .await;
    assert_eq!(exit_code(&out), 2);
    assert!(stderr(&out).contains("missing.toml"), "{}", stderr(&out));
}
