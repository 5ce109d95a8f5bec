//! The instance's session: one connection, outside the pool, that holds the instance's
//! advisory lock (its claims count while it is held: see `live_instances` in the schema)
//! and the leases it took. PostgreSQL releases them all the moment the session ends, so a
//! killed instance's work is handed to the others at once; the server's TCP keepalives,
//! set short here, end the session of an instance that became unreachable within about
//! fifteen seconds.
//!
//! A task owns the connection: it registers the instance, refreshes `instances.seen_at_ms`
//! every [`HEARTBEAT`], takes and releases leases when asked, and when the connection fails
//! it tells every lease holder (their leases are gone) and connects again, taking the
//! instance's lock anew.
//!
//! Written by hand: a lock held by a session, and what its loss means, is this store's own
//! protocol on top of the driver.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio_postgres::{AsyncMessage, Client, NoTls};

use super::Fault;
use crate::fault::now_sql;
use crate::lease::Lease;

/// How often the session proves it is alive (and the instance's `seen_at_ms` moves).
const HEARTBEAT: Duration = Duration::from_secs(2);

/// How long the session waits before connecting again after a failure.
const RECONNECT: Duration = Duration::from_secs(1);

/// The server-side keepalives of the session: a peer silent for `idle` seconds is probed
/// every `interval` seconds, `count` times, before its session ends (5 + 3 × 3 = 14 s).
const KEEPALIVES: &str =
    "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 3; SET tcp_keepalives_count = 3";

/// The `application_name` of sessions, as `pg_stat_activity` shows them.
pub const SESSION_APPLICATION: &str = "alertsync-session";

/// Who this instance is, as the `instances` table shows it.
#[derive(Debug, Clone)]
pub(super) struct Identity {
    pub id: String,
    pub label: String,
    pub host: String,
    pub pid: i64,
    pub started_at_ms: i64,
}

/// Whether the session holds the instance's lock now; `epoch` counts the sessions, so a
/// lease taken in one session knows it is lost once another began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Liveness {
    pub alive: bool,
    pub epoch: u64,
}

/// What the store asks of the session task.
enum Request {
    TryLease {
        name: String,
        reply: oneshot::Sender<Result<bool, Fault>>,
    },
    Release {
        name: String,
    },
}

/// The handle of the session task; the task ends when the handle is dropped.
pub(super) struct Session {
    requests: mpsc::UnboundedSender<Request>,
    liveness: watch::Receiver<Liveness>,
    /// Woken when another instance (or this one) queued runs.
    queue_changed: Arc<Notify>,
}

impl Session {
    /// Connects, takes the instance's lock and registers it, then keeps the session alive
    /// in a task. Fails if the first connection fails.
    pub(super) async fn start(
        config: tokio_postgres::Config,
        identity: Identity,
    ) -> Result<Self, Fault> {
        let queue_changed = Arc::new(Notify::new());
        let (client, lock_key) = connect(&config, &identity, Arc::clone(&queue_changed)).await?;
        let (liveness_tx, liveness) = watch::channel(Liveness {
            alive: true,
            epoch: 1,
        });
        let (requests, queued) = mpsc::unbounded_channel();
        let session = SessionTask {
            config,
            identity,
            queue_changed: Arc::clone(&queue_changed),
        };
        tokio::spawn(session.keep_alive(client, lock_key, queued, liveness_tx));
        Ok(Self {
            requests,
            liveness,
            queue_changed,
        })
    }

    /// Woken when runs were queued, by any instance.
    pub(super) fn queue_changed(&self) -> Arc<Notify> {
        Arc::clone(&self.queue_changed)
    }

    pub(super) fn liveness(&self) -> Liveness {
        *self.liveness.borrow()
    }

    /// Takes the lease `name` unless another instance holds it.
    pub(super) async fn try_lease(&self, name: &str) -> Result<Option<Lease>, Fault> {
        let taken_in = self.liveness();
        if !taken_in.alive {
            return Ok(None);
        }
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::TryLease {
                name: name.to_owned(),
                reply,
            })
            .map_err(|_| Fault::Batch("the instance's session has stopped".to_owned()))?;
        let taken = answer.await.map_err(|_| {
            Fault::Batch("the instance's session stopped before answering".to_owned())
        })??;
        if !taken {
            return Ok(None);
        }
        // A lease must not keep the session alive once the store is dropped: the session
        // then ends, releasing the lease with everything else the instance held.
        let release = self.requests.downgrade();
        let owned = name.to_owned();
        Ok(Some(Lease::new(
            name,
            lost_after(self.liveness.clone(), taken_in.epoch),
            move || {
                if let Some(requests) = release.upgrade() {
                    let _ = requests.send(Request::Release { name: owned });
                }
            },
        )))
    }
}

/// Resolves once the session of `epoch` ended.
async fn lost_after(mut liveness: watch::Receiver<Liveness>, epoch: u64) {
    let _ = liveness
        .wait_for(|now| !now.alive || now.epoch != epoch)
        .await;
}

/// Connects the session, takes a lock key no other instance holds and registers the
/// instance under it. Answers the client and the key.
async fn connect(
    config: &tokio_postgres::Config,
    identity: &Identity,
    queue_changed: Arc<Notify>,
) -> Result<(Client, i32), Fault> {
    let mut config = config.clone();
    config.application_name(SESSION_APPLICATION);
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(relay_notifications(connection, queue_changed));
    client.batch_execute(KEEPALIVES).await?;
    client
        .batch_execute(&format!("LISTEN {QUEUE_CHANNEL}"))
        .await?;
    let lock_key = loop {
        let key = rand_key();
        let taken: bool = client
            .query_one("SELECT pg_try_advisory_lock(1, $1)", &[&key])
            .await?
            .try_get(0)?;
        if taken {
            break key;
        }
    };
    client
        .execute(
            "INSERT INTO instances (id, lock_key, host, pid, label, started_at_ms, seen_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (id) DO UPDATE SET lock_key = excluded.lock_key, \
                 seen_at_ms = excluded.seen_at_ms",
            &[
                &identity.id,
                &lock_key,
                &identity.host,
                &identity.pid,
                &identity.label,
                &identity.started_at_ms,
                &now_sql(),
            ],
        )
        .await?;
    Ok((client, lock_key))
}

/// The channel an instance notifies when it queued runs (`pg_notify`, delivered at its
/// commit), so that the others claim them at once instead of at their next poll.
pub(super) const QUEUE_CHANNEL: &str = "alertsync_queue";

/// Drives the session's connection until it ends, waking `queue_changed` at each
/// notification of [`QUEUE_CHANNEL`].
async fn relay_notifications(
    mut connection: tokio_postgres::Connection<
        tokio_postgres::Socket,
        tokio_postgres::tls::NoTlsStream,
    >,
    queue_changed: Arc<Notify>,
) {
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    while let Some(message) = messages.next().await {
        match message {
            Ok(AsyncMessage::Notification(_)) => queue_changed.notify_one(),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!("store: the instance's session ended: {e}");
                return;
            }
        }
    }
}

/// A positive random lock key.
fn rand_key() -> i32 {
    let bytes = *uuid::Uuid::new_v4().as_bytes();
    (i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) & i32::MAX).max(1)
}

/// What the session task works with.
struct SessionTask {
    config: tokio_postgres::Config,
    identity: Identity,
    queue_changed: Arc<Notify>,
}

impl SessionTask {
    /// The session task: serves requests and heartbeats until the connection fails, then
    /// connects again, until the store is dropped.
    async fn keep_alive(
        self,
        mut client: Client,
        mut lock_key: i32,
        mut queued: mpsc::UnboundedReceiver<Request>,
        liveness: watch::Sender<Liveness>,
    ) {
        loop {
            match serve(&client, &self.identity, &mut queued).await {
                Served::StoreDropped => {
                    let _ = client
                        .execute("SELECT pg_advisory_unlock(1, $1)", &[&lock_key])
                        .await;
                    return;
                }
                Served::Failed(fault) => {
                    tracing::error!(
                        "store: the instance lost its session with PostgreSQL ({}); its claims \
                         and leases are void until it connects again",
                        fault.into_cause()
                    );
                    liveness.send_modify(|now| now.alive = false);
                }
            }
            loop {
                tokio::time::sleep(RECONNECT).await;
                if queued.is_closed() {
                    return;
                }
                answer_while_down(&mut queued);
                match connect(
                    &self.config,
                    &self.identity,
                    Arc::clone(&self.queue_changed),
                )
                .await
                {
                    Ok((reconnected, key)) => {
                        (client, lock_key) = (reconnected, key);
                        liveness.send_modify(|now| {
                            now.alive = true;
                            now.epoch += 1;
                        });
                        tracing::info!("store: the instance's session with PostgreSQL is back");
                        break;
                    }
                    Err(fault) => tracing::warn!(
                        "store: cannot reach PostgreSQL again yet: {}",
                        fault.into_cause()
                    ),
                }
            }
        }
    }
}

/// How [`serve`] ended.
enum Served {
    StoreDropped,
    Failed(Fault),
}

/// Serves lease requests and heartbeats on a live session.
async fn serve(
    client: &Client,
    identity: &Identity,
    queued: &mut mpsc::UnboundedReceiver<Request>,
) -> Served {
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    // The leases this session holds: advisory locks count how often a session took them,
    // so a lease is never taken twice.
    let mut held = HashSet::new();
    loop {
        let outcome = tokio::select! {
            request = queued.recv() => match request {
                None => return Served::StoreDropped,
                Some(request) => handle(client, identity, &mut held, request).await,
            },
            _ = heartbeat.tick() => client
                .execute(
                    "UPDATE instances SET seen_at_ms = $1 WHERE id = $2",
                    &[&now_sql(), &identity.id],
                )
                .await
                .map(drop)
                .map_err(Fault::from),
        };
        if let Err(fault) = outcome {
            return Served::Failed(fault);
        }
    }
}

/// Answers the lease requests queued while the session is down: no lease.
fn answer_while_down(queued: &mut mpsc::UnboundedReceiver<Request>) {
    while let Ok(request) = queued.try_recv() {
        if let Request::TryLease { reply, .. } = request {
            let _ = reply.send(Ok(false));
        }
    }
}

/// The advisory lock of lease `$1` (class 2), unique per database schema.
const LEASE_KEY: &str = "2, hashtext(current_schema() || '/' || $1)";

async fn handle(
    client: &Client,
    identity: &Identity,
    held: &mut HashSet<String>,
    request: Request,
) -> Result<(), Fault> {
    match request {
        Request::TryLease { name, reply } => {
            let taken = if held.contains(&name) {
                Ok(false)
            } else {
                try_lease(client, identity, &name).await
            };
            if let Ok(true) = taken {
                held.insert(name);
            }
            let failed = taken.as_ref().err().map(|f| format!("{f:?}"));
            let _ = reply.send(taken);
            match failed {
                Some(why) => Err(Fault::Batch(why)),
                None => Ok(()),
            }
        }
        Request::Release { name } => {
            if !held.remove(&name) {
                return Ok(());
            }
            client
                .execute(&format!("SELECT pg_advisory_unlock({LEASE_KEY})"), &[&name])
                .await
                .map(drop)
                .map_err(Fault::from)
        }
    }
}

async fn try_lease(client: &Client, identity: &Identity, name: &str) -> Result<bool, Fault> {
    let taken: bool = client
        .query_one(
            &format!("SELECT pg_try_advisory_lock({LEASE_KEY})"),
            &[&name],
        )
        .await?
        .try_get(0)?;
    if taken {
        client
            .execute(
                "INSERT INTO leases (name, holder, acquired_at_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                     acquired_at_ms = excluded.acquired_at_ms",
                &[&name, &identity.id, &now_sql()],
            )
            .await?;
    }
    Ok(taken)
}
