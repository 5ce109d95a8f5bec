//! The runs a store instance has claimed and not settled yet, kept in memory beside the
//! database, for both backends.
//!
//! The database alone cannot tell a run this instance is running from one it claimed in a
//! transaction whose answer never came back (on PostgreSQL, the connection broke after the
//! commit): both carry this instance's id. What the instance holds in hand can: a run the
//! database says this instance claimed but that is not in hand is claimed again, or it
//! would stay held, and its alert wait, for as long as the instance lives.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::StoreResult;
use crate::model::{ClaimedRun, RunId};

/// This instance's claims in hand.
#[derive(Debug, Default)]
pub(crate) struct ClaimsInHand {
    runs: Mutex<HashSet<RunId>>,
    /// Held while a claim picks its runs, so that two claims never pick the same one.
    claiming: tokio::sync::Mutex<()>,
}

/// One claim under way: no other claim of this instance starts until it is dropped.
pub(crate) struct Claiming<'a> {
    in_hand: &'a ClaimsInHand,
    /// The runs in hand when the claim began: they are not to be picked again.
    pub held: HashSet<RunId>,
    _alone: tokio::sync::MutexGuard<'a, ()>,
}

impl ClaimsInHand {
    /// Starts a claim, once any other claim of this instance has ended.
    pub async fn begin(&self) -> Claiming<'_> {
        let alone = self.claiming.lock().await;
        Claiming {
            in_hand: self,
            held: self.runs().clone(),
            _alone: alone,
        }
    }

    /// Ends the claim of `run` once what settles it (its end, park, removal or release) is
    /// committed: only then can no claim see it open. A run whose settling failed stays in
    /// hand (its caller tries again).
    pub fn settled(&self, run: RunId, settling: StoreResult<()>) -> StoreResult<()> {
        if settling.is_ok() {
            self.runs().remove(&run);
        }
        settling
    }

    fn runs(&self) -> MutexGuard<'_, HashSet<RunId>> {
        self.runs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Claiming<'_> {
    /// Puts the runs the claim handed out in hand, and ends the claim.
    pub fn hand_out(self, claimed: Vec<ClaimedRun>) -> Vec<ClaimedRun> {
        self.in_hand
            .runs()
            .extend(claimed.iter().map(|claimed| claimed.run.id));
        claimed
    }
}
