//! What the modules that forward a Sekoia.io alert share: their action manifest (the alert,
//! and the Sekoia.io key and URL to read it with), their account configuration (an
//! integration key and URL), the alert's status as forwarded to on-call tools, and the link
//! to it in the Sekoia.io app.

use alertsync_engine::{ActionContext, ActionError, ActionManifest};
use serde_json::{Value, json};

/// An action that reads a Sekoia.io alert and forwards it: what differs between them.
pub struct Forwarder {
    pub uuid: &'static str,
    pub name: &'static str,
    pub slug: &'static str,
    pub command: &'static str,
    pub description: &'static str,
    /// What the action's results are.
    pub results: &'static str,
}

impl Forwarder {
    /// The manifest: arguments `alert_uuid`, `api_key` (secret) and `base_url`, all
    /// required, and `extra` optional properties of the action's own.
    pub fn manifest(&self, extra: Value) -> ActionManifest {
        let mut properties = json!({
            "alert_uuid": {"type": "string", "description": "The Unique identifier of the alert"},
            "api_key": {"type": "string", "description": "The Sekoia.io API-Key to read the alert content."},
            "base_url": {"type": "string", "description": "Base URL of Sekoia.io api (e.g. https://api.sekoia.io/)."}
        });
        if let (Some(all), Value::Object(own)) = (properties.as_object_mut(), extra) {
            all.extend(own);
        }
        ActionManifest {
            uuid: self.uuid,
            name: self.name,
            slug: self.slug,
            command: self.command,
            description: self.description,
            arguments: json!({
                "type": "object",
                "properties": properties,
                "required": ["alert_uuid", "api_key", "base_url"]
            }),
            secrets: vec!["api_key"],
            results: json!({"type": "object", "description": self.results}),
            outputs: Vec::new(),
        }
    }
}

/// The integration key and URL of the account of a module that posts to an on-call tool
/// (`tool` names it in errors): the key must not be blank, the URL (default `default_url`)
/// must be an absolute http(s) URL. Answers the key, the URL as configured (trimmed) and
/// the URL parsed.
pub fn integration_account(
    cx: &ActionContext,
    module: &str,
    tool: &str,
    default_url: &str,
) -> Result<(String, String, url::Url), ActionError> {
    let account = cx.require_account(module)?;
    let key = account.str("integration_key").unwrap_or_default().trim();
    if key.is_empty() {
        return Err(ActionError::permanent(format!(
            "{tool} account `{}`: integration_key is blank",
            account.name
        )));
    }
    let url = account.str("integration_url").unwrap_or(default_url).trim();
    let parsed = crate::args::parse_http_url(url).map_err(|why| {
        ActionError::permanent(format!(
            "{tool} account `{}`: integration_url {why}",
            account.name
        ))
    })?;
    Ok((key.to_owned(), url.to_owned(), parsed))
}

/// The account configuration of a module that posts to an on-call tool: its integration
/// key (`key`: what it is) and the URL it posts to (`url`: what it is, default `default_url`).
pub fn integration_configuration(key: &str, url: &str, default_url: &str) -> Value {
    json!({
        "type": "object",
        "properties": {
            "integration_key": {"type": "string", "description": key},
            "integration_url": {"type": "string", "format": "uri", "default": default_url,
                                 "description": url}
        },
        "required": ["integration_key"]
    })
}

/// The status name sent with a forwarded alert (ilert's Sekoia.io alert source reads it):
/// the status name lower-cased; `closed` and `rejected` become `closed`; no name is `open`.
pub fn forwarded_status(alert: &Value) -> String {
    let name = match alert.get("status") {
        Some(Value::String(s)) => Some(s.as_str()),
        Some(status) => status.get("name").and_then(Value::as_str),
        None => None,
    };
    match name.map(|n| n.trim().to_lowercase()) {
        None => "open".to_owned(),
        Some(n) if n.is_empty() => "open".to_owned(),
        Some(n) if n == "rejected" => "closed".to_owned(),
        Some(n) => n,
    }
}

/// What a forwarded status means for an on-call tool's alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnCallAction {
    /// Create the alert, or append to the open one.
    Trigger,
    Acknowledge,
    Resolve,
}

impl OnCallAction {
    pub fn for_status(forwarded_status: &str) -> Self {
        match forwarded_status {
            "closed" | "resolved" => Self::Resolve,
            "acknowledged" => Self::Acknowledge,
            _ => Self::Trigger,
        }
    }
}

/// The alert's page in the Sekoia.io app, by its short id (else its uuid): see
/// [`alert_page`].
pub fn alert_link(base_url: &str, app_url: Option<&str>, alert: &Value) -> String {
    let id = alert
        .get("short_id")
        .or_else(|| alert.get("uuid"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    alert_page(base_url, app_url, id)
}

/// The page of the alert `id` (short id or uuid) in the Sekoia.io app:
/// `<app>/operations/alerts/<id>`, the app being `app_url` when given, else the API base
/// URL with `api.` made `app.` and a trailing `/api` dropped (`https://api.sekoia.io` →
/// `https://app.sekoia.io`, `https://app.usa1.sekoia.io/api` → `https://app.usa1.sekoia.io`).
pub fn alert_page(base_url: &str, app_url: Option<&str>, id: &str) -> String {
    let app = app_url
        .map(str::to_owned)
        .unwrap_or_else(|| app_url_from_base(base_url));
    format!(
        "{}/operations/alerts/{}",
        app.trim_end_matches('/'),
        crate::sekoia::client::path_segment(id)
    )
}

/// The name Sekoia.io gives an urgency (0 to 100).
pub fn urgency_label(urgency: i64) -> &'static str {
    match urgency {
        ..20 => "Low",
        20..40 => "Moderate",
        40..60 => "High",
        60..80 => "Major",
        _ => "Urgent",
    }
}

fn app_url_from_base(base_url: &str) -> String {
    let base = base_url.trim().trim_end_matches('/');
    let base = base.strip_suffix("/api").unwrap_or(base);
    match url::Url::parse(base) {
        Ok(mut url) => {
            if let Some(host) = url
                .host_str()
                .and_then(|h| h.strip_prefix("api."))
                .map(|h| format!("app.{h}"))
            {
                let _ = url.set_host(Some(&host));
            }
            url.as_str().trim_end_matches('/').to_owned()
        }
        Err(_) => base.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses_map_as_the_public_module_does() {
        let cases = [
            (json!({"status": {"name": "Acknowledged"}}), "acknowledged"),
            (json!({"status": {"name": "Closed"}}), "closed"),
            (json!({"status": {"name": "Rejected"}}), "closed"),
            (json!({"status": {"name": "Resolved"}}), "resolved"),
            (json!({"status": {"name": "Pending"}}), "pending"),
            (json!({"status": {"name": "Ongoing"}}), "ongoing"),
            (json!({"status": "ACKNOWLEDGED"}), "acknowledged"),
            (json!({"status": {"uuid": "x"}}), "open"),
            (json!({}), "open"),
        ];
        for (alert, expected) in cases {
            assert_eq!(forwarded_status(&alert), expected, "{alert}");
        }
    }

    #[test]
    fn links_point_at_the_app() {
        let alert = json!({"short_id": "ALx1"});
        assert_eq!(
            alert_link("https://api.sekoia.io/", None, &alert),
            "https://app.sekoia.io/operations/alerts/ALx1"
        );
        assert_eq!(
            alert_link("https://app.usa1.sekoia.io/api", None, &alert),
            "https://app.usa1.sekoia.io/operations/alerts/ALx1"
        );
        assert_eq!(
            alert_link("x", Some("https://mine/"), &alert),
            "https://mine/operations/alerts/ALx1"
        );
        assert_eq!(
            alert_page(
                "https://api.sekoia.io",
                None,
                "0f0b5c3e-8d2f-4b7a-9a52-3c1f4e5d6a7b"
            ),
            "https://app.sekoia.io/operations/alerts/0f0b5c3e-8d2f-4b7a-9a52-3c1f4e5d6a7b"
        );
        assert_eq!(
            alert_page("https://api.sekoia.io", None, "../me?x"),
            "https://app.sekoia.io/operations/alerts/..%2Fme%3Fx",
            "an id stays one path segment"
        );
    }

    #[test]
    fn urgencies_are_named_as_sekoia_names_them() {
        let names: Vec<&str> = [0, 19, 20, 45, 60, 79, 80, 100]
            .into_iter()
            .map(urgency_label)
            .collect();
        assert_eq!(
            names,
            [
                "Low", "Low", "Moderate", "High", "Major", "Major", "Urgent", "Urgent"
            ]
        );
    }
}
