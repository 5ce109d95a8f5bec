//! The simulated Sekoia.io alert base: generated alerts, their changes (status, edits,
//! comments) and the live notification each change produces.

mod generator;
mod query;
mod statuses;

use std::collections::HashMap;

use serde_json::{Map, Value, json};

pub(crate) use generator::AlertGenerator;
pub(crate) use query::{AlertQuery, Inclusions, SortKey};
pub(crate) use statuses::workflow_actions;

use crate::{SimError, clock};

/// One alert and the ordering data the documents' whole-second timestamps lose.
pub(crate) struct StoredAlert {
    pub(crate) doc: Value,
    pub(crate) created_nanos: i128,
    pub(crate) updated_nanos: i128,
    /// Position of the alert's last change in the store's change sequence.
    pub(crate) sequence: u64,
}

/// What a live notification says about a change: `type`, `action` and `attributes`.
pub(crate) struct Notification {
    pub(crate) kind: &'static str,
    pub(crate) action: &'static str,
    pub(crate) attributes: Value,
}

/// The outcome of a change: what to answer and what to notify.
pub(crate) struct Change {
    pub(crate) answer: Value,
    pub(crate) notification: Notification,
}

/// A change's position in time: strictly increasing across the store.
#[derive(Clone, Copy)]
struct Stamp {
    nanos: i128,
    sequence: u64,
}

pub(crate) struct AlertStore {
    seed: u64,
    generator: AlertGenerator,
    by_uuid: HashMap<String, StoredAlert>,
    uuid_by_short_id: HashMap<String, String>,
    last_stamp: Stamp,
    /// Whether answers include `history` when asked (a test can withhold it, as a
    /// Sekoia.io answer without usable history would).
    history_served: bool,
}

impl AlertStore {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            seed,
            generator: AlertGenerator::new(seed),
            by_uuid: HashMap::new(),
            uuid_by_short_id: HashMap::new(),
            last_stamp: Stamp {
                nanos: 0,
                sequence: 0,
            },
            history_served: true,
        }
    }

    /// Serves `history` in answers (the default) or withholds it.
    pub(crate) fn serve_history(&mut self, served: bool) {
        self.history_served = served;
    }

    /// `inclusions` as this store honours them.
    pub(crate) fn served(&self, inclusions: Inclusions) -> Inclusions {
        Inclusions {
            history: inclusions.history && self.history_served,
            ..inclusions
        }
    }

    /// Forgets every alert and restarts the generator from the seed.
    pub(crate) fn reset(&mut self) {
        *self = Self::new(self.seed);
    }

    pub(crate) fn community_uuid(&self) -> &str {
        self.generator.community_uuid()
    }

    pub(crate) fn operator_uuid(&self) -> &str {
        self.generator.operator_uuid()
    }

    pub(crate) fn generator(&mut self) -> &mut AlertGenerator {
        &mut self.generator
    }

    fn next_stamp(&mut self) -> Stamp {
        let stamp = Stamp {
            nanos: clock::now_nanos().max(self.last_stamp.nanos + 1),
            sequence: self.last_stamp.sequence + 1,
        };
        self.last_stamp = stamp;
        stamp
    }

    /// The alert with this uuid or short id.
    pub(crate) fn find(&self, id: &str) -> Option<&StoredAlert> {
        let uuid = self.uuid_by_short_id.get(id).map_or(id, String::as_str);
        self.by_uuid.get(uuid)
    }

    /// Every stored alert, in no particular order.
    pub(crate) fn all(&self) -> impl Iterator<Item = &StoredAlert> {
        self.by_uuid.values()
    }

    /// The alert holding the countermeasure `uuid`, and the countermeasure's index.
    pub(crate) fn countermeasure_mut(&mut self, uuid: &str) -> Option<(&mut Value, usize)> {
        self.by_uuid.values_mut().find_map(|alert| {
            let index = alert.doc["countermeasures"]
                .as_array()?
                .iter()
                .position(|cm| cm["uuid"].as_str() == Some(uuid))?;
            Some((&mut alert.doc, index))
        })
    }

    /// The alert one of whose events has this id (`event_uuids`).
    pub(crate) fn find_by_event(&self, event_id: &str) -> Option<&StoredAlert> {
        self.by_uuid.values().find(|alert| {
            alert.doc["event_uuids"]
                .as_array()
                .is_some_and(|ids| ids.iter().any(|id| id.as_str() == Some(event_id)))
        })
    }

    fn find_mut(&mut self, id: &str) -> Result<&mut StoredAlert, SimError> {
        let uuid = self
            .uuid_by_short_id
            .get(id)
            .map_or(id, String::as_str)
            .to_owned();
        self.by_uuid
            .get_mut(&uuid)
            .ok_or_else(|| SimError::UnknownAlert(id.to_owned()))
    }

    /// Generates an alert, applies `overrides` over its top-level fields and stores it.
    /// Overridden `created_at` / `updated_at` (Unix seconds) date the alert for listings
    /// too, so that old alerts can be simulated.
    pub(crate) fn create(&mut self, overrides: Value) -> Change {
        let stamp = self.next_stamp();
        let mut doc = self.generator.alert(stamp.nanos);
        let dated = |field: &str| {
            overrides
                .get(field)
                .and_then(Value::as_i64)
                .map(|seconds| i128::from(seconds) * 1_000_000_000)
        };
        let created_nanos = dated("created_at").unwrap_or(stamp.nanos);
        let updated_nanos = dated("updated_at").unwrap_or(created_nanos.max(stamp.nanos));
        let history_given = overrides.get("history").is_some();
        if let (Some(doc), Value::Object(overrides)) = (doc.as_object_mut(), overrides) {
            doc.extend(overrides);
        }
        if !history_given {
            // The creation entry is dated with the alert, as Sekoia.io's history is.
            if let Some(entry) = doc.pointer_mut("/history/0") {
                entry["created_at"] = json!(clock::seconds(created_nanos));
            }
        }
        if let Some(status) = doc["status"].as_str().and_then(statuses::resolve) {
            doc["status"] = status.to_json();
        }
        let uuid = text(&doc, "uuid");
        let short_id = text(&doc, "short_id");
        let notification = Notification {
            kind: "alert",
            action: "created",
            attributes: json!({"uuid": uuid, "short_id": short_id}),
        };
        self.uuid_by_short_id.insert(short_id, uuid.clone());
        self.by_uuid.insert(
            uuid,
            StoredAlert {
                doc: doc.clone(),
                created_nanos,
                updated_nanos,
                sequence: stamp.sequence,
            },
        );
        Change {
            answer: doc,
            notification,
        }
    }

    /// Moves an alert to the status a name, status uuid or action uuid designates.
    pub(crate) fn set_status(
        &mut self,
        id: &str,
        reference: &str,
        comment: Option<&str>,
    ) -> Result<Change, SimError> {
        let status = statuses::resolve(reference)
            .ok_or_else(|| SimError::UnknownStatus(reference.to_owned()))?;
        let stamp = self.next_stamp();
        let entry_uuid = self.generator.uuid();
        let actor = self.operator_uuid().to_owned();
        let alert = self.find_mut(id)?;
        alert.doc["status"] = status.to_json();
        // Newest first, and status entries carry only the status, as Sekoia.io lists them.
        prepend(
            &mut alert.doc,
            "history",
            json!({
                "uuid": entry_uuid,
                "entry_type": "alert",
                "alert": {"status": status.name},
                "comment": comment,
                "created_at": clock::seconds(stamp.nanos),
                "created_by": actor,
                "created_by_type": "apikey",
            }),
        );
        alert.touch(stamp, &actor);
        Ok(alert.updated(json!({"status": status.uuid, "status_name": status.name})))
    }

    /// Applies `PATCH /v1/sic/alerts/{uuid}` fields.
    pub(crate) fn edit(
        &mut self,
        id: &str,
        patch: &Map<String, Value>,
    ) -> Result<Change, SimError> {
        let mut updated = Map::new();
        let alert = self
            .find(id)
            .ok_or_else(|| SimError::UnknownAlert(id.to_owned()))?;
        let mut doc = alert.doc.clone();
        for (field, value) in patch {
            apply_edit(&mut doc, field, value, &mut updated)?;
        }
        let stamp = self.next_stamp();
        let actor = self.operator_uuid().to_owned();
        let alert = self.find_mut(id)?;
        alert.doc = doc;
        alert.touch(stamp, &actor);
        let change = alert.updated(Value::Object(updated));
        Ok(Change {
            answer: alert.doc.clone(),
            ..change
        })
    }

    /// `count` more occurrences: `similar` grows, `last_seen_at` is now.
    pub(crate) fn add_occurrences(&mut self, id: &str, count: u64) -> Result<Change, SimError> {
        let stamp = self.next_stamp();
        let actor = self.operator_uuid().to_owned();
        let alert = self.find_mut(id)?;
        let similar = alert.doc["similar"].as_u64().unwrap_or(0) + count;
        alert.doc["similar"] = json!(similar);
        alert.doc["last_seen_at"] = json!(clock::iso_micros(stamp.nanos));
        alert.touch(stamp, &actor);
        Ok(alert.updated(json!({"similar": similar})))
    }

    /// Adds a comment; `author` is at most 32 characters.
    pub(crate) fn add_comment(
        &mut self,
        id: &str,
        content: &str,
        author: Option<&str>,
    ) -> Result<Change, SimError> {
        if content.trim().is_empty() {
            return Err(SimError::invalid("content", "must not be empty"));
        }
        if author.is_some_and(|author| author.chars().count() > 32) {
            return Err(SimError::invalid("author", "at most 32 characters"));
        }
        let stamp = self.next_stamp();
        let comment_uuid = self.generator.uuid();
        let actor = self.operator_uuid().to_owned();
        let alert = self.find_mut(id)?;
        let comment = json!({
            "uuid": comment_uuid,
            "content": content,
            "author": author,
            "date": clock::seconds(stamp.nanos),
            "created_by": actor,
            "created_by_type": "apikey",
            "unseen": true,
        });
        push(&mut alert.doc, "comments", comment.clone());
        for counter in ["number_of_total_comments", "number_of_unseen_comments"] {
            alert.doc[counter] = json!(alert.doc[counter].as_u64().unwrap_or(0) + 1);
        }
        alert.touch(stamp, &actor);
        let notification = Notification {
            kind: "alert-comment",
            action: "created",
            attributes: json!({
                "uuid": comment_uuid,
                "alert_uuid": alert.doc["uuid"],
                "alert_short_id": alert.doc["short_id"],
                "content": content,
                "created_by": actor,
                "created_by_type": "apikey",
            }),
        };
        Ok(Change {
            answer: comment,
            notification,
        })
    }

    pub(crate) fn comments(&self, id: &str) -> Result<Vec<Value>, SimError> {
        let alert = self
            .find(id)
            .ok_or_else(|| SimError::UnknownAlert(id.to_owned()))?;
        Ok(alert.doc["comments"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// The alerts a list request selects, in its order and page, and how many match.
    pub(crate) fn list(&self, query: &AlertQuery) -> (usize, Vec<Value>) {
        let mut selected: Vec<&StoredAlert> = self
            .by_uuid
            .values()
            .filter(|alert| query.accepts(alert))
            .collect();
        let key = |alert: &StoredAlert| match query.sort {
            SortKey::CreatedAt => (alert.created_nanos, alert.sequence),
            SortKey::UpdatedAt => (alert.updated_nanos, alert.sequence),
        };
        selected.sort_by_key(|alert| key(alert));
        if query.descending {
            selected.reverse();
        }
        let page = selected
            .iter()
            .skip(query.offset)
            .take(query.limit)
            .map(|alert| alert.render(self.served(query.inclusions)))
            .collect();
        (selected.len(), page)
    }
}

impl StoredAlert {
    fn touch(&mut self, stamp: Stamp, actor: &str) {
        self.updated_nanos = stamp.nanos;
        self.sequence = stamp.sequence;
        self.doc["updated_at"] = json!(clock::seconds(stamp.nanos));
        self.doc["updated_by"] = json!(actor);
        self.doc["updated_by_type"] = json!("apikey");
    }

    fn updated(&self, fields: Value) -> Change {
        Change {
            answer: self.doc.clone(),
            notification: Notification {
                kind: "alert",
                action: "updated",
                attributes: json!({
                    "uuid": self.doc["uuid"],
                    "short_id": self.doc["short_id"],
                    "updated": fields,
                }),
            },
        }
    }

    /// The alert as the API answers it, with the optional parts requested.
    pub(crate) fn render(&self, inclusions: Inclusions) -> Value {
        let mut doc = self.doc.clone();
        if let Some(fields) = doc.as_object_mut() {
            for (name, included) in [
                ("comments", inclusions.comments),
                ("countermeasures", inclusions.countermeasures),
                ("history", inclusions.history),
                ("cases", inclusions.cases),
            ] {
                if !included {
                    fields.remove(name);
                }
            }
            // A bundle given when the alert was created replaces the generated one.
            let given = fields.remove("stix");
            if inclusions.stix {
                let bundle = given.unwrap_or_else(|| stix_bundle(&self.doc));
                fields.insert("stix".to_owned(), bundle);
            }
        }
        doc
    }
}

fn text(doc: &Value, field: &str) -> String {
    match &doc[field] {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn prepend(doc: &mut Value, array: &str, item: Value) {
    match doc[array].as_array_mut() {
        Some(items) => items.insert(0, item),
        None => doc[array] = json!([item]),
    }
}

fn push(doc: &mut Value, array: &str, item: Value) {
    match doc[array].as_array_mut() {
        Some(items) => items.push(item),
        None => doc[array] = json!([item]),
    }
}

/// Applies one editable field, noting what changed in `updated`.
fn apply_edit(
    doc: &mut Value,
    field: &str,
    value: &Value,
    updated: &mut Map<String, Value>,
) -> Result<(), SimError> {
    let expect_text = || {
        if value.is_string() || value.is_null() {
            Ok(value.clone())
        } else {
            Err(SimError::invalid(field, "expected a string"))
        }
    };
    match field {
        "title" | "details" | "kill_chain_short_id" | "verdict_uuid" | "custom_status_uuid" => {
            doc[field] = expect_text()?;
        }
        "urgency" => {
            let urgency = value
                .as_i64()
                .filter(|urgency| (0..=100).contains(urgency))
                .ok_or_else(|| SimError::invalid(field, "expected an integer between 0 and 100"))?;
            doc["urgency"]["value"] = json!(urgency);
            doc["urgency"]["current_value"] = json!(urgency);
            doc["urgency"]["display"] = json!(generator::urgency_display(urgency));
        }
        "alert_type_category" => doc["alert_type"]["category"] = expect_text()?,
        "alert_type_value" => doc["alert_type"]["value"] = expect_text()?,
        _ => return Err(SimError::invalid(field, "this field cannot be edited")),
    }
    updated.insert(field.to_owned(), value.clone());
    Ok(())
}

/// A small STIX bundle describing the alert: its rule's indicator and, as Sekoia.io
/// bundles do, one `observed-data--<event uuid>` per event, holding the addresses seen.
fn stix_bundle(doc: &Value) -> Value {
    let mut objects = vec![json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": format!("indicator--{}", text(&doc["rule"], "uuid")),
        "name": doc["rule"]["name"],
        "pattern": doc["rule"]["pattern"],
        "pattern_type": doc["rule"]["type"],
    })];
    let addresses: Vec<Value> = ["source", "target"]
        .iter()
        .filter_map(|field| doc[*field].as_str())
        .filter(|address| address.parse::<std::net::IpAddr>().is_ok())
        .map(|address| json!({"type": "ipv4-addr", "value": address}))
        .collect();
    let observed = addresses
        .iter()
        .enumerate()
        .map(|(index, address)| (index.to_string(), address.clone()))
        .collect::<Map<String, Value>>();
    for event_uuid in doc["event_uuids"].as_array().into_iter().flatten() {
        if let Some(event_uuid) = event_uuid.as_str() {
            objects.push(json!({
                "type": "observed-data",
                "id": format!("observed-data--{event_uuid}"),
                "first_observed": doc["first_seen_at"],
                "last_observed": doc["last_seen_at"],
                "number_observed": 1,
                "objects": observed,
            }));
        }
    }
    json!({
        "type": "bundle",
        "id": format!("bundle--{}", text(doc, "uuid")),
        "objects": objects,
    })
}
