//! Proving that an account works, without changing anything where it is sent: the check
//! `alertsync check --online` makes for every configured account.
//!
//! * Sekoia.io: `GET /v1/me` with the API key (a read).
//! * ilert: a *resolve* event for an alert key no alert has (`alertsync-check-<uuid>`).
//!   ilert resolves only an open alert with that key, so nothing is created or changed, while
//!   a wrong integration key or URL is refused (404). It counts as one event against the
//!   key's rate limit.
//! * Other modules are not checked: every request they make posts something someone sees.
//!
//! No retry: a check answers at once, and its error names the request and the status.

use std::sync::Arc;

use alertsync_engine::http::HttpClient;
use alertsync_engine::{Account, ActionContext, ActionError, RetryPolicy};
use reqwest::Method;

use crate::sekoia::client::ApiPath;
use crate::{ilert, sekoia};

/// What a check found out about one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The account works; what proved it.
    Works(String),
    /// The account does not work; the error, naming the request (secrets masked).
    Fails(String),
    /// Nothing can prove it without sending something; why.
    NotChecked(&'static str),
}

/// Checks `account` over the network.
pub async fn probe(http: &HttpClient, account: Arc<Account>) -> Probe {
    let redactor = account.redactor();
    let mut cx = ActionContext::new(http.clone(), redactor.clone());
    cx.retry = RetryPolicy::none();
    let outcome = match account.module.as_str() {
        sekoia::SLUG => sekoia_identity(&cx, &account).await,
        ilert::SLUG => {
            cx.account = Some(Arc::clone(&account));
            ilert::resolve_nothing(&cx).await
        }
        _ => {
            return Probe::NotChecked(
                "no request proves this account without posting something someone would see",
            );
        }
    };
    match outcome {
        Ok(proof) => Probe::Works(proof),
        Err(error) => Probe::Fails(redactor.mask_str(&error.message)),
    }
}

async fn sekoia_identity(cx: &ActionContext, account: &Account) -> Result<String, ActionError> {
    let client = sekoia::client_from_account(cx, account)?;
    let me = ApiPath::new("me");
    client.call(cx, Method::GET, &me, &[], None).await?;
    Ok(format!("GET {} answered", client.url(&me)))
}
