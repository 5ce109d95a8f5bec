//! `GET /accounts`: the configured accounts — name, module, and which configuration keys
//! are set. Values are never shown, not even masked ones: the page starts from the API's
//! masked view ([`api::accounts::views`]) and keeps only the key names, marking the keys
//! the module declares secret.

use std::fmt::Write as _;

use axum::extract::State;
use axum::response::Response;

use super::html::{Section, esc, layout, page};
use crate::api;
use crate::http::AppState;

/// `GET /accounts`.
pub async fn list(State(state): State<AppState>) -> Response {
    let registry = state.executor.registry();
    let mut body = String::from(
        "<h1>Accounts</h1><table id=\"accounts\"><thead><tr><th>Name</th><th>Module</th>\
         <th>Keys set</th></tr></thead><tbody>",
    );
    let views = api::accounts::views(&state);
    for account in &views {
        let module = registry.module_by_slug(&account.module);
        let secrets: &[&str] = module.map_or(&[], |m| m.manifest.secrets.as_slice());
        let keys: Vec<String> = account
            .values
            .iter()
            .filter(|(_, value)| !value.is_null())
            .map(|(key, _)| {
                if secrets.contains(&key.as_str()) {
                    format!(
                        "<code class=\"key secret\" data-key=\"{k}\">{k}</code> <span class=\"muted\">(secret)</span>",
                        k = esc(key)
                    )
                } else {
                    format!("<code class=\"key\" data-key=\"{k}\">{k}</code>", k = esc(key))
                }
            })
            .collect();
        let _ = write!(
            body,
            "<tr data-account=\"{name}\" data-module=\"{slug}\"><td>{name}</td><td>{module}</td>\
             <td>{keys}</td></tr>",
            name = esc(&account.name),
            slug = esc(&account.module),
            module = esc(module.map_or(account.module.as_str(), |m| m.manifest.name)),
            keys = if keys.is_empty() {
                "—".to_owned()
            } else {
                keys.join(" ")
            },
        );
    }
    if views.is_empty() {
        body.push_str("<tr class=\"empty\"><td colspan=\"3\">No account is configured.</td></tr>");
    }
    body.push_str("</tbody></table>");
    page(layout("Accounts", Section::Accounts, &body))
}
