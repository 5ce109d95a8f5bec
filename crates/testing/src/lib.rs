//! What the test suites of every alertsync crate share (a dev-dependency only).
//!
//! Tests that need something outside the workspace — the playbook corpus beside the
//! checkout, Chromium, `systemd-analyze`, PostgreSQL — skip loudly when it is missing, unless
//! their `ALERTSYNC_REQUIRE_*` variable is `1`, which makes the absence a failure (CI sets
//! them all). [`available_or_skip`] is that rule, in one place.

use std::path::{Path, PathBuf};

/// Answers `present`. When it is false: fails the test if `variable` is `1`, else prints a
/// banner saying the test is skipped and what it needs (`need`: what is missing and how to
/// get it).
pub fn available_or_skip(present: bool, variable: &str, need: &str) -> bool {
    if present {
        return true;
    }
    assert!(
        std::env::var(variable).as_deref() != Ok("1"),
        "{need}; {variable}=1 makes it mandatory"
    );
    let banner = "!".repeat(78);
    eprintln!(
        "\n{banner}\nSKIPPED: {need}, or set {variable}=1 to make this a failure\n{banner}\n"
    );
    false
}

/// The corpus of published playbooks beside the checkout (`../shared/corpus/spl`), or
/// `None` when it is not there (see [`available_or_skip`], `ALERTSYNC_REQUIRE_CORPUS`).
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/spl");
    let need = format!("the playbook corpus folder {} is missing", dir.display());
    available_or_skip(dir.is_dir(), "ALERTSYNC_REQUIRE_CORPUS", &need).then_some(dir)
}
