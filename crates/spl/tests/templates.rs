//! Template rendering as real playbooks use it.

use std::sync::Arc;

use alertsync_spl::template::Clock;
use alertsync_spl::{RenderContext, TemplateEngine, TemplateErrorKind, TemplateLimits};
use serde_json::{Value, json};
use time::macros::datetime;

fn context() -> RenderContext {
    let node = json!({
        "0": {"alert_uuid": "a-1", "urgency": 80, "created_at": 1567755120, "short_id": "ALxyz"},
        "1": {"rule": {"name": "Rule one", "uuid": "r-1"}, "urgency": {"value": 75, "current_value": 75},
              "data": {"k": [1, 2]}, "stix": null, "items": [{"uuid": "u1"}, {"uuid": "u2"}]},
        "2": {"events": [{"destination.ip": "1.2.3.4", "host.name": "h1", "message": "m"}],
              "fields": [{"name": "url.domain", "common_values": [{"name": "a.com"}, {"name": "b.com"}]},
                         {"name": "dns.question.name", "common_values": [{"name": "c.com"}]}]},
        "4": {"default": {"value": "ip--5", "index": 0, "total": 1}, "scans": {"A": {"detected": true}, "B": {"detected": false}}},
        "7": {"output": ["first.example", "second"]},
        "8": {"0": "zero", "Dr.Web category": "malware"},
        "10": {"text": "{\"Answer\": [{\"data\": \"9.9.9.9\"}]}"}
    });
    let Value::Object(node) = node else {
        unreachable!()
    };
    RenderContext::new(
        node,
        json!({"tags": ["x", "y"], "alert": {"uuid": "s-1"}, "vendor": ["A ", null, "", "B"]}),
    )
}

fn fixed_clock() -> Clock {
    Arc::new(|| datetime!(2024-01-02 03:04:05.678 UTC))
}

fn engine() -> TemplateEngine {
    TemplateEngine::with_options(TemplateLimits::default(), fixed_clock())
}

fn render(template: &str) -> Value {
    engine()
        .render_value(&json!(template), &context())
        .unwrap_or_else(|err| panic!("{template}: {err}"))
}

#[test]
fn integer_subscripts_find_string_keys() {
    assert_eq!(render("{{ node.0.alert_uuid }}"), json!("a-1"));
    assert_eq!(render("{{ node['0'].alert_uuid }}"), json!("a-1"));
    assert_eq!(render("{{ node[0]['alert_uuid'] }}"), json!("a-1"));
    assert_eq!(render("{{ node.7.output.0 }}"), json!("first.example"));
    assert_eq!(render("{{ node.8.0 }}"), json!("zero"));
    assert_eq!(
        render("{{ node.10 }}")["text"],
        json!("{\"Answer\": [{\"data\": \"9.9.9.9\"}]}")
    );
}

#[test]
fn mixed_access() {
    assert_eq!(render("{{ node.1.rule['name'] }}"), json!("Rule one"));
    assert_eq!(
        render(r#"{{ node.2['events'][0]["destination.ip"] }}"#),
        json!("1.2.3.4")
    );
    assert_eq!(render("{{ node.8['Dr.Web category'] }}"), json!("malware"));
    assert_eq!(
        render("{{ node.4['scans'][node.4.default.value[:0] ~ 'A']['detected'] }}"),
        json!(true)
    );
}

#[test]
fn whole_value_templates_keep_types() {
    assert_eq!(render("{{ node.1.data }}"), json!({"k": [1, 2]}));
    assert_eq!(render("  {{ node.0.urgency }} "), json!(80));
    assert_eq!(render("{{ 401471 }} "), json!(401471));
    assert_eq!(render("{{ node.1.stix }}"), Value::Null);
    assert_eq!(render("{{ node.1.missing }}"), Value::Null);
    assert_eq!(render("{{ True }}"), json!(true));
    assert_eq!(render("{{- node.0.urgency -}}"), json!(80));
}

#[test]
fn other_templates_render_to_strings() {
    assert_eq!(render("{{ node.0.urgency }} / 100"), json!("80 / 100"));
    assert_eq!(render("\"{{ node.0.urgency }}\""), json!("\"80\""));
    assert_eq!(render("{% if True %}yes{% endif %}"), json!("yes"));
    assert_eq!(render("{id} stays"), json!("{id} stays"));
}

#[test]
fn objects_are_interpolated_as_json() {
    assert_eq!(
        render("data: {{ node.1.data }}"),
        json!(r#"data: {"k":[1,2]}"#)
    );
    assert_eq!(
        render("{{ node.1.data }} {{ store.tags }}"),
        json!(r#"{"k":[1,2]} ["x","y"]"#)
    );
    assert_eq!(
        render("x{{ none }}{{ true }}{{ node.1.missing }}"),
        json!("xnulltrue")
    );
}

#[test]
fn rendering_is_recursive() {
    let args =
        json!({"a": ["{{ node.0.urgency }}", 3, {"b": "{{ store.alert.uuid }}"}], "c": false});
    let rendered = engine()
        .render_value(&args, &context())
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(rendered, json!({"a": [80, 3, {"b": "s-1"}], "c": false}));
}

#[test]
fn undefined_semantics() {
    let err = engine()
        .render_value(&json!("{{ node.9['output'][0] }}"), &context())
        .err()
        .unwrap_or_else(|| panic!("attribute of undefined must fail"));
    assert_eq!(err.kind, TemplateErrorKind::Undefined);
    assert!(err.to_string().contains("node.9['output']"), "{err}");
    assert_eq!(render("a{{ node.9 }}b"), json!("ab"));
    assert_eq!(render("{{ node.9 is defined }}"), json!(false));
}

#[test]
fn python_isms() {
    assert_eq!(
        render("{{ node.4.default.value.split('--').1 }}"),
        json!("5")
    );
    assert_eq!(
        render("{{ ' A '.strip().lower() }}{{ 'b'.upper() }}"),
        json!("aB")
    );
    assert_eq!(render("{{ 'abc'.startswith('ab') }}"), json!(true));
    assert_eq!(
        render("{% for k, v in node.4.scans.items() %}{{ k }}{% endfor %}"),
        json!("AB")
    );
    assert_eq!(
        render("{{ node.4.scans.keys() | list }}"),
        json!(["A", "B"])
    );
    assert_eq!(
        render("{{ node.1.urgency.value in range(50, 76) }}"),
        json!(true)
    );
    assert_eq!(render("{{ None is none }}"), json!(true));
    assert_eq!(
        render("{{ node.1.stix or node.1.rule.uuid }}"),
        json!("r-1")
    );
    assert_eq!(
        render("{% if node.4['scans']['B']['detected'] != False %}x{% endif %}"),
        json!("")
    );
}

#[test]
fn builtin_filters() {
    assert_eq!(
        render("{{ store.vendor | reject('equalto', None) | reject('equalto', '') | join(',') }}"),
        json!("A ,B")
    );
    assert_eq!(
        render("{{ [1, 2, 3] | select('odd') | list }}"),
        json!([1, 3])
    );
    assert_eq!(render("{{ store.tags | length }}"), json!(2));
    assert_eq!(
        render("{{ ['a', 'a', 'b'] | unique | list }}"),
        json!(["a", "b"])
    );
    assert_eq!(render("{{ '42' | int }}"), json!(42));
    assert_eq!(render("{{ '1.5' | float }}"), json!(1.5));
    assert_eq!(render("{{ 3 | string }}"), json!("3"));
    assert_eq!(render("{{ 'aaa' | replace('a', 'b', 2) }}"), json!("bba"));
    assert_eq!(render("{{ 'aaa' | replace('a', 'b') }}"), json!("bbb"));
    assert_eq!(render("{{ 'a b&c' | urlencode }}"), json!("a%20b%26c"));
    assert_eq!(
        render("{{ node.1['items'] | map(attribute='uuid') | list }}"),
        json!(["u1", "u2"])
    );
    assert_eq!(render("{{ node.1.missing | default('d') }}"), json!("d"));
    assert_eq!(
        render("{{ 'Ab' | lower }}{{ 'Ab' | upper }}"),
        json!("abAB")
    );
    assert_eq!(
        render("{{ store.tags | first }}{{ store.tags | last }}"),
        json!("xy")
    );
    assert_eq!(
        render("{{ node.1.data | tojson }}"),
        json!(r#"{"k": [1, 2]}"#)
    );
    assert_eq!(render("{{ [] | join(',') }}"), json!(""));
    assert_eq!(render("{{ [] | first }}"), Value::Null);
}

#[test]
fn jsonpath_filter() {
    assert_eq!(
        render(
            r#"{{ node.2 | jsonpath("$.fields[?(@.name == 'url.domain')].common_values[*]['name']", True) }}"#
        ),
        json!(["a.com", "b.com"])
    );
    assert_eq!(
        render(r#"{{ node.2 | jsonpath("$.fields[*].common_values[*]['name']", True) | length }}"#),
        json!(3)
    );
    assert_eq!(
        render(r#"{{ node.2 | jsonpath("$.events[0]['message']") }}"#),
        json!("m")
    );
    assert_eq!(
        render(
            r#"{{ node.2 | jsonpath("$.events[?(@['host.name']=='h1')]['destination.ip']", all=True) }}"#
        ),
        json!(["1.2.3.4"])
    );
    assert_eq!(
        render(r#"{{ node.10['text'] | jsonpath("$.Answer..data", True) }}"#),
        json!(["9.9.9.9"])
    );
    assert_eq!(
        render(r#"{{ node.2 | jsonpath("$.nothing") }}"#),
        Value::Null
    );
    assert_eq!(
        render(r#"{{ node.2 | jsonpath("$.nothing", True) }}"#),
        json!([])
    );
    assert_eq!(
        render(r#"{{ node.2 | jsonpath("events[0]['host.name']") }}"#),
        json!("h1")
    );
    let bad = engine().render_value(&json!("{{ 'not json' | jsonpath('$.a') }}"), &context());
    assert!(bad.is_err());
}

#[test]
fn regex_match_filter() {
    assert_eq!(
        render("{{ 'http://x' | regex_match('^http.*', ignore_case=False) }}"),
        json!(true)
    );
    assert_eq!(
        render(
            "{{ 'a.exampleAdware.com' | regex_match('.*exampleAdware\\.com',ignore_case=False) }}"
        ),
        json!(true)
    );
    assert_eq!(render("{{ 'xhttp' | regex_match('http') }}"), json!(false));
    assert_eq!(
        render("{{ 'HTTP' | regex_match('http', True) }}"),
        json!(true)
    );
    assert_eq!(render("{{ node.9 | regex_match('x') }}"), json!(false));
    assert!(
        engine()
            .render_value(&json!("{{ 'a' | regex_match('(') }}"), &context())
            .is_err()
    );
}

#[test]
fn time_filters() {
    assert_eq!(
        render("{{ node.0.created_at | timestamp_to_iso8601 }}"),
        json!("2019-09-06T07:32:00Z")
    );
    assert_eq!(
        render("{{ 1567755120000 | timestamp_to_iso8601 }}"),
        json!("2019-09-06T07:32:00Z")
    );
    assert_eq!(
        render("{{ '1567755120' | timestamp_to_iso8601 }}"),
        json!("2019-09-06T07:32:00Z")
    );
    assert_eq!(
        render("{{ '2019-09-06T07:32:00Z' | iso8601_to_timestamp }}"),
        json!(1567755120)
    );
    assert_eq!(
        render("{{ -3600 | time_with_delta }}"),
        json!("2024-01-02T02:04:05Z")
    );
    assert_eq!(
        render("{{(-63244800) | time_with_delta }},{{(-31622400) | time_with_delta}}"),
        json!("2021-12-31T03:04:05Z,2023-01-01T03:04:05Z")
    );
    assert!(
        engine()
            .render_value(&json!("{{ 'x' | timestamp_to_iso8601 }}"), &context())
            .is_err()
    );
}

#[test]
fn fromjson_filter() {
    assert_eq!(render("{{ '{\"a\": [1]}' | fromjson }}"), json!({"a": [1]}));
    assert_eq!(render("{{ node.1.data | fromjson }}"), json!({"k": [1, 2]}));
    assert!(
        engine()
            .render_value(&json!("{{ '{' | fromjson }}"), &context())
            .is_err()
    );
}

#[test]
fn runaway_templates_fail_fast() {
    let started = std::time::Instant::now();
    for template in [
        "{% for i in range(100000000) %}x{% endfor %}",
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        "{{ range(100000) | join(',') * 100000 }}",
    ] {
        let err = engine()
            .render_value(&json!(template), &context())
            .err()
            .unwrap_or_else(|| panic!("{template} must fail"));
        assert!(
            matches!(
                err.kind,
                TemplateErrorKind::Budget | TemplateErrorKind::Evaluation
            ),
            "{template}: {err}"
        );
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn output_cap() {
    let small = TemplateEngine::with_options(
        TemplateLimits {
            fuel: 1_000_000,
            max_output_bytes: 100,
        },
        fixed_clock(),
    );
    let err = small
        .render_value(
            &json!("{% for i in range(1000) %}xx{% endfor %}"),
            &context(),
        )
        .err()
        .unwrap_or_else(|| panic!("must exceed the cap"));
    assert_eq!(err.kind, TemplateErrorKind::Budget);
}

#[test]
fn syntax_errors_name_the_template() {
    let err = engine()
        .check_syntax("{% if x %}never closed")
        .err()
        .unwrap_or_else(|| panic!("must fail"));
    assert_eq!(err.kind, TemplateErrorKind::Syntax);
    assert!(err.to_string().contains("{% if x %}never closed"), "{err}");
    assert!(engine().check_syntax("{{ node.0 }}").is_ok());
    assert!(engine().check_syntax("{{ node.0 ").is_err());
    assert!(engine().check_syntax("{id}").is_ok());
}

/// Templates that would need gigabytes fail on their budget instead, quickly: as a whole
/// value, inside text, through the filters that walk or serialize a value, and through the
/// JSON a value is written as. (Operators and filters of the template language that turn a
/// lazily repeated list into text, such as `~` or `|lower`, are minijinja's own and build
/// that text whole: see the crate documentation.)
#[test]
fn memory_bombs_fail_on_the_budget() {
    let bombs = [
        r#"{{ ["x"*60] * 100000000 }}"#,
        r#"list: {{ ["x"*60] * 100000000 }}"#,
        r#"{{ (["x"*60] * 100000000) | join(",") }}"#,
        r#"{{ ("x" * 1000000) | replace("x", "y" * 100) }}"#,
        r#"{{ "x" * 100000000 }}"#,
        r#"{% for i in range(10000) %}{% for j in range(10000) %}xxxxxxxxxxxxxxxx{% endfor %}{% endfor %}"#,
        r#"{{ ([["x"*60] * 1000] * 100000) | tojson }}"#,
        r#"{{ {"a": ["x"*60] * 100000000} }}"#,
        r#"{{ (["x"*60] * 100000000) | list }}"#,
        r#"{{ (["x"*60] * 100000000) | sort | first }}"#,
        r#"{{ (["x"*60] * 100000000) | unique | list }}"#,
        r#"{{ (["x"*60] * 100000000) | reverse | first }}"#,
        r#"{{ (["x"*60] * 100000000) | map("upper") | list | length }}"#,
        r#"{{ (["x"*60] * 100000000) | string | length }}"#,
        r#"{{ (["x"*60] * 100000000) | batch(3) | list | length }}"#,
    ];
    for bomb in bombs {
        let started = std::time::Instant::now();
        let err = match engine().render_value(&json!(bomb), &context()) {
            Ok(value) => panic!("{bomb} rendered {} bytes", value.to_string().len()),
            Err(err) => err,
        };
        assert_eq!(err.kind, TemplateErrorKind::Budget, "{bomb}: {err}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{bomb} took {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn unicode_whitespace_inside_tags_is_whitespace_as_in_jinja2() {
    // U+00A0 NO-BREAK SPACE, as rich-text editors type it, and other Unicode spaces.
    assert_eq!(render("{{\u{a0}node.0.short_id\u{a0}}}"), json!("ALxyz"));
    assert_eq!(
        render("alert\u{a0}{{\u{a0}node.0.short_id\u{a0}|\u{2003}lower }}"),
        json!("alert\u{a0}alxyz")
    );
    assert_eq!(
        render("{%\u{a0}if\u{a0}node.0.urgency\u{a0}>\u{202f}50\u{a0}%}high{%\u{a0}endif\u{a0}%}"),
        json!("high")
    );
    assert_eq!(
        render("{{ 'a\u{a0}b' }}"),
        json!("a\u{a0}b"),
        "literals keep theirs"
    );
    assert!(
        engine()
            .check_syntax("{{\u{a0}node.1.rule.name\u{a0}}}")
            .is_ok()
    );
}
