//! Leases: work that one instance of a cluster does at a time, such as holding the live
//! connection of a Sekoia.io account ([`crate::Store::try_lease`]).

use std::future::Future;
use std::pin::Pin;

/// A lease this instance holds. It ends when dropped, or when the store loses it (the
/// instance's session with the database ended): [`Lease::lost`] then resolves and the
/// holder must stop the work, as another instance may have taken it.
pub struct Lease {
    name: String,
    lost: Pin<Box<dyn Future<Output = ()> + Send>>,
    /// Whether `lost` resolved (it must not be polled again).
    is_lost: bool,
    release: Option<Box<dyn FnOnce() + Send>>,
}

impl Lease {
    pub(crate) fn new(
        name: &str,
        lost: impl Future<Output = ()> + Send + 'static,
        release: impl FnOnce() + Send + 'static,
    ) -> Self {
        Self {
            name: name.to_owned(),
            lost: Box::pin(lost),
            is_lost: false,
            release: Some(Box::new(release)),
        }
    }

    /// A lease nobody else can take: the store has one instance (a SQLite file is opened by
    /// one service at a time).
    pub fn sole(name: &str) -> Self {
        Self::new(name, std::future::pending(), || {})
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Resolves once the lease is lost.
    pub async fn lost(&mut self) {
        if !self.is_lost {
            (&mut self.lost).await;
            self.is_lost = true;
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            release();
        }
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
