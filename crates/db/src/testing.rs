//! Stores for unit tests on every backend this run can reach (the `testing` feature): SQLite
//! in a temporary directory, and, when `STRATUS_TEST_DATABASE` names a PostgreSQL server, a
//! fresh database of the test's own there (dropped again when the test is done).

use crate::Location;

pub struct Backend {
    pub location: Location,
    /// The SQLite directory (kept alive), or the PostgreSQL database to drop afterwards.
    _dir: Option<tempfile::TempDir>,
    admin: Option<(String, String)>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some((url, name)) = &self.admin {
            admin(
                url,
                &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            );
        }
    }
}

impl Backend {
    /// Ends every session on this backend's PostgreSQL database, waiting for each to go (a
    /// restart or an operator's `pg_terminate_backend`, as a store sees it); nothing on SQLite.
    pub fn end_sessions(&self) {
        if let Some((url, name)) = &self.admin {
            admin(
                url,
                &format!(
                    "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity \
                     WHERE datname = '{name}'"
                ),
            );
        }
    }
}

/// Runs `sql` on the server on a thread of its own: the blocking client must not run on an
/// async test's runtime thread.
fn admin(url: &str, sql: &str) {
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut c =
                postgres::Client::connect(url, postgres::NoTls).expect("test database server");
            c.batch_execute(sql)
                .expect("administering the test database");
        })
        .join()
        .expect("administering the test database");
    });
}

/// One fresh location per backend; `tag` names the test (databases must not collide).
pub fn backends(tag: &str) -> Vec<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let mut out = vec![Backend {
        location: Location::Sqlite(dir.path().into()),
        _dir: Some(dir),
        admin: None,
    }];
    if let Ok(url) = std::env::var("STRATUS_TEST_DATABASE") {
        let name = format!("t_{tag}_{}", std::process::id());
        admin(
            &url,
            &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        );
        admin(&url, &format!("CREATE DATABASE \"{name}\""));
        let Ok(Location::Postgres(mut config)) = Location::parse(Some(&url), "/".as_ref()) else {
            panic!("STRATUS_TEST_DATABASE is not a PostgreSQL URL");
        };
        config.dbname(&name);
        out.push(Backend {
            location: Location::Postgres(config),
            _dir: None,
            admin: Some((url, name)),
        });
    }
    out
}
