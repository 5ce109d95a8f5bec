//! Reading action arguments: one place for "present, a string, not blank" and the checks
//! shared by modules (alert ids, URLs), each failing with a message naming the argument.

use alertsync_engine::ActionError;
use serde_json::Value;
use url::Url;

/// A required string argument that is not blank (surrounding whitespace is trimmed).
pub fn required_str<'a>(args: &'a Value, name: &str) -> Result<&'a str, ActionError> {
    match args.get(name) {
        None | Some(Value::Null) => Err(ActionError::invalid_argument(name, "is required")),
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(ActionError::invalid_argument(name, "must not be blank"))
        }
        Some(Value::String(s)) => Ok(s.trim()),
        Some(_) => Err(ActionError::invalid_argument(name, "must be a string")),
    }
}

/// An optional string argument (`null` and blank count as absent).
pub fn optional_str<'a>(args: &'a Value, name: &str) -> Result<Option<&'a str>, ActionError> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim())),
        Some(_) => Err(ActionError::invalid_argument(name, "must be a string")),
    }
}

/// An optional boolean argument; `"true"`/`"false"` strings (from templates) are accepted.
pub fn optional_bool(args: &Value, name: &str) -> Result<Option<bool>, ActionError> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(ActionError::invalid_argument(name, "must be true or false")),
    }
}

/// What a Sekoia.io alert identifier must look like, for messages.
pub const ALERT_ID_FORM: &str =
    "an alert UUID or an alert short id starting with `AL` (e.g. ALTqhwoRAyqk)";

/// The longest short id accepted (Sekoia.io's are 12 characters).
const MAX_SHORT_ID_LEN: usize = 32;

/// A Sekoia.io alert identifier argument: a UUID, or a short id starting with `AL`.
pub fn alert_id<'a>(args: &'a Value, name: &str) -> Result<&'a str, ActionError> {
    let id = required_str(args, name)?;
    if is_alert_id(id) {
        Ok(id)
    } else {
        Err(ActionError::invalid_argument(
            name,
            format!("{} must be {ALERT_ID_FORM}", shown_id(id)),
        ))
    }
}

/// How messages quote a value given as an alert id: its first characters, escaped, so that a
/// huge or hostile value cannot flood or forge a log line.
pub fn shown_id(id: &str) -> String {
    const SHOWN_CHARS: usize = 64;
    let excerpt: String = id.chars().take(SHOWN_CHARS).collect();
    let cut = if excerpt.len() < id.len() { "…" } else { "" };
    format!("{excerpt:?}{cut}")
}

/// Whether `id` is a Sekoia.io alert identifier: a UUID, or `AL` followed by at most 30
/// letters and digits. Every id that goes into a URL or the inbox passes this check first.
pub fn is_alert_id(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok_and(|_| id.len() <= 36) || is_short_id(id)
}

fn is_short_id(id: &str) -> bool {
    (3..=MAX_SHORT_ID_LEN).contains(&id.len())
        && id.starts_with("AL")
        && id.chars().all(|c| c.is_ascii_alphanumeric())
}

/// An absolute http(s) URL argument.
pub fn http_url(args: &Value, name: &str) -> Result<Url, ActionError> {
    parse_http_url(required_str(args, name)?)
        .map_err(|why| ActionError::invalid_argument(name, why.to_string()))
}

/// What is wrong with a text given as an absolute http(s) URL; messages follow the name of
/// what was given (``base URL is not an absolute URL (...)``).
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("is not an absolute URL ({0})")]
    NotAbsolute(#[source] url::ParseError),
    #[error("has no host")]
    NoHost,
    #[error("must be an http or https URL, not `{scheme}:`")]
    NotHttp { scheme: String },
}

/// Parses an absolute http(s) URL, saying what is wrong otherwise.
pub fn parse_http_url(text: &str) -> Result<Url, UrlError> {
    let url = Url::parse(text.trim()).map_err(UrlError::NotAbsolute)?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        "http" | "https" => Err(UrlError::NoHost),
        other => Err(UrlError::NotHttp {
            scheme: other.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn alert_ids_are_uuids_or_short_ids() {
        let ok = ["ALTqhwoRAyqk", "0f0b5c3e-8d2f-4b7a-9a52-3c1f4e5d6a7b"];
        for id in ok {
            assert_eq!(alert_id(&json!({"a": id}), "a").ok(), Some(id));
        }
        for bad in [
            json!({"a": "nope"}),
            json!({"a": " "}),
            json!({}),
            json!({"a": 3}),
            json!({"a": "AL"}),
            json!({"a": "../../me"}),
            json!({"a": format!("AL{}", "x".repeat(31))}),
            json!({"a": format!("{{{}}}", "0f0b5c3e-8d2f-4b7a-9a52-3c1f4e5d6a7b")}),
        ] {
            let err = alert_id(&bad, "a").unwrap_err();
            assert!(err.message.contains("`a`"), "{}", err.message);
        }
    }

    #[test]
    fn urls_must_be_absolute_http() {
        assert!(parse_http_url("https://api.sekoia.io/").is_ok());
        assert!(parse_http_url("api.sekoia.io").is_err());
        assert!(parse_http_url("ftp://x").is_err());
    }
}
