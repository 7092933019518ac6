//! The store's error type. Variants say what the caller must do; none carries SQL
//! text or secrets in its `Display` (sources are kept for the log).

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The named object does not exist (or was deleted).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Input rejected; `field` names the offending input.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field at fault (`scopes`, `comment`, `name`, `cursor`, ...).
        field: &'static str,
        /// A short, user-safe explanation.
        reason: String,
    },
    /// The operation conflicts with the current state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored row cannot be decoded (a bug or tampering, never the caller's fault).
    /// Answered as a 500 with the fixed body; the message, for the log, names the row
    /// but never a secret.
    #[error("stored data cannot be decoded")]
    Corrupt(String),
    /// The database could not be reached (pool exhausted or connection failed).
    #[error("database unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database answered with an error.
    #[error("database error")]
    Database(#[from] diesel::result::Error),
    /// The database URL or schema could not be set up.
    #[error("{0}")]
    Setup(String),
}

impl StoreError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        StoreError::Invalid {
            field,
            reason: reason.into(),
        }
    }

    /// True for SQLite's "database is locked" (`SQLITE_BUSY`): retrying the transaction
    /// may succeed.
    pub(crate) fn is_busy(&self) -> bool {
        match self {
            StoreError::Database(diesel::result::Error::DatabaseError(_, info)) => {
                let m = info.message();
                m.contains("database is locked") || m.contains("database table is locked")
            }
            _ => false,
        }
    }

    /// True when retrying later may succeed (the database is down or overloaded).
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Database(diesel::result::Error::DatabaseError(kind, _)) => matches!(
                kind,
                diesel::result::DatabaseErrorKind::ClosedConnection
                    | diesel::result::DatabaseErrorKind::UnableToSendCommand
            ),
            StoreError::Database(diesel::result::Error::BrokenTransactionManager) => true,
            _ => false,
        }
    }
}

impl From<diesel::r2d2::PoolError> for StoreError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        StoreError::Unavailable(Box::new(e))
    }
}

/// Result alias for store operations.
pub type StoreResult<T> = Result<T, StoreError>;
