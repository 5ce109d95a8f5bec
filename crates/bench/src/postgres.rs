//! The sustained pipeline on PostgreSQL (`--postgres URL`): each run on a schema of its own,
//! made before and dropped after, and the server's URL as it may be shown (never with its
//! password).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use crate::pipeline::{self, Setup, Sustained};
use crate::serve::Store;

/// The prefix of the schemas made here; the rest of the name is this process and the time.
const SCHEMA_PREFIX: &str = "alertsync_bench_";
/// How long connecting to the server, and dropping a schema, may take.
const PATIENCE: Duration = Duration::from_secs(30);

/// The sustained pipeline through `instances` services sharing a fresh schema on `server`.
pub async fn sustained(
    setup: &Setup,
    server: &str,
    alerts: usize,
    instances: usize,
) -> anyhow::Result<Sustained> {
    let schema = Schema::create(server).await?;
    let store = Store::Postgres(schema.url.clone());
    let measured = pipeline::sustained(setup, alerts, &store, instances).await;
    let dropped = schema.remove().await;
    let measured = measured?;
    dropped?;
    Ok(measured)
}

/// `server` without its password (user, hosts, ports and database), for reports and errors.
pub fn shown(server: &str) -> String {
    alertsync_store::postgres::display_url(server)
}

/// A schema of its own on the server, for one run.
struct Schema {
    server: String,
    name: String,
    /// The store URL of the schema (`...options=-csearch_path%3D<name>`).
    url: String,
}

impl Schema {
    async fn create(server: &str) -> anyhow::Result<Schema> {
        let client = connect(server).await?;
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let name = format!("{SCHEMA_PREFIX}{}_{now_ms}", std::process::id());
        client
            .batch_execute(&format!("CREATE SCHEMA \"{name}\""))
            .await
            .with_context(|| format!("cannot create schema {name} on {}", shown(server)))?;
        let separator = if server.contains('?') { '&' } else { '?' };
        Ok(Schema {
            url: format!("{server}{separator}options=-csearch_path%3D{name}"),
            server: server.to_owned(),
            name,
        })
    }

    /// Drops the schema and everything in it (the services using it have stopped).
    async fn remove(self) -> anyhow::Result<()> {
        let client = connect(&self.server).await?;
        let sql = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name);
        tokio::time::timeout(PATIENCE, client.batch_execute(&sql))
            .await
            .with_context(|| format!("dropping schema {} took over {PATIENCE:?}", self.name))?
            .with_context(|| format!("cannot drop schema {}", self.name))
    }
}

async fn connect(server: &str) -> anyhow::Result<tokio_postgres::Client> {
    let mut config: tokio_postgres::Config = server
        .parse()
        .context("--postgres is not a PostgreSQL URL")?;
    config.connect_timeout(PATIENCE);
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .with_context(|| format!("cannot connect to {}", shown(server)))?;
    tokio::spawn(connection);
    Ok(client)
}
