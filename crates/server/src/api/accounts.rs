//! `/api/v1/accounts`: the configured accounts, secret values masked.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::http::AppState;

/// An account with its secret values masked.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub name: String,
    /// The module's slug.
    pub module: String,
    #[schema(value_type = Object)]
    pub values: Map<String, Value>,
}

/// Lists the configured accounts; secret values are masked.
#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts",
    responses((status = 200, body = Vec<AccountView>)))]
pub async fn list(State(state): State<AppState>) -> Json<Vec<AccountView>> {
    Json(views(&state))
}

/// The configured accounts, secret values masked: what the API and the console show.
pub(crate) fn views(state: &AppState) -> Vec<AccountView> {
    state
        .executor
        .accounts()
        .accounts()
        .iter()
        .map(|account| AccountView {
            name: account.name.clone(),
            module: account.module.clone(),
            values: account.masked_values(),
        })
        .collect()
}
