//! The Read XML File action: an XML or HTML document (a file of the run or given inline),
//! optionally narrowed with an XPath 1.0 expression.
//!
//! HTML is parsed as browsers do (html5ever), XML strictly. Nodes found are given as their
//! text (an element's text is all the text inside it), numbers and booleans as themselves.

use alertsync_engine::{Action, ActionContext, ActionError, ActionManifest, ActionOutput};
use async_trait::async_trait;
use serde_json::{Value, json};
use sxd_xpath::{Context, Factory, Value as XPathValue};

use crate::args::{optional_bool, optional_str};
use crate::files::{read, write_json};

/// Reads an XML or HTML document.
pub struct ReadXmlFile {
    manifest: ActionManifest,
}

impl ReadXmlFile {
    pub fn new() -> Self {
        Self {
            manifest: ActionManifest {
                uuid: "1205442a-690e-4520-bc69-cfa153cc2095",
                name: "Read XML File",
                slug: "read_xml_file",
                command: "fileutils_readxmlfile",
                description: "Read an XML or HTML file and optionally extract values with an XPath",
                arguments: json!({
                    "type": "object",
                    "properties": {
                        "file": {"type": ["object", "string"], "description": "The document itself"},
                        "file_path": {"type": "string", "description": "Path of the file, inside the run's data directory"},
                        "xpath": {"type": "string", "description": "XPath selecting the values to return (e.g. //a/@href)"},
                        "source_type": {"type": "string", "default": "html", "description": "html or xml"},
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

impl Default for ReadXmlFile {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Action for ReadXmlFile {
    fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    async fn run(&self, cx: &ActionContext, args: Value) -> Result<ActionOutput, ActionError> {
        let text = match (args.get("file"), optional_str(&args, "file_path")?) {
            (Some(Value::String(text)), _) => text.clone(),
            (Some(other), _) if !other.is_null() => other.to_string(),
            (_, Some(path)) => {
                String::from_utf8_lossy(&read(&cx.data_dir, "file_path", path).await?).into_owned()
            }
            _ => {
                return Err(ActionError::invalid_argument(
                    "file_path",
                    "give `file` or `file_path`",
                ));
            }
        };
        let html = match optional_str(&args, "source_type")?
            .unwrap_or("html")
            .to_ascii_lowercase()
            .as_str()
        {
            "html" => true,
            "xml" => false,
            _ => {
                return Err(ActionError::invalid_argument(
                    "source_type",
                    "must be html or xml",
                ));
            }
        };
        let return_list = optional_bool(&args, "return_list")?.unwrap_or(false);
        let output = match optional_str(&args, "xpath")? {
            None => Value::String(text),
            Some(xpath) => select(&text, html, xpath, return_list)?,
        };
        if optional_bool(&args, "to_file")?.unwrap_or(false) {
            let output_path = write_json(&cx.data_dir, "output", &output).await?;
            return Ok(ActionOutput::new(json!({"output_path": output_path})));
        }
        Ok(ActionOutput::new(json!({"output": output})))
    }
}

/// Evaluates `xpath` on the document: one match as itself, several (or any number, with
/// `return_list`) as a list, none as null.
fn select(text: &str, html: bool, xpath: &str, return_list: bool) -> Result<Value, ActionError> {
    let package = if html {
        sxd_html::parse_html(text)
    } else {
        sxd_document::parser::parse(text).map_err(|e| {
            ActionError::invalid_argument("file", format!("is not well-formed XML ({e:?})"))
        })?
    };
    let document = package.as_document();
    let expression = Factory::new()
        .build(xpath)
        .map_err(|e| ActionError::invalid_argument("xpath", format!("is not a valid XPath ({e})")))?
        .ok_or_else(|| ActionError::invalid_argument("xpath", "is empty"))?;
    let value = expression
        .evaluate(&Context::new(), document.root())
        .map_err(|e| {
            ActionError::invalid_argument("xpath", format!("cannot be evaluated ({e})"))
        })?;
    let matches: Vec<Value> = match value {
        XPathValue::Nodeset(nodes) => nodes
            .document_order()
            .into_iter()
            .map(|node| Value::String(node.string_value()))
            .collect(),
        XPathValue::Boolean(flag) => vec![Value::Bool(flag)],
        XPathValue::Number(number) => vec![json!(number)],
        XPathValue::String(text) => vec![Value::String(text)],
    };
    Ok(match matches.as_slice() {
        [only] if !return_list => only.clone(),
        [] if !return_list => Value::Null,
        _ => Value::Array(matches),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_and_xml_are_searched_with_xpath() {
        let html = "<html><body><a href='/a'>A</a><p>x<a href='/b'>B</a></body>";
        assert_eq!(
            select(html, true, "//a/@href", false).unwrap(),
            json!(["/a", "/b"])
        );
        assert_eq!(select(html, true, "//p", false).unwrap(), json!("xB"));
        assert_eq!(select(html, true, "count(//a)", false).unwrap(), json!(2.0));
        let xml = "<r><i n='1'/></r>";
        assert_eq!(select(xml, false, "//i/@n", true).unwrap(), json!(["1"]));
        assert_eq!(select(xml, false, "//missing", false).unwrap(), Value::Null);
        assert!(select("<r>", false, "//r", false).is_err());
        assert!(select(xml, false, "//[", false).is_err());
    }
}
