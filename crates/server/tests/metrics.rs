//! `/metrics` of the running service: the whole answer is valid Prometheus text, and the
//! counters move when runs happen — the service started in process against the simulated
//! Sekoia.io and ilert, running the shipped forward-alerts-to-ilert playbook.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alertsync_config::Config;
use alertsync_engine::Cancellation;
use alertsync_engine::http::HttpClient;
use alertsync_server::serve::{ServeOptions, serve};
use alertsync_sim::{Fault, Route, SimConfig, Simulator};
use axum::http::Method;
use serde_json::{Value, json};

/// How long the test waits for what it expects.
const PATIENCE: Duration = Duration::from_secs(90);
/// The reconnect counter of the live notifications.
const LIVE_RECONNECTS: &str = "alertsync_live_reconnects_total";

/// The shipped playbook.
fn playbook_file() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/playbooks/forward-alerts-to-ilert.json")
        .canonicalize()
        .expect("the shipped playbook exists")
}

/// The id the service gives the shipped playbook: its `uuid`.
fn playbook_id() -> String {
    let text = std::fs::read_to_string(playbook_file()).expect("the playbook is readable");
    let playbook: Value = serde_json::from_str(&text).expect("the playbook is JSON");
    playbook["uuid"]
        .as_str()
        .expect("the playbook has a uuid")
        .to_owned()
}

fn config(simulator: &Simulator, dir: &Path) -> Config {
    let defaults = SimConfig::default();
    let text = format!(
        "[[account]]\nname = \"sekoia\"\nmodule = \"sekoia.io\"\nbase_url = {}\napi_key = {}\n\n\
         [[account]]\nname = \"ilert\"\nmodule = \"ilert\"\nintegration_url = {}\nintegration_key = {}\n\n\
         [[playbook]]\nfile = {}\n\n[store]\npath = \"data/alertsync.db\"\n",
        json!(simulator.urls().sekoia),
        json!(defaults.api_key),
        json!(simulator.urls().ilert),
        json!(
            defaults
                .ilert_integration_keys
                .first()
                .cloned()
                .unwrap_or_default()
        ),
        json!(playbook_file()),
    );
    let path = dir.join("alertsync.toml");
    std::fs::write(&path, text).expect("the configuration is written");
    Config::load(&path, &alertsync_integrations::registry()).expect("the configuration loads")
}

/// One sample line: name, labels, value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the Prometheus text format strictly: every line is empty, a `# HELP`/`# TYPE`
/// line or another comment, or a sample of a family whose `# TYPE` came before it (with the
/// `_bucket`/`_sum`/`_count` series of histograms and summaries).
fn parse(text: &str) -> Result<Vec<Sample>, String> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let place = |why: &str| format!("line {}: {why}: {line:?}", number + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.trim_start().splitn(3, ' ');
            match words.next() {
                Some("TYPE") => {
                    let name = words.next().ok_or_else(|| place("TYPE without a name"))?;
                    check_name(name).map_err(|why| place(&why))?;
                    let kind = words.next().ok_or_else(|| place("TYPE without a type"))?;
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(place("unknown type"));
                    }
                    if types.insert(name.to_owned(), kind.to_owned()).is_some() {
                        return Err(place("a second TYPE for the same family"));
                    }
                }
                Some("HELP") => {
                    let name = words.next().ok_or_else(|| place("HELP without a name"))?;
                    check_name(name).map_err(|why| place(&why))?;
                }
                _ => {}
            }
            continue;
        }
        let sample = parse_sample(line).map_err(|why| place(&why))?;
        let family = family_of(&sample.name, &types)
            .ok_or_else(|| place("a sample of a family with no TYPE before it"))?;
        if family.starts_with("alertsync_") || sample.name.starts_with("alertsync_") {
            samples.push(sample);
        } else {
            return Err(place("a metric without the alertsync_ prefix"));
        }
    }
    Ok(samples)
}

fn family_of<'a>(name: &'a str, types: &BTreeMap<String, String>) -> Option<&'a str> {
    if types.contains_key(name) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = name.strip_suffix(suffix)?;
        types
            .get(base)
            .filter(|kind| *kind == "histogram" || (*kind == "summary" && *suffix != "_bucket"))
            .map(|_| base)
    })
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("bad metric name {name:?}"))
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("a sample without a value")?;
    let name = &line[..name_end];
    check_name(name)?;
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        let mut consumed = None;
        loop {
            match chars.peek() {
                Some((i, '}')) => {
                    consumed = Some(i + 1);
                    break;
                }
                None => break,
                _ => {}
            }
            let mut label = String::new();
            while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=') {
                label.push(c);
            }
            check_name(&label).map_err(|_| format!("bad label name {label:?}"))?;
            if chars.next().map(|(_, c)| c) != Some('=')
                || chars.next().map(|(_, c)| c) != Some('"')
            {
                return Err(format!("label {label} without a quoted value"));
            }
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some((_, '"')) => break,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        _ => return Err("a bad escape in a label value".to_owned()),
                    },
                    Some((_, c)) => value.push(c),
                    None => return Err("an unterminated label value".to_owned()),
                }
            }
            if labels.insert(label.clone(), value).is_some() {
                return Err(format!("label {label} twice"));
            }
            if let Some((_, ',')) = chars.peek() {
                chars.next();
            }
        }
        let consumed = consumed.ok_or("unterminated labels")?;
        rest = &inner[consumed..];
    }
    let mut fields = rest
        .strip_prefix(' ')
        .ok_or("no space before the value")?
        .split(' ');
    let value = match fields.next().ok_or("no value")? {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        text => text
            .parse::<f64>()
            .map_err(|_| format!("bad value {text:?}"))?,
    };
    if let Some(timestamp) = fields.next() {
        timestamp
            .parse::<i64>()
            .map_err(|_| format!("bad timestamp {timestamp:?}"))?;
    }
    if fields.next().is_some() {
        return Err("text after the timestamp".to_owned());
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// The sum of the samples named `name` whose labels include `labels`.
fn total(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

async fn scrape(http: &HttpClient, address: SocketAddr) -> (String, Vec<Sample>) {
    let request = http
        .request(Method::GET, &format!("http://{address}/metrics"))
        .build()
        .expect("a request");
    let response = http.send(request, "GET /metrics").await.expect("an answer");
    assert_eq!(response.status(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain"),
        "content type {content_type}"
    );
    let text = response.text().await.expect("a body");
    let samples = parse(&text).unwrap_or_else(|why| panic!("{why}\n---\n{text}"));
    (text, samples)
}

/// Scrapes until `done` holds for the samples, and returns them.
async fn wait_for(
    http: &HttpClient,
    address: SocketAddr,
    what: &str,
    done: impl Fn(&[Sample]) -> bool,
) -> (String, Vec<Sample>) {
    let started = Instant::now();
    loop {
        let (text, samples) = scrape(http, address).await;
        if done(&samples) {
            return (text, samples);
        }
        assert!(
            started.elapsed() < PATIENCE,
            "waited in vain for {what}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_as_prometheus_text_and_move_when_runs_happen() {
    let simulator = alertsync_sim::start(SimConfig::default())
        .await
        .expect("the simulator starts");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = config(&simulator, dir.path());
    let stop = Cancellation::new();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let service = tokio::spawn(serve(
        config,
        Arc::new(alertsync_integrations::registry()),
        ServeOptions {
            listen: "127.0.0.1:0".to_owned(),
            grace: Duration::from_secs(5),
        },
        stop.clone(),
        move |address| {
            let _ = ready_tx.send(address);
        },
    ));
    let address = ready_rx.await.expect("the service starts");
    let http = HttpClient::new().expect("an HTTP client");
    let playbook = playbook_id();
    let runs = [("playbook", playbook.as_str()), ("status", "succeeded")];

    // Before any alert: valid text, the live connection comes up and is shown.
    wait_for(&http, address, "the live connection", |samples| {
        total(
            samples,
            "alertsync_live_connected",
            &[("account", "sekoia")],
        ) == 1.0
    })
    .await;
    let (_, before) = scrape(&http, address).await;
    let runs_before = total(&before, "alertsync_runs_total", &runs);
    let nodes_before = total(&before, "alertsync_node_duration_seconds_count", &[]);

    simulator.create_alert(Value::Null);
    let (text, samples) = wait_for(&http, address, "a succeeded run", |samples| {
        total(samples, "alertsync_runs_total", &runs) > runs_before
    })
    .await;
    assert_eq!(
        total(&samples, "alertsync_runs_total", &runs),
        runs_before + 1.0
    );
    assert!(
        total(&samples, "alertsync_node_duration_seconds_count", &[]) > nodes_before,
        "node durations did not move:\n{text}"
    );
    assert!(
        total(
            &samples,
            "alertsync_node_duration_seconds_count",
            &[("module", "ilert"), ("status", "succeeded")]
        ) >= 1.0,
        "no ilert node duration:\n{text}"
    );
    assert!(
        total(
            &samples,
            "alertsync_deliveries_total",
            &[("destination", "ilert"), ("outcome", "succeeded")]
        ) >= 1.0,
        "no ilert delivery counted:\n{text}"
    );
    assert!(
        total(
            &samples,
            "alertsync_deliveries_total",
            &[("destination", "sekoia.io"), ("outcome", "succeeded")]
        ) >= 1.0,
        "the alert read is not counted for Sekoia.io:\n{text}"
    );
    assert_eq!(
        total(
            &samples,
            "alertsync_deliveries_total",
            &[("destination", "ilert"), ("outcome", "succeeded")]
        ),
        simulator.ilert_alerts().len() as f64,
        "ilert deliveries are what ilert accepted, not the alert reads of its action:\n{text}"
    );
    assert!(
        text.contains("# TYPE alertsync_queue_runs gauge"),
        "no queue depth:\n{text}"
    );
    assert_eq!(total(&samples, "alertsync_healthy", &[]), 1.0, "{text}");
    assert_eq!(
        total(
            &samples,
            "alertsync_health_problem",
            &[("problem", "dead_letters")]
        ),
        0.0,
        "every health problem is a gauge, 0 while it does not hold:\n{text}"
    );
    assert!(
        text.contains("# HELP alertsync_runs_total "),
        "runs are not described:\n{text}"
    );
    for label in samples.iter().flat_map(|s| s.labels.values()) {
        assert!(
            !label.contains("sim-api-key") && !label.contains("sim-ilert-key"),
            "a key in a label"
        );
    }

    // ilert fails once: the delivery is retried, and the retry counted.
    let retries = [("destination", "ilert")];
    let retries_before = total(&samples, "alertsync_retries_total", &retries);
    simulator.inject_fault(Fault::status(Route::Ilert, 503));
    simulator.create_alert(Value::Null);
    let (_, samples) = wait_for(&http, address, "a second succeeded run", |samples| {
        total(samples, "alertsync_runs_total", &runs) >= runs_before + 2.0
    })
    .await;
    assert!(total(&samples, "alertsync_retries_total", &retries) > retries_before);

    // The live connection drops: the reconnect is counted and it comes back.
    simulator.drop_live_connections();
    wait_for(&http, address, "a counted reconnect", |samples| {
        total(samples, LIVE_RECONNECTS, &[("account", "sekoia")]) >= 1.0
            && total(
                samples,
                "alertsync_live_connected",
                &[("account", "sekoia")],
            ) == 1.0
    })
    .await;

    stop.cancel();
    let _ = service.await;
    simulator.shutdown().await;
}
