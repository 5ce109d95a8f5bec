//! HTTP Request URL against the simulator's generic sink.

mod common;

use alertsync_engine::ErrorKind;
use alertsync_sim::{Fault, Receiver, Route};
use common::{ATTEMPTS, context, invalid_argument, run, simulator};
use serde_json::json;

#[tokio::test]
async fn sends_method_headers_params_and_json_and_returns_the_response() {
    let sim = simulator().await;
    let cx = context(None);
    let url = format!("{}/hooks/in?fixed=1", sim.urls().sink);
    let args = json!({
        "url": url, "method": "POST",
        "headers": {"X-Trace": "abc", "X-Count": 3},
        "params": "{\"page\": 2, \"tag\": [\"a\", \"b\"]}",
        "json": "{\"hello\": \"world\"}"
    });

    let out = run("http.request_url", &cx, args).await.unwrap();

    let request = &sim.requests(Receiver::Sink)[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/hooks/in");
    assert_eq!(request.query, "fixed=1&page=2&tag=a&tag=b");
    assert_eq!(request.headers["x-trace"], "abc");
    assert_eq!(request.headers["x-count"], "3");
    assert_eq!(request.headers["content-type"], "application/json");
    assert_eq!(request.body, json!({"hello": "world"}));
    let r = &out.results;
    assert_eq!(
        (r["status_code"].clone(), r["reason"].clone()),
        (json!(200), json!("OK"))
    );
    assert_eq!(r["json"], json!({"ok": true}));
    assert_eq!(r["text"], "{\"ok\":true}");
    assert!(
        r["url"]
            .as_str()
            .unwrap()
            .ends_with("/hooks/in?fixed=1&page=2&tag=a&tag=b")
    );
    assert!(r["elapsed"].as_f64().unwrap() >= 0.0);
    assert_eq!(r["headers"]["content-type"], "application/json");
}

#[tokio::test]
async fn raw_data_and_basic_or_bearer_authentication() {
    let sim = simulator().await;
    let cx = context(None);
    let url = format!("{}/x", sim.urls().sink);

    let basic = json!({"url": url, "method": "put", "data": "plain text", "auth_type": "basic",
                       "auth_username": "user", "auth_password": "pass-word-1"});
    let out = run("http.request_url", &cx, basic).await.unwrap();
    let bearer =
        json!({"url": url, "method": "Delete", "auth_type": "Bearer", "auth_token": "token-xyz-1"});
    let out2 = run("http.request_url", &cx, bearer).await.unwrap();

    let requests = sim.requests(Receiver::Sink);
    assert_eq!(
        (requests[0].method.as_str(), requests[0].body.clone()),
        ("PUT", json!("plain text"))
    );
    assert_eq!(
        requests[0].headers["authorization"],
        "Basic dXNlcjpwYXNzLXdvcmQtMQ=="
    );
    assert_eq!(requests[1].method, "DELETE");
    assert_eq!(requests[1].headers["authorization"], "Bearer token-xyz-1");
    for results in [out.results, out2.results] {
        let text = results.to_string();
        assert!(
            !text.contains("pass-word-1")
                && !text.contains("token-xyz-1")
                && !text.contains("dXNlcjpw")
        );
    }
}

#[tokio::test]
async fn http_errors_fail_the_node_with_the_response_recorded_unless_told_otherwise() {
    let sim = simulator().await;
    let cx = context(None);
    let url = format!("{}/missing", sim.urls().sink);
    sim.inject_fault(Fault::status(Route::Sink, 404));

    let err = run(
        "http.request_url",
        &cx,
        json!({"url": url, "method": "get"}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (err.kind.clone(), err.http_status),
        (ErrorKind::Permanent, Some(404))
    );
    assert_eq!(err.results.as_ref().unwrap()["status_code"], 404);

    sim.inject_fault(Fault::status(Route::Sink, 500));
    let out = run(
        "http.request_url",
        &cx,
        json!({"url": url, "method": "get", "fail_on_http_error": false}),
    )
    .await
    .unwrap();
    assert_eq!(out.results["status_code"], 500);
    assert_eq!(
        sim.requests(Receiver::Sink).len(),
        2,
        "HTTP error statuses are not retried by default"
    );
}

#[tokio::test]
async fn statuses_listed_in_retry_on_status_are_retried() {
    let sim = simulator().await;
    let cx = context(None);
    let url = format!("{}/flaky", sim.urls().sink);
    sim.inject_fault(Fault::status(Route::Sink, 503).times(2));

    let out = run(
        "http.request_url",
        &cx,
        json!({"url": url, "method": "get", "retry_on_status": [503]}),
    )
    .await
    .unwrap();
    assert_eq!(out.results["status_code"], 200);
    assert_eq!(sim.requests(Receiver::Sink).len(), 3);

    sim.inject_fault(Fault::status(Route::Sink, 503).times(ATTEMPTS));
    let err = run(
        "http.request_url",
        &cx,
        json!({"url": url, "method": "get", "retry_on_status": [503]}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.http_status, Some(503));
    assert_eq!(err.results.as_ref().unwrap()["status_code"], 503);
    assert_eq!(sim.requests(Receiver::Sink).len(), 3 + ATTEMPTS as usize);
}

#[tokio::test]
async fn network_errors_are_retried_then_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    let cx = context(None);

    let err = run(
        "http.request_url",
        &cx,
        json!({"url": url, "method": "get", "verify_ssl": false}),
    )
    .await
    .unwrap_err();

    assert_eq!(err.kind, ErrorKind::Transient);
    assert!(
        err.message
            .contains(&format!("gave up after {ATTEMPTS} attempts")),
        "{}",
        err.message
    );
    assert_eq!(
        cx.log.lines().len(),
        ATTEMPTS as usize - 1,
        "one warning per retry"
    );
}

#[tokio::test]
async fn unverified_tls_client_still_reaches_plain_http() {
    let sim = simulator().await;
    let cx = context(None);
    let out = run(
        "http.request_url",
        &cx,
        json!({"url": sim.urls().sink, "method": "head", "verify_ssl": false, "timeout": 5}),
    )
    .await
    .unwrap();
    assert_eq!(out.results["status_code"], 200);
    assert_eq!(out.results["json"], json!(null), "no body on HEAD");
    assert_eq!(sim.requests(Receiver::Sink)[0].method, "HEAD");
}

#[tokio::test]
async fn invalid_arguments_name_the_argument_and_send_nothing() {
    let sim = simulator().await;
    let cx = context(None);
    let url = sim.urls().sink.clone();
    let cases = [
        (json!({"url": url, "method": "fetch"}), "method"),
        (json!({"url": "not a url", "method": "get"}), "url"),
        (json!({"method": "get"}), "url"),
        (
            json!({"url": url, "method": "get", "auth_type": "Digest", "auth_username": "u"}),
            "auth_type",
        ),
        (
            json!({"url": url, "method": "get", "auth_type": "Basic"}),
            "auth_username",
        ),
        (
            json!({"url": url, "method": "get", "auth_type": "Bearer"}),
            "auth_token",
        ),
        (
            json!({"url": url, "method": "post", "json": "{not json"}),
            "json",
        ),
        (
            json!({"url": url, "method": "post", "params": "[1, 2]"}),
            "params",
        ),
        (
            json!({"url": url, "method": "post", "data": "a", "json": {"b": 1}}),
            "json",
        ),
        (
            json!({"url": url, "method": "get", "timeout": 0}),
            "timeout",
        ),
        (
            json!({"url": url, "method": "get", "retry_on_status": [42]}),
            "retry_on_status",
        ),
        (
            json!({"url": url, "method": "get", "headers": {"bad header": "x"}}),
            "headers",
        ),
    ];
    for (args, argument) in cases {
        let err = run("http.request_url", &cx, args.clone())
            .await
            .unwrap_err();
        assert_eq!(
            invalid_argument(&err),
            Some(argument),
            "{args}: {}",
            err.message
        );
    }
    let err = run(
        "http.request_url",
        &cx,
        json!({"url": url, "method": "get", "auth_type": "Digest"}),
    )
    .await
    .unwrap_err();
    assert!(
        err.message.contains("Digest is not supported"),
        "{}",
        err.message
    );
    assert!(sim.requests(Receiver::Sink).is_empty());
}
