//! Reading the TOML document into a [`Config`]: every table and key is checked, every
//! problem is collected with the line it is on, and the configuration is returned only if
//! there is none.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use alertsync_engine::{Account, Module, Registry};
use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::{Map, Number, Value};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::interpolate::{InterpolationError, interpolate};
use crate::{
    Config, ConfigError, DeliveryConfig, HealthConfig, LiveConfig, PlaybookEntry, Problem,
    ServerConfig, StoreConfig, config_dir,
};

type Item<'i> = Spanned<DeValue<'i>>;

const TOP_LEVEL: &[&str] = &[
    "[[account]]",
    "[[playbook]]",
    "[server]",
    "[store]",
    "[delivery]",
    "[health]",
    "[live]",
];
const ACCOUNT_KEYS: &[&str] = &["name", "module", "max_response_bytes"];
const PLAYBOOK_KEYS: &[&str] = &["file", "enabled", "webhook_token", "accounts"];
const SERVER_KEYS: &[&str] = &["listen", "public_url", "token"];
/// Keys that were renamed: the old name, the new one.
const RENAMED_SERVER_KEYS: &[(&str, &str)] = &[("api_token", "token")];
const STORE_KEYS: &[&str] = &["path", "url", "pool_size", "retention_days"];
const DELIVERY_KEYS: &[&str] = &[
    "max_attempts",
    "initial_delay_ms",
    "max_delay_ms",
    "max_age_secs",
    "ilert_rate_per_minute",
    "workers",
    "max_response_bytes",
    "disable_after_failures",
    "max_interruptions",
];
const HEALTH_KEYS: &[&str] = &["live_grace_secs", "max_queue_age_secs"];
const LIVE_KEYS: &[&str] = &["rejected_retry_min_secs", "rejected_retry_max_secs"];

/// Response bodies from 1 KiB to 1 GiB: smaller would refuse every answer, larger is a
/// mistake the service would pay for in memory.
const RESPONSE_BYTES: (u64, u64) = (1024, 1 << 30);

pub(crate) fn parse(
    source: &str,
    origin: &Path,
    registry: &Registry,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let (config, problems) = parse_partial(source, origin, registry, env);
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid { problems })
    }
}

/// The configuration without the parts that have problems, and every problem, in file
/// order. After a TOML syntax error nothing is kept.
pub(crate) fn parse_partial(
    source: &str,
    origin: &Path,
    registry: &Registry,
    env: &dyn Fn(&str) -> Option<String>,
) -> (Config, Vec<Problem>) {
    let mut cx = Checker {
        file: origin,
        line_starts: line_starts(source),
        env,
        problems: Vec::new(),
    };
    let (document, syntax_errors) = DeTable::parse_recoverable(source);
    if !syntax_errors.is_empty() {
        for error in syntax_errors {
            let span = error.span().unwrap_or(0..0);
            let message = error.message().trim_end();
            // Only a key is quoted from the source: elsewhere the span may cover a secret.
            let key = source
                .get(span.clone())
                .filter(|text| !text.is_empty() && !text.contains('\n'));
            let message = match key {
                Some(key) if message == "duplicate key" => {
                    format!("invalid TOML: duplicate key `{key}`")
                }
                _ => format!(
                    "invalid TOML (column {}): {message}",
                    cx.column(source, span.start)
                ),
            };
            cx.report(span.start, message);
        }
        return (Config::empty(origin.to_owned()), cx.finish());
    }

    let mut account_tables = Vec::new();
    let mut playbook_tables = Vec::new();
    let mut server = None;
    let mut store = None;
    let mut delivery = None;
    let mut health = None;
    let mut live = None;
    for (key, value) in document.get_ref().iter() {
        match key.get_ref().as_ref() {
            "account" => account_tables = cx.array_of_tables("account", value),
            "playbook" => playbook_tables = cx.array_of_tables("playbook", value),
            "server" => server = cx.table("server", value),
            "store" => store = cx.table("store", value),
            "delivery" => delivery = cx.table("delivery", value),
            "health" => health = cx.table("health", value),
            "live" => live = cx.table("live", value),
            other => {
                let what = if value.get_ref().is_table() {
                    format!("unknown table [{other}]")
                } else {
                    format!("unknown top-level key `{other}`")
                };
                let names = ["account", "playbook", "server", "store", "delivery"];
                let hint = did_you_mean(other, &names)
                    .map(|name| format!("did you mean `{name}`? "))
                    .unwrap_or_default();
                cx.report(
                    key.span().start,
                    format!("{what} ({hint}known tables: {})", TOP_LEVEL.join(", ")),
                );
            }
        }
    }

    let dir = config_dir(origin);
    let accounts = cx.accounts(&account_tables, registry);
    let mut account_names: Vec<String> = Vec::new();
    for (_, table) in &account_tables {
        let name = get(table, "name")
            .and_then(|v| v.get_ref().as_str())
            .and_then(|name| interpolate(name, env).ok());
        if let Some(name) = name.filter(|name| !account_names.contains(name)) {
            account_names.push(name);
        }
    }
    let playbooks = playbook_tables
        .iter()
        .enumerate()
        .filter_map(|(i, (offset, table))| cx.playbook(i, *offset, table, dir, &account_names))
        .collect();
    let server = server.map_or_else(ServerConfig::default, |t| cx.server(t));
    let store = store.map_or_else(|| StoreConfig::in_dir(dir), |t| cx.store(t, dir));
    let delivery = delivery.map_or_else(DeliveryConfig::default, |t| cx.delivery(t));
    let health = health.map_or_else(HealthConfig::default, |t| cx.health(t));
    let live = live.map_or_else(LiveConfig::default, |t| cx.live(t));
    let config = Config {
        path: origin.to_owned(),
        accounts,
        playbooks,
        server,
        store,
        delivery,
        health,
        live,
    };
    (config, cx.finish())
}

/// The value of `key` in `table`.
fn get<'t, 'i>(table: &'t DeTable<'i>, key: &str) -> Option<&'t Item<'i>> {
    table.get(key)
}

/// The candidate `word` was most likely meant as, if one is close enough to be a typo.
pub(crate) fn did_you_mean<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    /// Below this Jaro-Winkler similarity a suggestion is more confusing than helpful.
    const CLOSE_ENOUGH: f64 = 0.8;
    candidates
        .iter()
        .map(|candidate| (strsim::jaro_winkler(word, candidate), *candidate))
        .filter(|(score, _)| *score >= CLOSE_ENOUGH)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

/// Byte offsets at which lines start.
fn line_starts(source: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(source.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

/// `a string`, `an integer`, ... for a JSON schema type, in TOML words.
fn expected_type(json_type: &str) -> &'static str {
    match json_type {
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "a boolean (true or false)",
        "array" => "an array",
        "object" => "a table",
        "null" => "absent",
        _ => "of another type",
    }
}

/// Walks the document, collecting problems.
struct Checker<'a> {
    file: &'a Path,
    line_starts: Vec<usize>,
    env: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn line(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset)
    }

    /// 1-based column (in characters) of `offset`.
    fn column(&self, source: &str, offset: usize) -> usize {
        let start = self.line_starts[self.line(offset) - 1];
        source
            .get(start..offset)
            .map_or(1, |text| text.chars().count() + 1)
    }

    fn report(&mut self, offset: usize, message: impl Into<String>) {
        let line = self.line(offset);
        self.problems
            .push(Problem::new(self.file, line, message.into()));
    }

    /// Every problem, in file order.
    fn finish(mut self) -> Vec<Problem> {
        self.problems.sort_by_key(|p| p.line);
        self.problems
    }

    /// `[[name]]` entries, each with the offset of its header.
    fn array_of_tables<'t, 'i>(
        &mut self,
        name: &str,
        value: &'t Item<'i>,
    ) -> Vec<(usize, &'t DeTable<'i>)> {
        let Some(array) = value.get_ref().as_array() else {
            self.report(
                value.span().start,
                format!("`{name}` must be an array of tables: write [[{name}]]"),
            );
            return Vec::new();
        };
        let mut tables = Vec::new();
        for item in array.iter() {
            match item.get_ref().as_table() {
                Some(table) => tables.push((item.span().start, table)),
                None => self.report(
                    item.span().start,
                    format!(
                        "`{name}` must be an array of tables: write [[{name}]], found {}",
                        item.get_ref().type_str()
                    ),
                ),
            }
        }
        tables
    }

    /// The `[name]` table.
    fn table<'t, 'i>(&mut self, name: &str, value: &'t Item<'i>) -> Option<&'t DeTable<'i>> {
        let table = value.get_ref().as_table();
        if table.is_none() {
            self.report(
                value.span().start,
                format!(
                    "`{name}` must be a table ([{name}]), found {}",
                    value.get_ref().type_str()
                ),
            );
        }
        table
    }

    /// Reports every key of `table` that is not in `known`.
    fn unknown_keys(&mut self, context: &str, table: &DeTable<'_>, known: &[&str]) {
        for key in table.keys() {
            let name = key.get_ref().as_ref();
            if !known.contains(&name) {
                let hint = did_you_mean(name, known)
                    .map(|known| format!("did you mean `{known}`? "))
                    .unwrap_or_default();
                self.report(
                    key.span().start,
                    format!(
                        "{context}: unknown key `{name}` ({hint}known keys: {})",
                        known.join(", ")
                    ),
                );
            }
        }
    }

    fn wrong_type(&mut self, context: &str, key: &str, value: &Item<'_>, expected: &str) {
        self.report(
            value.span().start,
            format!(
                "{context}: `{key}` must be {expected}, found {}",
                value.get_ref().type_str()
            ),
        );
    }

    fn interpolation_errors(
        &mut self,
        context: &str,
        key: &str,
        offset: usize,
        errors: Vec<InterpolationError>,
    ) {
        for error in errors {
            let detail = match error {
                InterpolationError::Unset(name) => {
                    format!("environment variable `{name}` is not set")
                }
                InterpolationError::Unterminated => {
                    "`${` is not closed by `}` (write `$${` for a literal `${`)".to_owned()
                }
                InterpolationError::InvalidName(name) => format!(
                    "`${{{name}}}` is not a variable name (letters, digits and `_`; \
                     write `$${{` for a literal `${{`)"
                ),
            };
            self.report(offset, format!("{context}: `{key}`: {detail}"));
        }
    }

    /// A string value, interpolated.
    fn string(&mut self, context: &str, key: &str, value: &Item<'_>) -> Option<String> {
        let Some(text) = value.get_ref().as_str() else {
            self.wrong_type(context, key, value, "a string");
            return None;
        };
        match interpolate(text, self.env) {
            Ok(text) => Some(text),
            Err(errors) => {
                self.interpolation_errors(context, key, value.span().start, errors);
                None
            }
        }
    }

    /// A string value that must not be empty.
    fn non_empty_string(&mut self, context: &str, key: &str, value: &Item<'_>) -> Option<String> {
        let text = self.string(context, key, value)?;
        if text.is_empty() {
            self.report(
                value.span().start,
                format!("{context}: `{key}` must not be empty"),
            );
            return None;
        }
        Some(text)
    }

    fn boolean(&mut self, context: &str, key: &str, value: &Item<'_>) -> Option<bool> {
        let b = value.get_ref().as_bool();
        if b.is_none() {
            self.wrong_type(context, key, value, "a boolean (true or false)");
        }
        b
    }

    /// An integer in `min..=max`.
    fn integer(
        &mut self,
        context: &str,
        key: &str,
        value: &Item<'_>,
        min: u64,
        max: u64,
    ) -> Option<u64> {
        let Some(integer) = value.get_ref().as_integer() else {
            self.wrong_type(context, key, value, "an integer");
            return None;
        };
        let parsed = i128::from_str_radix(&integer.as_str().replace('_', ""), integer.radix());
        match parsed {
            Ok(n) if n >= i128::from(min) && n <= i128::from(max) => u64::try_from(n).ok(),
            _ => {
                self.report(
                    value.span().start,
                    format!("{context}: `{key}` must be an integer from {min} to {max}"),
                );
                None
            }
        }
    }

    /// A TOML value as JSON, strings interpolated; `path` names it in messages.
    fn json(&mut self, context: &str, path: &str, value: &Item<'_>) -> Option<Value> {
        match value.get_ref() {
            DeValue::String(_) => self.string(context, path, value).map(Value::String),
            DeValue::Boolean(b) => Some(Value::Bool(*b)),
            DeValue::Integer(integer) => {
                match i64::from_str_radix(&integer.as_str().replace('_', ""), integer.radix()) {
                    Ok(n) => Some(Value::from(n)),
                    Err(_) => {
                        self.report(
                            value.span().start,
                            format!("{context}: `{path}` is too large an integer"),
                        );
                        None
                    }
                }
            }
            DeValue::Float(float) => {
                match float
                    .as_str()
                    .replace('_', "")
                    .parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                {
                    Some(n) => Some(Value::Number(n)),
                    None => {
                        self.report(
                            value.span().start,
                            format!("{context}: `{path}` must be a finite number"),
                        );
                        None
                    }
                }
            }
            DeValue::Datetime(datetime) => Some(Value::String(datetime.to_string())),
            DeValue::Array(array) => {
                let mut items = Vec::with_capacity(array.len());
                let mut complete = true;
                for (i, item) in array.iter().enumerate() {
                    match self.json(context, &format!("{path}[{i}]"), item) {
                        Some(v) => items.push(v),
                        None => complete = false,
                    }
                }
                complete.then_some(Value::Array(items))
            }
            DeValue::Table(table) => {
                let mut object = Map::new();
                let mut complete = true;
                for (key, item) in table.iter() {
                    match self.json(context, &format!("{path}.{}", key.get_ref()), item) {
                        Some(v) => {
                            object.insert(key.get_ref().to_string(), v);
                        }
                        None => complete = false,
                    }
                }
                complete.then_some(Value::Object(object))
            }
        }
    }

    fn accounts(
        &mut self,
        tables: &[(usize, &DeTable<'_>)],
        registry: &Registry,
    ) -> Vec<Arc<Account>> {
        let mut accounts = Vec::new();
        let mut first_line_of: HashMap<String, usize> = HashMap::new();
        let mut validators: HashMap<&str, Option<jsonschema::Validator>> = HashMap::new();
        for (i, (offset, table)) in tables.iter().enumerate() {
            let numbered = format!("[[account]] #{}", i + 1);
            let name = match get(table, "name") {
                Some(value) => self.non_empty_string(&numbered, "name", value),
                None => {
                    self.report(*offset, format!("{numbered}: missing required key `name`"));
                    None
                }
            };
            let context = match &name {
                Some(name) => format!("[[account]] {name:?}"),
                None => numbered,
            };
            if let (Some(name), Some(value)) = (&name, get(table, "name")) {
                let line = self.line(value.span().start);
                if let Some(first) = first_line_of.get(name) {
                    let first = *first;
                    self.report(
                        value.span().start,
                        format!(
                            "{context}: duplicate account name (first defined on line {first})"
                        ),
                    );
                } else {
                    first_line_of.insert(name.clone(), line);
                }
            }

            let module = match get(table, "module") {
                Some(value) => self
                    .string(&context, "module", value)
                    .and_then(|slug| self.module(&context, &slug, value, registry)),
                None => {
                    self.report(*offset, format!("{context}: missing required key `module`"));
                    None
                }
            };
            let Some(module) = module else {
                // Without a module the other keys cannot be checked.
                continue;
            };
            let manifest = &module.manifest;
            let mut known: Vec<&str> = ACCOUNT_KEYS.to_vec();
            known.extend(manifest.configuration_keys());
            self.unknown_keys(&context, table, &known);

            let mut values = Map::new();
            let mut offsets: HashMap<&str, usize> = HashMap::new();
            let mut complete = true;
            for (key, value) in table.iter() {
                let key = key.get_ref().as_ref();
                if ACCOUNT_KEYS.contains(&key) || !known.contains(&key) {
                    continue;
                }
                offsets.insert(key, value.span().start);
                match self.json(&context, key, value) {
                    Some(v) => {
                        values.insert(key.to_owned(), v);
                    }
                    None => complete = false,
                }
            }
            let validator = validators.entry(manifest.slug).or_insert_with(|| {
                jsonschema::options()
                    .should_validate_formats(true)
                    .build(&manifest.configuration)
                    .ok()
            });
            let Some(validator) = validator else {
                self.report(
                    *offset,
                    format!(
                        "{context}: module `{}` has an invalid configuration schema",
                        manifest.slug
                    ),
                );
                continue;
            };
            let instance = Value::Object(values);
            let mut problems = Vec::new();
            for error in validator.iter_errors(&instance) {
                let path = error.instance_path().as_str().to_owned();
                let key = path
                    .trim_start_matches('/')
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .replace("~1", "/")
                    .replace("~0", "~");
                let key_offset = offsets.get(key.as_str()).copied().unwrap_or(*offset);
                let secret = manifest.secrets.contains(&key.as_str());
                let message = match error.kind() {
                    ValidationErrorKind::Required { property } => {
                        let property = property.as_str().unwrap_or_default();
                        if get(table, property).is_some() {
                            // Present, with a value already reported as wrong.
                            continue;
                        }
                        format!("{context}: missing required key `{property}`")
                    }
                    ValidationErrorKind::Type { kind } if path.matches('/').count() == 1 => {
                        let expected: Vec<&str> = match kind {
                            TypeKind::Single(t) => vec![expected_type(t.as_str())],
                            TypeKind::Multiple(set) => {
                                set.iter().map(|t| expected_type(t.as_str())).collect()
                            }
                        };
                        let found =
                            get(table, &key).map_or("another type", |v| v.get_ref().type_str());
                        format!(
                            "{context}: `{key}` must be {}, found {found}",
                            expected.join(" or ")
                        )
                    }
                    _ if key.is_empty() => {
                        format!("{context}: {}", error.masked_with("the account"))
                    }
                    _ if secret => {
                        format!("{context}: `{key}`: {}", error.masked_with("the value"))
                    }
                    _ => format!("{context}: `{key}`: {error}"),
                };
                problems.push((key_offset, message));
            }
            if !problems.is_empty() {
                for (offset, message) in problems {
                    self.report(offset, message);
                }
                continue;
            }
            let (min, max) = RESPONSE_BYTES;
            let max_response_bytes =
                self.integer_at(&context, table, "max_response_bytes", min, max);
            let (Some(name), true) = (name, complete) else {
                continue;
            };
            let Value::Object(values) = instance else {
                continue;
            };
            let account = Account::new(name, manifest, values)
                .with_max_response_bytes(max_response_bytes.map(|(n, _)| n));
            accounts.push(Arc::new(account));
        }
        accounts
    }

    fn module<'r>(
        &mut self,
        context: &str,
        slug: &str,
        value: &Item<'_>,
        registry: &'r Registry,
    ) -> Option<&'r Module> {
        let module = registry.module_by_slug(slug);
        if module.is_none() {
            let available: Vec<&str> = registry.modules().iter().map(|m| m.manifest.slug).collect();
            let hint = did_you_mean(slug, &available)
                .map(|known| format!("did you mean `{known}`? "))
                .unwrap_or_default();
            self.report(
                value.span().start,
                format!(
                    "{context}: unknown module `{slug}` ({hint}available modules: {})",
                    available.join(", ")
                ),
            );
        }
        module
    }

    fn playbook(
        &mut self,
        index: usize,
        offset: usize,
        table: &DeTable<'_>,
        dir: &Path,
        account_names: &[String],
    ) -> Option<PlaybookEntry> {
        let numbered = format!("[[playbook]] #{}", index + 1);
        let file = match get(table, "file") {
            Some(value) => self.non_empty_string(&numbered, "file", value),
            None => {
                self.report(offset, format!("{numbered}: missing required key `file`"));
                None
            }
        };
        let context = match &file {
            Some(file) => format!("[[playbook]] {file:?}"),
            None => numbered,
        };
        self.unknown_keys(&context, table, PLAYBOOK_KEYS);
        let mut complete = file.is_some();
        let mut entry = PlaybookEntry {
            file: dir.join(file.unwrap_or_default()),
            enabled: true,
            webhook_token: None,
            accounts: BTreeMap::new(),
            line: self.line(offset),
        };
        if let Some(value) = get(table, "enabled") {
            match self.boolean(&context, "enabled", value) {
                Some(enabled) => entry.enabled = enabled,
                None => complete = false,
            }
        }
        if let Some(value) = get(table, "webhook_token") {
            entry.webhook_token = self.non_empty_string(&context, "webhook_token", value);
            complete &= entry.webhook_token.is_some();
        }
        if let Some(value) = get(table, "accounts") {
            let Some(bindings) = value.get_ref().as_table() else {
                self.wrong_type(
                    &context,
                    "accounts",
                    value,
                    "a table of node id = account name",
                );
                return None;
            };
            for (node, account) in bindings.iter() {
                let key = format!("accounts.{}", node.get_ref());
                let Some(account_name) = self.string(&context, &key, account) else {
                    complete = false;
                    continue;
                };
                if !account_names.contains(&account_name) {
                    let configured = if account_names.is_empty() {
                        "no account is configured".to_owned()
                    } else {
                        format!("configured accounts: {}", account_names.join(", "))
                    };
                    self.report(
                        account.span().start,
                        format!(
                            "{context}: `{key}`: unknown account `{account_name}` ({configured})"
                        ),
                    );
                    complete = false;
                    continue;
                }
                entry
                    .accounts
                    .insert(node.get_ref().to_string(), account_name);
            }
        }
        complete.then_some(entry)
    }

    /// The string value of `key`, if present and valid, with the offset of the value.
    fn string_at(
        &mut self,
        context: &str,
        table: &DeTable<'_>,
        key: &str,
    ) -> Option<(String, usize)> {
        let value = get(table, key)?;
        let text = self.non_empty_string(context, key, value)?;
        Some((text, value.span().start))
    }

    /// The integer value of `key` in `min..=max`, if present and valid.
    fn integer_at(
        &mut self,
        context: &str,
        table: &DeTable<'_>,
        key: &str,
        min: u64,
        max: u64,
    ) -> Option<(u64, usize)> {
        let value = get(table, key)?;
        let n = self.integer(context, key, value, min, max)?;
        Some((n, value.span().start))
    }

    fn server(&mut self, table: &DeTable<'_>) -> ServerConfig {
        const CONTEXT: &str = "[server]";
        for (old, new) in RENAMED_SERVER_KEYS {
            if let Some((key, _)) = table.get_key_value(*old) {
                self.report(
                    key.span().start,
                    format!("{CONTEXT}: `{old}` is now called `{new}`: rename it"),
                );
            }
        }
        let renamed = RENAMED_SERVER_KEYS.iter().map(|(old, _)| *old);
        let known: Vec<&str> = SERVER_KEYS.iter().copied().chain(renamed).collect();
        self.unknown_keys(CONTEXT, table, &known);
        let mut server = ServerConfig::default();
        if let Some((listen, offset)) = self.string_at(CONTEXT, table, "listen") {
            let port_ok = listen
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !port_ok {
                self.report(
                    offset,
                    format!(
                        "{CONTEXT}: `listen` must be host:port (like {:?}), found {listen:?}",
                        ServerConfig::DEFAULT_LISTEN
                    ),
                );
            }
            server.listen = listen;
        }
        if let Some((url, offset)) = self.string_at(CONTEXT, table, "public_url") {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                self.report(
                    offset,
                    format!(
                        "{CONTEXT}: `public_url` must start with http:// or https://, found {url:?}"
                    ),
                );
            }
            server.public_url = Some(url);
        }
        if let Some((token, offset)) = self.string_at(CONTEXT, table, "token") {
            let length = token.chars().count();
            if length < ServerConfig::MIN_TOKEN_CHARS {
                self.report(
                    offset,
                    format!(
                        "{CONTEXT}: `token` must be at least {} characters long, found {length}: \
                         a short token can be guessed (make one with `openssl rand -hex 32`)",
                        ServerConfig::MIN_TOKEN_CHARS
                    ),
                );
            }
            server.token = Some(token);
        }
        server
    }

    fn store(&mut self, table: &DeTable<'_>, dir: &Path) -> StoreConfig {
        const CONTEXT: &str = "[store]";
        self.unknown_keys(CONTEXT, table, STORE_KEYS);
        let mut store = StoreConfig::in_dir(dir);
        /// Ten years: beyond that, `0` (for ever) says what is meant.
        const MAX_RETENTION_DAYS: u64 = 3650;
        if let Some((path, _)) = self.string_at(CONTEXT, table, "path") {
            store.path = dir.join(path);
        }
        if let Some((url, at)) = self.string_at(CONTEXT, table, "url") {
            if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                store.url = Some(url);
            } else {
                self.report(
                    at,
                    format!(
                        "{CONTEXT}: `url` must be a PostgreSQL URL, \
                         `postgres://user:${{PASSWORD}}@host:5432/database`; leave it out to \
                         keep the store in the file `path`"
                    ),
                );
            }
        }
        /// More connections than a PostgreSQL server allows by default.
        const MAX_POOL_SIZE: u64 = 100;
        if let Some((size, _)) = self.integer_at(CONTEXT, table, "pool_size", 1, MAX_POOL_SIZE) {
            store.pool_size = u32::try_from(size).unwrap_or(u32::MAX);
        }
        if let Some((days, _)) =
            self.integer_at(CONTEXT, table, "retention_days", 0, MAX_RETENTION_DAYS)
        {
            store.retention_days = u32::try_from(days).unwrap_or(u32::MAX);
        }
        store
    }

    fn delivery(&mut self, table: &DeTable<'_>) -> DeliveryConfig {
        const CONTEXT: &str = "[delivery]";
        /// Delays up to a day: longer ones are mistakes, and they stay far from overflow.
        const DAY_MS: u64 = 24 * 60 * 60 * 1000;
        const MAX_WORKERS: u64 = 1024;
        /// Retrying for more than a month is a mistake.
        const MONTH_SECS: u64 = 31 * 24 * 60 * 60;
        const U32_MAX: u64 = u32::MAX as u64;
        self.unknown_keys(CONTEXT, table, DELIVERY_KEYS);
        let mut delivery = DeliveryConfig::default();
        if let Some((n, _)) = self.integer_at(CONTEXT, table, "max_attempts", 1, U32_MAX) {
            delivery.max_attempts = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some((n, _)) = self.integer_at(CONTEXT, table, "initial_delay_ms", 0, DAY_MS) {
            delivery.initial_delay_ms = n;
        }
        if let Some((n, offset)) = self.integer_at(CONTEXT, table, "max_delay_ms", 0, DAY_MS) {
            delivery.max_delay_ms = n;
            if n < delivery.initial_delay_ms {
                self.report(
                    offset,
                    format!(
                        "{CONTEXT}: `max_delay_ms` ({n}) must not be less than \
                         `initial_delay_ms` ({})",
                        delivery.initial_delay_ms
                    ),
                );
            }
        }
        if let Some((n, _)) = self.integer_at(CONTEXT, table, "max_age_secs", 1, MONTH_SECS) {
            delivery.max_age_secs = n;
        }
        if let Some((n, _)) = self.integer_at(CONTEXT, table, "ilert_rate_per_minute", 1, U32_MAX) {
            delivery.ilert_rate_per_minute = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some((n, _)) = self.integer_at(CONTEXT, table, "workers", 1, MAX_WORKERS) {
            delivery.workers = usize::try_from(n).unwrap_or(1);
        }
        let (min, max) = RESPONSE_BYTES;
        if let Some((n, _)) = self.integer_at(CONTEXT, table, "max_response_bytes", min, max) {
            delivery.max_response_bytes = n;
        }
        if let Some((n, _)) = self.integer_at(CONTEXT, table, "disable_after_failures", 1, 1000) {
            delivery.disable_after_failures = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some((n, _)) = self.integer_at(CONTEXT, table, "max_interruptions", 1, 100) {
            delivery.max_interruptions = u32::try_from(n).unwrap_or(u32::MAX);
        }
        delivery
    }

    fn health(&mut self, table: &DeTable<'_>) -> HealthConfig {
        const CONTEXT: &str = "[health]";
        const DAY_SECS: u64 = 24 * 60 * 60;
        self.unknown_keys(CONTEXT, table, HEALTH_KEYS);
        let mut health = HealthConfig::default();
        if let Some((n, _)) = self.integer_at(CONTEXT, table, "live_grace_secs", 0, DAY_SECS) {
            health.live_grace_secs = n;
        }
        if let Some((n, _)) = self.integer_at(CONTEXT, table, "max_queue_age_secs", 1, DAY_SECS) {
            health.max_queue_age_secs = n;
        }
        health
    }

    fn live(&mut self, table: &DeTable<'_>) -> LiveConfig {
        const CONTEXT: &str = "[live]";
        const DAY_SECS: u64 = 24 * 60 * 60;
        self.unknown_keys(CONTEXT, table, LIVE_KEYS);
        let mut live = LiveConfig::default();
        let min = self.integer_at(CONTEXT, table, "rejected_retry_min_secs", 1, DAY_SECS);
        if let Some((n, _)) = min {
            live.rejected_retry_min_secs = n;
        }
        let max = self.integer_at(CONTEXT, table, "rejected_retry_max_secs", 1, DAY_SECS);
        if let Some((n, offset)) = max {
            live.rejected_retry_max_secs = n;
            if n < live.rejected_retry_min_secs {
                self.report(
                    offset,
                    format!(
                        "{CONTEXT}: `rejected_retry_max_secs` ({n}) must not be less than \
                         `rejected_retry_min_secs` ({})",
                        live.rejected_retry_min_secs
                    ),
                );
            }
        }
        live
    }
}
