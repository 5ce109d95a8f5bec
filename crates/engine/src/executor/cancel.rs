//! Asking a run to stop.

use std::sync::Arc;

use tokio::sync::watch;

/// A cheap-to-clone flag that stops the runs holding it; cancelling is permanent.
#[derive(Debug, Clone)]
pub struct Cancellation {
    flag: Arc<watch::Sender<bool>>,
}

impl Default for Cancellation {
    fn default() -> Self {
        Self::new()
    }
}

impl Cancellation {
    pub fn new() -> Self {
        Self {
            flag: Arc::new(watch::Sender::new(false)),
        }
    }

    pub fn cancel(&self) {
        self.flag.send_replace(true);
    }

    pub fn is_cancelled(&self) -> bool {
        *self.flag.borrow()
    }

    /// Completes once [`Cancellation::cancel`] has been called.
    pub async fn cancelled(&self) {
        let mut watcher = self.flag.subscribe();
        // The sender lives as long as `self`, so waiting cannot fail.
        let _ = watcher.wait_for(|cancelled| *cancelled).await;
    }
}
