//! The PostgreSQL backend's own tests: what several instances sharing one database
//! guarantee one another, brought about through the database itself. Claims are never
//! handed out twice and keep each alert's order across instances, and a dropped instance's
//! claims are void at once (`claims`); an instance whose session the server ended settles
//! nothing another instance took over, takes no work until it is back, then recovers by
//! itself (`fencing`); a lease is held by one instance at a time and ends with its holder
//! (`leases`); the schema is migrated once by instances starting together, and refused
//! when newer, without the password in the message (`migrations`).
//!
//! Each test has a schema of its own ([`alertsync_testing::postgres_schema`]) and opens
//! its instances there with [`open_instance`]; [`raw`] is a plain connection beside them.

mod claims;
mod fencing;
mod leases;
mod migrations;

use std::future::Future;
use std::time::Duration;

use alertsync_store::{PostgresOptions, PostgresStore, RunId, Store};
use alertsync_testing::PostgresSchema;

/// How often [`eventually`] looks again.
const POLL: Duration = Duration::from_millis(50);

/// Opens a new instance of the store in `schema`, as another process would.
pub async fn open_instance(schema: &PostgresSchema) -> PostgresStore {
    PostgresStore::open(&schema.url, PostgresOptions::default())
        .await
        .expect("open a PostgreSQL instance")
}

/// A plain connection to `schema`, beside the store's instances.
pub async fn raw(schema: &PostgresSchema) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&schema.url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test schema");
    tokio::spawn(connection);
    client
}

/// Ends the session of `instance` from the server's side (as an administrator or a
/// failover would), and waits until it is gone: its lock and leases are free then.
pub async fn end_session(schema: &PostgresSchema, instance: &PostgresStore) {
    let ended: Vec<bool> = raw(schema)
        .await
        .query(
            "SELECT pg_terminate_backend(l.pid, 5000) FROM pg_locks l \
             JOIN instances i ON l.locktype = 'advisory' AND l.classid = 1 \
                 AND l.objsubid = 2 AND l.objid = i.lock_key::oid \
             WHERE i.id = $1",
            &[&instance.instance()],
        )
        .await
        .expect("terminate the instance's session")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        ended,
        [true],
        "the session of {} ended",
        instance.instance()
    );
}

/// Queues one run of playbook `pb-1` for each of `alerts`, through `instance`.
pub async fn enqueue_alerts(instance: &PostgresStore, alerts: &[&str]) {
    for alert in alerts {
        instance
            .enqueue(crate::event(Some(alert), &format!("{alert}/1"), &["pb-1"]))
            .await
            .expect("enqueue");
    }
}

/// The runs `instance` claims now, each with the interruptions it counts.
pub async fn claim_counting_interruptions(instance: &PostgresStore) -> Vec<(RunId, u32)> {
    instance
        .claim_runs(10)
        .await
        .expect("claim runs")
        .iter()
        .map(|claimed| (claimed.run.id, claimed.run.interruptions))
        .collect()
}

/// Asks `probe` until it answers something, and returns that; fails the test if it has
/// not within `within` (`what` says what was waited for).
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {within:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}
