//! One run in progress: a stack of node activations worked through depth first, the
//! template context (`node`, `store`), and what each kind of node does.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use alertsync_spl::modules::sekoia_module_name;
use alertsync_spl::{
    Case, Modification, Node, NodeKind, Operator, OperatorError, Playbook, RenderContext,
    TemplateError, apply_modification, evaluate_case, foreach_items,
};
use serde_json::{Map, Value, json};

use super::record::{
    FailureKind, Hold, NodeOutcome, NodeRecord, NodeStatus, Recorder, RunRecord, RunStatus,
};
use super::{RunExecutor, RunObserver, RunRequest};
use crate::account::{Account, ResolveError, SekoiaAccessError};
use crate::action::{Action, ActionContext, ActionError, NodeLog};
use crate::http::Exchange;
use crate::invoke::invoke;
use crate::registry::Registry;
use crate::retry::{NodeRetries, RetryProgress};
use crate::telemetry;

/// The output every node without named outputs activates.
const DEFAULT: &str = "default";
/// The output a condition activates when no case holds.
const ELSE: &str = "else";

/// Why a run cannot start at its trigger node.
#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error("the playbook has no node `{0}` to start at")]
    NoSuchNode(String),
    #[error("node `{id}` ({name}) is not a trigger")]
    NotATrigger { id: String, name: String },
}

/// Why an action node cannot be run: what it needs that alertsync lacks, or what is wrong
/// with its account or its arguments.
#[derive(Debug, thiserror::Error)]
enum PrepareError {
    #[error(
        "needs an action alertsync does not implement: module {module} ({module_uuid}) has \
         no action `{action_uuid}` in alertsync"
    )]
    MissingAction {
        module: &'static str,
        module_uuid: String,
        action_uuid: String,
    },
    #[error("needs module {module} ({module_uuid}), which alertsync does not implement")]
    MissingModule {
        module: &'static str,
        module_uuid: String,
    },
    #[error(transparent)]
    Account(#[from] ResolveError),
    #[error(transparent)]
    Arguments(#[from] TemplateError),
    #[error(transparent)]
    SekoiaAccess(#[from] SekoiaAccessError),
}

/// Why a condition's case could not be evaluated.
#[derive(Debug, thiserror::Error)]
enum CaseError {
    #[error("case `{case}`: {source}")]
    Render { case: String, source: TemplateError },
    #[error("case `{case}`: {source}")]
    Evaluate { case: String, source: OperatorError },
}

/// Why a store node's modifications could not be applied.
#[derive(Debug, thiserror::Error)]
enum ModificationError {
    #[error("`{key}`: {source}")]
    Render { key: String, source: TemplateError },
    #[error(transparent)]
    Apply(#[from] OperatorError),
}

/// Work still to do, most recent on top.
enum Step {
    /// Run a node (once per activation).
    Node { id: String, iteration: Vec<usize> },
    /// Start a foreach's next iteration, or finish the loop.
    Iteration(Box<Loop>),
}

/// A foreach loop in progress.
struct Loop {
    foreach: String,
    /// The foreach's record, finished when the loop ends.
    seq: usize,
    body: String,
    items: Vec<Value>,
    next: usize,
    /// The foreach's own loop indices.
    iteration: Vec<usize>,
    /// Node outputs when the loop started: each iteration starts from them, so body nodes
    /// are undefined until they run in the current iteration.
    scope: Map<String, Value>,
    failures_before: usize,
}

/// What follows a node run.
enum Next {
    Outputs(Vec<String>),
    Loop(Box<Loop>),
    Stop,
    /// A delivery is held: the whole run stops here and waits (see [`Hold`]).
    Hold(Hold),
}

/// An action ready to run.
struct Prepared {
    action: Arc<dyn Action>,
    account: Option<Arc<Account>>,
    arguments: Value,
}

pub(super) struct Run<'a> {
    executor: &'a RunExecutor,
    request: &'a RunRequest,
    playbook: &'a Playbook,
    recorder: Recorder<'a>,
    context: RenderContext,
    steps: Vec<Step>,
    executions: usize,
    /// Actions that succeeded in an earlier attempt, by node id and loop indices, in the
    /// order they ran.
    completed: HashMap<(String, Vec<usize>), VecDeque<NodeRecord>>,
    /// Retry progress an earlier attempt left, taken by the first run of its node.
    resumed_retries: HashMap<(String, Vec<usize>), RetryProgress>,
    /// Requests interrupted node runs of an earlier attempt sent, taken likewise.
    earlier_exchanges: HashMap<(String, Vec<usize>), Vec<Exchange>>,
    /// Set when a delivery is held: the run stops before its next step.
    hold: Option<Hold>,
}

impl<'a> Run<'a> {
    pub fn new(
        executor: &'a RunExecutor,
        request: &'a RunRequest,
        observer: &'a dyn RunObserver,
    ) -> Self {
        // Every configured secret is known from the start, so even the event is masked.
        let redactor = executor.accounts.redactor();
        Self {
            executor,
            request,
            playbook: &request.playbook,
            recorder: Recorder::new(observer, redactor, &request.trigger_node),
            context: RenderContext::new(Map::new(), Value::Object(Map::new())),
            steps: Vec::new(),
            executions: 0,
            completed: completed_actions(&request.completed),
            resumed_retries: request.resumed_retries.clone(),
            earlier_exchanges: request.earlier_exchanges.clone(),
            hold: None,
        }
    }

    pub async fn execute(mut self) -> RunRecord {
        let started = self.start();
        self.recorder.tell_observer().await;
        if let Err(why) = started {
            return self
                .recorder
                .close(Some(RunStatus::Failed), Some(why.to_string()));
        }
        while let Some(step) = self.steps.pop() {
            if let Some(hold) = self.hold.take() {
                return self.recorder.hold(hold);
            }
            if self.request.cancel.is_cancelled() {
                return self
                    .stop(RunStatus::Cancelled, "the run was cancelled".to_owned())
                    .await;
            }
            match step {
                Step::Node { id, iteration } => {
                    if self.executions >= self.executor.node_limit {
                        let why = format!(
                            "the run stopped after {} node runs: the playbook keeps activating \
                             nodes (a runaway loop or cycle)",
                            self.executor.node_limit
                        );
                        return self.stop(RunStatus::Failed, why).await;
                    }
                    self.executions += 1;
                    self.run_node(&id, iteration).await;
                }
                Step::Iteration(state) => self.iterate(state),
            }
            self.recorder.tell_observer().await;
        }
        if let Some(hold) = self.hold.take() {
            return self.recorder.hold(hold);
        }
        if self.request.cancel.is_cancelled() {
            return self
                .stop(RunStatus::Cancelled, "the run was cancelled".to_owned())
                .await;
        }
        self.recorder.close(None, None)
    }

    /// Ends the run early: open loops are recorded as failed, pending work is dropped.
    async fn stop(mut self, status: RunStatus, why: String) -> RunRecord {
        for step in std::mem::take(&mut self.steps) {
            if let Step::Iteration(state) = step {
                let outcome = NodeOutcome::failed(
                    "the run stopped before the loop finished".to_owned(),
                    None,
                );
                self.recorder.finish(state.seq, outcome);
            }
        }
        self.recorder.tell_observer().await;
        self.recorder.close(Some(status), Some(why))
    }

    /// Runs the trigger node: its output is the event.
    fn start(&mut self) -> Result<(), StartError> {
        let playbook = self.playbook;
        let id = &self.request.trigger_node;
        let node = playbook
            .node(id)
            .ok_or_else(|| StartError::NoSuchNode(id.clone()))?;
        let NodeKind::Trigger { arguments, .. } = &node.kind else {
            return Err(StartError::NotATrigger {
                id: id.clone(),
                name: node.name.clone(),
            });
        };
        self.executions += 1;
        let event = self.request.event.clone();
        let next = self.complete(node, &[], arguments, Ok((event, vec![DEFAULT.to_owned()])));
        self.then(node, next, &[]);
        Ok(())
    }

    async fn run_node(&mut self, id: &str, iteration: Vec<usize>) {
        let playbook = self.playbook;
        let Some(node) = playbook.node(id) else {
            let seq = self.recorder.start(id, "", &iteration, &Value::Null);
            let why = format!("node `{id}` does not exist in the playbook");
            self.recorder.finish(seq, NodeOutcome::failed(why, None));
            return;
        };
        let next = match &node.kind {
            NodeKind::Action {
                module_uuid,
                action_uuid,
                arguments,
            } => {
                self.action(node, module_uuid, action_uuid, arguments, &iteration)
                    .await
            }
            NodeKind::Operator(Operator::Condition { cases }) => {
                self.condition(node, cases, &iteration)
            }
            NodeKind::Operator(Operator::Foreach { items, loop_start }) => {
                self.foreach(node, items, loop_start.as_deref(), &iteration)
            }
            NodeKind::Operator(Operator::Store { modifications }) => {
                self.store(node, modifications, &iteration)
            }
            NodeKind::Trigger { .. } => {
                let why = "a trigger node starts runs; no other node can activate it";
                self.complete(node, &iteration, &Value::Null, Err(why.to_owned()))
            }
            NodeKind::Operator(Operator::Unknown { subtype }) => {
                let why = format!("unknown operator subtype {}", quoted(subtype.as_deref()));
                self.complete(node, &iteration, &Value::Null, Err(why))
            }
            NodeKind::Unknown { node_type } => {
                let why = format!("unknown node type {}", quoted(node_type.as_deref()));
                self.complete(node, &iteration, &Value::Null, Err(why))
            }
        };
        self.then(node, next, &iteration);
    }

    fn then(&mut self, node: &Node, next: Next, iteration: &[usize]) {
        match next {
            Next::Outputs(outputs) => self.follow(node, &outputs, iteration),
            Next::Loop(state) => self.steps.push(Step::Iteration(state)),
            Next::Stop => {}
            Next::Hold(hold) => self.hold = Some(hold),
        }
    }

    /// Schedules the nodes the activated outputs lead to, first listed runs first.
    fn follow(&mut self, node: &Node, outputs: &[String], iteration: &[usize]) {
        let targets: Vec<&String> = outputs
            .iter()
            .filter_map(|name| node.outputs.get(name))
            .flatten()
            .collect();
        for id in targets.into_iter().rev() {
            self.steps.push(Step::Node {
                id: id.clone(),
                iteration: iteration.to_vec(),
            });
        }
    }

    /// Records a node that finished at once; on success its results become `node.<id>`.
    fn complete(
        &mut self,
        node: &Node,
        iteration: &[usize],
        arguments: &Value,
        result: Result<(Value, Vec<String>), String>,
    ) -> Next {
        match result {
            Ok((results, outputs)) => {
                let outcome = NodeOutcome::succeeded(results.clone(), outputs.clone());
                self.recorder.instant(node, iteration, arguments, outcome);
                self.context.node.insert(node.id.clone(), results);
                Next::Outputs(outputs)
            }
            Err(why) => {
                let outcome = NodeOutcome::failed(why, None);
                self.recorder.instant(node, iteration, arguments, outcome);
                Next::Stop
            }
        }
    }

    /// The record of this action's run in an earlier attempt, if it succeeded there.
    fn take_completed(&mut self, id: &str, iteration: &[usize]) -> Option<NodeRecord> {
        self.completed
            .get_mut(&(id.to_owned(), iteration.to_vec()))
            .and_then(VecDeque::pop_front)
    }

    fn render(&self, value: &Value) -> Result<Value, TemplateError> {
        self.executor.templates.render_value(value, &self.context)
    }

    async fn action(
        &mut self,
        node: &Node,
        module_uuid: &str,
        action_uuid: &str,
        arguments: &Value,
        iteration: &[usize],
    ) -> Next {
        if let Some(done) = self.take_completed(&node.id, iteration) {
            let outputs = done.outputs.clone();
            let results = done.results.clone().unwrap_or(Value::Null);
            self.recorder.restore(done);
            self.context.node.insert(node.id.clone(), results);
            return Next::Outputs(outputs);
        }
        let prepared = match self.prepare_action(node, module_uuid, action_uuid, arguments) {
            Ok(prepared) => prepared,
            Err(why) => return self.complete(node, iteration, arguments, Err(why.to_string())),
        };
        let manifest = prepared.action.manifest();
        let secrets = manifest
            .secrets
            .iter()
            .filter_map(|name| prepared.arguments.get(*name));
        self.recorder.learn_secrets(secrets);
        let seq = self
            .recorder
            .start(&node.id, &node.name, iteration, &prepared.arguments);
        // Before the action acts: the observer may make earlier records durable here.
        self.recorder.tell_observer().await;
        let log = NodeLog::new(self.recorder.redactor().clone());
        let max_response_bytes = prepared
            .account
            .as_ref()
            .and_then(|account| account.max_response_bytes())
            .unwrap_or(self.executor.http.max_response_bytes());
        // Each node records its own writes (sent with their answers, or in a dry run
        // instead of being sent), so they are shown with it.
        let http = self
            .executor
            .http
            .recording()
            .with_max_response_bytes(max_response_bytes);
        let key = (node.id.clone(), iteration.to_vec());
        let earlier = self.earlier_exchanges.remove(&key).unwrap_or_default();
        let cx = ActionContext {
            account: prepared.account,
            max_response_bytes,
            http: http.clone(),
            log: log.clone(),
            retry: self.executor.retry,
            retries: NodeRetries::new(
                self.request.retry_journal.clone(),
                seq,
                &node.id,
                self.resumed_retries.remove(&key),
            )
            .holding(self.request.hold_transient_failures),
            data_dir: self.executor.data_dir.clone(),
            links: self.executor.links.clone(),
            alerts_read: self.request.alerts_read.clone(),
        };
        let cancel = &self.request.cancel;
        let destination = self
            .executor
            .registry()
            .module(module_uuid)
            .map_or(telemetry::OTHER_DESTINATION, |m| m.manifest.slug);
        let result = tokio::select! {
            biased;
            () = cancel.cancelled() => Err(ActionError::permanent("cancelled before the action finished")),
            result = telemetry::for_destination(destination, invoke(prepared.action.as_ref(), &cx, prepared.arguments)) => result,
        };
        match result {
            Ok(output) => {
                let outputs = if output.outputs.is_empty() {
                    vec![DEFAULT.to_owned()]
                } else {
                    output.outputs
                };
                let outcome = NodeOutcome::succeeded(output.results.clone(), outputs.clone())
                    .with_logs(log.lines())
                    .with_requests(earlier, &http, cx.retries.attempts());
                self.recorder.finish(seq, outcome);
                self.context.node.insert(node.id.clone(), output.results);
                Next::Outputs(outputs)
            }
            Err(err) => {
                let held = err.held_until_ms.map(|until_ms| Hold {
                    until_ms,
                    destination: destination.to_owned(),
                });
                let outcome = match (&held, err.is_transient()) {
                    (Some(_), _) => NodeOutcome::waiting(err.message),
                    (None, true) => NodeOutcome::failed_as(
                        FailureKind::Expired,
                        err.message,
                        err.results.map(|r| *r),
                    ),
                    (None, false) => NodeOutcome::failed(err.message, err.results.map(|r| *r)),
                };
                self.recorder.finish(
                    seq,
                    outcome.with_logs(log.lines()).with_requests(
                        earlier,
                        &http,
                        cx.retries.attempts(),
                    ),
                );
                held.map_or(Next::Stop, Next::Hold)
            }
        }
    }

    /// Finds the action and the account, renders the arguments and fills Sekoia.io access.
    fn prepare_action(
        &self,
        node: &Node,
        module_uuid: &str,
        action_uuid: &str,
        arguments: &Value,
    ) -> Result<Prepared, PrepareError> {
        let registry = &*self.executor.registry;
        let (module, action) = registry
            .action(module_uuid, action_uuid)
            .ok_or_else(|| unknown_action(registry, module_uuid, action_uuid))?;
        let accounts = &self.executor.accounts;
        let account = accounts.resolve(registry, node, &self.request.bindings)?;
        let mut rendered = self.render(arguments)?;
        accounts.fill_sekoia_access(&module.manifest, action.manifest(), &mut rendered)?;
        Ok(Prepared {
            action: Arc::clone(action),
            account,
            arguments: rendered,
        })
    }

    /// Activates the output of the first case that holds, else `else`.
    fn condition(&mut self, node: &Node, cases: &[Case], iteration: &[usize]) -> Next {
        let mut evaluated = Vec::new();
        let result = self.first_case(cases, &mut evaluated);
        let arguments = json!({ "cases": evaluated });
        let result = result
            .map(|output| (json!({ "output": output }), vec![output]))
            .map_err(|why| why.to_string());
        self.complete(node, iteration, &arguments, result)
    }

    /// The name of the first case that holds (or `else`); `evaluated` gets each rendered
    /// case on the way.
    fn first_case(&self, cases: &[Case], evaluated: &mut Vec<Value>) -> Result<String, CaseError> {
        for case in cases {
            let render = |value: &Value| {
                self.render(value).map_err(|source| CaseError::Render {
                    case: case.name.clone(),
                    source,
                })
            };
            let left = render(&case.left)?;
            let right = render(&case.right)?;
            evaluated.push(json!({
                "name": case.name,
                "left": left,
                "comparison": case.comparison,
                "right": right,
            }));
            let holds = evaluate_case(&left, &case.comparison, &right, case.value_type.as_deref())
                .map_err(|source| CaseError::Evaluate {
                    case: case.name.clone(),
                    source,
                })?;
            if holds {
                return Ok(case.name.clone());
            }
        }
        Ok(ELSE.to_owned())
    }

    /// Renders the items and schedules the first iteration.
    fn foreach(
        &mut self,
        node: &Node,
        items: &Value,
        loop_start: Option<&str>,
        iteration: &[usize],
    ) -> Next {
        let rendered = match self.render(items) {
            Ok(rendered) => rendered,
            Err(err) => {
                let why = format!("items: {err}");
                return self.complete(node, iteration, &json!({ "items": items }), Err(why));
            }
        };
        let arguments = json!({ "items": rendered });
        let items = match foreach_items(&rendered) {
            Ok(items) => items,
            Err(err) => return self.complete(node, iteration, &arguments, Err(err.to_string())),
        };
        let Some(body) = loop_start else {
            let why = "the foreach has no loop body (`loop`)".to_owned();
            return self.complete(node, iteration, &arguments, Err(why));
        };
        let seq = self
            .recorder
            .start(&node.id, &node.name, iteration, &arguments);
        let mut scope = self.context.node.clone();
        scope.insert(node.id.clone(), loop_value(Value::Null, None, items.len()));
        Next::Loop(Box::new(Loop {
            foreach: node.id.clone(),
            seq,
            body: body.to_owned(),
            items,
            next: 0,
            iteration: iteration.to_vec(),
            scope,
            failures_before: self.recorder.failures(),
        }))
    }

    /// Starts the loop's next iteration, or ends the loop.
    fn iterate(&mut self, mut state: Box<Loop>) {
        let index = state.next;
        let Some(item) = state.items.get(index).cloned() else {
            return self.end_loop(*state);
        };
        let mut outputs = state.scope.clone();
        outputs.insert(
            state.foreach.clone(),
            loop_value(item, Some(index), state.items.len()),
        );
        self.context.node = outputs;
        let mut iteration = state.iteration.clone();
        iteration.push(index);
        let body = state.body.clone();
        state.next += 1;
        self.steps.push(Step::Iteration(state));
        self.steps.push(Step::Node {
            id: body,
            iteration,
        });
    }

    /// Restores the outputs from before the loop; follows `default` unless a body node
    /// failed.
    fn end_loop(&mut self, state: Loop) {
        self.context.node = state.scope;
        let results = json!({ "total": state.items.len() });
        let failed = self.recorder.failures() - state.failures_before;
        if failed > 0 {
            let why = format!("failed node runs in the loop body: {failed}");
            self.recorder
                .finish(state.seq, NodeOutcome::failed(why, Some(results)));
            return;
        }
        let outputs = vec![DEFAULT.to_owned()];
        let outcome = NodeOutcome::succeeded(results, outputs.clone());
        self.recorder.finish(state.seq, outcome);
        let playbook = self.playbook;
        if let Some(node) = playbook.node(&state.foreach) {
            self.follow(node, &outputs, &state.iteration);
        }
    }

    /// Applies the modifications to the run's store, all or none.
    fn store(&mut self, node: &Node, modifications: &[Modification], iteration: &[usize]) -> Next {
        let mut applied = Vec::new();
        let result = self.modify_store(modifications, &mut applied);
        let arguments = json!({ "modifications": applied });
        let result = result
            .map(|keys| (json!({ "modified": keys }), vec![DEFAULT.to_owned()]))
            .map_err(|why| why.to_string());
        self.complete(node, iteration, &arguments, result)
    }

    fn modify_store(
        &mut self,
        modifications: &[Modification],
        applied: &mut Vec<Value>,
    ) -> Result<Vec<String>, ModificationError> {
        let mut store = self.context.store.clone();
        for modification in modifications {
            let key = &modification.key;
            let value =
                self.render(&modification.value)
                    .map_err(|source| ModificationError::Render {
                        key: key.clone(),
                        source,
                    })?;
            applied.push(json!({ "key": key, "type": modification.kind, "value": value }));
            apply_modification(&mut store, &modification.kind, key, value)?;
        }
        self.context.store = store;
        Ok(modifications.iter().map(|m| m.key.clone()).collect())
    }
}

/// `node.<foreach id>` during (and, with no item, after) a loop.
/// The succeeded node runs of an earlier attempt, grouped by node id and loop indices.
fn completed_actions(
    records: &[NodeRecord],
) -> HashMap<(String, Vec<usize>), VecDeque<NodeRecord>> {
    let mut completed: HashMap<_, VecDeque<NodeRecord>> = HashMap::new();
    let mut succeeded: Vec<&NodeRecord> = records
        .iter()
        .filter(|r| r.status == NodeStatus::Succeeded)
        .collect();
    succeeded.sort_by_key(|r| r.seq);
    for record in succeeded {
        completed
            .entry((record.id.clone(), record.iteration.clone()))
            .or_default()
            .push_back(record.clone());
    }
    completed
}

fn loop_value(value: Value, index: Option<usize>, total: usize) -> Value {
    json!({ DEFAULT: { "value": value, "index": index, "total": total } })
}

/// Why a node's module or action cannot be run: what it needs that alertsync lacks.
fn unknown_action(registry: &Registry, module_uuid: &str, action_uuid: &str) -> PrepareError {
    match registry.module(module_uuid) {
        Some(module) => PrepareError::MissingAction {
            module: module.manifest.name,
            module_uuid: module_uuid.to_owned(),
            action_uuid: action_uuid.to_owned(),
        },
        None => PrepareError::MissingModule {
            module: sekoia_module_name(module_uuid).unwrap_or("(unknown to alertsync)"),
            module_uuid: module_uuid.to_owned(),
        },
    }
}

fn quoted(name: Option<&str>) -> String {
    name.map_or_else(|| "(none given)".to_owned(), |n| format!("`{n}`"))
}
