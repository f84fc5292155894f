//! The storage layer's conformance tests: each runs on SQLite and, when
//! `STRATUS_TEST_DATABASE` names a PostgreSQL database (CI starts one with
//! `scripts/postgres-dev`), on PostgreSQL in a schema of its own.

use std::sync::Arc;

use crate::{Db, Dialect, Error, Location, Migrations, Options, Schema, StoreSpec};

const SQLITE: &[&str] = &[
    "CREATE TABLE kv (k TEXT PRIMARY KEY, n INTEGER, r REAL, b BLOB, t TEXT)",
    "CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)",
];
const POSTGRES: &[&str] = &[
    "CREATE TABLE kv (k TEXT COLLATE \"C\" PRIMARY KEY, n BIGINT, r DOUBLE PRECISION, b BYTEA, t TEXT)",
    "CREATE TABLE counter (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)",
];

/// Every backend this run can reach, each with a fresh store.
fn backends(tag: &str) -> Vec<(Location, String, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let mut out = vec![(Location::Sqlite(dir.path().into()), "t".to_string(), dir)];
    if let Ok(url) = std::env::var("STRATUS_TEST_DATABASE") {
        let loc = Location::parse(Some(&url), std::path::Path::new("/")).unwrap();
        let schema = format!("test_{tag}_{}", std::process::id());
        drop_schema(&url, &schema);
        out.push((loc, schema, tempfile::tempdir().unwrap()));
    }
    out
}

fn drop_schema(url: &str, schema: &str) {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .unwrap();
}

fn spec<'a>(name: &'a str, migrations: usize) -> StoreSpec<'a> {
    StoreSpec {
        name,
        file: "t.db",
        options: Options::default(),
        migrations: Migrations {
            sqlite: Schema::Versioned(&SQLITE[..migrations]),
            postgres: &POSTGRES[..migrations],
        },
    }
}

#[test]
fn migrations_apply_once_and_a_newer_schema_is_refused() {
    for (loc, name, _dir) in backends("migrate") {
        let db = Db::open(&loc, &spec(&name, 1)).unwrap();
        db.tx(|t| t.execute("INSERT INTO kv (k, n) VALUES (?1, ?2)", args!["a", 1i64]))
            .unwrap();
        drop(db);
        let db = Db::open(&loc, &spec(&name, 2)).unwrap();
        let n: i64 = db
            .tx(|t| t.query_opt("SELECT n FROM kv WHERE k = ?1", args!["a"], |r| r.get(0)))
            .unwrap()
            .unwrap();
        assert_eq!(n, 1, "{loc}: data kept across a migration");
        drop(db);
        let e = Db::open(&loc, &spec(&name, 1))
            .err()
            .expect("older build refused");
        assert!(e.to_string().contains("newer than the 1"), "{loc}: {e}");
    }
}

#[test]
fn values_round_trip_with_their_types() {
    for (loc, name, _dir) in backends("values") {
        let db = Db::open(&loc, &spec(&name, 2)).unwrap();
        let blob: &[u8] = &[0, 255, 1];
        db.tx(|t| {
            t.execute(
                "INSERT INTO kv (k, n, r, b, t) VALUES (?1, ?2, ?3, ?4, ?5)",
                args!["x", 7u32, 1.5f64, blob, None::<String>],
            )?;
            t.execute("INSERT INTO kv (k, n) VALUES (?1, ?2)", args!["y", true])
        })
        .unwrap();
        let row = db
            .tx(|t| {
                t.query_opt("SELECT n, r, b, t FROM kv WHERE k = ?1", args!["x"], |r| {
                    Ok((
                        r.get::<u32>(0)?,
                        r.get::<f64>(1)?,
                        r.get::<Vec<u8>>(2)?,
                        r.get::<Option<String>>(3)?,
                    ))
                })
            })
            .unwrap();
        assert_eq!(row, Some((7, 1.5, blob.to_vec(), None)), "{loc}");
        let flag: bool = db
            .tx(|t| t.query_opt("SELECT n FROM kv WHERE k = 'y'", args![], |r| r.get(0)))
            .unwrap()
            .unwrap();
        assert!(flag, "{loc}");
        let sum: i64 = db
            .tx(|t| {
                t.query_opt(
                    "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM kv",
                    args![],
                    |r| r.get(0),
                )
            })
            .unwrap()
            .unwrap();
        assert_eq!(sum, 8, "{loc}");
    }
}

#[test]
fn a_failed_transaction_changes_nothing_and_changes_are_reported() {
    for (loc, name, _dir) in backends("atomic") {
        let db = Db::open(&loc, &spec(&name, 2)).unwrap();
        let failed: Result<(), Error> = db.tx(|t| {
            t.execute("INSERT INTO kv (k) VALUES ('a')", args![])?;
            t.execute("INSERT INTO kv (k) VALUES ('a')", args![])?;
            Ok(())
        });
        let e = failed.unwrap_err();
        assert!(e.is_unique_violation(), "{loc}: {e}");
        let (n, changed) = db
            .transaction(|t| t.query_opt("SELECT COUNT(*) FROM kv", args![], |r| r.get::<i64>(0)))
            .unwrap();
        assert_eq!((n, changed), (Some(0), false), "{loc}");
        let ((), changed) = db
            .transaction(|t| {
                t.execute("INSERT INTO kv (k) VALUES ('b')", args![])
                    .map(drop)
            })
            .unwrap();
        assert!(changed, "{loc}");
    }
}

#[test]
fn visiting_rows_stops_when_asked_and_pages_through_long_results() {
    for (loc, name, _dir) in backends("visit") {
        let db = Db::open(&loc, &spec(&name, 2)).unwrap();
        db.tx(|t| {
            for i in 0..600i64 {
                t.execute(
                    "INSERT INTO kv (k, n) VALUES (?1, ?2)",
                    args![format!("k{i:04}"), i],
                )?;
            }
            Ok::<_, Error>(())
        })
        .unwrap();
        let all = db
            .tx(|t| t.query_map("SELECT n FROM kv ORDER BY k", args![], |r| r.get::<i64>(0)))
            .unwrap();
        assert_eq!(all, (0..600).collect::<Vec<_>>(), "{loc}");
        let mut seen = 0;
        db.tx(|t| {
            t.query_each("SELECT n FROM kv ORDER BY k", args![], |_| {
                seen += 1;
                Ok::<_, Error>(seen < 300)
            })
        })
        .unwrap();
        assert_eq!(seen, 300, "{loc}");
        assert_eq!(db.dialect() == Dialect::Sqlite, loc.kind() == "sqlite");
    }
}

/// Read-modify-write from several threads at once: serializable transactions and their
/// retries lose no increment (on SQLite the lock makes them take turns).
#[test]
fn concurrent_read_modify_writes_lose_nothing() {
    for (loc, name, _dir) in backends("race") {
        let db = Arc::new(Db::open(&loc, &spec(&name, 2)).unwrap());
        db.tx(|t| t.execute("INSERT INTO counter (id, n) VALUES (1, 0)", args![]))
            .unwrap();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let db = db.clone();
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        db.tx(|t| {
                            let n: i64 = t
                                .query_opt("SELECT n FROM counter WHERE id = 1", args![], |r| {
                                    r.get(0)
                                })?
                                .unwrap();
                            t.execute("UPDATE counter SET n = ?1 WHERE id = 1", args![n + 1])
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for th in threads {
            th.join().unwrap();
        }
        let n: i64 = db
            .tx(|t| t.query_opt("SELECT n FROM counter", args![], |r| r.get(0)))
            .unwrap()
            .unwrap();
        assert_eq!(n, 100, "{loc}");
    }
}

#[test]
fn an_unreachable_server_is_reported_as_unavailable() {
    // A port nothing listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let loc = Location::parse(
        Some(&format!("postgres://nobody:pw@127.0.0.1:{port}/x")),
        std::path::Path::new("/"),
    )
    .unwrap();
    let e = Db::open(&loc, &spec("t", 1))
        .err()
        .expect("nothing listens");
    assert!(e.is_unavailable(), "{e}");
    assert!(!e.to_string().contains("pw"), "no password in errors: {e}");
}
