//! How much of a run is kept in its record: arguments and results of a node, its error and
//! its log are recorded (and stored, listed, shown) up to fixed sizes, so one answer of
//! megabytes cannot bloat the store or every page that shows the run. Over a limit, a value
//! is replaced by a visible marker with its size and the beginning of its JSON; the full
//! value is not kept. (The run itself works with the full value while it runs.)

use serde_json::{Value, json};

use crate::action::LogLine;
use crate::http::Exchange;

/// The largest argument or result value recorded whole, in bytes of JSON (about).
pub const MAX_RECORDED_VALUE_BYTES: usize = 256 * 1024;
/// How much of a truncated value's JSON the marker keeps.
const PREVIEW_BYTES: usize = 2048;
/// The longest error or log message recorded.
pub const MAX_RECORDED_TEXT_BYTES: usize = 8 * 1024;
/// The most log lines one node run records (the last ones are kept).
pub const MAX_RECORDED_LOG_LINES: usize = 200;
/// The most requests and answers one node run records (the last ones are kept): a delivery
/// held for a day makes an attempt a minute, and its record is rewritten at every hold.
pub const MAX_RECORDED_EXCHANGES: usize = 20;

/// `value`, or a marker if its JSON is larger than [`MAX_RECORDED_VALUE_BYTES`].
pub(crate) fn value(value: Value) -> Value {
    if !exceeds(&value, MAX_RECORDED_VALUE_BYTES) {
        return value;
    }
    let text = value.to_string();
    json!({
        "alertsync_truncated": format!(
            "this value ({} bytes of JSON) is larger than the {} bytes a run record keeps; \
             only its beginning is kept",
            text.len(),
            MAX_RECORDED_VALUE_BYTES
        ),
        "bytes": text.len(),
        "beginning": prefix(&text, PREVIEW_BYTES),
    })
}

/// `text`, cut to [`MAX_RECORDED_TEXT_BYTES`] with a marker saying so.
pub(crate) fn text(text: String) -> String {
    if text.len() <= MAX_RECORDED_TEXT_BYTES {
        return text;
    }
    format!(
        "{}… [truncated: {} bytes in all]",
        prefix(&text, MAX_RECORDED_TEXT_BYTES),
        text.len()
    )
}

/// The last [`MAX_RECORDED_LOG_LINES`] lines, each cut like [`text`], with a first line
/// saying how many were left out.
pub(crate) fn logs(lines: impl Iterator<Item = LogLine>) -> Vec<LogLine> {
    let mut lines: Vec<LogLine> = lines.collect();
    let dropped = lines.len().saturating_sub(MAX_RECORDED_LOG_LINES);
    if dropped > 0 {
        let first_kept = lines[dropped].clone();
        lines.drain(..dropped);
        lines.insert(
            0,
            LogLine {
                message: format!("… {dropped} earlier log lines not kept"),
                ..first_kept
            },
        );
    }
    for line in &mut lines {
        line.message = text(std::mem::take(&mut line.message));
    }
    lines
}

/// The last [`MAX_RECORDED_EXCHANGES`] of `exchanges` (the attempt count says how many
/// there were).
pub(crate) fn exchanges(mut exchanges: Vec<Exchange>) -> Vec<Exchange> {
    let dropped = exchanges.len().saturating_sub(MAX_RECORDED_EXCHANGES);
    exchanges.drain(..dropped);
    exchanges
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn prefix(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Whether the JSON of `value` is larger than `limit` bytes, without writing it: sizes are
/// added up as the walk goes and it stops as soon as they pass the limit.
fn exceeds(value: &Value, limit: usize) -> bool {
    let mut stack = vec![value];
    let mut size = 0usize;
    while let Some(value) = stack.pop() {
        size += match value {
            Value::Null | Value::Bool(_) => 5,
            Value::Number(_) => 24,
            Value::String(s) => s.len() + 2,
            Value::Array(items) => {
                stack.extend(items);
                items.len() + 2
            }
            Value::Object(map) => {
                for (key, item) in map {
                    size += key.len() + 4;
                    stack.push(item);
                }
                map.len() + 2
            }
        };
        if size > limit {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_kept_whole_and_large_ones_become_a_marker() {
        let small = json!({"a": [1, 2, "three"]});
        assert_eq!(value(small.clone()), small);
        let large = json!({"body": "x".repeat(MAX_RECORDED_VALUE_BYTES)});
        let kept = value(large);
        assert!(
            kept["alertsync_truncated"]
                .as_str()
                .unwrap()
                .contains("larger than")
        );
        assert!(kept["bytes"].as_u64().unwrap() > MAX_RECORDED_VALUE_BYTES as u64);
        assert!(kept["beginning"].as_str().unwrap().len() <= PREVIEW_BYTES);
        let many = Value::Array(vec![json!(1); MAX_RECORDED_VALUE_BYTES]);
        assert!(value(many).get("alertsync_truncated").is_some());
    }

    #[test]
    fn only_the_last_exchanges_are_kept() {
        use crate::http::{Answer, RecordedWrite};
        let exchange = |at_ms| Exchange {
            at_ms,
            request: RecordedWrite {
                method: "POST".to_owned(),
                url: "https://api.ilert.com/api/events".to_owned(),
                body: json!({}),
            },
            answer: Answer::Response {
                status: 503,
                body: Value::Null,
            },
        };
        let kept = exchanges((0..100).map(exchange).collect());
        assert_eq!(kept.len(), MAX_RECORDED_EXCHANGES);
        assert_eq!(kept[0].at_ms, 100 - MAX_RECORDED_EXCHANGES as u64);
        assert_eq!(kept.last().map(|e| e.at_ms), Some(99));
        assert_eq!(exchanges(vec![exchange(1)]).len(), 1);
    }

    #[test]
    fn long_texts_and_logs_are_cut() {
        let cut = text("é".repeat(MAX_RECORDED_TEXT_BYTES));
        assert!(cut.len() < MAX_RECORDED_TEXT_BYTES + 64);
        assert!(cut.ends_with(&format!(
            "[truncated: {} bytes in all]",
            2 * MAX_RECORDED_TEXT_BYTES
        )));
        let line = |n: usize| LogLine {
            at_ms: n as u64,
            level: crate::action::LogLevel::Info,
            message: format!("line {n}"),
        };
        let kept = logs((0..MAX_RECORDED_LOG_LINES + 10).map(line));
        assert_eq!(kept.len(), MAX_RECORDED_LOG_LINES + 1);
        assert_eq!(kept[0].message, "… 10 earlier log lines not kept");
        assert_eq!(kept[1].message, "line 10");
    }
}
