//! Reads: a small pool of reader threads, each owning a read-only connection, takes the
//! queued reads one at a time. An async caller queues its read and awaits the answer, so a
//! burst of reads (the console, the API, the sources' checkpoints) waits in the queue, not
//! as blocked threads of tokio's blocking pool each holding a lock. In WAL mode the
//! readers never wait for the writer, nor for each other.
//!
//! Written by hand for the same reason as [`super::commit`]: a queue and threads around
//! rusqlite connections.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use rusqlite::{Connection, Transaction};
use tokio::sync::oneshot;

use super::Fault;
use super::commit::{Erased, guarded, unerase};

type ReadOp = Box<dyn FnOnce(&Transaction<'_>) -> Result<Erased, Fault> + Send>;

/// One queued read and where its answer goes.
struct ReadJob {
    op: ReadOp,
    reply: oneshot::Sender<Result<Erased, Fault>>,
}

/// The queue of the reader threads. They end when the pool is dropped.
pub(super) struct ReadPool {
    jobs: Option<Sender<ReadJob>>,
    readers: Vec<JoinHandle<()>>,
}

impl ReadPool {
    /// Starts one reader thread per connection.
    pub(super) fn start(connections: Vec<Connection>) -> std::io::Result<Self> {
        let (jobs, queued) = channel();
        let queued = Arc::new(Mutex::new(queued));
        let readers = connections
            .into_iter()
            .enumerate()
            .map(|(n, connection)| {
                let queued = Arc::clone(&queued);
                std::thread::Builder::new()
                    .name(format!("alertsync-store-reader-{n}"))
                    .spawn(move || serve_reads(connection, &queued))
            })
            .collect::<std::io::Result<_>>()?;
        Ok(Self {
            jobs: Some(jobs),
            readers,
        })
    }

    /// Runs `op` in a read transaction (one consistent snapshot) on the next free reader.
    pub(super) async fn read<T, F>(&self, op: F) -> Result<T, Fault>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, Fault> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let op: ReadOp = Box::new(move |tx| op(tx).map(|v| Box::new(v) as Erased));
        self.jobs
            .as_ref()
            .ok_or_else(|| Fault::Batch("the store's readers have stopped".to_owned()))?
            .send(ReadJob { op, reply })
            .map_err(|_| Fault::Batch("the store's readers have stopped".to_owned()))?;
        let value = answer.await.map_err(|_| {
            Fault::Batch("the store's reader stopped before answering".to_owned())
        })??;
        unerase(value)
    }
}

impl Drop for ReadPool {
    /// Closes the queue and waits for the readers to end, so that the connections are
    /// closed once the store's last clone is dropped.
    fn drop(&mut self) {
        drop(self.jobs.take());
        let current = std::thread::current().id();
        for reader in self.readers.drain(..) {
            if reader.thread().id() != current {
                let _ = reader.join();
            }
        }
    }
}

/// A reader thread: takes the next queued read until the queue closes.
fn serve_reads(mut connection: Connection, queued: &Mutex<Receiver<ReadJob>>) {
    loop {
        let next = queued.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = next else {
            return;
        };
        let outcome = guarded(|| {
            let tx = connection.transaction()?;
            let value = (job.op)(&tx)?;
            tx.finish()?;
            Ok(value)
        });
        // A caller that went away no longer wants the answer.
        let _ = job.reply.send(outcome);
    }
}
