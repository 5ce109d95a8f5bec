//! Seeded generator of realistic Sekoia.io alerts, comments and identifiers.

use rand::distr::Alphanumeric;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::statuses::PENDING;
use crate::clock;

/// A detection rule of the catalogue the generator draws from.
struct RuleTemplate {
    name: &'static str,
    description: &'static str,
    severity: i64,
    kind: &'static str,
    pattern: &'static str,
    category: &'static str,
    value: &'static str,
    ttp: (&'static str, &'static str),
}

const RULES: [RuleTemplate; 8] = [
    RuleTemplate {
        name: "Cobalt Strike Beacon Traffic",
        description: "Network traffic matching a Cobalt Strike beacon profile",
        severity: 80,
        kind: "cti",
        pattern: "[network-traffic:dst_ref.value = '185.220.101.4']",
        category: "malicious-traffic",
        value: "rat-traffic",
        ttp: ("T1071", "Application Layer Protocol"),
    },
    RuleTemplate {
        name: "Suspicious PowerShell Encoded Command",
        description: "PowerShell started with a base64 encoded command line",
        severity: 60,
        kind: "sigma",
        pattern: "selection:\n  process.command_line|contains: ' -enc '\ncondition: selection",
        category: "intrusions",
        value: "system-compromise",
        ttp: ("T1059.001", "PowerShell"),
    },
    RuleTemplate {
        name: "Brute Force On Windows Logon",
        description: "Many failed logons followed by a success for the same account",
        severity: 50,
        kind: "sigma",
        pattern: "selection:\n  event.code: 4625\ncondition: selection | count() by user.name > 20",
        category: "intrusion-attempts",
        value: "login-attempts",
        ttp: ("T1110", "Brute Force"),
    },
    RuleTemplate {
        name: "Known Phishing Domain Resolution",
        description: "A host resolved a domain listed as phishing infrastructure",
        severity: 40,
        kind: "cti",
        pattern: "[domain-name:value = 'login-microsoftonline.support']",
        category: "fraud",
        value: "phishing",
        ttp: ("T1566", "Phishing"),
    },
    RuleTemplate {
        name: "Ransomware File Extension Burst",
        description: "Many files renamed with a known ransomware extension",
        severity: 95,
        kind: "sigma",
        pattern: "selection:\n  file.extension: ['lockbit', 'akira']\ncondition: selection | count() > 50",
        category: "malicious-code",
        value: "ransomware",
        ttp: ("T1486", "Data Encrypted for Impact"),
    },
    RuleTemplate {
        name: "Outbound SMB To Internet",
        description: "SMB traffic towards a public address",
        severity: 30,
        kind: "sigma",
        pattern: "selection:\n  destination.port: 445\nfilter:\n  destination.ip|cidr: 10.0.0.0/8\ncondition: selection and not filter",
        category: "information-gathering",
        value: "scanner",
        ttp: ("T1021.002", "SMB/Windows Admin Shares"),
    },
    RuleTemplate {
        name: "Impossible Travel Sign-In",
        description: "Two sign-ins of one account from distant countries within an hour",
        severity: 45,
        kind: "anomaly",
        pattern: "user.name by source.geo.country_iso_code within 1h",
        category: "intrusion-attempts",
        value: "exploit-known-vuln",
        ttp: ("T1078", "Valid Accounts"),
    },
    RuleTemplate {
        name: "Mimikatz Credential Dumping",
        description: "Process access to lsass.exe with rights typical of credential dumping",
        severity: 90,
        kind: "sigma",
        pattern: "selection:\n  winlog.event_data.TargetImage|endswith: '\\\\lsass.exe'\ncondition: selection",
        category: "intrusions",
        value: "privileged-compromise",
        ttp: ("T1003.001", "LSASS Memory"),
    },
];

const ENTITY_NAMES: [&str; 4] = [
    "Headquarters",
    "Paris Datacenter",
    "Cloud Workloads",
    "Branch Offices",
];
const ADVERSARIES: [&str; 5] = [
    "APT28",
    "FIN7",
    "Lazarus Group",
    "LockBit",
    "Scattered Spider",
];
const HOSTS: [&str; 6] = [
    "WKS-0142",
    "SRV-DC01",
    "SRV-FILE02",
    "LAPTOP-JDOE",
    "web-front-3",
    "vpn-gw-1",
];
const VERDICTS: [&str; 3] = ["True positive", "False positive", "Benign true positive"];
const CUSTOM_STATUSES: [&str; 3] = ["Triage", "Waiting for customer", "Escalated"];

/// Draws everything random about alerts from one seeded generator.
pub(crate) struct AlertGenerator {
    rng: StdRng,
    community_uuid: String,
    operator_uuid: String,
    entities: Vec<(String, &'static str)>,
    rule_uuids: Vec<String>,
}

impl AlertGenerator {
    pub(crate) fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let community_uuid = random_uuid(&mut rng);
        let operator_uuid = random_uuid(&mut rng);
        let entities = ENTITY_NAMES
            .iter()
            .map(|name| (random_uuid(&mut rng), *name))
            .collect();
        let rule_uuids = RULES.iter().map(|_| random_uuid(&mut rng)).collect();
        Self {
            rng,
            community_uuid,
            operator_uuid,
            entities,
            rule_uuids,
        }
    }

    pub(crate) fn community_uuid(&self) -> &str {
        &self.community_uuid
    }

    /// The identity behind the simulator's API key.
    pub(crate) fn operator_uuid(&self) -> &str {
        &self.operator_uuid
    }

    pub(crate) fn uuid(&mut self) -> String {
        random_uuid(&mut self.rng)
    }

    /// `AL` followed by 10 alphanumerics.
    pub(crate) fn short_id(&mut self) -> String {
        let tail: String = (0..10)
            .map(|_| char::from(self.rng.sample(Alphanumeric)))
            .collect();
        format!("AL{tail}")
    }

    pub(crate) fn ip(&mut self) -> String {
        let octets: [u8; 4] = self.rng.random();
        format!(
            "{}.{}.{}.{}",
            octets[0].max(1),
            octets[1],
            octets[2],
            octets[3].max(1)
        )
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        // Every catalogue is a non-empty constant.
        &items[self.rng.random_range(0..items.len())]
    }

    /// A new alert created at `created_nanos`, in the Pending status.
    pub(crate) fn alert(&mut self, created_nanos: i128) -> Value {
        let rule_index = self.rng.random_range(0..RULES.len());
        let rule = &RULES[rule_index];
        let rule_uuid = self.rule_uuids[rule_index].clone();
        let entity_index = self.rng.random_range(0..self.entities.len());
        let (entity_uuid, entity_name) = self.entities[entity_index].clone();
        let urgency = (rule.severity + self.rng.random_range(-15..=10)).clamp(0, 100);
        let first_seen =
            created_nanos - i128::from(self.rng.random_range(60..7_200_u32)) * 1_000_000_000;
        let last_seen =
            created_nanos - i128::from(self.rng.random_range(0..60_u32)) * 1_000_000_000;
        let created_at = clock::seconds(created_nanos);
        let source = self.ip();
        let target = format!(
            "10.{}.{}.{}",
            self.rng.random::<u8>(),
            self.rng.random::<u8>(),
            self.rng.random_range(1..255_u8)
        );
        let host = *self.pick(&HOSTS);
        let adversary = *self.pick(&ADVERSARIES);
        let event_uuids: Vec<String> = (0..self.rng.random_range(1..=4))
            .map(|_| self.uuid())
            .collect();
        let similar = self.rng.random_range(0..40_u32);
        let kill_chain = self
            .rng
            .random_bool(0.5)
            .then(|| format!("KC{}", self.rng.random_range(1..=7_u8)));
        let verdict_uuid = self.uuid();
        let custom_status_uuid = self.uuid();
        let verdict = *self.pick(&VERDICTS);
        let custom_status = *self.pick(&CUSTOM_STATUSES);
        let asset_uuid = self.uuid();
        let intake_uuid = self.uuid();
        let history_uuid = self.uuid();
        let countermeasures = self.countermeasures(created_at);
        json!({
            "uuid": self.uuid(),
            "short_id": self.short_id(),
            "title": format!("{} on {host}", rule.name),
            "created_at": created_at,
            "updated_at": created_at,
            "first_seen_at": clock::iso_micros(first_seen),
            "last_seen_at": clock::iso_micros(last_seen),
            "community_uuid": self.community_uuid,
            "entity": {"uuid": entity_uuid, "name": entity_name},
            "urgency": {
                "severity": rule.severity,
                "value": urgency,
                "criticity": self.rng.random_range(0..=100_u8),
                "current_value": urgency,
                "display": urgency_display(urgency),
            },
            "alert_type": {"category": rule.category, "value": rule.value},
            "status": PENDING.to_json(),
            "rule": {
                "uuid": rule_uuid,
                "name": rule.name,
                "description": rule.description,
                "severity": rule.severity,
                "type": rule.kind,
                "pattern": rule.pattern,
            },
            "source": source,
            "target": target,
            "details": format!("{} detected between {source} and {target} (host {host}).", rule.description),
            "similar": similar,
            "kill_chain_short_id": kill_chain,
            "is_incident": self.rng.random_bool(0.1),
            "ttps": [{
                "id": format!("attack-pattern--{}", self.uuid()),
                "type": "attack-pattern",
                "name": rule.ttp.1,
                "external_id": rule.ttp.0,
            }],
            "adversaries": [{
                "id": format!("intrusion-set--{}", self.uuid()),
                "type": "intrusion-set",
                "name": adversary,
            }],
            "assets": [asset_uuid],
            "intake_uuids": [intake_uuid],
            "event_uuids": event_uuids,
            "comments": [],
            "countermeasures": countermeasures,
            "history": [{
                "uuid": history_uuid,
                "entry_type": "alert",
                "alert": {"status": PENDING.name},
                "created_at": created_at,
                "created_by": rule_uuid,
                "created_by_type": "application",
            }],
            "cases": [],
            "number_of_unseen_comments": 0,
            "number_of_total_comments": 0,
            "created_by": rule_uuid,
            "created_by_type": "application",
            "updated_by": rule_uuid,
            "updated_by_type": "application",
            "custom_status_uuid": custom_status_uuid,
            "custom_status": {"uuid": custom_status_uuid, "label": custom_status, "stage": "open"},
            "verdict_uuid": verdict_uuid,
            "verdict": {"uuid": verdict_uuid, "label": verdict},
        })
    }

    fn countermeasures(&mut self, created_at: i64) -> Vec<Value> {
        if !self.rng.random_bool(0.5) {
            return Vec::new();
        }
        vec![json!({
            "uuid": self.uuid(),
            "course_of_action_name": "Block the source address at the perimeter firewall",
            "description": "Add the source address to the deny list of the perimeter firewall.",
            "status": "pending",
            "relevance": self.rng.random_range(1..=100_u8),
            "created_at": created_at,
            "created_by": self.operator_uuid,
            "created_by_type": "application",
        })]
    }
}

/// The urgency label Sekoia.io shows for a 0..100 value.
pub(crate) fn urgency_display(value: i64) -> &'static str {
    match value {
        ..20 => "Low",
        20..40 => "Moderate",
        40..60 => "High",
        60..80 => "Major",
        _ => "Urgent",
    }
}

fn random_uuid(rng: &mut StdRng) -> String {
    uuid::Builder::from_random_bytes(rng.random())
        .into_uuid()
        .to_string()
}

impl AlertGenerator {
    /// ECS-like events (flat dotted keys, as search results show them) for an alert, or
    /// unrelated events when `alert` is `None`.
    pub(crate) fn events(&mut self, alert: Option<&Value>) -> Vec<Value> {
        let event_ids: Vec<String> = match alert.and_then(|alert| alert["event_uuids"].as_array()) {
            Some(ids) => ids
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            None => (0..3).map(|_| self.uuid()).collect(),
        };
        let field = |name: &str| {
            alert
                .and_then(|alert| alert[name].as_str())
                .map(str::to_owned)
        };
        let short_ids: Vec<String> = field("short_id").into_iter().collect();
        let source_ip = field("source").unwrap_or_else(|| self.ip());
        let destination_ip = field("target").unwrap_or_else(|| self.ip());
        event_ids
            .into_iter()
            .map(|event_id| {
                let host = *self.pick(&HOSTS);
                let user = format!("user{:03}", self.rng.random_range(1..500_u16));
                let digest: [u8; 32] = self.rng.random();
                let sha256: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
                let seconds_ago = i128::from(self.rng.random_range(0..3_600_u32));
                let domain = *self.pick(&["cdn-update.net", "files.example.org", "login-microsoftonline.support"]);
                json!({
                    "event.id": event_id,
                    "timestamp": clock::iso_micros(clock::now_nanos() - seconds_ago * 1_000_000_000),
                    "message": format!("{user} on {host} connected from {source_ip} to {destination_ip}"),
                    "alert_short_ids": short_ids,
                    "event.dialect": "windows",
                    "source.ip": source_ip,
                    "source.port": self.rng.random_range(1_024..65_535_u16),
                    "destination.ip": destination_ip,
                    "destination.port": *self.pick(&[22_u16, 80, 443, 445, 3389]),
                    "host.hostname": host,
                    "host.name": host,
                    "user.name": user,
                    "url.full": format!("https://{domain}/download/{}.bin", &sha256[..8]),
                    "url.domain": domain,
                    "dns.question.name": domain,
                    "file.name": format!("{}.bin", &sha256[..8]),
                    "file.hash.sha256": sha256,
                    "process.name": *self.pick(&["powershell.exe", "rundll32.exe", "svchost.exe", "curl"]),
                    "sekoiaio.customer.community_uuid": self.community_uuid,
                })
            })
            .collect()
    }
}
