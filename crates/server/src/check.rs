//! What `serve` would refuse at start, found without starting it: the playbooks deployed as
//! `serve` deploys them ([`deploy_partial`]), the Sekoia.io accounts their alert triggers
//! listen with, and the listening address against the token. Nothing is opened, bound or
//! sent; `alertsync check --online` then proves the accounts work
//! ([`alertsync_integrations::probe`]).

use std::sync::Arc;

use alertsync_config::Config;
use alertsync_engine::http::{ClientBuildError, HttpClient};
use alertsync_engine::{AccountBook, Registry, RunExecutor};

use crate::deploy::deploy_partial;

/// Every reason `serve` would not start with `config` (its own problems aside: they are the
/// configuration loader's).
pub fn startup_problems(
    config: &Config,
    registry: &Arc<Registry>,
) -> Result<Vec<String>, ClientBuildError> {
    let accounts = AccountBook::new(config.accounts.clone());
    let executor = RunExecutor::new(Arc::clone(registry), accounts.clone(), HttpClient::new()?);
    let (deployment, mut problems) = deploy_partial(config, &executor);
    if let Err(err) = crate::serve::live_accounts(&deployment, &accounts, registry) {
        problems.push(err.to_string());
    }
    let has_token = config
        .server
        .token
        .as_deref()
        .is_some_and(|t| !t.is_empty());
    if let Err(why) = crate::api::auth::refuse_open_listen(&config.server.listen, has_token) {
        problems.push(format!("{}: [server] {why}", config.path.display()));
    }
    Ok(problems)
}
