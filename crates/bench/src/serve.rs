//! `alertsync serve` as it is deployed: its own process with a configuration file, a
//! durable store (a SQLite file in a temporary directory, or a PostgreSQL database) and the
//! shipped forward-alerts-to-ilert playbook (or several copies of it), pointed at the
//! simulator; and several of them on one PostgreSQL database, as a cluster.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStderr, Command};
use tokio::sync::oneshot;

use crate::procs::{self, ProcSample};
use crate::sim::{API_KEY, ILERT_KEY, SimProcess};

/// How long the service may take to say it is serving.
const STARTUP: Duration = Duration::from_secs(60);
/// The line the service prints once it listens.
const SERVING: &str = "alertsync is serving on http://";
/// How much of the service's stderr is kept for error messages.
const LOG_KEEP: usize = 64 * 1024;

/// The store of the service, in its temporary directory.
const STORE_FILE: &str = "data/alertsync.db";

/// Where the service keeps its store.
#[derive(Clone, Debug)]
pub enum Store {
    /// A SQLite file in the service's temporary directory.
    File,
    /// A PostgreSQL database, by URL (files made for runs stay in the temporary directory).
    Postgres(String),
}

impl Store {
    /// The lines of the `[store]` section.
    fn config(&self) -> String {
        let path = format!("path = \"{STORE_FILE}\"\n");
        match self {
            Store::File => path,
            Store::Postgres(url) => format!("{path}url = {}\n", Value::String(url.clone())),
        }
    }
}

/// What starting one instance of the service needs.
pub struct Launch<'a> {
    pub alertsync: &'a Path,
    pub sim: &'a SimProcess,
    pub playbook: &'a Path,
    /// Copies of the playbook enabled.
    pub playbooks: usize,
    pub store: &'a Store,
}

/// One or more `alertsync serve` on one store. On a PostgreSQL database they share the run
/// queue, one of them holds the live connection (the others stand by) and all of them
/// deliver to ilert. Killed when dropped.
pub struct Cluster {
    instances: Vec<ServeProcess>,
}

impl Cluster {
    /// Starts `count` instances one after the other (the first makes the store's tables),
    /// then waits until one of them listens to the simulator's live notifications.
    pub async fn start(launch: &Launch<'_>, count: usize) -> anyhow::Result<Cluster> {
        anyhow::ensure!(count > 0, "a cluster needs an instance");
        let mut instances = Vec::with_capacity(count);
        for _ in 0..count {
            instances.push(ServeProcess::start(launch).await?);
        }
        let cluster = Cluster { instances };
        launch
            .sim
            .wait_for_live_subscriber(STARTUP)
            .await
            .with_context(|| cluster.log_text())?;
        Ok(cluster)
    }

    /// The process id of the first instance.
    pub fn first_pid(&self) -> Option<u32> {
        self.instances.first().map(ServeProcess::pid)
    }

    /// CPU time summed over the instances; resident memory of the largest.
    pub fn sample(&self) -> anyhow::Result<ProcSample> {
        let mut total = ProcSample::default();
        for instance in &self.instances {
            let one = instance.sample()?;
            total.cpu_seconds += one.cpu_seconds;
            total.rss_kb = total.rss_kb.max(one.rss_kb);
            total.peak_rss_kb = total.peak_rss_kb.max(one.peak_rss_kb);
        }
        Ok(total)
    }

    /// What the instances said, each headed by its number when there are several.
    pub fn log_text(&self) -> String {
        if let [single] = self.instances.as_slice() {
            return single.log_text();
        }
        let logs = self.instances.iter().enumerate();
        logs.map(|(index, instance)| {
            format!("--- instance {}:\n{}", index + 1, instance.log_text())
        })
        .collect()
    }

    /// Stops every instance; the sizes of their store files summed (none on PostgreSQL).
    pub async fn stop(self) -> anyhow::Result<u64> {
        let mut bytes = 0;
        for instance in self.instances {
            bytes += instance.stop().await?;
        }
        Ok(bytes)
    }
}

/// A running `alertsync serve`; killed when dropped.
pub struct ServeProcess {
    child: Child,
    pid: u32,
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl ServeProcess {
    /// Starts the service and waits until it listens for requests (not until it listens
    /// to the live notifications: on a shared database it may stand by).
    async fn start(launch: &Launch<'_>) -> anyhow::Result<ServeProcess> {
        let dir = tempfile::tempdir()?;
        let config = write_config(dir.path(), launch)?;
        let mut child = Command::new(launch.alertsync)
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .args(["--listen", "127.0.0.1:0"])
            .current_dir(dir.path())
            .env_remove("ALERTSYNC_CONFIG")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {} serve", launch.alertsync.display()))?;
        let pid = child.id().context("the service ended at once")?;
        let stderr = child.stderr.take().context("the service's stderr")?;
        let log = Arc::new(Mutex::new(String::new()));
        let (ready, serving) = oneshot::channel();
        tokio::spawn(keep_log(stderr, Arc::clone(&log), ready));
        let service = ServeProcess {
            child,
            pid,
            log,
            _dir: dir,
        };
        match tokio::time::timeout(STARTUP, serving).await {
            Ok(Ok(())) => {}
            _ => bail!("alertsync serve did not start:\n{}", service.log_text()),
        }
        Ok(service)
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn sample(&self) -> anyhow::Result<ProcSample> {
        procs::sample(self.pid)
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// SIGTERM, then waits for the exit; returns the store file's size then (its write-ahead
    /// log folded in at the clean exit).
    #[allow(unsafe_code)] // kill(2) has no safe wrapper in the standard library
    pub async fn stop(mut self) -> anyhow::Result<u64> {
        let pid = libc::pid_t::try_from(self.pid)?;
        // SAFETY: sending a signal to our own child has no memory effects.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => self.child.start_kill()?,
        }
        let store = self._dir.path().join(STORE_FILE);
        Ok(std::fs::metadata(store).map_or(0, |m| m.len()))
    }
}

/// `alertsync.toml` in `dir`: both accounts on the simulator, the playbooks, the store
/// (its files in `dir/data`), no ilert quota in the way (the simulator has none either).
fn write_config(dir: &Path, launch: &Launch<'_>) -> anyhow::Result<PathBuf> {
    let text = std::fs::read_to_string(launch.playbook)
        .with_context(|| format!("cannot read {}", launch.playbook.display()))?;
    let mut entries = String::new();
    for index in 0..launch.playbooks {
        let file = dir.join(format!("playbook-{index}.json"));
        std::fs::write(&file, playbook_copy(&text, index)?)?;
        let path = Value::String(file.to_string_lossy().into_owned());
        entries.push_str(&format!("[[playbook]]\nfile = {path}\n\n"));
    }
    let config = format!(
        r#"[[account]]
name = "sekoia"
module = "sekoia.io"
base_url = "{sekoia}"
api_key = "{API_KEY}"

[[account]]
name = "ilert"
module = "ilert"
integration_url = "{ilert}"
integration_key = "{ILERT_KEY}"

{entries}
[store]
{store}
[delivery]
ilert_rate_per_minute = 4000000000
"#,
        sekoia = launch.sim.urls.sekoia,
        ilert = launch.sim.urls.ilert,
        store = launch.store.config(),
    );
    let path = dir.join("alertsync.toml");
    std::fs::write(&path, config)?;
    Ok(path)
}

/// The playbook with a uuid and name of its own for copy `index` (the first is unchanged).
fn playbook_copy(text: &str, index: usize) -> anyhow::Result<String> {
    let mut playbook: Value = serde_json::from_str(text).context("the playbook is not JSON")?;
    if index > 0 {
        let uuid = playbook["uuid"]
            .as_str()
            .context("the playbook has no uuid")?;
        let suffix = format!("{index:04}");
        let kept = uuid.len().saturating_sub(suffix.len());
        playbook["uuid"] = Value::String(format!("{}{suffix}", &uuid[..kept]));
        let name = playbook["name"].as_str().unwrap_or("playbook");
        playbook["name"] = Value::String(format!("{name} #{index}"));
    }
    Ok(serde_json::to_string_pretty(&playbook)?)
}

async fn keep_log(stderr: ChildStderr, log: Arc<Mutex<String>>, ready: oneshot::Sender<()>) {
    let mut ready = Some(ready);
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.contains(SERVING)
            && let Some(ready) = ready.take()
        {
            let _ = ready.send(());
        }
        let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
        log.push_str(&line);
        log.push('\n');
        if log.len() > LOG_KEEP {
            let cut = (log.len() - LOG_KEEP / 2..log.len())
                .find(|i| log.is_char_boundary(*i))
                .unwrap_or(0);
            log.drain(..cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_get_their_own_uuid_and_name() {
        let text = r#"{"name": "P", "uuid": "096acba7-ca84-4bc7-8fcb-8b44f5464b89", "nodes": {}}"#;
        let first: Value = serde_json::from_str(&playbook_copy(text, 0).unwrap()).unwrap();
        let third: Value = serde_json::from_str(&playbook_copy(text, 3).unwrap()).unwrap();
        assert_eq!(first["uuid"], "096acba7-ca84-4bc7-8fcb-8b44f5464b89");
        assert_eq!(third["uuid"], "096acba7-ca84-4bc7-8fcb-8b44f5460003");
        assert_eq!(third["name"], "P #3");
    }
}
