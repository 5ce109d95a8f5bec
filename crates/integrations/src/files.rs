//! Files of a run, in its data directory: what `*_path` arguments name and where actions
//! write results too big to pass around (Sekoia.io's actions read and write them the same
//! way). Nothing is read or written outside the data directory, and reads are bounded.

use std::path::{Component, Path, PathBuf};

use alertsync_engine::{ActionContext, ActionError};
use serde_json::Value;

/// Largest file an action reads.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The value of argument `name`, or the JSON document of the file its `<name>_path`
/// argument names (Sekoia.io's "JSON argument"). `None` when neither is given.
pub async fn json_argument(
    cx: &ActionContext,
    args: &Value,
    name: &str,
) -> Result<Option<Value>, ActionError> {
    if let Some(value) = args.get(name).filter(|v| is_given(v)) {
        return Ok(Some(value.clone()));
    }
    let path_argument = format!("{name}_path");
    match args.get(&path_argument) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(path)) if path.trim().is_empty() => Ok(None),
        Some(Value::String(path)) => read_json(&cx.data_dir, &path_argument, path)
            .await
            .map(Some),
        Some(_) => Err(ActionError::invalid_argument(
            &path_argument,
            "must be the path of a file of the run",
        )),
    }
}

/// Whether an argument counts as given, as Python's truthiness says (`""`, `[]`, `{}` do not).
fn is_given(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(text) => !text.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(entries) => !entries.is_empty(),
        _ => true,
    }
}

/// Reads and parses a JSON file of the data directory; `argument` names the argument that
/// gave the path, for errors.
pub async fn read_json(
    data_dir: &Path,
    argument: &str,
    file_path: &str,
) -> Result<Value, ActionError> {
    let bytes = read(data_dir, argument, file_path).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ActionError::invalid_argument(argument, format!("`{file_path}` is not JSON: {e}"))
    })
}

/// Reads a file of the data directory, at most [`MAX_FILE_BYTES`].
pub async fn read(
    data_dir: &Path,
    argument: &str,
    file_path: &str,
) -> Result<Vec<u8>, ActionError> {
    let path = inside_data_dir(data_dir, argument, file_path)?;
    let unreadable = |e: std::io::Error| {
        ActionError::invalid_argument(argument, format!("cannot read `{file_path}`: {e}"))
    };
    let size = tokio::fs::metadata(&path).await.map_err(unreadable)?.len();
    if size > MAX_FILE_BYTES {
        return Err(ActionError::invalid_argument(
            argument,
            format!(
                "`{file_path}` is {size} bytes; files of at most {MAX_FILE_BYTES} bytes are read"
            ),
        ));
    }
    tokio::fs::read(&path).await.map_err(unreadable)
}

/// Writes `value` as JSON to a new file `<stem>-<uuid>.json` of the data directory and
/// returns its path relative to the directory.
pub async fn write_json(data_dir: &Path, stem: &str, value: &Value) -> Result<String, ActionError> {
    let name = format!("{stem}-{}.json", uuid::Uuid::new_v4());
    write(data_dir, &name, value.to_string().as_bytes()).await?;
    Ok(name)
}

/// Writes `bytes` to `name` (relative) in the data directory, creating the directories.
pub async fn write(data_dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, ActionError> {
    let path = data_dir.join(name);
    let failed = |e: std::io::Error| {
        ActionError::permanent(format!(
            "cannot write `{name}` in the run's data directory: {e}"
        ))
    };
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(failed)?;
    }
    tokio::fs::write(&path, bytes).await.map_err(failed)?;
    Ok(path)
}

/// Removes a file of the data directory (a file already gone is fine).
pub async fn remove(data_dir: &Path, argument: &str, file_path: &str) -> Result<(), ActionError> {
    let path = inside_data_dir(data_dir, argument, file_path)?;
    match tokio::fs::remove_file(&path).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ActionError::permanent(format!(
            "cannot remove `{file_path}`: {e}"
        ))),
    }
}

/// The file's real path, refused unless it lies inside the data directory (symbolic links
/// resolved, `..` escapes and absolute paths elsewhere refused).
pub fn inside_data_dir(
    data_dir: &Path,
    argument: &str,
    file_path: &str,
) -> Result<PathBuf, ActionError> {
    let outside = || {
        ActionError::invalid_argument(
            argument,
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
        ActionError::invalid_argument(argument, format!("cannot read `{file_path}`: {e}"))
    })?;
    if resolved.starts_with(&root) {
        Ok(resolved)
    } else {
        Err(outside())
    }
}
