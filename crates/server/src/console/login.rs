//! `GET /login`: the form that trades the server token for the session cookie
//! (`POST /login`, see [`crate::api::auth::login`]), also shown again, with a message,
//! after a wrong token.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::html::{Section, esc, layout, page, page_with_status};
use crate::api::auth::Access;

/// The login page, with `message` (text) above the form.
pub fn form(message: Option<&str>, token_needed: bool) -> String {
    let note = if token_needed {
        "This server needs its access token (<code>[server] token</code>)."
    } else {
        "This server needs no token: every page is open."
    };
    let message = message
        .map(|m| {
            format!(
                "<p id=\"login-error\" class=\"message error\" role=\"alert\">{}</p>",
                esc(m)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<section class=\"login\"><h1>Sign in</h1><p>{note}</p>{message}\
         <form method=\"post\" action=\"/login\"><label for=\"token\">Token</label>\
         <input name=\"token\" type=\"password\" id=\"token\" autocomplete=\"current-password\" \
         required autofocus><button type=\"submit\" id=\"login\">Sign in</button></form></section>"
    );
    layout("Sign in", Section::None, &body)
}

/// `GET /login`.
pub async fn show(State(access): State<Access>) -> Response {
    page(form(None, access.token.is_some()))
}

/// The login page after a wrong token: 401.
pub fn refused() -> Response {
    page_with_status(StatusCode::UNAUTHORIZED, form(Some("Wrong token."), true))
}
