//! The benchmark harness in smoke mode, end to end: it runs against the debug `alertsync`
//! binary and its outputs are checked for shape (JSON parses, every measurement present,
//! numbers positive), not for speed.
//!
//! Finding `alertsync`: `CARGO_BIN_EXE_*` only names binaries of the crate under test, so
//! the binary is located in the workspace target dir (`CARGO_TARGET_DIR`, else `target/`
//! at the workspace root). `cargo test --workspace` (what CI runs) builds it there before
//! any test starts, since the cli crate's own tests need it. Only when it is missing (say,
//! `cargo test -p alertsync-bench` on a fresh checkout) does this test build it with
//! `cargo build -p alertsync` — which is safe, cargo having released the build lock by the
//! time tests run. The binary is not rebuilt when present: a nested build with another
//! feature set would recompile much of the workspace, and the smoke test checks the
//! harness, not the latest service code.
//!
//! When the test PostgreSQL server can be reached the run also gets `--postgres`, and the
//! PostgreSQL pipeline runs (1 and 3 instances) are checked too; otherwise that part is
//! skipped loudly (`ALERTSYNC_REQUIRE_POSTGRES=1` makes it a failure).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The debug `alertsync` binary, built when missing.
fn alertsync_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let binary = target.join("debug/alertsync");
    if !binary.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "alertsync"])
            .current_dir(workspace_root())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build -p alertsync failed");
    }
    assert!(binary.is_file(), "no binary at {}", binary.display());
    binary
}

/// The test PostgreSQL server, when it answers.
fn postgres_server() -> Option<String> {
    let url = alertsync_testing::postgres_server_url();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let reached = runtime.block_on(async {
        let connecting = tokio_postgres::connect(&url, tokio_postgres::NoTls);
        matches!(
            tokio::time::timeout(Duration::from_secs(3), connecting).await,
            Ok(Ok(_))
        )
    });
    let need = format!(
        "PostgreSQL at {url} cannot be reached, so the smoke run measures no PostgreSQL pipeline"
    );
    alertsync_testing::available_or_skip(reached, "ALERTSYNC_REQUIRE_POSTGRES", &need)
        .then_some(url)
}

/// The PostgreSQL pipeline runs in the report: numbers for 1 and 3 instances with a server,
/// "not measured" without.
fn check_postgres(report: &Value, server: Option<&str>, text: &str) {
    for instances in [1, 3] {
        let run = &report["pipeline"]["postgres"][format!("instances_{instances}")];
        if server.is_none() {
            assert_eq!(run, "not measured (give --postgres URL)", "{text}");
            continue;
        }
        for pointer in [
            "/alerts_per_second",
            "/latency/p50_ms",
            "/latency/p99_ms",
            "/peak_rss_kb",
            "/cpu_ms_per_alert",
        ] {
            let number = run.pointer(pointer).and_then(Value::as_f64);
            assert!(
                number.is_some_and(|n| n > 0.0),
                "{instances} instances: {pointer} in {text}"
            );
        }
        assert_eq!(run["instances"].as_u64(), Some(instances), "{text}");
        assert_eq!(run["alerts"].as_u64(), Some(200), "{text}");
    }
}

#[test]
fn smoke_run_writes_every_measurement() {
    let out = tempfile::tempdir().expect("a temporary directory");
    let mut command = Command::new(env!("CARGO_BIN_EXE_alertsync-bench"));
    command
        .arg("--smoke")
        .arg("--out")
        .arg(out.path())
        .arg("--alertsync")
        .arg(alertsync_binary());
    let with_python = std::env::var("ALERTSYNC_BENCH_PYTHON").as_deref() == Ok("1");
    if !with_python {
        command.arg("--skip-python");
    }
    let postgres = postgres_server();
    if let Some(server) = &postgres {
        command.arg("--postgres").arg(server);
    }
    let run = command.output().expect("alertsync-bench runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "alertsync-bench failed:\n{stderr}");
    assert!(
        stderr.contains("[bench] pipeline"),
        "progress is reported:\n{stderr}"
    );

    let text = std::fs::read_to_string(out.path().join("latest.json")).expect("latest.json");
    let report: Value = serde_json::from_str(&text).expect("latest.json is JSON");
    for pointer in [
        "/one_shot/alertsync/median_wall_ms",
        "/one_shot/alertsync/median_peak_rss_kb",
        "/pipeline/alertsync/alerts_per_second",
        "/pipeline/alertsync/latency/p50_ms",
        "/pipeline/alertsync/latency/p99_ms",
        "/pipeline/alertsync/peak_rss_kb",
        "/pipeline/alertsync/cpu_seconds",
        "/pipeline/ceiling/alerts_per_second",
        "/fixed_rate/latency/p99_ms",
        "/fixed_rate/alerts",
        "/templates/renders_per_second",
        "/memory/idle/rss_kb",
        "/memory/after_runs/rss_kb",
        "/ratios/pipeline_vs_ceiling",
        "/machine/cores",
    ] {
        let number = report
            .pointer(pointer)
            .and_then(Value::as_f64)
            .unwrap_or_else(|| panic!("{pointer} missing in {text}"));
        assert!(number > 0.0, "{pointer} is {number}");
    }
    assert_eq!(
        report["pipeline"]["alertsync"]["alerts"].as_u64(),
        Some(200),
        "{text}"
    );
    assert_eq!(
        report["targets"].as_array().map(Vec::len),
        Some(5),
        "{text}"
    );
    if with_python {
        assert!(
            report
                .pointer("/pipeline/python_loop/alerts_per_second")
                .is_some()
        );
        assert!(report.pointer("/one_shot/python/median_wall_ms").is_some());
    } else {
        assert_eq!(report["pipeline"]["python_loop"], "unavailable: skipped");
        assert_eq!(report["one_shot"]["python"], "unavailable: skipped");
    }

    check_postgres(&report, postgres.as_deref(), &text);

    let table = std::fs::read_to_string(out.path().join("latest.md")).expect("latest.md");
    assert!(table.starts_with("| measurement |"), "{table}");
    for row in [
        "| SQLite file | 1 |",
        "| PostgreSQL | 1 |",
        "| PostgreSQL | 3 |",
    ] {
        assert!(table.contains(row), "{table}");
    }
    assert!(table.contains("| target | measured | met |"), "{table}");
    assert!(!table.contains("error:"), "{table}");
}
