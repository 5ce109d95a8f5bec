//! Wall-clock readings and the timestamp formats Sekoia.io mixes: Unix seconds and
//! ISO 8601 with `Z` and microseconds.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// Nanoseconds since the Unix epoch.
pub(crate) fn now_nanos() -> i128 {
    OffsetDateTime::now_utc().unix_timestamp_nanos()
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_millis() -> u64 {
    u64::try_from(now_nanos() / 1_000_000).unwrap_or(0)
}

/// Whole Unix seconds of a nanosecond timestamp.
pub(crate) fn seconds(nanos: i128) -> i64 {
    i64::try_from(nanos.div_euclid(NANOS_PER_SECOND)).unwrap_or(0)
}

/// `2019-09-06T07:32:00.758600Z`.
pub(crate) fn iso_micros(nanos: i128) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(UtcOffset::UTC)
        .format(format)
        .unwrap_or_default()
}

/// Parses a date bound of a list filter: ISO 8601 (RFC 3339), Unix seconds, or `now`.
pub(crate) fn parse_bound(text: &str) -> Option<i128> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("now") {
        return Some(now_nanos());
    }
    if let Ok(seconds) = text.parse::<i64>() {
        return Some(i128::from(seconds) * NANOS_PER_SECOND);
    }
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp_nanos)
}
