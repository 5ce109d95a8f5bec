//! What Request URL sends, read from its arguments before anything is sent: each problem
//! names the argument.

use std::time::Duration;

use alertsync_engine::ActionError;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};
use url::Url;

use crate::args::{http_url, optional_bool, optional_str, required_str};

/// Seconds a request may take when `timeout` is not given.
const DEFAULT_TIMEOUT_SECS: f64 = 30.0;

/// A request, as the arguments describe it.
#[derive(Debug)]
pub struct RequestSpec {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub params: Vec<(String, String)>,
    pub auth: Auth,
    pub body: Body,
    pub timeout: Duration,
    pub verify_ssl: bool,
    pub fail_on_http_error: bool,
    /// Statuses retried like network errors (alertsync extension).
    pub retry_on_status: Vec<u16>,
}

#[derive(Debug)]
pub enum Auth {
    None,
    Basic {
        username: String,
        password: Option<String>,
    },
    Bearer(String),
}

#[derive(Debug)]
pub enum Body {
    Empty,
    Text(String),
    Json(Value),
}

impl RequestSpec {
    pub fn from_args(args: &Value) -> Result<Self, ActionError> {
        Ok(Self {
            method: method(args)?,
            url: http_url(args, "url")?,
            headers: headers(args)?,
            params: params(args)?,
            auth: auth(args)?,
            body: body(args)?,
            timeout: timeout(args)?,
            verify_ssl: optional_bool(args, "verify_ssl")?.unwrap_or(true),
            fail_on_http_error: optional_bool(args, "fail_on_http_error")?.unwrap_or(true),
            retry_on_status: retry_on_status(args)?,
        })
    }

    /// Builds the request on `builder` (a fresh builder for every attempt).
    pub fn apply(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let mut builder = builder.headers(self.headers.clone()).timeout(self.timeout);
        if !self.params.is_empty() {
            builder = builder.query(&self.params);
        }
        builder = match &self.auth {
            Auth::None => builder,
            Auth::Basic { username, password } => builder.basic_auth(username, password.as_deref()),
            Auth::Bearer(token) => builder.bearer_auth(token),
        };
        match &self.body {
            Body::Empty => builder,
            Body::Text(text) => builder.body(text.clone()),
            Body::Json(value) => builder.json(value),
        }
    }
}

fn method(args: &Value) -> Result<Method, ActionError> {
    let name = required_str(args, "method")?.to_ascii_lowercase();
    match name.as_str() {
        "get" => Ok(Method::GET),
        "post" => Ok(Method::POST),
        "put" => Ok(Method::PUT),
        "patch" => Ok(Method::PATCH),
        "head" => Ok(Method::HEAD),
        "delete" => Ok(Method::DELETE),
        _ => Err(ActionError::invalid_argument(
            "method",
            "must be one of get, post, put, patch, head, delete",
        )),
    }
}

fn headers(args: &Value) -> Result<HeaderMap, ActionError> {
    let mut headers = HeaderMap::new();
    for (name, value) in object_argument(args, "headers")? {
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            ActionError::invalid_argument("headers", format!("`{name}` is not a valid header name"))
        })?;
        let text = scalar_text(&value).ok_or_else(|| {
            ActionError::invalid_argument(
                "headers",
                format!("the value of `{name}` must be a string or a number"),
            )
        })?;
        let value = HeaderValue::from_str(&text).map_err(|_| {
            ActionError::invalid_argument(
                "headers",
                format!("the value of `{name}` is not a valid header value"),
            )
        })?;
        headers.append(header, value);
    }
    Ok(headers)
}

/// Query parameters from an object, a string holding a JSON object (or a Python dict), or
/// a query string (`since=2024-01-01&until=now`, as Python's `requests` takes it); a list
/// value repeats the parameter.
fn params(args: &Value) -> Result<Vec<(String, String)>, ActionError> {
    if let Some(Value::String(text)) = args.get("params")
        && let Some(pairs) = query_string(text)
    {
        return Ok(pairs);
    }
    let mut params = Vec::new();
    for (name, value) in object_argument(args, "params")? {
        let values = match value {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            other => vec![other],
        };
        for value in values {
            let text = scalar_text(&value).ok_or_else(|| {
                ActionError::invalid_argument(
                    "params",
                    format!("the value of `{name}` must be a string, a number or a list of them"),
                )
            })?;
            params.push((name.clone(), text));
        }
    }
    Ok(params)
}

/// The pairs of a query string (an optional leading `?`); `None` for text that is not one
/// (JSON, a Python dict, text without `=`).
fn query_string(text: &str) -> Option<Vec<(String, String)>> {
    let text = text.trim();
    let text = text.strip_prefix('?').unwrap_or(text);
    if text.is_empty() || text.starts_with(['{', '[']) || !text.contains('=') {
        return None;
    }
    Some(
        url::form_urlencoded::parse(text.as_bytes())
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect(),
    )
}

/// A Python literal (`{'a': 'b', 'c': True}`, as playbooks write them) as JSON text:
/// single-quoted strings become JSON strings, `True` / `False` / `None` JSON literals.
fn python_literal_as_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                let mut literal = String::new();
                while let Some(d) = chars.next() {
                    match d {
                        '\\' => literal.push(chars.next().unwrap_or('\\')),
                        _ if d == c => break,
                        _ => literal.push(d),
                    }
                }
                out.push_str(&Value::String(literal).to_string());
            }
            _ if c.is_ascii_alphabetic() => {
                let mut word = c.to_string();
                while let Some(&d) = chars.peek().filter(|d| d.is_ascii_alphanumeric()) {
                    word.push(d);
                    chars.next();
                }
                out.push_str(match word.as_str() {
                    "True" => "true",
                    "False" => "false",
                    "None" => "null",
                    _ => &word,
                });
            }
            _ => out.push(c),
        }
    }
    out
}

/// An argument holding an object, given as an object or as a string of JSON (absent: empty).
fn object_argument(args: &Value, name: &str) -> Result<Map<String, Value>, ActionError> {
    let not_an_object = || {
        ActionError::invalid_argument(
            name,
            "must be an object (or a string holding a JSON object)",
        )
    };
    match args.get(name) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(Map::new()),
        Some(Value::String(text)) => match serde_json::from_str(text)
            .or_else(|_| serde_json::from_str(&python_literal_as_json(text)))
        {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(not_an_object()),
        },
        Some(_) => Err(not_an_object()),
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn auth(args: &Value) -> Result<Auth, ActionError> {
    let kind = optional_str(args, "auth_type")?
        .unwrap_or("None")
        .to_ascii_lowercase();
    match kind.as_str() {
        "none" => Ok(Auth::None),
        "basic" => Ok(Auth::Basic {
            username: required_str(args, "auth_username")
                .map_err(|_| {
                    ActionError::invalid_argument(
                        "auth_username",
                        "is required with auth_type Basic",
                    )
                })?
                .to_owned(),
            password: args
                .get("auth_password")
                .and_then(Value::as_str)
                .map(str::to_owned),
        }),
        "bearer" => Ok(Auth::Bearer(
            required_str(args, "auth_token")
                .map_err(|_| {
                    ActionError::invalid_argument("auth_token", "is required with auth_type Bearer")
                })?
                .to_owned(),
        )),
        "digest" => Err(ActionError::invalid_argument(
            "auth_type",
            "Digest is not supported; use Basic or Bearer, or put an Authorization header in `headers`",
        )),
        _ => Err(ActionError::invalid_argument(
            "auth_type",
            "must be one of None, Basic, Digest, Bearer",
        )),
    }
}

fn body(args: &Value) -> Result<Body, ActionError> {
    let data = match args.get("data") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => {
            return Err(ActionError::invalid_argument(
                "data",
                "must be a string (use `json` for an object)",
            ));
        }
    };
    let json = match args.get("json") {
        None | Some(Value::Null) => None,
        // A string of JSON text is that JSON; a string that only looks like an object or a
        // list is a mistake (often a template breaking the JSON it builds); any other string
        // is sent as a JSON string, as Sekoia.io does.
        Some(Value::String(text)) => match serde_json::from_str(text) {
            Ok(value) => Some(value),
            Err(e) if text.trim_start().starts_with(['{', '[']) => {
                return Err(ActionError::invalid_argument(
                    "json",
                    format!("is a string that is not JSON ({e})"),
                ));
            }
            Err(_) => Some(Value::String(text.clone())),
        },
        Some(value) => Some(value.clone()),
    };
    match (data, json) {
        (Some(_), Some(_)) => Err(ActionError::invalid_argument(
            "json",
            "give `data` or `json`, not both",
        )),
        (Some(text), None) => Ok(Body::Text(text)),
        (None, Some(value)) => Ok(Body::Json(value)),
        (None, None) => Ok(Body::Empty),
    }
}

fn timeout(args: &Value) -> Result<Duration, ActionError> {
    let secs = match args.get("timeout") {
        None | Some(Value::Null) => DEFAULT_TIMEOUT_SECS,
        Some(value) => value.as_f64().ok_or_else(|| {
            ActionError::invalid_argument("timeout", "must be a number of seconds")
        })?,
    };
    if !(secs.is_finite() && secs > 0.0) {
        return Err(ActionError::invalid_argument(
            "timeout",
            "must be a positive number of seconds",
        ));
    }
    Duration::try_from_secs_f64(secs)
        .map_err(|_| ActionError::invalid_argument("timeout", "is too large"))
}

fn retry_on_status(args: &Value) -> Result<Vec<u16>, ActionError> {
    let invalid = || {
        ActionError::invalid_argument(
            "retry_on_status",
            "must be a list of HTTP status codes (100-599)",
        )
    };
    match args.get("retry_on_status") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(codes)) => codes
            .iter()
            .map(|code| {
                code.as_u64()
                    .and_then(|c| u16::try_from(c).ok())
                    .filter(|c| (100..600).contains(c))
                    .ok_or_else(invalid)
            })
            .collect(),
        Some(_) => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn params_may_be_a_python_dict_and_json_any_string() {
        let args = json!({"params": "{\n    'ipAddress': '198.51.100.7',\n    'maxAgeInDays': '90',\n    'verbose': True\n}"});
        assert_eq!(
            params(&args).unwrap(),
            [
                ("ipAddress".to_owned(), "198.51.100.7".to_owned()),
                ("maxAgeInDays".to_owned(), "90".to_owned()),
                ("verbose".to_owned(), "true".to_owned()),
            ]
        );
        let text = json!({"json": "Event with the message [\"x\"] raised the alert R"});
        assert!(
            matches!(body(&text).unwrap(), Body::Json(Value::String(s)) if s.starts_with("Event with"))
        );
        let query = json!({"params": "since=2024-01-01T00:00:00Z&until=now&filter=a%20b"});
        assert_eq!(
            params(&query).unwrap(),
            [
                ("since".to_owned(), "2024-01-01T00:00:00Z".to_owned()),
                ("until".to_owned(), "now".to_owned()),
                ("filter".to_owned(), "a b".to_owned()),
            ]
        );
        assert_eq!(
            params(&json!({"params": "?limit=200"})).unwrap(),
            [("limit".to_owned(), "200".to_owned())]
        );
        assert!(params(&json!({"params": "not a query"})).is_err());
        let object = json!({"json": "{\"a\": 1}"});
        assert!(matches!(body(&object).unwrap(), Body::Json(v) if v == json!({"a": 1})));
    }
}
