//! `GET /modules`: the modules alertsync implements, each with its actions and triggers
//! and the UUIDs playbooks name them by — the registry the executor runs, as the API's
//! `/api/v1/modules` lists it — under an index of the modules.

use std::fmt::Write as _;

use alertsync_engine::Module;
use axum::extract::State;
use axum::response::Response;

use super::html::{Section, esc, layout, page};
use crate::http::AppState;

/// One row of an actions or triggers table: slug, name, UUID, and whether it is an
/// alertsync extension rather than part of the Sekoia.io module.
struct Entry<'a> {
    slug: &'a str,
    name: &'a str,
    uuid: &'a str,
    extension: bool,
}

/// `GET /modules`.
pub async fn list(State(state): State<AppState>) -> Response {
    let modules = state.executor.registry().modules();
    let mut body = String::from("<h1>Modules</h1><nav id=\"module-index\"><ul>");
    for module in modules {
        let manifest = &module.manifest;
        let counts: Vec<String> = [
            (module.actions.len(), "action"),
            (module.triggers.len(), "trigger"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, noun)| format!("{n} {noun}{}", if n == 1 { "" } else { "s" }))
        .collect();
        let _ = write!(
            body,
            "<li><a href=\"#module-{slug}\">{name}</a> <span class=\"muted\">{counts}</span></li>",
            slug = esc(manifest.slug),
            name = esc(manifest.name),
            counts = counts.join(", "),
        );
    }
    body.push_str("</ul></nav><div id=\"modules\">");
    for module in modules {
        body.push_str(&module_html(module));
    }
    body.push_str("</div>");
    page(layout("Modules", Section::Modules, &body))
}

/// A module: its names, UUID, description, and its actions and triggers.
fn module_html(module: &Module) -> String {
    let manifest = &module.manifest;
    let mut out = format!(
        "<section class=\"module\" id=\"module-{slug}\" data-module=\"{slug}\" \
         data-uuid=\"{uuid}\"><h2>{name} <code>{slug}</code></h2>\
         <p class=\"uuid\"><code>{uuid}</code></p><p>{description}</p>",
        slug = esc(manifest.slug),
        uuid = esc(manifest.uuid),
        name = esc(manifest.name),
        description = esc(manifest.description),
    );
    let actions: Vec<Entry<'_>> = module
        .actions
        .iter()
        .map(|action| {
            let action = action.manifest();
            Entry {
                slug: action.slug,
                name: action.name,
                uuid: action.uuid,
                extension: false,
            }
        })
        .collect();
    let triggers: Vec<Entry<'_>> = module
        .triggers
        .iter()
        .map(|trigger| Entry {
            slug: trigger.slug,
            name: trigger.name,
            uuid: trigger.uuid,
            extension: trigger.extension,
        })
        .collect();
    out.push_str(&table("action", "Action", &actions));
    out.push_str(&table("trigger", "Trigger", &triggers));
    out.push_str("</section>");
    out
}

/// The table of a module's actions or triggers (`kind`: `action` or `trigger`), none if
/// it has none.
fn table(kind: &str, heading: &str, entries: &[Entry<'_>]) -> String {
    if entries.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "<table class=\"{kind}s\"><thead><tr><th>{heading}</th><th>Name</th><th>UUID</th>\
         </tr></thead><tbody>"
    );
    for entry in entries {
        let _ = write!(
            out,
            "<tr data-{kind}=\"{slug}\" data-uuid=\"{uuid}\"><td><code>{slug}</code></td>\
             <td>{name}{extension}</td><td><code>{uuid}</code></td></tr>",
            slug = esc(entry.slug),
            uuid = esc(entry.uuid),
            name = esc(entry.name),
            extension = if entry.extension {
                " <small>(alertsync extension)</small>"
            } else {
                ""
            },
        );
    }
    out.push_str("</tbody></table>");
    out
}
