//! A service forwarding Sekoia.io alerts to ilert, and what ilert received: the
//! configuration the delivery tests share, waiting on the simulator, and reading ilert's
//! accepted posts per alert.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use alertsync_sim::{Receiver, Simulator};
use serde_json::{Value, json};

use super::{ConfigDir, ILERT_KEY, SEKOIA_KEY, shipped_playbook, sim_accounts};

/// How long a test waits for what it expects before failing.
pub const PATIENCE: Duration = Duration::from_secs(120);
/// How often the simulator is looked at while waiting.
pub const POLL: Duration = Duration::from_millis(50);
/// How long nothing more may reach ilert before a test counts what it received.
pub const QUIET: Duration = Duration::from_millis(1500);
/// Deliveries retried quickly, and no quota in the way unless a test sets one.
pub const UNLIMITED: u32 = 1_000_000;

/// The `[[playbook]]` entry of the shipped Alert Created / Alert Status Changed → ilert
/// playbook.
pub fn forward_to_ilert() -> String {
    shipped_playbook("forward-alerts-to-ilert.json")
}

/// `[delivery]` with fast retries.
pub fn delivery(workers: usize, ilert_per_minute: u32) -> String {
    format!(
        "max_attempts = 30\ninitial_delay_ms = 20\nmax_delay_ms = 2000\n\
         ilert_rate_per_minute = {ilert_per_minute}\nworkers = {workers}\n"
    )
}

/// A configuration directory: both accounts on the simulator, `playbooks`, a store in
/// `data/` and `delivery`.
pub fn service_dir(sim: &Simulator, playbooks: &str, delivery: &str) -> ConfigDir {
    ConfigDir::new(&format!(
        "{accounts}\n{playbooks}\n[store]\npath = \"data/alertsync.db\"\n\n[delivery]\n{delivery}",
        accounts = sim_accounts(sim, SEKOIA_KEY, ILERT_KEY),
    ))
}

/// Polls `check` until it gives a value; `Err` says where things stand, for the failure
/// message after `limit`.
pub async fn wait_for<T>(
    what: &str,
    limit: Duration,
    poll: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    loop {
        match check() {
            Ok(value) => return value,
            Err(state) if start.elapsed() >= limit => {
                panic!("gave up after {limit:?} waiting for {what}; {state}")
            }
            Err(_) => tokio::time::sleep(poll).await,
        }
    }
}

/// Waits until the service listens to the simulator's live notifications: an alert raised
/// before that is not a change the service has to see (its first start back-fills from
/// "now").
pub async fn live_connected(sim: &Simulator) {
    wait_for("the live notifications to connect", PATIENCE, POLL, || {
        (sim.live_connection_count() > 0)
            .then_some(())
            .ok_or_else(|| "no live connection yet".to_owned())
    })
    .await;
}

/// Waits until ilert has received nothing new for [`QUIET`], so that counts taken next are
/// final (a late duplicate would otherwise go unseen).
pub async fn ilert_quiet(sim: &Simulator) {
    quiet("ilert", || sim.requests(Receiver::Ilert).len()).await;
}

/// Waits until `count` (of requests, deliveries, ...) has not changed for [`QUIET`].
pub async fn quiet(what: &str, mut count: impl FnMut() -> usize) {
    let mut seen = count();
    let mut since = Instant::now();
    let start = Instant::now();
    while since.elapsed() < QUIET {
        assert!(start.elapsed() < PATIENCE, "{what} never went quiet");
        tokio::time::sleep(POLL).await;
        let now = count();
        if now != seen {
            seen = now;
            since = Instant::now();
        }
    }
}

/// Polls `check` until it gives a value; `Err` says where things stand, for the failure
/// message after `limit`.
pub async fn wait_for_async<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    loop {
        match check().await {
            Ok(value) => return value,
            Err(state) if start.elapsed() >= limit => {
                panic!("gave up after {limit:?} waiting for {what}; {state}")
            }
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// Waits until every alert of `uuids` is in ilert, then until ilert is quiet (so a late
/// duplicate is counted); returns how long after `started` the last one arrived and how
/// many deliveries were repeats.
pub async fn all_in_ilert(
    sim: &Simulator,
    uuids: &[String],
    started: Instant,
) -> (Duration, usize) {
    wait_for("every alert in ilert", PATIENCE, POLL, || {
        all_posted(sim, uuids, 1)
    })
    .await;
    let drained = started.elapsed();
    ilert_quiet(sim).await;
    (drained, duplicates(&ilert_posts(sim), uuids))
}

/// The alerts ilert accepted (2xx), by Sekoia.io alert uuid: the status each forwarded
/// alert carried, in the order ilert handled them.
pub fn ilert_posts(sim: &Simulator) -> HashMap<String, Vec<String>> {
    let mut posts: HashMap<String, Vec<String>> = HashMap::new();
    for request in sim.requests(Receiver::Ilert) {
        if !(200..300).contains(&request.status) {
            continue;
        }
        let Some(uuid) = request.body.get("uuid").and_then(Value::as_str) else {
            continue;
        };
        let status = request.body.get("status").and_then(Value::as_str);
        posts
            .entry(uuid.to_owned())
            .or_default()
            .push(status.unwrap_or_default().to_owned());
    }
    posts
}

/// `Ok` once every alert of `uuids` has at least `each` accepted posts.
pub fn all_posted(
    sim: &Simulator,
    uuids: &[String],
    each: usize,
) -> Result<HashMap<String, Vec<String>>, String> {
    let posts = ilert_posts(sim);
    let missing = uuids
        .iter()
        .filter(|u| posts.get(*u).map_or(0, Vec::len) < each)
        .count();
    if missing == 0 {
        Ok(posts)
    } else {
        Err(format!(
            "{missing} of {} alerts have fewer than {each} accepted ilert posts",
            uuids.len()
        ))
    }
}

/// Accepted ilert posts in all.
pub fn accepted_count(sim: &Simulator) -> usize {
    sim.requests(Receiver::Ilert)
        .iter()
        .filter(|r| (200..300).contains(&r.status))
        .count()
}

/// Where a forwarded status is in an alert's life: pending, then acknowledged, then closed.
pub fn stage(status: &str) -> u8 {
    match status {
        "pending" => 0,
        "acknowledged" => 1,
        "closed" => 2,
        other => panic!("unexpected forwarded status {other:?}"),
    }
}

pub fn in_life_order(statuses: &[String]) -> bool {
    statuses.windows(2).all(|w| stage(&w[0]) <= stage(&w[1]))
}

pub fn uuid_of(alert: &Value) -> String {
    alert["uuid"]
        .as_str()
        .expect("a simulated alert has a uuid")
        .to_owned()
}

/// Posts beyond the first, over `uuids`.
pub fn duplicates(posts: &HashMap<String, Vec<String>>, uuids: &[String]) -> usize {
    uuids
        .iter()
        .map(|u| posts.get(u).map_or(0, Vec::len).saturating_sub(1))
        .sum()
}

/// The id of a [`webhook_playbook`], and the token of its webhook.
pub const WEBHOOK_PLAYBOOK_ID: &str = "5d6f0c2e-7b1a-4e39-9c4d-2f8a6b3e1d70";
pub const WEBHOOK_TOKEN: &str = "hook-token-for-tests";

/// The playbook `id` run by its webhook: Manual Trigger → ilert Trigger Alert of the alert
/// `alert_uuid` (a template) names.
pub fn webhook_playbook(id: &str, alert_uuid: &str) -> String {
    on_demand_playbook(
        id,
        "Forward an alert to ilert on demand",
        json!({
            "name": "Trigger Alert",
            "arguments": {"alert_uuid": alert_uuid},
            "action_uuid": "7675796a-393d-42f2-9648-709483a22bc0",
            "module_uuid": "4970d347-495b-4f40-8e66-244abec12d8b",
        }),
    )
}

/// The playbook `id` named `name`: a Manual Trigger (node `1`, its webhook) → `action`
/// (node `2`: its name, arguments, action and module uuids).
pub fn on_demand_playbook(id: &str, name: &str, mut action: Value) -> String {
    action["type"] = json!("action");
    action["outputs"] = json!({"default": []});
    action["position"] = json!({"x": 0, "y": 160});
    action["module_configuration_uuid"] = Value::Null;
    json!({
        "name": name,
        "uuid": id,
        "nodes": {
            "1": {
                "name": "Manual Trigger",
                "type": "trigger",
                "outputs": {"default": ["2"]},
                "position": {"x": 0, "y": 0},
                "module_uuid": "92d8bb47-7c51-445d-81de-ae04edbb6f0a",
                "trigger_uuid": "fc26eb9f-b272-4c15-b3bf-ace397c0dc57",
                "trigger_configuration_uuid": null
            },
            "2": action
        }
    })
    .to_string()
}
