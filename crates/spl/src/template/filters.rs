//! The filters Sekoia.io adds to Jinja, and `replace` with Python's `count`.
//!
//! Semantics (documented for playbook authors):
//! * `jsonpath(expr, all=False)`: RFC 9535 JSONPath on the input (a JSON
//!   string is parsed first; a path without the leading `$` gets one);
//!   `all=True` gives the list of all matches, otherwise the first match or none.
//! * `regex_match(pattern, ignore_case=False)`: whether the pattern matches at
//!   the start of the text, like Python's `re.match`.
//! * `timestamp_to_iso8601`: Unix seconds (milliseconds when above 10^11) to
//!   an RFC 3339 UTC string; `iso8601_to_timestamp` the reverse, in seconds.
//! * `time_with_delta`: now plus a number of seconds, as RFC 3339 UTC.
//! * `fromjson`: parses a JSON string; any other input is returned unchanged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use minijinja::value::{Kwargs, Value as TemplateValue, ValueKind};
use minijinja::{Environment, Error, ErrorKind};
use regex::{Regex, RegexBuilder};
use serde_json_path::JsonPath;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use super::Clock;
use super::convert::{MAX_CONVERTED_BYTES, to_json, to_template_value};

/// Above this a Unix timestamp is taken to be in milliseconds.
const MILLISECONDS_THRESHOLD: f64 = 1e11;
/// Compiled patterns kept by `regex_match` before the cache is cleared.
const REGEX_CACHE_CAPACITY: usize = 256;

/// Registers the Sekoia.io filters and `replace` on `env`.
pub(crate) fn register(env: &mut Environment<'static>, clock: Clock) {
    env.add_filter("jsonpath", jsonpath);
    let patterns = PatternCache::default();
    env.add_filter(
        "regex_match",
        move |text: TemplateValue, pattern: &str, ignore_case: Option<bool>, kwargs: Kwargs| {
            let ignore_case = keyword_or_positional(ignore_case, &kwargs, "ignore_case")?;
            patterns.is_match_at_start(&text, pattern, ignore_case)
        },
    );
    env.add_filter("timestamp_to_iso8601", timestamp_to_iso8601);
    env.add_filter("iso8601_to_timestamp", iso8601_to_timestamp);
    env.add_filter("time_with_delta", move |delta: TemplateValue| {
        time_with_delta(&delta, clock())
    });
    env.add_filter("fromjson", fromjson);
    env.add_filter("replace", replace);
    env.add_filter("tojson", tojson);
    env.add_filter("string", string);
}

/// minijinja's `string`, for values within the conversion budget only: it writes lazy
/// values out whole before it counts them.
fn string(state: &minijinja::State<'_, '_>, value: TemplateValue) -> Result<TemplateValue, Error> {
    if value.as_str().is_none() {
        to_json(&value)?;
    }
    minijinja::filters::string(state, &value)
}

/// minijinja's `tojson`, for values within the conversion budget only: it serializes lazy
/// values (a list repeated a hundred million times) without any bound.
fn tojson(
    value: TemplateValue,
    indent: Option<TemplateValue>,
    kwargs: Kwargs,
) -> Result<TemplateValue, Error> {
    to_json(&value)?;
    minijinja::filters::tojson(&value, indent, kwargs)
}

/// An optional argument given either positionally or as a keyword (default false).
fn keyword_or_positional(
    positional: Option<bool>,
    kwargs: &Kwargs,
    name: &str,
) -> Result<bool, Error> {
    let keyword: Option<bool> = kwargs.get(name)?;
    kwargs.assert_all_used()?;
    Ok(positional.or(keyword).unwrap_or(false))
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, message)
}

fn jsonpath(
    input: TemplateValue,
    expression: &str,
    all: Option<bool>,
    kwargs: Kwargs,
) -> Result<TemplateValue, Error> {
    let all = keyword_or_positional(all, &kwargs, "all")?;
    let document = match input.as_str() {
        Some(text) => serde_json::from_str(text).map_err(|err| {
            invalid(format!(
                "jsonpath: the input is a string that is not JSON ({err})"
            ))
        })?,
        None => to_json(&input)?,
    };
    let path = JsonPath::parse(&normalise_jsonpath(expression))
        .map_err(|err| invalid(format!("jsonpath: invalid path `{expression}`: {err}")))?;
    let found = path.query(&document).all();
    Ok(if all {
        TemplateValue::from(found.into_iter().map(to_template_value).collect::<Vec<_>>())
    } else {
        found
            .first()
            .map_or(TemplateValue::from(()), |value| to_template_value(value))
    })
}

/// Accepts paths written without the root: `a.b` → `$.a.b`, `[0]` → `$[0]`.
fn normalise_jsonpath(expression: &str) -> String {
    let trimmed = expression.trim();
    if trimmed.starts_with('$') {
        trimmed.to_owned()
    } else if trimmed.starts_with('[') || trimmed.starts_with('.') {
        format!("${trimmed}")
    } else {
        format!("$.{trimmed}")
    }
}

/// Compiled `regex_match` patterns, shared by all renders.
#[derive(Default)]
struct PatternCache(Arc<Mutex<HashMap<(String, bool), Regex>>>);

impl PatternCache {
    fn is_match_at_start(
        &self,
        text: &TemplateValue,
        pattern: &str,
        ignore_case: bool,
    ) -> Result<bool, Error> {
        if text.is_undefined() || text.is_none() {
            return Ok(false);
        }
        let regex = self.compiled(pattern, ignore_case)?;
        let text = match text.as_str() {
            Some(text) => text.to_owned(),
            None => text.to_string(),
        };
        Ok(regex.is_match(&text))
    }

    fn compiled(&self, pattern: &str, ignore_case: bool) -> Result<Regex, Error> {
        let key = (pattern.to_owned(), ignore_case);
        let mut cache = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(regex) = cache.get(&key) {
            return Ok(regex.clone());
        }
        let regex = RegexBuilder::new(&format!("^(?:{pattern})"))
            .case_insensitive(ignore_case)
            .build()
            .map_err(|err| invalid(format!("regex_match: invalid pattern `{pattern}`: {err}")))?;
        if cache.len() >= REGEX_CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(key, regex.clone());
        Ok(regex)
    }
}

/// A number, or a string holding one.
fn number_from(value: &TemplateValue, filter: &str) -> Result<f64, Error> {
    let parsed = match value.kind() {
        ValueKind::Number => f64::try_from(value.clone()).ok(),
        ValueKind::String => value.as_str().and_then(|text| text.trim().parse().ok()),
        _ => None,
    };
    parsed.ok_or_else(|| invalid(format!("{filter}: expected a number, got `{value}`")))
}

fn format_rfc3339(instant: OffsetDateTime) -> Result<String, Error> {
    instant
        .format(&Rfc3339)
        .map_err(|err| invalid(format!("cannot format {instant} as RFC 3339: {err}")))
}

fn timestamp_to_iso8601(value: TemplateValue) -> Result<String, Error> {
    let mut seconds = number_from(&value, "timestamp_to_iso8601")?;
    if seconds.abs() > MILLISECONDS_THRESHOLD {
        seconds /= 1000.0;
    }
    let nanos = (seconds * 1e9).round() as i128;
    let instant = OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|err| {
        invalid(format!(
            "timestamp_to_iso8601: `{value}` is out of range: {err}"
        ))
    })?;
    format_rfc3339(instant)
}

fn iso8601_to_timestamp(value: &str) -> Result<i64, Error> {
    OffsetDateTime::parse(value.trim(), &Rfc3339)
        .map(OffsetDateTime::unix_timestamp)
        .map_err(|err| {
            invalid(format!(
                "iso8601_to_timestamp: `{value}` is not RFC 3339: {err}"
            ))
        })
}

fn time_with_delta(delta: &TemplateValue, now: OffsetDateTime) -> Result<String, Error> {
    let seconds = number_from(delta, "time_with_delta")?;
    let delta = Duration::checked_seconds_f64(seconds)
        .ok_or_else(|| invalid(format!("time_with_delta: `{seconds}` is out of range")))?;
    let instant = now
        .checked_add(delta)
        .ok_or_else(|| invalid(format!("time_with_delta: now + {seconds}s is out of range")))?;
    format_rfc3339(instant.replace_nanosecond(0).unwrap_or(instant))
}

fn fromjson(value: TemplateValue) -> Result<TemplateValue, Error> {
    match value.as_str() {
        Some(text) => serde_json::from_str(text)
            .map(|parsed| to_template_value(&parsed))
            .map_err(|err| invalid(format!("fromjson: not JSON ({err})"))),
        None => Ok(value),
    }
}

/// `replace(old, new, count=None)`: Python's `str.replace`; like Jinja2, a
/// non-string input is converted to text first (undefined → empty). The result's size is
/// known before it is built, and refused above [`MAX_CONVERTED_BYTES`].
fn replace(
    value: TemplateValue,
    old: &str,
    new: &str,
    count: Option<usize>,
) -> Result<String, Error> {
    let text = match value.as_str() {
        Some(text) => text.to_owned(),
        None if value.is_undefined() => String::new(),
        None => value.to_string(),
    };
    let matches = text.matches(old).count().min(count.unwrap_or(usize::MAX));
    let grown = matches.saturating_mul(new.len().saturating_sub(old.len()));
    if text.len().saturating_add(grown) > MAX_CONVERTED_BYTES {
        return Err(Error::new(
            ErrorKind::OutOfFuel,
            format!("replace: the result would be larger than {MAX_CONVERTED_BYTES} bytes"),
        ));
    }
    Ok(match count {
        Some(count) => text.replacen(old, new, count),
        None => text.replace(old, new),
    })
}
