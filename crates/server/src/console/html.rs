//! What every console page is made of: HTML escaping, the shared layout (navigation, the
//! stylesheet and script served under `/assets/`), HTML answers and error pages, and the
//! formatting of times and durations (stored JSON values are trees: [`super::json`]).
//!
//! Pages are built as strings. Escaping is a hand-written helper rather than a template
//! crate: the pages are few and small, the five characters that matter in text and
//! double-quoted attributes are easy to cover, and the service keeps its dependency tree
//! lean. Every value that does not come from this module's own literals goes through
//! [`esc`].

use std::fmt::Write as _;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::api::error::ApiError;

/// Text made safe for HTML text and double-quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Text made safe for a URL query value (and then for an attribute, with [`esc`]).
pub fn query_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// The sections of the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Runs,
    Playbooks,
    Accounts,
    Modules,
    /// Pages outside the navigation (login, errors).
    None,
}

const NAV: [(Section, &str, &str); 4] = [
    (Section::Runs, "/runs", "Runs"),
    (Section::Playbooks, "/playbooks", "Playbooks"),
    (Section::Accounts, "/accounts", "Accounts"),
    (Section::Modules, "/modules", "Modules"),
];

/// A whole page: the layout around `body` (already HTML). `title` is text.
pub fn layout(title: &str, section: Section, body: &str) -> String {
    let mut nav = String::new();
    for (item, href, label) in NAV {
        let current = if item == section {
            " aria-current=\"page\" class=\"current\""
        } else {
            ""
        };
        let _ = write!(nav, "<a href=\"{href}\"{current}>{label}</a>");
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} · alertsync</title>\n\
         <link rel=\"stylesheet\" href=\"/assets/console.css\">\n\
         <link rel=\"icon\" href=\"/assets/icon.svg\" type=\"image/svg+xml\">\n\
         <script src=\"/assets/console.js\" defer></script>\n</head>\n<body>\n\
         <header class=\"top\"><a class=\"brand\" href=\"/runs\">alertsync</a>\
         <nav id=\"nav\">{nav}</nav></header>\n<main>\n{body}\n</main>\n</body>\n</html>\n",
        title = esc(title),
    )
}

/// A 200 HTML answer.
pub fn page(html: String) -> Response {
    page_with_status(StatusCode::OK, html)
}

/// An HTML answer with this status.
pub fn page_with_status(status: StatusCode, html: String) -> Response {
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        html,
    )
        .into_response()
}

/// The error page for an API error: its status, in the layout.
pub fn error_page(err: ApiError) -> Response {
    let detail = match &err.body.detail {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let heading = match err.status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::BAD_REQUEST => "Bad request",
        StatusCode::SERVICE_UNAVAILABLE => "Unavailable",
        _ => "Error",
    };
    let body = format!(
        "<section class=\"error-page\" data-status-code=\"{code}\"><h1>{heading}</h1>\
         <p class=\"detail\">{detail}</p><p><a href=\"/runs\">Back to the runs</a></p></section>",
        code = err.status.as_u16(),
        detail = esc(&detail),
    );
    page_with_status(err.status, layout(heading, Section::None, &body))
}

/// The HTML 404 page.
pub fn not_found(detail: impl Into<String>) -> Response {
    error_page(ApiError::not_found(detail))
}

/// Whether the request comes from a browser wanting a page (`Accept: text/html`).
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"))
}

/// A time (ms since the epoch) as `<time>`: UTC, to the second.
pub fn time(ms: u64) -> String {
    let Some(at) = i64::try_from(ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
    else {
        return "—".to_owned();
    };
    format!(
        "<time datetime=\"{}\">{}</time>",
        at.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        at.format("%Y-%m-%d %H:%M:%S UTC"),
    )
}

/// A time as a filter field holds it: UTC, to the second, as the pages write times.
pub fn utc_input(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|at| at.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// An optional time, `—` when absent.
pub fn time_opt(ms: Option<u64>) -> String {
    ms.map_or_else(|| "—".to_owned(), time)
}

/// A duration in milliseconds, short: `850 ms`, `12.3 s`, `4 min 05 s`.
pub fn duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{}.{} s", ms / 1000, (ms % 1000) / 100)
    } else {
        let seconds = ms / 1000;
        format!("{} min {:02} s", seconds / 60, seconds % 60)
    }
}

/// An optional duration between two times, `—` when unknown.
pub fn duration_between(start: u64, end: Option<u64>) -> String {
    end.map_or_else(|| "—".to_owned(), |end| duration(end.saturating_sub(start)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\" class='y'>&</a>"),
            "&lt;a href=&quot;x&quot; class=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(esc("plain text é"), "plain text é");
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(query_value("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(query_value("096acba7-ca84_x.y~"), "096acba7-ca84_x.y~");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(12_345), "12.3 s");
        assert_eq!(duration(245_000), "4 min 05 s");
        assert_eq!(duration_between(10, None), "—");
    }

    #[test]
    fn times_are_utc() {
        assert!(time(0).contains("1970-01-01 00:00:00 UTC"));
        assert!(time(0).contains("datetime=\"1970-01-01T00:00:00.000Z\""));
        assert_eq!(utc_input(1_740_821_459_999), "2025-03-01 09:30:59");
    }
}
