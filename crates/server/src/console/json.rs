//! Stored JSON values as collapsible trees: every object and array is a `<details>` whose
//! summary names its key and size, open at the top and where small, so a long alert reads
//! key by key and opens where needed — without script. The script adds "expand all",
//! "collapse all" and the raw JSON (kept beside the tree, hidden) for copying.

use std::fmt::Write as _;

use serde_json::Value;

use super::html::esc;

/// Containers this deep or deeper start closed…
const OPEN_DEPTH: usize = 1;
/// …unless they are this small and not deeper than [`SMALL_OPEN_DEPTH`].
const SMALL_ENTRIES: usize = 4;
const SMALL_OPEN_DEPTH: usize = 3;

/// `value` as a tree with its tools and its raw JSON; `—` for nothing.
pub fn tree(value: Option<&Value>) -> String {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return "<p class=\"none\">—</p>".to_owned();
    };
    let raw = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    let mut out = String::from(
        "<div class=\"json\"><div class=\"json-tools\">\
         <button type=\"button\" data-json=\"expand\">Expand all</button>\
         <button type=\"button\" data-json=\"collapse\">Collapse all</button>\
         <button type=\"button\" data-json=\"raw\" aria-pressed=\"false\">Raw JSON</button>\
         </div><div class=\"json-tree\">",
    );
    node(&mut out, None, value, 0);
    let _ = write!(
        out,
        "</div><pre class=\"json-raw\" hidden>{}</pre></div>",
        esc(&raw)
    );
    out
}

/// One value, under `key` (an object's key or an array's index) if it has one.
fn node(out: &mut String, key: Option<&str>, value: &Value, depth: usize) {
    let label = key.map_or_else(String::new, |k| {
        format!("<span class=\"j-key\">{}</span>: ", esc(k))
    });
    let entries: Vec<(String, &Value)> = match value {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        scalar => {
            let _ = write!(
                out,
                "<div class=\"j-line\">{label}{}</div>",
                scalar_html(scalar)
            );
            return;
        }
    };
    let (open_brace, close_brace, noun) = match value {
        Value::Array(_) => ("[", "]", "item"),
        _ => ("{", "}", "key"),
    };
    if entries.is_empty() {
        let _ = write!(
            out,
            "<div class=\"j-line\">{label}<span class=\"j-empty\">{open_brace}{close_brace}</span></div>"
        );
        return;
    }
    let open = depth < OPEN_DEPTH || (entries.len() <= SMALL_ENTRIES && depth < SMALL_OPEN_DEPTH);
    let plural = if entries.len() == 1 { "" } else { "s" };
    let _ = write!(
        out,
        "<details class=\"j\"{open}><summary>{label}<span class=\"j-size\">{open_brace} {n} \
         {noun}{plural} {close_brace}</span></summary><ul class=\"j-entries\">",
        open = if open { " open" } else { "" },
        n = entries.len(),
    );
    for (key, child) in entries {
        out.push_str("<li>");
        node(out, Some(&key), child, depth + 1);
        out.push_str("</li>");
    }
    out.push_str("</ul></details>");
}

/// A string, number, boolean or null, typed by its class.
fn scalar_html(value: &Value) -> String {
    match value {
        Value::String(text) => format!("<span class=\"j-str\">{}</span>", esc(text)),
        Value::Number(n) => format!("<span class=\"j-num\">{n}</span>"),
        Value::Bool(b) => format!("<span class=\"j-bool\">{b}</span>"),
        _ => "<span class=\"j-null\">null</span>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_tree_opens_at_the_top_and_where_small_and_escapes_everything() {
        let value = json!({
            "title": "<script>alert(1)</script>",
            "urgency": {"value": 72},
            "rule": {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5},
            "tags": [],
            "ok": true,
            "gone": null,
        });
        let html = tree(Some(&value));
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.starts_with("<div class=\"json\">"));
        assert!(
            html.contains("<details class=\"j\" open><summary><span class=\"j-size\">{ 6 keys }")
        );
        assert!(html.contains(
            "<details class=\"j\" open><summary><span class=\"j-key\">urgency</span>: <span \
             class=\"j-size\">{ 1 key }</span>"
        ));
        assert!(
            html.contains(
                "<details class=\"j\"><summary><span class=\"j-key\">rule</span>: <span \
                 class=\"j-size\">{ 5 keys }</span>"
            ),
            "a larger object below the top starts closed: {html}"
        );
        assert!(
            html.contains("<span class=\"j-key\">tags</span>: <span class=\"j-empty\">[]</span>")
        );
        assert!(html.contains("<span class=\"j-bool\">true</span>"));
        assert!(html.contains("<span class=\"j-null\">null</span>"));
        assert!(html.contains("<pre class=\"json-raw\" hidden>{\n  &quot;title&quot;"));
    }

    #[test]
    fn nothing_is_a_dash() {
        assert_eq!(tree(None), "<p class=\"none\">—</p>");
        assert_eq!(tree(Some(&Value::Null)), "<p class=\"none\">—</p>");
    }
}
