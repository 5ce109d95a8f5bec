//! The shapes of the results of Sekoia.io actions: property names and types, as the
//! results schemas of Sekoia.io's own actions give them.

use serde_json::Value;

/// The shape of an action's results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A countermeasure of an alert, with its action steps.
    Countermeasure,
    /// No results.
    Nothing,
    /// An attribute or key of an asset.
    AssetProperty,
    /// The HTTP answer: status, headers and text.
    HttpAnswer,
    /// The answer to attaching alerts to a case.
    CaseAlerts,
    /// A tracker notification.
    TrackerNotification,
    /// A case.
    Case,
    /// A detection rule.
    Rule,
    /// An asset (asset management v1).
    Asset,
    /// An asset (asset management v2).
    AssetV2,
    /// The buckets of an aggregation query.
    Aggregation,
    /// An alert.
    Alert,
    /// A community.
    Community,
    /// Threat intelligence objects found by a search.
    ObjectSearch,
    /// A custom priority.
    CustomPriority,
    /// A custom status or verdict.
    CustomStatus,
    /// An entity.
    Entity,
    /// The most common values of event fields.
    FieldValues,
    /// Events.
    Events,
    /// An intake.
    Intake,
    /// A content proposal made from a STIX bundle.
    ContentProposal,
    /// A page of a listing, with the total count.
    Page,
    /// Items of a listing.
    Items,
    /// A comment of a case.
    CaseComment,
    /// A comment of an alert.
    AlertComment,
    /// A content proposal made from a report.
    ReportProposal,
    /// Whether the alert is worth a human's attention.
    Prediction,
    /// The ids the intake gave the events.
    EventIds,
    /// A threat intelligence report.
    Report,
    /// What each synchronised account did to the assets.
    Synchronisation,
    /// The workflow's answer: the actions available next.
    WorkflowActions,
}

impl Shape {
    #[cfg(test)]
    const ALL: &[Shape] = &[
        Shape::Countermeasure,
        Shape::Nothing,
        Shape::AssetProperty,
        Shape::HttpAnswer,
        Shape::CaseAlerts,
        Shape::TrackerNotification,
        Shape::Case,
        Shape::Rule,
        Shape::Asset,
        Shape::AssetV2,
        Shape::Aggregation,
        Shape::Alert,
        Shape::Community,
        Shape::ObjectSearch,
        Shape::CustomPriority,
        Shape::CustomStatus,
        Shape::Entity,
        Shape::FieldValues,
        Shape::Events,
        Shape::Intake,
        Shape::ContentProposal,
        Shape::Page,
        Shape::Items,
        Shape::CaseComment,
        Shape::AlertComment,
        Shape::ReportProposal,
        Shape::Prediction,
        Shape::EventIds,
        Shape::Report,
        Shape::Synchronisation,
        Shape::WorkflowActions,
    ];

    /// The JSON schema of results of this shape.
    pub(crate) fn schema(self) -> Value {
        // Each text is a JSON object (checked by a test below).
        serde_json::from_str(self.schema_text()).unwrap_or_default()
    }

    fn schema_text(self) -> &'static str {
        match self {
            Shape::Countermeasure => {
                r#"{"type": "object", "properties": {"action_steps": {"type": "array", "items": {"type": "object"}}, "activated_by_type": {"type": "string"}, "comments": {"type": "array", "items": {"type": "object"}}, "activated_at": {"type": "string"}, "relevance": {"type": "integer"}, "denied_by_type": {"type": "string"}, "status": {"type": "string"}, "created_by": {"type": "string"}, "model_uuid": {"type": "string"}, "activated_by": {"type": "string"}, "description": {"type": "string"}, "name": {"type": "string"}, "uuid": {"type": "string"}, "duration": {"type": "string"}, "alert_uuid": {"type": "string"}, "denied_at": {"type": "string"}, "created_by_type": {"type": "string"}, "course_of_action": {"type": "object"}, "dynamic_relevance": {"type": "integer"}, "denied_by": {"type": "string"}, "assignee": {"type": "string"}, "created_at": {"type": "string"}}}"#
            }
            Shape::Nothing => r#"{}"#,
            Shape::AssetProperty => {
                r#"{"type": "object", "properties": {"value": {"type": "string"}, "uuid": {"type": "string"}, "name": {"type": "string"}}}"#
            }
            Shape::HttpAnswer => {
                r#"{"type": "object", "properties": {"status_code": {"type": "integer"}, "headers": {"type": "object"}, "text": {"type": "string"}}}"#
            }
            Shape::CaseAlerts => {
                r#"{"type": "object", "properties": {"status": {"type": "string"}}}"#
            }
            Shape::TrackerNotification => {
                r#"{"type": "object", "properties": {"data": {"type": "object", "properties": {"rule": {"type": "object"}, "created": {"type": "string"}, "details": {"type": "object"}, "status": {"type": "string"}, "observable": {"type": "object"}, "id": {"type": "string"}}}}}"#
            }
            Shape::Case => {
                r#"{"type": "object", "properties": {"uuid": {"type": "string"}, "short_id": {"type": "string"}, "created_at": {"type": "string"}, "created_by": {"type": "string"}, "created_by_type": {"type": "string"}, "updated_at": {"type": "string"}, "updated_by": {"type": "string"}, "updated_by_type": {"type": "string"}, "title": {"type": "string"}, "description": {"type": "string"}, "priority": {}, "status": {"type": "string"}, "status_uuid": {"type": "string"}, "community_uuid": {"type": "string"}, "subscribers": {"type": "array", "items": {"type": "object"}}, "tags": {"type": "array", "items": {"type": "string"}}, "number_of_comments": {"type": "integer"}, "first_seen_at": {"type": "string"}, "last_seen_at": {"type": "string"}, "manual": {"type": "boolean"}, "is_supplied": {"type": "boolean"}, "verdict_uuid": {"type": "string"}, "verdict": {"type": "object", "properties": {"description": {"type": "string"}, "label": {"type": "string"}, "level": {"type": "integer"}, "stage": {"type": "string"}}}, "custom_status_uuid": {"type": "string"}, "custom_status": {"type": "object", "properties": {"description": {"type": "string"}, "label": {"type": "string"}, "level": {"type": "integer"}, "stage": {"type": "string"}}}, "custom_priority_uuid": {"type": "string"}, "custom_priority": {"type": "object", "properties": {"description": {"type": "string"}, "label": {"type": "string"}, "level": {"type": "integer"}, "color": {"type": "string"}}}, "number_of_alerts": {"type": "integer"}, "alerts": {"type": "array", "items": {"type": "object"}}}}"#
            }
            Shape::Rule => {
                r#"{"type": "object", "properties": {"uuid": {"type": "string"}, "enabled": {"type": "boolean"}, "community_uuid": {"type": "string"}, "parameters": {"type": "array", "items": {"type": "object"}}, "all_entities": {"type": "boolean"}, "entities": {"type": "array", "items": {"type": "object"}}, "all_assets": {"type": "boolean"}, "assets": {"type": "array", "items": {"type": "string"}}, "last_compilation_success": {"type": "boolean"}, "last_compilation_message": {"type": "string"}, "last_compilation_at": {"type": "string"}, "name": {"type": "string"}, "type": {}, "private": {"type": "boolean"}, "is_private": {"type": "boolean"}, "description": {"type": "string"}, "payload": {"type": "string"}, "severity": {"type": "integer"}, "effort": {"type": "integer"}, "alert_type": {"type": "object", "properties": {"uuid": {"type": "string"}, "category_uuid": {"type": "string"}, "value": {"type": "string"}, "detail": {"type": "string"}, "description": {"type": "string"}}}, "alert_category": {"type": "object", "properties": {"uuid": {"type": "string"}, "name": {"type": "string"}}}, "tags": {"type": "array", "items": {"type": "object"}}, "source": {"type": "string"}, "verified": {"type": "boolean"}, "related_object_refs": {"type": "array", "items": {"type": "string"}}, "datasources": {"type": "array", "items": {"type": "object"}}, "event_fields": {"type": "array", "items": {"type": "object"}}, "similarity_strategy": {"type": "array", "items": {}}, "created_at": {"type": "string"}, "created_by": {"type": "string"}, "created_by_type": {"type": "string"}, "updated_at": {"type": "string"}, "updated_by": {"type": "string"}, "updated_by_type": {"type": "string"}, "goal": {"type": "string"}, "false_positives": {"type": "string"}, "references": {"type": "string"}, "available_for_subcommunities": {"type": "boolean"}, "instance_uuid": {"type": "string"}}}"#
            }
            Shape::Asset => {
                r#"{"type": "object", "properties": {"keys": {"type": "array", "items": {"type": "object"}}, "attributes": {"type": "array", "items": {"type": "object"}}, "uuid": {"type": "string"}, "name": {"type": "string"}, "created_at": {"type": "string"}, "criticity": {"type": "object", "properties": {"value": {"type": "integer"}, "display": {"type": "string"}}}, "asset_type": {"type": "object", "properties": {"uuid": {"type": "string"}, "name": {"type": "string"}, "description": {"type": "string"}}}, "updated_at": {"type": "string"}, "description": {"type": "string"}, "owners": {"type": "array", "items": {"type": "string"}}, "community_uuid": {"type": "string"}, "category": {"type": "object", "properties": {"uuid": {"type": "string"}, "name": {"type": "string"}, "types": {"type": "array"}, "description": {"type": "string"}}}}}"#
            }
            Shape::AssetV2 => {
                r#"{"type": "object", "properties": {"uuid": {"type": "string"}, "entity_uuid": {}, "community_uuid": {"type": "string"}, "name": {"type": "string"}, "type": {"type": "string"}, "category": {"type": ["object", "string", "null"]}, "criticality": {"type": ["integer", "null"]}, "created_at": {}, "created_by": {}, "created_by_type": {"type": ["string", "null"]}, "updated_at": {}, "first_seen": {}, "last_seen": {}, "nb_events": {"type": ["integer", "null"]}, "nb_alerts": {"type": ["integer", "null"]}, "nb_atoms": {"type": "integer"}, "atoms": {"type": ["object", "null"]}, "props": {"type": ["object", "null"]}, "tags": {"type": "array", "items": {"type": "string"}}, "revoked": {"type": "boolean"}, "revoked_at": {}, "revoked_by": {}, "reviewed": {"type": "boolean"}, "reviewed_at": {}, "reviewed_by": {}, "source": {"type": "string"}, "rule_uuid": {}, "rule_version": {"type": ["string", "null"]}, "criticity": {"type": ["object", "null"]}, "asset_type": {"type": ["object", "null"]}}}"#
            }
            Shape::Aggregation => {
                r#"{"type": "object", "properties": {"aggregations": {"type": "array", "items": {"type": "object"}}, "anomaly_detection_candidate_score_y_acf1": {"type": "number"}, "anomaly_detection_candidate_score_y_acf5": {"type": "number"}, "anomaly_detection_candidate_score_seas_acf1": {"type": "number"}, "anomaly_detection_candidate": {"type": "boolean"}}}"#
            }
            Shape::Alert => {
                r#"{"type": "object", "properties": {"urgency": {"type": "object", "properties": {"severity": {"type": "integer"}, "current_value": {"type": "integer"}, "value": {"type": "integer"}, "criticity": {"type": "integer"}, "display": {"type": "string"}}}, "history": {"type": "array", "items": {"type": "object"}}, "is_incident": {"type": "boolean"}, "assets": {"type": "array", "items": {"type": "string"}}, "countermeasures": {"type": "array", "items": {"type": "object"}}, "updated_at": {"type": "integer"}, "comments": {"type": "array", "items": {"type": "object"}}, "ttps": {"type": "array", "items": {"type": "object"}}, "number_of_unseen_comments": {"type": "integer"}, "status": {"type": "object", "properties": {"description": {"type": "string"}, "uuid": {"type": "string"}, "name": {"type": "string"}}}, "created_by": {"type": "string"}, "updated_by": {"type": "string"}, "source": {"type": "string"}, "community_uuid": {"type": "string"}, "number_of_total_comments": {"type": "integer"}, "uuid": {"type": "string"}, "rule": {"type": "object", "properties": {"type": {"type": "string"}, "severity": {"type": "integer"}, "name": {"type": "string"}, "pattern": {"type": "string"}, "uuid": {"type": "string"}}}, "adversaries": {"type": "array", "items": {"type": "object"}}, "short_id": {"type": "string"}, "first_seen_at": {"type": "string"}, "last_seen_at": {"type": "string"}, "event_uuids": {"type": "array", "items": {"type": "string"}}, "kill_chain_short_id": {"type": "string"}, "similar": {"type": "integer"}, "alert_type": {"type": "object", "properties": {"category": {"type": "string"}, "value": {"type": "string"}}}, "details": {"type": "string"}, "stix": {"type": "object"}, "created_by_type": {"type": "string"}, "entity": {"type": "object", "properties": {"uuid": {"type": "string"}, "name": {"type": "string"}}}, "created_at": {"type": "integer"}, "updated_by_type": {"type": "string"}, "title": {"type": "string"}, "target": {"type": "string"}, "cases": {"type": "array", "items": {"type": "object"}}}}"#
            }
            Shape::Community => {
                r#"{"type": "object", "properties": {"uuid": {"type": "string"}, "name": {"type": "string"}, "description": {"type": "string"}, "homepage_url": {"type": "string"}, "created_at": {"type": "string"}, "created_by": {"type": "string"}, "created_by_type": {"type": "string"}, "updated_at": {"type": "string"}, "is_parent": {"type": "boolean"}, "parent_community_uuid": {"type": "string"}, "subcommunities": {"type": "array", "items": {"type": "string"}}, "is_mfa_enforced": {"type": "boolean"}, "session_timeout": {"type": "number"}, "disable_inactive_avatars": {"type": "boolean"}, "disabled": {"type": "boolean"}}}"#
            }
            Shape::ObjectSearch => {
                r#"{"type": "object", "properties": {"items": {"type": "array"}, "has_more": {"type": "boolean"}}}"#
            }
            Shape::CustomPriority => {
                r#"{"type": "object", "properties": {"uuid": {"type": "string"}, "community_uuid": {"type": "string"}, "level": {"type": "integer"}, "created_at": {"type": "string"}, "created_by": {"type": "string"}, "created_by_type": {"type": "string"}, "updated_at": {"type": "string"}, "updated_by": {"type": "string"}, "updated_by_type": {"type": "string"}, "color": {"type": "string"}, "label": {"type": "string"}, "description": {"type": "string"}, "is_used": {"type": "boolean"}}}"#
            }
            Shape::CustomStatus => {
                r#"{"type": "object", "properties": {"uuid": {"type": "string"}, "community_uuid": {"type": "string"}, "level": {"type": "integer"}, "created_at": {"type": "string"}, "created_by": {"type": "string"}, "created_by_type": {"type": "string"}, "updated_at": {"type": "string"}, "updated_by": {"type": "string"}, "updated_by_type": {"type": "string"}, "stage": {"type": "string"}, "label": {"type": "string"}, "description": {"type": "string"}, "is_used": {"type": "boolean"}}}"#
            }
            Shape::Entity => {
                r#"{"type": "object", "properties": {"uuid": {"type": "string"}, "name": {"type": "string"}, "entity_id": {"type": "string"}, "community_uuid": {"type": "string"}, "description": {"type": "string"}, "alerts_generation": {"type": "string"}, "number_of_intakes": {"type": "number"}}}"#
            }
            Shape::FieldValues => {
                r#"{"type": "object", "properties": {"fields": {"type": "array", "items": {"type": "object"}}}}"#
            }
            Shape::Events => {
                r#"{"type": "object", "properties": {"events": {"type": "array", "items": {"type": "object"}}}}"#
            }
            Shape::Intake => {
                r#"{"type": "object", "properties": {"uuid": {"type": "string"}, "name": {"type": "string"}, "community_uuid": {"type": "string"}, "format_uuid": {"type": "string"}, "intake_key": {"type": "string"}, "created_at": {"type": "string"}, "created_by": {"type": "string"}, "created_by_type": {"type": "string"}, "updated_at": {"type": "string"}, "updated_by": {"type": "string"}, "updated_by_type": {"type": "string"}, "is_custom_format": {"type": "boolean"}, "connector_configuration_uuid": {"type": "string"}, "status": {"type": "string"}, "entity": {}}}"#
            }
            Shape::ContentProposal => {
                r#"{"type": "object", "properties": {"file_name": {"type": "string"}, "content_proposal_id": {"type": "string"}}}"#
            }
            Shape::Page => {
                r#"{"type": "object", "properties": {"total": {"type": "integer"}, "has_more": {"type": "boolean"}, "items": {"type": "array", "items": {"type": "object"}}}}"#
            }
            Shape::Items => {
                r#"{"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object"}}, "total": {"type": "integer"}}}"#
            }
            Shape::CaseComment => {
                r#"{"type": "object", "properties": {"uuid": {"type": "string"}, "content": {"type": "string"}, "created_at": {"type": "string"}, "created_by": {"type": "string"}, "created_by_type": {"type": "string"}, "updated_at": {"type": "string"}}}"#
            }
            Shape::AlertComment => {
                r#"{"type": "object", "properties": {"created_by": {"type": "string"}, "content": {"type": "string"}, "author": {"type": "string"}, "unseen": {"type": "boolean"}, "date": {"type": "integer"}, "created_by_type": {"type": "string"}, "uuid": {"type": "string"}}}"#
            }
            Shape::ReportProposal => {
                r#"{"type": "object", "properties": {"data": {"type": "object", "properties": {"file_name": {"type": "string"}, "content_proposal_id": {"type": "string"}}}}}"#
            }
            Shape::Prediction => {
                r#"{"type": "object", "properties": {"worth_human_attention": {"type": "boolean"}}}"#
            }
            Shape::EventIds => {
                r#"{"type": "object", "properties": {"event_ids": {"type": "array", "items": {"type": "string"}}}}"#
            }
            Shape::Report => r#"{"type": "object", "properties": {"data": {"type": "string"}}}"#,
            Shape::Synchronisation => {
                r#"{"type": "object", "properties": {"data": {"type": "array", "items": {"type": "object"}}}}"#
            }
            Shape::WorkflowActions => {
                r#"{"type": "object", "properties": {"actions": {"type": "array", "items": {"type": "object"}}}}"#
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Shape;

    #[test]
    fn every_schema_is_a_json_object() {
        for shape in Shape::ALL {
            let schema: serde_json::Value = serde_json::from_str(shape.schema_text())
                .unwrap_or_else(|e| panic!("{shape:?}: {e}"));
            assert!(schema.is_object(), "{shape:?}");
        }
    }
}
