//! PostgreSQL: a small pool of connections per store, each with the store's schema as its
//! search path and its own cache of prepared statements; migrations counted in a
//! `schema_version` table and applied under an advisory lock, so nodes starting together
//! migrate once.
//!
//! The `postgres` client is synchronous (it drives `tokio-postgres` on a runtime of its
//! own), like the SQLite calls it stands beside; a call made on one of the server's runtime
//! threads is wrapped in `block_in_place`, so the other tasks of that thread move elsewhere
//! while it waits for the server.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use postgres::{Client, Statement};

use crate::sqlite::newer_schema;
use crate::{Cause, Error};

/// Connections kept per store. Stores serialise their writers on SQLite; here a few may
/// overlap, and serializable transactions keep the outcome as if they had not.
const POOL_SIZE: usize = 4;

/// How long a connection attempt may take before the store answers "unavailable".
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection unused this long is closed: a node holds connections for the stores it is
/// using, not for every store it ever used (a cluster's nodes share the server's
/// `max_connections`).
const IDLE_CLOSE: Duration = Duration::from_secs(60);

/// One connection and the statements prepared on it.
pub(crate) struct Conn {
    pub client: Client,
    pub statements: HashMap<String, Statement>,
}

pub(crate) struct Pool {
    config: crate::location::PgTarget,
    schema: String,
    shared: Arc<Shared>,
}

/// What the pool and the idle reaper (see [`reap_idle`]) share.
struct Shared {
    idle: Mutex<Pool_>,
    freed: Condvar,
}

struct Pool_ {
    /// Idle connections with when each was returned, oldest first.
    conns: Vec<(Conn, Instant)>,
    /// Connections handed out and not yet returned.
    out: usize,
}

impl Pool_ {
    /// Takes out the connections idle since before `cutoff` (the oldest, at the front).
    fn expired(&mut self, cutoff: Instant) -> Vec<(Conn, Instant)> {
        let n = self.conns.iter().take_while(|(_, t)| *t < cutoff).count();
        self.conns.drain(..n).collect()
    }
}

/// A connection borrowed from the pool, returned when dropped (unless it broke).
pub(crate) struct Lease<'a> {
    pool: &'a Pool,
    pub conn: Option<Conn>,
    /// Set when the server dropped the connection, whether or not the client noticed yet.
    pub lost: bool,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let mut idle = self
            .pool
            .shared
            .idle
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        idle.out -= 1;
        if let Some(c) = self.conn.take() {
            if self.lost || c.client.is_closed() {
                // A connection that broke rarely broke alone (the server restarted, an
                // operator ended the sessions): the idle ones go with it rather than each
                // failing one more request.
                idle.conns.clear();
            } else {
                idle.conns.push((c, Instant::now()));
            }
        }
        self.pool.shared.freed.notify_one();
    }
}

/// Closing a client blocks on the client's own runtime, which cannot start on a thread that
/// drives async tasks: a store dropped there (a server shutting down, an async test) hands its
/// connections to a plain thread to close.
impl Drop for Pool {
    fn drop(&mut self) {
        let mut idle = self.shared.idle.lock().unwrap_or_else(|p| p.into_inner());
        let conns = std::mem::take(&mut idle.conns);
        drop(idle);
        if !conns.is_empty() && tokio::runtime::Handle::try_current().is_ok() {
            std::thread::spawn(move || drop(conns));
        }
    }
}

/// Runs blocking client code; see the module's comment.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

impl Pool {
    /// Connects once (so a wrong address or password fails at start-up), creates the store's
    /// schema and applies its migrations.
    pub fn open(
        config: &crate::location::PgTarget,
        schema: &str,
        migrations: &[&str],
    ) -> Result<Pool, Error> {
        let mut config = config.clone();
        config.connect_timeout(CONNECT_TIMEOUT);
        let pool = Pool {
            config,
            schema: schema.to_string(),
            shared: Arc::new(Shared {
                idle: Mutex::new(Pool_ {
                    conns: Vec::new(),
                    out: 0,
                }),
                freed: Condvar::new(),
            }),
        };
        watch_idle(&pool.shared);
        blocking(|| {
            let mut lease = pool.lease()?;
            let conn = lease
                .conn
                .as_mut()
                .expect("a fresh lease holds a connection");
            migrate(&mut conn.client, schema, migrations)
        })?;
        Ok(pool)
    }

    pub fn target(&self) -> String {
        format!("the PostgreSQL schema {}", self.schema)
    }

    fn connect(&self) -> Result<Conn, Error> {
        let err = |e| Error::new(crate::error::CONNECTING, self.target(), Cause::Postgres(e));
        let mut client = self.config.connect().map_err(err)?;
        // The schema is created by `migrate`, under its lock (nodes starting at once would
        // otherwise race to create it); every connection only points at it. Quoted: store
        // names are fixed identifiers, never user input.
        client
            .batch_execute(&format!("SET search_path TO \"{}\"", self.schema))
            .map_err(err)?;
        Ok(Conn {
            client,
            statements: HashMap::new(),
        })
    }

    /// An idle connection, a new one while fewer than [`POOL_SIZE`] are out, or the next one
    /// returned.
    pub fn lease(&self) -> Result<Lease<'_>, Error> {
        let mut idle = self.shared.idle.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some((c, _)) = idle.conns.pop() {
                if c.client.is_closed() {
                    continue;
                }
                idle.out += 1;
                return Ok(Lease {
                    pool: self,
                    conn: Some(c),
                    lost: false,
                });
            }
            if idle.out < POOL_SIZE {
                idle.out += 1;
                drop(idle);
                // Counted as out while connecting; a failed attempt is handed back by the
                // empty lease's drop.
                let mut lease = Lease {
                    pool: self,
                    conn: None,
                    lost: false,
                };
                lease.conn = Some(self.connect()?);
                return Ok(lease);
            }
            idle = self
                .shared
                .freed
                .wait(idle)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// The pools the idle reaper looks after; a dropped pool's entry is pruned on its next round.
fn watched() -> &'static Mutex<Vec<Weak<Shared>>> {
    static POOLS: OnceLock<Mutex<Vec<Weak<Shared>>>> = OnceLock::new();
    POOLS.get_or_init(|| {
        // A plain thread: closing a client blocks on the client's own runtime.
        let spawned = std::thread::Builder::new()
            .name("pg-idle-reaper".into())
            .spawn(|| loop {
                std::thread::sleep(IDLE_CLOSE / 4);
                if let Some(cutoff) = Instant::now().checked_sub(IDLE_CLOSE) {
                    reap_idle(cutoff);
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("idle PostgreSQL connections will stay open: {e}");
        }
        Mutex::new(Vec::new())
    })
}

fn watch_idle(shared: &Arc<Shared>) {
    let mut pools = watched().lock().unwrap_or_else(|p| p.into_inner());
    pools.push(Arc::downgrade(shared));
}

/// Closes every watched pool's connections idle since before `cutoff`.
fn reap_idle(cutoff: Instant) {
    let live: Vec<Arc<Shared>> = {
        let mut pools = watched().lock().unwrap_or_else(|p| p.into_inner());
        pools.retain(|w| w.strong_count() > 0);
        pools.iter().filter_map(Weak::upgrade).collect()
    };
    for shared in live {
        let expired = {
            let mut idle = shared.idle.lock().unwrap_or_else(|p| p.into_inner());
            idle.expired(cutoff)
        };
        drop(expired);
    }
}

/// Applies the migrations the schema has not had, each with its version bump in one
/// transaction, under a lock that makes a second node wait rather than migrate again.
fn migrate(client: &mut Client, schema: &str, migrations: &[&str]) -> Result<(), Error> {
    let target = format!("the PostgreSQL schema {schema}");
    let err = |step: String| {
        let target = target.clone();
        move |e| Error::new(step, target, Cause::Postgres(e))
    };
    let mut t = client
        .transaction()
        .map_err(err("beginning a migration of".into()))?;
    t.batch_execute(&format!(
        "SELECT pg_advisory_xact_lock(hashtext('stratus-migrate-{schema}'));
         CREATE SCHEMA IF NOT EXISTS \"{schema}\";
         CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL);"
    ))
    .map_err(err("locking".into()))?;
    let applied: i64 = t
        .query_opt("SELECT version FROM schema_version", &[])
        .map_err(err("reading the schema version of".into()))?
        .map(|r| r.get(0))
        .unwrap_or(0);
    let applied = usize::try_from(applied).unwrap_or(0);
    if applied > migrations.len() {
        return Err(Error::new(
            "opening",
            target,
            Cause::Invalid(newer_schema(applied, migrations.len())),
        ));
    }
    for (i, sql) in migrations.iter().enumerate().skip(applied) {
        let version = i + 1;
        t.batch_execute(sql)
            .map_err(err(format!("migrating to version {version}")))?;
    }
    if migrations.len() > applied {
        t.batch_execute(&format!(
            "DELETE FROM schema_version; INSERT INTO schema_version VALUES ({})",
            migrations.len()
        ))
        .map_err(err("recording the schema version of".into()))?;
    }
    t.commit().map_err(err("committing a migration of".into()))
}

/// SQLite's `?1` / `?` placeholders as PostgreSQL's `$1`, outside quoted text.
pub(crate) fn translate(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut next = 1usize;
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                out.push(c);
            }
            (Some(_), c) => out.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                out.push(c);
            }
            (None, '?') => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                let n = digits.parse().unwrap_or(next);
                next = n + 1;
                out.push('$');
                out.push_str(&n.to_string());
            }
            (None, c) => out.push(c),
        }
    }
    out
}

/// The server ended the session or cannot be talked to: nothing more will go through this
/// connection.
pub(crate) fn is_connection_lost(e: &postgres::Error) -> bool {
    e.is_closed()
        || e.code()
            .is_some_and(|c| c.code().starts_with("08") || c.code().starts_with("57P0"))
}

/// Serialization failures and deadlocks: the transaction lost a race and may be run again.
pub(crate) fn is_conflict(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Connections a pool no longer uses are closed by the reaper; the pool still serves.
    #[test]
    fn idle_connections_are_closed_and_the_pool_still_serves() {
        let Ok(url) = std::env::var("STRATUS_TEST_DATABASE") else {
            return;
        };
        let crate::Location::Postgres(target) =
            crate::Location::parse(Some(&url), std::path::Path::new("/")).unwrap()
        else {
            panic!("{url} is not a PostgreSQL URL");
        };
        let schema = format!("test_idle_{}", std::process::id());
        let pool = Pool::open(&target, &schema, &[]).unwrap();
        let before = Instant::now();
        let (a, b) = (pool.lease().unwrap(), pool.lease().unwrap());
        drop((a, b));
        let idle = |p: &Pool| p.shared.idle.lock().unwrap().conns.len();
        assert_eq!(idle(&pool), 2);
        reap_idle(before);
        assert_eq!(idle(&pool), 2, "recently used connections stay");
        reap_idle(Instant::now() + Duration::from_millis(1));
        assert_eq!(
            idle(&pool),
            0,
            "connections idle since before the cutoff are closed"
        );
        let mut lease = pool.lease().unwrap();
        let conn = lease.conn.as_mut().unwrap();
        let one: i32 = conn.client.query_one("SELECT 1", &[]).unwrap().get(0);
        assert_eq!(one, 1);
        drop(lease);
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .unwrap();
    }

    #[test]
    fn placeholders_are_numbered_as_postgres_wants() {
        assert_eq!(
            translate("SELECT a FROM t WHERE x = ?1 AND y = ?2 OR z = ?1"),
            "SELECT a FROM t WHERE x = $1 AND y = $2 OR z = $1"
        );
        assert_eq!(translate("VALUES (?, ?, ?)"), "VALUES ($1, $2, $3)");
        assert_eq!(
            translate("SELECT '?' || \"a?\" FROM t WHERE b = ?1"),
            "SELECT '?' || \"a?\" FROM t WHERE b = $1"
        );
    }
}
