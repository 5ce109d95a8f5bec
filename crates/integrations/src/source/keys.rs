//! The keys the service stores things under, for every source in one place: the dedup key
//! of each kind of inbox event (what makes two deliveries of one event the same event) and
//! the checkpoint keys sources keep their place with.
//!
//! Each source has its own namespace, so keys of different sources never meet — except that
//! a Sekoia.io account's changes start with the account's name, as they always have (a
//! stored key must keep matching the same change after an upgrade), so an account should not
//! be named `cron`, `feed`, `threshold`, `webhook` or `ilert`.

/// A Sekoia.io change (alert or case) seen through `account`: live and back-fill give one
/// change the same `change_id`.
pub fn sekoia_change(account: &str, change_id: &str) -> String {
    format!("{}{change_id}", sekoia_changes(account))
}

/// The prefix of every [`sekoia_change`] key of `account`.
pub fn sekoia_changes(account: &str) -> String {
    format!("{account}/")
}

/// One scheduled time of a Cron trigger.
pub fn cron_tick(playbook_id: &str, node_id: &str, scheduled_at: &str) -> String {
    format!("cron/{playbook_id}/{node_id}/{scheduled_at}")
}

/// One page of a feed trigger's feed, by what makes it that page.
pub fn feed_page(playbook_id: &str, node_id: &str, fingerprint: &str) -> String {
    format!("feed/{playbook_id}/{node_id}/{fingerprint}")
}

/// One waiting spell of an alert's new events for an Alert Events Threshold trigger.
pub fn threshold_time_check(
    playbook_id: &str,
    node_id: &str,
    alert_uuid: &str,
    waiting_since_ms: u64,
) -> String {
    format!(
        "{}{alert_uuid}/{waiting_since_ms}",
        threshold_states(playbook_id, node_id)
    )
}

/// A Manual Trigger call: every call is its own event.
pub fn manual_call() -> String {
    format!("webhook/{}", uuid::Uuid::new_v4())
}

/// A change ilert's webhook reports: an ilert alert entering a status.
pub fn ilert_change(
    playbook_id: &str,
    node_id: &str,
    ilert_alert_id: &str,
    status: &str,
) -> String {
    format!("ilert/{playbook_id}/{node_id}/{ilert_alert_id}/{status}")
}

/// Lease: the instance of a cluster that holds the live connection of `account`.
pub fn live_lease(account: &str) -> String {
    format!("live/{account}")
}

/// Checkpoint: where the back-fill of `account` starts.
pub fn backfill_checkpoint(account: &str) -> String {
    format!("backfill/{account}")
}

/// Checkpoint: a feed trigger's cursor in its feed.
pub fn feed_cursor(playbook_id: &str, node_id: &str, feed_id: &str) -> String {
    format!("feed/{playbook_id}/{node_id}/{feed_id}")
}

/// Checkpoint: what an Alert Events Threshold trigger remembers of one alert.
pub fn threshold_state(playbook_id: &str, node_id: &str, alert_uuid: &str) -> String {
    format!("{}{alert_uuid}", threshold_states(playbook_id, node_id))
}

/// The prefix of every [`threshold_state`] key of one trigger.
pub fn threshold_states(playbook_id: &str, node_id: &str) -> String {
    format!("threshold/{playbook_id}/{node_id}/")
}
