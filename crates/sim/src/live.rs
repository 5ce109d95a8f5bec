//! Sekoia.io live notifications: a WebSocket at `/live/`, authenticated by the
//! `access_token_cookie` cookie, that pushes version-2 notifications to every connection
//! that asked for them with `{"action": "upgrade"}`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use crate::alerts::Notification;
use crate::clock;
use crate::gateway::error_response;
use crate::recorder::Receiver;
use crate::state::{SimState, lock};

const AUTH_COOKIE: &str = "access_token_cookie";

/// The connections subscribed to notifications, and the switch that drops them all.
pub(crate) struct LiveHub {
    subscribers: Mutex<HashMap<u64, mpsc::UnboundedSender<Utf8Bytes>>>,
    next_id: AtomicU64,
    drop_all: watch::Sender<u64>,
}

impl Default for LiveHub {
    fn default() -> Self {
        Self {
            subscribers: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            drop_all: watch::Sender::new(0),
        }
    }
}

impl LiveHub {
    /// Sends the notification to every subscribed connection; whether there was one.
    pub(crate) fn publish(&self, notification: &Notification, community_uuid: &str) -> bool {
        let mut subscribers = lock(&self.subscribers);
        if subscribers.is_empty() {
            return false;
        }
        let frame = Utf8Bytes::from(envelope(notification, community_uuid).to_string());
        subscribers.retain(|_, connection| connection.send(frame.clone()).is_ok());
        true
    }

    /// Connections that sent `{"action": "upgrade"}` and are still open.
    pub(crate) fn subscriber_count(&self) -> usize {
        lock(&self.subscribers).len()
    }

    /// Closes every socket without a close frame.
    pub(crate) fn drop_connections(&self) -> usize {
        let dropped = {
            let mut subscribers = lock(&self.subscribers);
            let count = subscribers.len();
            subscribers.clear();
            count
        };
        self.drop_all.send_modify(|generation| *generation += 1);
        dropped
    }

    fn subscribe(&self) -> (u64, mpsc::UnboundedReceiver<Utf8Bytes>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = mpsc::unbounded_channel();
        lock(&self.subscribers).insert(id, sender);
        (id, receiver)
    }

    fn unsubscribe(&self, id: u64) {
        lock(&self.subscribers).remove(&id);
    }
}

fn envelope(notification: &Notification, community_uuid: &str) -> Value {
    json!({
        "metadata": {
            "version": 2,
            "uuid": uuid::Uuid::new_v4().to_string(),
            "created_at": clock::iso_micros(clock::now_nanos()),
            "community_uuid": community_uuid,
        },
        "type": notification.kind,
        "action": notification.action,
        "attributes": notification.attributes,
    })
}

pub(crate) fn router(sim: Arc<SimState>) -> Router {
    Router::new()
        .route("/live/", get(open_socket))
        .route("/live", get(open_socket))
        .with_state(sim)
}

async fn open_socket(
    State(sim): State<Arc<SimState>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if cookie(&headers, AUTH_COOKIE) != Some(sim.config.api_key.as_str()) {
        return error_response(
            Receiver::Sekoia,
            StatusCode::UNAUTHORIZED,
            "missing or invalid access_token_cookie",
        );
    }
    match upgrade {
        Ok(upgrade) => upgrade.on_upgrade(move |socket| serve_connection(socket, sim)),
        Err(rejection) => rejection.into_response(),
    }
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Acknowledges authentication, waits for the upgrade request, then forwards notifications
/// until the peer leaves or the hub drops every connection.
async fn serve_connection(socket: WebSocket, sim: Arc<SimState>) {
    let mut drop_signal = sim.live.drop_all.subscribe();
    let (mut outgoing, mut incoming) = socket.split();
    let acknowledgement = Utf8Bytes::from_static(r#"{"authenticated": true}"#);
    if outgoing.send(Message::Text(acknowledgement)).await.is_err() {
        return;
    }
    let mut subscription: Option<(u64, mpsc::UnboundedReceiver<Utf8Bytes>)> = None;
    loop {
        tokio::select! {
            biased;
            _ = drop_signal.changed() => break,
            frame = next_notification(&mut subscription) => match frame {
                Some(frame) => {
                    if outgoing.send(Message::Text(frame)).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            message = incoming.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    if subscription.is_none() && is_upgrade_request(&text) {
                        subscription = Some(sim.live.subscribe());
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    if let Some((id, _)) = subscription {
        sim.live.unsubscribe(id);
    }
}

/// The next frame for a subscribed connection; never resolves before the upgrade.
async fn next_notification(
    subscription: &mut Option<(u64, mpsc::UnboundedReceiver<Utf8Bytes>)>,
) -> Option<Utf8Bytes> {
    match subscription {
        Some((_, frames)) => frames.recv().await,
        None => std::future::pending().await,
    }
}

fn is_upgrade_request(text: &str) -> bool {
    serde_json::from_str::<Value>(text).is_ok_and(|request| request["action"] == "upgrade")
}
