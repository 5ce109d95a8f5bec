//! The results of Request URL, from the response: `{reason, status_code, url, headers,
//! encoding, elapsed, text, json}`.

use std::time::Duration;

use alertsync_engine::ActionError;
use alertsync_engine::http::read_body;
use reqwest::Response;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Map, Value, json};

/// Reads the whole response (at most `limit` bytes) into the action's results.
pub async fn response_results(
    response: Response,
    elapsed: Duration,
    limit: u64,
    what: &str,
) -> Result<Value, ActionError> {
    let status = response.status();
    let url = response.url().to_string();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let headers: Map<String, Value> = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()),
            )
        })
        .collect();
    let text = String::from_utf8_lossy(&read_body(response, limit, what).await?).into_owned();
    let json = match content_type.as_deref() {
        Some(ct) if is_json(ct) && !text.trim().is_empty() => {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        }
        _ => Value::Null,
    };
    Ok(json!({
        "reason": status.canonical_reason().unwrap_or_default(),
        "status_code": status.as_u16(),
        "url": url,
        "headers": headers,
        "encoding": content_type.as_deref().and_then(charset),
        "elapsed": elapsed.as_secs_f64(),
        "text": text,
        "json": json,
    }))
}

/// `application/json`, `application/problem+json`, `text/json`...
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence.ends_with("/json") || essence.ends_with("+json")
}

/// The `charset` parameter of a content type.
fn charset(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("application/problem+json"));
        assert!(!is_json("text/html"));
        assert_eq!(
            charset("text/html; charset=\"ISO-8859-1\"").as_deref(),
            Some("ISO-8859-1")
        );
        assert_eq!(charset("application/json"), None);
    }
}
