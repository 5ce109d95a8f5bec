//! The schema of a database shared by instances: migrated exactly once when several start
//! together on an empty one; refused when a newer alertsync migrated it, with a message
//! that names the database but not its password.

use alertsync_store::{PostgresOptions, PostgresStore, Store, StoreError, StoreResult};
use alertsync_testing::PostgresSchema;

use super::raw;
use crate::event;

const PASSWORD: &str = "s3cret";

/// The versions recorded in `schema_version`, oldest first.
async fn versions(schema: &PostgresSchema) -> Vec<i64> {
    raw(schema)
        .await
        .query("SELECT version FROM schema_version ORDER BY version", &[])
        .await
        .expect("read schema_version")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// `url` with the password `password` (the test server trusts its clients and ignores it).
fn with_password(url: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (user_info, host) = rest.split_once('@').expect("a URL naming its user");
    let user = user_info.split(':').next().unwrap_or(user_info);
    format!("{scheme}://{user}:{password}@{host}")
}

async fn open(url: &str) -> StoreResult<PostgresStore> {
    PostgresStore::open(url, PostgresOptions::default()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_migrate_once() {
    let Some(schema) = alertsync_testing::postgres_schema().await else {
        return;
    };
    let opened = tokio::join!(open(&schema.url), open(&schema.url), open(&schema.url));
    let instances = [opened.0, opened.1, opened.2].map(|store| store.expect("open"));
    assert_eq!(
        versions(&schema).await,
        (1..=PostgresStore::schema_version()).collect::<Vec<_>>()
    );
    instances[0]
        .enqueue(event(Some("A"), "A/1", &["pb-1"]))
        .await
        .expect("enqueue");
    for store in &instances {
        assert_eq!(store.inbox_counts().await.unwrap().open, 1, "one schema");
    }
}

#[tokio::test]
async fn a_newer_schema_is_refused_without_the_password_in_the_message() {
    let Some(schema) = alertsync_testing::postgres_schema().await else {
        return;
    };
    drop(open(&schema.url).await.expect("open"));
    let newer = PostgresStore::schema_version() + 1;
    raw(&schema)
        .await
        .execute(
            "INSERT INTO schema_version (version, applied_at_ms) VALUES ($1, 0)",
            &[&newer],
        )
        .await
        .expect("record a newer version");

    let refused = open(&with_password(&schema.url, PASSWORD))
        .await
        .expect_err("a newer schema is refused");
    let StoreError::DatabaseTooNew {
        target,
        found,
        supported,
    } = &refused
    else {
        panic!("expected DatabaseTooNew, got {refused}");
    };
    assert_eq!(
        (*found, *supported),
        (newer, PostgresStore::schema_version())
    );
    assert!(target.starts_with("postgres://"), "{target}");
    for text in [refused.to_string(), format!("{refused:?}")] {
        assert!(!text.contains(PASSWORD), "{text}");
        assert!(text.contains(target.as_str()), "{text}");
    }
    let mut expected: Vec<i64> = (1..=PostgresStore::schema_version()).collect();
    expected.push(newer);
    assert_eq!(versions(&schema).await, expected, "nothing migrated");
}
