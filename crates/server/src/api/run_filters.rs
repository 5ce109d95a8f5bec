//! The filters of a run listing, shared by `GET /api/v1/runs` and the console's runs page
//! (its form, its links and its event stream): the query parameters, the one parser that
//! turns them into the store's query, and the query string that gives them back for links.
//!
//! Empty parameters mean "any" (a form sends its empty fields). Times are milliseconds
//! since the Unix epoch, or a date-time: RFC 3339 (`2025-03-01T09:30:00Z`,
//! `…+01:00`), or in UTC `2025-03-01T09:30[:00]` or `2025-03-01` (a space may stand for
//! the `T`, and ` UTC` may follow, as the console writes times). A time given to the
//! minute (or the day) covers all of it: `until=…T09:30` includes 09:30:59.

use alertsync_engine::RunStatus;
use alertsync_integrations::args::is_alert_id;
use alertsync_store::{MAX_PAGE_SIZE, RunCountFilter, RunId, RunQuery};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiResult};

/// The page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// The longest text searched for.
const MAX_TEXT_CHARS: usize = 200;

/// The filters of a run listing.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunFilters {
    /// Playbook id.
    pub playbook: Option<String>,
    /// `queued`, `running`, `waiting`, `succeeded`, `failed`, `cancelled` or `dead`.
    pub status: Option<String>,
    /// The alert: its UUID, or its short id (`ALWk3vQn2bxP`).
    pub alert: Option<String>,
    /// Runs queued at or after this time: ms since the epoch, an RFC 3339 date-time, or
    /// `YYYY-MM-DD[ HH:MM[:SS]]` in UTC (`T` or a space between date and time).
    pub since: Option<String>,
    /// Runs queued at or before this time (same forms; a time to the minute or a date
    /// covers the whole minute or day).
    pub until: Option<String>,
    /// Text the run's error, alert title or short id, or one of its node runs (arguments,
    /// results, logs, errors, requests sent and answers) contains; ASCII letters in any
    /// case; at most 200 characters.
    pub q: Option<String>,
    /// Runs older than this run id (the previous page's `next_before`).
    pub before: Option<i64>,
    /// Page size, 1 to 1000 (default 50).
    pub limit: Option<u32>,
}

/// Which end of a time range a time is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    /// The first millisecond of what the time names.
    Start,
    /// The last millisecond of what the time names (its minute, its day).
    End,
}

/// The alert a filter names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AlertRef {
    Uuid(String),
    ShortId(String),
}

impl RunFilters {
    /// The store's query for these filters, or what is wrong with them.
    pub fn query(&self) -> ApiResult<RunQuery> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE_SIZE);
        if limit == 0 || limit > MAX_PAGE_SIZE {
            return Err(ApiError::bad_request(format!(
                "`limit` must be between 1 and {MAX_PAGE_SIZE}"
            )));
        }
        let before = match self.before {
            Some(before) if before <= 0 => {
                return Err(ApiError::bad_request("`before` must be a run id"));
            }
            before => before.map(RunId),
        };
        let since_ms = field(&self.since)
            .map(|t| parse_time(t, Bound::Start, "since"))
            .transpose()?;
        let until_ms = field(&self.until)
            .map(|t| parse_time(t, Bound::End, "until"))
            .transpose()?;
        if let (Some(since), Some(until)) = (since_ms, until_ms)
            && since > until
        {
            return Err(ApiError::bad_request("`since` is after `until`"));
        }
        let text = field(&self.q).map(str::to_owned);
        if text
            .as_ref()
            .is_some_and(|t| t.chars().count() > MAX_TEXT_CHARS)
        {
            return Err(ApiError::bad_request(format!(
                "`q` is longer than {MAX_TEXT_CHARS} characters"
            )));
        }
        let counted = self.count_filter()?;
        Ok(RunQuery {
            playbook_id: counted.playbook_id,
            status: field(&self.status)
                .map(|s| s.parse::<RunStatus>().map_err(ApiError::bad_request))
                .transpose()?,
            alert_uuid: counted.alert_uuid,
            alert_short_id: counted.alert_short_id,
            since_ms,
            until_ms,
            text,
            inbox_id: None,
            before,
            limit,
        })
    }

    /// The counts by status these filters' playbook and alert select.
    pub fn count_filter(&self) -> ApiResult<RunCountFilter> {
        let alert = field(&self.alert).map(alert_ref).transpose()?;
        let (alert_uuid, alert_short_id) = match alert {
            Some(AlertRef::Uuid(uuid)) => (Some(uuid), None),
            Some(AlertRef::ShortId(short_id)) => (None, Some(short_id)),
            None => (None, None),
        };
        Ok(RunCountFilter {
            playbook_id: field(&self.playbook).map(str::to_owned),
            alert_uuid,
            alert_short_id,
        })
    }

    /// The filters that are set, as a query string for links (`playbook=…&q=…`), without
    /// the page (`before`, `limit`) and without `status` when `with_status` is false.
    pub fn query_string(&self, with_status: bool) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        let status = if with_status { &self.status } else { &None };
        for (name, value) in [
            ("playbook", &self.playbook),
            ("status", status),
            ("alert", &self.alert),
            ("since", &self.since),
            ("until", &self.until),
            ("q", &self.q),
        ] {
            if let Some(value) = field(value) {
                query.append_pair(name, value);
            }
        }
        query.finish()
    }
}

/// A parameter's value, `None` when absent or blank.
pub fn field(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// An alert UUID (written as Sekoia.io writes them, lower case) or short id.
fn alert_ref(text: &str) -> ApiResult<AlertRef> {
    if let Ok(uuid) = uuid::Uuid::parse_str(text) {
        return Ok(AlertRef::Uuid(uuid.hyphenated().to_string()));
    }
    if is_alert_id(text) {
        return Ok(AlertRef::ShortId(text.to_owned()));
    }
    Err(ApiError::bad_request(format!(
        "`alert` must be an alert UUID or short id (`AL…`), not `{}`",
        text.chars().take(64).collect::<String>()
    )))
}

/// A time parameter, in ms since the epoch (see the module documentation).
fn parse_time(text: &str, bound: Bound, name: &str) -> ApiResult<u64> {
    let wrong = || {
        ApiError::bad_request(format!(
            "`{name}` must be ms since the epoch or a date-time such as 2025-03-01T09:30:00Z \
             or 2025-03-01T09:30 (UTC), not `{}`",
            text.chars().take(64).collect::<String>()
        ))
    };
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map_err(|_| wrong());
    }
    let text = text
        .strip_suffix(" UTC")
        .unwrap_or(text)
        .trim()
        .replacen(' ', "T", 1);
    let (start, span) = if let Ok(at) = DateTime::parse_from_rfc3339(&text) {
        (at.to_utc(), TimeDelta::milliseconds(1))
    } else if let Ok(at) = NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S%.f") {
        (at.and_utc(), TimeDelta::seconds(1))
    } else if let Ok(at) = NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M") {
        (at.and_utc(), TimeDelta::minutes(1))
    } else if let Ok(day) = NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
        (
            day.and_time(chrono::NaiveTime::MIN).and_utc(),
            TimeDelta::days(1),
        )
    } else {
        return Err(wrong());
    };
    let at = match bound {
        Bound::Start => start,
        Bound::End => start + span - TimeDelta::milliseconds(1),
    };
    u64::try_from(at.timestamp_millis()).map_err(|_| wrong())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(pairs: &[(&str, &str)]) -> RunFilters {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        from_query(&query)
    }

    /// The filters as the routes read them from a query string.
    fn from_query(query: &str) -> RunFilters {
        let uri: axum::http::Uri = format!("/runs?{query}").parse().expect("a URI");
        axum::extract::Query::<RunFilters>::try_from_uri(&uri)
            .expect("filters")
            .0
    }

    const T: u64 = 1_740_821_400_000; // 2025-03-01T09:30:00Z

    #[test]
    fn times_are_ms_or_date_times_covering_what_they_name() {
        let cases = [
            ("1740821400000", Bound::Start, T),
            ("2025-03-01T09:30:00Z", Bound::End, T),
            ("2025-03-01T10:30:00+01:00", Bound::Start, T),
            ("2025-03-01T09:30", Bound::Start, T),
            ("2025-03-01 09:30", Bound::End, T + 59_999),
            ("2025-03-01 09:30:00 UTC", Bound::Start, T),
            ("2025-03-01T09:30:00", Bound::End, T + 999),
            ("2025-03-01", Bound::Start, T - 34_200_000),
            ("2025-03-01", Bound::End, T - 34_200_000 + 86_399_999),
        ];
        for (text, bound, expected) in cases {
            assert_eq!(
                parse_time(text, bound, "since").ok(),
                Some(expected),
                "{text}"
            );
        }
        for wrong in ["yesterday", "2025-13-01", "-5", "1e9"] {
            let err = parse_time(wrong, Bound::Start, "since").unwrap_err();
            assert!(
                format!("{:?}", err.body.detail).contains("`since`"),
                "{wrong}"
            );
        }
    }

    #[test]
    fn an_alert_is_a_uuid_or_a_short_id() {
        let by_uuid = filters(&[("alert", " 0F0B5C3E-8D2F-4B7A-9A52-3C1F4E5D6A7B ")]);
        let query = by_uuid.query().expect("a uuid");
        assert_eq!(
            query.alert_uuid.as_deref(),
            Some("0f0b5c3e-8d2f-4b7a-9a52-3c1f4e5d6a7b")
        );
        assert_eq!(query.alert_short_id, None);
        let by_short_id = filters(&[("alert", "ALWk3vQn2bxP")])
            .query()
            .expect("a short id");
        assert_eq!(
            (
                by_short_id.alert_uuid,
                by_short_id.alert_short_id.as_deref()
            ),
            (None, Some("ALWk3vQn2bxP"))
        );
        assert!(filters(&[("alert", "../me")]).query().is_err());
    }

    #[test]
    fn empty_fields_mean_any_and_links_keep_what_is_set() {
        let form = filters(&[
            ("playbook", "pb 1"),
            ("status", ""),
            ("alert", "ALx1"),
            ("since", "2025-03-01T09:30"),
            ("until", " "),
            ("q", "disk & \"full\""),
        ]);
        let query = form.query().expect("valid");
        assert_eq!(query.status, None);
        assert_eq!(query.until_ms, None);
        assert_eq!(query.since_ms, Some(T));
        assert_eq!(query.text.as_deref(), Some("disk & \"full\""));
        assert_eq!(query.limit, DEFAULT_PAGE_SIZE);
        let link = form.query_string(true);
        assert_eq!(
            link,
            "playbook=pb+1&alert=ALx1&since=2025-03-01T09%3A30&q=disk+%26+%22full%22"
        );
        assert_eq!(from_query(&link).query_string(true), link);
    }

    #[test]
    fn wrong_filters_are_refused_with_what_is_wrong() {
        for (pairs, needle) in [
            (vec![("status", "exploded")], "unknown run status"),
            (
                vec![("since", "2025-03-02"), ("until", "2025-03-01")],
                "after",
            ),
            (vec![("limit", "0")], "limit"),
            (vec![("before", "-3")], "before"),
        ] {
            let err = filters(&pairs).query().unwrap_err();
            assert!(
                format!("{:?}", err.body.detail).contains(needle),
                "{pairs:?}: {:?}",
                err.body.detail
            );
        }
        let long = "x".repeat(201);
        assert!(filters(&[("q", &long)]).query().is_err());
    }
}
