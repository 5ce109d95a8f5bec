//! Mattermost Post Message and Post Sekoia.io Alert against the simulated incoming webhook.

mod common;

use alertsync_engine::ErrorKind;
use alertsync_integrations::mattermost;
use alertsync_sim::{Fault, Receiver, Route, Simulator};
use common::{API_KEY, context, invalid_argument, run, simulator};
use serde_json::{Value, json};

fn mattermost_context(sim: &Simulator) -> alertsync_engine::ActionContext {
    let manifest = mattermost::manifest();
    context(Some((
        &manifest,
        json!({"hook_url": sim.urls().mattermost}),
    )))
}

#[tokio::test]
async fn post_message_sends_text_channel_and_username() {
    let sim = simulator().await;
    let cx = mattermost_context(&sim);

    let out = run(
        "mattermost.post_message",
        &cx,
        json!({"message": "Hello **team**", "channel": "soc", "username": "bot"}),
    )
    .await
    .unwrap();

    let sent = &sim.requests(Receiver::Mattermost)[0];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", "/hooks/sim-hook")
    );
    assert_eq!(
        sent.body,
        json!({"text": "Hello **team**", "channel": "soc", "username": "bot"})
    );
    assert_eq!(out.results, sent.body);
}

#[tokio::test]
async fn post_alert_sends_one_attachment_coloured_by_urgency() {
    let sim = simulator().await;
    let urgency = json!({"severity": 100, "value": 100, "criticity": 1, "current_value": 100, "display": "Urgent"});
    let alert =
        sim.create_alert(json!({"urgency": urgency, "source": "10.0.0.1", "target": "10.0.0.2"}));
    let cx = mattermost_context(&sim);
    let args = json!({"alert_uuid": alert["short_id"], "api_key": API_KEY, "base_url": sim.urls().sekoia,
                      "channel": "alerts", "pretext": "New alert"});

    let out = run("mattermost.post_alert", &cx, args).await.unwrap();

    let sent = &sim.requests(Receiver::Mattermost)[0].body;
    assert_eq!(sent["channel"], "alerts");
    let attachment = &sent["attachments"][0];
    assert_eq!(attachment["color"], "#ff0000");
    assert_eq!(attachment["pretext"], "New alert");
    assert_eq!(attachment["author_name"], alert["entity"]["name"]);
    assert_eq!(attachment["title"], alert["title"]);
    assert!(
        attachment["title_link"]
            .as_str()
            .unwrap()
            .ends_with(alert["short_id"].as_str().unwrap())
    );
    let field = |title: &str| {
        attachment["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["title"] == title)
            .map(|f| f["value"].clone())
    };
    assert_eq!(field("Urgency"), Some(json!("Urgent - 100")));
    assert_eq!(field("Source"), Some(json!("10.0.0.1")));
    assert_eq!(field("Target"), Some(json!("10.0.0.2")));
    assert_eq!(
        field("Description"),
        Some(json!(alert["details"].as_str().unwrap_or_default()))
    );
    assert!(field("Alert type").is_some());

    let hook = &sim.urls().mattermost;
    assert!(!out.results.to_string().contains(hook.as_str()));
    assert!(
        cx.log
            .lines()
            .iter()
            .all(|line| !line.message.contains(hook.as_str()))
    );
}

#[tokio::test]
async fn hook_failures_are_retried_and_never_show_the_hook_url() {
    let sim = simulator().await;
    let cx = mattermost_context(&sim);
    sim.inject_fault(Fault::status(Route::Mattermost, 502));

    run("mattermost.post_message", &cx, json!({"message": "hi"}))
        .await
        .unwrap();
    assert_eq!(sim.requests(Receiver::Mattermost).len(), 2);

    sim.inject_fault(Fault::status(Route::Mattermost, 403));
    let err = run("mattermost.post_message", &cx, json!({"message": "hi"}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind.clone(), err.http_status),
        (ErrorKind::Permanent, Some(403))
    );
    assert!(
        !err.message.contains(sim.urls().mattermost.as_str()),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn bad_arguments_or_no_account_send_nothing() {
    let sim = simulator().await;
    let cx = mattermost_context(&sim);

    let err = run("mattermost.post_message", &cx, json!({"message": "  "}))
        .await
        .unwrap_err();
    assert_eq!(invalid_argument(&err), Some("message"));
    let err = run(
        "mattermost.post_alert",
        &cx,
        json!({"alert_uuid": "ALx", "api_key": API_KEY}),
    )
    .await
    .unwrap_err();
    assert_eq!(invalid_argument(&err), Some("base_url"));
    let alert = sim.create_alert(Value::Null);
    let args =
        json!({"alert_uuid": alert["uuid"], "api_key": API_KEY, "base_url": sim.urls().sekoia});
    let err = run("mattermost.post_alert", &context(None), args)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent);

    assert!(sim.requests(Receiver::Sekoia).is_empty());
    assert!(sim.requests(Receiver::Mattermost).is_empty());
}
