//! The scheduler: hands ready inbox events to workers — for each alert only its oldest
//! unfinished event, so one alert's events run in arrival order while different alerts run
//! in parallel — starts one run per enabled playbook the event fires, resumes runs an
//! earlier process left unfinished, and completes the event once its runs have ended.
//!
//! Shutdown: no new event is claimed; runs in flight get a grace period, then are
//! cancelled *without* being finished in the store, so the next start resumes them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use alertsync_engine::telemetry;
use alertsync_engine::{
    Cancellation, NodeRecord, RetryPolicy, RetryProgress, RunExecutor, RunRecord, RunRequest,
    RunStatus,
};
use alertsync_integrations::sekoia::{SLUG, SekoiaClient, triggers};
use alertsync_store::{
    InboxEvent, NewRun, NodeRunRecorder, RunId, RunStart, Store, UnfinishedRun, WriteBehind,
};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use crate::deploy::{DeployedPlaybook, Deployment, TriggerKind};
use crate::inbox::InboxPayload;

/// The dedup key prefix of an event that reruns only the failed and pending nodes of a
/// run: `<prefix><run id>/<unique>`.
pub const RERUN_FAILED_KEY: &str = "rerun-failed/";

/// How often the inbox is looked at when nobody signals new events.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// What the scheduler needs to run playbooks.
pub struct Scheduler {
    pub store: Arc<dyn Store>,
    pub executor: Arc<RunExecutor>,
    pub deployment: Arc<Deployment>,
    /// Sekoia.io clients by account name, to read the alert of an event.
    pub sekoia: Arc<BTreeMap<String, SekoiaClient>>,
    /// Events processed at the same time.
    pub workers: usize,
    /// Retries of the alert read that starts a run.
    pub retry: RetryPolicy,
    /// Signalled by sources after they stored events.
    pub wake: Arc<Notify>,
}

impl Scheduler {
    /// Processes events until `stop` is cancelled, then waits up to `grace` for runs in
    /// flight before cancelling them.
    pub async fn run(self: Arc<Self>, stop: Cancellation, grace: Duration) {
        let slots = Arc::new(Semaphore::new(self.workers.max(1)));
        let runs_cancel = Cancellation::new();
        let mut tasks = JoinSet::new();
        while !stop.is_cancelled() {
            let free = slots.available_permits();
            let claimed = if free > 0 {
                match self.store.claim_ready_events(free as u32).await {
                    Ok(events) => events,
                    Err(err) => {
                        tracing::error!("cannot read the inbox: {err}");
                        Vec::new()
                    }
                }
            } else {
                Vec::new()
            };
            for event in claimed {
                let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                    break;
                };
                let this = Arc::clone(&self);
                let cancel = runs_cancel.clone();
                let wake = Arc::clone(&self.wake);
                tasks.spawn(async move {
                    this.process(event, cancel).await;
                    drop(permit);
                    wake.notify_one();
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

    /// Runs every playbook the event fires, then completes the event (unless stopping).
    async fn process(&self, event: InboxEvent, cancel: Cancellation) {
        let payload: InboxPayload = match serde_json::from_value(event.payload.clone()) {
            Ok(payload) => payload,
            Err(err) => {
                tracing::error!(
                    "inbox event {}: unreadable payload ({err}); skipped",
                    event.id
                );
                self.complete(&event);
                return;
            }
        };
        for (playbook, trigger_node) in self.fired(&event, &payload) {
            if !self.playbook_enabled(&playbook.id).await {
                continue;
            }
            let finished = self
                .run_playbook(&event, &payload, &playbook, &trigger_node, &cancel)
                .await;
            if !finished {
                // Stopping: the event stays unfinished and is taken up again at the next start.
                let _ = self.store.release_event(event.id).await;
                return;
            }
        }
        self.complete(&event);
    }

    /// Marks the event done, without waiting: the next claim is queued after it.
    fn complete(&self, event: &InboxEvent) {
        self.store
            .write_behind(WriteBehind::EventDone { id: event.id });
    }

    /// The (playbook, trigger node) pairs an event starts.
    fn fired(
        &self,
        event: &InboxEvent,
        payload: &InboxPayload,
    ) -> Vec<(Arc<DeployedPlaybook>, String)> {
        let mut fired = Vec::new();
        for playbook in self.deployment.enabled() {
            // An event meant for one playbook and trigger (webhook, cron, rerun) starts
            // only that one.
            if event
                .playbook_id
                .as_ref()
                .is_some_and(|id| *id != playbook.id)
            {
                continue;
            }
            for trigger in &playbook.triggers {
                if event
                    .trigger_node
                    .as_ref()
                    .is_some_and(|node| *node != trigger.node_id)
                {
                    continue;
                }
                let fires = match (payload, trigger.kind) {
                    (InboxPayload::AlertChange { change, .. }, TriggerKind::Alert(kind)) => {
                        kind.fires_on(*change)
                    }
                    (InboxPayload::Webhook { .. }, TriggerKind::Manual)
                    | (InboxPayload::Cron { .. }, TriggerKind::Cron) => {
                        event.playbook_id.as_deref() == Some(playbook.id.as_str())
                            && event.trigger_node.as_deref() == Some(trigger.node_id.as_str())
                    }
                    _ => false,
                };
                if fires {
                    fired.push((Arc::clone(playbook), trigger.node_id.clone()));
                }
            }
        }
        fired
    }

    async fn playbook_enabled(&self, playbook_id: &str) -> bool {
        match self.store.playbook_health(playbook_id).await {
            Ok(health) => health.disabled.is_none(),
            Err(err) => {
                tracing::error!("playbook {playbook_id}: cannot read its health: {err}");
                true
            }
        }
    }

    /// Runs (or resumes) one playbook for the event; `false` when stopped before the end.
    async fn run_playbook(
        &self,
        event: &InboxEvent,
        payload: &InboxPayload,
        playbook: &DeployedPlaybook,
        trigger_node: &str,
        cancel: &Cancellation,
    ) -> bool {
        let sekoia = self.sekoia.get(&event.account);
        let data_dir = self.executor.data_dir();
        let trigger_event =
            telemetry::for_destination(SLUG, payload.trigger_event(sekoia, self.retry, data_dir))
                .await;
        if let Ok((trigger_event, files)) = &trigger_event
            && !rule_filters_pass(playbook, trigger_node, trigger_event)
        {
            if let Some(files) = files {
                let _ = tokio::fs::remove_dir_all(files).await;
            }
            return true;
        }
        let new_run = NewRun {
            inbox_id: event.id,
            playbook_id: playbook.id.clone(),
            trigger_node: trigger_node.to_owned(),
            started_at_ms: alertsync_engine::now_ms(),
        };
        let (run_id, completed, resumed_retries) = match self.store.begin_run(new_run).await {
            Ok(RunStart::Started { id }) => (id, self.reused_by_rerun(event).await, HashMap::new()),
            Ok(RunStart::Resume { run }) => {
                let retries = interrupted_retries(&run);
                (run.run.id, run.completed_nodes, retries)
            }
            Ok(RunStart::Finished { .. }) => return true,
            Err(err) => {
                tracing::error!("inbox event {}: cannot start a run: {err}", event.id);
                return false;
            }
        };
        let (trigger_event, files) = match trigger_event {
            Ok(built) => built,
            Err(why) => {
                let record = failed_before_start(trigger_node, why);
                self.finish(playbook, run_id, record).await;
                return true;
            }
        };
        let recorder = Arc::new(NodeRunRecorder::new(Arc::clone(&self.store), run_id));
        let request = RunRequest::new(Arc::clone(&playbook.playbook), trigger_node, trigger_event)
            .with_bindings(playbook.bindings.clone())
            .with_cancellation(cancel.clone())
            .with_retry_journal(recorder.clone())
            .resuming(completed)
            .resuming_retries(resumed_retries);
        let request = match files {
            Some(files) => request.with_run_files(files),
            None => request,
        };
        let record = self.executor.run(request, recorder.as_ref()).await;
        if record.status == RunStatus::Cancelled {
            return false;
        }
        self.finish(playbook, run_id, record).await;
        true
    }

    /// For an event that reruns only the failed and pending nodes of a run (dedup key
    /// `<RERUN_FAILED_KEY><run id>/...`): that run's node runs, whose succeeded actions are
    /// reused instead of run again.
    async fn reused_by_rerun(&self, event: &InboxEvent) -> Vec<NodeRecord> {
        let Some(run_id) = event
            .dedup_key
            .strip_prefix(RERUN_FAILED_KEY)
            .and_then(|rest| rest.split('/').next())
            .and_then(|id| id.parse::<i64>().ok())
        else {
            return Vec::new();
        };
        match self.store.run(RunId(run_id)).await {
            Ok(Some(run)) => run.nodes,
            Ok(None) => Vec::new(),
            Err(err) => {
                tracing::error!("inbox event {}: cannot read run {run_id}: {err}", event.id);
                Vec::new()
            }
        }
    }

    /// Stores the run's end and the playbook's health.
    async fn finish(&self, playbook: &DeployedPlaybook, run: RunId, record: RunRecord) {
        crate::metrics::record_run(
            self.executor.registry(),
            &playbook.id,
            &playbook.playbook,
            &record,
        );
        let failed = record.status == RunStatus::Failed;
        let error = record.error.clone().unwrap_or_default();
        // Not waited for: a run whose end is lost resumes and ends again, its actions that
        // ended are not repeated.
        self.store
            .write_behind(WriteBehind::RunFinished { run, record });
        if !failed {
            self.store.write_behind(WriteBehind::PlaybookSucceeded {
                playbook_id: playbook.id.clone(),
            });
            return;
        }
        match self
            .store
            .record_playbook_failure(&playbook.id, &error)
            .await
        {
            Ok(health) => {
                if let Some(disabled) = health.disabled {
                    tracing::error!("playbook {}: {}", playbook.id, disabled.reason);
                }
            }
            Err(err) => tracing::error!("playbook {}: cannot record a failure: {err}", playbook.id),
        }
    }
}

/// Whether an alert event passes the rule filters of the trigger node it fires.
fn rule_filters_pass(
    playbook: &DeployedPlaybook,
    trigger_node: &str,
    event: &serde_json::Value,
) -> bool {
    playbook
        .triggers
        .iter()
        .find(|t| t.node_id == trigger_node)
        .is_none_or(|t| {
            !matches!(t.kind, TriggerKind::Alert(_))
                || triggers::rule_filters_pass(&t.arguments, event)
        })
}

/// The retry progress of the node runs an interrupted run left waiting for a retry, by node
/// id and loop indices.
fn interrupted_retries(run: &UnfinishedRun) -> HashMap<(String, Vec<usize>), RetryProgress> {
    run.retries
        .iter()
        .filter_map(|retry| {
            // A node stopped at shutdown is recorded as failed, one killed as running.
            let node = run
                .interrupted_nodes
                .iter()
                .chain(&run.completed_nodes)
                .find(|n| n.seq == retry.seq)?;
            Some(((node.id.clone(), node.iteration.clone()), retry.progress()?))
        })
        .collect()
}

/// The record of a run that could not start (its trigger event could not be built).
fn failed_before_start(trigger_node: &str, why: String) -> RunRecord {
    let now = alertsync_engine::now_ms();
    RunRecord {
        status: RunStatus::Failed,
        trigger_node: trigger_node.to_owned(),
        started_at_ms: now,
        ended_at_ms: Some(now),
        error: Some(why),
        nodes: Vec::new(),
    }
}
