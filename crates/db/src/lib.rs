//! The one storage layer under every store Stratus keeps state in (function metadata, the
//! async event queue, objects' metadata, tables, topics, metering, identities): the same
//! store code runs on the embedded default, a SQLite file per store in the data directory,
//! or on a PostgreSQL server that several nodes can share.
//!
//! - [`Location`]: where state lives, from the `database` option (`sqlite` by default, or a
//!   `postgres://` URL, with TLS through rustls when `sslmode` asks, see [`tls`]); its
//!   `Display` never shows a password.
//! - [`Db`]: one store's database, opened with its [`Migrations`] applied (and refused when
//!   the stored schema is newer than this build knows).
//! - [`Db::tx`]: one transaction, retried on PostgreSQL when the server reports a
//!   serialization conflict, so a closure sees the same all-or-nothing, one-writer-at-a-time
//!   world on both backends.
//! - [`Tx`], [`Row`], [`Param`], [`FromColumn`]: statements written once in the SQL both
//!   backends speak (`?1`-style placeholders, `ON CONFLICT ... DO UPDATE`, `RETURNING`), with
//!   typed parameters and columns.
//! - [`Error`]: what went wrong, naming the store or file and the step, and whether the
//!   server was unreachable (a retryable fault) rather than the statement wrong.
//!
//! The older SQLite-only entry points ([`open`], [`Database`], [`Schema`]) remain for the
//! stores that have not moved to [`Db`] yet.

pub mod copy;
mod error;
mod location;
mod neutral;
mod notify;
mod param;
mod pg;
mod sqlite;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod tls;

pub use error::{Cause, Error};
pub use location::{Health, Location, PgTarget};
pub use neutral::{Db, Dialect, Migrations, Row, StoreSpec, Tx};
pub use notify::{listen, FALLBACK as NOTIFY_FALLBACK};
pub use param::{FromColumn, Param, Value};
pub use rusqlite;
pub use sqlite::{open, Database, Options, Schema};

/// Parameters for a statement: `args![a, b]` is `&[&a as &dyn Param, &b as &dyn Param]`.
#[macro_export]
macro_rules! args {
    () => { &[] as &[&dyn $crate::Param] };
    ($($x:expr),+ $(,)?) => { &[$(&$x as &dyn $crate::Param),+] as &[&dyn $crate::Param] };
}

#[cfg(test)]
mod tests;
