//! `/api/v1/modules`: the modules alertsync implements, with their actions and triggers.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::http::AppState;

/// A module's manifest with its actions' and triggers' manifests.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModuleView {
    #[schema(value_type = Object)]
    pub manifest: Value,
    #[schema(value_type = Vec<Object>)]
    pub actions: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub triggers: Vec<Value>,
}

fn to_value(value: &impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Lists the implemented modules.
#[utoipa::path(get, path = "/api/v1/modules", tag = "modules",
    responses((status = 200, body = Vec<ModuleView>)))]
pub async fn list(State(state): State<AppState>) -> Json<Vec<ModuleView>> {
    Json(
        state
            .executor
            .registry()
            .modules()
            .iter()
            .map(|module| ModuleView {
                manifest: to_value(&module.manifest),
                actions: module
                    .actions
                    .iter()
                    .map(|a| to_value(a.manifest()))
                    .collect(),
                triggers: module.triggers.iter().map(to_value).collect(),
            })
            .collect(),
    )
}
