//! ilert's webhook alert action, simulated: URLs registered for an alert source (an
//! integration key) get a POST of ilert's default webhook body for every real change of one
//! of its alerts — opened, accepted, resolved; an event that changes nothing sends nothing —
//! with the URL's credentials (`http://user:password@host/path`) sent as HTTP Basic, one
//! request at a time in the order of the changes. Each attempt is kept as a
//! [`WebhookDelivery`].

use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::SimError;
use crate::ilert::{AlertState, IlertAlert};
use crate::state::{SimState, lock};

/// How long one webhook request may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A webhook alert action of an alert source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IlertWebhook {
    /// `http(s)://user:password@host/path`: the credentials go as HTTP Basic.
    pub url: String,
    /// The integration key of the alert source; default: the first one the simulator knows.
    #[serde(default)]
    pub alert_source: Option<String>,
    /// The event types it is called for (`alert-created`, `alert-accepted`,
    /// `alert-resolved`); empty: all of them.
    #[serde(default)]
    pub events: Vec<String>,
}

/// One webhook request the simulated ilert made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    /// The URL, its password hidden.
    pub url: String,
    pub event_type: String,
    /// ilert's id of the alert that changed.
    pub alert_id: String,
    pub body: Value,
    /// The answer's status; `None` when no answer came.
    pub status: Option<u16>,
    /// Why no answer came.
    pub error: Option<String>,
}

/// A webhook to send.
pub(crate) struct Outgoing {
    url: String,
    event_type: &'static str,
    alert_id: String,
    body: Value,
}

/// The registered webhooks, what they were sent, and the queue to the sender.
pub(crate) struct IlertWebhooks {
    /// The integration keys the simulated ilert knows: the alert sources.
    alert_sources: Vec<String>,
    registered: Mutex<Vec<IlertWebhook>>,
    deliveries: Mutex<Vec<WebhookDelivery>>,
    queue: UnboundedSender<Outgoing>,
}

impl IlertWebhooks {
    pub(crate) fn new(alert_sources: Vec<String>, queue: UnboundedSender<Outgoing>) -> Self {
        Self {
            alert_sources,
            registered: Mutex::default(),
            deliveries: Mutex::default(),
            queue,
        }
    }

    /// Registers a webhook for its alert source; answers it with the password hidden.
    pub(crate) fn register(&self, mut webhook: IlertWebhook) -> Result<IlertWebhook, SimError> {
        let url = Url::parse(webhook.url.trim())
            .map_err(|error| SimError::invalid("url", error.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(SimError::invalid(
                "url",
                "expected an http(s) URL with a host",
            ));
        }
        let source =
            match webhook.alert_source.take() {
                Some(key) if self.alert_sources.contains(&key) => key,
                Some(_) => {
                    return Err(SimError::invalid(
                        "alert_source",
                        "no alert source with this integration key",
                    ));
                }
                None => self.alert_sources.first().cloned().ok_or_else(|| {
                    SimError::invalid("alert_source", "ilert has no alert source")
                })?,
            };
        let known = [
            AlertState::Open,
            AlertState::Acknowledged,
            AlertState::Resolved,
        ]
        .map(AlertState::event_type);
        if let Some(unknown) = webhook.events.iter().find(|e| !known.contains(&e.as_str())) {
            return Err(SimError::invalid(
                "events",
                format!(
                    "unknown event type {unknown:?}; expected {}",
                    known.join(", ")
                ),
            ));
        }
        webhook.alert_source = Some(source);
        lock(&self.registered).push(webhook.clone());
        Ok(IlertWebhook {
            url: hide_password(&webhook.url),
            ..webhook
        })
    }

    /// The registered webhooks, passwords hidden.
    pub(crate) fn registered(&self) -> Vec<IlertWebhook> {
        lock(&self.registered)
            .iter()
            .map(|webhook| IlertWebhook {
                url: hide_password(&webhook.url),
                ..webhook.clone()
            })
            .collect()
    }

    pub(crate) fn deliveries(&self) -> Vec<WebhookDelivery> {
        lock(&self.deliveries).clone()
    }

    /// Forgets the registrations and the deliveries.
    pub(crate) fn clear(&self) {
        lock(&self.registered).clear();
        lock(&self.deliveries).clear();
    }

    /// Queues the webhooks of a change of `alert` (now in its new state). Call it while the
    /// alert list is locked, so that changes are queued in the order they happened.
    pub(crate) fn changed(&self, alert: &IlertAlert) {
        let event_type = alert.state.event_type();
        let body = self.default_body(alert, event_type);
        for webhook in lock(&self.registered).iter() {
            let wanted =
                webhook.events.is_empty() || webhook.events.iter().any(|e| e == event_type);
            if wanted && webhook.alert_source.as_deref() == Some(alert.integration_key.as_str()) {
                // The sender lives as long as the simulator: a send fails only after it stopped.
                let _ = self.queue.send(Outgoing {
                    url: webhook.url.clone(),
                    event_type,
                    alert_id: alert.id.to_string(),
                    body: body.clone(),
                });
            }
        }
    }

    /// ilert's default webhook body.
    fn default_body(&self, alert: &IlertAlert, event_type: &str) -> Value {
        let source_id = self
            .alert_sources
            .iter()
            .position(|key| *key == alert.integration_key)
            .map_or(0, |index| index + 1);
        json!({
            "id": alert.id.to_string(),
            "status": alert.state.ilert_name(),
            "summary": alert.summary,
            "details": alert.details,
            "reportTime": alert.report_time,
            "eventType": event_type,
            "priority": "HIGH",
            "alertKey": alert.alert_key,
            "alertSource": {"id": source_id, "name": "Sekoia.io"},
            "assignedTo": alert.assigned_to,
        })
    }

    fn delivered(&self, delivery: WebhookDelivery) {
        lock(&self.deliveries).push(delivery);
    }
}

/// Sends the queued webhooks one after another, for as long as the simulator runs.
pub(crate) async fn send_all(sim: Arc<SimState>, mut queue: UnboundedReceiver<Outgoing>) {
    let client = match client() {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "the simulated ilert cannot send webhooks");
            return;
        }
    };
    while let Some(outgoing) = queue.recv().await {
        let delivery = send(&client, outgoing).await;
        sim.webhooks.delivered(delivery);
    }
}

fn client() -> Result<reqwest::Client, reqwest::Error> {
    static PROVIDER: Once = Once::new();
    PROVIDER.call_once(|| {
        // Another part of the process may have installed one already: either is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder().timeout(TIMEOUT).build()
}

/// One POST; reqwest sends the URL's credentials as HTTP Basic, as ilert does.
async fn send(client: &reqwest::Client, outgoing: Outgoing) -> WebhookDelivery {
    let answer = client.post(&outgoing.url).json(&outgoing.body).send().await;
    let (status, error) = match answer {
        Ok(response) => (Some(response.status().as_u16()), None),
        Err(error) => (None, Some(error.without_url().to_string())),
    };
    WebhookDelivery {
        url: hide_password(&outgoing.url),
        event_type: outgoing.event_type.to_owned(),
        alert_id: outgoing.alert_id,
        body: outgoing.body,
        status,
        error,
    }
}

/// `url` with its password, if any, replaced by `***`.
fn hide_password(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Setting a password fails only for URLs that cannot have one, which this has.
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}
