//! What packagers and operators install: the systemd unit (verified by `systemd-analyze`),
//! the manual pages and shell completions, and the Dockerfile's view of the source tree.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where the unit expects the binary.
const INSTALLED_BINARY: &str = "/usr/local/bin/alertsync";
/// Exposure `systemd-analyze security` must not exceed (0 to 100; the unit scores 12).
const MAX_EXPOSURE: &str = "15";

/// Whether `systemd-analyze` can run; without it the test skips loudly, unless
/// `ALERTSYNC_REQUIRE_SYSTEMD=1` makes that a failure.
fn systemd_analyze_available() -> bool {
    let available = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    alertsync_testing::available_or_skip(
        available,
        "ALERTSYNC_REQUIRE_SYSTEMD",
        "systemd-analyze is missing (Debian package `systemd`)",
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_systemd_unit_verifies_and_stays_hardened() {
    if !systemd_analyze_available() {
        return;
    }
    let unit = std::fs::read_to_string(root().join("packaging/systemd/alertsync.service"))
        .expect("the unit is readable");
    for setting in [
        "DynamicUser=yes",
        "StateDirectory=alertsync",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=\n",
    ] {
        assert!(
            unit.contains(setting),
            "the unit lacks `{}`",
            setting.trim()
        );
    }
    // The unit names the installed binary and its manual pages; both are this build's.
    let dir = tempfile::tempdir().unwrap();
    let binary = env!("CARGO_BIN_EXE_alertsync");
    assert!(unit.contains(INSTALLED_BINARY));
    let path = dir.path().join("alertsync.service");
    std::fs::write(&path, unit.replace(INSTALLED_BINARY, binary)).unwrap();
    let manpath = dir.path().join("man");
    let man1 = manpath.join("man1");
    let out = alertsync(dir.path(), &["man", "--dir", man1.to_str().unwrap()]).await;
    assert_eq!(exit_code(&out), 0, "{}", stderr(&out));

    let verify = Command::new("systemd-analyze")
        .args(["verify", path.to_str().unwrap()])
        .env("MANPATH", &manpath)
        .output()
        .expect("systemd-analyze runs");
    let said = String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success(), "{said}");
    assert!(said.trim().is_empty(), "warnings: {said}");

    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--threshold", MAX_EXPOSURE])
        .arg(&path)
        .output()
        .expect("systemd-analyze runs");
    assert!(
        security.status.success(),
        "exposure above {MAX_EXPOSURE}:\n{}{}",
        String::from_utf8_lossy(&security.stdout),
        String::from_utf8_lossy(&security.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn manual_pages_and_completions_cover_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let help = stdout(&alertsync(dir.path(), &["--help"]).await);
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // Commands start at the third column; wrapped descriptions further right.
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(
        commands.contains(&"check") && commands.contains(&"man"),
        "{help}"
    );

    let page = alertsync(dir.path(), &["man"]).await;
    assert_eq!(exit_code(&page), 0);
    let page = stdout(&page);
    assert!(
        page.starts_with(".ie"),
        "roff: {}",
        &page[..page.len().min(200)]
    );
    assert!(page.contains(".TH alertsync 1"), "{page}");

    let pages = dir.path().join("pages");
    let out = alertsync(dir.path(), &["man", "--dir", pages.to_str().unwrap()]).await;
    assert_eq!(exit_code(&out), 0, "{}", stderr(&out));
    for command in &commands {
        assert!(page.contains(command), "the page lists `{command}`");
        let file = pages.join(format!("alertsync-{command}.1"));
        assert!(file.is_file(), "{} was written", file.display());
    }

    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = alertsync(dir.path(), &["completions", shell]).await;
        assert_eq!(exit_code(&out), 0, "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        for command in &commands {
            assert!(script.contains(command), "{shell} completes `{command}`");
        }
    }
    let out = alertsync(dir.path(), &["completions", "tcsh"]).await;
    assert_eq!(exit_code(&out), 2);
}

/// The `COPY` sources of the Dockerfile's build stage, relative to the root.
fn build_stage_copies(dockerfile: &str) -> Vec<String> {
    dockerfile
        .split("\nFROM ")
        .nth(1)
        .expect("a build stage")
        .lines()
        .filter_map(|l| l.strip_prefix("COPY "))
        .filter(|l| !l.starts_with("--from"))
        .flat_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words[..words.len() - 1]
                .iter()
                .map(|w| (*w).to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_dockerfile_copies_every_file_the_build_reads() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).expect("a Dockerfile");
    let copied = build_stage_copies(&dockerfile);
    for source in &copied {
        assert!(root().join(source).exists(), "COPY {source}: no such path");
    }
    // Files compiled into the binary from outside `crates/` must be in the build stage.
    let crates = root().join("crates");
    let mut outside = Vec::new();
    for entry in walk(&crates) {
        let text = std::fs::read_to_string(&entry).unwrap_or_default();
        for quoted in text.split("include_str!(\"").skip(1) {
            let relative = quoted.split('"').next().unwrap_or_default();
            let included = entry.parent().unwrap().join(relative);
            let included = included.canonicalize().expect("the included file exists");
            if !included.starts_with(crates.canonicalize().unwrap()) {
                outside.push(included);
            }
        }
    }
    assert!(!outside.is_empty(), "the demo includes a shipped playbook");
    let root = root().canonicalize().unwrap();
    for file in outside {
        let relative = file.strip_prefix(&root).unwrap();
        assert!(
            copied.iter().any(|c| relative.starts_with(c)),
            "{} is compiled in but not copied into the build stage",
            relative.display()
        );
    }
    // The runtime stage runs as an unprivileged user.
    let runtime = dockerfile.rsplit("\nFROM ").next().unwrap();
    assert!(runtime.contains("\nUSER alertsync\n"), "{runtime}");
}

/// The `.rs` files under `dir` (sources, not tests).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() && !path.ends_with("tests") {
            files.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}
