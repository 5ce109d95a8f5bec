//! The threat intelligence actions that need more than one REST call's worth of logic: adding
//! indicators to an IOC collection, uploading observables and proposing a STIX bundle.

use std::net::IpAddr;
use std::time::Duration;

use alertsync_engine::{Action, ActionContext, ActionError, ActionManifest, ActionOutput};
use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

use super::arguments::{Arg, Kind::*, opt, properties, req};
use super::shapes::Shape;
use super::{RestAction, rest_client};
use crate::args::required_str;
use crate::files::json_argument;
use crate::sekoia::{ApiPath, ApiVersion};

/// The manifest of a written-out action from its argument list.
pub(super) fn manifest(
    identity: [&'static str; 5],
    arguments: &'static [Arg],
    results: Shape,
) -> ActionManifest {
    let [uuid, name, slug, command, description] = identity;
    let (properties, required) = properties(arguments);
    RestAction {
        uuid,
        name,
        slug,
        command,
        description,
        properties,
        required,
        results: results.schema(),
    }
    .manifest()
}

/// Adds indicators (IP addresses, domains, URLs, email addresses or hashes) to an IOC
/// collection of the threat intelligence platform.
pub struct AddIocToCollection {
    manifest: ActionManifest,
}

const IOC_ARGUMENTS: &[Arg] = &[
    opt("indicator", Str),
    opt("indicators", List),
    opt("indicators_path", Str),
    req("ioc_collection_id", Str),
    req("indicator_type", Str),
    opt("valid_for", Int),
];

impl AddIocToCollection {
    pub fn new() -> Self {
        Self {
            manifest: manifest(
                [
                    "0acabc04-43b4-4564-b9b2-08b80e0e1ecf",
                    "Add IOC to IOC Collection",
                    "add_to_ioc_collection",
                    "add_ioc_to_ioc_collection",
                    "Add indicators (IP address, domain, url, email or hash) to an IOC collection, valid for a number of days",
                ],
                IOC_ARGUMENTS,
                Shape::Nothing,
            ),
        }
    }
}

impl Default for AddIocToCollection {
    fn default() -> Self {
        Self::new()
    }
}

/// The indicator format Sekoia.io's IOC collections take for an `indicator_type` other than
/// IP addresses.
fn indicator_format(indicator_type: &str) -> Option<&'static str> {
    Some(match indicator_type {
        "domain" => "domain-name.value",
        "url" => "url.value",
        "email" => "email-addr.value",
        "hash" => "file.hashes",
        _ => return None,
    })
}

#[async_trait]
impl Action for AddIocToCollection {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let collection = required_str(&args, "ioc_collection_id")?;
        let indicator_type = required_str(&args, "indicator_type")?;
        let indicators = indicators(cx, &args).await?;
        let valid_until = valid_until(&args)?;
        let batches: Vec<(&str, Vec<String>)> = if indicator_type == "IP address" {
            let (v4, v6): (Vec<String>, Vec<String>) = indicators
                .into_iter()
                .filter(|ip| ip.parse::<IpAddr>().is_ok())
                .partition(|ip| ip.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv4()));
            vec![("ipv4-addr.value", v4), ("ipv6-addr.value", v6)]
        } else {
            let format = indicator_format(indicator_type).ok_or_else(|| {
                ActionError::invalid_argument(
                    "indicator_type",
                    "must be one of IP address, domain, url, email, hash",
                )
            })?;
            vec![(format, indicators)]
        };
        let client = rest_client(cx, &args)?;
        for (format, values) in batches.into_iter().filter(|(_, v)| !v.is_empty()) {
            let mut body = json!({"format": format, "indicators": values.join("\n")});
            if let Some(until) = &valid_until {
                body["valid_until"] = Value::String(until.clone());
            }
            let path = ApiPath::in_version(ApiVersion::V2, "inthreat/ioc-collections")
                .value(collection)
                .then("indicators/text");
            client
                .call(cx, Method::POST, &path, &[], Some(&body))
                .await?;
            cx.log.info(format!(
                "{} {format} indicators added to {collection}",
                values.len()
            ));
        }
        Ok(ActionOutput::new(json!({})))
    }
}

/// `indicators` (a list, or the file of `indicators_path`), else the single `indicator`.
async fn indicators(cx: &ActionContext, args: &Value) -> Result<Vec<String>, ActionError> {
    let listed = json_argument(cx, args, "indicators").await?;
    let values = match listed {
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(ActionError::invalid_argument(
                "indicators",
                "must be a list of indicators",
            ));
        }
        None => match args.get("indicator") {
            Some(Value::String(one)) if !one.trim().is_empty() => vec![Value::String(one.clone())],
            _ => {
                return Err(ActionError::invalid_argument(
                    "indicators",
                    "give `indicator`, `indicators` or `indicators_path`: there is nothing to add",
                ));
            }
        },
    };
    Ok(values
        .into_iter()
        .filter_map(|value| match value {
            Value::String(text) => Some(text.trim().to_owned()),
            Value::Number(number) => Some(number.to_string()),
            _ => None,
        })
        .filter(|text| !text.is_empty())
        .collect())
}

/// `valid_for` days from now, as Sekoia.io writes dates (`2025-01-31T10:00:00Z`).
fn valid_until(args: &Value) -> Result<Option<String>, ActionError> {
    let days = match args.get("valid_for") {
        None | Some(Value::Null) => return Ok(None),
        Some(value) => value.as_u64().ok_or_else(|| {
            ActionError::invalid_argument("valid_for", "must be a number of days")
        })?,
    };
    if days == 0 {
        return Ok(None);
    }
    let until = OffsetDateTime::now_utc()
        + Duration::from_secs(days.saturating_mul(86_400).min(36_500 * 86_400));
    until
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .map(Some)
        .map_err(|e| ActionError::invalid_argument("valid_for", e.to_string()))
}

/// Uploads observables to the threat intelligence platform.
pub struct UploadObservables {
    manifest: ActionManifest,
}

const OBSERVABLES_ARGUMENTS: &[Arg] = &[opt("observables", List), opt("observables_path", Str)];

impl UploadObservables {
    pub fn new() -> Self {
        Self {
            manifest: manifest(
                [
                    "ab660ed7-9160-4f91-bb1c-3d49dc8c0972",
                    "Upload Observables",
                    "upload_observables",
                    "upload_observables_inthreat",
                    "Upload observables (given, or read from a file of the run) to the threat intelligence platform",
                ],
                OBSERVABLES_ARGUMENTS,
                Shape::Nothing,
            ),
        }
    }
}

impl Default for UploadObservables {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Action for UploadObservables {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let observables = json_argument(cx, &args, "observables")
            .await?
            .ok_or_else(|| {
                ActionError::invalid_argument(
                    "observables",
                    "give `observables` or `observables_path`: there is nothing to upload",
                )
            })?;
        let client = rest_client(cx, &args)?;
        client
            .call(
                cx,
                Method::POST,
                &ApiPath::in_version(ApiVersion::V2, "inthreat/observables/bulk"),
                &[],
                Some(&json!({"data": observables})),
            )
            .await?;
        Ok(ActionOutput::new(json!({})))
    }
}

/// Proposes the objects of a STIX bundle as threat intelligence content.
pub struct CreateContentProposal {
    manifest: ActionManifest,
}

const PROPOSAL_ARGUMENTS: &[Arg] = &[
    opt("bundle", Object),
    opt("bundle_path", Str),
    opt("auto_merge", Bool),
    opt("enrich", Bool),
    opt("name", Str),
    opt("assigned_to", Str),
];

/// The arguments Create Content Proposal sends in the query string.
const PROPOSAL_QUERY: [&str; 4] = ["auto_merge", "name", "enrich", "assigned_to"];

impl CreateContentProposal {
    pub fn new() -> Self {
        Self {
            manifest: manifest(
                [
                    "640586e4-9111-4ca8-b824-ca65b1d3f2ef",
                    "Create Content Proposal",
                    "create_content_proposal",
                    "post_bundle",
                    "Propose the objects of a STIX bundle (given, or read from a file of the run) as threat intelligence content",
                ],
                PROPOSAL_ARGUMENTS,
                Shape::ContentProposal,
            ),
        }
    }
}

impl Default for CreateContentProposal {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Action for CreateContentProposal {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let bundle = json_argument(cx, &args, "bundle").await?.ok_or_else(|| {
            ActionError::invalid_argument("bundle", "give `bundle` or `bundle_path`")
        })?;
        let has_objects = bundle
            .get("objects")
            .and_then(Value::as_array)
            .is_some_and(|objects| !objects.is_empty());
        if !has_objects {
            cx.log.info("the bundle has no objects: nothing to propose");
            return Ok(ActionOutput::new(Value::Null));
        }
        let query: Vec<(&str, String)> = PROPOSAL_QUERY
            .iter()
            .filter_map(|name| {
                let text = match args.get(*name)? {
                    Value::Bool(flag) => u8::from(*flag).to_string(),
                    Value::String(text) => text.clone(),
                    Value::Null => return None,
                    other => other.to_string(),
                };
                Some((*name, text))
            })
            .collect();
        let client = rest_client(cx, &args)?;
        let answer = client
            .call(
                cx,
                Method::POST,
                &ApiPath::in_version(ApiVersion::V2, "inthreat/bundles"),
                &query,
                Some(&json!({"data": bundle})),
            )
            .await?;
        Ok(ActionOutput::new(
            answer.get("data").cloned().unwrap_or(Value::Null),
        ))
    }
}
