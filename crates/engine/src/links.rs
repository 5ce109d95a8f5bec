//! Links between Sekoia.io alerts and what other systems made of them.
//!
//! A destination may answer a delivery with the id it gave the alert (ilert names the alert
//! it opened). An action that learns such an id records it through [`AlertLinks`], so that a
//! change the destination later reports under its own id (ilert's webhook names its alert)
//! can be traced back to the Sekoia.io alert. The service keeps links in its store; one-shot
//! commands keep none.

use async_trait::async_trait;

/// Where actions record the ids other systems gave to Sekoia.io alerts.
#[async_trait]
pub trait AlertLinks: Send + Sync {
    /// Records that `system` (a module slug, e.g. `ilert`) knows the Sekoia.io alert
    /// `alert_uuid` as `remote_id`. It may return before the link is stored (the service
    /// queues it with the run's records); a link that cannot be stored is logged: a lost
    /// link only makes a later change harder to trace, never a delivery fail.
    async fn link(&self, system: &str, remote_id: &str, alert_uuid: &str);
}
