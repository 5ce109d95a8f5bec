//! Deployment: the `[[playbook]]` entries of the configuration, loaded, validated and
//! indexed by what starts them. A service refuses to start on any problem and lists them
//! all, each naming the playbook file and the configuration line.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use alertsync_config::{Config, PlaybookEntry};
use alertsync_engine::RunExecutor;
use alertsync_integrations::sekoia::live::ChangeKind;
use alertsync_integrations::sekoia::triggers::SettingsError;
use alertsync_integrations::sekoia::triggers::cases::CaseChangeKind;
use alertsync_integrations::sekoia::triggers::feeds::{FeedKind, FeedSettings};
use alertsync_integrations::sekoia::triggers::threshold::{self, ThresholdSettings};
use alertsync_integrations::{cron, ilert, sekoia};
use alertsync_spl::{NodeKind, Playbook, parse_playbook};
use serde_json::Value;

use alertsync_integrations::cron::Schedule;

/// The playbooks a service runs.
pub struct Deployment {
    pub playbooks: Vec<Arc<DeployedPlaybook>>,
}

impl Deployment {
    /// The enabled playbooks.
    pub fn enabled(&self) -> impl Iterator<Item = &Arc<DeployedPlaybook>> {
        self.playbooks.iter().filter(|p| p.enabled)
    }

    /// The playbook with this id.
    pub fn get(&self, id: &str) -> Option<&Arc<DeployedPlaybook>> {
        self.playbooks.iter().find(|p| p.id == id)
    }
}

/// One playbook, ready to run.
pub struct DeployedPlaybook {
    /// The playbook's `uuid`, else its file name without extension: the id webhooks and the
    /// API use.
    pub id: String,
    pub name: String,
    pub file: PathBuf,
    pub playbook: Arc<Playbook>,
    /// Node id → account name, from the configuration.
    pub bindings: BTreeMap<String, String>,
    /// The token its webhook triggers accept (Bearer, or the password of HTTP Basic).
    pub webhook_token: Option<String>,
    pub enabled: bool,
    pub triggers: Vec<TriggerNode>,
}

impl fmt::Debug for DeployedPlaybook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeployedPlaybook")
            .field("id", &self.id)
            .field("file", &self.file)
            .field("enabled", &self.enabled)
            .field("triggers", &self.triggers)
            .finish_non_exhaustive()
    }
}

/// A trigger node and what makes it fire.
#[derive(Debug, Clone)]
pub struct TriggerNode {
    pub node_id: String,
    pub kind: TriggerKind,
    /// The trigger's configuration (`rule_filter`, `cron`, ...).
    pub arguments: Value,
    /// Whether the playbook may read the alert file an alert trigger writes: somewhere it
    /// names `file_path`. When it does not, the file (a directory and a file created and
    /// removed per run) is not written and the event has no `file_path`.
    pub alert_file_read: bool,
}

impl TriggerNode {
    /// The node's arguments as `read` takes them; an error names the playbook file and the
    /// node.
    pub fn settings<T, E>(
        &self,
        playbook: &DeployedPlaybook,
        read: impl FnOnce(&Value) -> Result<T, E>,
    ) -> Result<T, TriggerArgumentsError>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        read(&self.arguments).map_err(|why| TriggerArgumentsError {
            file: playbook.file.clone(),
            node_id: self.node_id.clone(),
            why: why.into(),
        })
    }
}

/// Why a trigger node's arguments cannot be read, in the playbook file it comes from.
#[derive(Debug, thiserror::Error)]
#[error("{} node {node_id}: {why}", file.display())]
pub struct TriggerArgumentsError {
    file: PathBuf,
    node_id: String,
    #[source]
    why: Box<dyn std::error::Error + Send + Sync>,
}

/// What makes a trigger node fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerKind {
    /// A Sekoia.io alert change seen live or by back-fill.
    Alert(AlertTrigger),
    /// A call to the playbook's webhook.
    Webhook(Webhook),
    /// A schedule.
    Cron,
    /// A Sekoia.io case change seen live.
    Case(CaseChangeKind),
    /// The pages of an intelligence feed.
    Feed(FeedKind),
}

/// What a webhook trigger is called with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Webhook {
    /// Manual Trigger: `{"alert_uuid": ...}`.
    Manual,
    /// Alert Changed in ilert: the body of ilert's webhook alert action.
    IlertAlertChanged,
}

impl Webhook {
    /// The trigger, as problems name it.
    fn described(self) -> &'static str {
        match self {
            Self::Manual => "a Manual Trigger",
            Self::IlertAlertChanged => "an Alert Changed in ilert trigger",
        }
    }
}

/// Which alert changes an alert trigger fires on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertTrigger {
    Created,
    Updated,
    StatusChanged,
    CommentCreated,
    Any,
    /// Alert Events Threshold: creations and updates, then its threshold decides.
    EventsThreshold,
}

impl AlertTrigger {
    fn from_uuid(trigger_uuid: &str) -> Option<Self> {
        Some(match trigger_uuid {
            sekoia::triggers::ALERT_CREATED => Self::Created,
            sekoia::triggers::ALERT_UPDATED => Self::Updated,
            sekoia::triggers::ALERT_STATUS_CHANGED => Self::StatusChanged,
            sekoia::triggers::ALERT_COMMENT_CREATED => Self::CommentCreated,
            sekoia::triggers::ANY_ALERT_UPDATE => Self::Any,
            threshold::ALERT_EVENTS_THRESHOLD => Self::EventsThreshold,
            _ => return None,
        })
    }

    /// Whether a change of this kind fires the trigger.
    pub fn fires_on(self, change: ChangeKind) -> bool {
        match (self, change) {
            (Self::Any, _) => true,
            (Self::EventsThreshold, change) => change != ChangeKind::CommentCreated,
            (Self::Created, ChangeKind::Created) => true,
            (Self::Updated, ChangeKind::Updated { .. }) => true,
            (Self::StatusChanged, ChangeKind::Updated { status_changed }) => status_changed,
            (Self::CommentCreated, ChangeKind::CommentCreated) => true,
            _ => false,
        }
    }
}

/// Why a service cannot start: every problem of every playbook.
#[derive(Debug)]
pub struct DeployError {
    pub problems: Vec<String>,
}

impl fmt::Display for DeployError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the playbooks cannot be deployed:")?;
        for problem in &self.problems {
            writeln!(f, "  {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DeployError {}

/// Loads and validates every `[[playbook]]` of `config` (disabled ones too: a mistake should
/// be seen before someone enables the playbook).
pub fn deploy(config: &Config, executor: &RunExecutor) -> Result<Deployment, DeployError> {
    let (deployment, problems) = deploy_partial(config, executor);
    if problems.is_empty() {
        Ok(deployment)
    } else {
        Err(DeployError { problems })
    }
}

/// [`deploy`] as far as it goes: the playbooks without problems, and every problem of the
/// others.
pub fn deploy_partial(config: &Config, executor: &RunExecutor) -> (Deployment, Vec<String>) {
    let mut problems = Vec::new();
    let mut playbooks: Vec<Arc<DeployedPlaybook>> = Vec::new();
    for entry in &config.playbooks {
        let place = format!(
            "{} ({}:{})",
            entry.file.display(),
            config.path.display(),
            entry.line
        );
        match deploy_one(entry, executor) {
            Ok(deployed) if playbooks.iter().any(|p| p.id == deployed.id) => {
                problems.push(format!(
                    "{place}: another playbook has the same id `{}`",
                    deployed.id
                ))
            }
            Ok(deployed) => playbooks.push(Arc::new(deployed)),
            Err(found) => problems.extend(found.into_iter().map(|p| format!("{place}: {p}"))),
        }
    }
    (Deployment { playbooks }, problems)
}

fn deploy_one(
    entry: &PlaybookEntry,
    executor: &RunExecutor,
) -> Result<DeployedPlaybook, Vec<String>> {
    let source = std::fs::read_to_string(&entry.file)
        .map_err(|err| vec![format!("cannot read the playbook: {err}")])?;
    let playbook = parse_playbook(&source, &entry.file.display().to_string())
        .map_err(|err| vec![err.to_string()])?;
    let report = executor.validate(&playbook, &entry.accounts);
    let mut problems: Vec<String> = report
        .errors
        .iter()
        .map(|p| {
            let node = p
                .node_id
                .as_deref()
                .map(|id| format!("node {id}: "))
                .unwrap_or_default();
            format!("{node}{}: {}", p.path, p.message)
        })
        .collect();
    // Triggers start runs, so they and every node they lead to must be implemented; what
    // no trigger reaches may need anything.
    let starts: Vec<&str> = playbook.triggers().map(|node| node.id.as_str()).collect();
    let reachable = playbook.reachable_from(&starts);
    problems.extend(
        report
            .needs_among(&reachable)
            .iter()
            .map(ToString::to_string),
    );
    let triggers = trigger_nodes(&playbook, executor, &mut problems);
    if entry.webhook_token.is_none() {
        for webhook in [Webhook::Manual, Webhook::IlertAlertChanged] {
            if triggers
                .iter()
                .any(|t| t.kind == TriggerKind::Webhook(webhook))
            {
                problems.push(format!(
                    "{} needs `webhook_token` in the [[playbook]] entry",
                    webhook.described()
                ));
            }
        }
    }
    for node_id in entry.accounts.keys() {
        if playbook.node(node_id).is_none() {
            problems.push(format!(
                "the account binding names node {node_id}, which the playbook does not have"
            ));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(DeployedPlaybook {
        id: playbook_id(&playbook, entry),
        name: playbook.name().to_owned(),
        file: entry.file.clone(),
        bindings: entry.accounts.clone(),
        webhook_token: entry.webhook_token.clone(),
        enabled: entry.enabled,
        triggers,
        playbook: Arc::new(playbook),
    })
}

/// What fires a Sekoia.io trigger that comes from its notifications or feeds.
fn trigger_kind(trigger_uuid: &str) -> Option<TriggerKind> {
    AlertTrigger::from_uuid(trigger_uuid)
        .map(TriggerKind::Alert)
        .or_else(|| CaseChangeKind::of_trigger(trigger_uuid).map(TriggerKind::Case))
        .or_else(|| FeedKind::of_trigger(trigger_uuid).map(TriggerKind::Feed))
}

/// Checks the arguments of the triggers that take more than filters.
fn check_arguments(kind: TriggerKind, arguments: &Value) -> Result<(), SettingsError> {
    match kind {
        TriggerKind::Alert(AlertTrigger::EventsThreshold) => {
            ThresholdSettings::from_arguments(arguments).map(drop)
        }
        TriggerKind::Feed(feed) => FeedSettings::from_arguments(feed, arguments).map(drop),
        _ => Ok(()),
    }
}

fn playbook_id(playbook: &Playbook, entry: &PlaybookEntry) -> String {
    match playbook.uuid() {
        Some(uuid) if !uuid.trim().is_empty() => uuid.to_owned(),
        _ => entry
            .file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

/// The playbook's trigger nodes; a trigger of the catalogue the service cannot fire is a
/// problem (one missing from the catalogue is a need, reported with the others).
fn trigger_nodes(
    playbook: &Playbook,
    executor: &RunExecutor,
    problems: &mut Vec<String>,
) -> Vec<TriggerNode> {
    let mut triggers = Vec::new();
    let alert_file_read = playbook
        .to_json_string_pretty()
        .contains(sekoia::triggers::ALERT_FILE_FIELD);
    for node in playbook.triggers() {
        let NodeKind::Trigger {
            module_uuid,
            trigger_uuid,
            arguments,
        } = &node.kind
        else {
            continue;
        };
        if executor
            .registry()
            .trigger(module_uuid, trigger_uuid)
            .is_none()
        {
            continue;
        }
        let kind = match trigger_uuid.as_str() {
            sekoia::triggers::MANUAL_TRIGGER => TriggerKind::Webhook(Webhook::Manual),
            ilert::alert_changed::ALERT_CHANGED => TriggerKind::Webhook(Webhook::IlertAlertChanged),
            cron::CRON_TRIGGER => {
                if let Err(why) = Schedule::from_arguments(arguments) {
                    problems.push(format!("node {} ({}): {why}", node.id, node.name));
                    continue;
                }
                TriggerKind::Cron
            }
            other => match trigger_kind(other) {
                Some(kind) => {
                    if let Err(why) = check_arguments(kind, arguments) {
                        problems.push(format!("node {} ({}): {why}", node.id, node.name));
                        continue;
                    }
                    kind
                }
                None => {
                    problems.push(format!(
                        "node {} ({}): trigger {other} cannot be fired by alertsync",
                        node.id, node.name
                    ));
                    continue;
                }
            },
        };
        triggers.push(TriggerNode {
            node_id: node.id.clone(),
            kind,
            arguments: arguments.clone(),
            alert_file_read,
        });
    }
    triggers
}
