//! Membership: the `cluster` store's table of nodes. Each node upserts its own row every
//! [`HEARTBEAT`] with the database's clock (so no two machines' clocks are compared); a node
//! whose heartbeat is older than the lease is gone, and the first node to notice deletes its
//! row. Joins and leaves are announced on [`CHANNEL`], so every node re-reads the list at
//! once rather than at its next heartbeat. The list is kept in memory: placing an invocation
//! never waits on the database.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use stratus_db::{args, Db, Dialect, Error, Location, Migrations, Schema, StoreSpec, Tx};

/// The notification channel joins and leaves are announced on.
pub const CHANNEL: &str = "stratus_cluster";
/// How often a node renews its row.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

const SQLITE: &[&str] = &[
    "
CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    heartbeat_ms INTEGER NOT NULL,
    draining INTEGER NOT NULL,
    in_flight INTEGER NOT NULL,
    idle INTEGER NOT NULL,
    environments TEXT NOT NULL
);",
    RUNNING_COLUMN,
];

const POSTGRES: &[&str] = &[
    "
CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    heartbeat_ms BIGINT NOT NULL,
    draining BIGINT NOT NULL,
    in_flight BIGINT NOT NULL,
    idle BIGINT NOT NULL,
    environments TEXT NOT NULL
);",
    RUNNING_COLUMN,
];

/// Each node's running invocations (a JSON [`Running`]), which admission on the others counts.
const RUNNING_COLUMN: &str = "ALTER TABLE nodes ADD COLUMN running TEXT NOT NULL DEFAULT '{}';";

/// The database's clock in milliseconds since the epoch, as each backend writes it.
fn now_ms(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        Dialect::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
    }
}

/// A node's own summary of its load, renewed with each heartbeat.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Load {
    /// Invocations running now.
    pub in_flight: u64,
    /// Warm environments waiting for work.
    pub idle: u64,
    /// Environments per function version (`[{function, version, idle, busy}]`).
    pub environments: serde_json::Value,
    /// The invocations its admission counts, which the other nodes' admission adds to theirs.
    pub running: Running,
}

/// A node's running invocations, as admission counts them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Running {
    /// Invocations drawing on the account's shared pool (functions without a reservation).
    #[serde(default)]
    pub account: u64,
    /// Invocations per function, only functions with some running.
    #[serde(default)]
    pub functions: BTreeMap<String, u64>,
}

impl Running {
    /// The sum of what `nodes` run, leaving out node `except` (this one).
    pub fn of_others(nodes: &[Node], except: &str) -> Running {
        let mut sum = Running::default();
        for n in nodes.iter().filter(|n| n.id != except) {
            sum.account += n.running.account;
            for (f, c) in &n.running.functions {
                *sum.functions.entry(f.clone()).or_default() += c;
            }
        }
        sum
    }
}

/// A live node, as the last read of the table saw it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Node {
    pub id: String,
    /// The URL other nodes reach it at.
    pub address: String,
    pub started_ms: i64,
    /// How long it has been up, by the database's clock, when read.
    pub uptime_ms: i64,
    /// How old its heartbeat was when read, by the database's clock.
    pub heartbeat_age_ms: i64,
    pub draining: bool,
    pub in_flight: u64,
    pub idle: u64,
    pub environments: serde_json::Value,
    pub running: Running,
}

impl Node {
    /// A node known only by id and address, before any row of it has been read.
    pub fn unread(id: &str, address: &str) -> Node {
        Node {
            id: id.into(),
            address: address.into(),
            started_ms: 0,
            uptime_ms: 0,
            heartbeat_age_ms: 0,
            draining: false,
            in_flight: 0,
            idle: 0,
            environments: serde_json::Value::Null,
            running: Running::default(),
        }
    }
}

/// This node's membership, and its view of the others.
pub struct Membership {
    db: Db,
    id: String,
    address: String,
    lease: Duration,
    /// Whether this node's row exists (it registered, and no one has expired it since).
    registered: AtomicBool,
    /// Whether this node is draining (shutting down): set once, never cleared; a row this
    /// node writes afresh keeps it.
    draining: AtomicBool,
    live: RwLock<Arc<Vec<Node>>>,
    /// The running counts this node last wrote to its row.
    published: std::sync::Mutex<Running>,
}

impl Membership {
    fn spec() -> StoreSpec<'static> {
        StoreSpec {
            name: "cluster",
            file: "cluster.db",
            options: stratus_db::Options::default(),
            migrations: Migrations {
                sqlite: Schema::Versioned(SQLITE),
                postgres: POSTGRES,
            },
        }
    }

    /// Opens the `cluster` store at `location` for node `id`, reachable at `address`.
    pub fn open(
        location: &Location,
        id: &str,
        address: &str,
        lease: Duration,
    ) -> Result<Membership, Error> {
        Ok(Membership {
            db: Db::open(location, &Self::spec())?,
            id: id.to_string(),
            address: address.to_string(),
            lease,
            registered: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            live: RwLock::new(Arc::new(Vec::new())),
            published: std::sync::Mutex::new(Running::default()),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The live nodes as last read (this node among them once it has registered).
    pub fn live(&self) -> Arc<Vec<Node>> {
        self.live.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Renews this node's row (registering it, and announcing the join, when it has none),
    /// deletes the rows of nodes past their lease (announcing that), and re-reads the list.
    /// A change in the running counts is announced too, so the others' admission counts it
    /// at once rather than at their next heartbeat.
    pub fn heartbeat(&self, load: &Load) -> Result<(), Error> {
        let environments = load.environments.to_string();
        let running = serde_json::to_string(&load.running).expect("counts serialize");
        let changed = *self.published.lock().unwrap_or_else(|p| p.into_inner()) != load.running;
        self.db.tx(|t| {
            let renewed = self.registered.load(Ordering::Relaxed)
                && self.renew(t, load, &environments, &running)?;
            if !renewed {
                self.register(t, load, &environments, &running)?;
            }
            if !renewed || changed {
                t.notify(CHANNEL)?;
            }
            Ok::<_, Error>(())
        })?;
        *self.published.lock().unwrap_or_else(|p| p.into_inner()) = load.running.clone();
        self.registered.store(true, Ordering::Relaxed);
        self.expire()?;
        self.refresh()
    }

    /// Updates this node's row; false when there is none (another node expired it).
    fn renew(
        &self,
        t: &Tx<'_>,
        load: &Load,
        environments: &str,
        running: &str,
    ) -> Result<bool, Error> {
        let sql = format!(
            "UPDATE nodes SET heartbeat_ms = {now}, address = ?2, in_flight = ?3, idle = ?4,
             environments = ?5, running = ?6 WHERE id = ?1",
            now = now_ms(t.dialect())
        );
        let n = t.execute(
            &sql,
            args![
                self.id,
                self.address,
                load.in_flight,
                load.idle,
                environments,
                running
            ],
        )?;
        Ok(n > 0)
    }

    /// Writes this node's row afresh: a node restarted with the same id starts again.
    fn register(
        &self,
        t: &Tx<'_>,
        load: &Load,
        environments: &str,
        running: &str,
    ) -> Result<(), Error> {
        let sql = format!(
            "INSERT INTO nodes (id, address, started_ms, heartbeat_ms, draining, in_flight, idle,
             environments, running) VALUES (?1, ?2, {now}, {now}, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (id) DO UPDATE SET address = excluded.address,
             started_ms = excluded.started_ms, heartbeat_ms = excluded.heartbeat_ms,
             draining = excluded.draining, in_flight = excluded.in_flight, idle = excluded.idle,
             environments = excluded.environments, running = excluded.running",
            now = now_ms(t.dialect())
        );
        t.execute(
            &sql,
            args![
                self.id,
                self.address,
                self.is_draining(),
                load.in_flight,
                load.idle,
                environments,
                running
            ],
        )?;
        tracing::info!(node = %self.id, address = %self.address, "joined the cluster");
        Ok(())
    }

    /// Deletes the rows of nodes whose heartbeat is older than the lease.
    fn expire(&self) -> Result<(), Error> {
        let lease = self.lease_ms();
        self.db.tx(|t| {
            let sql = format!(
                "DELETE FROM nodes WHERE heartbeat_ms < {now} - ?1",
                now = now_ms(t.dialect())
            );
            if t.execute(&sql, args![lease])? > 0 {
                tracing::info!("nodes past their lease left the cluster");
                t.notify(CHANNEL)?;
            }
            Ok::<_, Error>(())
        })
    }

    /// Re-reads the live nodes (heartbeat within the lease) into memory.
    pub fn refresh(&self) -> Result<(), Error> {
        let lease = self.lease_ms();
        let nodes = self.db.tx(|t| {
            let sql = format!(
                "SELECT id, address, started_ms, {now} - heartbeat_ms, draining, in_flight, idle,
                 environments, {now} - started_ms, running FROM nodes WHERE heartbeat_ms >= {now} - ?1 ORDER BY id",
                now = now_ms(t.dialect())
            );
            t.query_map(&sql, args![lease], |r| {
                let environments: String = r.get(7)?;
                let running: String = r.get(9)?;
                Ok(Node {
                    id: r.get(0)?,
                    address: r.get(1)?,
                    started_ms: r.get(2)?,
                    uptime_ms: r.get(8)?,
                    heartbeat_age_ms: r.get(3)?,
                    draining: r.get(4)?,
                    in_flight: r.get(5)?,
                    idle: r.get(6)?,
                    environments: serde_json::from_str(&environments).unwrap_or_default(),
                    running: serde_json::from_str(&running).unwrap_or_default(),
                })
            })
        })?;
        *self.live.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(nodes);
        Ok(())
    }

    /// Whether [`Membership::drain`] was called.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Marks this node as draining in memory only (see [`Membership::drain`]).
    pub fn mark_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Marks this node as draining, in memory at once and then in its row, and announces it,
    /// so every other node re-reads the list and stops placing work here. The row stays (the
    /// heartbeat keeps it) until [`Membership::leave`].
    pub fn drain(&self) -> Result<(), Error> {
        self.mark_draining();
        self.db.tx(|t| {
            t.execute(
                "UPDATE nodes SET draining = ?2 WHERE id = ?1",
                args![self.id, true],
            )?;
            t.notify(CHANNEL)
        })?;
        tracing::info!(node = %self.id, "draining: no new work is placed on this node");
        self.refresh()
    }

    /// Deletes this node's row (a clean shutdown) and announces it.
    pub fn leave(&self) -> Result<(), Error> {
        self.db.tx(|t| {
            t.execute("DELETE FROM nodes WHERE id = ?1", args![self.id])?;
            t.notify(CHANNEL)
        })?;
        self.registered.store(false, Ordering::Relaxed);
        tracing::info!(node = %self.id, "left the cluster");
        Ok(())
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(in_flight: u64) -> Load {
        Load {
            in_flight,
            idle: 1,
            environments: serde_json::json!([{"function": "f", "version": "1", "idle": 1, "busy": 0}]),
            running: Running {
                account: in_flight,
                functions: (in_flight > 0)
                    .then(|| ("f".to_string(), in_flight))
                    .into_iter()
                    .collect(),
            },
        }
    }

    #[test]
    fn nodes_join_renew_and_leave() {
        for b in stratus_db::testing::backends("cluster_join") {
            let lease = Duration::from_secs(5);
            let a = Membership::open(&b.location, "a", "http://127.0.0.1:1", lease).unwrap();
            let c = Membership::open(&b.location, "c", "http://127.0.0.1:3", lease).unwrap();
            assert!(
                a.live().is_empty(),
                "nothing read before the first heartbeat"
            );
            a.heartbeat(&load(2)).unwrap();
            c.heartbeat(&load(0)).unwrap();
            a.refresh().unwrap();
            let ids: Vec<_> = a.live().iter().map(|n| n.id.clone()).collect();
            assert_eq!(ids, ["a", "c"]);
            let first = a.live()[0].clone();
            assert_eq!(first.address, "http://127.0.0.1:1");
            assert_eq!(first.in_flight, 2);
            assert!(!first.draining);
            assert!((0..5000).contains(&first.heartbeat_age_ms), "{first:?}");
            assert_eq!(first.environments[0]["function"], "f");
            // A renewal keeps the start time and updates the load.
            a.heartbeat(&load(7)).unwrap();
            let again = a.live()[0].clone();
            assert_eq!((again.started_ms, again.in_flight), (first.started_ms, 7));
            assert_eq!(again.running.account, 7);
            assert_eq!(again.running.functions["f"], 7);
            // Each node counts what the others run, not itself.
            c.refresh().unwrap();
            let others = Running::of_others(&c.live(), "c");
            assert_eq!((others.account, others.functions["f"]), (7, 7));
            assert_eq!(Running::of_others(&a.live(), "a").functions.get("f"), None);
            c.leave().unwrap();
            a.refresh().unwrap();
            assert_eq!(a.live().len(), 1);
        }
    }

    #[test]
    fn a_draining_node_stays_listed_as_draining_even_when_it_registers_again() {
        for b in stratus_db::testing::backends("cluster_drain") {
            let lease = Duration::from_secs(5);
            let a = Membership::open(&b.location, "a", "http://a", lease).unwrap();
            let c = Membership::open(&b.location, "c", "http://c", lease).unwrap();
            a.heartbeat(&Load::default()).unwrap();
            c.heartbeat(&Load::default()).unwrap();
            assert!(!c.is_draining());
            c.drain().unwrap();
            assert!(c.is_draining());
            a.refresh().unwrap();
            let draining: Vec<_> = a
                .live()
                .iter()
                .map(|n| (n.id.clone(), n.draining))
                .collect();
            assert_eq!(draining, [("a".into(), false), ("c".into(), true)]);
            // A renewal keeps the flag; so does writing the row afresh after it was expired.
            c.heartbeat(&Load::default()).unwrap();
            c.db.tx(|t| t.execute("DELETE FROM nodes WHERE id = 'c'", args![]))
                .unwrap();
            c.registered.store(false, Ordering::Relaxed);
            c.heartbeat(&Load::default()).unwrap();
            a.refresh().unwrap();
            assert!(a.live().iter().any(|n| n.id == "c" && n.draining));
        }
    }

    #[test]
    fn a_node_past_its_lease_is_gone_and_comes_back_with_its_next_heartbeat() {
        for b in stratus_db::testing::backends("cluster_lease") {
            let short = Duration::from_millis(300);
            let a = Membership::open(&b.location, "a", "http://a", short).unwrap();
            let z = Membership::open(&b.location, "z", "http://z", short).unwrap();
            a.heartbeat(&Load::default()).unwrap();
            z.heartbeat(&Load::default()).unwrap();
            assert_eq!(a.live().len(), 1, "a's read came before z joined");
            std::thread::sleep(Duration::from_millis(600));
            // Only `a` renews: `z` is past its lease, read as gone and deleted.
            a.heartbeat(&Load::default()).unwrap();
            let ids: Vec<_> = a.live().iter().map(|n| n.id.clone()).collect();
            assert_eq!(ids, ["a"]);
            // `z` finds its row gone and registers again.
            z.heartbeat(&Load::default()).unwrap();
            assert_eq!(z.live().len(), 2);
        }
    }
}
