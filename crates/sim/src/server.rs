//! Binding the listeners, serving each simulator on its own port, and the [`Simulator`]
//! handle that drives them.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::faults::Fault;
use crate::ilert::{IlertAlertView, OnCall, OnCallUser};
use crate::ilert_webhooks::{IlertWebhook, WebhookDelivery};
use crate::recorder::{Receiver, RecordedRequest, Timings};
use crate::state::{SimState, lock};
use crate::{
    SimConfig, SimError, SimUrls, control, ilert, ilert_webhooks, intake, mattermost, pagerduty,
    sekoia, sink,
};

/// How long `shutdown` lets servers finish their connections before aborting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The listeners in port order.
const LISTENERS: usize = 7;

/// A handle on the running simulators; clones share them.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Running>,
}

struct Running {
    state: Arc<SimState>,
    stop: watch::Sender<bool>,
    servers: Mutex<Vec<JoinHandle<()>>>,
}

pub(crate) async fn start(config: SimConfig) -> Result<Simulator, SimError> {
    let mut listeners = Vec::with_capacity(LISTENERS);
    for offset in 0..LISTENERS {
        listeners.push(bind(&config, offset).await?);
    }
    let addresses: Vec<SocketAddr> = listeners
        .iter()
        .map(|listener| listener.local_addr())
        .collect::<Result<_, _>>()
        .map_err(|source| SimError::Bind {
            addr: SocketAddr::new(config.host, config.port),
            source,
        })?;
    let (webhooks, outgoing) = tokio::sync::mpsc::unbounded_channel();
    let state = Arc::new(SimState::new(config, urls(&addresses), webhooks));
    let routers: [Router; LISTENERS] = [
        sekoia::router(state.clone()),
        intake::router(state.clone()),
        ilert::router(state.clone()),
        pagerduty::router(state.clone()),
        mattermost::router(state.clone()),
        sink::router(state.clone()),
        control::router(state.clone()),
    ];
    let (stop, _) = watch::channel(false);
    let mut servers: Vec<JoinHandle<()>> = listeners
        .into_iter()
        .zip(routers)
        .map(|(listener, router)| serve(listener, router, stop.subscribe()))
        .collect();
    servers.push(send_webhooks(state.clone(), outgoing, stop.subscribe()));
    Ok(Simulator {
        inner: Arc::new(Running {
            state,
            stop,
            servers: Mutex::new(servers),
        }),
    })
}

async fn bind(config: &SimConfig, offset: usize) -> Result<TcpListener, SimError> {
    let port = if config.port == 0 {
        0
    } else {
        u16::try_from(offset)
            .ok()
            .and_then(|offset| config.port.checked_add(offset))
            .ok_or(SimError::PortRange(config.port))?
    };
    let addr = SocketAddr::new(config.host, port);
    TcpListener::bind(addr)
        .await
        .map_err(|source| SimError::Bind { addr, source })
}

/// The URLs, from the addresses in listener order.
fn urls(addresses: &[SocketAddr]) -> SimUrls {
    let http = |index: usize| format!("http://{}", addresses[index]);
    SimUrls {
        sekoia: http(0),
        live: format!("ws://{}/live/", addresses[0]),
        intake: http(1),
        ilert: format!("{}/api/v1/events/sekoia", http(2)),
        ilert_events: format!("{}/api/events", http(2)),
        pagerduty: format!("{}/v2/enqueue", http(3)),
        mattermost: format!("{}/hooks/sim-hook", http(4)),
        sink: http(5),
        control: http(6),
    }
}

fn serve(listener: TcpListener, router: Router, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let stopped = async move {
            // An error means the handle is gone: keep serving, as dropping does not stop.
            if stop.wait_for(|stopped| *stopped).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        if let Err(error) = axum::serve(listener, router)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::warn!(%error, "simulator listener stopped");
        }
    })
}

/// The sender of the simulated ilert's webhooks, until the simulator stops.
fn send_webhooks(
    state: Arc<SimState>,
    outgoing: tokio::sync::mpsc::UnboundedReceiver<crate::ilert_webhooks::Outgoing>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => {}
            () = ilert_webhooks::send_all(state, outgoing) => {}
        }
    })
}

impl Simulator {
    pub fn urls(&self) -> &SimUrls {
        &self.inner.state.urls
    }

    /// Generates an alert, applies `overrides` over its top-level fields (a `status` name
    /// becomes the status object), stores it and notifies "created".
    pub fn create_alert(&self, overrides: Value) -> Value {
        self.inner.state.create_alert(overrides)
    }

    pub fn create_alerts(&self, n: usize) -> Vec<Value> {
        (0..n).map(|_| self.create_alert(Value::Null)).collect()
    }

    /// Moves an alert (uuid or short id) to a status given by name (case-insensitive),
    /// status uuid or workflow action uuid; notifies "updated" with the new status.
    pub fn set_status(
        &self,
        alert_id: &str,
        status: &str,
        comment: Option<&str>,
    ) -> Result<Value, SimError> {
        self.inner.state.set_status(alert_id, status, comment)
    }

    /// Adds a comment and notifies "alert-comment created"; returns the comment.
    pub fn add_comment(
        &self,
        alert_id: &str,
        content: &str,
        author: Option<&str>,
    ) -> Result<Value, SimError> {
        self.inner.state.add_comment(alert_id, content, author)
    }

    /// `count` more events on an alert (uuid or short id): its `similar` count grows, its
    /// `last_seen_at` is now, and an update is notified with the new count.
    pub fn add_occurrences(&self, alert_id: &str, count: u64) -> Result<Value, SimError> {
        self.inner.state.add_occurrences(alert_id, count)
    }

    /// Appends STIX objects to an intelligence feed (made on first use); answers how many
    /// it holds.
    pub fn add_feed_objects(&self, feed_id: &str, objects: Vec<Value>) -> usize {
        lock(&self.inner.state.resources)
            .feeds
            .add(feed_id, objects)
    }

    /// The alert (uuid or short id) with comments, countermeasures, history and cases.
    pub fn alert(&self, id: &str) -> Option<Value> {
        self.inner.state.alert(id)
    }

    /// The indicators added to an IOC collection (`{format, value, valid_until}`), in order.
    pub fn ioc_collection(&self, id: &str) -> Vec<Value> {
        lock(&self.inner.state.resources).ioc_collection(id)
    }

    /// Every observable uploaded to the threat intelligence platform.
    pub fn observables(&self) -> Vec<Value> {
        lock(&self.inner.state.resources).observables()
    }

    /// A case by uuid or short id.
    pub fn case(&self, id: &str) -> Option<Value> {
        lock(&self.inner.state.resources).case(id)
    }

    pub fn requests(&self, receiver: Receiver) -> Vec<RecordedRequest> {
        self.inner.state.recorder.requests(receiver)
    }

    /// When each live notification went out and when ilert accepted each event, in
    /// microseconds since the Unix epoch (`GET <control>/timings`).
    pub fn timings(&self) -> Timings {
        self.inner.state.timeline.snapshot()
    }

    pub fn ilert_alerts(&self) -> Vec<IlertAlertView> {
        lock(&self.inner.state.ilert).alerts()
    }

    /// On-call accepts an ilert alert (its ilert id, or the newest alert with this alert
    /// key) in ilert, as `user` (default: [`OnCallUser::default`]). A real change — the
    /// alert was open — goes to the registered webhooks; accepting an accepted or resolved
    /// alert changes nothing.
    pub fn ilert_accept(
        &self,
        alert: &str,
        user: Option<OnCallUser>,
    ) -> Result<IlertAlertView, SimError> {
        let user = user.unwrap_or_default();
        self.inner.state.ilert_on_call(alert, OnCall::Accept, &user)
    }

    /// On-call resolves an ilert alert in ilert (see [`Simulator::ilert_accept`]).
    pub fn ilert_resolve(
        &self,
        alert: &str,
        user: Option<OnCallUser>,
    ) -> Result<IlertAlertView, SimError> {
        let user = user.unwrap_or_default();
        self.inner
            .state
            .ilert_on_call(alert, OnCall::Resolve, &user)
    }

    /// Registers a webhook alert action: every real change of an alert of its alert source
    /// is POSTed to its URL, credentials as HTTP Basic. Answers it, password hidden.
    pub fn register_ilert_webhook(&self, webhook: IlertWebhook) -> Result<IlertWebhook, SimError> {
        self.inner.state.webhooks.register(webhook)
    }

    /// The webhook requests the simulated ilert made, in order (passwords hidden).
    pub fn ilert_webhook_deliveries(&self) -> Vec<WebhookDelivery> {
        self.inner.state.webhooks.deliveries()
    }

    pub fn inject_fault(&self, fault: Fault) {
        self.inner.state.faults.inject(fault);
    }

    /// Drops every pending fault: the routes answer normally again (the end of an outage).
    pub fn clear_faults(&self) {
        self.inner.state.faults.clear();
    }

    /// Whether alert answers include `history` when asked (default) or withhold it, as a
    /// Sekoia.io answer without usable history would.
    pub fn serve_alert_history(&self, served: bool) {
        lock(&self.inner.state.alerts).serve_history(served);
    }

    /// Closes every live socket abruptly (no close frame).
    pub fn drop_live_connections(&self) {
        self.inner.state.live.drop_connections();
    }

    /// Live connections that asked for notifications (sent `{"action": "upgrade"}`).
    pub fn live_connection_count(&self) -> usize {
        self.inner.state.live.subscriber_count()
    }

    /// Forgets alerts, cases and the other resources, recorded requests and timings, the
    /// ilert alerts, webhooks and their deliveries, rate-limit windows, search jobs and
    /// pending faults; the generator restarts from the seed.
    pub fn reset(&self) {
        self.inner.state.reset();
    }

    /// Stops every listener and closes live sockets.
    pub async fn shutdown(&self) {
        self.inner.stop.send_replace(true);
        self.inner.state.live.drop_connections();
        let servers = std::mem::take(&mut *lock(&self.inner.servers));
        for mut server in servers {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut server)
                .await
                .is_err()
            {
                server.abort();
            }
        }
    }
}
