//! The results of one invocation: the headline ratios, the targets they are held to, and
//! the two files written (`latest.json`, `latest.md`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::machine::Machine;
use crate::stats::round3;

/// Each measurement as JSON: its numbers, `{"error": ...}`, or for Python possibly the
/// string "unavailable: <reason>".
pub struct Results {
    machine: Machine,
    pub settings: Value,
    pub templates: Value,
    pub one_shot: Value,
    pub pipeline: Value,
    /// The sustained pipeline on PostgreSQL, by instance count: its numbers, an error or
    /// "not measured ...".
    pub postgres: Vec<(usize, Value)>,
    pub ceiling: Value,
    pub python_loop: Value,
    pub fixed_rate: Value,
    pub memory: Value,
}

/// The goals the results are held to.
const PIPELINE_VS_CEILING: f64 = 0.5;
const PIPELINE_VS_PYTHON: f64 = 50.0;
const ONESHOT_VS_PYTHON: f64 = 50.0;
const FIXED_RATE_P99_MS: f64 = 10.0;
const RSS_UNDER_LOAD_MB: f64 = 40.0;

impl Results {
    pub fn new(machine: Machine) -> Results {
        Results {
            machine,
            settings: Value::Null,
            templates: Value::Null,
            one_shot: Value::Null,
            pipeline: Value::Null,
            postgres: Vec::new(),
            ceiling: Value::Null,
            python_loop: Value::Null,
            fixed_rate: Value::Null,
            memory: Value::Null,
        }
    }

    /// Whether every measurement produced numbers (an unavailable Python is not a failure).
    pub fn all_ok(&self) -> bool {
        let postgres = self.postgres.iter().map(|(_, value)| value);
        self.measurements()
            .iter()
            .map(|(_, value)| *value)
            .chain(postgres)
            .all(|value| value.get("error").is_none() && !value.is_null())
    }

    fn measurements(&self) -> [(&'static str, &Value); 7] {
        [
            ("templates", &self.templates),
            ("one_shot", &self.one_shot),
            ("pipeline", &self.pipeline),
            ("ceiling", &self.ceiling),
            ("python_loop", &self.python_loop),
            ("fixed_rate", &self.fixed_rate),
            ("memory", &self.memory),
        ]
    }

    fn ratios(&self) -> Value {
        let pipeline = number(&self.pipeline, "/alerts_per_second");
        json!({
            "pipeline_vs_ceiling": ratio(pipeline, number(&self.ceiling, "/alerts_per_second")),
            "pipeline_vs_python_loop": ratio(pipeline, number(&self.python_loop, "/alerts_per_second")),
            "oneshot_python_wall_over_alertsync": ratio(
                number(&self.one_shot, "/python/median_wall_ms"),
                number(&self.one_shot, "/alertsync/median_wall_ms"),
            ),
            "oneshot_python_rss_over_alertsync": ratio(
                number(&self.one_shot, "/python/median_peak_rss_kb"),
                number(&self.one_shot, "/alertsync/median_peak_rss_kb"),
            ),
        })
    }

    fn targets(&self, ratios: &Value) -> Vec<Value> {
        let load_rss_mb = [&self.pipeline, &self.fixed_rate]
            .iter()
            .filter_map(|value| number(value, "/peak_rss_kb"))
            .reduce(f64::max)
            .map(|kb| round3(kb / 1024.0));
        vec![
            target(
                "pipeline throughput ≥ 50% of the loopback ceiling",
                ratios["pipeline_vs_ceiling"].as_f64(),
                |r| r >= PIPELINE_VS_CEILING,
            ),
            target(
                "pipeline throughput ≥ 50× the Python loop",
                ratios["pipeline_vs_python_loop"].as_f64(),
                |r| r >= PIPELINE_VS_PYTHON,
            ),
            target(
                "one-shot ≥ 50× faster than the Python process",
                ratios["oneshot_python_wall_over_alertsync"].as_f64(),
                |r| r >= ONESHOT_VS_PYTHON,
            ),
            target(
                "p99 ≤ 10 ms at the fixed rate (ms)",
                number(&self.fixed_rate, "/latency/p99_ms"),
                |ms| ms <= FIXED_RATE_P99_MS,
            ),
            target(
                "serve peak RSS ≤ 40 MB under load (MB)",
                load_rss_mb,
                |mb| mb <= RSS_UNDER_LOAD_MB,
            ),
        ]
    }

    fn to_json(&self) -> Value {
        let ratios = self.ratios();
        let targets = self.targets(&ratios);
        let generated = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        json!({
            "generated_at_unix": generated,
            "machine": self.machine,
            "settings": self.settings,
            "ratios": ratios,
            "targets": targets,
            "one_shot": self.one_shot,
            "pipeline": {
                "alertsync": self.pipeline,
                "ceiling": self.ceiling,
                "python_loop": self.python_loop,
                "postgres": self.postgres_json(),
            },
            "fixed_rate": self.fixed_rate,
            "templates": self.templates,
            "memory": self.memory,
        })
    }

    /// `{"instances_<n>": ...}` for each PostgreSQL run.
    fn postgres_json(&self) -> Value {
        let runs = self.postgres.iter();
        Value::Object(
            runs.map(|(instances, value)| (format!("instances_{instances}"), value.clone()))
                .collect(),
        )
    }

    /// Writes `latest.json` and `latest.md` in `dir`.
    pub fn write(&self, dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
        std::fs::create_dir_all(dir)?;
        let report = self.to_json();
        let json_path = dir.join("latest.json");
        std::fs::write(&json_path, serde_json::to_string_pretty(&report)? + "\n")?;
        let md_path = dir.join("latest.md");
        std::fs::write(&md_path, markdown(&report))?;
        Ok((json_path, md_path))
    }
}

fn target(name: &str, measured: Option<f64>, met: impl Fn(f64) -> bool) -> Value {
    json!({"target": name, "measured": measured, "met": measured.map(met)})
}

fn number(value: &Value, pointer: &str) -> Option<f64> {
    value.pointer(pointer).and_then(Value::as_f64)
}

fn ratio(numerator: Option<f64>, denominator: Option<f64>) -> Option<f64> {
    match (numerator, denominator) {
        (Some(n), Some(d)) if d > 0.0 => Some(round3(n / d)),
        _ => None,
    }
}

/// A cell: the number at `pointer` with its unit, the error or unavailability, or "—".
fn cell(value: &Value, pointer: &str, unit: &str) -> String {
    if let Some(text) = value.as_str() {
        return text.to_owned();
    }
    if let Some(error) = value.get("error").and_then(Value::as_str) {
        return format!("error: {}", error.lines().next().unwrap_or_default());
    }
    match number(value, pointer) {
        Some(n) => format!("{}{unit}", pretty(n)),
        None => "—".to_owned(),
    }
}

fn kb_as_mb(value: &Value, pointer: &str) -> String {
    in_mb(value, pointer, 1024.0)
}

fn bytes_as_mb(value: &Value, pointer: &str) -> String {
    in_mb(value, pointer, 1_048_576.0)
}

/// The number at `pointer`, counted in units of which `per_mb` make a megabyte, in MB.
fn in_mb(value: &Value, pointer: &str, per_mb: f64) -> String {
    match number(value, pointer) {
        Some(n) => format!("{} MB", pretty(n / per_mb)),
        None => cell(value, pointer, ""),
    }
}

fn pretty(n: f64) -> String {
    if n.abs() >= 100.0 {
        format!("{n:.0}")
    } else if n.abs() >= 10.0 {
        format!("{n:.1}")
    } else {
        format!("{n:.2}")
    }
}

fn ratio_cell(value: &Value, suffix: &str) -> String {
    value
        .as_f64()
        .map_or("—".to_owned(), |r| format!("{}{suffix}", pretty(r)))
}

/// The table of `latest.md`: one row per measurement, then the targets and the machine.
fn markdown(report: &Value) -> String {
    let one_shot = &report["one_shot"];
    let python_one_shot = one_shot.get("python").unwrap_or(one_shot);
    let pipeline = &report["pipeline"]["alertsync"];
    let ceiling = &report["pipeline"]["ceiling"];
    let python_loop = &report["pipeline"]["python_loop"];
    let fixed = &report["fixed_rate"];
    let templates = &report["templates"];
    let memory = &report["memory"];
    let ratios = &report["ratios"];
    let settings = &report["settings"];
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| measurement | alertsync | loopback ceiling | Python (sekoia-automation-sdk) | ratio |"
    );
    let _ = writeln!(md, "| --- | --- | --- | --- | --- |");
    let rows = [
        [
            format!("one-shot `action ilert.trigger_alert`, wall time (median of {})", settings["oneshot_runs"]),
            cell(&one_shot["alertsync"], "/median_wall_ms", " ms"),
            "—".to_owned(),
            cell(python_one_shot, "/median_wall_ms", " ms"),
            ratio_cell(&ratios["oneshot_python_wall_over_alertsync"], "× faster"),
        ],
        [
            "one-shot peak RSS (median)".to_owned(),
            kb_as_mb(&one_shot["alertsync"], "/median_peak_rss_kb"),
            "—".to_owned(),
            kb_as_mb(python_one_shot, "/median_peak_rss_kb"),
            ratio_cell(&ratios["oneshot_python_rss_over_alertsync"], "× less"),
        ],
        [
            format!("pipeline throughput, {} alerts", settings["alerts"]),
            cell(pipeline, "/alerts_per_second", " alerts/s"),
            cell(ceiling, "/alerts_per_second", " alerts/s"),
            cell(python_loop, "/alerts_per_second", " alerts/s"),
            format!(
                "{} of ceiling; {} Python",
                ratios["pipeline_vs_ceiling"].as_f64().map_or("—".to_owned(), |r| format!("{:.0}%", r * 100.0)),
                ratio_cell(&ratios["pipeline_vs_python_loop"], "×"),
            ),
        ],
        [
            "pipeline notification → ilert latency p50 / p95 / p99 (saturated: includes the backlog)".to_owned(),
            format!(
                "{} / {} / {}",
                cell(pipeline, "/latency/p50_ms", " ms"),
                cell(pipeline, "/latency/p95_ms", " ms"),
                cell(pipeline, "/latency/p99_ms", " ms")
            ),
            format!("{} / — / {} (both calls)", cell(ceiling, "/p50_ms", " ms"), cell(ceiling, "/p99_ms", " ms")),
            "—".to_owned(),
            String::new(),
        ],
        [
            "serve under load: peak RSS, CPU per alert".to_owned(),
            format!("{}, {}", kb_as_mb(pipeline, "/peak_rss_kb"), cell(pipeline, "/cpu_ms_per_alert", " ms CPU")),
            "—".to_owned(),
            "—".to_owned(),
            String::new(),
        ],
        [
            format!(
                "fixed rate {}/s for {} s: latency p50 / p99, CPU per alert",
                settings["fixed_rate"]["per_second"], settings["fixed_rate"]["seconds"]
            ),
            format!(
                "{} / {}, {}",
                cell(fixed, "/latency/p50_ms", " ms"),
                cell(fixed, "/latency/p99_ms", " ms"),
                cell(fixed, "/cpu_ms_per_alert", " ms CPU")
            ),
            "—".to_owned(),
            "—".to_owned(),
            String::new(),
        ],
        [
            "template rendering, corpus argument templates".to_owned(),
            cell(templates, "/renders_per_second", " renders/s"),
            "—".to_owned(),
            "—".to_owned(),
            String::new(),
        ],
        [
            format!("serve RSS idle, {} playbooks", settings["memory"]["playbooks"]),
            kb_as_mb(memory, "/idle/rss_kb"),
            "—".to_owned(),
            "—".to_owned(),
            String::new(),
        ],
        [
            format!("serve RSS after {} runs recorded (peak)", settings["memory"]["runs"]),
            format!("{} ({})", kb_as_mb(memory, "/after_runs/rss_kb"), kb_as_mb(memory, "/after_runs/peak_rss_kb")),
            "—".to_owned(),
            "—".to_owned(),
            String::new(),
        ],
        [
            format!("store file after {} runs recorded, per run", settings["memory"]["runs"]),
            format!(
                "{} ({} bytes per run)",
                bytes_as_mb(memory, "/store_bytes"),
                memory.pointer("/store_bytes_per_run").map_or_else(|| "—".to_owned(), Value::to_string)
            ),
            "—".to_owned(),
            "—".to_owned(),
            String::new(),
        ],
    ];
    for row in rows {
        let _ = writeln!(md, "| {} |", row.join(" | "));
    }
    md.push_str(&store_table(report));
    let _ = writeln!(md, "\n| target | measured | met |\n| --- | --- | --- |");
    for target in report["targets"].as_array().into_iter().flatten() {
        let measured = target["measured"].as_f64().map_or("—".to_owned(), pretty);
        let met = match target["met"].as_bool() {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "not measured",
        };
        let _ = writeln!(
            md,
            "| {} | {measured} | {met} |",
            target["target"].as_str().unwrap_or_default()
        );
    }
    let machine = &report["machine"];
    let _ = writeln!(
        md,
        "\nMachine: {}, {} cores, {} MB memory, Linux {}. Python: {}.",
        machine["cpu_model"].as_str().unwrap_or("unknown"),
        machine["cores"],
        machine["memory_mb"],
        machine["kernel"].as_str().unwrap_or_default(),
        settings["python"].as_str().unwrap_or("—"),
    );
    md
}

/// The sustained pipeline by store and instance count: the SQLite row again, then each
/// PostgreSQL run.
fn store_table(report: &Value) -> String {
    let pipeline = &report["pipeline"];
    let mut md = format!(
        "\n| sustained pipeline, {} alerts | instances | throughput | latency p50 / p99 | CPU per alert (all instances) | peak RSS (largest instance) |\n\
         | --- | --- | --- | --- | --- | --- |\n",
        report["settings"]["alerts"]
    );
    let sqlite = store_row("SQLite file", "1", &pipeline["alertsync"]);
    let _ = writeln!(md, "| {} |", sqlite.join(" | "));
    let runs = pipeline["postgres"].as_object().into_iter().flatten();
    for (key, run) in runs {
        let instances = key.strip_prefix("instances_").unwrap_or(key);
        let _ = writeln!(
            md,
            "| {} |",
            store_row("PostgreSQL", instances, run).join(" | ")
        );
    }
    md
}

/// One row of [`store_table`]; a run without numbers says why once, in the throughput cell.
fn store_row(store: &str, instances: &str, run: &Value) -> [String; 6] {
    let throughput = cell(run, "/alerts_per_second", " alerts/s");
    let measured = run.get("alerts_per_second").is_some();
    let or_dash = |text: String| if measured { text } else { "—".to_owned() };
    [
        store.to_owned(),
        instances.to_owned(),
        throughput,
        or_dash(format!(
            "{} / {}",
            cell(run, "/latency/p50_ms", " ms"),
            cell(run, "/latency/p99_ms", " ms")
        )),
        or_dash(cell(run, "/cpu_ms_per_alert", " ms CPU")),
        or_dash(kb_as_mb(run, "/peak_rss_kb")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_show_numbers_errors_and_unavailability() {
        assert_eq!(cell(&json!({"a": 12.345}), "/a", " ms"), "12.3 ms");
        assert_eq!(
            cell(&json!({"error": "boom\nmore"}), "/a", ""),
            "error: boom"
        );
        assert_eq!(
            cell(&json!("unavailable: skipped"), "/a", ""),
            "unavailable: skipped"
        );
        assert_eq!(ratio(Some(1.0), Some(0.0)), None);
        assert_eq!(ratio(Some(3.0), Some(2.0)), Some(1.5));
    }

    #[test]
    fn store_rows_say_why_a_run_has_no_numbers() {
        let run = json!({"alerts_per_second": 512.0, "cpu_ms_per_alert": 0.5,
            "peak_rss_kb": 20480, "latency": {"p50_ms": 3.0, "p99_ms": 12.0}});
        assert_eq!(
            store_row("PostgreSQL", "3", &run),
            [
                "PostgreSQL",
                "3",
                "512 alerts/s",
                "3.00 ms / 12.0 ms",
                "0.50 ms CPU",
                "20.0 MB"
            ]
        );
        let absent = store_row(
            "PostgreSQL",
            "1",
            &json!("not measured (give --postgres URL)"),
        );
        assert_eq!(absent[2], "not measured (give --postgres URL)");
        assert_eq!(absent[3..], ["—", "—", "—"]);
    }
}
