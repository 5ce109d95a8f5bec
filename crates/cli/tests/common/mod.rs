//! What the command-line tests share: the built `alertsync` binary run as a user would, a
//! configuration file in a temporary directory, and the simulator.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use alertsync_sim::{SimConfig, Simulator};

pub mod delivery;
pub mod service;

pub const SEKOIA_KEY: &str = "sim-api-key";
pub const ILERT_KEY: &str = "sim-ilert-key";

pub async fn simulator() -> Simulator {
    alertsync_sim::start(SimConfig::default())
        .await
        .expect("the simulator starts")
}

/// A directory holding `alertsync.toml` with `contents`.
pub struct ConfigDir {
    pub dir: tempfile::TempDir,
}

impl ConfigDir {
    pub fn new(contents: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("alertsync.toml"), contents).expect("config written");
        Self { dir }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("alertsync.toml")
    }

    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("file written");
        path
    }
}

/// A configuration with a Sekoia.io account and an ilert account, both on the simulator.
pub fn sim_config(sim: &Simulator, ilert_key: &str) -> ConfigDir {
    ConfigDir::new(&sim_accounts(sim, SEKOIA_KEY, ilert_key))
}

/// The `[[account]]` entries of a Sekoia.io account named `sekoia` and an ilert account named
/// `ilert`, both on the simulator, with these keys.
pub fn sim_accounts(sim: &Simulator, sekoia_key: &str, ilert_key: &str) -> String {
    format!(
        r#"
[[account]]
name = "sekoia"
module = "sekoia.io"
base_url = "{sekoia}"
api_key = "{sekoia_key}"

[[account]]
name = "ilert"
module = "ilert"
integration_url = "{ilert}"
integration_key = "{ilert_key}"
"#,
        sekoia = sim.urls().sekoia,
        ilert = sim.urls().ilert,
    )
}

/// The `[[playbook]]` entry of the shipped playbook `examples/playbooks/<file>`.
pub fn shipped_playbook(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/playbooks")
        .join(file)
        .canonicalize()
        .expect("the shipped playbook exists");
    let quoted = serde_json::Value::String(path.to_str().expect("a UTF-8 path").to_owned());
    format!("[[playbook]]\nfile = {quoted}\n")
}

/// Runs `alertsync ARGS` in `dir` (no configuration is picked up from elsewhere).
pub async fn alertsync(dir: &Path, args: &[&str]) -> Output {
    alertsync_with_env(dir, args, &[]).await
}

/// [`alertsync`] with the variables `env` set.
pub async fn alertsync_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_alertsync"))
        .args(args)
        .current_dir(dir)
        .env_remove("ALERTSYNC_CONFIG")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .kill_on_drop(true)
        .output()
        .await
        .expect("alertsync runs")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// stdout as JSON, with stderr in the panic message when it is not.
pub fn stdout_json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|err| {
        panic!(
            "stdout is not JSON ({err}):\n{}\nstderr:\n{}",
            stdout(out),
            stderr(out)
        )
    })
}

pub fn exit_code(out: &Output) -> i32 {
    out.status.code().expect("alertsync exited normally")
}
