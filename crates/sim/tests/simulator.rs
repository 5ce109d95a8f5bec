//! The simulators over real loopback sockets, as the product and its tests use them.

use std::time::{Duration, Instant};

use alertsync_sim::{Fault, IlertWebhook, OnCallUser, Receiver, Route, SimConfig, Simulator};
use futures_util::{SinkExt, StreamExt};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const API_KEY: &str = "sim-api-key";
const ONGOING: &str = "1f2f88d5-ff5b-48bf-bbbc-00c2fff82d9f";
const CLOSE_ACTION: &str = "1390be4e-ced8-4dd6-9bed-573471b235ab";
const WAIT: Duration = Duration::from_secs(3);

/// An HTTP client; reqwest is built without a default TLS provider, so install one.
fn client() -> Client {
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
    Client::new()
}

async fn simulator() -> Simulator {
    simulator_with(SimConfig::default()).await
}

async fn simulator_with(config: SimConfig) -> Simulator {
    alertsync_sim::start(config)
        .await
        .expect("simulator starts")
}

fn text(value: &Value) -> &str {
    value.as_str().expect("a string")
}

async fn body(response: Response) -> Value {
    response.json().await.expect("a JSON body")
}

/// Authenticated GET on the Sekoia.io REST API.
async fn sekoia_get(sim: &Simulator, path: &str, query: &[(&str, &str)]) -> Response {
    client()
        .get(format!("{}{path}", sim.urls().sekoia))
        .bearer_auth(API_KEY)
        .query(query)
        .send()
        .await
        .expect("request sent")
}

async fn sekoia_send(
    sim: &Simulator,
    method: reqwest::Method,
    path: &str,
    payload: Value,
) -> Response {
    client()
        .request(method, format!("{}{path}", sim.urls().sekoia))
        .bearer_auth(API_KEY)
        .json(&payload)
        .send()
        .await
        .expect("request sent")
}

async fn post(url: &str, payload: Value) -> Response {
    client()
        .post(url)
        .json(&payload)
        .send()
        .await
        .expect("request sent")
}

#[tokio::test]
async fn rest_routes_require_the_bearer_key() {
    let sim = simulator().await;
    let url = format!("{}/v1/me", sim.urls().sekoia);
    let missing = client().get(&url).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert!(body(missing).await["message"].is_string());
    let wrong = client().get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let me = sekoia_get(&sim, "/api/v1/me", &[]).await;
    assert_eq!(me.status(), StatusCode::OK);
    assert!(body(me).await["community_uuid"].is_string());
}

#[tokio::test]
async fn an_alert_is_found_by_uuid_and_short_id_under_both_prefixes() {
    let sim = simulator().await;
    let alert = sim.create_alert(json!({"title": "Forwarded whole"}));
    let short_id = text(&alert["short_id"]);
    assert!(short_id.starts_with("AL") && short_id.len() == 12);
    for id in [text(&alert["uuid"]), short_id] {
        for prefix in ["/v1", "/api/v1"] {
            let response = sekoia_get(&sim, &format!("{prefix}/sic/alerts/{id}"), &[]).await;
            assert_eq!(response.status(), StatusCode::OK);
            let fetched = body(response).await;
            assert_eq!(fetched["uuid"], alert["uuid"]);
            assert_eq!(fetched["title"], "Forwarded whole");
        }
    }
    let fetched = body(sekoia_get(&sim, &format!("/v1/sic/alerts/{short_id}"), &[]).await).await;
    for field in [
        "created_at",
        "updated_at",
        "first_seen_at",
        "last_seen_at",
        "community_uuid",
        "entity",
        "urgency",
        "alert_type",
        "status",
        "rule",
        "source",
        "target",
        "details",
        "similar",
        "kill_chain_short_id",
        "is_incident",
        "ttps",
        "adversaries",
        "assets",
        "intake_uuids",
        "event_uuids",
        "number_of_unseen_comments",
        "number_of_total_comments",
        "created_by",
        "created_by_type",
        "updated_by",
        "updated_by_type",
        "custom_status",
        "custom_status_uuid",
        "verdict",
        "verdict_uuid",
    ] {
        assert!(fetched.get(field).is_some(), "field {field} is missing");
    }
    assert!(fetched["created_at"].is_i64());
    assert!(text(&fetched["first_seen_at"]).ends_with('Z'));
    assert_eq!(fetched["status"]["name"], "Pending");

    let lean = sekoia_get(
        &sim,
        &format!("/v1/sic/alerts/{short_id}"),
        &[
            ("stix", "True"),
            ("comments", "False"),
            ("history", "false"),
            ("countermeasures", "False"),
        ],
    )
    .await;
    let lean = body(lean).await;
    assert!(lean.get("comments").is_none() && lean.get("history").is_none());
    assert_eq!(lean["stix"]["type"], "bundle");

    let unknown = sekoia_get(&sim, "/v1/sic/alerts/ALunknown000", &[]).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn listing_filters_sorts_and_pages() {
    let sim = simulator().await;
    let alerts = sim.create_alerts(5);
    let checkpoint = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    sim.set_status(text(&alerts[3]["uuid"]), "ongoing", None)
        .unwrap();
    sim.add_comment(text(&alerts[1]["short_id"]), "looked at it", None)
        .unwrap();

    let changed = body(
        sekoia_get(
            &sim,
            "/v1/sic/alerts",
            &[
                ("date[updated_at]", &format!("{checkpoint},now")),
                ("sort", "updated_at"),
                ("direction", "asc"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(changed["total"], 2);
    assert_eq!(changed["items"][0]["uuid"], alerts[3]["uuid"]);
    assert_eq!(changed["items"][1]["uuid"], alerts[1]["uuid"]);

    let ongoing =
        body(sekoia_get(&sim, "/v1/sic/alerts", &[("match[status_name]", "Ongoing")]).await).await;
    assert_eq!(ongoing["total"], 1);
    let not_ongoing =
        body(sekoia_get(&sim, "/v1/sic/alerts", &[("nomatch[status_uuid]", ONGOING)]).await).await;
    assert_eq!(not_ongoing["total"], 4);
    let pair = format!(
        "{},{}",
        text(&alerts[0]["short_id"]),
        text(&alerts[2]["short_id"])
    );
    let two = body(sekoia_get(&sim, "/v1/sic/alerts", &[("match[short_id]", &pair)]).await).await;
    assert_eq!(two["total"], 2);
    let all = body(sekoia_get(&sim, "/v1/sic/alerts", &[("range[urgency]", "0,100")]).await).await;
    assert_eq!(all["total"], 5);

    let page = body(
        sekoia_get(
            &sim,
            "/v1/sic/alerts",
            &[
                ("limit", "2"),
                ("offset", "2"),
                ("sort", "created_at"),
                ("direction", "asc"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(page["total"], 5);
    assert_eq!(page["has_more"], true);
    assert_eq!(page["items"][0]["uuid"], alerts[2]["uuid"]);
    let last =
        body(sekoia_get(&sim, "/v1/sic/alerts", &[("limit", "2"), ("offset", "4")]).await).await;
    assert_eq!(last["has_more"], false);
    let bad = sekoia_get(
        &sim,
        "/v1/sic/alerts",
        &[("date[created_at]", "yesterday,now")],
    )
    .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn workflow_accepts_status_and_action_uuids() {
    let sim = simulator().await;
    let alert = sim.create_alert(Value::Null);
    let workflow = format!("/v1/sic/alerts/{}/workflow", text(&alert["short_id"]));
    let by_status = sekoia_send(
        &sim,
        reqwest::Method::PATCH,
        &workflow,
        json!({"action_uuid": ONGOING, "comment": null}),
    )
    .await;
    assert_eq!(by_status.status(), StatusCode::OK);
    assert_eq!(body(by_status).await, json!({}));
    let by_action = sekoia_send(
        &sim,
        reqwest::Method::PATCH,
        &workflow,
        json!({"action_uuid": CLOSE_ACTION, "comment": "done"}),
    )
    .await;
    assert_eq!(by_action.status(), StatusCode::OK);
    let closed = sim.alert(text(&alert["uuid"])).unwrap();
    assert_eq!(closed["status"]["name"], "Closed");
    // Newest first, status entries with the status only, as Sekoia.io lists them.
    let history = closed["history"].as_array().unwrap();
    assert_eq!(history[0]["alert"], json!({"status": "Closed"}));
    assert_eq!(history[0]["comment"], "done");
    assert_eq!(history[1]["alert"], json!({"status": "Ongoing"}));
    assert_eq!(
        history.last().unwrap()["alert"],
        json!({"status": "Pending"})
    );

    let unknown = sekoia_send(
        &sim,
        reqwest::Method::PATCH,
        &workflow,
        json!({"action_uuid": "00000000-0000-0000-0000-000000000000"}),
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    let actions = body(sekoia_get(&sim, &workflow, &[]).await).await;
    assert_eq!(actions["actions"].as_array().unwrap().len(), 4);

    let edited = sekoia_send(
        &sim,
        reqwest::Method::PATCH,
        &format!("/v1/sic/alerts/{}", text(&alert["uuid"])),
        json!({"title": "Renamed", "urgency": 85}),
    )
    .await;
    let edited = body(edited).await;
    assert_eq!(edited["title"], "Renamed");
    assert_eq!(edited["urgency"]["display"], "Urgent");
    assert!(edited.get("verdict").is_some());
}

#[tokio::test]
async fn comments_are_added_listed_and_fetched() {
    let sim = simulator().await;
    let alert = sim.create_alert(Value::Null);
    let comments = format!("/v1/sic/alerts/{}/comments", text(&alert["uuid"]));
    let created = body(
        sekoia_send(
            &sim,
            reqwest::Method::POST,
            &comments,
            json!({"content": "hello", "author": "bot"}),
        )
        .await,
    )
    .await;
    assert_eq!(created["content"], "hello");
    assert!(created["date"].is_i64());
    let listed = body(sekoia_get(&sim, &comments, &[]).await).await;
    assert_eq!(listed["total"], 1);
    let one = sekoia_get(&sim, &format!("{comments}/{}", text(&created["uuid"])), &[]).await;
    assert_eq!(body(one).await["author"], "bot");
    let too_long = sekoia_send(
        &sim,
        reqwest::Method::POST,
        &comments,
        json!({"content": "x", "author": "a".repeat(33)}),
    )
    .await;
    assert_eq!(too_long.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        sim.alert(text(&alert["uuid"])).unwrap()["number_of_total_comments"],
        1
    );
}

#[tokio::test]
async fn event_search_jobs_run_to_done_and_return_matching_events() {
    let sim = simulator().await;
    let alert = sim.create_alert(Value::Null);
    let short_id = text(&alert["short_id"]);
    let job = sekoia_send(
        &sim,
        reqwest::Method::POST,
        "/v1/sic/conf/events/search/jobs",
        json!({"term": format!("alert_short_ids:\"{short_id}\""), "earliest_time": "-30d", "latest_time": "now"}),
    )
    .await;
    let uuid = body(job).await["uuid"].as_str().unwrap().to_owned();
    let job_path = format!("/v1/sic/conf/events/search/jobs/{uuid}");
    assert_eq!(
        body(sekoia_get(&sim, &job_path, &[]).await).await["status"],
        1
    );
    assert_eq!(
        body(sekoia_get(&sim, &job_path, &[]).await).await["status"],
        2
    );
    let events = body(
        sekoia_get(
            &sim,
            &format!("{job_path}/events"),
            &[("limit", "10"), ("offset", "0")],
        )
        .await,
    )
    .await;
    let expected = alert["event_uuids"].as_array().unwrap().len();
    assert_eq!(events["total"], expected);
    let first = &events["items"][0];
    assert_eq!(first["alert_short_ids"][0], short_id);
    assert_eq!(first["source.ip"], alert["source"]);
    for field in [
        "destination.ip",
        "host.hostname",
        "host.name",
        "url.full",
        "file.hash.sha256",
        "user.name",
    ] {
        assert!(first[field].is_string(), "{field}");
    }
}

#[tokio::test]
async fn alerts_created_with_past_dates_are_listed_by_those_dates() {
    let sim = simulator().await;
    let a_year_ago = time::OffsetDateTime::now_utc() - time::Duration::days(400);
    let old = sim.create_alert(json!({
        "created_at": (a_year_ago - time::Duration::days(10)).unix_timestamp(),
        "updated_at": a_year_ago.unix_timestamp(),
    }));
    sim.create_alert(Value::Null);
    let rfc3339 = |instant: time::OffsetDateTime| {
        instant
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let range = format!(
        "{},{}",
        rfc3339(a_year_ago - time::Duration::days(1)),
        rfc3339(a_year_ago + time::Duration::days(1))
    );

    let listed =
        body(sekoia_get(&sim, "/v1/sic/alerts", &[("date[updated_at]", &range)]).await).await;

    assert_eq!(listed["total"], 1, "{listed:#}");
    assert_eq!(listed["items"][0]["uuid"], old["uuid"]);
    assert_eq!(
        listed["items"][0]["updated_at"],
        a_year_ago.unix_timestamp()
    );
}

/// Runs a search job for `term` to the end and returns its events.
async fn search(sim: &Simulator, term: &str) -> Vec<Value> {
    let job = sekoia_send(
        sim,
        reqwest::Method::POST,
        "/v1/sic/conf/events/search/jobs",
        json!({"term": term, "latest_time": "now"}),
    )
    .await;
    let uuid = text(&body(job).await["uuid"]).to_owned();
    let job_path = format!("/v1/sic/conf/events/search/jobs/{uuid}");
    while body(sekoia_get(sim, &job_path, &[]).await).await["status"] != 2 {}
    let page = body(sekoia_get(sim, &format!("{job_path}/events"), &[]).await).await;
    page["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_search_for_one_event_id_finds_that_event_of_its_alert() {
    let sim = simulator().await;
    let alert = sim.create_alert(json!({"event_uuids": [
        "0f5e2c1a-1111-4aaa-8bbb-000000000001",
        "0f5e2c1a-1111-4aaa-8bbb-000000000002"
    ]}));

    let found = search(&sim, "event.id:\"0f5e2c1a-1111-4aaa-8bbb-000000000002\"").await;

    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["event.id"], "0f5e2c1a-1111-4aaa-8bbb-000000000002");
    assert_eq!(found[0]["alert_short_ids"][0], alert["short_id"]);
    assert!(found[0]["host.name"].is_string());
}

#[tokio::test]
async fn the_stix_bundle_observes_each_event_or_is_the_one_given_at_creation() {
    let sim = simulator().await;
    let alert = sim.create_alert(json!({"source": "203.0.113.9", "target": "not an address"}));
    let generated = body(
        sekoia_get(
            &sim,
            &format!("/v1/sic/alerts/{}", text(&alert["uuid"])),
            &[("stix", "true")],
        )
        .await,
    )
    .await;
    let observed: Vec<&Value> = generated["stix"]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|object| object["type"] == "observed-data")
        .collect();
    assert_eq!(
        observed.len(),
        alert["event_uuids"].as_array().unwrap().len()
    );
    assert_eq!(
        observed[0]["id"],
        format!("observed-data--{}", text(&alert["event_uuids"][0]))
    );
    assert_eq!(
        observed[0]["objects"],
        json!({"0": {"type": "ipv4-addr", "value": "203.0.113.9"}})
    );

    let bundle = json!({"type": "bundle", "id": "bundle--given", "objects": []});
    let given = sim.create_alert(json!({"stix": bundle}));
    let path = format!("/v1/sic/alerts/{}", text(&given["uuid"]));
    let with_stix = body(sekoia_get(&sim, &path, &[("stix", "true")]).await).await;
    assert_eq!(with_stix["stix"], bundle);
    let without = body(sekoia_get(&sim, &path, &[]).await).await;
    assert!(without.get("stix").is_none());
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a frame in time");
        match message.expect("socket open").expect("valid frame") {
            Message::Text(text) => return serde_json::from_str(&text).expect("JSON frame"),
            _ => continue,
        }
    }
}

async fn until(condition: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "condition not met in time");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn live_notifications_follow_the_changes_in_order() {
    let sim = simulator().await;
    let refused = tokio_tungstenite::connect_async(sim.urls().live.as_str()).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        other => panic!("expected a 401, got {:?}", other.map(|_| ())),
    }

    let mut request = sim.urls().live.as_str().into_client_request().unwrap();
    request.headers_mut().insert(
        "cookie",
        format!("access_token_cookie={API_KEY}").parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(next_json(&mut socket).await["authenticated"], true);
    socket
        .send(Message::text(r#"{"action": "upgrade"}"#))
        .await
        .unwrap();
    until(|| sim.live_connection_count() == 1).await;
    socket
        .send(Message::Ping(b"beat".to_vec().into()))
        .await
        .unwrap();
    let pong = tokio::time::timeout(WAIT, socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(pong, Message::Pong(payload) if payload.as_ref() == b"beat"));

    let alert = sim.create_alert(Value::Null);
    let uuid = text(&alert["uuid"]);
    sim.set_status(uuid, "Acknowledged", None).unwrap();
    let comment = sim.add_comment(uuid, "on it", Some("analyst")).unwrap();

    let created = next_json(&mut socket).await;
    assert_eq!(created["metadata"]["version"], 2);
    assert_eq!(
        created["metadata"]["community_uuid"],
        alert["community_uuid"]
    );
    assert_eq!(
        (created["type"].as_str(), created["action"].as_str()),
        (Some("alert"), Some("created"))
    );
    assert_eq!(created["attributes"]["short_id"], alert["short_id"]);
    let updated = next_json(&mut socket).await;
    assert_eq!(updated["action"], "updated");
    assert_eq!(
        updated["attributes"]["updated"]["status"],
        "8f206505-af6d-433e-93f4-775d46dc7d0f"
    );
    assert_eq!(
        updated["attributes"]["updated"]["status_name"],
        "Acknowledged"
    );
    let commented = next_json(&mut socket).await;
    assert_eq!(commented["type"], "alert-comment");
    assert_eq!(commented["attributes"]["uuid"], comment["uuid"]);
    assert_eq!(commented["attributes"]["alert_short_id"], alert["short_id"]);

    sim.drop_live_connections();
    assert_eq!(sim.live_connection_count(), 0);
    let ended = tokio::time::timeout(WAIT, socket.next())
        .await
        .expect("socket ends in time");
    assert!(
        matches!(ended, None | Some(Err(_))),
        "socket should be gone, got {ended:?}"
    );
}

#[tokio::test]
async fn timings_stamp_each_emitted_notification_and_each_accepted_ilert_event() {
    let sim = simulator().await;
    sim.create_alert(Value::Null);
    assert!(
        sim.timings().notifications.is_empty(),
        "no live connection, no emitted notification"
    );

    let mut request = sim.urls().live.as_str().into_client_request().unwrap();
    request.headers_mut().insert(
        "cookie",
        format!("access_token_cookie={API_KEY}").parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    next_json(&mut socket).await;
    socket
        .send(Message::text(r#"{"action": "upgrade"}"#))
        .await
        .unwrap();
    until(|| sim.live_connection_count() == 1).await;
    let alert = sim.create_alert(Value::Null);
    let uuid = text(&alert["uuid"]);
    sim.set_status(uuid, "Acknowledged", None).unwrap();
    let url = format!("{}/sim-ilert-key", sim.urls().ilert);
    let mut event = alert.clone();
    event["status"] = json!("acknowledged");
    let accepted = post(&url, event.clone()).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let refused = post(&format!("{}/wrong-key", sim.urls().ilert), event).await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);

    let timings = sim.timings();
    let notified: Vec<_> = timings
        .notifications
        .iter()
        .map(|event| (event.alert_uuid.as_str(), event.what.as_str()))
        .collect();
    assert_eq!(notified, [(uuid, "alert created"), (uuid, "alert updated")]);
    assert_eq!(timings.ilert.len(), 1, "only accepted events are stamped");
    assert_eq!(timings.ilert[0].alert_uuid, uuid);
    assert!(timings.notifications[0].at_us <= timings.notifications[1].at_us);
    assert!(timings.notifications[1].at_us <= timings.ilert[0].at_us);

    let over_http: Value = reqwest::get(format!("{}/timings", sim.urls().control))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(over_http, serde_json::to_value(&timings).unwrap());
    let counts: Value = reqwest::get(format!("{}/timings/counts", sim.urls().control))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counts, json!({"notifications": 2, "ilert": 1}));
    sim.reset();
    assert_eq!(sim.timings(), alertsync_sim::Timings::default());
}

#[tokio::test]
async fn intake_accepts_known_keys_and_refuses_the_rest() {
    let sim = simulator().await;
    let intake = sim.urls().intake.clone();
    let one = post(
        &intake,
        json!({"intake_key": "sim-intake-key", "json": "{\"a\":1}"}),
    )
    .await;
    assert_eq!(one.status(), StatusCode::OK);
    assert!(body(one).await["event_id"].is_string());
    let batch = post(
        &format!("{intake}/batch"),
        json!({"intake_key": "sim-intake-key", "jsons": ["a", "b"]}),
    )
    .await;
    assert_eq!(body(batch).await["event_ids"].as_array().unwrap().len(), 2);
    let missing = post(&intake, json!({"json": "x"})).await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    let unknown = post(&intake, json!({"intake_key": "other", "json": "x"})).await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let huge = post(
        &format!("{intake}/batch"),
        json!({"intake_key": "sim-intake-key", "jsons": ["x".repeat(250_001)]}),
    )
    .await;
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(sim.requests(Receiver::Intake).len(), 5);
}

#[tokio::test]
async fn ilert_sekoia_endpoint_follows_the_alert_status() {
    let sim = simulator().await;
    let url = format!("{}/sim-ilert-key", sim.urls().ilert);
    let mut alert = sim.create_alert(Value::Null);
    for status in ["pending", "acknowledged", "closed"] {
        alert["status"] = json!(status);
        let response = post(&url, alert.clone()).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        assert!(response.headers().contains_key("correlation-id"));
        if status == "pending" {
            assert_eq!(sim.ilert_alerts()[0].status, "open");
        }
        if status == "acknowledged" {
            assert_eq!(sim.ilert_alerts()[0].status, "acknowledged");
        }
    }
    let view = sim.ilert_alerts();
    assert_eq!(view.len(), 1);
    assert_eq!(view[0].alert_key, text(&alert["uuid"]));
    assert_eq!(view[0].integration_key_suffix, "-key");
    assert_eq!(view[0].status, "resolved");
    assert_eq!(view[0].events, ["pending", "acknowledged", "closed"]);
    assert_eq!(view[0].last_body["verdict"], alert["verdict"]);

    let unknown = post(&format!("{}/wrong-key", sim.urls().ilert), alert).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert!(unknown.headers().contains_key("correlation-id"));
    let error = body(unknown).await;
    assert_eq!(error["status"], 404);
    assert!(error["message"].is_string() && error["code"].is_string());
    let malformed = post(&url, json!({"status": "open"})).await;
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn ilert_generic_events_drive_the_same_state_machine() {
    let sim = simulator().await;
    let event = |event_type: &str, key: &str| json!({"integrationKey": "sim-ilert-key", "eventType": event_type, "summary": "Disk full", "alertKey": key});
    let events = sim.urls().ilert_events.clone();
    assert_eq!(
        post(&events, event("ALERT", "Key-1")).await.status(),
        StatusCode::ACCEPTED
    );
    // The answer names the alert the event acted on (`alertUrl`, and `incidentUrl` as older
    // answers do).
    let appended = post(&events, event("ALERT", "key-1")).await;
    assert_eq!(appended.status(), StatusCode::ACCEPTED);
    let answer = body(appended).await;
    assert_eq!(answer["alertKey"], "key-1");
    let first_url = answer["alertUrl"].clone();
    assert!(
        first_url
            .as_str()
            .is_some_and(|u| u.contains("/alert/view?id=")),
        "{answer}"
    );
    assert_eq!(answer["incidentUrl"], first_url, "{answer}");
    let older_path = events.replace("/api/events", "/api/v1/events");
    let accept = json!({"apiKey": "sim-ilert-key", "eventType": "ACCEPT", "summary": "Disk full", "alertKey": "KEY-1"});
    assert_eq!(
        post(&older_path, accept).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(sim.ilert_alerts()[0].status, "acknowledged");
    post(&events, event("RESOLVE", "key-1")).await;
    let ignored = body(post(&events, event("RESOLVE", "key-9")).await).await;
    assert!(ignored.get("incidentUrl").is_none(), "no alert: {ignored}");
    let reopened = body(post(&events, event("ALERT", "key-1")).await).await;
    assert!(reopened["alertUrl"].is_string(), "{reopened}");
    assert_ne!(
        reopened["alertUrl"], first_url,
        "a resolved alert is not reopened"
    );
    let view = sim.ilert_alerts();
    assert_eq!(view.len(), 2);
    assert_eq!(view[0].events, ["ALERT", "ALERT", "ACCEPT", "RESOLVE"]);
    assert_eq!(view[0].status, "resolved");
    assert_eq!(view[1].status, "open");
    let no_summary = post(
        &events,
        json!({"integrationKey": "sim-ilert-key", "eventType": "ALERT"}),
    )
    .await;
    assert_eq!(no_summary.status(), StatusCode::BAD_REQUEST);
    let unknown = post(
        &events,
        json!({"integrationKey": "x", "eventType": "ALERT", "summary": "s"}),
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

/// A webhook of the simulated ilert pointing at the simulator's own sink, credentials in
/// the URL as ilert takes them.
fn sink_webhook(sim: &Simulator, events: &[&str]) -> IlertWebhook {
    let sink = sim
        .urls()
        .sink
        .replacen("http://", "http://ilert:s3cret@", 1);
    IlertWebhook {
        url: format!("{sink}/hooks/sync"),
        alert_source: None,
        events: events.iter().map(|e| (*e).to_owned()).collect(),
    }
}

#[tokio::test]
async fn ilert_calls_its_webhooks_with_basic_credentials_only_when_an_alert_really_changes() {
    let sim = simulator().await;
    let registered = sim.register_ilert_webhook(sink_webhook(&sim, &[])).unwrap();
    assert!(registered.url.contains("ilert:***@"), "{}", registered.url);
    let url = format!("{}/sim-ilert-key", sim.urls().ilert);
    let mut alert = sim.create_alert(Value::Null);
    let uuid = text(&alert["uuid"]).to_owned();

    alert["status"] = json!("pending");
    let opened = body(post(&url, alert.clone()).await).await;
    let id = sim.ilert_alerts()[0].id.clone();
    assert!(
        text(&opened["alertUrl"]).ends_with(&format!("/alert/view?id={id}")),
        "ilert's answer names the alert: {opened}"
    );
    let accepted = sim.ilert_accept(&id, None).unwrap();
    assert_eq!(accepted.status, "acknowledged");
    assert_eq!(accepted.assigned_to, Some(OnCallUser::default()));
    // Nothing of this changes the alert: no webhook.
    sim.ilert_accept(&id, None).unwrap();
    alert["status"] = json!("acknowledged");
    assert_eq!(
        post(&url, alert.clone()).await.status(),
        StatusCode::ACCEPTED
    );
    let resolved = sim.ilert_resolve(&uuid, None).unwrap();
    assert_eq!(resolved.status, "resolved");
    alert["status"] = json!("closed");
    assert_eq!(
        post(&url, alert.clone()).await.status(),
        StatusCode::ACCEPTED
    );
    sim.ilert_accept(&id, None).unwrap();

    until(|| sim.ilert_webhook_deliveries().len() >= 3).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let deliveries = sim.ilert_webhook_deliveries();
    let kinds: Vec<&str> = deliveries.iter().map(|d| d.event_type.as_str()).collect();
    assert_eq!(kinds, ["alert-created", "alert-accepted", "alert-resolved"]);
    assert!(
        deliveries
            .iter()
            .all(|d| d.status == Some(200) && d.url.contains("ilert:***@") && d.alert_id == id),
        "{deliveries:?}"
    );
    let received = sim.requests(Receiver::Sink);
    assert_eq!(received.len(), 3);
    for request in &received {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/hooks/sync");
        assert_eq!(request.headers["authorization"], "Basic aWxlcnQ6czNjcmV0");
    }
    let accepted_body = &received[1].body;
    assert_eq!(accepted_body["id"], id.as_str());
    assert_eq!(accepted_body["status"], "ACCEPTED");
    assert_eq!(accepted_body["eventType"], "alert-accepted");
    assert_eq!(accepted_body["alertKey"], uuid.as_str());
    assert_eq!(accepted_body["summary"], alert["title"]);
    assert_eq!(
        accepted_body["details"],
        format!("Sekoia.io alert {}", text(&alert["short_id"]))
    );
    assert_eq!(accepted_body["assignedTo"]["firstName"], "Ada");
    assert_eq!(accepted_body["alertSource"]["id"], 1);
    assert_eq!(received[0].body["assignedTo"], Value::Null);
    assert_eq!(received[2].body["status"], "RESOLVED");
    assert_eq!(
        sim.ilert_alerts()[0].events,
        [
            "pending",
            "accepted by ada",
            "acknowledged",
            "resolved by ada"
        ]
    );
}

#[tokio::test]
async fn ilert_webhooks_get_the_events_they_chose_and_the_control_api_drives_on_call() {
    let sim = simulator().await;
    let control = sim.urls().control.clone();
    let registered = post(
        &format!("{control}/ilert/webhooks"),
        json!({"url": sink_webhook(&sim, &[]).url, "events": ["alert-resolved"]}),
    )
    .await;
    assert_eq!(registered.status(), StatusCode::OK);
    let event = json!({"integrationKey": "sim-ilert-key", "eventType": "ALERT",
                       "summary": "Disk full", "alertKey": "disk-1"});
    post(&sim.urls().ilert_events, event).await;
    let accepted = post(
        &format!("{control}/ilert/alerts/disk-1/accept"),
        json!({"user": {"username": "grace", "email": "grace@example.com",
                        "firstName": "Grace", "lastName": "Hopper"}}),
    )
    .await;
    assert_eq!(accepted.status(), StatusCode::OK);
    assert_eq!(body(accepted).await["assigned_to"]["username"], "grace");
    let id = sim.ilert_alerts()[0].id.clone();
    let resolved = post(&format!("{control}/ilert/alerts/{id}/resolve"), json!({})).await;
    assert_eq!(body(resolved).await["status"], "resolved");
    until(|| !sim.ilert_webhook_deliveries().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let listed = body(
        client()
            .get(format!("{control}/ilert/webhooks"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        listed["deliveries"].as_array().unwrap().len(),
        1,
        "{listed}"
    );
    assert_eq!(listed["deliveries"][0]["event_type"], "alert-resolved");
    assert!(text(&listed["registered"][0]["url"]).contains("ilert:***@"));

    let unknown = post(&format!("{control}/ilert/alerts/999/accept"), json!({})).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    for (webhook, field) in [
        (json!({"url": "not a url"}), "url"),
        (json!({"url": "ftp://host/x"}), "url"),
        (
            json!({"url": "http://h/x", "alert_source": "other-key"}),
            "alert_source",
        ),
        (
            json!({"url": "http://h/x", "events": ["alert-snoozed"]}),
            "events",
        ),
    ] {
        let refused = post(&format!("{control}/ilert/webhooks"), webhook).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        assert!(text(&body(refused).await["error"]).contains(field));
    }
}

#[tokio::test]
async fn ilert_rate_limit_answers_429_with_retry_after() {
    let sim = simulator_with(SimConfig {
        ilert_rate_limit_per_minute: Some(2),
        ..SimConfig::default()
    })
    .await;
    let event = json!({"integrationKey": "sim-ilert-key", "eventType": "ALERT", "summary": "s", "alertKey": "k"});
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..3 {
        let response = post(&sim.urls().ilert_events, event.clone()).await;
        statuses.push(response.status().as_u16());
        retry_after = response
            .headers()
            .get("retry-after")
            .map(|value| value.to_str().unwrap().parse::<u64>().unwrap());
    }
    // A minute boundary between the requests opens a new window.
    assert!(
        statuses == [202, 202, 429]
            || statuses.iter().filter(|status| **status == 202).count() == 3
    );
    if statuses[2] == 429 {
        assert!(retry_after.is_some_and(|seconds| (1..=60).contains(&seconds)));
    }
}

#[tokio::test]
async fn faults_apply_to_the_next_requests_in_order() {
    let sim = simulator().await;
    sim.inject_fault(Fault::status(Route::Ilert, 503).times(2).retry_after(7));
    sim.inject_fault(Fault::status(Route::Ilert, 500));
    let event = json!({"integrationKey": "sim-ilert-key", "eventType": "ALERT", "summary": "s"});
    let mut answers = Vec::new();
    for _ in 0..4 {
        let response = post(&sim.urls().ilert_events, event.clone()).await;
        answers.push((
            response.status().as_u16(),
            response
                .headers()
                .get("retry-after")
                .map(|value| value.to_str().unwrap().to_owned()),
        ));
    }
    assert_eq!(answers[0], (503, Some("7".to_owned())));
    assert_eq!(answers[1], (503, Some("7".to_owned())));
    assert_eq!(answers[2], (500, None));
    assert_eq!(answers[3].0, 202);
    let recorded: Vec<u16> = sim
        .requests(Receiver::Ilert)
        .iter()
        .map(|request| request.status)
        .collect();
    assert_eq!(recorded, [503, 503, 500, 202]);
    assert_eq!(sim.ilert_alerts().len(), 1);

    let alert = sim.create_alert(Value::Null);
    sim.inject_fault(Fault::latency(Route::SekoiaGetAlert, 300));
    let started = Instant::now();
    let slow = sekoia_get(
        &sim,
        &format!("/v1/sic/alerts/{}", text(&alert["uuid"])),
        &[],
    )
    .await;
    assert_eq!(slow.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let list = sekoia_get(&sim, "/v1/sic/alerts", &[]).await;
    assert_eq!(list.status(), StatusCode::OK);
}

#[tokio::test]
async fn pagerduty_mattermost_and_sink_answer_like_the_real_ones() {
    let sim = simulator().await;
    let trigger = json!({
        "routing_key": "r", "event_action": "trigger", "dedup_key": "ALabc",
        "payload": {"summary": "s", "source": "HQ", "severity": "critical"},
    });
    let accepted = post(&sim.urls().pagerduty, trigger).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    assert_eq!(
        body(accepted).await,
        json!({"status": "success", "message": "Event processed", "dedup_key": "ALabc"})
    );
    let invalid = post(
        &sim.urls().pagerduty,
        json!({"routing_key": "r", "event_action": "trigger"}),
    )
    .await;
    assert_eq!(invalid.status(), StatusCode::BAD_REQUEST);

    let posted = post(&sim.urls().mattermost, json!({"text": "hello"})).await;
    assert_eq!(posted.status(), StatusCode::OK);
    assert_eq!(posted.text().await.unwrap(), "ok");

    let sunk = client()
        .put(format!("{}/any/path?x=1", sim.urls().sink))
        .header("X-Custom", "yes")
        .body("plain text")
        .send()
        .await
        .unwrap();
    assert_eq!(body(sunk).await, json!({"ok": true}));
    let recorded = sim.requests(Receiver::Sink);
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        (
            recorded[0].method.as_str(),
            recorded[0].path.as_str(),
            recorded[0].query.as_str()
        ),
        ("PUT", "/any/path", "x=1")
    );
    assert_eq!(recorded[0].headers["x-custom"], "yes");
    assert_eq!(recorded[0].body, json!("plain text"));
    assert_eq!(recorded[0].status, 200);
}

#[tokio::test]
async fn control_api_mirrors_the_rust_api() {
    let sim = simulator().await;
    let control = sim.urls().control.clone();
    let urls = body(client().get(&control).send().await.unwrap()).await;
    assert_eq!(urls["ilert"], sim.urls().ilert);
    assert_eq!(urls["live"], sim.urls().live);

    let created = body(post(&format!("{control}/alerts"), json!({"count": 2})).await).await;
    assert_eq!(created.as_array().unwrap().len(), 2);
    let custom = body(
        post(
            &format!("{control}/alerts"),
            json!({"alert": {"title": "Custom", "status": "Ongoing"}}),
        )
        .await,
    )
    .await;
    let short_id = text(&custom[0]["short_id"]).to_owned();
    assert_eq!(custom[0]["status"]["uuid"], ONGOING);
    let fetched = body(
        client()
            .get(format!("{control}/alerts/{short_id}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(fetched["title"], "Custom");
    let closed = body(
        post(
            &format!("{control}/alerts/{short_id}/status"),
            json!({"status": "closed"}),
        )
        .await,
    )
    .await;
    assert_eq!(closed["status"]["name"], "Closed");
    let comment = body(
        post(
            &format!("{control}/alerts/{short_id}/comments"),
            json!({"content": "c"}),
        )
        .await,
    )
    .await;
    assert_eq!(comment["content"], "c");

    let fault = post(
        &format!("{control}/faults"),
        json!({"route": "sink", "status": 418}),
    )
    .await;
    assert_eq!(fault.status(), StatusCode::OK);
    let teapot = client().get(&sim.urls().sink).send().await.unwrap();
    assert_eq!(teapot.status().as_u16(), 418);
    let recorded = body(
        client()
            .get(format!("{control}/requests?receiver=sink"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(recorded[0]["status"], 418);
    let connections = body(
        client()
            .get(format!("{control}/live/connections"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(connections["count"], 0);
    assert_eq!(
        post(&format!("{control}/live/drop"), json!({}))
            .await
            .status(),
        StatusCode::OK
    );

    let bad = post(&format!("{control}/alerts"), json!({"count": "many"})).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(text(&body(bad).await["error"]).contains("count"));
    let bad_receiver = client()
        .get(format!("{control}/requests?receiver=nobody"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_receiver.status(), StatusCode::BAD_REQUEST);
    let bad_fault = post(&format!("{control}/faults"), json!({"status": 500})).await;
    assert!(text(&body(bad_fault).await["error"]).contains("route"));

    assert_eq!(
        post(&format!("{control}/reset"), json!({})).await.status(),
        StatusCode::OK
    );
    assert!(sim.alert(&short_id).is_none());
    assert!(sim.requests(Receiver::Sink).is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn the_same_seed_generates_the_same_alerts() {
    let first = simulator_with(SimConfig {
        seed: 7,
        ..SimConfig::default()
    })
    .await;
    let second = simulator_with(SimConfig {
        seed: 7,
        ..SimConfig::default()
    })
    .await;
    let short_ids = |sim: &Simulator| -> Vec<Value> {
        sim.create_alerts(3)
            .into_iter()
            .map(|alert| alert["short_id"].clone())
            .collect()
    };
    assert_eq!(short_ids(&first), short_ids(&second));
    let titles: std::collections::HashSet<String> = first
        .create_alerts(30)
        .iter()
        .map(|alert| text(&alert["rule"]["name"]).to_owned())
        .collect();
    assert!(titles.len() > 3, "rules should vary");
}

#[tokio::test]
async fn a_fixed_port_gives_consecutive_ports_in_url_order() {
    for _attempt in 0..5 {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = probe.local_addr().unwrap().port();
        drop(probe);
        if base > 65_000 {
            continue;
        }
        let Ok(sim) = alertsync_sim::start(SimConfig {
            port: base,
            ..SimConfig::default()
        })
        .await
        else {
            continue; // one of the next ports is taken: try another base
        };
        let urls = sim.urls();
        let port = |offset: u16| format!("127.0.0.1:{}", base + offset);
        assert_eq!(urls.sekoia, format!("http://{}", port(0)));
        assert_eq!(urls.live, format!("ws://{}/live/", port(0)));
        assert_eq!(urls.intake, format!("http://{}", port(1)));
        assert_eq!(
            urls.ilert,
            format!("http://{}/api/v1/events/sekoia", port(2))
        );
        assert_eq!(urls.ilert_events, format!("http://{}/api/events", port(2)));
        assert_eq!(urls.pagerduty, format!("http://{}/v2/enqueue", port(3)));
        assert_eq!(
            urls.mattermost,
            format!("http://{}/hooks/sim-hook", port(4))
        );
        assert_eq!(urls.sink, format!("http://{}", port(5)));
        assert_eq!(urls.control, format!("http://{}", port(6)));
        sim.shutdown().await;
        return;
    }
    panic!("no free run of 7 ports found");
}
