//! Utils Read JSON File: files inside the run's data directory only, JSONPath selection.

mod common;

use std::path::PathBuf;

use alertsync_engine::ActionContext;
use common::{context, invalid_argument, run};
use serde_json::json;

/// A fresh data directory holding `alert.json`, and a file next to (outside) it.
fn data_dir() -> (ActionContext, PathBuf) {
    let root = std::env::temp_dir().join(format!("alertsync-utils-{}", uuid::Uuid::new_v4()));
    let data = root.join("run");
    std::fs::create_dir_all(data.join("nested")).unwrap();
    let document = json!({"items": [{"id": "a"}, {"id": "b"}], "name": "x"});
    std::fs::write(data.join("nested/alert.json"), document.to_string()).unwrap();
    std::fs::write(root.join("secret.json"), "{\"secret\": true}").unwrap();
    let mut cx = context(None);
    cx.data_dir = data;
    (cx, root)
}

#[tokio::test]
async fn reads_a_file_of_the_data_directory_with_a_jsonpath() {
    let (cx, _root) = data_dir();

    let all = run(
        "utils.read_json_file",
        &cx,
        json!({"file_path": "nested/alert.json"}),
    )
    .await
    .unwrap();
    assert_eq!(all.results["output"]["name"], "x");

    let list =
        json!({"file_path": "nested/alert.json", "jsonpath": "$.items[*].id", "return_list": true});
    assert_eq!(
        run("utils.read_json_file", &cx, list)
            .await
            .unwrap()
            .results,
        json!({"output": ["a", "b"]})
    );

    // As Sekoia.io's action: several matches are a list even without `return_list`, one is
    // itself.
    let several = json!({"file_path": "nested/alert.json", "jsonpath": "$.items[*].id"});
    assert_eq!(
        run("utils.read_json_file", &cx, several)
            .await
            .unwrap()
            .results,
        json!({"output": ["a", "b"]})
    );
    let one = json!({"file_path": "nested/alert.json", "jsonpath": "$.items[0].id"});
    assert_eq!(
        run("utils.read_json_file", &cx, one).await.unwrap().results,
        json!({"output": "a"})
    );

    let none = json!({"file_path": "nested/alert.json", "jsonpath": "$.missing"});
    assert_eq!(
        run("utils.read_json_file", &cx, none)
            .await
            .unwrap()
            .results,
        json!({"output": null})
    );

    let absolute = cx.data_dir.join("nested/alert.json");
    let args = json!({"file_path": absolute.to_str().unwrap(), "jsonpath": "$.name"});
    assert_eq!(
        run("utils.read_json_file", &cx, args)
            .await
            .unwrap()
            .results,
        json!({"output": "x"})
    );
}

#[tokio::test]
async fn an_inline_document_needs_no_file() {
    let cx = context(None);
    let args = json!({"file": {"a": {"b": [1, 2, 3]}}, "jsonpath": "$.a.b[1]"});
    assert_eq!(
        run("utils.read_json_file", &cx, args)
            .await
            .unwrap()
            .results,
        json!({"output": 2})
    );
}

#[tokio::test]
async fn paths_outside_the_data_directory_are_refused() {
    let (cx, root) = data_dir();
    let outside = root.join("secret.json");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&outside, cx.data_dir.join("link.json")).unwrap();

    let mut paths = vec![
        "../secret.json".to_owned(),
        "nested/../../secret.json".to_owned(),
        outside.display().to_string(),
    ];
    if cfg!(unix) {
        paths.push("link.json".to_owned());
    }
    for path in paths {
        let err = run("utils.read_json_file", &cx, json!({"file_path": path}))
            .await
            .unwrap_err();
        assert_eq!(
            invalid_argument(&err),
            Some("file_path"),
            "{path}: {}",
            err.message
        );
        assert!(err.message.contains("outside"), "{path}: {}", err.message);
    }
}

#[tokio::test]
async fn bad_arguments_name_the_argument() {
    let (cx, _root) = data_dir();
    let cases = [
        (
            json!({"file_path": "nested/alert.json", "jsonpath": "$[?"}),
            "jsonpath",
        ),
        (json!({}), "file_path"),
        (json!({"file_path": "nope.json"}), "file_path"),
    ];
    for (args, argument) in cases {
        let err = run("utils.read_json_file", &cx, args.clone())
            .await
            .unwrap_err();
        assert_eq!(
            invalid_argument(&err),
            Some(argument),
            "{args}: {}",
            err.message
        );
    }
}
