//! The one-shot action: whole-process wall time and peak RSS of
//! `alertsync action ilert.trigger_alert` against the simulator, alternating with the
//! Python baseline doing the same work as one process.

use std::path::Path;
use std::process::Command;

use serde::Serialize;

use crate::procs::{Finished, run_measured};
use crate::python::Python;
use crate::sim::{API_KEY, ILERT_KEY, SimProcess};
use crate::stats::{median, round3};

#[derive(Debug, Serialize)]
pub struct Runs {
    pub runs: usize,
    pub median_wall_ms: f64,
    pub min_wall_ms: f64,
    pub median_peak_rss_kb: f64,
}

impl Runs {
    fn from(finished: &[Finished]) -> Runs {
        let walls: Vec<f64> = finished
            .iter()
            .map(|f| f.wall.as_secs_f64() * 1000.0)
            .collect();
        let rss: Vec<f64> = finished.iter().map(|f| f.peak_rss_kb as f64).collect();
        Runs {
            runs: finished.len(),
            median_wall_ms: round3(median(&walls).unwrap_or(0.0)),
            min_wall_ms: round3(walls.iter().copied().fold(f64::INFINITY, f64::min)),
            median_peak_rss_kb: median(&rss).unwrap_or(0.0),
        }
    }
}

/// `runs` runs of each, alternating; the Python side is `None` when it is unavailable.
pub fn run(
    alertsync: &Path,
    sim: &SimProcess,
    alert_uuid: &str,
    python: Option<(&Python, &Path)>,
    runs: usize,
    dir: &Path,
) -> anyhow::Result<(Runs, Option<Runs>)> {
    std::fs::write(dir.join("alertsync.toml"), config(sim))?;
    let mut ours = Vec::with_capacity(runs);
    let mut theirs = Vec::with_capacity(runs);
    for run in 0..runs {
        progress!("one-shot: run {}/{runs}", run + 1);
        let mut command = Command::new(alertsync);
        command
            .args(["action", "ilert.trigger_alert", "--arg"])
            .arg(format!("alert_uuid={alert_uuid}"))
            .current_dir(dir)
            .env_remove("ALERTSYNC_CONFIG")
            .env_remove("RUST_LOG");
        ours.push(run_measured(command, dir, "alertsync-action")?);
        if let Some((python, settings)) = python {
            let command = python.oneshot_command(settings, alert_uuid);
            theirs.push(run_measured(command, dir, "python-action")?);
        }
    }
    let theirs = (!theirs.is_empty()).then(|| Runs::from(&theirs));
    Ok((Runs::from(&ours), theirs))
}

fn config(sim: &SimProcess) -> String {
    format!(
        "[[account]]\nname = \"sekoia\"\nmodule = \"sekoia.io\"\nbase_url = \"{}\"\napi_key = \"{API_KEY}\"\n\n\
         [[account]]\nname = \"ilert\"\nmodule = \"ilert\"\nintegration_url = \"{}\"\nintegration_key = \"{ILERT_KEY}\"\n",
        sim.urls.sekoia, sim.urls.ilert
    )
}
