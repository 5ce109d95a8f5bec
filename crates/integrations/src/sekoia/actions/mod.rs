//! The Sekoia.io actions, under Sekoia.io's uuids, names, slugs and arguments.
//!
//! The ones that are one REST call each are rows of [`table`]; the others are written out:
//! alerts (get, search, edit, comment, status), event searches, the intake, IOC collections,
//! observables and content proposals, and the asset actions that transform what they send
//! or read.
//!
//! Every action reading the REST API takes `api_key` / `base_url` arguments as Sekoia.io's
//! own actions do; when both are absent they come from the Sekoia.io account.

mod aggregation;
mod alerts;
mod arguments;
mod assets;
mod comments;
mod common_values;
mod events;
mod intake;
mod intelligence;
mod shapes;
mod status;
mod table;

use std::sync::Arc;

use alertsync_engine::{Action, ActionContext, ActionError, ActionManifest};
use serde_json::{Map, Value, json};

pub use alerts::{EditAlert, GetAlert, SearchAlerts};
pub use comments::CommentAlert;
pub use common_values::GetEventFieldCommonValues;
pub use events::GetEvents;
pub(crate) use events::search_events;
pub use intake::PushEventsToIntake;
pub use status::{UpdateAlertStatus, UpdateAlertStatusByName, status_reference};

use super::SekoiaClient;

/// Every Sekoia.io action: the written-out ones, then the table's rows.
pub fn all() -> Vec<Arc<dyn Action>> {
    let written: Vec<Arc<dyn Action>> = vec![
        Arc::new(GetAlert::new()),
        Arc::new(SearchAlerts::new()),
        Arc::new(EditAlert::new()),
        Arc::new(UpdateAlertStatus::new()),
        Arc::new(UpdateAlertStatusByName::new()),
        Arc::new(CommentAlert::new()),
        Arc::new(GetEvents::new()),
        Arc::new(GetEventFieldCommonValues::new()),
        Arc::new(PushEventsToIntake::new()),
        Arc::new(intelligence::AddIocToCollection::new()),
        Arc::new(intelligence::UploadObservables::new()),
        Arc::new(intelligence::CreateContentProposal::new()),
        Arc::new(assets::MergeAssets::new()),
        Arc::new(assets::UpdateAsset::new()),
        Arc::new(assets::GetAssetV1Shape::new()),
        Arc::new(assets::SynchronizeAssetsWithAd::new()),
        Arc::new(aggregation::GetAggregationQuery::new()),
    ];
    let rows = table::TABLE
        .iter()
        .map(|call| Arc::new(table::TableAction::new(call)) as Arc<dyn Action>);
    written.into_iter().chain(rows).collect()
}

/// What distinguishes one REST action's manifest from another.
struct RestAction {
    uuid: &'static str,
    name: &'static str,
    slug: &'static str,
    command: &'static str,
    description: &'static str,
    /// The action's own arguments (`api_key` and `base_url` are added).
    properties: Value,
    required: Vec<&'static str>,
    results: Value,
}

impl RestAction {
    /// The manifest, with the Sekoia.io access arguments every REST action accepts.
    fn manifest(self) -> ActionManifest {
        let mut properties = match self.properties {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        properties.insert("api_key".to_owned(), json!({"type": "string", "description": "Sekoia.io API key (default: the Sekoia.io account's)"}));
        properties.insert("base_url".to_owned(), json!({"type": "string", "description": "Sekoia.io API base URL (default: the Sekoia.io account's)"}));
        ActionManifest {
            uuid: self.uuid,
            name: self.name,
            slug: self.slug,
            command: self.command,
            description: self.description,
            arguments: json!({"type": "object", "properties": properties, "required": self.required}),
            secrets: vec!["api_key"],
            results: self.results,
            outputs: Vec::new(),
        }
    }
}

/// The Sekoia.io client for an action: from its `api_key` / `base_url` arguments, or from
/// the Sekoia.io account when neither argument is given.
fn rest_client(cx: &ActionContext, args: &Value) -> Result<SekoiaClient, ActionError> {
    let given = |name: &str| args.get(name).is_some_and(|v| !v.is_null());
    match cx.account.as_deref() {
        Some(account)
            if account.module == super::SLUG && !given("api_key") && !given("base_url") =>
        {
            super::client_from_account(cx, account)
        }
        _ => super::client_from_args(cx, args),
    }
}
