//! `/assets/console.css`, `/assets/console.js` and `/assets/icon.svg`: the stylesheet,
//! script and icon of every console page, embedded in the binary (the Content-Security-Policy allows no inline
//! style or script, and nothing comes from elsewhere).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");
const ICON: &str = include_str!("assets/icon.svg");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                // Revalidated on each use: pages and script always come from the same binary.
                HeaderValue::from_static("no-cache"),
            ),
        ],
        body,
    )
        .into_response()
}

/// `GET /assets/console.css`.
pub async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

/// `GET /assets/console.js`.
pub async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

/// `GET /assets/icon.svg`.
pub async fn icon() -> Response {
    asset("image/svg+xml", ICON)
}
