//! The [`Action`] trait and what an action receives and returns.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::account::Account;
use crate::alerts_read::AlertsRead;
use crate::http::HttpClient;
use crate::links::AlertLinks;
use crate::manifest::ActionManifest;
use crate::redact::Redactor;
use crate::retry::{NodeRetries, RetryPolicy};

/// One step of a playbook, performed by a module.
///
/// Arguments arrive rendered and already validated against [`ActionManifest::arguments`];
/// an action checks what a schema cannot say (e.g. "a UUID or an `AL...` short id") before
/// any network call.
#[async_trait]
pub trait Action: Send + Sync {
    fn manifest(&self) -> &ActionManifest;
    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError>;
}

/// What an action may use while it runs.
#[derive(Clone)]
pub struct ActionContext {
    /// The account resolved for this node, if the module has accounts.
    pub account: Option<Arc<Account>>,
    /// The shared HTTP client (every request goes through it).
    pub http: HttpClient,
    /// Records log lines into the node run, masked.
    pub log: NodeLog,
    /// How transient failures are retried inside the action.
    pub retry: RetryPolicy,
    /// Where the node's retry progress is kept, and where an interrupted node left it.
    pub retries: NodeRetries,
    /// The directory files of this run live in (Utils Read JSON File reads only inside it).
    pub data_dir: PathBuf,
    /// The largest response body the action reads (see [`crate::http::read_body`]).
    pub max_response_bytes: u64,
    /// Where the ids a destination gives to an alert are recorded, if anywhere.
    pub links: Option<Arc<dyn AlertLinks>>,
    /// The alerts the run has read (its trigger's), shared with its actions.
    pub alerts_read: Option<Arc<AlertsRead>>,
}

impl ActionContext {
    /// A context for one action with no account, logging masked by `redactor`.
    pub fn new(http: HttpClient, redactor: Redactor) -> Self {
        Self {
            account: None,
            max_response_bytes: http.max_response_bytes(),
            http,
            log: NodeLog::new(redactor),
            retry: RetryPolicy::default(),
            retries: NodeRetries::default(),
            data_dir: PathBuf::from("."),
            links: None,
            alerts_read: None,
        }
    }

    /// The account, or an error telling which module needs one.
    pub fn require_account(&self, module: &str) -> Result<&Account, ActionError> {
        self.account.as_deref().ok_or_else(|| {
            ActionError::permanent(format!(
                "no {module} account: configure one with `[[account]] module = \"{module}\"`"
            ))
        })
    }
}

/// What a successful action returns.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ActionOutput {
    /// The node's output, readable by later nodes as `node.<id>`.
    pub results: Value,
    /// The named outputs to follow; empty means `default`.
    pub outputs: Vec<String>,
}

impl ActionOutput {
    pub fn new(results: Value) -> Self {
        Self {
            results,
            outputs: Vec::new(),
        }
    }
}

/// How an action failed: this decides whether it is retried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ErrorKind {
    /// An argument is wrong; nothing was sent anywhere.
    InvalidArgument { argument: String },
    /// Worth retrying: network error, 5xx, 429.
    Transient,
    /// Not worth retrying: 4xx, a wrong key, a missing account.
    Permanent,
}

/// An action's failure, classified once where it happens.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionError {
    pub kind: ErrorKind,
    pub message: String,
    /// The server asked to wait this long before retrying.
    #[serde(skip)]
    pub retry_after: Option<Duration>,
    /// The HTTP status that caused the failure, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Results to record even though the node failed (e.g. the HTTP response of a 500).
    /// Boxed so that `Result<_, ActionError>` stays small on the success path.
    pub results: Option<Box<Value>>,
    /// Set when a transient failure is held rather than given up: the next attempt is due
    /// at this time (Unix ms), and the run waits for it (see [`crate::retry`]).
    #[serde(skip)]
    pub held_until_ms: Option<u64>,
}

impl ActionError {
    pub fn invalid_argument(argument: impl Into<String>, message: impl Into<String>) -> Self {
        let argument = argument.into();
        let message = format!("argument `{argument}`: {}", message.into());
        Self {
            kind: ErrorKind::InvalidArgument { argument },
            message,
            retry_after: None,
            http_status: None,
            results: None,
            held_until_ms: None,
        }
    }

    pub fn transient(message: impl Into<String>, retry_after: Option<Duration>) -> Self {
        Self {
            kind: ErrorKind::Transient,
            message: message.into(),
            retry_after,
            http_status: None,
            results: None,
            held_until_ms: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Permanent,
            message: message.into(),
            retry_after: None,
            http_status: None,
            results: None,
            held_until_ms: None,
        }
    }

    /// Attaches results to record with the failure.
    pub fn with_results(mut self, results: Value) -> Self {
        self.results = Some(Box::new(results));
        self
    }

    pub fn is_transient(&self) -> bool {
        self.kind == ErrorKind::Transient
    }

    /// The same error with its message and results masked.
    pub fn masked(&self, redactor: &Redactor) -> Self {
        Self {
            kind: self.kind.clone(),
            message: redactor.mask_str(&self.message),
            retry_after: self.retry_after,
            http_status: self.http_status,
            results: self
                .results
                .as_ref()
                .map(|r| Box::new(redactor.mask_value(r))),
            held_until_ms: self.held_until_ms,
        }
    }
}

impl fmt::Display for ActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ActionError {}

/// A log line recorded into a node run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// Unix milliseconds.
    pub at_ms: u64,
    pub level: LogLevel,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Info,
    Warn,
    Error,
}

/// The log of one node run: lines are masked as they are recorded, and also emitted through
/// `tracing` at debug level for operators.
#[derive(Clone)]
pub struct NodeLog {
    redactor: Arc<Redactor>,
    lines: Arc<Mutex<Vec<LogLine>>>,
}

impl NodeLog {
    pub fn new(redactor: Redactor) -> Self {
        Self {
            redactor: Arc::new(redactor),
            lines: Arc::default(),
        }
    }

    /// The redactor this log masks with (also used for errors and results of the node).
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    pub fn info(&self, message: impl AsRef<str>) {
        self.push(LogLevel::Info, message.as_ref());
    }

    pub fn warn(&self, message: impl AsRef<str>) {
        self.push(LogLevel::Warn, message.as_ref());
    }

    pub fn error(&self, message: impl AsRef<str>) {
        self.push(LogLevel::Error, message.as_ref());
    }

    /// The lines recorded so far.
    pub fn lines(&self) -> Vec<LogLine> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn push(&self, level: LogLevel, message: &str) {
        let message = self.redactor.mask_str(message);
        tracing::debug!(target: "alertsync::node", ?level, "{message}");
        let line = LogLine {
            at_ms: crate::now_ms(),
            level,
            message,
        };
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(line);
    }
}

impl fmt::Debug for NodeLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeLog")
            .field("lines", &self.lines())
            .finish()
    }
}
