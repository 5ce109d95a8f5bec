//! The Python baseline: a virtualenv under `bench/.venv` with Sekoia.io's automation SDK
//! from PyPI, and `bench/python/ilert_action.py` run as one process per action or as a
//! loop of `run()` calls.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::{Value, json};

use crate::sim::{API_KEY, ILERT_KEY, SimProcess};
use crate::stats::round3;

/// Why the baseline cannot run.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    #[error("skipped")]
    Skipped,
    #[error("{} is missing", .0.display())]
    MissingScript(PathBuf),
    #[error("cannot create the virtualenv: {0}")]
    Virtualenv(#[source] CommandError),
    #[error("pip install failed (is PyPI reachable?): {0}")]
    PipInstall(#[source] CommandError),
    #[error("the SDK was installed but cannot be imported")]
    SdkNotImportable,
}

/// Why a setup command failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Start(std::io::Error),
    #[error("exit {status}: {last_line}")]
    Failed {
        status: ExitStatus,
        /// The last line it wrote to stderr.
        last_line: String,
    },
}

/// A ready interpreter with the baseline's dependencies.
pub struct Python {
    interpreter: PathBuf,
    script: PathBuf,
}

impl Python {
    /// The virtualenv in `bench_dir/.venv`, created and filled when it lacks the SDK; the
    /// reason when that cannot be done.
    pub fn prepare(bench_dir: &Path) -> Result<Python, Unavailable> {
        let venv = bench_dir.join(".venv");
        let python = Python {
            interpreter: venv.join("bin/python"),
            script: bench_dir.join("python/ilert_action.py"),
        };
        if !python.script.is_file() {
            return Err(Unavailable::MissingScript(python.script));
        }
        if python.has_dependencies() {
            return Ok(python);
        }
        progress!(
            "python: creating {} and installing the SDK from PyPI",
            venv.display()
        );
        if !python.interpreter.is_file() {
            run_quietly(Command::new("python3").args(["-m", "venv"]).arg(&venv))
                .map_err(Unavailable::Virtualenv)?;
        }
        run_quietly(
            Command::new(&python.interpreter)
                .args(["-m", "pip", "install", "--quiet", "-r"])
                .arg(bench_dir.join("python/requirements.txt")),
        )
        .map_err(Unavailable::PipInstall)?;
        if !python.has_dependencies() {
            return Err(Unavailable::SdkNotImportable);
        }
        Ok(python)
    }

    fn has_dependencies(&self) -> bool {
        Command::new(&self.interpreter)
            .args(["-c", "import sekoia_automation.action, requests, urllib3"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }

    /// The installed SDK version, for the report.
    pub fn sdk_version(&self) -> String {
        Command::new(&self.interpreter)
            .args([
                "-c",
                "import importlib.metadata as m; print(m.version('sekoia-automation-sdk'))",
            ])
            .output()
            .ok()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .unwrap_or_default()
    }

    /// One action run as one process: `ilert_action.py oneshot SETTINGS UUID`.
    pub fn oneshot_command(&self, settings: &Path, alert_uuid: &str) -> Command {
        let mut command = Command::new(&self.interpreter);
        command
            .arg(&self.script)
            .arg("oneshot")
            .arg(settings)
            .arg(alert_uuid);
        command
    }

    /// `run()` over every alert of `uuids`, in one process.
    pub fn run_loop(&self, settings: &Path, uuids: &[String], dir: &Path) -> anyhow::Result<Loop> {
        let file = dir.join("uuids.txt");
        std::fs::write(&file, uuids.join("\n"))?;
        let started = Instant::now();
        let out = Command::new(&self.interpreter)
            .arg(&self.script)
            .arg("loop")
            .arg(settings)
            .arg(&file)
            .stdin(Stdio::null())
            .output()
            .context("cannot run the Python loop")?;
        let wall = started.elapsed().as_secs_f64();
        if !out.status.success() {
            bail!(
                "the Python loop failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let answer: Value =
            serde_json::from_slice(&out.stdout).context("the Python loop's output")?;
        let runs = answer["runs"]
            .as_u64()
            .context("no runs in the Python loop's output")?;
        let failures = answer["failures"].as_u64().unwrap_or(0);
        let seconds = answer["seconds"]
            .as_f64()
            .context("no seconds in the Python loop's output")?;
        if failures > 0 {
            bail!("{failures} of {runs} Python runs failed");
        }
        Ok(Loop {
            alerts: usize::try_from(runs)?,
            seconds: round3(seconds),
            alerts_per_second: round3(runs as f64 / seconds),
            process_seconds: round3(wall),
        })
    }
}

#[derive(Debug, Serialize)]
pub struct Loop {
    pub alerts: usize,
    /// The loop alone, measured inside the process.
    pub seconds: f64,
    pub alerts_per_second: f64,
    /// The whole process, interpreter start and imports included.
    pub process_seconds: f64,
}

/// The baseline's settings file for the simulator.
pub fn write_settings(dir: &Path, sim: &SimProcess) -> anyhow::Result<PathBuf> {
    let path = dir.join("python-settings.json");
    let settings = json!({
        "sekoia_url": sim.urls.sekoia,
        "api_key": API_KEY,
        "ilert_url": sim.urls.ilert,
        "integration_key": ILERT_KEY,
    });
    std::fs::write(&path, settings.to_string())?;
    Ok(path)
}

fn run_quietly(command: &mut Command) -> Result<(), CommandError> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(CommandError::Start)?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("no message");
    Err(CommandError::Failed {
        status: out.status,
        last_line: last.to_owned(),
    })
}
