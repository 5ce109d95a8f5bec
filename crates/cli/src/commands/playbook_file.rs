//! Reading a playbook file named on the command line, and finding what the configuration
//! says about it (its account bindings).

use std::collections::BTreeMap;
use std::path::Path;

use alertsync_config::Config;
use alertsync_spl::{LoadError, Playbook, parse_playbook};

/// Why a playbook file could not be used at all.
pub enum FileError {
    Read(String),
    Load(LoadError),
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileError::Read(message) => f.write_str(message),
            FileError::Load(err) => err.fmt(f),
        }
    }
}

/// Reads and parses `path`; messages start with the path as the user wrote it.
pub fn load(path: &Path) -> Result<Playbook, FileError> {
    let shown = path.display().to_string();
    let source = std::fs::read_to_string(path)
        .map_err(|err| FileError::Read(format!("{shown}: cannot read: {err}")))?;
    parse_playbook(&source, &shown).map_err(FileError::Load)
}

/// The account bindings of the `[[playbook]]` entry for `path`, if the configuration has one.
pub fn bindings(config: &Config, path: &Path) -> BTreeMap<String, String> {
    let wanted = std::fs::canonicalize(path).ok();
    config
        .playbooks
        .iter()
        .find(|entry| wanted.is_some() && std::fs::canonicalize(&entry.file).ok() == wanted)
        .map(|entry| entry.accounts.clone())
        .unwrap_or_default()
}
