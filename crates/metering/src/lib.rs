//! Metering for Stratus: one record per invocation (throttles included), written in batches
//! to its own store (a SQLite file, or a PostgreSQL schema) without slowing the invoke path; the price table; usage reports over
//! a window; and Prometheus metrics fed by the same records.
//!
//! # Layout
//! - [`record`]: what is recorded per invocation.
//! - [`pricing`]: the price table and what a record costs.
//! - [`store`]: where records are kept (`usage.db`, or the `usage` schema).
//! - [`writer`]: the batching writer task.
//! - [`usage`]: grouping records of a window into a report.
//! - [`metrics`]: process-lifetime counters and the text exposition.

pub mod metrics;
pub mod pricing;
pub mod record;
pub mod store;
pub mod usage;
pub mod writer;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

pub use metrics::{EnvironmentGauge, Gauges};
pub use pricing::Prices;
pub use record::{billed_ms, Outcome, Record, Trigger};
pub use stratus_db::Location;
pub use usage::{Query, Report};

use writer::{Db, Msg};

#[cfg(test)]
pub(crate) mod testing;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// The metering service: takes records, answers usage queries and renders metrics.
pub struct Meter {
    queue: Arc<writer::Queue>,
    tx: mpsc::Sender<Msg>,
    db: Db,
    prices: Prices,
    live: metrics::Live,
    dropped: AtomicU64,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Starts one run of the writer each time it is called: once at start-up, and again if a run
/// panics (when a supervisor is in charge of it).
pub type WriterRuns = Box<dyn FnMut() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

impl Meter {
    /// Opens (or creates) the database and starts the writer on a plain task; must run inside
    /// a Tokio runtime.
    pub fn open(
        location: &Location,
        prices: Prices,
        retention_days: u32,
    ) -> Result<Arc<Meter>, String> {
        Self::open_with(location, prices, retention_days, |mut runs| {
            tokio::spawn(async move { runs().await })
        })
    }

    /// Opens (or creates) the database and hands the writer's runs to `spawn`, which returns
    /// the task that ends when the writer stops (a supervisor restarts a run that panics).
    pub fn open_with(
        location: &Location,
        prices: Prices,
        retention_days: u32,
        spawn: impl FnOnce(WriterRuns) -> tokio::task::JoinHandle<()>,
    ) -> Result<Arc<Meter>, String> {
        prices.validate()?;
        let db = store::UsageDb::open(location).map_err(|e| e.to_string())?;
        let db = Arc::new(Mutex::new(db));
        let queue = Arc::new(writer::Queue::default());
        let (tx, rx) = mpsc::channel(16);
        let inbox: writer::Inbox = Arc::new(tokio::sync::Mutex::new(rx));
        let (q, d) = (queue.clone(), db.clone());
        let task = spawn(Box::new(move || {
            Box::pin(writer::run(
                inbox.clone(),
                q.clone(),
                d.clone(),
                retention_days,
            ))
        }));
        Ok(Arc::new(Meter {
            queue,
            tx,
            db,
            prices,
            live: metrics::Live::default(),
            dropped: AtomicU64::new(0),
            task: Mutex::new(Some(task)),
        }))
    }

    pub fn prices(&self) -> &Prices {
        &self.prices
    }

    /// Counts the invocation and queues its record for the disk; never waits.
    pub fn record(&self, r: Record) {
        self.live.observe(&r);
        if !self.queue.push(r) {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, "metering queue full: records dropped");
            }
        }
    }

    /// Counts an invocation of a function version stopped as part of a recursive loop (it
    /// ran nothing, so it has no record).
    pub fn recursion_dropped(&self, function: &str, version: &str) {
        self.live.recursion_dropped(function, version);
    }

    /// Waits until every record taken so far is committed.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Flushes what is pending and stops the writer (graceful shutdown).
    pub async fn close(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Close(done)).await.is_ok() {
            let _ = wait.await;
        }
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// The usage report of a window; includes every record taken before the call.
    pub async fn usage(&self, q: Query) -> Result<Report, String> {
        self.flush().await;
        let db = self.db.clone();
        let records =
            tokio::task::spawn_blocking(move || writer::lock(&db).window(q.from_ms, q.to_ms))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
        Ok(usage::summarize(&records, &q, &self.prices))
    }

    /// The records that started in `[from_ms, to_ms)`, including every record taken before
    /// the call (what CloudWatch's Lambda metrics are computed from).
    pub async fn records(&self, from_ms: i64, to_ms: i64) -> Result<Vec<Record>, String> {
        self.flush().await;
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || writer::lock(&db).window(from_ms, to_ms))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }

    /// One record per distinct function, version, alias and outcome since `from_ms`
    /// ([`store::UsageDb::kinds`]).
    pub async fn kinds(&self, from_ms: i64) -> Result<Vec<Record>, String> {
        self.flush().await;
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || writer::lock(&db).kinds(from_ms))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }

    /// The Prometheus exposition, with the gauges read by the caller.
    pub fn render_metrics(&self, mut gauges: Gauges) -> String {
        gauges.dropped_records = self.dropped.load(Ordering::Relaxed);
        metrics::render(&self.live, &gauges)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, start_ms: i64) -> Record {
        Record {
            request_id: id.into(),
            function: "f".into(),
            version: "$LATEST".into(),
            alias: None,
            trigger: Trigger::Direct,
            start_ms,
            duration_ms: 1.5,
            billed_ms: 2,
            init_duration_ms: None,
            memory_mb: 128,
            max_memory_mb: 9,
            architecture: "x86_64".into(),
            outcome: Outcome::Success,
            cold: false,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_are_visible_at_once_and_survive_close() {
        for b in testing::backends("visible") {
            let now = now_ms();
            let q = Query {
                from_ms: now - 1000,
                to_ms: now + 1000,
                group_by: usage::GroupBy::Function,
            };
            let meter = Meter::open(&b.location, Prices::default(), 30).unwrap();
            meter.record(rec("a", now));
            meter.record(rec("b", now));
            // Within the batch window, yet the report already has them.
            assert_eq!(meter.usage(q).await.unwrap().total.invocations, 2);
            meter.record(rec("c", now));
            meter.close().await;
            let again = Meter::open(&b.location, Prices::default(), 30).unwrap();
            assert_eq!(again.usage(q).await.unwrap().total.invocations, 3);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_reach_the_disk_within_the_window_unasked() {
        for b in testing::backends("unasked") {
            let meter = Meter::open(&b.location, Prices::default(), 30).unwrap();
            let on_disk = |m: &Meter| writer::lock(&m.db).window(0, i64::MAX).unwrap().len();
            let now = now_ms();
            meter.record(rec("a", now));
            meter.record(rec("b", now));
            for i in 0..writer::BATCH_SIZE {
                meter.record(rec(&format!("full-{i}"), now));
            }
            // A full batch is written at once, without waiting for the window.
            for _ in 0..100 {
                if on_disk(&meter) >= writer::BATCH_SIZE {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            assert!(on_disk(&meter) >= writer::BATCH_SIZE);
            meter.record(rec("late", now));
            tokio::time::sleep(writer::BATCH_WINDOW + std::time::Duration::from_millis(500)).await;
            assert_eq!(
                on_disk(&meter),
                writer::BATCH_SIZE + 3,
                "the rest after one window"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_past_retention_are_deleted_on_start() {
        for b in testing::backends("retention") {
            let now = now_ms();
            let meter = Meter::open(&b.location, Prices::default(), 30).unwrap();
            meter.record(rec("old", now - 31 * 86_400_000));
            meter.record(rec("new", now - 29 * 86_400_000));
            meter.close().await;
            let again = Meter::open(&b.location, Prices::default(), 30).unwrap();
            let q = Query {
                from_ms: 0,
                to_ms: now,
                group_by: usage::GroupBy::Day,
            };
            let r = again.usage(q).await.unwrap();
            assert_eq!(r.total.invocations, 1);
        }
    }
}
