//! The Read JSON File action: a JSON document from the run's data directory (or given
//! inline), optionally narrowed with a JSONPath (RFC 9535).

use std::path::{Component, Path, PathBuf};

use alertsync_engine::{Action, ActionContext, ActionError, ActionManifest, ActionOutput};
use async_trait::async_trait;
use serde_json::{Value, json};
use serde_json_path::JsonPath;

use crate::args::{optional_bool, optional_str, required_str};

/// Reads a JSON document.
pub struct ReadJsonFile {
    manifest: ActionManifest,
}

impl ReadJsonFile {
    pub fn new() -> Self {
        Self {
            manifest: ActionManifest {
                uuid: "ecedfa52-7033-4ea8-9c3b-93ad34295f87",
                name: "Read JSON File",
                slug: "read_json_file",
                command: "fileutils_readjsonfile",
                description: "Read a JSON file and optionally extract values with a JSONPath",
                arguments: json!({
                    "type": "object",
                    "properties": {
                        "file": {"type": "object", "description": "The JSON document itself"},
                        "file_path": {"type": "string", "description": "Path of the file, inside the run's data directory"},
                        "jsonpath": {"type": "string", "description": "JSONPath selecting the values to return (e.g. $.items[*].id)"},
                        "return_list": {"type": "boolean", "default": false, "description": "Return every match as a list instead of the first"}
                    }
                }),
                secrets: Vec::new(),
                results: json!({"type": "object", "properties": {"output": {}}}),
                outputs: Vec::new(),
            },
        }
    }
}

impl Default for ReadJsonFile {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Action for ReadJsonFile {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let jsonpath = optional_str(&args, "jsonpath")?
            .map(|path| {
                JsonPath::parse(&rfc9535_filters(path)).map_err(|e| {
                    ActionError::invalid_argument(
                        "jsonpath",
                        format!("is not a valid JSONPath: {e}"),
                    )
                })
            })
            .transpose()?;
        let return_list = optional_bool(&args, "return_list")?.unwrap_or(false);
        let document = match args.get("file").filter(|v| !v.is_null()) {
            Some(document) => document.clone(),
            None => read_document(&cx.data_dir, required_str(&args, "file_path")?).await?,
        };
        let output = match jsonpath {
            None => document,
            Some(path) => select(&path, &document, return_list),
        };
        Ok(ActionOutput::new(json!({"output": output})))
    }
}

/// Rewrites jsonpath-ng filters (what Sekoia.io's own action evaluates) as RFC 9535 ones:
/// in `[?(type="observed-data")]` a bare field gets `@.` and a single `=` becomes `==`.
/// String literals and RFC 9535 filters are left as they are.
fn rfc9535_filters(path: &str) -> String {
    let chars: Vec<char> = path.chars().collect();
    let mut out = String::with_capacity(path.len() + 8);
    // One entry per open bracket: whether it opened a filter.
    let mut brackets: Vec<bool> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let in_filter = brackets.contains(&true);
        match c {
            '\'' | '"' => {
                out.push(c);
                i += 1;
                while i < chars.len() {
                    out.push(chars[i]);
                    i += 1;
                    if chars[i - 1] == '\\' && i < chars.len() {
                        out.push(chars[i]);
                        i += 1;
                    } else if chars[i - 1] == c {
                        break;
                    }
                }
                continue;
            }
            '[' => {
                let filter = chars.get(i + 1) == Some(&'?');
                brackets.push(filter);
                out.push_str(if filter { "[?" } else { "[" });
                i += if filter { 2 } else { 1 };
                continue;
            }
            ']' => {
                brackets.pop();
            }
            '=' if in_filter => {
                let before = out.chars().last();
                let comparison =
                    matches!(before, Some('=' | '!' | '<' | '>')) || chars.get(i + 1) == Some(&'=');
                out.push_str(if comparison { "=" } else { "==" });
                i += 1;
                continue;
            }
            _ if in_filter && (c.is_ascii_alphabetic() || c == '_') => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let before = out.trim_end().chars().last();
                let part_of_path = matches!(before, Some('.' | '@' | '$'));
                let literal = matches!(word.as_str(), "true" | "false" | "null");
                let function = chars.get(i) == Some(&'(');
                if !(part_of_path || literal || function) {
                    out.push_str("@.");
                }
                out.push_str(&word);
                continue;
            }
            _ => {}
        }
        out.push(c);
        i += 1;
    }
    out
}

/// The matches of `path`: all of them as a list, or the first (null if none).
fn select(path: &JsonPath, document: &Value, return_list: bool) -> Value {
    let matches = path.query(document).all();
    if return_list {
        Value::Array(matches.into_iter().cloned().collect())
    } else {
        matches.first().map(|v| (*v).clone()).unwrap_or(Value::Null)
    }
}

/// Reads and parses a file of the data directory.
async fn read_document(data_dir: &Path, file_path: &str) -> Result<Value, ActionError> {
    let path = inside_data_dir(data_dir, file_path)?;
    let bytes = tokio::fs::read(&path).await.map_err(|e| {
        ActionError::invalid_argument("file_path", format!("cannot read `{file_path}`: {e}"))
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ActionError::invalid_argument("file_path", format!("`{file_path}` is not JSON: {e}"))
    })
}

/// The file's real path, refused unless it lies inside the data directory (symbolic links
/// resolved, `..` escapes and absolute paths elsewhere refused).
fn inside_data_dir(data_dir: &Path, file_path: &str) -> Result<PathBuf, ActionError> {
    let outside = || {
        ActionError::invalid_argument(
            "file_path",
            format!("`{file_path}` is outside the run's data directory"),
        )
    };
    let requested = Path::new(file_path);
    if requested.components().any(|c| c == Component::ParentDir) {
        return Err(outside());
    }
    let root = data_dir.canonicalize().map_err(|e| {
        ActionError::permanent(format!("the run's data directory is not readable: {e}"))
    })?;
    let candidate = if requested.is_absolute() {
        requested.to_path_buf()
    } else {
        root.join(requested)
    };
    let resolved = candidate.canonicalize().map_err(|e| {
        ActionError::invalid_argument("file_path", format!("cannot read `{file_path}`: {e}"))
    })?;
    if resolved.starts_with(&root) {
        Ok(resolved)
    } else {
        Err(outside())
    }
}

#[cfg(test)]
mod tests {
    use super::rfc9535_filters;

    #[test]
    fn jsonpath_ng_filters_become_rfc_9535_filters() {
        assert_eq!(
            rfc9535_filters(
                r#"$.objects[?(type="observed-data")].objects[?(@.type="ipv4-addr")].value"#
            ),
            r#"$.objects[?(@.type=="observed-data")].objects[?(@.type=="ipv4-addr")].value"#
        );
        for unchanged in [
            "$.items[*].id",
            "$.a[?(@.n >= 2 && @.s == 'x=y')]",
            "$['dotted.key'][0]",
            "$.a[?@.b != true]",
        ] {
            assert_eq!(rfc9535_filters(unchanged), unchanged);
        }
    }
}
