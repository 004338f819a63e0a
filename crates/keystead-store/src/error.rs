//! Storage errors.

/// A storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database could not be reached or refused a statement.
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("schema migration failed")]
    Migration(#[source] sqlx::migrate::MigrateError),
    /// A key with this name already exists in the tenant.
    #[error("a key named {name} already exists in tenant {tenant}")]
    NameTaken {
        /// The tenant.
        tenant: String,
        /// The name.
        name: String,
    },
    /// A principal with this name already exists.
    #[error("a principal named {name} already exists")]
    PrincipalTaken {
        /// The name.
        name: String,
    },
    /// The row changed under us (another request won a race); nothing was written.
    #[error("{what} changed concurrently; nothing was written, retry the request")]
    Conflict {
        /// What changed.
        what: &'static str,
    },
    /// A stored value does not parse: the row was edited outside Keystead or is corrupt.
    #[error("stored {what} is corrupt or was edited outside Keystead")]
    Corrupt {
        /// Which value.
        what: &'static str,
    },
    /// Sealed material failed to open: edited, moved, or sealed under another root key.
    #[error("sealed material of key {key_id} version {version} failed its integrity check")]
    Integrity {
        /// The key.
        key_id: String,
        /// The version.
        version: u32,
    },
    /// The storage URL names no supported database.
    #[error("unsupported storage URL: use sqlite://PATH or postgres://USER@HOST/DATABASE")]
    UnsupportedUrl,
    /// A crypto provider failure while sealing.
    #[error("sealing failed")]
    Crypto(#[source] keystead_crypto::Error),
}

impl Error {
    /// Whether the database is out of reach (down, restarting, network, pool exhausted), as
    /// opposed to refusing a statement: the request may succeed if retried later.
    pub fn is_unavailable(&self) -> bool {
        let Error::Database(err) = self else { return false };
        match err {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            // SQLSTATE class 08 (connection exception) and 57P01-57P03 (shutdown, crash
            // recovery, not yet accepting connections).
            sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")
            }),
            _ => false,
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        Error::Database(err)
    }
}
