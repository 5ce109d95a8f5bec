//! Get the current time and Wait.

use std::time::Duration;

use alertsync_engine::{Action, ActionContext, ActionError, ActionManifest, ActionOutput};
use async_trait::async_trait;
use serde_json::{Value, json};

/// The longest wait (Sekoia.io caps it the same way: 59 minutes).
const MAX_WAIT: Duration = Duration::from_secs(3540);

/// The current time in a time zone, as an epoch and as ISO 8601 local time.
pub struct GetCurrentTime {
    manifest: ActionManifest,
}

impl GetCurrentTime {
    pub fn new() -> Self {
        Self {
            manifest: ActionManifest {
                uuid: "ed382185-77bc-5092-8b54-7ffa94a0587e",
                name: "Get the current time",
                slug: "get_current_time",
                command: "GetCurrentTimeAction",
                description: "The current time in a named time zone or at a UTC offset",
                arguments: json!({
                    "type": "object",
                    "properties": {
                        "selectedNamedTimezone": {"type": "string", "default": "Europe/Paris", "description": "An IANA time zone (e.g. Europe/Paris)"},
                        "selectedTimezone": {"type": "string", "default": "UTC 0", "description": "A UTC offset, `UTC -12` to `UTC +12`"}
                    }
                }),
                secrets: Vec::new(),
                results: json!({"type": "object", "properties": {"epoch": {"type": "integer"}, "iso8601": {"type": "string"}}}),
                outputs: Vec::new(),
            },
        }
    }
}

impl Default for GetCurrentTime {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Action for GetCurrentTime {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, _cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let text = |name: &str| {
            args.get(name)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let local = match (text("selectedNamedTimezone"), text("selectedTimezone")) {
            (Some(zone), _) => jiff::Timestamp::now()
                .in_tz(zone)
                .map_err(|e| {
                    ActionError::invalid_argument(
                        "selectedNamedTimezone",
                        format!("`{zone}` is not a known time zone ({e})"),
                    )
                })?
                .datetime(),
            (None, Some(offset)) => {
                let hours = utc_offset_hours(offset).ok_or_else(|| {
                    ActionError::invalid_argument(
                        "selectedTimezone",
                        "must be `UTC -12` to `UTC +12`",
                    )
                })?;
                let offset = jiff::tz::Offset::from_hours(hours).map_err(|e| {
                    ActionError::invalid_argument("selectedTimezone", e.to_string())
                })?;
                offset.to_datetime(jiff::Timestamp::now())
            }
            (None, None) => {
                return Err(ActionError::invalid_argument(
                    "selectedNamedTimezone",
                    "give a time zone (selectedNamedTimezone or selectedTimezone)",
                ));
            }
        };
        // As Sekoia.io's action: the local wall-clock time, read as if it were UTC.
        let epoch = local
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map(|zoned| zoned.timestamp().as_second())
            .map_err(|e| ActionError::permanent(e.to_string()))?;
        Ok(ActionOutput::new(
            json!({"epoch": epoch, "iso8601": local.to_string()}),
        ))
    }
}

/// The hours of `UTC +2`, `UTC -11`, `UTC 0`.
fn utc_offset_hours(text: &str) -> Option<i8> {
    let hours: i8 = text
        .strip_prefix("UTC")?
        .trim()
        .replace(' ', "")
        .parse()
        .ok()?;
    (-12..=12).contains(&hours).then_some(hours)
}

/// Waits a number of seconds (at most 59 minutes).
pub struct Wait {
    manifest: ActionManifest,
}

impl Wait {
    pub fn new() -> Self {
        Self {
            manifest: ActionManifest {
                uuid: "41cd724b-bfcc-4fb7-bee7-ef5d02176e4c",
                name: "Wait",
                slug: "wait",
                command: "utils_wait",
                description: "Wait a number of seconds (at most 3540)",
                arguments: json!({
                    "type": "object",
                    "properties": {"duration": {"type": "integer", "description": "Seconds to wait"}},
                    "required": ["duration"]
                }),
                secrets: Vec::new(),
                results: json!({"type": "object", "properties": {}}),
                outputs: Vec::new(),
            },
        }
    }
}

impl Default for Wait {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Action for Wait {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let seconds = args
            .get("duration")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            .max(0);
        let wait = Duration::from_secs(seconds.unsigned_abs()).min(MAX_WAIT);
        cx.log.info(format!("waiting {} s", wait.as_secs()));
        tokio::time::sleep(wait).await;
        Ok(ActionOutput::new(json!({})))
    }
}

#[cfg(test)]
mod tests {
    use super::utc_offset_hours;

    #[test]
    fn offsets_read_as_sekoia_writes_them() {
        assert_eq!(utc_offset_hours("UTC +2"), Some(2));
        assert_eq!(utc_offset_hours("UTC -11"), Some(-11));
        assert_eq!(utc_offset_hours("UTC 0"), Some(0));
        assert_eq!(utc_offset_hours("UTC +13"), None);
        assert_eq!(utc_offset_hours("GMT"), None);
    }
}
