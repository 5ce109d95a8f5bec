//! Leases across instances: one holder at a time; free again once its holder drops the
//! lease, or drops its store (while still holding the `Lease`); lost, and free for the
//! others, once the server ended the holder's session.

use std::time::Duration;

use alertsync_store::{Lease, PostgresStore, Store};

use super::{end_session, eventually, open_instance};

const LIVE: &str = "live/acct";

/// How long a lease released by its holder may take to be free for the others (the
/// release is asynchronous: `Drop` cannot wait).
const RELEASED_WITHIN: Duration = Duration::from_secs(2);

/// `instance`'s try at `name`.
async fn try_lease(instance: &PostgresStore, name: &str) -> Option<Lease> {
    instance.try_lease(name).await.expect("try a lease")
}

/// Waits until `instance` takes the lease `name`.
async fn take_once_free(instance: &PostgresStore, name: &str) -> Lease {
    eventually(
        &format!("the lease {name} is free"),
        RELEASED_WITHIN,
        || try_lease(instance, name),
    )
    .await
}

/// Fails the test unless `lease` is lost within `within`.
async fn assert_lost(lease: &mut Lease, within: Duration) {
    tokio::time::timeout(within, lease.lost())
        .await
        .unwrap_or_else(|_| panic!("the lease {} is not lost", lease.name()));
}

#[tokio::test]
async fn a_lease_has_one_holder_until_it_drops_it() {
    let Some(schema) = alertsync_testing::postgres_schema().await else {
        return;
    };
    let (a, b) = (open_instance(&schema).await, open_instance(&schema).await);
    let mut held = try_lease(&a, LIVE).await.expect("a takes the free lease");
    assert!(
        try_lease(&b, LIVE).await.is_none(),
        "b waits while a holds it"
    );
    assert!(
        try_lease(&a, LIVE).await.is_none(),
        "a does not take it twice"
    );
    let still_held = tokio::time::timeout(Duration::from_millis(300), held.lost()).await;
    assert!(still_held.is_err(), "a held lease is not lost");

    drop(held);
    let taken = take_once_free(&b, LIVE).await;
    assert_eq!(taken.name(), LIVE);
    assert!(
        try_lease(&a, LIVE).await.is_none(),
        "a waits while b holds it"
    );
}

#[tokio::test]
async fn a_dropped_instance_releases_its_leases_at_once() {
    let Some(schema) = alertsync_testing::postgres_schema().await else {
        return;
    };
    let (a, b) = (open_instance(&schema).await, open_instance(&schema).await);
    let mut held = try_lease(&a, LIVE).await.expect("a takes the free lease");
    drop(a);
    // The holder keeps its `Lease`: the store's end must free it all the same.
    take_once_free(&b, LIVE).await;
    assert_lost(&mut held, RELEASED_WITHIN).await;
}

#[tokio::test]
async fn a_lease_is_lost_when_the_server_ends_its_session() {
    let Some(schema) = alertsync_testing::postgres_schema().await else {
        return;
    };
    let (a, b) = (open_instance(&schema).await, open_instance(&schema).await);
    let mut held = try_lease(&a, LIVE).await.expect("a takes the free lease");
    end_session(&schema, &a).await;
    let taken = try_lease(&b, LIVE).await;
    assert!(taken.is_some(), "the lease went with a's session");
    assert_lost(&mut held, Duration::from_secs(10)).await;
}
