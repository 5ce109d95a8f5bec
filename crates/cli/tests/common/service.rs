//! `alertsync serve` as a child process of a test: started on a free loopback port with a
//! configuration directory, restarted on the same store, stopped with SIGKILL or SIGTERM;
//! its stderr (every start) kept and printed when the test fails; killed when dropped.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use super::ConfigDir;

/// How long the service may take to say it is serving.
const STARTUP: Duration = Duration::from_secs(60);
/// How long the service may take to exit after SIGTERM.
const STOPPING: Duration = Duration::from_secs(120);

/// `alertsync serve` on one configuration directory, across restarts. Its stderr is kept
/// (all incarnations) and printed when the test fails.
pub struct ServeProcess {
    config: PathBuf,
    dir: PathBuf,
    extra_args: Vec<String>,
    child: Option<Child>,
    /// `host:port` the service answers on (of the latest start).
    pub address: String,
    log: Arc<Mutex<String>>,
    starts: usize,
}

impl ServeProcess {
    /// Starts `alertsync serve --config <dir>/alertsync.toml --listen 127.0.0.1:0 <extra_args>`
    /// in `dir` and waits until it says where it serves.
    pub async fn start(dir: &ConfigDir, extra_args: &[&str]) -> ServeProcess {
        let mut service = ServeProcess {
            config: dir.path(),
            dir: dir.dir.path().to_owned(),
            extra_args: extra_args.iter().map(|a| (*a).to_owned()).collect(),
            child: None,
            address: String::new(),
            log: Arc::default(),
            starts: 0,
        };
        service.restart().await;
        service
    }

    /// Starts the process (again, on the same store) and waits for "serving on".
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "the service is already running");
        self.starts += 1;
        self.note(&format!("--- start #{} ---", self.starts));
        let mut child = Command::new(env!("CARGO_BIN_EXE_alertsync"))
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .args(["--listen", "127.0.0.1:0"])
            .args(&self.extra_args)
            .current_dir(&self.dir)
            .env_remove("ALERTSYNC_CONFIG")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("alertsync serve starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (ready, serving) = oneshot::channel();
        tokio::spawn(keep_log(stderr, Arc::clone(&self.log), ready));
        self.child = Some(child);
        match tokio::time::timeout(STARTUP, serving).await {
            Ok(Ok(address)) => self.address = address,
            Ok(Err(_)) => panic!("alertsync serve ended before serving:\n{}", self.log()),
            Err(_) => panic!(
                "alertsync serve did not say it was serving within {STARTUP:?}:\n{}",
                self.log()
            ),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .and_then(Child::id)
            .expect("the service is running")
    }

    /// The highest resident set size of the running service so far (`VmHWM`), in KiB.
    pub fn peak_rss_kb(&self) -> u64 {
        let pid = self.pid();
        let status =
            std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc is readable");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/<pid>/status")
    }

    /// SIGKILL: the process ends at once, wherever it is.
    pub async fn kill_9(&mut self) {
        let mut child = self.child.take().expect("the service is running");
        child.start_kill().expect("SIGKILL is sent");
        child.wait().await.expect("the killed process is reaped");
        self.note("--- killed (SIGKILL) ---");
    }

    /// SIGTERM, then waits for the exit; returns how long the exit took and the exit code.
    pub async fn terminate(&mut self) -> (Duration, Option<i32>) {
        let pid = self.pid().to_string();
        let sent = Instant::now();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(status.success(), "SIGTERM could not be sent");
        let mut child = self.child.take().expect("the service is running");
        let exit = tokio::time::timeout(STOPPING, child.wait())
            .await
            .unwrap_or_else(|_| panic!("no exit {STOPPING:?} after SIGTERM:\n{}", self.log()))
            .expect("the process is reaped");
        self.note("--- stopped (SIGTERM) ---");
        (sent.elapsed(), exit.code())
    }

    /// `http://host:port`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    fn note(&self, line: &str) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.push_str(line);
        log.push('\n');
    }

    /// What the service wrote on stderr so far, all starts included.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("alertsync serve stderr:\n{}", self.log());
        }
    }
}

/// Copies the service's stderr into `log` (its newest 2 MB), and sends the HTTP address
/// once the service says it is serving. The sender is dropped unsent if the process ends
/// first.
async fn keep_log(
    stderr: tokio::process::ChildStderr,
    log: Arc<Mutex<String>>,
    ready: oneshot::Sender<String>,
) {
    const KEEP: usize = 2 << 20;
    const SERVING: &str = "alertsync is serving on http://";
    let mut ready = Some(ready);
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(rest) = line.split(SERVING).nth(1)
            && let Some(ready) = ready.take()
        {
            let address = rest.split_whitespace().next().unwrap_or_default();
            let _ = ready.send(address.to_owned());
        }
        let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
        log.push_str(&line);
        log.push('\n');
        if log.len() > KEEP {
            let cut = log.len() - KEEP / 2;
            let cut = (cut..log.len())
                .find(|i| log.is_char_boundary(*i))
                .unwrap_or(0);
            log.drain(..cut);
        }
    }
}

/// A plain HTTP/1.1 request to the service: the status and the body as JSON.
pub async fn http(
    address: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .iter()
        .map(|value| ("Authorization", value.as_str()))
        .collect();
    http_with(address, method, path, &headers, body).await
}

/// `GET /api/v1/runs/{id}`: the status and the run with its nodes.
pub async fn run_detail(address: &str, id: i64) -> (u16, Value) {
    http(address, "GET", &format!("/api/v1/runs/{id}"), None, "").await
}

/// [`http`] with these extra headers.
pub async fn http_with(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    let mut stream = TcpStream::connect(address)
        .await
        .expect("the service accepts connections");
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         {extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("sent");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("answered");
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = serde_json::from_str(body)
        .unwrap_or_else(|err| panic!("the answer is not JSON ({err}): {body}"));
    (status, body)
}
