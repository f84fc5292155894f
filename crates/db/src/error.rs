use std::path::Path;

/// A storage failure, with the store (a file, or a PostgreSQL schema) and the step it
/// happened in.
#[derive(Debug, thiserror::Error)]
#[error("{step} {target}: {source}")]
pub struct Error {
    /// What was being done (`opening`, `migrating to version 2 of`, `committing to`...).
    pub step: String,
    /// The file or the store it was done to.
    pub target: String,
    #[source]
    pub source: Cause,
}

/// The backend's own error.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("{}", with_causes(.0))]
    Postgres(#[from] postgres::Error),
    /// The stored schema is newer than this build, a value has the wrong type, a URL is
    /// not understood...
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub fn new(
        step: impl Into<String>,
        target: impl Into<String>,
        source: impl Into<Cause>,
    ) -> Self {
        Error {
            step: step.into(),
            target: target.into(),
            source: source.into(),
        }
    }

    /// For the SQLite file at `path`.
    pub fn sqlite(step: impl Into<String>, path: &Path, source: rusqlite::Error) -> Self {
        Error::new(step, path.display().to_string(), source)
    }

    /// The database could not be reached or dropped the connection: the request may be
    /// retried once it is back (callers answer their protocol's retryable service error).
    pub fn is_unavailable(&self) -> bool {
        // Whatever stops a new connection (the server down, out of slots, refusing this
        // database for now), the request may succeed once the operator fixes it; a wrong
        // address or password already failed the start-up.
        if self.step == CONNECTING {
            return matches!(self.source, Cause::Postgres(_));
        }
        match &self.source {
            Cause::Postgres(e) => e.is_closed() || e.code().is_none_or(is_unavailable_state),
            Cause::Sqlite(_) | Cause::Invalid(_) => false,
        }
    }

    /// The statement broke a uniqueness constraint (an insert of an existing key).
    pub fn is_unique_violation(&self) -> bool {
        match &self.source {
            Cause::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            }
            Cause::Postgres(e) => e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION),
            _ => false,
        }
    }
}

/// The driver's error followed by its causes: its own text is often only the kind ("db
/// error", "error performing TLS handshake"), and the reason (the server's message, rustls'
/// "invalid peer certificate: UnknownIssuer") is in the source.
fn with_causes(e: &postgres::Error) -> String {
    let mut text = e.to_string();
    let mut next = std::error::Error::source(e);
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

/// The step of an error raised while opening a connection.
pub(crate) const CONNECTING: &str = "connecting to";

/// Connection-class (08), shutdown (57P0x) and resource (53) states: the server, not the
/// statement, is the problem.
fn is_unavailable_state(code: &postgres::error::SqlState) -> bool {
    let c = code.code();
    c.starts_with("08") || c.starts_with("57P0") || c.starts_with("53")
}

impl From<Cause> for String {
    fn from(c: Cause) -> String {
        c.to_string()
    }
}
