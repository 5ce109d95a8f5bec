//! What the test suites of every alertsync crate share (a dev-dependency only).
//!
//! Tests that need something outside the workspace — the playbook corpus beside the
//! checkout, Chromium, `systemd-analyze`, PostgreSQL — skip loudly when it is missing, unless
//! their `ALERTSYNC_REQUIRE_*` variable is `1`, which makes the absence a failure (CI sets
//! them all). [`available_or_skip`] is that rule, in one place.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Answers `present`. When it is false: fails the test if `variable` is `1`, else prints a
/// banner saying the test is skipped and what it needs (`need`: what is missing and how to
/// get it).
pub fn available_or_skip(present: bool, variable: &str, need: &str) -> bool {
    if present {
        return true;
    }
    assert!(
        std::env::var(variable).as_deref() != Ok("1"),
        "{need}; {variable}=1 makes it mandatory"
    );
    let banner = "!".repeat(78);
    eprintln!(
        "\n{banner}\nSKIPPED: {need}, or set {variable}=1 to make this a failure\n{banner}\n"
    );
    false
}

/// The corpus of published playbooks beside the checkout (`../shared/corpus/spl`), or
/// `None` when it is not there (see [`available_or_skip`], `ALERTSYNC_REQUIRE_CORPUS`).
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/spl");
    let need = format!("the playbook corpus folder {} is missing", dir.display());
    available_or_skip(dir.is_dir(), "ALERTSYNC_REQUIRE_CORPUS", &need).then_some(dir)
}

/// The PostgreSQL server tests use: `ALERTSYNC_TEST_POSTGRES_URL`, by default the local
/// server's `test` database.
pub fn postgres_server_url() -> String {
    std::env::var("ALERTSYNC_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// The prefix of the schemas tests make; a schema's name says when it was made.
const SCHEMA_PREFIX: &str = "alertsync_test_";

/// How old a test's schema is when the next test removes it (a test that failed or was
/// killed does not remove its own).
const SCHEMA_LIFETIME: Duration = Duration::from_secs(3600);

/// A schema of its own in the test PostgreSQL database, for one test: its stores do not
/// meet any other test's. Removed when dropped (or, after a crash, by a later test).
pub struct PostgresSchema {
    /// The store URL of the schema (`...?options=-csearch_path%3D<name>`).
    pub url: String,
    name: String,
}

/// A new schema on the test server, or `None` when the server cannot be reached (see
/// [`available_or_skip`], `ALERTSYNC_REQUIRE_POSTGRES`).
pub async fn postgres_schema() -> Option<PostgresSchema> {
    let server = postgres_server_url();
    let made = make_schema(&server).await;
    let need = match &made {
        Ok(_) => String::new(),
        Err(e) => format!("PostgreSQL at {server} cannot be reached ({e})"),
    };
    available_or_skip(made.is_ok(), "ALERTSYNC_REQUIRE_POSTGRES", &need)
        .then(|| made.ok())
        .flatten()
        .map(|name| PostgresSchema {
            url: format!("{server}?options=-csearch_path%3D{name}"),
            name,
        })
}

async fn connect(server: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config: tokio_postgres::Config = server.parse()?;
    config.connect_timeout(Duration::from_secs(3));
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// Makes a schema named after now, and removes the tests' schemas older than
/// [`SCHEMA_LIFETIME`].
async fn make_schema(server: &str) -> Result<String, tokio_postgres::Error> {
    let client = connect(server).await?;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let stale: Vec<String> = client
        .query(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)",
            &[&SCHEMA_PREFIX],
        )
        .await?
        .iter()
        .map(|row| row.get::<_, String>(0))
        .filter(|name| {
            let made_ms = name[SCHEMA_PREFIX.len()..]
                .split('_')
                .next()
                .and_then(|ms| ms.parse::<u128>().ok());
            made_ms.is_some_and(|ms| ms + SCHEMA_LIFETIME.as_millis() < now_ms)
        })
        .collect();
    for name in stale {
        let _ = client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
            .await;
    }
    let name = format!("{SCHEMA_PREFIX}{now_ms}_{}", uuid::Uuid::new_v4().simple());
    client
        .batch_execute(&format!("CREATE SCHEMA \"{name}\""))
        .await?;
    Ok(name)
}

impl Drop for PostgresSchema {
    /// Removes the schema, on a thread of its own that nobody waits for: the test's runtime
    /// may still hold connections to the schema, and must not be blocked while the removal
    /// waits for them.
    fn drop(&mut self) {
        let (server, name) = (postgres_server_url(), self.name.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    if let Ok(client) = connect(&server).await {
                        let sql = format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE");
                        let _ = client.batch_execute(&sql).await;
                    }
                });
            }
        });
    }
}
