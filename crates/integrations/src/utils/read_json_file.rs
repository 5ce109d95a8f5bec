//! The Read JSON File action: a JSON document from the run's data directory (or given
//! inline), optionally narrowed with a JSONPath (RFC 9535).

use alertsync_engine::{Action, ActionContext, ActionError, ActionManifest, ActionOutput};
use async_trait::async_trait;
use serde_json::{Value, json};
use serde_json_path::JsonPath;

use crate::args::{optional_bool, optional_str};
use crate::files::{json_argument, write_json};

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
                        "return_list": {"type": "boolean", "default": false, "description": "Return the matches as a list even when there is one"},
                        "to_file": {"type": "boolean", "default": false, "description": "Write the output to a file of the run and return its path as `output_path`"}
                    }
                }),
                secrets: Vec::new(),
                results: json!({"type": "object", "properties": {"output": {}, "output_path": {"type": "string"}}}),
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
        let document = json_argument(cx, &args, "file").await?.ok_or_else(|| {
            ActionError::invalid_argument("file_path", "give `file` or `file_path`")
        })?;
        let output = match jsonpath {
            None => document,
            Some(path) => select(&path, &document, return_list),
        };
        if optional_bool(&args, "to_file")?.unwrap_or(false) {
            let output_path = write_json(&cx.data_dir, "output", &output).await?;
            return Ok(ActionOutput::new(json!({"output_path": output_path})));
        }
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

/// The matches of `path` as Sekoia.io's action gives them: a single match as itself, several
/// (or any number, with `return_list`) as a list, none as null.
fn select(path: &JsonPath, document: &Value, return_list: bool) -> Value {
    let matches = path.query(document).all();
    match matches.as_slice() {
        [only] if !return_list => (*only).clone(),
        [] if !return_list => Value::Null,
        _ => Value::Array(matches.into_iter().cloned().collect()),
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
