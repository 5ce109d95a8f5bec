//! Group commit: concurrent writes share one transaction, and so one sync to disk.
//!
//! With `synchronous = FULL` every commit waits for the disk, and with one writer the
//! commits of concurrent workers would wait for each other, one sync each. Instead, one
//! thread owns the write connection and takes every write queued while the previous commit
//! was syncing: it runs each in its own savepoint (a failing write rolls back alone,
//! leaving the others), commits them together, and only then answers each caller. A write
//! still returns only once it is on disk; N concurrent writes cost one sync instead of N.
//! Writes run in the order they were queued, so each sees the ones before it. A write may
//! also be queued without waiting ([`WriteQueue::submit`]): it is committed with its batch,
//! before any write queued after it, and a failure is logged. Such a write that a later
//! write of its batch overwrites whole ([`Footprint`]) is left out: a node run's record
//! replaced by a later one, and a run's start and records ahead of the run's end, which
//! writes every record again (if that end fails, they are run after all, in its place). A
//! short run then costs its end's statements only.
//!
//! The queue wakes the writer thread only for the first write of a batch, for a write
//! somebody waits for and when a batch is full: a run's records queued while the batch
//! lingers cost no wake-up each.
//!
//! Written by hand: it is a queue, a thread and savepoints around rusqlite, which no crate
//! provides.

use std::any::Any;
use std::collections::{HashSet, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use super::{Fault, Inner};
use crate::model::RunId;

/// Most writes one transaction takes: bounds how long a batch holds the write lock.
const MAX_BATCH: usize = 256;

/// How long writes nobody waits for ([`WriteQueue::submit`]) may wait for a write somebody
/// waits for, to share its commit: a run's start, its alert and its node records then ride
/// with the next event, claim or run end instead of each paying a sync to disk of its own.
/// Their loss in a crash is harmless by design (see [`crate::WriteBehind`]), and a write
/// that returns `Ok` still brings every one queued before it to disk.
const LINGER: Duration = Duration::from_millis(20);

/// An operation's result, its type erased on the way through a queue.
pub(super) type Erased = Box<dyn Any + Send>;
type Op = Box<dyn FnOnce(&Transaction<'_>, &Inner) -> Result<Erased, Fault> + Send>;

/// What a write changes, as far as a later write of its batch may overwrite all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Footprint {
    /// Nothing a later write overwrites whole.
    Other,
    /// A run's start: its settlement overwrites it.
    RunStart(RunId),
    /// The record of node run `seq` of a run: a later record of the same node run, or the
    /// run's settlement, overwrites it.
    NodeRecord(RunId, usize),
    /// A run's end, park or removal: writes its status and every node record.
    RunSettled(RunId),
}

/// One queued write and where its answer goes.
struct Job {
    /// Names the write in the log if it fails and nobody waits for it.
    operation: &'static str,
    footprint: Footprint,
    op: Op,
    reply: oneshot::Sender<Result<Erased, Fault>>,
    /// Whether a caller waits for the commit.
    awaited: bool,
}

/// The writes queued for the writer thread, in order.
#[derive(Default)]
struct Pending {
    jobs: VecDeque<Job>,
    /// How many of `jobs` somebody waits for.
    awaited: usize,
    /// No write is taken any more: the queue was dropped, or the writer thread ended.
    closed: bool,
}

/// What the queue and its writer thread share.
#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    /// Signalled when the first write of a batch or an awaited write is queued, and when
    /// the queue closes.
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The queue of the writer thread. The thread ends when the queue is dropped.
pub(super) struct WriteQueue {
    shared: Arc<Shared>,
    /// Joined when the queue is dropped (see the `Drop` implementation).
    writer: Option<JoinHandle<()>>,
}

impl WriteQueue {
    /// Starts the writer thread on `connection`.
    pub(super) fn start(connection: Connection, inner: Arc<Inner>) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let writer = std::thread::Builder::new()
            .name("alertsync-store-writer".to_owned())
            .spawn({
                let shared = Arc::clone(&shared);
                move || write_batches(connection, &inner, &shared)
            })?;
        Ok(Self {
            shared,
            writer: Some(writer),
        })
    }

    /// Runs `op` in the next transaction and returns its result once that transaction is
    /// committed (or the error that stopped `op`, or the commit).
    pub(super) async fn write<T, F>(&self, operation: &'static str, op: F) -> Result<T, Fault>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>, &Inner) -> Result<T, Fault> + Send + 'static,
    {
        self.awaited(operation, Footprint::Other, op).await
    }

    /// Settles claimed run `run` with `op` (its end, park or removal, which writes its
    /// status and every node record) and returns once that is committed.
    pub(super) async fn settle<F>(
        &self,
        operation: &'static str,
        run: RunId,
        op: F,
    ) -> Result<(), Fault>
    where
        F: FnOnce(&Transaction<'_>, &Inner) -> Result<(), Fault> + Send + 'static,
    {
        self.awaited(operation, Footprint::RunSettled(run), op)
            .await
    }

    async fn awaited<T, F>(
        &self,
        operation: &'static str,
        footprint: Footprint,
        op: F,
    ) -> Result<T, Fault>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>, &Inner) -> Result<T, Fault> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.queue(operation, footprint, true, op, reply)?;
        let value = answer.await.map_err(|_| {
            Fault::Batch("the store's writer stopped before answering".to_owned())
        })??;
        unerase(value)
    }

    /// Queues `op` without waiting for it (see the module documentation).
    pub(super) fn submit<F>(&self, operation: &'static str, footprint: Footprint, op: F)
    where
        F: FnOnce(&Transaction<'_>, &Inner) -> Result<(), Fault> + Send + 'static,
    {
        let (reply, _unanswered) = oneshot::channel();
        if let Err(fault) = self.queue(operation, footprint, false, op, reply) {
            tracing::error!("store: {operation}: {}", fault.during(operation));
        }
    }

    fn queue<T, F>(
        &self,
        operation: &'static str,
        footprint: Footprint,
        awaited: bool,
        op: F,
        reply: oneshot::Sender<Result<Erased, Fault>>,
    ) -> Result<(), Fault>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>, &Inner) -> Result<T, Fault> + Send + 'static,
    {
        let op: Op = Box::new(move |tx, inner| op(tx, inner).map(|v| Box::new(v) as Erased));
        let mut pending = self.shared.lock();
        if pending.closed {
            return Err(Fault::Batch("the store's writer has stopped".to_owned()));
        }
        let wake = pending.jobs.is_empty() || awaited || pending.jobs.len() + 1 == MAX_BATCH;
        pending.awaited += usize::from(awaited);
        pending.jobs.push_back(Job {
            operation,
            footprint,
            op,
            reply,
            awaited,
        });
        drop(pending);
        if wake {
            self.shared.wake.notify_one();
        }
        Ok(())
    }
}

impl Drop for WriteQueue {
    /// Closes the queue and waits for the writer thread to commit what was queued and end:
    /// the thread holds the store's connections and lock, which are released once the
    /// store's last clone is dropped, not some time later.
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        if let Some(writer) = self.writer.take()
            && writer.thread().id() != std::thread::current().id()
        {
            let _ = writer.join();
        }
    }
}

/// The writer thread: one transaction per batch of queued writes, until the queue closes
/// and is empty.
fn write_batches(mut connection: Connection, inner: &Inner, shared: &Shared) {
    let _closes = ClosesOnExit(shared);
    while let Some(batch) = next_batch(shared) {
        commit_batch(&mut connection, inner, batch);
    }
}

/// Closes the queue when the writer thread ends, however it ends: later writes then fail
/// at once, and the callers of writes still queued are answered that the writer stopped.
struct ClosesOnExit<'a>(&'a Shared);

impl Drop for ClosesOnExit<'_> {
    fn drop(&mut self) {
        let unanswered = {
            let mut pending = self.0.lock();
            pending.closed = true;
            pending.awaited = 0;
            std::mem::take(&mut pending.jobs)
        };
        drop(unanswered);
    }
}

/// The next batch: once a write is queued, every write queued by then and, while nobody
/// waits for any of them, those queued within [`LINGER`] (until one is awaited); at most
/// [`MAX_BATCH`]. `None` once the queue is closed and empty.
fn next_batch(shared: &Shared) -> Option<Vec<Job>> {
    let mut pending = shared.lock();
    while pending.jobs.is_empty() {
        if pending.closed {
            return None;
        }
        pending = shared
            .wake
            .wait(pending)
            .unwrap_or_else(PoisonError::into_inner);
    }
    let deadline = Instant::now() + LINGER;
    while pending.awaited == 0 && pending.jobs.len() < MAX_BATCH && !pending.closed {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        pending = shared
            .wake
            .wait_timeout(pending, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    let taken = pending.jobs.len().min(MAX_BATCH);
    let batch: Vec<Job> = pending.jobs.drain(..taken).collect();
    pending.awaited -= batch.iter().filter(|job| job.awaited).count();
    Some(batch)
}

fn commit_batch(connection: &mut Connection, inner: &Inner, batch: Vec<Job>) {
    let tx = match connection.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let why = format!("cannot begin a transaction: {e}");
            inner.write_health.note(Some(why.clone()));
            for job in batch {
                answer(job.operation, job.reply, Err(Fault::Batch(why.clone())));
            }
            return;
        }
    };
    let answers = run_batch(&tx, inner, batch);
    let committed = tx.commit().map_err(|e| format!("the commit failed: {e}"));
    let storage_failure = match &committed {
        Err(why) => Some(why.clone()),
        Ok(()) => answers.iter().find_map(|(_, _, outcome)| match outcome {
            Err(fault) if fault.is_storage_failure() => Some(format!("{fault:?}")),
            _ => None,
        }),
    };
    inner.write_health.note(storage_failure);
    for (operation, reply, outcome) in answers {
        let outcome = match &committed {
            Ok(()) => outcome,
            Err(why) => outcome.and(Err(Fault::Batch(why.clone()))),
        };
        answer(operation, reply, outcome);
    }
}

/// What the writer does with a write of its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Runs it.
    Run,
    /// Leaves it out: nobody waits for it, and a later record of the same node run in the
    /// batch replaces it.
    Replaced,
    /// Holds it back until the settlement of this run later in the batch, which writes it
    /// again: it is left out if the settlement succeeds, and run, in order, if it fails.
    UntilSettled(RunId),
}

/// The plan of each write of `batch` ([`Footprint`]): only writes nobody waits for are
/// left out or held back.
fn plan(batch: &[Job]) -> Vec<Plan> {
    let mut settled = HashSet::new();
    let mut recorded = HashSet::new();
    let mut plans = vec![Plan::Run; batch.len()];
    for (index, job) in batch.iter().enumerate().rev() {
        let (run, replaced) = match job.footprint {
            Footprint::Other => continue,
            Footprint::RunSettled(run) => {
                settled.insert(run);
                continue;
            }
            Footprint::RunStart(run) => (run, false),
            Footprint::NodeRecord(run, seq) => (run, !recorded.insert((run, seq))),
        };
        if job.awaited {
            continue;
        }
        if settled.contains(&run) {
            plans[index] = Plan::UntilSettled(run);
        } else if replaced {
            plans[index] = Plan::Replaced;
        }
    }
    plans
}

/// The outcome of a write, with where it goes.
type Answer = (
    &'static str,
    oneshot::Sender<Result<Erased, Fault>>,
    Result<Erased, Fault>,
);

/// Runs the writes of `batch` in `tx`, each in its own savepoint, as [`plan`] says.
fn run_batch(tx: &Transaction<'_>, inner: &Inner, batch: Vec<Job>) -> Vec<Answer> {
    let run = |job: Job| -> Answer {
        let outcome = in_savepoint(tx, |tx| run_op(job.op, tx, inner));
        (job.operation, job.reply, outcome)
    };
    let left_out = |job: Job| -> Answer { (job.operation, job.reply, Ok(Box::new(()) as Erased)) };
    let plans = plan(&batch);
    let mut held: Vec<(RunId, Job)> = Vec::new();
    let mut answers = Vec::with_capacity(batch.len());
    for (job, planned) in batch.into_iter().zip(plans) {
        match planned {
            Plan::Replaced => answers.push(left_out(job)),
            Plan::UntilSettled(settled_run) => held.push((settled_run, job)),
            Plan::Run => {
                let settles = match job.footprint {
                    Footprint::RunSettled(settled_run) => Some(settled_run),
                    _ => None,
                };
                let answer = run(job);
                let succeeded = answer.2.is_ok();
                answers.push(answer);
                let Some(settled_run) = settles else { continue };
                let (mine, others): (Vec<_>, Vec<_>) =
                    held.into_iter().partition(|(of, _)| *of == settled_run);
                held = others;
                answers.extend(
                    mine.into_iter().map(
                        |(_, job)| {
                            if succeeded { left_out(job) } else { run(job) }
                        },
                    ),
                );
            }
        }
    }
    // A write is held only for a settlement later in its batch, which [`plan`] always runs.
    debug_assert!(
        held.is_empty(),
        "writes held for a settlement not in the batch"
    );
    answers
}

/// Answers a write's caller; when nobody waits (a write queued without waiting, or a caller
/// that went away), a failure is logged instead.
fn answer(
    operation: &'static str,
    reply: oneshot::Sender<Result<Erased, Fault>>,
    outcome: Result<Erased, Fault>,
) {
    if let Err(Err(fault)) = reply.send(outcome) {
        tracing::error!("store: {}", fault.during(operation));
    }
}

/// Runs one write; a panic fails that write alone instead of the writer thread.
fn run_op(op: Op, tx: &Transaction<'_>, inner: &Inner) -> Result<Erased, Fault> {
    guarded(|| op(tx, inner))
}

/// Runs `op`; a panic fails `op` alone instead of the thread running it.
pub(super) fn guarded<T>(op: impl FnOnce() -> Result<T, Fault>) -> Result<T, Fault> {
    catch_unwind(AssertUnwindSafe(op))
        .unwrap_or_else(|_| Err(Fault::Batch("the operation panicked".to_owned())))
}

/// The value of an [`Erased`] result, of the type its operation returned.
pub(super) fn unerase<T: 'static>(value: Erased) -> Result<T, Fault> {
    value
        .downcast::<T>()
        .map(|value| *value)
        .map_err(|_| Fault::Batch("an operation answered with a value of another type".to_owned()))
}

/// Runs `op` in a savepoint: its changes are kept if it succeeds, undone if it fails.
fn in_savepoint<T>(
    tx: &Transaction<'_>,
    op: impl FnOnce(&Transaction<'_>) -> Result<T, Fault>,
) -> Result<T, Fault> {
    // Cached statements: a batch runs these around every write, and parsing them each
    // time showed in profiles.
    let statement = |sql: &str| -> Result<(), Fault> {
        tx.prepare_cached(sql)?.execute([])?;
        Ok(())
    };
    statement("SAVEPOINT one_write")?;
    match op(tx) {
        Ok(value) => {
            statement("RELEASE one_write")?;
            Ok(value)
        }
        Err(fault) => {
            statement("ROLLBACK TO one_write")?;
            statement("RELEASE one_write")?;
            Err(fault)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(footprint: Footprint, awaited: bool) -> Job {
        Job {
            operation: "a write of the test",
            footprint,
            op: Box::new(|_, _| Ok(Box::new(()) as Erased)),
            reply: oneshot::channel().0,
            awaited,
        }
    }

    #[test]
    fn writes_a_later_write_of_the_batch_writes_again_are_left_out_or_held_unless_awaited() {
        let (a, b) = (RunId(1), RunId(2));
        let batch = [
            job(Footprint::RunStart(a), false),
            job(Footprint::NodeRecord(a, 0), false),
            job(Footprint::NodeRecord(b, 0), false),
            job(Footprint::NodeRecord(b, 0), false),
            job(Footprint::NodeRecord(a, 1), false),
            job(Footprint::Other, true),
            job(Footprint::RunSettled(a), true),
            // After the settlement: the run was claimed again and resumed.
            job(Footprint::NodeRecord(a, 0), false),
            job(Footprint::RunStart(b), false),
            job(Footprint::NodeRecord(b, 1), true),
        ];
        let held = Plan::UntilSettled(a);
        assert_eq!(
            plan(&batch),
            [
                held,
                held,
                Plan::Replaced,
                Plan::Run,
                held,
                Plan::Run,
                Plan::Run,
                Plan::Run,
                Plan::Run,
                Plan::Run
            ]
        );
    }

    /// A write of the test that inserts `value` into table `t`, or fails if `value` is
    /// `None`.
    fn writing(footprint: Footprint, awaited: bool, value: Option<i64>) -> Job {
        Job {
            op: Box::new(move |tx, _| {
                let value = value.ok_or_else(|| Fault::Batch("refused".to_owned()))?;
                tx.execute("INSERT INTO t (v) VALUES (?1)", [value])?;
                Ok(Box::new(()) as Erased)
            }),
            ..job(footprint, awaited)
        }
    }

    #[test]
    fn writes_held_for_a_settlement_are_left_out_if_it_succeeds_and_run_if_it_fails() {
        let inner = Inner {
            path: std::path::PathBuf::new(),
            instance: "test".to_owned(),
            claims: Default::default(),
            write_health: Default::default(),
            _lock: None,
        };
        for settles in [true, false] {
            let mut connection = Connection::open_in_memory().unwrap();
            connection
                .execute("CREATE TABLE t (v INTEGER)", [])
                .unwrap();
            let run = RunId(1);
            let batch = vec![
                writing(Footprint::RunStart(run), false, Some(1)),
                writing(Footprint::NodeRecord(run, 0), false, Some(2)),
                writing(Footprint::Other, true, Some(3)),
                writing(Footprint::RunSettled(run), true, settles.then_some(4)),
            ];
            let tx = connection.transaction().unwrap();
            let answers = run_batch(&tx, &inner, batch);
            let written: Vec<i64> = {
                let mut rows = tx.prepare("SELECT v FROM t ORDER BY rowid").unwrap();
                rows.query_map([], |row| row.get(0))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap()
            };
            let (expected, failed) = if settles {
                (vec![3, 4], 0)
            } else {
                (vec![3, 1, 2], 1)
            };
            assert_eq!(written, expected, "settlement succeeds: {settles}");
            assert_eq!(answers.len(), 4);
            assert_eq!(answers.iter().filter(|a| a.2.is_err()).count(), failed);
        }
    }

    fn queued(shared: &Shared, awaited: &[bool]) {
        let mut pending = shared.lock();
        for &awaited in awaited {
            pending.awaited += usize::from(awaited);
            pending.jobs.push_back(job(Footprint::Other, awaited));
        }
    }

    #[test]
    fn a_batch_takes_at_most_its_share_of_the_queue_and_a_closed_queue_is_drained() {
        let shared = Shared::default();
        let mut awaited = vec![false; MAX_BATCH + 5];
        awaited[MAX_BATCH + 4] = true;
        queued(&shared, &awaited);
        // Somebody waits (the last write): no lingering, MAX_BATCH writes, then the rest.
        let first = next_batch(&shared).expect("a batch");
        assert_eq!(first.len(), MAX_BATCH);
        assert_eq!(shared.lock().awaited, 1);
        let second = next_batch(&shared).expect("a batch");
        assert_eq!(second.len(), 5);
        assert!(second[4].awaited);
        assert_eq!(shared.lock().awaited, 0);

        queued(&shared, &[false, false]);
        shared.lock().closed = true;
        assert_eq!(next_batch(&shared).expect("what was queued").len(), 2);
        assert!(next_batch(&shared).is_none(), "closed and empty");
    }
}
