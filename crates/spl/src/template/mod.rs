//! Rendering of playbook templates, compatible with the Jinja2 Sekoia.io uses.
//!
//! * A string that is exactly one `{{ expr }}` (surrounding whitespace allowed)
//!   renders to the expression's native JSON value; undefined gives `null`.
//! * Any other string containing `{{` or `{%` renders to a string; strings
//!   without those markers are left alone.
//! * Objects and arrays are rendered recursively; other leaves are kept.
//! * When a value is written into text, strings are written as they are,
//!   undefined as nothing and everything else as JSON (`{"a": 1}`, `[1, 2]`,
//!   `true`, `null`), so templates that build JSON text produce valid JSON.
//! * `node.0`, `node[0]` and `node['0']` all find the node whose id is `"0"`
//!   (see [`convert`]); Python's string and dict methods come from
//!   minijinja-contrib's `pycompat`.
//! * Any Unicode whitespace inside `{{ }}` and `{% %}` (outside string
//!   literals) is whitespace, as in Python's Jinja2: real templates contain
//!   U+00A0 NO-BREAK SPACE there ([`whitespace`]).
//! * Rendering has a step budget (fuel, which also counts most data a template
//!   creates), a cap on the text it writes (enforced as it is written), and a
//!   cap on any value turned into JSON (whole values, values written into text,
//!   `tojson`, `string`, `jsonpath`): values can be lazy — a list repeated a
//!   hundred million times costs nothing until it is read — so these paths count
//!   as they go and fail with a [`TemplateErrorKind::Budget`] error. The
//!   template language's own text conversions of such a value (`~`, text
//!   filters like `lower`) are minijinja's and are not bounded this way.
//!
//! Compiled templates are cached by the engine: build one [`TemplateEngine`]
//! and share it.

mod convert;
mod filters;
mod references;
mod whitespace;

use std::fmt;
use std::sync::Arc;

use indexmap::IndexMap;
use minijinja::value::Value as TemplateValue;
use minijinja::{
    Environment, Error, ErrorKind, Output, State, UndefinedBehavior, escape_formatter,
};
use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

pub use references::references;

use convert::{JsonObject, object_to_template_value, to_json, to_template_value};
use whitespace::ascii_whitespace_in_tags;

/// Source of "now" for time filters; fixed in tests.
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// Name of the variable a whole-value template assigns its result to.
const RESULT_VARIABLE: &str = "__alertsync_value";
/// Characters of the template text quoted in error messages.
const QUOTED_TEMPLATE_CHARS: usize = 200;

/// The budget of one render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateLimits {
    /// Steps one render may take (minijinja fuel: instructions, plus one per
    /// 64 bytes of data created).
    pub fuel: u64,
    /// Largest rendered string, in bytes.
    pub max_output_bytes: usize,
}

impl Default for TemplateLimits {
    fn default() -> Self {
        TemplateLimits {
            fuel: 500_000,
            max_output_bytes: 4 * 1024 * 1024,
        }
    }
}

/// What templates can read: `node.<id>` (outputs of the nodes that ran) and `store`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RenderContext {
    pub node: Map<String, Value>,
    pub store: Value,
}

impl RenderContext {
    pub fn new(node: Map<String, Value>, store: Value) -> RenderContext {
        RenderContext { node, store }
    }

    fn to_template_value(&self) -> TemplateValue {
        let mut root = IndexMap::with_capacity(2);
        root.insert("node".to_owned(), object_to_template_value(&self.node));
        root.insert("store".to_owned(), to_template_value(&self.store));
        TemplateValue::from_object(JsonObject::new(root))
    }
}

/// Why a template could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("template `{template}`: {message}")]
pub struct TemplateError {
    /// The template text (truncated).
    pub template: String,
    pub kind: TemplateErrorKind,
    pub message: String,
}

/// The family of a [`TemplateError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateErrorKind {
    Syntax,
    /// An attribute or item of an undefined value was read.
    Undefined,
    /// The step budget or the output size cap was exceeded.
    Budget,
    /// Any other failure (bad filter argument, type error, ...).
    Evaluation,
}

/// Renders templates; build once and share (compiled templates are cached).
pub struct TemplateEngine {
    env: Environment<'static>,
    limits: TemplateLimits,
}

impl fmt::Debug for TemplateEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TemplateEngine")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Default for TemplateEngine {
    fn default() -> Self {
        TemplateEngine::new()
    }
}

/// How a string is rendered.
enum TemplateShape<'a> {
    /// No template markers: kept as it is.
    Literal,
    /// Exactly one `{{ expr }}`: rendered to a native value.
    WholeValue(&'a str),
    /// Text with templates: rendered to a string.
    Text,
}

impl TemplateEngine {
    /// An engine with the default limits and the system clock.
    pub fn new() -> TemplateEngine {
        TemplateEngine::with_options(TemplateLimits::default(), Arc::new(OffsetDateTime::now_utc))
    }

    pub fn with_options(limits: TemplateLimits, clock: Clock) -> TemplateEngine {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
        env.set_fuel(Some(limits.fuel));
        env.set_formatter(write_as_json);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        minijinja_contrib::add_to_environment(&mut env);
        filters::register(&mut env, clock);
        // Templates are looked up by their own text: the loader hands the name
        // back as the source, and the environment caches what it compiled.
        env.set_loader(|source: &str| Ok(Some(source.to_owned())));
        TemplateEngine { env, limits }
    }

    pub fn limits(&self) -> TemplateLimits {
        self.limits
    }

    /// Renders every template inside `value` (recursively through objects and arrays).
    pub fn render_value(&self, value: &Value, cx: &RenderContext) -> Result<Value, TemplateError> {
        let mut context = LazyContext { cx, value: None };
        self.render_tree(value, &mut context)
    }

    /// Renders one template to text (the whole-value rule does not apply).
    pub fn render_str(&self, template: &str, cx: &RenderContext) -> Result<String, TemplateError> {
        if !has_template_markers(template) {
            return Ok(template.to_owned());
        }
        self.render_text(&ascii_whitespace_in_tags(template), &cx.to_template_value())
    }

    /// Checks that `template` compiles (as a whole-value template when it is one).
    pub fn check_syntax(&self, template: &str) -> Result<(), TemplateError> {
        let normalised = ascii_whitespace_in_tags(template);
        let template: &str = &normalised;
        let source = match shape_of(template) {
            TemplateShape::Literal => return Ok(()),
            TemplateShape::WholeValue(expression) => whole_value_source(expression),
            TemplateShape::Text => template.to_owned(),
        };
        self.env
            .get_template(&source)
            .map(|_| ())
            .map_err(|err| template_error(template, &source, &err))
    }

    fn render_tree(
        &self,
        value: &Value,
        context: &mut LazyContext<'_>,
    ) -> Result<Value, TemplateError> {
        match value {
            Value::String(text) => self.render_string(text, context),
            Value::Array(items) => items
                .iter()
                .map(|item| self.render_tree(item, context))
                .collect::<Result<_, _>>()
                .map(Value::Array),
            Value::Object(entries) => entries
                .iter()
                .map(|(key, item)| Ok((key.clone(), self.render_tree(item, context)?)))
                .collect::<Result<_, _>>()
                .map(Value::Object),
            other => Ok(other.clone()),
        }
    }

    fn render_string(
        &self,
        text: &str,
        context: &mut LazyContext<'_>,
    ) -> Result<Value, TemplateError> {
        if !has_template_markers(text) {
            return Ok(Value::String(text.to_owned()));
        }
        let normalised = ascii_whitespace_in_tags(text);
        let text: &str = &normalised;
        match shape_of(text) {
            TemplateShape::Literal => Ok(Value::String(text.to_owned())),
            TemplateShape::WholeValue(expression) => self.evaluate(text, expression, context.get()),
            TemplateShape::Text => self.render_text(text, context.get()).map(Value::String),
        }
    }

    fn render_text(
        &self,
        template: &str,
        context: &TemplateValue,
    ) -> Result<String, TemplateError> {
        let compiled = self
            .env
            .get_template(template)
            .map_err(|err| template_error(template, template, &err))?;
        let mut output = BoundedOutput {
            bytes: Vec::new(),
            limit: self.limits.max_output_bytes,
        };
        let rendered = compiled.render_captured_to(context, &mut output);
        if output.bytes.len() > self.limits.max_output_bytes
            || rendered
                .as_ref()
                .is_err_and(|err| err.kind() == ErrorKind::WriteFailure)
        {
            return Err(TemplateError {
                template: quote(template),
                kind: TemplateErrorKind::Budget,
                message: format!(
                    "the output exceeds the cap of {} bytes",
                    self.limits.max_output_bytes
                ),
            });
        }
        rendered.map_err(|err| template_error(template, template, &err))?;
        String::from_utf8(output.bytes).map_err(|_| TemplateError {
            template: quote(template),
            kind: TemplateErrorKind::Evaluation,
            message: "the output is not valid UTF-8".to_owned(),
        })
    }

    /// Evaluates a whole-value template's expression to its native value.
    fn evaluate(
        &self,
        template: &str,
        expression: &str,
        context: &TemplateValue,
    ) -> Result<Value, TemplateError> {
        let source = whole_value_source(expression);
        let compiled = self
            .env
            .get_template(&source)
            .map_err(|err| template_error(template, &source, &err))?;
        let captured = compiled
            .render_captured(context)
            .map_err(|err| template_error(template, &source, &err))?;
        match captured.state().lookup(RESULT_VARIABLE) {
            None => Ok(Value::Null),
            Some(value) => to_json(&value).map_err(|err| TemplateError {
                template: quote(template),
                kind: TemplateErrorKind::Budget,
                message: err.detail().unwrap_or("the value is too large").to_owned(),
            }),
        }
    }
}

/// Rendered text, refused past `limit` bytes: writing more fails, which stops the render
/// (the whole output is never built first).
struct BoundedOutput {
    bytes: Vec<u8>,
    limit: usize,
}

impl std::io::Write for BoundedOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > self.limit {
            return Err(std::io::Error::other("the template output is too large"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The render context, converted only once a template is actually met.
struct LazyContext<'a> {
    cx: &'a RenderContext,
    value: Option<TemplateValue>,
}

impl LazyContext<'_> {
    fn get(&mut self) -> &TemplateValue {
        self.value
            .get_or_insert_with(|| self.cx.to_template_value())
    }
}

fn has_template_markers(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

fn shape_of(text: &str) -> TemplateShape<'_> {
    if !has_template_markers(text) {
        return TemplateShape::Literal;
    }
    match whole_value_expression(text) {
        Some(expression) => TemplateShape::WholeValue(expression),
        None => TemplateShape::Text,
    }
}

/// The expression of a string that is exactly one `{{ expr }}`.
fn whole_value_expression(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.strip_prefix(['-', '+']).unwrap_or(inner);
    let inner = inner.strip_suffix(['-', '+']).unwrap_or(inner);
    let nested = ["{{", "}}", "{%", "%}", "{#", "#}"]
        .iter()
        .any(|marker| inner.contains(marker));
    let expression = inner.trim();
    (!nested && !expression.is_empty()).then_some(expression)
}

/// A template assigning the expression's value to [`RESULT_VARIABLE`].
fn whole_value_source(expression: &str) -> String {
    format!("{{% set {RESULT_VARIABLE} = ({expression}\n) %}}")
}

/// Writes undefined as nothing, strings as they are and any other value as JSON.
fn write_as_json(
    out: &mut Output<'_>,
    state: &mut State<'_, '_>,
    value: &TemplateValue,
) -> Result<(), Error> {
    if value.is_undefined() || value.as_str().is_some() || value.is_safe() {
        return escape_formatter(out, state, value);
    }
    let text = serde_json::to_string(&to_json(value)?).map_err(|err| {
        Error::new(
            ErrorKind::BadSerialization,
            format!("cannot write value as JSON: {err}"),
        )
    })?;
    out.write_str(&text)
        .map_err(|_| Error::new(ErrorKind::WriteFailure, "cannot write the output"))
}

/// A [`TemplateError`] quoting `template` and the failing part of `source`
/// (what was compiled: the template itself or its whole-value wrapper).
fn template_error(template: &str, source: &str, err: &Error) -> TemplateError {
    let kind = match err.kind() {
        ErrorKind::SyntaxError | ErrorKind::UnknownBlock | ErrorKind::BadEscape => {
            TemplateErrorKind::Syntax
        }
        ErrorKind::UndefinedError => TemplateErrorKind::Undefined,
        ErrorKind::OutOfFuel => TemplateErrorKind::Budget,
        _ => TemplateErrorKind::Evaluation,
    };
    let mut message = match (err.kind(), err.detail()) {
        (ErrorKind::OutOfFuel, Some(detail)) => detail.to_owned(),
        (ErrorKind::OutOfFuel, None) => "the template exceeded its step budget".to_owned(),
        (ErrorKind::UndefinedError, _) => {
            "reading an attribute or item of an undefined value".to_owned()
        }
        (kind, Some(detail)) => format!("{kind}: {detail}"),
        (kind, None) => kind.to_string(),
    };
    let failing_part = err
        .range()
        .and_then(|range| source.get(range))
        .map(str::trim)
        .filter(|part| !part.is_empty());
    if let Some(part) = failing_part {
        message.push_str(&format!(" (at `{}`)", quote(part)));
    }
    TemplateError {
        template: quote(template),
        kind,
        message,
    }
}

/// `text` cut to [`QUOTED_TEMPLATE_CHARS`] characters.
fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTED_TEMPLATE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}
