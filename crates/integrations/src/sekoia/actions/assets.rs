//! The asset actions that do more than one REST call's worth: merging assets, updating an
//! asset with only the fields given, reading an asset in the older (v1) shape, and
//! synchronising accounts of an Active Directory export into assets.

use alertsync_engine::{Action, ActionContext, ActionError, ActionManifest, ActionOutput};
use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::arguments::{Arg, Kind::*, opt, req};
use super::intelligence::manifest;
use super::rest_client;
use super::shapes::Shape;
use crate::args::required_str;
use crate::files::json_argument;
use crate::sekoia::{ApiPath, ApiVersion, SekoiaClient};

/// The assets of asset management v2.
fn assets() -> ApiPath {
    ApiPath::in_version(ApiVersion::V2, "asset-management/assets")
}

/// Merges source assets into a destination asset.
pub struct MergeAssets {
    manifest: ActionManifest,
}

const MERGE_ARGUMENTS: &[Arg] = &[req("destination", Str), req("sources", List)];

impl MergeAssets {
    pub fn new() -> Self {
        Self {
            manifest: manifest(
                [
                    "86fc9d59-3c54-56f3-8266-1c9d80030a48",
                    "Merge Assets",
                    "merge_assets",
                    "merge-assets",
                    "Merge source assets into a destination asset",
                ],
                MERGE_ARGUMENTS,
                Shape::HttpAnswer,
            ),
        }
    }
}

impl Default for MergeAssets {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Action for MergeAssets {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let destination = required_str(&args, "destination")?;
        let sources = args.get("sources").cloned().unwrap_or(json!([]));
        let client = rest_client(cx, &args)?;
        let answer = client
            .call_for_answer(
                cx,
                Method::POST,
                &assets().then("merge"),
                Some(&json!({"destination": destination, "sources": sources})),
            )
            .await?;
        Ok(ActionOutput::new(answer))
    }
}

async fn merge(
    cx: &ActionContext,
    client: &SekoiaClient,
    destination: &str,
    sources: &Value,
) -> Result<Value, ActionError> {
    client
        .call(
            cx,
            Method::POST,
            &assets().then("merge"),
            &[],
            Some(&json!({"destination": destination, "sources": sources})),
        )
        .await
}

/// Updates an asset with the fields given.
pub struct UpdateAsset {
    manifest: ActionManifest,
}

const UPDATE_ARGUMENTS: &[Arg] = &[
    req("uuid", Str),
    opt("entity_uuid", Any),
    opt("name", Str),
    opt("description", Str),
    opt("type", Str),
    opt("category", StrOrNull),
    opt("criticality", Int),
    opt("props", ObjectOrNull),
    opt("atoms", ObjectOrNull),
    opt("tags", List),
    opt("reviewed", Bool),
    opt("revoked", Bool),
];

/// Fields sent when given a value other than an empty one (false, 0, "" and [] are not sent).
const UPDATABLE_FIELDS: [&str; 9] = [
    "entity_uuid",
    "name",
    "description",
    "type",
    "category",
    "criticality",
    "props",
    "atoms",
    "tags",
];

impl UpdateAsset {
    pub fn new() -> Self {
        Self {
            manifest: manifest(
                [
                    "40708950-5de4-4541-9306-3059a81247f3",
                    "Update asset",
                    "update_assets",
                    "update-asset",
                    "Change the fields given of an asset (asset management v2)",
                ],
                UPDATE_ARGUMENTS,
                Shape::AssetV2,
            ),
        }
    }
}

impl Default for UpdateAsset {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether Python would take the value as true.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(flag) => *flag,
        Value::Number(number) => number.as_f64().is_some_and(|n| n != 0.0),
        Value::String(text) => !text.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(entries) => !entries.is_empty(),
    }
}

#[async_trait]
impl Action for UpdateAsset {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let uuid = required_str(&args, "uuid")?;
        let mut payload: Map<String, Value> = UPDATABLE_FIELDS
            .iter()
            .filter_map(|field| {
                let value = args.get(*field).filter(|v| truthy(v))?;
                Some(((*field).to_owned(), value.clone()))
            })
            .collect();
        for flag in ["revoked", "reviewed"] {
            if let Some(value) = args.get(flag).filter(|v| !v.is_null()) {
                payload.insert(flag.to_owned(), value.clone());
            }
        }
        let client = rest_client(cx, &args)?;
        let asset = client
            .call(
                cx,
                Method::PUT,
                &assets().value(uuid),
                &[],
                Some(&Value::Object(payload)),
            )
            .await?;
        Ok(ActionOutput::new(asset))
    }
}

/// Reads an asset of asset management v2 and gives it in the v1 shape (older playbooks read
/// that shape).
pub struct GetAssetV1Shape {
    manifest: ActionManifest,
}

const GET_ARGUMENTS: &[Arg] = &[req("uuid", Str)];

impl GetAssetV1Shape {
    pub fn new() -> Self {
        Self {
            manifest: manifest(
                [
                    "25ebfce7-f980-46e3-a2b8-0b59f1905acb",
                    "[DEPRECATED] Get Asset (V2)",
                    "get_assetv2",
                    "get-asset-v2-legacy",
                    "Read an asset of asset management v2, in the shape of asset management v1",
                ],
                GET_ARGUMENTS,
                Shape::Asset,
            ),
        }
    }
}

impl Default for GetAssetV1Shape {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Action for GetAssetV1Shape {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let uuid = required_str(&args, "uuid")?;
        let client = rest_client(cx, &args)?;
        let asset = client
            .call(cx, Method::GET, &assets().value(uuid), &[], None)
            .await?;
        Ok(ActionOutput::new(v1_shape(&asset)))
    }
}

/// The v1 type and category of a v2 asset type (Sekoia.io's fixed correspondence).
fn v1_type_and_category(kind: &str) -> (Value, Value) {
    let technical = json!({"uuid": "1c646cb3-54c3-44cb-88d3-2db24de2fcf4", "name": "technical"});
    match kind {
        "host" => (
            json!({"uuid": "65f8ebba-e400-4ef7-844d-2881e2cf175c", "name": "computer"}),
            technical,
        ),
        "network" => (
            json!({"uuid": "4aac4b72-14cf-4159-a4e5-32fa8c1f3da6", "name": "network"}),
            technical,
        ),
        "account" => (
            json!({"uuid": "e47dcc10-7c1d-4922-b20f-5d16b5e3648f", "name": "person"}),
            json!({"uuid": "87da56fc-1e88-467a-9e62-940caad7d318", "name": "people"}),
        ),
        _ => (Value::Null, Value::Null),
    }
}

/// The v1 key of a v2 atom or property name (Sekoia.io's fixed correspondence).
fn v1_key(name: &str) -> Value {
    let known = match name {
        "ipv4" => ("1aa12ae4-c22e-4d2e-89cb-764285b74fef", "ip-v4"),
        "ipv6" => ("6481e9df-b03c-403a-8dc8-30aa42986a04", "ip-v6"),
        "cidrv4" => ("e2440ef6-02af-4da0-ac7a-511821033d74", "cidr-v4"),
        "cidrv6" => ("a954fbf8-d79f-40e0-84a6-cefbfa998696", "cidr-v6"),
        "asn" => ("7a39c0cf-e470-4a06-afba-da2009fdc7d1", "as"),
        "hostname" => ("93e78f59-ce78-4349-a4d9-168fe76dffb5", "host"),
        "fqdn" => ("abb98318-4bf9-4731-9455-28a736a88ac2", "fqdn"),
        "lastname" => ("d54da6bd-ed4f-47f4-b49b-f2f3abdb4580", "lastname"),
        "username" => ("d4ad816e-6c6f-4c96-b366-4939e67e20b6", "name"),
        _ => return json!({"name": name}),
    };
    json!({"uuid": known.0, "name": known.1})
}

/// `[{...key, "value": v}]` for every value of every entry of an atoms or props object.
fn v1_pairs(entries: Option<&Value>, custom_split: bool) -> Vec<Value> {
    let Some(Value::Object(entries)) = entries else {
        return Vec::new();
    };
    let mut pairs = Vec::new();
    for (name, values) in entries {
        let values: Vec<&Value> = match values {
            Value::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        for value in values {
            let text = value
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| value.to_string());
            let (mut key, value) = match (custom_split && name == "custom", text.split_once('=')) {
                (true, Some((key, value))) => (json!({"name": key}), value.to_owned()),
                _ => (v1_key(name), text),
            };
            key["value"] = Value::String(value);
            pairs.push(key);
        }
    }
    pairs
}

fn v1_shape(asset: &Value) -> Value {
    let kind = asset
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (asset_type, category) = v1_type_and_category(kind);
    let criticality = asset
        .get("criticality")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let display = match criticality {
        ..34 => "low",
        34..68 => "medium",
        _ => "high",
    };
    let copied = |field: &str| asset.get(field).cloned().unwrap_or(Value::Null);
    json!({
        "uuid": copied("uuid"),
        "name": copied("name"),
        "category": category,
        "description": copied("description"),
        "criticity": {"value": criticality, "display": display},
        "asset_type": asset_type,
        "community_uuid": copied("community_uuid"),
        "owners": [],
        "created_at": copied("created_at"),
        "updated_at": copied("updated_at"),
        "keys": v1_pairs(asset.get("atoms"), true),
        "attributes": v1_pairs(asset.get("props"), false),
    })
}

/// Creates or updates one account asset per user of an Active Directory export, merging the
/// assets that match its detection properties into it.
pub struct SynchronizeAssetsWithAd {
    manifest: ActionManifest,
}

const SYNCHRONIZE_ARGUMENTS: &[Arg] = &[
    req("community_uuid", Str),
    opt("user_ad_data", Object),
    opt("user_ad_data_path", Object),
    req("asset_synchronization_configuration", Object),
];

impl SynchronizeAssetsWithAd {
    pub fn new() -> Self {
        Self {
            manifest: manifest(
                [
                    "b18366f8-cab0-4bf6-b9e2-6bf19627a1e1",
                    "Synchronize Assets with AD",
                    "synchronize_assets_with_ad",
                    "synchronize-assets",
                    "Create or update an account asset for each user of an Active Directory export, merging the assets its detection properties find",
                ],
                SYNCHRONIZE_ARGUMENTS,
                Shape::Synchronisation,
            ),
        }
    }
}

impl Default for SynchronizeAssetsWithAd {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Action for SynchronizeAssetsWithAd {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let community = required_str(&args, "community_uuid")?;
        let configuration = args
            .get("asset_synchronization_configuration")
            .cloned()
            .unwrap_or_default();
        let name_field = configuration
            .get("asset_name_field")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ActionError::invalid_argument(
                    "asset_synchronization_configuration",
                    "must name the user field holding the asset name in `asset_name_field`",
                )
            })?;
        let users = match json_argument(cx, &args, "user_ad_data").await? {
            Some(Value::Array(users)) => users,
            Some(user) => vec![user],
            None => {
                return Err(ActionError::invalid_argument(
                    "user_ad_data",
                    "give `user_ad_data` or `user_ad_data_path`",
                ));
            }
        };
        let client = rest_client(cx, &args)?;
        let mut outcomes = Vec::with_capacity(users.len());
        for (index, user) in users.iter().enumerate() {
            let name = user
                .get(name_field)
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ActionError::invalid_argument(
                        "user_ad_data",
                        format!("user {index} has no `{name_field}` (the asset_name_field)"),
                    )
                })?;
            let sync = UserSync {
                cx,
                client: &client,
                configuration: &configuration,
                community,
            };
            outcomes.push(sync.run(user, name).await?);
        }
        Ok(ActionOutput::new(json!({"data": outcomes})))
    }
}

/// One user of the export being synchronised.
struct UserSync<'a> {
    cx: &'a ActionContext,
    client: &'a SekoiaClient,
    configuration: &'a Value,
    community: &'a str,
}

impl UserSync<'_> {
    async fn run(&self, user: &Value, name: &str) -> Result<Value, ActionError> {
        let by_name = self.search(name, false).await?;
        let detection = self.configured("detection_properties");
        let mut found: Vec<String> = Vec::new();
        let mut atoms = Map::new();
        for (property, keys) in detection {
            let mut values = Vec::new();
            for key in keys
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                let Some(value) = user.get(key).filter(|v| truthy(v)) else {
                    continue;
                };
                values.push(value.clone());
                let text = value
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| value.to_string());
                for asset in self.search(&text, true).await?.items {
                    if !found.contains(&asset) {
                        found.push(asset);
                    }
                }
            }
            if !values.is_empty() {
                atoms.insert(property.clone(), Value::Array(values));
            }
        }
        let props: Map<String, Value> = self
            .configured("contextual_properties")
            .into_iter()
            .filter_map(|(property, field)| {
                let value = user.get(field.as_str()?).filter(|v| !v.is_null())?;
                Some((property, value.clone()))
            })
            .collect();
        let mut payload = json!({
            "name": name, "description": "", "type": "account", "category": "user",
            "reviewed": true, "source": "manual", "props": props, "atoms": atoms,
        });
        let (destination, created) = match by_name.total {
            0 => {
                payload["community_uuid"] = Value::String(self.community.to_owned());
                let asset = self
                    .client
                    .call(self.cx, Method::POST, &assets(), &[], Some(&payload))
                    .await?;
                let uuid = asset.get("uuid").and_then(Value::as_str).ok_or_else(|| {
                    ActionError::permanent("the created asset has no `uuid` in Sekoia.io's answer")
                })?;
                (uuid.to_owned(), true)
            }
            1 if by_name
                .first_name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name)) =>
            {
                let uuid = by_name.items[0].clone();
                if !found.contains(&uuid) {
                    found.push(uuid.clone());
                }
                self.client
                    .call(
                        self.cx,
                        Method::PUT,
                        &assets().value(&uuid),
                        &[],
                        Some(&payload),
                    )
                    .await?;
                (uuid, false)
            }
            total => {
                return Err(ActionError::permanent(format!(
                    "{total} assets are named like `{name}`: cannot tell which one to synchronise"
                )));
            }
        };
        let sources: Vec<&String> = found.iter().filter(|uuid| **uuid != destination).collect();
        if !sources.is_empty() {
            merge(self.cx, self.client, &destination, &json!(sources)).await?;
        }
        Ok(
            json!({"found_assets": found, "created_asset": created, "destination_asset": destination}),
        )
    }

    /// An object of the synchronisation configuration, as (key, value) pairs.
    fn configured(&self, name: &str) -> Vec<(String, Value)> {
        self.configuration
            .get(name)
            .and_then(Value::as_object)
            .map(|entries| {
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn search(
        &self,
        term: &str,
        in_detection_properties: bool,
    ) -> Result<Found, ActionError> {
        let mut query = vec![("search", term.to_owned())];
        if in_detection_properties {
            query.push(("also_search_in_detection_properties", "true".to_owned()));
        }
        let page = self
            .client
            .call(self.cx, Method::GET, &assets(), &query, None)
            .await?;
        let items: Vec<&Value> = page
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .collect();
        Ok(Found {
            total: page
                .get("total")
                .and_then(Value::as_u64)
                .unwrap_or(items.len() as u64),
            first_name: items
                .first()
                .and_then(|asset| asset.get("name"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            items: items
                .iter()
                .filter_map(|asset| asset.get("uuid").and_then(Value::as_str).map(str::to_owned))
                .collect(),
        })
    }
}

/// What an asset search found.
struct Found {
    total: u64,
    first_name: Option<String>,
    items: Vec<String>,
}
