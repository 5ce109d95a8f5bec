//! The Sekoia.io actions that are one REST call each, as one table: a row gives the action's
//! identity (Sekoia.io's uuid, name, slug, command), its arguments as Sekoia.io declares
//! them, and the call — method, route, which arguments fill the path and the query string
//! (the others make the JSON body of a POST, PUT or PATCH) and the shape of the answer.
//!
//! Adding such an action is adding a row; the simulator answers every route listed here.

use alertsync_engine::{Action, ActionContext, ActionError, ActionManifest, ActionOutput};
use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Map, Value};

use super::arguments::{Arg, Kind::*, opt, properties, req};
use super::shapes::Shape;
use super::{RestAction, rest_client};
use crate::sekoia::{ApiPath, ApiVersion};

/// Arguments every REST action takes besides its own: where and how to reach Sekoia.io.
const ACCESS_ARGUMENTS: [&str; 2] = ["api_key", "base_url"];
/// Longest value accepted as a path segment (identifiers are far shorter).
const MAX_SEGMENT_CHARS: usize = 256;

/// An HTTP method of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Verb {
    fn method(self) -> Method {
        match self {
            Verb::Get => Method::GET,
            Verb::Post => Method::POST,
            Verb::Put => Method::PUT,
            Verb::Patch => Method::PATCH,
            Verb::Delete => Method::DELETE,
        }
    }

    /// Whether the call carries the remaining arguments as a JSON body.
    fn has_body(self) -> bool {
        matches!(self, Verb::Post | Verb::Put | Verb::Patch)
    }
}

/// One action that is one REST call.
#[derive(Debug)]
pub(crate) struct RestCall {
    pub uuid: &'static str,
    pub name: &'static str,
    pub slug: &'static str,
    pub command: &'static str,
    pub description: &'static str,
    pub method: Verb,
    pub api: ApiVersion,
    /// The route under the API root; a `{name}` segment is the value of argument `name`.
    pub path: &'static str,
    /// Arguments sent in the query string.
    pub query: &'static [&'static str],
    pub arguments: &'static [Arg],
    pub results: Shape,
}

/// The action a row describes.
pub(crate) struct TableAction {
    call: &'static RestCall,
    manifest: ActionManifest,
}

impl TableAction {
    pub(crate) fn new(call: &'static RestCall) -> Self {
        let (properties, required) = properties(call.arguments);
        let manifest = RestAction {
            uuid: call.uuid,
            name: call.name,
            slug: call.slug,
            command: call.command,
            description: call.description,
            properties,
            required,
            results: call.results.schema(),
        }
        .manifest();
        Self { call, manifest }
    }
}

#[async_trait]
impl Action for TableAction {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let request = Request::from_args(self.call, &args)?;
        let client = rest_client(cx, &args)?;
        let query: Vec<(&str, String)> = request
            .query
            .iter()
            .map(|(name, value)| (*name, value.clone()))
            .collect();
        let answer = client
            .call(
                cx,
                self.call.method.method(),
                &request.path,
                &query,
                request.body.as_ref(),
            )
            .await?;
        Ok(ActionOutput::new(answer))
    }
}

/// What a row sends for given arguments.
#[derive(Debug, PartialEq)]
struct Request {
    path: ApiPath,
    query: Vec<(&'static str, String)>,
    body: Option<Value>,
}

impl Request {
    fn from_args(call: &'static RestCall, args: &Value) -> Result<Self, ActionError> {
        let empty = Map::new();
        let given = args.as_object().unwrap_or(&empty);
        let mut placed: Vec<&str> = ACCESS_ARGUMENTS.to_vec();
        // Every route starts with a fixed segment; one ending in `/` keeps its trailing empty
        // segment (Sekoia.io's trackers).
        let mut segments = call.path.split('/');
        let mut path = ApiPath::in_version(call.api, segments.next().unwrap_or_default());
        for segment in segments {
            path = match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => {
                    placed.push(name);
                    path.value(&path_value(name, given.get(name))?)
                }
                None => path.then(segment),
            };
        }
        let mut query = Vec::new();
        for name in call.query {
            if let Some(value) = given.get(*name).filter(|v| !v.is_null()) {
                query.push((*name, query_value(value)));
            }
            placed.push(name);
        }
        let body = call.method.has_body().then(|| {
            Value::Object(
                given
                    .iter()
                    .filter(|(name, value)| !value.is_null() && !placed.contains(&name.as_str()))
                    .map(|(name, value)| (name.clone(), value.clone()))
                    .collect(),
            )
        });
        Ok(Self { path, query, body })
    }
}

/// An identifier that goes into the path: a non-blank string or a number, of bounded size.
fn path_value(name: &str, value: Option<&Value>) -> Result<String, ActionError> {
    let text = match value {
        Some(Value::String(text)) if !text.trim().is_empty() => text.trim().to_owned(),
        Some(Value::Number(number)) => number.to_string(),
        None | Some(Value::Null) => return Err(ActionError::invalid_argument(name, "is required")),
        Some(_) => {
            return Err(ActionError::invalid_argument(
                name,
                "must be a non-blank identifier",
            ));
        }
    };
    if text.chars().count() > MAX_SEGMENT_CHARS || text.chars().any(char::is_control) {
        return Err(ActionError::invalid_argument(
            name,
            format!(
                "is not an identifier (control characters, or over {MAX_SEGMENT_CHARS} characters)"
            ),
        ));
    }
    Ok(text)
}

/// A query-string value as Sekoia.io's actions write it: booleans as `1` / `0`, lists
/// comma-separated, objects as JSON.
fn query_value(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Bool(flag) => u8::from(*flag).to_string(),
        Value::Number(number) => number.to_string(),
        Value::Array(items) => items.iter().map(query_value).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Every one-call Sekoia.io action.
pub(crate) static TABLE: &[RestCall] = &[
    RestCall {
        uuid: "e9453097-ea17-4e90-8d8d-60506dddfc58",
        name: "Activate Countermeasure",
        slug: "activate_countermeasure",
        command: "patch-alerts/countermeasures/{cm_uuid}/activate",
        description: "Activate a countermeasure proposed for an alert, with a comment",
        method: Verb::Patch,
        api: ApiVersion::V1,
        path: "sic/alerts/countermeasures/{cm_uuid}/activate",
        query: &[],
        arguments: &[req("cm_uuid", Str), req("comment", Object)],
        results: Shape::Countermeasure,
    },
    RestCall {
        uuid: "0bcabc04-43b4-4564-b9b2-08b80e0e1ecf",
        name: "Add events to a case",
        slug: "add_events_to_case",
        command: "add_events_to_a_case",
        description: "Add events to a case",
        method: Verb::Post,
        api: ApiVersion::V1,
        path: "sic/cases/{uuid}/events",
        query: &[],
        arguments: &[req("uuid", Str), req("event_ids", List)],
        results: Shape::Nothing,
    },
    RestCall {
        uuid: "380c30f0-8650-47fd-b618-8f35ef47a30b",
        name: "Add attribute to Asset",
        slug: "add_attribute_to_asset",
        command: "post-assets/{uuid}/attr",
        description: "Add an attribute to an asset",
        method: Verb::Post,
        api: ApiVersion::V1,
        path: "asset-management/assets/{uuid}/attr",
        query: &["name", "value"],
        arguments: &[req("uuid", Str), req("name", Str), req("value", Str)],
        results: Shape::AssetProperty,
    },
    RestCall {
        uuid: "b589efe6-3da1-4800-bd41-9873c403fe58",
        name: "Add key to Asset",
        slug: "add_key_to_asset",
        command: "post-assets/{uuid}/keys",
        description: "Add a key to an asset",
        method: Verb::Post,
        api: ApiVersion::V1,
        path: "asset-management/assets/{uuid}/keys",
        query: &["name", "value"],
        arguments: &[req("uuid", Str), req("name", Str), req("value", Str)],
        results: Shape::AssetProperty,
    },
    RestCall {
        uuid: "186f5b43-2e79-4497-9eee-9e4f3ca54500",
        name: "Attach Alerts to Case",
        slug: "attach_alerts_to_case",
        command: "patch-cases/{case_uuid}/alerts",
        description: "Attach alerts to a case",
        method: Verb::Patch,
        api: ApiVersion::V1,
        path: "sic/cases/{case_uuid}/alerts",
        query: &[],
        arguments: &[req("case_uuid", Str), opt("alerts", List)],
        results: Shape::CaseAlerts,
    },
    RestCall {
        uuid: "ab2305b9-abca-4fdb-b5f7-6fa39b04cef9",
        name: "Create Tracker Notification",
        slug: "create_tracker_notification",
        command: "post-trackers/notifications/",
        description: "Create a tracker notification in the threat intelligence platform",
        method: Verb::Post,
        api: ApiVersion::V2,
        path: "inthreat/trackers/notifications/",
        query: &[],
        arguments: &[req("data", Object)],
        results: Shape::TrackerNotification,
    },
    RestCall {
        uuid: "0ccabc04-43b4-4564-b9b2-08b80e0e1ecf",
        name: "Create case",
        slug: "create_case",
        command: "create_case",
        description: "Create a case",
        method: Verb::Post,
        api: ApiVersion::V1,
        path: "sic/cases",
        query: &[],
        arguments: &[
            req("title", Str),
            opt("description", Str),
            opt("status_uuid", Str),
            opt("priority", Str),
            opt("tags", List),
            opt("subscribers", List),
            opt("community_uuid", Str),
            opt("verdict_uuid", Str),
            opt("custom_status_uuid", Str),
            opt("custom_priority_uuid", Str),
        ],
        results: Shape::Case,
    },
    RestCall {
        uuid: "095be615-a8ad-4c33-8e9c-c7612fbf6c9f",
        name: "Create rule",
        slug: "create_rule",
        command: "post-rules",
        description: "Create a detection rule",
        method: Verb::Post,
        api: ApiVersion::V1,
        path: "sic/conf/rules-catalog/rules",
        query: &[],
        arguments: &[
            opt("community_uuid", Str),
            req("name", Str),
            req("type", Str),
            req("description", Str),
            req("payload", Str),
            req("severity", Int),
            req("effort", Int),
            req("alert_type_uuid", Str),
            opt("tags", List),
            opt("related_object_refs", List),
            opt("datasources", List),
            opt("event_fields", List),
            req("enabled", Bool),
            opt("parameters", List),
            opt("all_entities", Bool),
            opt("entities", List),
            opt("all_assets", Bool),
            opt("assets", List),
            opt("goal", Str),
            opt("false_positives", Str),
            opt("similarity_strategy", List),
            opt("available_for_subcommunities", Bool),
        ],
        results: Shape::Rule,
    },
    RestCall {
        uuid: "f11f93f8-df5e-4f03-a049-45c3ad9c15c1",
        name: "Create Asset",
        slug: "create_asset",
        command: "post-assets",
        description: "Create an asset (asset management v1)",
        method: Verb::Post,
        api: ApiVersion::V1,
        path: "asset-management/assets",
        query: &[],
        arguments: &[
            req("asset_type", Object),
            req("name", Str),
            req("criticity", Int),
            opt("description", Str),
            opt("attributes", List),
            opt("keys", List),
            opt("owners", List),
            opt("community_uuid", Str),
        ],
        results: Shape::Asset,
    },
    RestCall {
        uuid: "ed063a4f-105e-437a-8afe-503735add6d4",
        name: "Create Asset (V2)",
        slug: "create_assetv2",
        command: "post-assets-v2",
        description: "Create an asset (asset management v2)",
        method: Verb::Post,
        api: ApiVersion::V2,
        path: "asset-management/assets",
        query: &[],
        arguments: &[
            opt("uuid", Any),
            req("community_uuid", Str),
            opt("entity_uuid", Any),
            req("name", Str),
            opt("description", Str),
            req("type", Str),
            opt("category", StrOrNull),
            opt("criticality", Int),
            opt("props", ObjectOrNull),
            opt("atoms", ObjectOrNull),
            opt("tags", List),
            opt("reviewed", Bool),
            opt("source", Str),
        ],
        results: Shape::AssetV2,
    },
    RestCall {
        uuid: "a5cf38d6-9f36-4027-98e9-5fa1d2b2b9af",
        name: "Delete Case",
        slug: "delete_case",
        command: "delete-case/{case_uuid}",
        description: "Delete a case",
        method: Verb::Delete,
        api: ApiVersion::V1,
        path: "sic/cases/{case_uuid}",
        query: &[],
        arguments: &[req("case_uuid", Str)],
        results: Shape::Nothing,
    },
    RestCall {
        uuid: "ec84f052-8934-4a0b-a1d7-ae8426357bbd",
        name: "Delete rule",
        slug: "delete_rule",
        command: "delete-rules/{uuid}",
        description: "Delete a detection rule",
        method: Verb::Delete,
        api: ApiVersion::V1,
        path: "sic/conf/rules-catalog/rules/{uuid}",
        query: &["community_uuid"],
        arguments: &[req("uuid", Str), opt("community_uuid", Str)],
        results: Shape::Nothing,
    },
    RestCall {
        uuid: "2f29eed3-be01-4222-871f-cdf74cb199b5",
        name: "Delete an asset",
        slug: "delete_asset",
        command: "delete-assets/{uuid}",
        description: "Delete an asset (asset management v1)",
        method: Verb::Delete,
        api: ApiVersion::V1,
        path: "asset-management/assets/{uuid}",
        query: &[],
        arguments: &[req("uuid", Str)],
        results: Shape::Nothing,
    },
    RestCall {
        uuid: "31e6e73a-ac13-41ca-9f1a-0a0e33fda801",
        name: "Delete an asset (V2)",
        slug: "delete_assetv2",
        command: "delete-assets-v2/{uuid}",
        description: "Delete an asset (asset management v2)",
        method: Verb::Delete,
        api: ApiVersion::V2,
        path: "asset-management/assets/{uuid}",
        query: &[],
        arguments: &[req("uuid", Str)],
        results: Shape::AssetV2,
    },
    RestCall {
        uuid: "73948f6d-263f-43f5-b9c9-cd418c035744",
        name: "Deny Countermeasure",
        slug: "deny_countermeasure",
        command: "patch-alerts/countermeasures/{cm_uuid}/deny",
        description: "Deny a countermeasure proposed for an alert",
        method: Verb::Patch,
        api: ApiVersion::V1,
        path: "sic/alerts/countermeasures/{cm_uuid}/deny",
        query: &[],
        arguments: &[req("cm_uuid", Str), opt("comment", Object)],
        results: Shape::Countermeasure,
    },
    RestCall {
        uuid: "9bde3676-493a-443b-89bf-59ce5c4c403e",
        name: "Disable rule",
        slug: "disable_rule",
        command: "put-rules/{uuid}/disable",
        description: "Disable a detection rule",
        method: Verb::Put,
        api: ApiVersion::V1,
        path: "sic/conf/rules-catalog/rules/{uuid}/disabled",
        query: &["community_uuid"],
        arguments: &[req("uuid", Str), opt("community_uuid", Str)],
        results: Shape::Rule,
    },
    RestCall {
        uuid: "1c3785c6-ef6c-4daf-98a1-6aa3d9cd94c4",
        name: "Enable rule",
        slug: "enable_rule",
        command: "put-rules/{uuid}/enable",
        description: "Enable a detection rule",
        method: Verb::Put,
        api: ApiVersion::V1,
        path: "sic/conf/rules-catalog/rules/{uuid}/enabled",
        query: &["community_uuid"],
        arguments: &[req("uuid", Str), opt("community_uuid", Str)],
        results: Shape::Rule,
    },
    RestCall {
        uuid: "0ecabc04-43b4-4564-b9b2-08b80e0e1ecf",
        name: "Get case",
        slug: "get_case",
        command: "get_case",
        description: "Read a case",
        method: Verb::Get,
        api: ApiVersion::V1,
        path: "sic/cases/{uuid}",
        query: &["community_uuid", "render"],
        arguments: &[
            req("uuid", Str),
            opt("community_uuid", Str),
            opt("render", Bool),
        ],
        results: Shape::Case,
    },
    RestCall {
        uuid: "13124b8b-9b20-47f0-ad41-118f53ccb833",
        name: "Get Community",
        slug: "get_community",
        command: "get-communities/{uuid}",
        description: "Read a community",
        method: Verb::Get,
        api: ApiVersion::V1,
        path: "communities/{uuid}",
        query: &[],
        arguments: &[req("uuid", Str)],
        results: Shape::Community,
    },
    RestCall {
        uuid: "5d60776b-eb19-4421-aca3-df1cd109d9c0",
        name: "Get context",
        slug: "get_context",
        command: "get_context",
        description: "Search threat intelligence objects about a term",
        method: Verb::Post,
        api: ApiVersion::V2,
        path: "inthreat/objects/search",
        query: &["term", "sort"],
        arguments: &[opt("sort", Str), req("term", Str)],
        results: Shape::ObjectSearch,
    },
    RestCall {
        uuid: "8cd62b13-fc72-48b1-99df-74ccd2dc8cd9",
        name: "Get custom priority",
        slug: "get_custom_priority",
        command: "get-custom-priority",
        description: "Read a custom priority",
        method: Verb::Get,
        api: ApiVersion::V1,
        path: "sic/custom_priorities/{priority_uuid}",
        query: &[],
        arguments: &[req("priority_uuid", Str)],
        results: Shape::CustomPriority,
    },
    RestCall {
        uuid: "4ffb485e-cf15-46e9-a95d-66f941308002",
        name: "Get custom status",
        slug: "get_custom_status",
        command: "get-custom-status",
        description: "Read a custom status",
        method: Verb::Get,
        api: ApiVersion::V1,
        path: "sic/custom_statuses/{status_uuid}",
        query: &[],
        arguments: &[req("status_uuid", Str)],
        results: Shape::CustomStatus,
    },
    RestCall {
        uuid: "c37221b2-5bbf-46eb-ba16-fb618f7b5282",
        name: "Get custom verdict",
        slug: "get_custom_verdict",
        command: "get-custom-verdict",
        description: "Read a custom verdict",
        method: Verb::Get,
        api: ApiVersion::V1,
        path: "sic/custom_verdicts/{verdict_uuid}",
        query: &[],
        arguments: &[req("verdict_uuid", Str)],
        results: Shape::CustomStatus,
    },
    RestCall {
        uuid: "4478ac52-b549-44b2-9164-abca02bd2f3a",
        name: "Get Entity",
        slug: "get_entity",
        command: "get-entities/{uuid}",
        description: "Read an entity",
        method: Verb::Get,
        api: ApiVersion::V1,
        path: "sic/conf/entities/{uuid}",
        query: &[],
        arguments: &[req("uuid", Str)],
        results: Shape::Entity,
    },
    RestCall {
        uuid: "6b7a7ebc-d5a0-4886-ba09-d2aa5cd7608d",
        name: "Get Intake",
        slug: "get_intake",
        command: "get-intakes/{uuid}",
        description: "Read an intake",
        method: Verb::Get,
        api: ApiVersion::V1,
        path: "sic/conf/intakes/{uuid}",
        query: &[],
        arguments: &[req("uuid", Str)],
        results: Shape::Intake,
    },
    RestCall {
        uuid: "fab3ec9a-3b8b-4ce6-b6b2-8831b79c6a69",
        name: "Get rule",
        slug: "get_rule",
        command: "get-rules/{uuid}",
        description: "Read a detection rule",
        method: Verb::Get,
        api: ApiVersion::V1,
        path: "sic/conf/rules-catalog/rules/{uuid}",
        query: &[],
        arguments: &[req("uuid", Str)],
        results: Shape::Rule,
    },
    RestCall {
        uuid: "37782dd7-1308-4cd4-a73d-0a6cc69661e3",
        name: "List Assets",
        slug: "list_assets",
        command: "get-assets",
        description: "List assets (asset management v1)",
        method: Verb::Get,
        api: ApiVersion::V1,
        path: "asset-management/assets",
        query: &[
            "limit",
            "offset",
            "match[uuid]",
            "match[name]",
            "match[category_name]",
            "match[category_uuid]",
            "match[type_name]",
            "match[type_uuid]",
            "range[criticality]",
            "date[created_at]",
            "date[updated_at]",
            "sort",
            "direction",
        ],
        arguments: &[
            opt("limit", Int),
            opt("offset", Int),
            opt("match[uuid]", Str),
            opt("match[name]", Str),
            opt("match[category_name]", Str),
            opt("match[category_uuid]", Str),
            opt("match[type_name]", Str),
            opt("match[type_uuid]", Str),
            opt("range[criticality]", Str),
            opt("date[created_at]", Str),
            opt("date[updated_at]", Str),
            opt("sort", Str),
            opt("direction", Str),
        ],
        results: Shape::Items,
    },
    RestCall {
        uuid: "f7581c54-b9b8-414c-96cd-f13168cac7ce",
        name: "List Assets (V2)",
        slug: "list_assetsv2",
        command: "get-assets-v2",
        description: "List assets (asset management v2)",
        method: Verb::Get,
        api: ApiVersion::V2,
        path: "asset-management/assets",
        query: &[
            "limit",
            "offset",
            "search",
            "uuids",
            "community_uuids",
            "type",
            "category",
            "source",
            "reviewed",
            "rule_uuid",
            "criticality",
            "rule_version",
            "sort",
            "direction",
        ],
        arguments: &[
            opt("search", StrOrNull),
            opt("uuids", StrOrNull),
            opt("community_uuids", StrOrNull),
            opt("type", StrOrNull),
            opt("category", StrOrNull),
            opt("source", StrOrNull),
            opt("reviewed", BoolOrNull),
            opt("criticality", IntOrNull),
            opt("sort", Any),
            opt("direction", Any),
            opt("rule_uuid", StrOrNull),
            opt("rule_version", StrOrNull),
            opt("offset", Int),
            opt("limit", Int),
        ],
        results: Shape::Items,
    },
    RestCall {
        uuid: "03af92ec-7129-4e01-8ace-40c2d66095f5",
        name: "List comments of a case",
        slug: "list_case_comments",
        command: "list_case_comments",
        description: "List the comments of a case",
        method: Verb::Get,
        api: ApiVersion::V1,
        path: "sic/cases/{case_uuid}/comments",
        query: &[
            "limit",
            "offset",
            "date[created_at]",
            "match[created_by]",
            "sort",
            "direction",
        ],
        arguments: &[
            req("case_uuid", Str),
            opt("limit", Int),
            opt("offset", Int),
            opt("date[created_at]", Str),
            opt("match[created_by]", Str),
            opt("sort", Str),
            opt("direction", Str),
        ],
        results: Shape::Items,
    },
    RestCall {
        uuid: "ac749619-3763-4029-b276-d13d9df9824f",
        name: "Search Cases",
        slug: "search_cases",
        command: "list_cases",
        description: "Search cases with filters",
        method: Verb::Get,
        api: ApiVersion::V1,
        path: "sic/cases",
        query: &[
            "limit",
            "offset",
            "date[created_at]",
            "match[status_uuid]",
            "match[status_name]",
            "match[tags]",
            "match[assignees]",
            "match[created_by]",
            "match[community_uuid]",
            "sort",
            "direction",
        ],
        arguments: &[
            opt("match[community_uuid]", Str),
            opt("match[status_uuid]", Str),
            opt("match[status_name]", Str),
            opt("date[created_at]", Str),
            opt("match[created_by]", Str),
            opt("match[tags]", Str),
            opt("match[assignees]", Str),
            opt("limit", Int),
            opt("offset", Int),
            opt("sort", Str),
            opt("direction", Str),
        ],
        results: Shape::Page,
    },
    RestCall {
        uuid: "0fcabc04-43b4-4564-b9b2-08b80e0e1ecf",
        name: "Comment case",
        slug: "comment_case",
        command: "post_comment_to_a_case",
        description: "Add a comment to a case",
        method: Verb::Post,
        api: ApiVersion::V1,
        path: "sic/cases/{uuid}/comments",
        query: &[],
        arguments: &[req("uuid", Str), req("content", Str)],
        results: Shape::CaseComment,
    },
    RestCall {
        uuid: "0e6ae58d-30f0-47a5-b9e5-5162c6596bda",
        name: "Create Content Proposal from PDF",
        slug: "create_content_proposal_from_pdf",
        command: "post-reports/pdf",
        description: "Propose threat intelligence content from a PDF report",
        method: Verb::Post,
        api: ApiVersion::V2,
        path: "inthreat/reports/pdf",
        query: &["name", "source_ref"],
        arguments: &[opt("name", Str), req("file", Str), opt("source_ref", Str)],
        results: Shape::ReportProposal,
    },
    RestCall {
        uuid: "7a35d87a-4827-4e62-a71b-7287cc1322a5",
        name: "Create Content Proposal from URL",
        slug: "create_content_proposal_from_url",
        command: "post-reports/url",
        description: "Propose threat intelligence content from a report at a URL",
        method: Verb::Post,
        api: ApiVersion::V2,
        path: "inthreat/reports/url",
        query: &["source_ref"],
        arguments: &[req("url", Str), opt("source_ref", Str)],
        results: Shape::ReportProposal,
    },
    RestCall {
        uuid: "4bdfcc99-f555-4e41-9327-9fd8615f9197",
        name: "Predict Alert State",
        slug: "predict_alert_state",
        command: "post-alert",
        description: "Predict whether an alert is worth a human's attention",
        method: Verb::Post,
        api: ApiVersion::V1,
        path: "predict/alert",
        query: &[],
        arguments: &[req("alert", Object)],
        results: Shape::Prediction,
    },
    RestCall {
        uuid: "1104fb84-780a-44b3-8bd8-13aa3f5416c0",
        name: "Remove event from case",
        slug: "remove_event_from_case",
        command: "remove_event_from_case",
        description: "Remove an event from a case",
        method: Verb::Delete,
        api: ApiVersion::V1,
        path: "sic/cases/{case_uuid}/events/{event_id}",
        query: &[],
        arguments: &[req("case_uuid", Str), req("event_id", Str)],
        results: Shape::Nothing,
    },
    RestCall {
        uuid: "4b2accb8-8091-4784-8683-53321bb3c575",
        name: "Get CTI Report",
        slug: "get_cti_report",
        command: "get-reports/{uuid}",
        description: "Read a threat intelligence report",
        method: Verb::Get,
        api: ApiVersion::V2,
        path: "inthreat/reports/{uuid}",
        query: &[],
        arguments: &[req("uuid", Str)],
        results: Shape::Report,
    },
    RestCall {
        uuid: "2588a60c-59da-4b65-9b96-e5facd03c768",
        name: "Get Asset",
        slug: "get_asset",
        command: "get-assets/{uuid}",
        description: "Read an asset (asset management v1)",
        method: Verb::Get,
        api: ApiVersion::V1,
        path: "asset-management/assets/{uuid}",
        query: &[],
        arguments: &[req("uuid", Str)],
        results: Shape::Asset,
    },
    RestCall {
        uuid: "7df20273-8698-45f8-b2b4-6b6d28717b45",
        name: "Get Asset (V2)",
        slug: "retrieve_assetv2",
        command: "get-assets-v2/{uuid}",
        description: "Read an asset (asset management v2)",
        method: Verb::Get,
        api: ApiVersion::V2,
        path: "asset-management/assets/{uuid}",
        query: &["with_telemetry", "with_compliance"],
        arguments: &[
            req("uuid", Str),
            opt("with_telemetry", Bool),
            opt("with_compliance", Bool),
        ],
        results: Shape::AssetV2,
    },
    RestCall {
        uuid: "0dcabc04-43b4-4564-b9b2-08b80e0e1ecf",
        name: "Edit case",
        slug: "edit_case",
        command: "update_case",
        description: "Change a case's title, description, status, priority, tags or subscribers",
        method: Verb::Patch,
        api: ApiVersion::V1,
        path: "sic/cases/{uuid}",
        query: &[],
        arguments: &[
            req("uuid", Str),
            opt("title", Str),
            opt("description", Str),
            opt("status_uuid", Str),
            opt("priority", Str),
            opt("tags", List),
            opt("subscribers", List),
            opt("verdict_uuid", Str),
            opt("custom_status_uuid", Str),
            opt("custom_priority_uuid", Str),
        ],
        results: Shape::Case,
    },
    RestCall {
        uuid: "b9f6cd73-7c01-4fe6-afbc-0e8290ee8e36",
        name: "Update rule",
        slug: "update_rule",
        command: "put-rules/{uuid}",
        description: "Replace a detection rule",
        method: Verb::Put,
        api: ApiVersion::V1,
        path: "sic/conf/rules-catalog/rules/{uuid}",
        query: &[],
        arguments: &[
            req("uuid", Str),
            opt("community_uuid", Str),
            req("name", Str),
            req("type", Str),
            req("description", Str),
            req("payload", Str),
            req("severity", Int),
            req("effort", Int),
            req("alert_type_uuid", Str),
            opt("tags", List),
            opt("related_object_refs", List),
            opt("datasources", List),
            opt("event_fields", List),
            req("enabled", Bool),
            opt("parameters", List),
            opt("all_entities", Bool),
            opt("entities", List),
            opt("all_assets", Bool),
            opt("assets", List),
            opt("goal", Str),
            opt("false_positives", Str),
            opt("similarity_strategy", List),
            opt("available_for_subcommunities", Bool),
        ],
        results: Shape::Rule,
    },
];

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn row(slug: &str) -> &'static RestCall {
        TABLE
            .iter()
            .find(|call| call.slug == slug)
            .unwrap_or_else(|| panic!("no row {slug}"))
    }

    #[test]
    fn path_query_and_body_come_from_the_arguments() {
        let request = Request::from_args(
            row("delete_rule"),
            &json!({"uuid": "r-1", "community_uuid": "c-1", "api_key": "k"}),
        )
        .unwrap();
        assert_eq!(request.path.to_string(), "sic/conf/rules-catalog/rules/r-1");
        assert_eq!(request.query, vec![("community_uuid", "c-1".to_owned())]);
        assert_eq!(request.body, None);
        let request = Request::from_args(
            row("edit_case"),
            &json!({"uuid": "c-1", "title": "T", "tags": ["a"], "priority": null, "base_url": "x"}),
        )
        .unwrap();
        assert_eq!(request.body, Some(json!({"title": "T", "tags": ["a"]})));
        let request =
            Request::from_args(row("get_case"), &json!({"uuid": "c-1", "render": true})).unwrap();
        assert_eq!(request.query, vec![("render", "1".to_owned())]);
    }

    #[test]
    fn path_values_must_be_identifiers() {
        for bad in [
            json!({}),
            json!({"uuid": " "}),
            json!({"uuid": ["x"]}),
            json!({"uuid": "a\nb"}),
        ] {
            let err = Request::from_args(row("get_rule"), &bad).unwrap_err();
            assert!(err.message.contains("`uuid`"), "{}", err.message);
        }
    }

    #[test]
    fn rows_are_unique_and_name_their_path_arguments() {
        for call in TABLE {
            assert_eq!(
                TABLE.iter().filter(|other| other.uuid == call.uuid).count(),
                1,
                "{}",
                call.slug
            );
            for segment in call.path.split('/') {
                if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    assert!(
                        call.arguments
                            .iter()
                            .any(|arg| arg.name == name && arg.required),
                        "{}: path argument {name} is a required argument",
                        call.slug
                    );
                }
            }
            for name in call.query {
                assert!(
                    call.arguments.iter().any(|arg| arg.name == *name),
                    "{}: query argument {name}",
                    call.slug
                );
            }
        }
    }
}
