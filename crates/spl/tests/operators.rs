//! Condition comparisons, foreach items and store modifications.

use alertsync_spl::{OperatorError, apply_modification, evaluate_case, foreach_items};
use serde_json::{Value, json};

fn holds(left: Value, comparison: &str, right: Value, value_type: Option<&str>) -> bool {
    evaluate_case(&left, comparison, &right, value_type).unwrap_or_else(|err| panic!("{err}"))
}

#[test]
fn equality() {
    assert!(holds(json!("OK"), "==", json!("OK"), None));
    assert!(holds(json!("201"), "==", json!(201), None));
    assert!(holds(json!(201), "!=", json!(404), None));
    assert!(!holds(json!("01"), "==", json!("1"), Some("string")));
    assert!(holds(json!("01"), "==", json!("1"), None));
    assert!(holds(json!("[]"), "==", json!([]), None));
    assert!(holds(json!([]), "==", json!("[]"), None));
    assert!(!holds(json!(["x"]), "!=", json!(["x"]), None));
    assert!(holds(json!(["x"]), "!=", json!("[]"), None));
}

#[test]
fn ordering() {
    assert!(holds(json!("80"), ">=", json!(70), None));
    assert!(holds(json!(9), "<", json!(10), None));
    assert!(!holds(json!("9"), "<", json!("10"), Some("string")));
    assert!(holds(json!("7.5"), "<=", json!("7.5"), None));
    assert!(holds(json!("b"), ">", json!("a"), None));
    assert!(holds(json!("12.9"), ">", json!(11), Some("integer")));
}

#[test]
fn membership() {
    assert!(holds(json!("a"), "in", json!(["a", "b"]), None));
    assert!(holds(json!(2), "in", json!(["1", "2"]), None));
    assert!(holds(json!("c"), "not in", json!(["a", "b"]), None));
    assert!(holds(json!("ell"), "in", json!("hello"), None));
    assert!(holds(json!("k"), "in", json!({"k": 1}), None));
    assert!(holds(json!("a"), "in", json!("[\"a\"]"), None));
}

#[test]
fn ranges_are_inclusive() {
    assert!(holds(json!(76), "range", json!("[76, 100]"), None));
    assert!(holds(json!("100"), "range", json!([76, 100]), None));
    assert!(!holds(json!(75), "range", json!([76, 100]), None));
    assert!(holds(
        json!("10"),
        "range",
        json!([0, 9999]),
        Some("integer")
    ));
    assert!(matches!(
        evaluate_case(&json!(1), "range", &json!("[1]"), None),
        Err(OperatorError::BadRange(_))
    ));
}

#[test]
fn unknown_comparisons_and_types_are_errors() {
    assert!(matches!(
        evaluate_case(&json!(1), "~=", &json!(1), None),
        Err(OperatorError::UnknownComparison(_))
    ));
    assert!(matches!(
        evaluate_case(&json!(1), "==", &json!(1), Some("float")),
        Err(OperatorError::UnknownValueType(_))
    ));
    assert!(evaluate_case(&json!("x"), "<", &json!(1), Some("integer")).is_err());
}

#[test]
fn foreach_items_expand() {
    assert_eq!(
        foreach_items(&json!([1, {"a": 2}])),
        Ok(vec![json!(1), json!({"a": 2})])
    );
    assert_eq!(
        foreach_items(&json!({"b": 1, "a": 2})),
        Ok(vec![json!("b"), json!("a")])
    );
    assert_eq!(foreach_items(&Value::Null), Ok(Vec::new()));
    assert_eq!(foreach_items(&json!([])), Ok(Vec::new()));
    assert!(matches!(
        foreach_items(&json!("text")),
        Err(OperatorError::NotIterable(_))
    ));
    assert!(matches!(
        foreach_items(&json!(3)),
        Err(OperatorError::NotIterable(_))
    ));
}

fn modify(store: &mut Value, kind: &str, key: &str, value: Value) {
    apply_modification(store, kind, key, value).unwrap_or_else(|err| panic!("{err}"));
}

#[test]
fn store_set_unset_with_dotted_keys() {
    let mut store = Value::Null;
    modify(&mut store, "set", "alert.uuid", json!("a-1"));
    modify(&mut store, "set", "status", json!("isClosed"));
    assert_eq!(
        store,
        json!({"alert": {"uuid": "a-1"}, "status": "isClosed"})
    );
    modify(&mut store, "set", "alert.uuid", json!("a-2"));
    assert_eq!(store["alert"]["uuid"], json!("a-2"));
    modify(&mut store, "unset", "alert.uuid", Value::Null);
    modify(&mut store, "unset", "missing.key", Value::Null);
    assert_eq!(store, json!({"alert": {}, "status": "isClosed"}));
}

#[test]
fn store_append_remove() {
    let mut store = json!({});
    modify(&mut store, "append", "hostnames", json!("h1"));
    modify(&mut store, "append", "hostnames", json!("h2"));
    modify(&mut store, "append", "hostnames", json!("h1"));
    modify(&mut store, "remove", "hostnames", json!("h1"));
    assert_eq!(store, json!({"hostnames": ["h2", "h1"]}));
    modify(&mut store, "remove", "nothing", json!("x"));
    modify(&mut store, "append", "deep.list", json!(1));
    assert_eq!(store["deep"]["list"], json!([1]));
}

#[test]
fn store_errors_name_the_key() {
    let mut store = json!({"status": "text"});
    let err = apply_modification(&mut store, "set", "status.inner", json!(1)).err();
    assert!(
        matches!(err, Some(OperatorError::NotAnObject { .. })),
        "{err:?}"
    );
    let err = apply_modification(&mut store, "append", "status", json!(1)).err();
    assert!(
        matches!(err, Some(OperatorError::NotAList { .. })),
        "{err:?}"
    );
    assert!(matches!(
        apply_modification(&mut store, "set", "a..b", json!(1)),
        Err(OperatorError::BadKey(_))
    ));
    assert!(matches!(
        apply_modification(&mut store, "merge", "a", json!(1)),
        Err(OperatorError::UnknownModification(_))
    ));
}
