//! The Download File action: a file fetched over HTTP into the run's data directory, for
//! later nodes to read.

use alertsync_engine::http::{build_request, check_status};
use alertsync_engine::retry::with_retries;
use alertsync_engine::{Action, ActionContext, ActionError, ActionManifest, ActionOutput};
use async_trait::async_trait;
use reqwest::Method;
use reqwest::header::{CONTENT_DISPOSITION, HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

use super::request_url::send;
use crate::args::{http_url, optional_bool};
use crate::files::{MAX_FILE_BYTES, write};

pub const ACTION_UUID: &str = "09e9dc3a-aeb2-4dde-ad96-3ee543afdf51";

/// Downloads one file.
pub struct DownloadFile {
    manifest: ActionManifest,
}

impl DownloadFile {
    pub fn new() -> Self {
        Self {
            manifest: ActionManifest {
                uuid: ACTION_UUID,
                name: "Download File",
                slug: "download_file",
                command: "download-file",
                description: "Download a file into the run's data directory",
                arguments: json!({
                    "type": "object",
                    "properties": {
                        "url": {"type": "string", "description": "The URL of the file"},
                        "headers": {"type": "object", "description": "Request headers"},
                        "verify_ssl": {"type": "boolean", "default": true, "description": "Verify the server's TLS certificate"}
                    },
                    "required": ["url"]
                }),
                secrets: Vec::new(),
                results: json!({
                    "type": "object",
                    "properties": {
                        "file_path": {"type": "string", "description": "Absolute path of the file"},
                        "file_relative_path": {"type": "string", "description": "Path of the file in the run's data directory (what other actions take)"}
                    }
                }),
                outputs: Vec::new(),
            },
        }
    }
}

impl Default for DownloadFile {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Action for DownloadFile {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let url = http_url(&args, "url")?;
        let headers = headers(&args)?;
        let verify_ssl = optional_bool(&args, "verify_ssl")?.unwrap_or(true);
        let what = format!("HTTP GET {url}");
        let (name, bytes) = with_retries(&cx.retry, cx, &what, || async {
            let request = build_request(
                cx.http
                    .request(Method::GET, url.as_str())
                    .headers(headers.clone()),
                &what,
            )?;
            let response = check_status(send(cx, request, verify_ssl, &what).await?, &what).await?;
            let name = file_name(response.headers());
            Ok((name, body(response, &what).await?))
        })
        .await?;
        let relative = format!("{}/{name}", uuid::Uuid::new_v4());
        let path = write(&cx.data_dir, &relative, &bytes).await?;
        cx.log
            .info(format!("{what}: {} bytes saved as {relative}", bytes.len()));
        Ok(ActionOutput::new(json!({
            "file_path": path.display().to_string(),
            "file_relative_path": relative,
        })))
    }
}

fn headers(args: &Value) -> Result<HeaderMap, ActionError> {
    let mut headers = HeaderMap::new();
    let Some(Value::Object(given)) = args.get("headers") else {
        return Ok(headers);
    };
    for (name, value) in given {
        let text = match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&text),
        ) else {
            return Err(ActionError::invalid_argument(
                "headers",
                format!("`{name}` is not a valid header"),
            ));
        };
        headers.append(name, value);
    }
    Ok(headers)
}

/// The name `Content-Disposition` gives, reduced to a plain file name; else a fresh one.
fn file_name(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_DISPOSITION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once("filename=").map(|(_, name)| name))
        .map(|name| {
            name.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .trim_matches('"')
        })
        .and_then(|name| name.rsplit(['/', '\\']).next())
        .filter(|name| !name.is_empty() && *name != "." && *name != "..")
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// The body, at most [`MAX_FILE_BYTES`].
async fn body(mut response: reqwest::Response, what: &str) -> Result<Vec<u8>, ActionError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        ActionError::transient(
            format!("{what}: reading the file failed: {}", e.without_url()),
            None,
        )
    })? {
        if (bytes.len() + chunk.len()) as u64 > MAX_FILE_BYTES {
            return Err(ActionError::permanent(format!(
                "{what}: the file is over {MAX_FILE_BYTES} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_stay_inside_the_directory() {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=\"../../etc/passwd\""),
        );
        assert_eq!(file_name(&headers), "passwd");
        headers.insert(
            CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=report.pdf; size=3"),
        );
        assert_eq!(file_name(&headers), "report.pdf");
        headers.insert(
            CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=\"..\""),
        );
        assert_eq!(file_name(&headers).len(), 36);
    }
}
