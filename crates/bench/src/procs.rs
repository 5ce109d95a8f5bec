//! Measuring processes: wall time and peak RSS of a child run to completion (wait4), and
//! the resident memory and CPU time of a running process (/proc/<pid>/status and stat).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;

/// A finished child: how long it took and the most memory it held.
#[derive(Clone, Copy, Debug)]
pub struct Finished {
    pub wall: Duration,
    pub peak_rss_kb: u64,
}

/// Runs `command` to completion with stdout and stderr in `log_dir`; fails, with the
/// end of stderr, when it exits unsuccessfully.
pub fn run_measured(mut command: Command, log_dir: &Path, name: &str) -> anyhow::Result<Finished> {
    let stdout = std::fs::File::create(log_dir.join(format!("{name}.stdout")))?;
    let stderr_path = log_dir.join(format!("{name}.stderr"));
    let stderr = std::fs::File::create(&stderr_path)?;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr));
    let started = Instant::now();
    let child = command
        .spawn()
        .with_context(|| format!("cannot start {name}"))?;
    let (status, peak_rss_kb) = wait4(child.id())?;
    let wall = started.elapsed();
    if !exited_successfully(status) {
        let text = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        let tail: String = text
            .chars()
            .rev()
            .take(600)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        bail!("{name} failed (wait status {status}): {tail}");
    }
    Ok(Finished { wall, peak_rss_kb })
}

/// Waits for the child with `pid`; its wait status and its peak RSS in KiB.
#[allow(unsafe_code)] // wait4 has no safe wrapper in the standard library
fn wait4(pid: u32) -> anyhow::Result<(i32, u64)> {
    let pid = libc::pid_t::try_from(pid).context("process id out of range")?;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `status` and `usage` are valid for writes for the whole call.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            break;
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error).context("wait4");
        }
    }
    let peak_kb = u64::try_from(usage.ru_maxrss).unwrap_or(0);
    Ok((status, peak_kb))
}

fn exited_successfully(status: i32) -> bool {
    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
}

/// Memory and CPU time of a running process.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct ProcSample {
    /// Resident memory now.
    pub rss_kb: u64,
    /// The most resident memory so far (VmHWM).
    pub peak_rss_kb: u64,
    /// User plus system CPU time so far.
    pub cpu_seconds: f64,
}

pub fn sample(pid: u32) -> anyhow::Result<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("process {pid} is gone"))?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    Ok(ProcSample {
        rss_kb: status_kb(&status, "VmRSS").unwrap_or(0),
        peak_rss_kb: status_kb(&status, "VmHWM").unwrap_or(0),
        cpu_seconds: cpu_seconds(&stat).context("unreadable /proc/<pid>/stat")?,
    })
}

fn status_kb(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
}

/// utime + stime (fields 14 and 15, counted after the parenthesised command name).
#[allow(unsafe_code)] // sysconf has no safe wrapper in the standard library
fn cpu_seconds(stat: &str) -> Option<f64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no memory effects.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = if ticks > 0 { ticks as f64 } else { 100.0 };
    Some((utime + stime) / ticks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_process() {
        let own = sample(std::process::id()).unwrap();
        assert!(own.rss_kb > 0 && own.peak_rss_kb >= own.rss_kb);
        assert!(own.cpu_seconds >= 0.0);
    }

    #[test]
    fn parses_stat_with_spaces_in_the_name() {
        let stat = "42 (a b) S 1 1 1 0 -1 0 0 0 0 0 250 50 0 0 20 0 1 0";
        let seconds = cpu_seconds(stat).unwrap();
        assert!(seconds > 0.0);
    }

    #[test]
    fn measures_a_child() {
        let dir = tempfile::tempdir().unwrap();
        let finished = run_measured(Command::new("true"), dir.path(), "true").unwrap();
        assert!(finished.peak_rss_kb > 0);
        assert!(run_measured(Command::new("false"), dir.path(), "false").is_err());
    }
}
