//! The list/search parameters of `GET /v1/sic/alerts` and how an alert matches them.

use serde_json::Value;

use super::StoredAlert;
use crate::SimError;
use crate::clock;

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;

/// Which optional arrays a rendered alert carries.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Inclusions {
    pub(crate) stix: bool,
    pub(crate) comments: bool,
    pub(crate) countermeasures: bool,
    pub(crate) history: bool,
    pub(crate) cases: bool,
}

impl Inclusions {
    /// Reads the `stix`, `comments`, `countermeasures`, `history` and `cases` flags.
    /// Without a flag, the arrays are included and the STIX bundle is not.
    pub(crate) fn from_params(params: &[(String, String)]) -> Result<Self, SimError> {
        let flag = |name: &str, default: bool| -> Result<bool, SimError> {
            match params.iter().rev().find(|(key, _)| key == name) {
                None => Ok(default),
                Some((_, value)) => match value.as_str() {
                    "true" | "True" => Ok(true),
                    "false" | "False" => Ok(false),
                    _ => Err(SimError::invalid(name, "expected true or false")),
                },
            }
        };
        Ok(Self {
            stix: flag("stix", false)?,
            comments: flag("comments", true)?,
            countermeasures: flag("countermeasures", true)?,
            history: flag("history", true)?,
            cases: flag("cases", true)?,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SortKey {
    CreatedAt,
    UpdatedAt,
}

/// A parsed list request.
#[derive(Debug)]
pub(crate) struct AlertQuery {
    pub(crate) limit: usize,
    pub(crate) offset: usize,
    pub(crate) sort: SortKey,
    pub(crate) descending: bool,
    matches: Vec<(String, Vec<String>)>,
    nomatches: Vec<(String, Vec<String>)>,
    created: Option<(i128, i128)>,
    updated: Option<(i128, i128)>,
    urgency: Option<(f64, f64)>,
    pub(crate) inclusions: Inclusions,
}

impl AlertQuery {
    pub(crate) fn from_params(params: &[(String, String)]) -> Result<Self, SimError> {
        let mut query = Self {
            limit: DEFAULT_LIMIT,
            offset: 0,
            sort: SortKey::CreatedAt,
            descending: true,
            matches: Vec::new(),
            nomatches: Vec::new(),
            created: None,
            updated: None,
            urgency: None,
            inclusions: Inclusions::from_params(params)?,
        };
        for (key, value) in params {
            query.apply(key, value)?;
        }
        Ok(query)
    }

    fn apply(&mut self, key: &str, value: &str) -> Result<(), SimError> {
        match key {
            "limit" => self.limit = parse_count(key, value)?.clamp(1, MAX_LIMIT),
            "offset" => self.offset = parse_count(key, value)?,
            "sort" => {
                self.sort = match value {
                    "created_at" => SortKey::CreatedAt,
                    "updated_at" => SortKey::UpdatedAt,
                    _ => return Err(SimError::invalid(key, "expected created_at or updated_at")),
                }
            }
            "direction" => {
                self.descending = match value.to_ascii_lowercase().as_str() {
                    "asc" => false,
                    "desc" => true,
                    _ => return Err(SimError::invalid(key, "expected asc or desc")),
                }
            }
            "date[created_at]" => self.created = Some(parse_date_range(key, value)?),
            "date[updated_at]" => self.updated = Some(parse_date_range(key, value)?),
            "range[urgency]" => self.urgency = Some(parse_number_range(key, value)?),
            _ => {
                if let Some(field) = bracketed(key, "match") {
                    self.matches.push((field.to_owned(), split_list(value)));
                } else if let Some(field) = bracketed(key, "nomatch") {
                    self.nomatches.push((field.to_owned(), split_list(value)));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn accepts(&self, alert: &StoredAlert) -> bool {
        let in_range = |range: Option<(i128, i128)>, at: i128| {
            range.is_none_or(|(start, end)| start <= at && at <= end)
        };
        let urgency = alert.doc["urgency"]["current_value"]
            .as_f64()
            .unwrap_or(0.0);
        self.matches
            .iter()
            .all(|(field, wanted)| field_matches(&alert.doc, field, wanted))
            && !self
                .nomatches
                .iter()
                .any(|(field, unwanted)| field_matches(&alert.doc, field, unwanted))
            && in_range(self.created, alert.created_nanos)
            && in_range(self.updated, alert.updated_nanos)
            && self
                .urgency
                .is_none_or(|(low, high)| low <= urgency && urgency <= high)
    }
}

fn bracketed<'a>(key: &'a str, prefix: &str) -> Option<&'a str> {
    key.strip_prefix(prefix)?
        .strip_prefix('[')?
        .strip_suffix(']')
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_count(key: &str, value: &str) -> Result<usize, SimError> {
    value
        .trim()
        .parse()
        .map_err(|_| SimError::invalid(key, "expected a non-negative integer"))
}

fn parse_date_range(key: &str, value: &str) -> Result<(i128, i128), SimError> {
    let (start, end) = value.split_once(',').unwrap_or((value, "now"));
    let bound = |text: &str| {
        clock::parse_bound(text).ok_or_else(|| {
            SimError::invalid(key, format!("{text:?} is not an ISO 8601 date or now"))
        })
    };
    Ok((bound(start)?, bound(end)?))
}

fn parse_number_range(key: &str, value: &str) -> Result<(f64, f64), SimError> {
    let (low, high) = value
        .split_once(',')
        .ok_or_else(|| SimError::invalid(key, "expected lo,hi"))?;
    let number = |text: &str| {
        text.trim()
            .parse::<f64>()
            .map_err(|_| SimError::invalid(key, format!("{text:?} is not a number")))
    };
    Ok((number(low)?, number(high)?))
}

/// Where a `match[...]` field lives in the alert document.
fn field_pointer(field: &str) -> String {
    match field {
        "status_name" => "/status/name".to_owned(),
        "status_uuid" => "/status/uuid".to_owned(),
        "rule_name" => "/rule/name".to_owned(),
        "rule_uuid" => "/rule/uuid".to_owned(),
        "entity_uuid" => "/entity/uuid".to_owned(),
        "entity_name" => "/entity/name".to_owned(),
        "urgency_display" => "/urgency/display".to_owned(),
        "alert_type_category" => "/alert_type/category".to_owned(),
        "alert_type_value" => "/alert_type/value".to_owned(),
        other => format!("/{}", other.replace('.', "/")),
    }
}

fn field_matches(doc: &Value, field: &str, candidates: &[String]) -> bool {
    let text = match doc.pointer(&field_pointer(field)) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) | None => return false,
        Some(other) => other.to_string(),
    };
    candidates
        .iter()
        .any(|candidate| candidate.eq_ignore_ascii_case(&text))
}
