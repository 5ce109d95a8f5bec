//! Loading configuration files from disk: valid files, defaults, and every kind of mistake,
//! each reported with the file, the line and the key.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use alertsync_config::{
    Config, ConfigError, DeliveryConfig, ServerConfig, StoreConfig, config_path,
    config_path_with_env,
};
use alertsync_engine::Registry;

/// A directory of its own under the system temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "alertsync-config-{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn registry() -> Registry {
    alertsync_integrations::registry()
}

/// An environment with exactly these variables.
fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn load(
    dir: &TempDir,
    toml: &str,
    vars: &[(&str, &str)],
) -> (PathBuf, Result<Config, ConfigError>) {
    let path = dir.write("alertsync.toml", toml);
    let result = Config::load_with_env(&path, &registry(), &env(vars));
    (path, result)
}

/// The problems of a file that must not load, as displayed.
fn problems(toml: &str, vars: &[(&str, &str)]) -> (PathBuf, Vec<String>) {
    let dir = TempDir::new("problems");
    let (path, result) = load(&dir, toml, vars);
    let error = result.expect_err("the configuration should be rejected");
    let lines: Vec<String> = error.to_string().lines().map(str::to_owned).collect();
    assert_eq!(
        lines.len(),
        error.problems().len(),
        "one problem per line: {error}"
    );
    (path, lines)
}

/// Asserts that the only problem is on `line` and mentions every one of `parts`.
#[track_caller]
fn assert_one_problem(toml: &str, vars: &[(&str, &str)], line: usize, parts: &[&str]) {
    let (path, lines) = problems(toml, vars);
    assert_eq!(lines.len(), 1, "expected one problem, got {lines:#?}");
    assert_problem(&path, &lines[0], line, parts);
}

#[track_caller]
fn assert_problem(path: &Path, problem: &str, line: usize, parts: &[&str]) {
    let prefix = format!("{}:{line}: ", path.display());
    assert!(
        problem.starts_with(&prefix),
        "{problem:?} should start with {prefix:?}"
    );
    for part in parts {
        assert!(
            problem.contains(part),
            "{problem:?} should mention {part:?}"
        );
    }
}

const FULL: &str = r#"
# Every table, every key.
[[account]]
name = "sekoia"
module = "sekoia.io"
api_key = "${SEKOIA_API_KEY}"
base_url = "http://127.0.0.1:9000"

[[account]]
name = "ilert-prod"
module = "ilert"
integration_key = "${ILERT_KEY}"

[[playbook]]
file = "playbooks/forward.json"
webhook_token = "${WEBHOOK_TOKEN}"
accounts = { "3" = "ilert-prod", "1" = "sekoia" }

[[playbook]]
file = "/opt/playbooks/other.json"
enabled = false

[server]
listen = "0.0.0.0:9090"
public_url = "https://alertsync.example.com"
token = "${API_TOKEN}"

[store]
path = "data/db.sqlite"

[delivery]
max_attempts = 3
initial_delay_ms = 1_000
max_delay_ms = 5000
max_age_secs = 600
ilert_rate_per_minute = 10
workers = 2
"#;

const FULL_ENV: &[(&str, &str)] = &[
    ("SEKOIA_API_KEY", "sek-key"),
    ("ILERT_KEY", "il-key"),
    ("WEBHOOK_TOKEN", "hook-token"),
    ("API_TOKEN", "api-token-0f1e2d3c"),
];

#[test]
fn a_complete_file_loads() {
    let dir = TempDir::new("full");
    let (path, result) = load(&dir, FULL, FULL_ENV);
    let config = result.unwrap();
    assert_eq!(config.path, path);

    assert_eq!(config.accounts.len(), 2);
    let sekoia = config.account("sekoia").unwrap();
    assert_eq!(sekoia.module, "sekoia.io");
    assert_eq!(sekoia.str("api_key"), Some("sek-key"));
    assert_eq!(sekoia.str("base_url"), Some("http://127.0.0.1:9000"));
    assert_eq!(
        sekoia.str("intake_url"),
        Some("https://intake.sekoia.io"),
        "schema default"
    );
    let ilert = config.account("ilert-prod").unwrap();
    assert_eq!(ilert.str("integration_key"), Some("il-key"));
    assert!(ilert.str("integration_url").is_some(), "schema default");
    assert!(config.account("nobody").is_none());

    let [forward, other] = &config.playbooks[..] else {
        panic!("two playbooks expected: {:?}", config.playbooks);
    };
    assert_eq!(forward.file, dir.0.join("playbooks/forward.json"));
    assert!(forward.enabled);
    assert_eq!(forward.webhook_token.as_deref(), Some("hook-token"));
    assert_eq!(
        forward.accounts.get("3").map(String::as_str),
        Some("ilert-prod")
    );
    assert_eq!(
        forward.accounts.get("1").map(String::as_str),
        Some("sekoia")
    );
    assert_eq!(forward.line, 14);
    assert_eq!(other.file, PathBuf::from("/opt/playbooks/other.json"));
    assert!(!other.enabled);
    assert_eq!(other.webhook_token, None);
    assert!(other.accounts.is_empty());
    assert_eq!(other.line, 19);

    assert_eq!(
        config.server,
        ServerConfig {
            listen: "0.0.0.0:9090".to_owned(),
            public_url: Some("https://alertsync.example.com".to_owned()),
            token: Some("api-token-0f1e2d3c".to_owned()),
        }
    );
    assert_eq!(config.store.path, dir.0.join("data/db.sqlite"));
    assert_eq!(
        config.delivery,
        DeliveryConfig {
            max_attempts: 3,
            initial_delay_ms: 1000,
            max_delay_ms: 5000,
            max_age_secs: 600,
            ilert_rate_per_minute: 10,
            workers: 2,
            ..DeliveryConfig::default()
        }
    );
    let policy = config.delivery.retry_policy();
    assert_eq!(policy.max_attempts, 3);
    assert_eq!(policy.initial_delay.as_millis(), 1000);
    assert_eq!(policy.max_age.as_secs(), 600);
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let dir = TempDir::new("debug");
    let (_, result) = load(&dir, FULL, FULL_ENV);
    let shown = format!("{:?}", result.unwrap());
    for (_, secret) in FULL_ENV {
        assert!(!shown.contains(secret), "{secret} leaked into {shown}");
    }
}

#[test]
fn an_empty_file_gives_the_defaults() {
    let dir = TempDir::new("defaults");
    let (path, result) = load(&dir, "# nothing configured yet\n", &[]);
    let config = result.unwrap();
    assert!(config.accounts.is_empty());
    assert!(config.playbooks.is_empty());
    assert_eq!(config.server.listen, "127.0.0.1:8080");
    assert_eq!(config.server, ServerConfig::default());
    assert_eq!(config.store.path, dir.0.join("alertsync-data/alertsync.db"));
    assert_eq!(
        config.delivery,
        DeliveryConfig {
            max_attempts: 12,
            initial_delay_ms: 500,
            max_delay_ms: 60_000,
            max_age_secs: 86_400,
            ilert_rate_per_minute: 50,
            workers: 8,
            max_response_bytes: 16 * 1024 * 1024,
            disable_after_failures: 5,
            max_interruptions: 3,
        }
    );

    let empty = Config::empty(path.clone());
    assert_eq!(empty.path, path);
    assert!(empty.accounts.is_empty() && empty.playbooks.is_empty());
    assert_eq!(empty.server, config.server);
    assert_eq!(empty.store, config.store);
    assert_eq!(empty.delivery, config.delivery);
}

#[test]
fn empty_tables_give_the_defaults() {
    let dir = TempDir::new("empty-tables");
    let (_, result) = load(&dir, "[server]\n[store]\n[delivery]\n", &[]);
    let config = result.unwrap();
    assert_eq!(config.server, ServerConfig::default());
    assert_eq!(config.store, StoreConfig::in_dir(&dir.0));
    assert_eq!(config.delivery, DeliveryConfig::default());
}

#[test]
fn relative_paths_are_resolved_against_the_configuration_directory() {
    let dir = TempDir::new("relative");
    std::fs::create_dir_all(dir.0.join("etc")).unwrap();
    let path = dir.write(
        "etc/alertsync.toml",
        "[[playbook]]\nfile = \"../playbooks/a.json\"\n[store]\npath = \"state/alertsync.db\"\n",
    );
    let config = Config::load_with_env(&path, &registry(), &env(&[])).unwrap();
    assert_eq!(
        config.playbooks[0].file,
        dir.0.join("etc/../playbooks/a.json")
    );
    assert_eq!(config.store.path, dir.0.join("etc/state/alertsync.db"));

    // A bare file name resolves against the current directory, where the file is.
    let config = Config::parse_str(
        "[[playbook]]\nfile = \"a.json\"\n",
        Path::new("alertsync.toml"),
        &registry(),
        &env(&[]),
    )
    .unwrap();
    assert_eq!(config.playbooks[0].file, PathBuf::from("a.json"));
    assert_eq!(
        config.store.path,
        PathBuf::from("alertsync-data/alertsync.db")
    );
}

#[test]
fn a_missing_file_is_named() {
    let dir = TempDir::new("missing");
    let path = dir.0.join("absent.toml");
    let error = Config::load_with_env(&path, &registry(), &env(&[])).unwrap_err();
    let shown = error.to_string();
    assert!(
        shown.starts_with(&format!("cannot read {}: ", path.display())),
        "{shown}"
    );
    assert!(matches!(error, ConfigError::Read { .. }));
    assert!(error.problems().is_empty());
}

#[test]
fn invalid_toml_names_the_line() {
    assert_one_problem(
        "[server]\nlisten = \"127.0.0.1:8080\"\ntoken = \n",
        &[],
        3,
        &["invalid TOML (column 9)"],
    );
    let (path, lines) = problems("[server]\nlisten = \"a:1\"\nlisten = \"b:2\"\n[x\n", &[]);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_problem(
        &path,
        &lines[0],
        3,
        &["invalid TOML: duplicate key `listen`"],
    );
    assert_problem(&path, &lines[1], 4, &["invalid TOML"]);
    // The text at a syntax error is not quoted: it may be a secret.
    let (_, lines) = problems("[[account]]\napi_key = abc123secret\n", &[]);
    assert!(!lines[0].contains("abc123secret"), "{lines:#?}");
}

#[test]
fn an_unknown_account_key_is_listed_with_the_known_ones() {
    assert_one_problem(
        "[[account]]\nname = \"ilert-prod\"\nmodule = \"ilert\"\nintegration_key = \"k\"\nintegratoin_key = \"k\"\n",
        &[],
        5,
        &[
            "[[account]] \"ilert-prod\": unknown key `integratoin_key`",
            "did you mean `integration_key`?",
            "known keys: name, module, max_response_bytes, integration_key, integration_url",
        ],
    );
}

#[test]
fn unknown_top_level_tables_and_keys() {
    let (path, lines) = problems("title = \"x\"\n\n[servre]\nlisten = \"a:1\"\n", &[]);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_problem(
        &path,
        &lines[0],
        1,
        &["unknown top-level key `title`", "[[account]]"],
    );
    assert_problem(
        &path,
        &lines[1],
        3,
        &[
            "unknown table [servre]",
            "did you mean `server`?",
            "[server]",
        ],
    );
    assert!(!lines[0].contains("did you mean"), "{}", lines[0]);
}

#[test]
fn unknown_keys_in_every_table() {
    let (path, lines) = problems(
        "[[playbook]]\nfile = \"a.json\"\nenable = true\n[server]\nport = 1\n[store]\ndir = \"x\"\n[delivery]\nretries = 2\n",
        &[],
    );
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert_problem(
        &path,
        &lines[0],
        3,
        &[
            "[[playbook]] \"a.json\"",
            "`enable`",
            "did you mean `enabled`?",
        ],
    );
    assert_problem(&path, &lines[1], 5, &["[server]", "`port`", "listen"]);
    assert_problem(&path, &lines[2], 7, &["[store]", "`dir`", "path"]);
    assert_problem(
        &path,
        &lines[3],
        9,
        &["[delivery]", "`retries`", "max_attempts"],
    );
}

#[test]
fn an_unknown_module_lists_the_available_ones() {
    assert_one_problem(
        "[[account]]\nname = \"x\"\nmodule = \"ilrt\"\n",
        &[],
        3,
        &[
            "[[account]] \"x\"",
            "unknown module `ilrt`",
            "did you mean `ilert`?",
            "sekoia.io",
            "ilert",
            "pagerduty",
            "mattermost",
        ],
    );
}

#[test]
fn a_missing_required_key_points_at_the_account() {
    assert_one_problem(
        "\n[[account]]\nname = \"pd\"\nmodule = \"pagerduty\"\n",
        &[],
        2,
        &["[[account]] \"pd\": missing required key `integration_key`"],
    );
    assert_one_problem(
        "[[account]]\nmodule = \"ilert\"\nintegration_key = \"k\"\n",
        &[],
        1,
        &["[[account]] #1: missing required key `name`"],
    );
    assert_one_problem(
        "[[account]]\nname = \"a\"\n",
        &[],
        1,
        &["[[account]] \"a\": missing required key `module`"],
    );
    assert_one_problem(
        "[[playbook]]\nenabled = true\n",
        &[],
        1,
        &["[[playbook]] #1: missing required key `file`"],
    );
}

#[test]
fn a_duplicate_account_name_names_both_lines() {
    assert_one_problem(
        "[[account]]\nname = \"ilert\"\nmodule = \"ilert\"\nintegration_key = \"a\"\n\n[[account]]\nname = \"ilert\"\nmodule = \"ilert\"\nintegration_key = \"b\"\n",
        &[],
        7,
        &["[[account]] \"ilert\": duplicate account name", "line 2"],
    );
}

#[test]
fn wrong_types_name_the_key_and_the_types() {
    assert_one_problem(
        "[[account]]\nname = \"s\"\nmodule = \"sekoia.io\"\napi_key = \"k\"\nbase_url = 8080\n",
        &[],
        5,
        &["[[account]] \"s\": `base_url` must be a string, found integer"],
    );
    assert_one_problem(
        "[[account]]\nname = \"s\"\nmodule = \"sekoia.io\"\napi_key = \"k\"\nbase_url = \"not a url\"\n",
        &[],
        5,
        &["[[account]] \"s\": `base_url`", "uri"],
    );
    assert_one_problem(
        "[[account]]\nname = 3\nmodule = \"utils\"\n",
        &[],
        2,
        &["[[account]] #1: `name` must be a string, found integer"],
    );
    assert_one_problem(
        "[[playbook]]\nfile = \"a.json\"\nenabled = \"yes\"\n",
        &[],
        3,
        &["`enabled` must be a boolean", "found string"],
    );
    assert_one_problem(
        "[[playbook]]\nfile = \"a.json\"\naccounts = [\"x\"]\n",
        &[],
        3,
        &["`accounts` must be a table", "found array"],
    );
    assert_one_problem(
        "[server]\nlisten = 8080\n",
        &[],
        2,
        &["[server]: `listen` must be a string, found integer"],
    );
    assert_one_problem(
        "[server]\nlisten = \"8080\"\n",
        &[],
        2,
        &["[server]: `listen` must be host:port"],
    );
    assert_one_problem(
        "[server]\npublic_url = \"example.com\"\n",
        &[],
        2,
        &["`public_url` must start with http"],
    );
    assert_one_problem(
        "[store]\npath = false\n",
        &[],
        2,
        &["[store]: `path` must be a string, found boolean"],
    );
    assert_one_problem(
        "[delivery]\nworkers = \"4\"\n",
        &[],
        2,
        &["[delivery]: `workers` must be an integer, found string"],
    );
    assert_one_problem(
        "account = 1\n",
        &[],
        1,
        &["`account` must be an array of tables: write [[account]]"],
    );
    assert_one_problem(
        "[account]\nname = \"x\"\n",
        &[],
        1,
        &["`account` must be an array of tables"],
    );
    assert_one_problem("server = \"x\"\n", &[], 1, &["`server` must be a table"]);
}

#[test]
fn delivery_numbers_are_range_checked() {
    let (path, lines) = problems(
        "[delivery]\nmax_attempts = 0\ninitial_delay_ms = -1\nilert_rate_per_minute = 0\nworkers = 100000\n",
        &[],
    );
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert_problem(
        &path,
        &lines[0],
        2,
        &["`max_attempts` must be an integer from 1 to"],
    );
    assert_problem(
        &path,
        &lines[1],
        3,
        &["`initial_delay_ms` must be an integer from 0 to"],
    );
    assert_problem(
        &path,
        &lines[2],
        4,
        &["`ilert_rate_per_minute` must be an integer from 1 to"],
    );
    assert_problem(
        &path,
        &lines[3],
        5,
        &["`workers` must be an integer from 1 to 1024"],
    );
    assert_one_problem(
        "[delivery]\nmax_delay_ms = 100\ninitial_delay_ms = 200\n",
        &[],
        2,
        &["`max_delay_ms` (100) must not be less than `initial_delay_ms` (200)"],
    );
}

#[test]
fn a_binding_to_an_unknown_account_is_reported() {
    assert_one_problem(
        "[[account]]\nname = \"ilert\"\nmodule = \"ilert\"\nintegration_key = \"k\"\n[[playbook]]\nfile = \"p.json\"\naccounts = { \"3\" = \"ilert-prod\" }\n",
        &[],
        7,
        &[
            "[[playbook]] \"p.json\": `accounts.3`: unknown account `ilert-prod` (configured accounts: ilert)",
        ],
    );
}

#[test]
fn an_unset_variable_names_the_variable_and_the_key() {
    assert_one_problem(
        "[[account]]\nname = \"ilert\"\nmodule = \"ilert\"\nintegration_key = \"${ILERT_KEY}\"\n",
        &[],
        4,
        &["[[account]] \"ilert\": `integration_key`: environment variable `ILERT_KEY` is not set"],
    );
    assert_one_problem(
        "[server]\ntoken = \"Bearer ${TOKEN\"\n",
        &[],
        2,
        &["[server]: `token`: `${` is not closed"],
    );
    assert_one_problem(
        "[[playbook]]\nfile = \"${DIR:-x}/p.json\"\n",
        &[],
        2,
        &["`file`: `${DIR:-x}` is not a variable name"],
    );
}

#[test]
fn interpolation_applies_to_every_string_and_double_dollar_escapes() {
    let dir = TempDir::new("interpolation");
    let toml = r#"
[[account]]
name = "${ACCOUNT}"
module = "${MODULE}"
hook_url = "https://chat.example.com/hooks/${HOOK}?x=$${literal}&cost=$5"

[[playbook]]
file = "${PLAYBOOKS}/p.json"
webhook_token = "$${NOT_A_VARIABLE}"
accounts = { "2" = "${ACCOUNT}" }

[server]
listen = "${HOST}:8081"

[store]
path = "${DATA}/db"
"#;
    let (_, result) = load(
        &dir,
        toml,
        &[
            ("ACCOUNT", "chat"),
            ("MODULE", "mattermost"),
            ("HOOK", "abc"),
            ("PLAYBOOKS", "books"),
            ("HOST", "localhost"),
            ("DATA", "state"),
        ],
    );
    let config = result.unwrap();
    let chat = config.account("chat").unwrap();
    assert_eq!(chat.module, "mattermost");
    assert_eq!(
        chat.str("hook_url"),
        Some("https://chat.example.com/hooks/abc?x=${literal}&cost=$5")
    );
    assert_eq!(config.playbooks[0].file, dir.0.join("books/p.json"));
    assert_eq!(
        config.playbooks[0].webhook_token.as_deref(),
        Some("${NOT_A_VARIABLE}")
    );
    assert_eq!(
        config.playbooks[0].accounts.get("2").map(String::as_str),
        Some("chat")
    );
    assert_eq!(config.server.listen, "localhost:8081");
    assert_eq!(config.store.path, dir.0.join("state/db"));
}

#[test]
fn every_problem_is_reported_at_once_in_file_order() {
    let toml = r#"[[account]]
name = "sekoia"
module = "sekoia.io"
api_key = "${SEKOIA_API_KEY}"
api_kee = "x"

[[account]]
name = "ilert"
module = "ilert"

[[account]]
name = "sekoia"
module = "nope"

[[playbook]]
file = "p.json"
accounts = { "3" = "ilert-prod" }

[server]
listen = 1

[delivery]
workers = 0
"#;
    let (path, lines) = problems(toml, &[]);
    assert_eq!(lines.len(), 8, "{lines:#?}");
    assert_problem(
        &path,
        &lines[0],
        4,
        &["`api_key`", "`SEKOIA_API_KEY` is not set"],
    );
    assert_problem(&path, &lines[1], 5, &["unknown key `api_kee`"]);
    assert_problem(
        &path,
        &lines[2],
        7,
        &["\"ilert\": missing required key `integration_key`"],
    );
    assert_problem(
        &path,
        &lines[3],
        12,
        &["duplicate account name (first defined on line 2)"],
    );
    assert_problem(&path, &lines[4], 13, &["unknown module `nope`"]);
    assert_problem(
        &path,
        &lines[5],
        17,
        &["unknown account `ilert-prod` (configured accounts: sekoia, ilert)"],
    );
    assert_problem(&path, &lines[6], 20, &["[server]: `listen`"]);
    assert_problem(&path, &lines[7], 23, &["[delivery]: `workers`"]);
    let (_, lines) = problems(&format!("{toml}\n[extra]\n"), &[]);
    assert_eq!(lines.len(), 9, "{lines:#?}");
}

#[test]
fn secret_values_never_appear_in_errors() {
    let secret_literal = "9876543210";
    let toml = format!(
        "[[account]]\nname = \"s\"\nmodule = \"sekoia.io\"\napi_key = {secret_literal}\n\
         [[account]]\nname = \"i\"\nmodule = \"ilert\"\nintegration_key = [\"${{KEY}}\", {secret_literal}]\n\
         [[account]]\nname = \"m\"\nmodule = \"mattermost\"\nhook_url = \"${{KEY}}\"\nhook_ur = \"${{KEY}}\"\n\
         [server]\ntoken = \"${{KEY}}\"\nlisten = 1\n\
         [[playbook]]\nfile = \"p.json\"\nwebhook_token = \"${{KEY}}\"\nenabled = 1\n"
    );
    let secret = "hunter2-secret";
    let (_, lines) = problems(&toml, &[("KEY", secret)]);
    assert!(lines.len() >= 3, "{lines:#?}");
    for line in &lines {
        assert!(!line.contains(secret_literal), "secret in {line:?}");
        assert!(!line.contains("hunter2"), "secret in {line:?}");
    }
    assert!(
        lines[0].contains("`api_key` must be a string, found integer"),
        "{lines:#?}"
    );
}

#[test]
fn config_path_precedence() {
    let none = |_: &str| None;
    let set =
        |name: &str| (name == "ALERTSYNC_CONFIG").then(|| "/etc/alertsync/from-env.toml".into());
    let empty = |name: &str| (name == "ALERTSYNC_CONFIG").then(|| "".into());
    let flag = Path::new("from-flag.toml");

    assert_eq!(
        config_path_with_env(Some(flag), &set),
        (flag.to_owned(), true)
    );
    assert_eq!(
        config_path_with_env(None, &set),
        (PathBuf::from("/etc/alertsync/from-env.toml"), true)
    );
    assert_eq!(
        config_path_with_env(None, &none),
        (PathBuf::from("alertsync.toml"), false)
    );
    assert_eq!(
        config_path_with_env(None, &empty),
        (PathBuf::from("alertsync.toml"), false)
    );
    // The process environment is only consulted without a flag.
    assert_eq!(config_path(Some(flag)), (flag.to_owned(), true));
}

#[test]
fn the_server_token_is_read_under_its_documented_name() {
    let dir = TempDir::new("server-token");
    let (_, result) = load(
        &dir,
        "[server]\ntoken = \"${SERVER_TOKEN}\"\n",
        &[("SERVER_TOKEN", "s3cret-s3cret-s3cret")],
    );
    let config = result.expect("loads");
    assert_eq!(config.server.token.as_deref(), Some("s3cret-s3cret-s3cret"));
    assert!(!format!("{config:?}").contains("s3cret"));
    assert_one_problem(
        "[server]\nlisten = \"127.0.0.1:1\"\napi_token = \"b\"\n",
        &[],
        3,
        &["[server]: `api_token` is now called `token`: rename it"],
    );
}

#[test]
fn a_short_server_token_is_refused_without_showing_it() {
    let toml = "[server]\ntoken = \"${SERVER_TOKEN}\"\n";
    let vars = [("SERVER_TOKEN", "short-secret")];
    assert_one_problem(
        toml,
        &vars,
        2,
        &["`token` must be at least 16 characters long, found 12"],
    );
    let (_, lines) = problems(toml, &vars);
    assert!(!lines[0].contains("short-secret"), "{lines:?}");
}
