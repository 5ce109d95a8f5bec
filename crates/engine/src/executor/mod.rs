//! The run executor: runs one playbook for one trigger event.
//!
//! [`RunExecutor::run`] walks the SPL graph from the trigger that fired (see the
//! "Execution" section of the SPL documentation): actions get their arguments rendered,
//! validated and run with the node's account; conditions, foreach loops and stores are
//! evaluated in place. Branches of a fan-out run one after another, depth first, in the
//! order the outputs list them, so records come out in a deterministic order. Every value
//! is masked before it is recorded ([`record`]).

pub mod limits;
mod record;
mod run;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use alertsync_spl::{Playbook, Report, TemplateEngine};
use serde_json::Value;

use crate::account::AccountBook;
use crate::alerts_read::AlertsRead;
use crate::catalog::RegistryCatalog;
use crate::http::{Exchange, HttpClient};
use crate::links::AlertLinks;
use crate::registry::Registry;
use crate::retry::{RetryJournal, RetryPolicy, RetryProgress};

/// Asks runs to stop: cheap to clone, cancelling is permanent, and waiting for it is a
/// future (`cancelled().await`).
pub type Cancellation = tokio_util::sync::CancellationToken;
pub use record::{
    FailureKind, Hold, NoObserver, NodeRecord, NodeStatus, RunObserver, RunRecord, RunStatus,
};

/// Node runs one run may make before it is stopped as a runaway.
pub const DEFAULT_NODE_LIMIT: usize = 10_000;

/// One run to make: which playbook, from which trigger, for which event.
#[derive(Clone)]
pub struct RunRequest {
    pub playbook: Arc<Playbook>,
    /// Id of the trigger node that fired.
    pub trigger_node: String,
    /// The trigger's event: the trigger node's output.
    pub event: Value,
    /// The playbook's account bindings: node id → account name.
    pub bindings: BTreeMap<String, String>,
    /// Stops the run between nodes (and an action in flight) when cancelled.
    pub cancel: Cancellation,
    /// Node records of an earlier attempt of this run (the process stopped during it):
    /// actions that succeeded there are not run again, their recorded results are reused.
    pub completed: Vec<NodeRecord>,
    /// Where node runs keep their retry progress so it survives the process, if anywhere.
    pub retry_journal: Option<Arc<dyn RetryJournal>>,
    /// The retry progress of actions an earlier attempt of this run left waiting for a
    /// retry, by node id and loop indices: their retries continue where they were.
    pub resumed_retries: HashMap<(String, Vec<usize>), RetryProgress>,
    /// The requests actions of an earlier attempt of this run sent before they were
    /// interrupted (held for a retry, stopped), by node id and loop indices: kept in front
    /// of the ones the node sends when it runs again, so its record shows every attempt.
    pub earlier_exchanges: HashMap<(String, Vec<usize>), Vec<Exchange>>,
    /// Whether transient failures are held (the run stops as `waiting`, to be resumed)
    /// rather than given up after the retry policy's attempts. Needs a retry journal.
    pub hold_transient_failures: bool,
    /// A directory of files made for this run (the alert a trigger wrote), removed when the
    /// run ends.
    pub run_files: Option<PathBuf>,
    /// The alerts the run's trigger read, shared with its actions.
    pub alerts_read: Option<Arc<AlertsRead>>,
}

impl RunRequest {
    /// A request without bindings, never cancelled.
    pub fn new(playbook: Arc<Playbook>, trigger_node: impl Into<String>, event: Value) -> Self {
        Self {
            playbook,
            trigger_node: trigger_node.into(),
            event,
            bindings: BTreeMap::new(),
            cancel: Cancellation::new(),
            completed: Vec::new(),
            retry_journal: None,
            resumed_retries: HashMap::new(),
            earlier_exchanges: HashMap::new(),
            hold_transient_failures: false,
            run_files: None,
            alerts_read: None,
        }
    }

    /// Shares the alerts the trigger read with the run's actions (see [`AlertsRead`]).
    pub fn with_alerts_read(mut self, alerts_read: Arc<AlertsRead>) -> Self {
        self.alerts_read = Some(alerts_read);
        self
    }

    /// Holds transient failures instead of giving them up (see
    /// [`RunRequest::hold_transient_failures`]).
    pub fn holding_transient_failures(mut self) -> Self {
        self.hold_transient_failures = true;
        self
    }

    /// Removes `dir` (files made for this run) when the run ends.
    pub fn with_run_files(mut self, dir: PathBuf) -> Self {
        self.run_files = Some(dir);
        self
    }

    pub fn with_bindings(mut self, bindings: BTreeMap<String, String>) -> Self {
        self.bindings = bindings;
        self
    }

    pub fn with_cancellation(mut self, cancel: Cancellation) -> Self {
        self.cancel = cancel;
        self
    }

    /// Resumes an interrupted run from its recorded node runs (at-least-once: the action
    /// that was in flight runs again, the ones that finished do not).
    pub fn resuming(mut self, completed: Vec<NodeRecord>) -> Self {
        self.completed = completed;
        self
    }

    /// Keeps the retry progress of node runs in `journal`.
    pub fn with_retry_journal(mut self, journal: Arc<dyn RetryJournal>) -> Self {
        self.retry_journal = Some(journal);
        self
    }

    /// Continues the retries an earlier attempt of this run left waiting (see
    /// [`RunRequest::resumed_retries`]).
    pub fn resuming_retries(
        mut self,
        retries: HashMap<(String, Vec<usize>), RetryProgress>,
    ) -> Self {
        self.resumed_retries = retries;
        self
    }

    /// Keeps the requests interrupted node runs of an earlier attempt sent (see
    /// [`RunRequest::earlier_exchanges`]).
    pub fn resuming_exchanges(
        mut self,
        exchanges: HashMap<(String, Vec<usize>), Vec<Exchange>>,
    ) -> Self {
        self.earlier_exchanges = exchanges;
        self
    }
}

/// Runs playbooks. Build one and share it: it holds the template cache and the HTTP pool.
pub struct RunExecutor {
    registry: Arc<Registry>,
    accounts: AccountBook,
    templates: TemplateEngine,
    http: HttpClient,
    retry: RetryPolicy,
    data_dir: PathBuf,
    node_limit: usize,
    links: Option<Arc<dyn AlertLinks>>,
}

impl RunExecutor {
    /// An executor with the default templates, retry policy and node limit, reading files
    /// from the current directory.
    pub fn new(registry: Arc<Registry>, accounts: AccountBook, http: HttpClient) -> Self {
        Self {
            registry,
            accounts,
            templates: TemplateEngine::new(),
            http,
            retry: RetryPolicy::default(),
            data_dir: PathBuf::from("."),
            node_limit: DEFAULT_NODE_LIMIT,
            links: None,
        }
    }

    pub fn with_templates(mut self, templates: TemplateEngine) -> Self {
        self.templates = templates;
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The directory actions read run files from (Utils Read JSON File).
    pub fn with_data_dir(mut self, data_dir: impl Into<PathBuf>) -> Self {
        self.data_dir = data_dir.into();
        self
    }

    /// How many node runs one run may make before it fails as a runaway.
    pub fn with_node_limit(mut self, node_limit: usize) -> Self {
        self.node_limit = node_limit;
        self
    }

    /// Where actions record the ids destinations give to alerts (see [`AlertLinks`]).
    pub fn with_alert_links(mut self, links: Arc<dyn AlertLinks>) -> Self {
        self.links = Some(links);
        self
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The HTTP client actions send through.
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// The directory run files live in.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    pub fn accounts(&self) -> &AccountBook {
        &self.accounts
    }

    /// Validates a playbook against the implemented modules and the configured accounts.
    pub fn validate(&self, playbook: &Playbook, bindings: &BTreeMap<String, String>) -> Report {
        let catalog = RegistryCatalog::new(&self.registry, &self.accounts, bindings);
        alertsync_spl::validate(playbook, &catalog)
    }

    /// Runs the playbook from the trigger that fired until nothing is left to run, the run
    /// is cancelled or it exceeds the node limit. Never panics on playbook or event content:
    /// every problem ends up in the record.
    pub async fn run(&self, request: RunRequest, observer: &dyn RunObserver) -> RunRecord {
        let record = run::Run::new(self, &request, observer).execute().await;
        if let Some(dir) = &request.run_files
            && let Err(err) = tokio::fs::remove_dir_all(dir).await
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("cannot remove the run's files {}: {err}", dir.display());
        }
        record
    }
}
