//! Get aggregation query: event counts (or another aggregation) per time bucket, asked over
//! Sekoia.io's event statistics WebSocket.

use alertsync_engine::retry::with_retries;
use alertsync_engine::{Action, ActionContext, ActionError, ActionManifest, ActionOutput};
use async_trait::async_trait;
use serde_json::{Value, json};

use super::arguments::{Arg, Kind::*, opt, req};
use super::intelligence::manifest;
use super::rest_client;
use super::shapes::Shape;
use crate::args::required_str;
use crate::sekoia::ApiPath;

/// Asks for an aggregation of events over a period.
pub struct GetAggregationQuery {
    manifest: ActionManifest,
}

const ARGUMENTS: &[Arg] = &[
    req("aggregation_type", Str),
    opt("aggregation_field", Str),
    opt("query_term", Str),
    req("earliest_time", Str),
    req("latest_time", Str),
    req("minutes_per_bucket", Int),
    opt("filters", List),
];

impl GetAggregationQuery {
    pub fn new() -> Self {
        Self {
            manifest: manifest(
                [
                    "4c518777-06c6-428d-9ce2-488a577740e4",
                    "Get aggregation query",
                    "get_aggregation_query",
                    "get-aggregation-query",
                    "Aggregate the events a query finds (e.g. count them) per time bucket over a period",
                ],
                ARGUMENTS,
                Shape::Aggregation,
            ),
        }
    }
}

impl Default for GetAggregationQuery {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Action for GetAggregationQuery {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let query = json!({
            "aggregation": required_str(&args, "aggregation_type")?,
            "field": args.get("aggregation_field").cloned().unwrap_or(Value::Null),
            "term": args.get("query_term").and_then(Value::as_str).unwrap_or(""),
            "filters": args.get("filters").cloned().filter(|v| !v.is_null()).unwrap_or(json!([])),
            "range": [required_str(&args, "earliest_time")?, required_str(&args, "latest_time")?],
            "minutes_per_bucket": args.get("minutes_per_bucket").cloned().unwrap_or(Value::Null),
        });
        let client = rest_client(cx, &args)?;
        let statistics = ApiPath::new("events/stats");
        let answer = with_retries(&cx.retry, cx, "Sekoia.io event statistics", || {
            client.exchange_over_socket(cx, &statistics, &query)
        })
        .await?;
        Ok(ActionOutput::new(answer))
    }
}
