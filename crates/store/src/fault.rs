//! What the backends share below the [`crate::Store`] contract: why an operation failed
//! before it is told which operation it was ([`Fault`]), and how values are stored (times
//! and counts as signed 64-bit integers, JSON values as text).

use crate::error::StoreError;
use crate::model::{InboxId, RunId};

/// Why an operation failed, before it is told which operation it was.
#[derive(Debug)]
pub(crate) enum Fault {
    /// The database answered with an error. `storage` tells whether it is the storage's
    /// failure (a full disk, an I/O error, a lost connection) rather than the operation's
    /// own: such failures make `/healthz` report that writes do not reach the store.
    Backend {
        cause: Box<dyn std::error::Error + Send + Sync>,
        storage: bool,
    },
    /// A value could not be encoded for storage.
    Encode(String),
    /// A stored value could not be decoded.
    Corrupt(String),
    UnknownRun(RunId),
    UnknownEvent(InboxId),
    /// The write could not be committed with its batch (the transaction, the writer).
    Batch(String),
}

impl Fault {
    /// Whether the failure is the storage's rather than the operation's own.
    pub(crate) fn is_storage_failure(&self) -> bool {
        match self {
            Self::Backend { storage, .. } => *storage,
            Self::Batch(_) => true,
            _ => false,
        }
    }

    pub(crate) fn during(self, operation: &'static str) -> StoreError {
        match self {
            Self::Backend { cause, .. } => StoreError::Backend { operation, cause },
            Self::Encode(detail) | Self::Batch(detail) => StoreError::Backend {
                operation,
                cause: detail.into(),
            },
            Self::Corrupt(detail) => StoreError::Corrupt { operation, detail },
            Self::UnknownRun(run) => StoreError::UnknownRun { operation, run },
            Self::UnknownEvent(event) => StoreError::UnknownEvent { operation, event },
        }
    }

    pub(crate) fn into_cause(self) -> Box<dyn std::error::Error + Send + Sync> {
        match self {
            Self::Backend { cause, .. } => cause,
            Self::Encode(detail) | Self::Corrupt(detail) | Self::Batch(detail) => detail.into(),
            Self::UnknownRun(run) => format!("no run {run}").into(),
            Self::UnknownEvent(event) => format!("no inbox event {event}").into(),
        }
    }
}

/// Now, as stored.
pub(crate) fn now_sql() -> i64 {
    ms_to_sql(alertsync_engine::now_ms())
}

/// A time (or any count) as a stored integer; values past `i64::MAX` are clamped.
pub(crate) fn ms_to_sql(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

pub(crate) fn seq_to_sql(seq: usize) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// A stored non-negative integer (time, count, `seq`) read back.
pub(crate) fn unsigned_from_sql<T: TryFrom<i64>>(value: i64, what: &str) -> Result<T, Fault> {
    T::try_from(value).map_err(|_| Fault::Corrupt(format!("{what} is {value}, out of range")))
}

pub(crate) fn optional_unsigned_from_sql<T: TryFrom<i64>>(
    value: Option<i64>,
    what: &str,
) -> Result<Option<T>, Fault> {
    value.map(|v| unsigned_from_sql(v, what)).transpose()
}

/// JSON text of a value to store.
pub(crate) fn to_json<T: serde::Serialize>(value: &T, what: &str) -> Result<String, Fault> {
    serde_json::to_string(value).map_err(|e| Fault::Encode(format!("cannot encode {what}: {e}")))
}

/// A stored JSON column read back.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
) -> Result<T, Fault> {
    serde_json::from_str(text).map_err(|e| Fault::Corrupt(format!("{what} is not valid: {e}")))
}
