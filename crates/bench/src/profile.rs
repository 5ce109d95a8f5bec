//! `--profile DIR`: serve's CPU profile during the fixed-rate measurement. `perf record -e
//! cpu-clock` samples the serve process (a software clock: hardware counters are often
//! missing in virtual machines) and unwinds each sample's stack from DWARF: Rust code is
//! built without frame pointers, so `-g` alone lost most callers and left a graph whose
//! widest frames were allocator and kernel functions without a caller. The samples are
//! folded into stacks (`serve.folded`) and drawn as a flame graph (`serve-flamegraph.svg`),
//! both in DIR. Folding and drawing use the `inferno` crate, a port of the usual FlameGraph
//! scripts. Unwinding is done by `perf script` afterwards and takes a minute or two.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use inferno::collapse::Collapse;
use inferno::collapse::perf::{Folder, Options as FoldOptions};
use inferno::flamegraph::{self, Options as GraphOptions};
use tokio::process::{Child, Command};

/// Samples per second and thread: each copies 16 KiB of stack to unwind later, so fewer
/// than perf's default of 4000 keep the data and its unwinding small.
const SAMPLES_PER_SECOND: &str = "499";

/// A `perf record` attached to a process.
pub struct Recording {
    perf: Child,
    dir: PathBuf,
    data: PathBuf,
}

/// Starts sampling process `pid` into `dir/serve.perf.data`.
pub fn start(dir: &Path, pid: u32) -> anyhow::Result<Recording> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let data = dir.join("serve.perf.data");
    let perf = Command::new("perf")
        .args(["record", "-e", "cpu-clock", "-F", SAMPLES_PER_SECOND])
        .args(["--call-graph", "dwarf,16384", "-o"])
        .arg(&data)
        .args(["-p", &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start `perf record` (is perf installed? Debian: linux-perf)")?;
    Ok(Recording {
        perf,
        dir: dir.to_owned(),
        data,
    })
}

impl Recording {
    /// Stops sampling and writes the folded stacks and the flame graph; answers the graph's
    /// path.
    pub async fn finish(mut self) -> anyhow::Result<PathBuf> {
        let pid = self.perf.id().context("perf ended early")?;
        let interrupted = Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .await?;
        if !interrupted.success() {
            bail!("cannot stop perf record ({pid})");
        }
        self.perf.wait().await?;
        let script = Command::new("perf")
            .args(["script", "-i"])
            .arg(&self.data)
            .stderr(Stdio::null())
            .output()
            .await
            .context("cannot run `perf script`")?;
        if !script.status.success() {
            bail!("`perf script` failed on {}", self.data.display());
        }
        let mut folded = Vec::new();
        Folder::from(FoldOptions::default()).collapse(&script.stdout[..], &mut folded)?;
        std::fs::write(self.dir.join("serve.folded"), &folded)?;
        let svg = self.dir.join("serve-flamegraph.svg");
        let mut options = GraphOptions::default();
        options.title = "alertsync serve at a fixed rate (cpu-clock)".to_owned();
        flamegraph::from_reader(&mut options, &folded[..], std::fs::File::create(&svg)?)?;
        Ok(svg)
    }
}
