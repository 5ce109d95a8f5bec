//! Rendering never panics, whatever the template and the context.

use alertsync_spl::{RenderContext, TemplateEngine, references};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z0-9.]{0,4}", inner), 0..4)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

fn context() -> impl Strategy<Value = RenderContext> {
    (
        prop::collection::vec(("[0-9]{1,2}", json_value()), 0..4),
        json_value(),
    )
        .prop_map(|(nodes, store)| {
            RenderContext::new(nodes.into_iter().collect::<Map<_, _>>(), store)
        })
}

fn template() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        "\\{\\{ ?(node|store)(\\.[0-9a-z]{1,3}|\\['[0-9]'\\]){0,3} ?(\\| ?(length|tojson|list|jsonpath\\('\\$\\..'\\)|fromjson|int))? ?\\}\\}",
        "[{}%a-z0-9. |'()\\[\\]]{0,40}",
    ]
}

proptest! {
    #[test]
    fn rendering_never_panics(template in template(), cx in context()) {
        let engine = TemplateEngine::new();
        let _ = engine.render_value(&Value::String(template.clone()), &cx);
        let _ = engine.render_str(&template, &cx);
        let _ = engine.check_syntax(&template);
        let _ = references(&template);
    }

    #[test]
    fn rendering_json_trees_never_panics(value in json_value(), cx in context()) {
        let engine = TemplateEngine::new();
        let _ = engine.render_value(&value, &cx);
    }
}
