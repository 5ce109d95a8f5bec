//! `GET /modules`: the modules alertsync implements, each with its actions and triggers
//! and the UUIDs playbooks name them by — the registry the executor runs, as the API's
//! `/api/v1/modules` lists it.

use std::fmt::Write as _;

use axum::extract::State;
use axum::response::Response;

use super::html::{Section, esc, layout, page};
use crate::http::AppState;

/// `GET /modules`.
pub async fn list(State(state): State<AppState>) -> Response {
    let mut body = String::from("<h1>Modules</h1><div id=\"modules\">");
    for module in state.executor.registry().modules() {
        let manifest = &module.manifest;
        let _ = write!(
            body,
            "<section class=\"module\" data-module=\"{slug}\" data-uuid=\"{uuid}\">\
             <h2>{name} <code>{slug}</code></h2><p class=\"uuid\"><code>{uuid}</code></p>\
             <p>{description}</p>",
            slug = esc(manifest.slug),
            uuid = esc(manifest.uuid),
            name = esc(manifest.name),
            description = esc(manifest.description),
        );
        body.push_str(
            "<table class=\"actions\"><thead><tr><th>Action</th><th>Name</th><th>UUID</th>\
             </tr></thead><tbody>",
        );
        for action in &module.actions {
            let action = action.manifest();
            let _ = write!(
                body,
                "<tr data-action=\"{slug}\" data-uuid=\"{uuid}\"><td><code>{slug}</code></td>\
                 <td>{name}</td><td><code>{uuid}</code></td></tr>",
                slug = esc(action.slug),
                uuid = esc(action.uuid),
                name = esc(action.name),
            );
        }
        if module.actions.is_empty() {
            body.push_str("<tr class=\"empty\"><td colspan=\"3\">No action.</td></tr>");
        }
        body.push_str("</tbody></table>");
        if !module.triggers.is_empty() {
            body.push_str(
                "<table class=\"triggers\"><thead><tr><th>Trigger</th><th>Name</th><th>UUID</th>\
                 </tr></thead><tbody>",
            );
            for trigger in &module.triggers {
                let _ = write!(
                    body,
                    "<tr data-trigger=\"{slug}\" data-uuid=\"{uuid}\"><td><code>{slug}</code></td>\
                     <td>{name}{extension}</td><td><code>{uuid}</code></td></tr>",
                    slug = esc(trigger.slug),
                    uuid = esc(trigger.uuid),
                    name = esc(trigger.name),
                    extension = if trigger.extension {
                        " <small>(alertsync extension)</small>"
                    } else {
                        ""
                    },
                );
            }
            body.push_str("</tbody></table>");
        }
        body.push_str("</section>");
    }
    body.push_str("</div>");
    page(layout("Modules", Section::Modules, &body))
}
