//! The Sekoia.io resources besides alerts and event searches: cases (with their comments,
//! events and alerts), detection rules, assets (v1 and v2), countermeasures of alerts, IOC
//! collections, observables, content proposals, reports, tracker notifications, entities,
//! intakes, communities, custom statuses, priorities and verdicts, and alert predictions.
//!
//! Each route reads or changes this state, so a test can check both what was sent and what
//! it did. Routes are matched on their segments under `/v1` and `/v2` (and `/api/v1`,
//! `/api/v2`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::Response;
use serde_json::{Value, json};

use crate::SimError;
use crate::clock;
use crate::feeds::{Feeds, PageQuery};
use crate::gateway::{answer, json_object};
use crate::recorder::Receiver;
use crate::state::{SimState, lock};

type Sim = State<Arc<SimState>>;
type Params = Query<Vec<(String, String)>>;

/// Largest page a listing answers.
const MAX_LIMIT: usize = 100;

/// Documents of one kind, in creation order.
#[derive(Default)]
struct Documents {
    order: Vec<String>,
    by_id: HashMap<String, Value>,
}

impl Documents {
    fn insert(&mut self, id: String, doc: Value) -> Value {
        if !self.by_id.contains_key(&id) {
            self.order.push(id.clone());
        }
        self.by_id.insert(id, doc.clone());
        doc
    }

    fn get(&self, id: &str) -> Option<&Value> {
        self.by_id.get(id)
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut Value> {
        self.by_id.get_mut(id)
    }

    fn remove(&mut self, id: &str) -> Option<Value> {
        self.order.retain(|known| known != id);
        self.by_id.remove(id)
    }

    fn iter(&self) -> impl Iterator<Item = &Value> {
        self.order.iter().filter_map(|id| self.by_id.get(id))
    }

    /// A document by id or by its `short_id`.
    fn find_id(&self, id: &str) -> Option<String> {
        if self.by_id.contains_key(id) {
            return Some(id.to_owned());
        }
        self.iter()
            .find(|doc| doc["short_id"].as_str() == Some(id))
            .and_then(|doc| doc["uuid"].as_str())
            .map(str::to_owned)
    }
}

/// The state of every resource kind.
#[derive(Default)]
pub(crate) struct Resources {
    cases: Documents,
    case_comments: HashMap<String, Vec<Value>>,
    rules: Documents,
    assets_v1: Documents,
    assets_v2: Documents,
    /// Indicators added to each IOC collection, by collection id (a collection exists once
    /// something is added to it).
    ioc_collections: HashMap<String, Vec<Value>>,
    observables: Vec<Value>,
    content_proposals: Vec<Value>,
    reports: Documents,
    tracker_notifications: Vec<Value>,
    pub(crate) feeds: Feeds,
}

impl Resources {
    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }

    /// The indicators of an IOC collection, in the order they were added.
    pub(crate) fn ioc_collection(&self, id: &str) -> Vec<Value> {
        self.ioc_collections.get(id).cloned().unwrap_or_default()
    }

    /// Every observable uploaded.
    pub(crate) fn observables(&self) -> Vec<Value> {
        self.observables.clone()
    }

    /// A case by uuid or short id.
    pub(crate) fn case(&self, id: &str) -> Option<Value> {
        let uuid = self.cases.find_id(id)?;
        self.cases.get(&uuid).cloned()
    }
}

/// A request to a resource route.
struct Call<'a> {
    sim: &'a SimState,
    method: Method,
    segments: Vec<&'a str>,
    params: &'a [(String, String)],
    body: &'a Bytes,
}

/// `/v1/{*rest}`: the resources of API version 1 not routed elsewhere.
pub(crate) async fn v1(
    State(sim): Sim,
    method: Method,
    Path(rest): Path<String>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    let call = Call::new(&sim, method, &rest, &params, &body);
    answer(Receiver::Sekoia, call.version_1())
}

/// `/v2/{*rest}`: the resources of API version 2.
pub(crate) async fn v2(
    State(sim): Sim,
    method: Method,
    Path(rest): Path<String>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    let call = Call::new(&sim, method, &rest, &params, &body);
    answer(Receiver::Sekoia, call.version_2())
}

impl<'a> Call<'a> {
    fn new(
        sim: &'a SimState,
        method: Method,
        rest: &'a str,
        params: &'a [(String, String)],
        body: &'a Bytes,
    ) -> Self {
        Self {
            sim,
            method,
            segments: rest.split('/').filter(|s| !s.is_empty()).collect(),
            params,
            body,
        }
    }

    fn version_1(&self) -> Result<Value, SimError> {
        let m = self.method.clone();
        match (m, self.segments.as_slice()) {
            (Method::PATCH, ["sic", "alerts", "countermeasures", cm, verdict @ ("activate" | "deny")]) => {
                self.countermeasure(cm, verdict)
            }
            (Method::GET, ["sic", "cases"]) => Ok(self.page(lock(&self.sim.resources).cases.iter(), &["status_uuid", "status_name", "tags", "created_by", "community_uuid", "assignees"])),
            (Method::POST, ["sic", "cases"]) => self.create_case(),
            (Method::GET, ["sic", "cases", id]) => self.with_case(id, |case, _| Ok(case.clone())),
            (Method::PATCH, ["sic", "cases", id]) => self.edit_case(id),
            (Method::DELETE, ["sic", "cases", id]) => {
                let mut resources = lock(&self.sim.resources);
                let uuid = resources.cases.find_id(id).ok_or_else(|| SimError::unknown("case", id))?;
                resources.cases.remove(&uuid);
                Ok(json!({}))
            }
            (Method::PATCH, ["sic", "cases", id, "alerts"]) => self.attach_alerts(id),
            (Method::POST, ["sic", "cases", id, "events"]) => self.add_events(id),
            (Method::DELETE, ["sic", "cases", id, "events", event]) => self.with_case_mut(id, |case| {
                let events = case["event_ids"].as_array_mut().ok_or_else(|| SimError::unknown("event", event))?;
                let before = events.len();
                events.retain(|known| known.as_str() != Some(event));
                if events.len() == before {
                    return Err(SimError::unknown("event of the case", event));
                }
                Ok(json!({}))
            }),
            (Method::POST, ["sic", "cases", id, "comments"]) => self.comment_case(id),
            (Method::GET, ["sic", "cases", id, "comments"]) => {
                let uuid = lock(&self.sim.resources).cases.find_id(id).ok_or_else(|| SimError::unknown("case", id))?;
                let comments = lock(&self.sim.resources).case_comments.get(&uuid).cloned().unwrap_or_default();
                Ok(self.page(comments.iter(), &["created_by"]))
            }
            (Method::GET, ["sic", "custom_statuses", id]) => self.alert_reference("custom status", id, "custom_status_uuid", |alert| {
                labelled(id, &alert["custom_status"]["label"], &alert["community_uuid"], json!({"stage": alert["custom_status"]["stage"]}))
            }),
            (Method::GET, ["sic", "custom_verdicts", id]) => self.alert_reference("custom verdict", id, "verdict_uuid", |alert| {
                labelled(id, &alert["verdict"]["label"], &alert["community_uuid"], json!({"stage": "closed"}))
            }),
            (Method::GET, ["sic", "custom_priorities", id]) => {
                let resources = lock(&self.sim.resources);
                let case = resources
                    .cases
                    .iter()
                    .find(|case| case["custom_priority_uuid"].as_str() == Some(id))
                    .ok_or_else(|| SimError::unknown("custom priority", id))?;
                Ok(labelled(id, &json!("Priority of the case"), &case["community_uuid"], json!({"color": "#d9534f"})))
            }
            (Method::GET, ["sic", "conf", "entities", id]) => self.alert_reference("entity", id, "entity", |alert| {
                json!({
                    "uuid": id, "name": alert["entity"]["name"], "entity_id": alert["entity"]["name"],
                    "community_uuid": alert["community_uuid"], "description": "",
                    "alerts_generation": "automatic", "number_of_intakes": alert["intake_uuids"].as_array().map_or(0, Vec::len),
                })
            }),
            (Method::GET, ["sic", "conf", "intakes", id]) => self.alert_reference("intake", id, "intake_uuids", |alert| {
                json!({
                    "uuid": id, "name": "Simulated intake", "community_uuid": alert["community_uuid"],
                    "format_uuid": alert["rule"]["uuid"], "intake_key": "sim-intake-key",
                    "created_at": "2024-01-01T00:00:00Z", "created_by": "simulator", "created_by_type": "application",
                    "updated_at": "2024-01-01T00:00:00Z", "updated_by": "simulator", "updated_by_type": "application",
                    "is_custom_format": false, "status": "active", "entity": alert["entity"],
                })
            }),
            (Method::GET, ["communities", id]) => self.community(id),
            (Method::POST, ["sic", "conf", "rules-catalog", "rules"]) => self.save_rule(None),
            (Method::GET, ["sic", "conf", "rules-catalog", "rules", id]) => lock(&self.sim.resources)
                .rules
                .get(id)
                .cloned()
                .ok_or_else(|| SimError::unknown("rule", id)),
            (Method::PUT, ["sic", "conf", "rules-catalog", "rules", id]) => self.save_rule(Some(id)),
            (Method::DELETE, ["sic", "conf", "rules-catalog", "rules", id]) => lock(&self.sim.resources)
                .rules
                .remove(id)
                .map(|_| json!({}))
                .ok_or_else(|| SimError::unknown("rule", id)),
            (Method::PUT, ["sic", "conf", "rules-catalog", "rules", id, switch @ ("enabled" | "disabled")]) => {
                let mut resources = lock(&self.sim.resources);
                let rule = resources.rules.get_mut(id).ok_or_else(|| SimError::unknown("rule", id))?;
                rule["enabled"] = json!(*switch == "enabled");
                Ok(rule.clone())
            }
            (Method::POST, ["predict", "alert"]) => {
                let request = json_object(self.body)?;
                let alert = request.get("alert").ok_or_else(|| SimError::invalid("alert", "is required"))?;
                let urgency = alert["urgency"]["current_value"].as_i64().or_else(|| alert["urgency"].as_i64()).unwrap_or(0);
                Ok(json!({"worth_human_attention": urgency >= 50}))
            }
            (_, ["asset-management", "assets", ..]) => self.assets_v1(),
            _ => Err(self.no_route()),
        }
    }

    fn version_2(&self) -> Result<Value, SimError> {
        let m = self.method.clone();
        match (m, self.segments.as_slice()) {
            (_, ["asset-management", "assets", ..]) => self.assets_v2(),
            (Method::GET, ["inthreat", "collections", feed, "objects"]) => {
                let query = PageQuery {
                    limit: self.param("limit"),
                    cursor: self.param("cursor"),
                    modified_after: self.param("modified_after"),
                    object_type: self.param("match[type]"),
                    include_revoked: self.param("include_revoked") == Some("true"),
                };
                lock(&self.sim.resources).feeds.page(feed, &query)
            }
            (Method::GET, ["inthreat", "objects"]) => {
                let ids: Vec<&str> = self
                    .param("match[id]")
                    .unwrap_or_default()
                    .split(',')
                    .collect();
                let items = lock(&self.sim.resources).feeds.by_ids(&ids);
                Ok(json!({ "items": items }))
            }
            (
                Method::POST,
                [
                    "inthreat",
                    "ioc-collections",
                    collection,
                    "indicators",
                    "text",
                ],
            ) => {
                let request = json_object(self.body)?;
                let format = request
                    .get("format")
                    .and_then(Value::as_str)
                    .ok_or_else(|| SimError::invalid("format", "is required"))?;
                let indicators = request
                    .get("indicators")
                    .and_then(Value::as_str)
                    .ok_or_else(|| SimError::invalid("indicators", "is required"))?;
                let mut resources = lock(&self.sim.resources);
                let stored = resources
                    .ioc_collections
                    .entry((*collection).to_owned())
                    .or_default();
                for value in indicators.lines().map(str::trim).filter(|l| !l.is_empty()) {
                    stored.push(json!({"format": format, "value": value, "valid_until": request.get("valid_until")}));
                }
                Ok(json!({}))
            }
            (Method::POST, ["inthreat", "observables", "bulk"]) => {
                let request = json_object(self.body)?;
                let data = request
                    .get("data")
                    .ok_or_else(|| SimError::invalid("data", "is required"))?;
                let items = match data {
                    Value::Array(items) => items.clone(),
                    Value::Object(bundle) => bundle
                        .get("objects")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_else(|| vec![data.clone()]),
                    _ => return Err(SimError::invalid("data", "expected observables")),
                };
                lock(&self.sim.resources).observables.extend(items);
                Ok(json!({}))
            }
            (Method::POST, ["inthreat", "bundles"]) => {
                let request = json_object(self.body)?;
                let objects = request
                    .get("data")
                    .and_then(|data| data.get("objects"))
                    .and_then(Value::as_array)
                    .filter(|objects| !objects.is_empty())
                    .ok_or_else(|| {
                        SimError::invalid("data", "expected a STIX bundle with objects")
                    })?;
                Ok(json!({"data": self.propose(objects.len())}))
            }
            (Method::POST, ["inthreat", "reports", source @ ("pdf" | "url")]) => {
                let request = json_object(self.body)?;
                let field = if *source == "pdf" { "file" } else { "url" };
                let source = request
                    .get(field)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| SimError::invalid(field, "is required"))?;
                let proposal = self.propose(1);
                let id = proposal["content_proposal_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let report =
                    json!({"uuid": id, "description": format!("Report read from {source}")});
                lock(&self.sim.resources).reports.insert(id, report);
                Ok(json!({"data": proposal}))
            }
            (Method::GET, ["inthreat", "reports", id]) => lock(&self.sim.resources)
                .reports
                .get(id)
                .map(|report| json!({"data": report["description"]}))
                .ok_or_else(|| SimError::unknown("report", id)),
            (Method::POST, ["inthreat", "objects", "search"]) => {
                let term = self
                    .param("term")
                    .ok_or_else(|| SimError::invalid("term", "is required"))?
                    .to_lowercase();
                let resources = lock(&self.sim.resources);
                let items: Vec<Value> = resources
                    .observables
                    .iter()
                    .filter(|object| object.to_string().to_lowercase().contains(&term))
                    .cloned()
                    .collect();
                Ok(json!({"items": items, "has_more": false}))
            }
            (Method::POST, ["inthreat", "trackers", "notifications"]) => {
                let request = json_object(self.body)?;
                let data = request
                    .get("data")
                    .cloned()
                    .ok_or_else(|| SimError::invalid("data", "is required"))?;
                let mut notification = data;
                notification["id"] = json!(self.uuid());
                notification["status"] = json!("new");
                notification["created"] = json!(clock::iso_micros(clock::now_nanos()));
                lock(&self.sim.resources)
                    .tracker_notifications
                    .push(notification.clone());
                Ok(json!({"data": notification}))
            }
            _ => Err(self.no_route()),
        }
    }

    fn no_route(&self) -> SimError {
        SimError::unknown(
            "route",
            &format!("{} /{}", self.method, self.segments.join("/")),
        )
    }

    fn uuid(&self) -> String {
        lock(&self.sim.alerts).generator().uuid()
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, v)| v.as_str())
    }

    fn number(&self, name: &str, default: usize) -> Result<usize, SimError> {
        match self.param(name) {
            None => Ok(default),
            Some(text) => text
                .parse()
                .map_err(|_| SimError::invalid(name, "expected a non-negative integer")),
        }
    }

    /// A page of `items`: `match[<field>]=a,b` filters on the listed fields, `limit` and
    /// `offset` page through; `{total, has_more, items}`.
    fn page<'v>(&self, items: impl Iterator<Item = &'v Value>, fields: &[&str]) -> Value {
        let limit = self.number("limit", 20).unwrap_or(20).min(MAX_LIMIT);
        let offset = self.number("offset", 0).unwrap_or(0);
        let matching: Vec<&Value> = items
            .filter(|item| {
                fields
                    .iter()
                    .all(|field| match self.param(&format!("match[{field}]")) {
                        None => true,
                        Some(wanted) => wanted.split(',').any(|w| field_holds(&item[*field], w)),
                    })
            })
            .collect();
        let total = matching.len();
        let page: Vec<&Value> = matching.into_iter().skip(offset).take(limit).collect();
        json!({"total": total, "has_more": offset + page.len() < total, "items": page})
    }

    fn countermeasure(&self, cm: &str, verdict: &str) -> Result<Value, SimError> {
        let request = json_object(self.body)?;
        let actor = lock(&self.sim.alerts).operator_uuid().to_owned();
        let mut store = lock(&self.sim.alerts);
        let (alert, index) = store
            .countermeasure_mut(cm)
            .ok_or_else(|| SimError::unknown("countermeasure", cm))?;
        let alert_uuid = alert["uuid"].clone();
        let measure = &mut alert["countermeasures"][index];
        let now = clock::iso_micros(clock::now_nanos());
        let status = if verdict == "activate" {
            "activated"
        } else {
            "denied"
        };
        measure["status"] = json!(status);
        measure["alert_uuid"] = alert_uuid;
        measure[format!("{status}_by").as_str()] = json!(actor);
        measure[format!("{status}_by_type").as_str()] = json!("apikey");
        measure[format!("{status}_at").as_str()] = json!(now);
        if measure["action_steps"].is_null() {
            measure["action_steps"] = json!([]);
        }
        if let Some(comment) = request.get("comment").filter(|c| !c.is_null()) {
            let mut comments = measure["comments"].as_array().cloned().unwrap_or_default();
            comments.push(comment.clone());
            measure["comments"] = Value::Array(comments);
        }
        Ok(measure.clone())
    }

    fn create_case(&self) -> Result<Value, SimError> {
        let request = json_object(self.body)?;
        let title = request
            .get("title")
            .and_then(Value::as_str)
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| SimError::invalid("title", "is required"))?;
        let (uuid, short_tail, actor, community) = {
            let mut store = lock(&self.sim.alerts);
            let actor = store.operator_uuid().to_owned();
            let community = store.community_uuid().to_owned();
            let generator = store.generator();
            (
                generator.uuid(),
                generator.short_id()[2..].to_owned(),
                actor,
                community,
            )
        };
        let now = clock::iso_micros(clock::now_nanos());
        let mut case = json!({
            "uuid": uuid, "short_id": format!("CA{short_tail}"), "title": title, "description": "",
            "priority": "medium", "status": "open", "status_uuid": "1cec2cf8-8c3e-4d2e-9b0e-0c2d4b6f1a01",
            "community_uuid": community, "subscribers": [], "tags": [], "alerts": [], "event_ids": [],
            "number_of_comments": 0, "manual": true,
            "created_at": now, "created_by": actor, "created_by_type": "apikey",
            "updated_at": now, "updated_by": actor, "updated_by_type": "apikey",
        });
        for (field, value) in request {
            case[field.as_str()] = value;
        }
        let case = lock(&self.sim.resources).cases.insert(uuid, case);
        let noted = [
            "uuid",
            "short_id",
            "title",
            "created_at",
            "manual",
            "custom_priority_uuid",
            "status_uuid",
        ];
        let attributes: serde_json::Map<String, Value> = noted
            .iter()
            .map(|key| ((*key).to_owned(), case[*key].clone()))
            .collect();
        self.sim.notify_case("created", Value::Object(attributes));
        Ok(case)
    }

    fn with_case<T>(
        &self,
        id: &str,
        read: impl FnOnce(&Value, &Resources) -> Result<T, SimError>,
    ) -> Result<T, SimError> {
        let resources = lock(&self.sim.resources);
        let uuid = resources
            .cases
            .find_id(id)
            .ok_or_else(|| SimError::unknown("case", id))?;
        let case = resources
            .cases
            .get(&uuid)
            .ok_or_else(|| SimError::unknown("case", id))?;
        read(case, &resources)
    }

    fn with_case_mut(
        &self,
        id: &str,
        change: impl FnOnce(&mut Value) -> Result<Value, SimError>,
    ) -> Result<Value, SimError> {
        let mut resources = lock(&self.sim.resources);
        let uuid = resources
            .cases
            .find_id(id)
            .ok_or_else(|| SimError::unknown("case", id))?;
        let case = resources
            .cases
            .get_mut(&uuid)
            .ok_or_else(|| SimError::unknown("case", id))?;
        let answer = change(case)?;
        case["updated_at"] = json!(clock::iso_micros(clock::now_nanos()));
        Ok(answer)
    }

    fn edit_case(&self, id: &str) -> Result<Value, SimError> {
        let request = json_object(self.body)?;
        let updated = Value::Object(request.clone());
        let case = self.with_case_mut(id, |case| {
            for (field, value) in request {
                if matches!(
                    field.as_str(),
                    "uuid" | "short_id" | "created_at" | "created_by"
                ) {
                    return Err(SimError::invalid(&field, "this field cannot be edited"));
                }
                case[field.as_str()] = value;
            }
            Ok(case.clone())
        })?;
        self.sim.notify_case(
            "updated",
            json!({"uuid": case["uuid"], "short_id": case["short_id"], "updated": updated}),
        );
        Ok(case)
    }

    fn attach_alerts(&self, id: &str) -> Result<Value, SimError> {
        let request = json_object(self.body)?;
        let alerts: Vec<String> = request
            .get("alerts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        for alert in &alerts {
            if lock(&self.sim.alerts).find(alert).is_none() {
                return Err(SimError::UnknownAlert(alert.clone()));
            }
        }
        let mut added = Vec::new();
        let case = self.with_case_mut(id, |case| {
            let mut attached = case["alerts"].as_array().cloned().unwrap_or_default();
            for alert in alerts {
                if !attached.iter().any(|known| known.as_str() == Some(&alert)) {
                    added.push(Value::String(alert.clone()));
                    attached.push(Value::String(alert));
                }
            }
            case["alerts"] = Value::Array(attached);
            Ok(case.clone())
        })?;
        if !added.is_empty() {
            self.sim.notify_case(
                "alerts-updated",
                json!({"uuid": case["uuid"], "short_id": case["short_id"],
                       "updated": {"added_alerts_uuid": added, "deleted_alerts_uuid": []}}),
            );
        }
        Ok(json!({"status": "ok"}))
    }

    fn add_events(&self, id: &str) -> Result<Value, SimError> {
        let request = json_object(self.body)?;
        let events = request
            .get("event_ids")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| SimError::invalid("event_ids", "expected a list"))?;
        self.with_case_mut(id, |case| {
            let mut known = case["event_ids"].as_array().cloned().unwrap_or_default();
            known.extend(events);
            case["event_ids"] = Value::Array(known);
            Ok(json!({}))
        })
    }

    fn comment_case(&self, id: &str) -> Result<Value, SimError> {
        let request = json_object(self.body)?;
        let content = request
            .get("content")
            .and_then(Value::as_str)
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| SimError::invalid("content", "is required"))?;
        let (uuid, actor) = {
            let mut store = lock(&self.sim.alerts);
            let actor = store.operator_uuid().to_owned();
            (store.generator().uuid(), actor)
        };
        let now = clock::iso_micros(clock::now_nanos());
        let comment = json!({"uuid": uuid, "content": content, "created_at": now, "created_by": actor,
                             "created_by_type": "apikey", "updated_at": now});
        let case_uuid = self.with_case_mut(id, |case| {
            case["number_of_comments"] =
                json!(case["number_of_comments"].as_u64().unwrap_or(0) + 1);
            Ok(case["uuid"].clone())
        })?;
        let case_uuid = case_uuid.as_str().unwrap_or_default().to_owned();
        lock(&self.sim.resources)
            .case_comments
            .entry(case_uuid)
            .or_default()
            .push(comment.clone());
        Ok(comment)
    }

    /// A document derived from the alert that refers to `id` in `field`.
    fn alert_reference(
        &self,
        kind: &'static str,
        id: &str,
        field: &str,
        build: impl FnOnce(&Value) -> Value,
    ) -> Result<Value, SimError> {
        let store = lock(&self.sim.alerts);
        let alert = store
            .all()
            .map(|alert| &alert.doc)
            .find(|doc| field_holds(&doc[field], id) || doc[field]["uuid"].as_str() == Some(id))
            .ok_or_else(|| SimError::unknown(kind, id))?;
        Ok(build(alert))
    }

    fn community(&self, id: &str) -> Result<Value, SimError> {
        let store = lock(&self.sim.alerts);
        if store.community_uuid() != id {
            return Err(SimError::unknown("community", id));
        }
        Ok(json!({
            "uuid": id, "name": "Simulated community", "description": "The simulator's community",
            "homepage_url": "", "created_at": "2024-01-01T00:00:00Z", "created_by": store.operator_uuid(),
            "created_by_type": "apikey", "updated_at": "2024-01-01T00:00:00Z", "is_parent": false,
            "parent_community_uuid": "", "subcommunities": [], "is_mfa_enforced": false,
            "session_timeout": 3600, "disable_inactive_avatars": false, "disabled": false,
        }))
    }

    fn save_rule(&self, id: Option<&str>) -> Result<Value, SimError> {
        let request = json_object(self.body)?;
        for field in [
            "name",
            "type",
            "description",
            "payload",
            "severity",
            "effort",
            "alert_type_uuid",
        ] {
            if request.get(field).is_none_or(Value::is_null) {
                return Err(SimError::invalid(field, "is required"));
            }
        }
        let mut resources = lock(&self.sim.resources);
        let uuid = match id {
            Some(id) => {
                resources
                    .rules
                    .get(id)
                    .ok_or_else(|| SimError::unknown("rule", id))?;
                id.to_owned()
            }
            None => {
                drop(resources);
                let uuid = self.uuid();
                resources = lock(&self.sim.resources);
                uuid
            }
        };
        let mut rule = json!({"uuid": uuid, "enabled": false, "private": true, "parameters": [],
                              "last_compilation_success": true, "last_compilation_message": "",
                              "last_compilation_at": clock::iso_micros(clock::now_nanos())});
        for (field, value) in request {
            rule[field.as_str()] = value;
        }
        Ok(resources.rules.insert(uuid, rule))
    }

    fn assets_v1(&self) -> Result<Value, SimError> {
        let m = self.method.clone();
        match (m, &self.segments[2..]) {
            (Method::GET, []) => Ok(self.page(
                lock(&self.sim.resources).assets_v1.iter(),
                &["uuid", "name"],
            )),
            (Method::POST, []) => {
                let request = json_object(self.body)?;
                for field in ["name", "asset_type", "criticity"] {
                    if request.get(field).is_none_or(Value::is_null) {
                        return Err(SimError::invalid(field, "is required"));
                    }
                }
                let uuid = self.uuid();
                let now = clock::iso_micros(clock::now_nanos());
                let criticity = request["criticity"].as_i64().unwrap_or(0);
                let mut asset = json!({"uuid": uuid, "keys": [], "attributes": [], "owners": [],
                                       "description": "", "created_at": now, "updated_at": now});
                for (field, value) in request {
                    asset[field.as_str()] = value;
                }
                asset["criticity"] = json!({"value": criticity, "display": if criticity >= 68 { "high" } else if criticity >= 34 { "medium" } else { "low" }});
                Ok(lock(&self.sim.resources).assets_v1.insert(uuid, asset))
            }
            (Method::GET, [id]) => lock(&self.sim.resources)
                .assets_v1
                .get(id)
                .cloned()
                .ok_or_else(|| SimError::unknown("asset", id)),
            (Method::DELETE, [id]) => lock(&self.sim.resources)
                .assets_v1
                .remove(id)
                .map(|_| json!({}))
                .ok_or_else(|| SimError::unknown("asset", id)),
            (Method::POST, [id, list @ ("attr" | "keys")]) => {
                let (name, value) = (self.param("name"), self.param("value"));
                let (Some(name), Some(value)) = (name, value) else {
                    return Err(SimError::invalid(
                        "name",
                        "`name` and `value` are required in the query",
                    ));
                };
                let entry = json!({"uuid": self.uuid(), "name": name, "value": value});
                let mut resources = lock(&self.sim.resources);
                let asset = resources
                    .assets_v1
                    .get_mut(id)
                    .ok_or_else(|| SimError::unknown("asset", id))?;
                let field = if *list == "attr" {
                    "attributes"
                } else {
                    "keys"
                };
                let mut entries = asset[field].as_array().cloned().unwrap_or_default();
                entries.push(entry.clone());
                asset[field] = Value::Array(entries);
                Ok(entry)
            }
            _ => Err(self.no_route()),
        }
    }

    fn assets_v2(&self) -> Result<Value, SimError> {
        let m = self.method.clone();
        match (m, &self.segments[2..]) {
            (Method::GET, []) => {
                let search = self.param("search").map(str::to_lowercase);
                let deep = self.param("also_search_in_detection_properties") == Some("true");
                let resources = lock(&self.sim.resources);
                let found = resources.assets_v2.iter().filter(|asset| match &search {
                    None => true,
                    Some(term) => {
                        asset["name"]
                            .as_str()
                            .is_some_and(|n| n.to_lowercase().contains(term.as_str()))
                            || (deep
                                && asset["atoms"]
                                    .to_string()
                                    .to_lowercase()
                                    .contains(term.as_str()))
                    }
                });
                Ok(self.page(found, &["type", "category"]))
            }
            (Method::POST, []) => {
                let request = json_object(self.body)?;
                for field in ["name", "type", "community_uuid"] {
                    if request.get(field).is_none_or(Value::is_null) {
                        return Err(SimError::invalid(field, "is required"));
                    }
                }
                let uuid = self.uuid();
                let mut asset = asset_v2(&uuid);
                for (field, value) in request {
                    asset[field.as_str()] = value;
                }
                Ok(lock(&self.sim.resources).assets_v2.insert(uuid, asset))
            }
            (Method::POST, ["merge"]) => {
                let request = json_object(self.body)?;
                let destination = request
                    .get("destination")
                    .and_then(Value::as_str)
                    .ok_or_else(|| SimError::invalid("destination", "is required"))?;
                let sources: Vec<String> = request
                    .get("sources")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect();
                let mut resources = lock(&self.sim.resources);
                resources
                    .assets_v2
                    .get(destination)
                    .ok_or_else(|| SimError::unknown("asset", destination))?;
                for source in &sources {
                    resources
                        .assets_v2
                        .remove(source)
                        .ok_or_else(|| SimError::unknown("asset", source))?;
                }
                Ok(json!({"destination": destination, "merged": sources}))
            }
            (Method::GET, [id]) => lock(&self.sim.resources)
                .assets_v2
                .get(id)
                .cloned()
                .ok_or_else(|| SimError::unknown("asset", id)),
            (Method::PUT, [id]) => {
                let request = json_object(self.body)?;
                let mut resources = lock(&self.sim.resources);
                let asset = resources
                    .assets_v2
                    .get_mut(id)
                    .ok_or_else(|| SimError::unknown("asset", id))?;
                for (field, value) in request {
                    asset[field.as_str()] = value;
                }
                asset["updated_at"] = json!(clock::iso_micros(clock::now_nanos()));
                Ok(asset.clone())
            }
            (Method::DELETE, [id]) => lock(&self.sim.resources)
                .assets_v2
                .remove(id)
                .ok_or_else(|| SimError::unknown("asset", id)),
            _ => Err(self.no_route()),
        }
    }

    fn propose(&self, objects: usize) -> Value {
        let proposal = json!({"content_proposal_id": format!("content-proposal--{}", self.uuid()),
                              "file_name": format!("bundle-{objects}-objects.json")});
        lock(&self.sim.resources)
            .content_proposals
            .push(proposal.clone());
        proposal
    }
}

/// A fresh asset (v2) with every field the API answers.
fn asset_v2(uuid: &str) -> Value {
    let now = clock::iso_micros(clock::now_nanos());
    json!({
        "uuid": uuid, "entity_uuid": null, "community_uuid": null, "name": "", "type": "host",
        "category": null, "criticality": 0, "created_at": now, "created_by": "simulator",
        "created_by_type": "apikey", "updated_at": now, "first_seen": null, "last_seen": null,
        "nb_events": 0, "nb_alerts": 0, "nb_atoms": 0, "atoms": {}, "props": {}, "tags": [],
        "reviewed": false, "revoked": false, "source": "manual", "description": "",
    })
}

/// A custom status, verdict or priority.
fn labelled(uuid: &str, label: &Value, community: &Value, extra: Value) -> Value {
    let mut doc = json!({
        "uuid": uuid, "community_uuid": community, "level": 1, "label": label, "description": "",
        "created_at": "2024-01-01T00:00:00Z", "created_by": "simulator", "created_by_type": "application",
        "updated_at": "2024-01-01T00:00:00Z", "updated_by": "simulator", "updated_by_type": "application",
        "is_used": true,
    });
    if let (Some(doc), Value::Object(extra)) = (doc.as_object_mut(), extra) {
        doc.extend(extra);
    }
    doc
}

/// Whether a field holds `wanted`: equal text, or a list containing it.
fn field_holds(field: &Value, wanted: &str) -> bool {
    match field {
        Value::String(text) => text == wanted,
        Value::Array(items) => items.iter().any(|item| item.as_str() == Some(wanted)),
        Value::Number(number) => number.to_string() == wanted,
        Value::Bool(flag) => flag.to_string() == wanted,
        _ => false,
    }
}
