//! `alertsync serve` as a child process for tests that only need it running: started on a
//! free loopback port with a configuration directory, its stderr kept for failure messages,
//! killed when dropped.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use super::ConfigDir;

/// How long the service may take to say it is serving.
const STARTUP: Duration = Duration::from_secs(60);

/// A running `alertsync serve`.
pub struct ServeProcess {
    child: Child,
    /// `host:port` the service answers on.
    pub address: String,
    log: Arc<Mutex<String>>,
}

impl ServeProcess {
    /// Starts `alertsync serve --config <dir>/alertsync.toml --listen 127.0.0.1:0` in `dir` and
    /// waits until it says where it serves.
    pub async fn start(dir: &ConfigDir) -> ServeProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_alertsync"))
            .arg("serve")
            .arg("--config")
            .arg(dir.path())
            .args(["--listen", "127.0.0.1:0", "--grace", "2"])
            .current_dir(dir.dir.path())
            .env_remove("ALERTSYNC_CONFIG")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("alertsync serve starts");
        let log = Arc::new(Mutex::new(String::new()));
        let (ready, serving) = oneshot::channel();
        let stderr = child.stderr.take().expect("stderr is piped");
        tokio::spawn(read_stderr(stderr, Arc::clone(&log), ready));
        let address = match tokio::time::timeout(STARTUP, serving).await {
            Ok(Ok(address)) => address,
            Ok(Err(_)) => panic!(
                "alertsync serve ended before serving:\n{}",
                lock(&log).as_str()
            ),
            Err(_) => panic!(
                "alertsync serve did not say it was serving within {STARTUP:?}:\n{}",
                lock(&log).as_str()
            ),
        };
        ServeProcess {
            child,
            address,
            log,
        }
    }

    /// `http://host:port`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// What the service wrote on stderr so far.
    pub fn log(&self) -> String {
        lock(&self.log).clone()
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if std::thread::panicking() {
            eprintln!("alertsync serve stderr:\n{}", self.log());
        }
    }
}

fn lock(log: &Mutex<String>) -> std::sync::MutexGuard<'_, String> {
    log.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Keeps stderr in `log` and sends the address once the service says it is serving (the
/// sender is dropped unsent if the process ends first).
async fn read_stderr(
    stderr: tokio::process::ChildStderr,
    log: Arc<Mutex<String>>,
    ready: oneshot::Sender<String>,
) {
    const SERVING: &str = "alertsync is serving on http://";
    let mut ready = Some(ready);
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some((_, rest)) = line.split_once(SERVING)
            && let Some(address) = rest.split_whitespace().next()
            && let Some(ready) = ready.take()
        {
            let _ = ready.send(address.to_owned());
        }
        let mut log = lock(&log);
        log.push_str(&line);
        log.push('\n');
    }
}
