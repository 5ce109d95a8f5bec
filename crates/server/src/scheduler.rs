//! The scheduler: claims the runs the store says may start (in arrival order; for each
//! alert and playbook only the oldest open run; none of a disabled playbook), runs them on
//! a bounded number of workers, and settles each one in the store.
//!
//! How a run can end, and what becomes of it:
//!
//! * **finished**: succeeded, or failed for a reason a person must fix (a 4xx answer, an
//!   argument, a template). Such failures count towards disabling the playbook (as
//!   Sekoia.io does); a disabled playbook's runs wait, held, until it is enabled again.
//! * **held**: a destination failed transiently. The run is put aside until its next
//!   attempt is due, without keeping a worker; later runs of its playbook for the same
//!   alert wait behind it. When a run delivers to that destination again, the runs waiting
//!   for it are due at once.
//! * **dead letter**: the run can never succeed or run — the destination kept failing past
//!   the retry age, the playbook is no longer deployed, or the process stopped uncleanly
//!   during the run too many times. It stays visible until replayed or dismissed.
//! * **filtered**: the trigger's rule filter does not match the alert: no run.
//! * **stopped** by a shutdown: released, and resumed at the next start.
//!
//! Settling a run is written until the store takes it (a full disk is retried), so no run
//! is left claimed and forgotten while the process lives.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use alertsync_engine::http::Exchange;
use alertsync_engine::{
    ActionContext, Cancellation, FailureKind, Hold, NodeRecord, NodeRetries, NodeStatus,
    RetryJournal, RetryPolicy, RetryProgress, RunExecutor, RunRecord, RunRequest, RunStatus,
    telemetry,
};
use alertsync_integrations::sekoia::{SLUG, SekoiaClient};
use alertsync_spl::NodeKind;
use alertsync_store::{
    ClaimedRun, InboxEvent, NodeRunRecorder, RunAlert, RunId, Store, StoreResult, WriteBehind,
};
use serde_json::Value;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use crate::deploy::{DeployedPlaybook, Deployment};
use crate::trigger_output::{TriggerEvent, TriggerInput, run_alert, trigger_event};
use alertsync_integrations::source::InboxPayload;

/// How often the queue is looked at when nobody signals new runs (held runs come due).
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Waits between attempts to settle a run while the store refuses writes.
const SETTLE_RETRY: Duration = Duration::from_secs(1);
const SETTLE_RETRY_MAX: Duration = Duration::from_secs(10);

/// What the scheduler does with runs that keep failing or keep being interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePolicy {
    /// Permanent failures in a row after which a playbook is disabled (Sekoia.io parity).
    pub disable_after_failures: u32,
    /// Unclean stops (crash, kill) during one run after which it is not resumed again but
    /// becomes a dead letter: a run that crashes the process must not do so forever.
    pub max_interruptions: u32,
}

impl Default for QueuePolicy {
    fn default() -> Self {
        Self {
            disable_after_failures: 5,
            max_interruptions: 3,
        }
    }
}

/// What the scheduler needs to run playbooks.
pub struct Scheduler {
    pub store: Arc<dyn Store>,
    pub executor: Arc<RunExecutor>,
    pub deployment: Arc<Deployment>,
    /// Sekoia.io clients by account name, to read the alert of an event.
    pub sekoia: Arc<BTreeMap<String, SekoiaClient>>,
    /// Runs processed at the same time.
    pub workers: usize,
    /// Retries of the alert read that starts a run.
    pub retry: RetryPolicy,
    pub policy: QueuePolicy,
    /// Signalled by sources after they stored events, and by the API after a change that
    /// may make runs ready (enable, rerun).
    pub wake: Arc<Notify>,
    /// Destinations some run was put aside for, since the last time one was woken.
    pub held_destinations: Mutex<HashSet<String>>,
}

/// How processing a run ended.
enum Outcome {
    /// Succeeded or failed: the record as the executor made it.
    Finished(Arc<DeployedPlaybook>, RunRecord),
    /// Put aside until the hold is due.
    Held(RunRecord, Hold),
    /// Can never run or succeed.
    Dead(RunRecord),
    /// The trigger's rule filter did not match.
    Filtered,
    /// A shutdown stopped it: resume at the next start.
    Stopped,
}

impl Scheduler {
    /// Processes runs until `stop` is cancelled, then waits up to `grace` for runs in flight
    /// before stopping them.
    pub async fn run(self: Arc<Self>, stop: Cancellation, grace: Duration) {
        let slots = Arc::new(Semaphore::new(self.workers.max(1)));
        let runs_cancel = Cancellation::new();
        let mut tasks = JoinSet::new();
        while !stop.is_cancelled() {
            let free = slots.available_permits();
            let claimed = if free > 0 {
                match self.store.claim_runs(free as u32).await {
                    Ok(runs) => runs,
                    Err(err) => {
                        tracing::error!("cannot read the run queue: {err}");
                        Vec::new()
                    }
                }
            } else {
                Vec::new()
            };
            for claimed in claimed {
                let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                    break;
                };
                let this = Arc::clone(&self);
                let cancel = runs_cancel.clone();
                tasks.spawn(async move {
                    this.process(claimed, cancel).await;
                    drop(permit);
                    this.wake.notify_one();
                });
            }
            while tasks.try_join_next().is_some() {}
            tokio::select! {
                () = stop.cancelled() => {}
                () = self.wake.notified() => {}
                () = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
        let drained =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(
                "runs still in flight after the {grace:?} grace period are stopped; they resume at the next start"
            );
            runs_cancel.cancel();
            while tasks.join_next().await.is_some() {}
        }
    }

    /// Runs (or resumes) one claimed run and settles it in the store.
    async fn process(&self, claimed: ClaimedRun, cancel: Cancellation) {
        let outcome = match self.execute(&claimed, &cancel).await {
            Outcome::Finished(_, record) if is_expired(&record) => {
                Outcome::Dead(as_dead_letter(&record))
            }
            outcome => outcome,
        };
        self.settle(&claimed, outcome, &cancel).await;
    }

    async fn execute(&self, claimed: &ClaimedRun, cancel: &Cancellation) -> Outcome {
        let run = &claimed.run;
        let Some(playbook) = self.deployment.get(&run.playbook_id).filter(|p| p.enabled) else {
            return dead(
                run.trigger_node.as_str(),
                format!(
                    "playbook `{}` is no longer deployed (removed from the configuration or \
                     disabled there); replay the run once it is back",
                    run.playbook_id
                ),
            );
        };
        if run.interruptions >= self.policy.max_interruptions {
            return dead(
                &run.trigger_node,
                format!(
                    "interrupted {} times: the process stopped uncleanly (a crash or a kill) \
                     while this run was running, each time; it is not resumed again",
                    run.interruptions
                ),
            );
        }
        let payload: InboxPayload = match serde_json::from_value(claimed.event.payload.clone()) {
            Ok(payload) => payload,
            Err(err) => {
                return dead(
                    &run.trigger_node,
                    format!(
                        "inbox event {}: unreadable payload: {err}",
                        claimed.event.id
                    ),
                );
            }
        };
        self.store.write_behind(WriteBehind::RunStarted {
            run: run.id,
            at_ms: alertsync_engine::now_ms(),
        });
        let recorder = Arc::new(NodeRunRecorder::new(
            Arc::clone(&self.store),
            run.id,
            &run.trigger_node,
        ));
        let mut resumed = interrupted_retries(claimed);
        let trigger_retry = resumed.remove(&(run.trigger_node.clone(), Vec::new()));
        let event = tokio::select! {
            biased;
            () = cancel.cancelled() => return Outcome::Stopped,
            event = self.trigger_event(claimed, playbook, &payload, recorder.clone(), trigger_retry) => event,
        };
        let event = match event {
            Ok(Some(built)) => built,
            Ok(None) => return Outcome::Filtered,
            Err(err) => return trigger_failed(playbook, &run.trigger_node, err),
        };
        let alert_read = event.alert.is_some();
        if let Some(alert) = event.alert {
            self.store
                .write_behind(WriteBehind::AlertRead { run: run.id, alert });
        }
        let request = RunRequest::new(
            Arc::clone(&playbook.playbook),
            &run.trigger_node,
            event.output,
        )
        .with_bindings(playbook.bindings.clone())
        .with_cancellation(cancel.clone())
        .with_retry_journal(recorder.clone())
        .holding_transient_failures()
        .resuming(claimed.completed_nodes.clone())
        .resuming_retries(resumed)
        .resuming_exchanges(interrupted_exchanges(claimed));
        let request = match event.files {
            Some(files) => request.with_run_files(files),
            None => request,
        };
        let request = match event.alerts_read {
            Some(read) => request.with_alerts_read(read),
            None => request,
        };
        let record = self.executor.run(request, recorder.as_ref()).await;
        if !alert_read && let Some(alert) = alert_in_results(&claimed.event, &record) {
            self.store
                .write_behind(WriteBehind::AlertRead { run: run.id, alert });
        }
        match (record.status, record.hold.clone()) {
            (RunStatus::Cancelled, _) => Outcome::Stopped,
            (RunStatus::Waiting, Some(hold)) => Outcome::Held(record, hold),
            _ => Outcome::Finished(Arc::clone(playbook), record),
        }
    }

    /// What the run starts from (`None`: the trigger's filters say no run): alert and case
    /// events read Sekoia.io, retried (and held) like a delivery, journalled as the trigger
    /// node's retries.
    async fn trigger_event(
        &self,
        claimed: &ClaimedRun,
        playbook: &DeployedPlaybook,
        payload: &InboxPayload,
        journal: Arc<NodeRunRecorder>,
        resumed: Option<RetryProgress>,
    ) -> Result<Option<TriggerEvent>, alertsync_engine::ActionError> {
        let trigger = playbook
            .triggers
            .iter()
            .find(|t| t.node_id == claimed.run.trigger_node)
            .ok_or_else(|| {
                alertsync_engine::ActionError::permanent(format!(
                    "the playbook has no trigger node {}",
                    claimed.run.trigger_node
                ))
            })?;
        let account = &claimed.event.account;
        let sekoia = self.sekoia.get(account);
        let journal: Arc<dyn RetryJournal> = journal;
        let mut cx = match sekoia {
            Some(client) => client.service_context(self.retry),
            None => ActionContext::new(
                self.executor.http().clone(),
                self.executor.accounts().redactor(),
            ),
        };
        cx.retries =
            NodeRetries::new(Some(journal), 0, &claimed.run.trigger_node, resumed).holding(true);
        let input = TriggerInput {
            account,
            sekoia,
            cx: &cx,
            data_dir: self.executor.data_dir(),
            playbook_id: &playbook.id,
            trigger,
            event_id: claimed.event.id,
            store: self.store.as_ref(),
        };
        telemetry::for_destination(SLUG, trigger_event(payload, &input)).await
    }

    /// Writes how a run ended, until the store takes it (or the service stops: the claim
    /// then lapses with the process and the run is resumed at the next start).
    async fn settle(&self, claimed: &ClaimedRun, outcome: Outcome, cancel: &Cancellation) {
        let run = claimed.run.id;
        let mut wait = SETTLE_RETRY;
        loop {
            match self.write_outcome(run, &outcome).await {
                Ok(()) => break,
                Err(err) => {
                    tracing::error!(
                        "run {run}: cannot record how it ended ({err}); retrying in {}s",
                        wait.as_secs()
                    );
                }
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(SETTLE_RETRY_MAX);
        }
        self.after_settled(claimed, outcome).await;
    }

    async fn write_outcome(&self, run: RunId, outcome: &Outcome) -> StoreResult<()> {
        match outcome {
            Outcome::Finished(_, record) | Outcome::Dead(record) => {
                self.store.finish_run(run, record.clone()).await
            }
            Outcome::Held(record, hold) => {
                self.store.park_run(run, record.clone(), hold.clone()).await
            }
            Outcome::Filtered => self.store.discard_run(run).await,
            Outcome::Stopped => self.store.release_run(run).await,
        }
    }

    /// Metrics, playbook health and the runs woken by a delivery, once a run is settled.
    async fn after_settled(&self, claimed: &ClaimedRun, outcome: Outcome) {
        let run = claimed.run.id;
        match outcome {
            Outcome::Finished(playbook, record) => {
                crate::metrics::record_run(
                    self.executor.registry(),
                    &playbook.id,
                    &playbook.playbook,
                    &record,
                );
                match record.status {
                    RunStatus::Succeeded => {
                        self.store.write_behind(WriteBehind::PlaybookSucceeded {
                            playbook_id: playbook.id.clone(),
                        });
                        self.wake_destinations(&playbook, &record).await;
                    }
                    _ => self.count_failure(&playbook, &record).await,
                }
            }
            Outcome::Dead(record) => {
                crate::metrics::record_dead_letter(&claimed.run.playbook_id);
                tracing::error!(
                    "run {run} of playbook {} is a dead letter: {}",
                    claimed.run.playbook_id,
                    record.error.as_deref().unwrap_or("no reason given")
                );
            }
            Outcome::Held(record, hold) => {
                tracing::warn!(
                    "run {run} is held until {} ms: {}",
                    hold.until_ms,
                    record.error.as_deref().unwrap_or("its destination failed")
                );
                self.held_destinations
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(hold.destination);
            }
            Outcome::Filtered | Outcome::Stopped => {}
        }
    }

    /// Counts a permanent failure; the one that makes enough in a row disables the
    /// playbook.
    async fn count_failure(&self, playbook: &DeployedPlaybook, record: &RunRecord) {
        let error = record.error.clone().unwrap_or_default();
        let health = match self
            .store
            .record_playbook_failure(&playbook.id, &error)
            .await
        {
            Ok(health) => health,
            Err(err) => {
                tracing::error!("playbook {}: cannot record a failure: {err}", playbook.id);
                return;
            }
        };
        let limit = self.policy.disable_after_failures.max(1);
        if health.disabled.is_some() || health.consecutive_failures < limit {
            return;
        }
        let reason = match health.consecutive_failures {
            1 => format!("disabled after a run failed with an error to fix: {error}"),
            n => format!(
                "disabled after {n} runs in a row failed with errors to fix; last error: {error}"
            ),
        };
        match self.store.disable_playbook(&playbook.id, &reason).await {
            Ok(_) => tracing::error!(
                "playbook {} is disabled: {reason}; its runs are held until it is enabled again",
                playbook.id
            ),
            Err(err) => tracing::error!("playbook {}: cannot disable it: {err}", playbook.id),
        }
    }

    /// After a run delivered to destinations that runs were put aside for, those runs are
    /// due now: the destination answers again.
    async fn wake_destinations(&self, playbook: &DeployedPlaybook, record: &RunRecord) {
        let delivered = self.delivered_destinations(playbook, record);
        let woken: Vec<String> = {
            let mut held = self
                .held_destinations
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            delivered
                .into_iter()
                .filter(|destination| held.remove(destination.as_str()))
                .collect()
        };
        for destination in woken {
            match self.store.wake_waiting(&destination).await {
                Ok(0) => {}
                Ok(count) => {
                    tracing::info!("{destination} answers again: {count} held runs are due now");
                    self.wake.notify_one();
                }
                Err(err) => tracing::warn!("cannot wake the runs held for {destination}: {err}"),
            }
        }
    }

    /// The module slugs of the actions that succeeded in `record`.
    fn delivered_destinations(
        &self,
        playbook: &DeployedPlaybook,
        record: &RunRecord,
    ) -> Vec<String> {
        let registry = self.executor.registry();
        let mut slugs: Vec<String> = record
            .nodes
            .iter()
            .filter(|node| node.status == NodeStatus::Succeeded)
            .filter_map(|node| match &playbook.playbook.node(&node.id)?.kind {
                NodeKind::Action { module_uuid, .. } => {
                    Some(registry.module(module_uuid)?.manifest.slug.to_owned())
                }
                _ => None,
            })
            .collect();
        slugs.sort();
        slugs.dedup();
        slugs
    }
}

/// Whether a failed run failed only because destinations kept failing past the retry age.
fn is_expired(record: &RunRecord) -> bool {
    record.status == RunStatus::Failed && record.failure == Some(FailureKind::Expired)
}

/// A failed run's record, as a dead letter.
fn as_dead_letter(record: &RunRecord) -> RunRecord {
    RunRecord {
        status: RunStatus::Dead,
        ..record.clone()
    }
}

/// A dead letter that never ran, for `why`.
fn dead(trigger_node: &str, why: String) -> Outcome {
    Outcome::Dead(ended_before_start(trigger_node, RunStatus::Dead, why))
}

/// How a run whose trigger event could not be built ends: held, dead (expired) or failed.
fn trigger_failed(
    playbook: &Arc<DeployedPlaybook>,
    trigger_node: &str,
    err: alertsync_engine::ActionError,
) -> Outcome {
    if let Some(until_ms) = err.held_until_ms {
        let mut record = ended_before_start(trigger_node, RunStatus::Waiting, err.message.clone());
        record.ended_at_ms = None;
        record
            .nodes
            .push(trigger_waiting(playbook, trigger_node, &err.message));
        let hold = Hold {
            until_ms,
            destination: SLUG.to_owned(),
        };
        return Outcome::Held(record, hold);
    }
    if err.is_transient() {
        return dead(trigger_node, err.message);
    }
    let record = ended_before_start(trigger_node, RunStatus::Failed, err.message);
    Outcome::Finished(Arc::clone(playbook), record)
}

/// The record of a run that ended before its first node (its trigger event could not be
/// built, or it can never run).
fn ended_before_start(trigger_node: &str, status: RunStatus, why: String) -> RunRecord {
    let now = alertsync_engine::now_ms();
    RunRecord {
        status,
        trigger_node: trigger_node.to_owned(),
        started_at_ms: now,
        ended_at_ms: Some(now),
        error: Some(why),
        nodes: Vec::new(),
        hold: None,
        failure: (status == RunStatus::Failed).then_some(FailureKind::Permanent),
    }
}

/// The trigger node, waiting for the alert read to be retried (its retry state is kept
/// under its `seq`, 0).
fn trigger_waiting(playbook: &DeployedPlaybook, trigger_node: &str, why: &str) -> NodeRecord {
    let now = alertsync_engine::now_ms();
    NodeRecord {
        seq: 0,
        id: trigger_node.to_owned(),
        name: playbook
            .playbook
            .node(trigger_node)
            .map(|node| node.name.clone())
            .unwrap_or_default(),
        status: NodeStatus::Waiting,
        started_at_ms: now,
        ended_at_ms: None,
        duration_ms: None,
        arguments: Value::Null,
        results: None,
        error: Some(why.to_owned()),
        logs: Vec::new(),
        outputs: Vec::new(),
        iteration: Vec::new(),
        dry_run_writes: Vec::new(),
        attempts: 0,
        exchanges: Vec::new(),
    }
}

/// The alert of a run whose trigger read none (a Manual Trigger gives only its uuid), as a
/// node of the run read it: the first node result that is the event's alert (Get Alert's,
/// or the alert an ilert action forwarded).
fn alert_in_results(event: &InboxEvent, record: &RunRecord) -> Option<RunAlert> {
    let uuid = event.alert_uuid.as_deref()?;
    record
        .nodes
        .iter()
        .filter_map(|node| node.results.as_ref())
        .find(|results| {
            results.get("uuid").and_then(Value::as_str) == Some(uuid)
                && results.get("short_id").is_some()
        })
        .map(|alert| run_alert(&event.account, alert))
}

/// The requests the node runs an earlier attempt left unfinished (held for a retry) had
/// sent, by node id and loop indices.
fn interrupted_exchanges(claimed: &ClaimedRun) -> HashMap<(String, Vec<usize>), Vec<Exchange>> {
    claimed
        .interrupted_nodes
        .iter()
        .filter(|node| !node.exchanges.is_empty())
        .map(|node| {
            (
                (node.id.clone(), node.iteration.clone()),
                node.exchanges.clone(),
            )
        })
        .collect()
}

/// The retry progress of the node runs an earlier attempt left waiting for a retry, by
/// node id and loop indices.
fn interrupted_retries(claimed: &ClaimedRun) -> HashMap<(String, Vec<usize>), RetryProgress> {
    claimed
        .retries
        .iter()
        .filter_map(|retry| {
            // A node stopped at shutdown is recorded as failed, one killed as running.
            let node = claimed
                .interrupted_nodes
                .iter()
                .chain(&claimed.completed_nodes)
                .find(|n| n.seq == retry.seq)?;
            Some(((node.id.clone(), node.iteration.clone()), retry.progress()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use alertsync_store::{EventSource, InboxId};
    use serde_json::json;

    use super::*;

    fn node(seq: usize, results: Value) -> NodeRecord {
        serde_json::from_value(json!({
            "seq": seq, "id": seq.to_string(), "name": "n", "status": "succeeded",
            "started_at_ms": 1, "ended_at_ms": 2, "duration_ms": 1, "arguments": null,
            "results": results, "error": null, "logs": [], "outputs": ["default"],
            "iteration": [],
        }))
        .expect("a node record")
    }

    #[test]
    fn a_manual_run_knows_its_alert_from_the_first_node_that_read_it() {
        let event = InboxEvent {
            id: InboxId(1),
            source: EventSource::Webhook,
            account: "sekoia".to_owned(),
            alert_uuid: Some("uuid-1".to_owned()),
            dedup_key: "webhook/1".to_owned(),
            payload: Value::Null,
            received_at_ms: 1,
            done_at_ms: None,
        };
        let alert = |uuid: &str, title: &str| {
            json!({"uuid": uuid, "short_id": "ALx1", "title": title,
                   "urgency": {"current_value": 61}})
        };
        let mut record = RunRecord {
            status: RunStatus::Succeeded,
            trigger_node: "0".to_owned(),
            started_at_ms: 1,
            ended_at_ms: Some(2),
            error: None,
            nodes: vec![
                node(0, json!({"alert_uuid": "uuid-1"})),
                node(1, alert("uuid-2", "another alert")),
                node(2, alert("uuid-1", "Disk full")),
                node(3, alert("uuid-1", "later")),
            ],
            hold: None,
            failure: None,
        };
        assert_eq!(
            alert_in_results(&event, &record),
            Some(RunAlert {
                account: Some("sekoia".to_owned()),
                short_id: Some("ALx1".to_owned()),
                title: Some("Disk full".to_owned()),
                urgency: Some(61),
            })
        );
        record.nodes.truncate(2);
        assert_eq!(alert_in_results(&event, &record), None);
    }
}
