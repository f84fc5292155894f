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

/// Nodes starting at once on a fresh database open the same stores at the same moment:
/// each waits for the first to create the schema, and none fails.
#[test]
fn stores_opened_at_once_on_a_fresh_database_all_open() {
    let Ok(url) = std::env::var("STRATUS_TEST_DATABASE") else {
        return;
    };
    let loc = Location::parse(Some(&url), std::path::Path::new("/")).unwrap();
    let schema = format!("test_at_once_{}", std::process::id());
    drop_schema(&url, &schema);
    let start = std::sync::Barrier::new(6);
    std::thread::scope(|s| {
        let opened: Vec<_> = (0..6)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    Db::open(&loc, &spec(&schema, 2)).map(drop)
                })
            })
            .collect();
        for o in opened {
            o.join().unwrap().unwrap();
        }
    });
    drop_schema(&url, &schema);
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

/// Read-modify-write from several threads at once, half of them through a store of their
/// own (on SQLite a connection of their own, as another process has): serializable
/// transactions and their retries lose no increment, and on SQLite a read that turns into
/// a write waits for the other connection's lock instead of failing with "database is
/// locked".
#[test]
fn concurrent_read_modify_writes_lose_nothing() {
    for (loc, name, _dir) in backends("race") {
        let db = Arc::new(Db::open(&loc, &spec(&name, 2)).unwrap());
        db.tx(|t| t.execute("INSERT INTO counter (id, n) VALUES (1, 0)", args![]))
            .unwrap();
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let db = match i % 2 {
                    0 => db.clone(),
                    _ => Arc::new(Db::open(&loc, &spec(&name, 2)).unwrap()),
                };
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

const PARENT_CHILD_SQLITE: &[&str] = &["CREATE TABLE p (name TEXT PRIMARY KEY, n INTEGER);
     CREATE TABLE c (id INTEGER PRIMARY KEY AUTOINCREMENT,
                     p TEXT NOT NULL REFERENCES p(name) ON DELETE CASCADE, body BLOB)"];
const PARENT_CHILD_POSTGRES: &[&str] = &[
    "CREATE TABLE p (name TEXT COLLATE \"C\" PRIMARY KEY, n BIGINT);
     CREATE TABLE c (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                     p TEXT NOT NULL REFERENCES p(name) ON DELETE CASCADE, body BYTEA)",
];

fn parent_child(name: &str) -> StoreSpec<'_> {
    StoreSpec {
        name,
        file: "pc.db",
        options: Options { foreign_keys: true },
        migrations: Migrations {
            sqlite: Schema::Versioned(PARENT_CHILD_SQLITE),
            postgres: PARENT_CHILD_POSTGRES,
        },
    }
}

/// `stratus migrate`'s copy: SQLite to PostgreSQL and back, parents before children, identity
/// values kept and continued, verified, and a second run changes nothing.
#[test]
fn a_store_copies_between_backends_and_again_changes_nothing() {
    let Ok(url) = std::env::var("STRATUS_TEST_DATABASE") else {
        eprintln!("STRATUS_TEST_DATABASE unset: the copy needs PostgreSQL");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let back = tempfile::tempdir().unwrap();
    let lite = Location::Sqlite(dir.path().into());
    let pg = Location::parse(Some(&url), dir.path()).unwrap();
    let schema = format!("test_copy_{}", std::process::id());
    drop_schema(&url, &schema);
    let from = Db::open(&lite, &parent_child("pc")).unwrap();
    from.tx(|t| {
        for i in 0..300i64 {
            t.execute(
                "INSERT INTO p (name, n) VALUES (?1, ?2)",
                args![format!("é{i}"), i],
            )?;
            t.execute(
                "INSERT INTO c (p, body) VALUES (?1, ?2)",
                args![format!("é{i}"), vec![i as u8, 0xff]],
            )?;
        }
        Ok::<_, Error>(())
    })
    .unwrap();
    let to = Db::open(&pg, &parent_child(&schema)).unwrap();
    let first = crate::copy::copy_store(&from, &to).unwrap();
    assert_eq!(
        first
            .iter()
            .map(|t| (t.table.as_str(), t.rows, t.copied))
            .collect::<Vec<_>>(),
        vec![("p", 300, true), ("c", 300, true)]
    );
    let again = crate::copy::copy_store(&from, &to).unwrap();
    assert!(again.iter().all(|t| !t.copied), "idempotent: {again:?}");
    assert_eq!(
        first.iter().map(|t| &t.checksum).collect::<Vec<_>>(),
        again.iter().map(|t| &t.checksum).collect::<Vec<_>>()
    );
    // New rows on the target continue after the copied ids.
    let id: i64 = to
        .tx(|t| {
            t.query_opt(
                "INSERT INTO c (p, body) VALUES ('é1', NULL) RETURNING id",
                args![],
                |r| r.get(0),
            )
        })
        .unwrap()
        .unwrap();
    assert_eq!(id, 301);
    // And back to a fresh SQLite file: the same rows.
    let home = Db::open(&Location::Sqlite(back.path().into()), &parent_child("pc")).unwrap();
    let returned = crate::copy::copy_store(&to, &home).unwrap();
    assert_eq!(
        returned.iter().map(|t| t.rows).collect::<Vec<_>>(),
        vec![300, 301]
    );
}

/// A commit on one connection reaches a listener on another (how nodes learn of each other's
/// changes); a rolled-back transaction notifies no one.
#[test]
fn a_committed_change_is_announced_to_listeners() {
    let Ok(url) = std::env::var("STRATUS_TEST_DATABASE") else {
        eprintln!("STRATUS_TEST_DATABASE unset: notifications need PostgreSQL");
        return;
    };
    let loc = Location::parse(Some(&url), std::path::Path::new("/")).unwrap();
    let channel = format!("test_{}", std::process::id());
    let (tx, rx) = std::sync::mpsc::channel();
    crate::listen(&loc, &channel, move || {
        let _ = tx.send(());
    })
    .unwrap();
    let wait = |what: &str| {
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("{what}"))
    };
    let schema = format!("test_notify_{}", std::process::id());
    drop_schema(&url, &schema);
    let db = Db::open(&loc, &spec(&schema, 1)).unwrap();
    let rolled_back: Result<(), Error> = db.tx(|t| {
        t.notify(&channel)?;
        Err(Error::new(
            "test",
            "t",
            crate::Cause::Invalid("abandon".into()),
        ))
    });
    assert!(rolled_back.is_err());
    db.tx(|t| t.notify(&channel)).unwrap();
    wait("the committed notification");
    assert!(
        rx.recv_timeout(std::time::Duration::from_millis(300))
            .is_err(),
        "only the committed transaction was announced"
    );
}

/// A listener that hears nothing does not call back while its connection lives (the copies it
/// guards stay warm), and calls back within [`crate::NOTIFY_FALLBACK`] once its connection is
/// ended behind its back, when a notification may have been lost.
#[test]
fn a_quiet_listener_calls_back_only_when_its_connection_was_lost() {
    // A database of its own, so ending its connections disturbs no other test.
    let Some(pg) = crate::testing::backends("quiet")
        .into_iter()
        .find(|b| matches!(b.location, Location::Postgres(_)))
    else {
        eprintln!("STRATUS_TEST_DATABASE unset: notifications need PostgreSQL");
        return;
    };
    let loc = &pg.location;
    let (tx, rx) = std::sync::mpsc::channel();
    crate::listen(loc, "quiet", move || {
        let _ = tx.send(std::time::Instant::now());
    })
    .unwrap();
    let fallback = crate::NOTIFY_FALLBACK;
    assert!(
        rx.recv_timeout(fallback * 3).is_err(),
        "no call back while nothing changed and the connection lives"
    );
    pg.end_sessions();
    rx.recv_timeout(fallback * 4)
        .expect("called back after the connection was lost");
}
