//! The writer: records come in on a bounded channel and are written in batches (every
//! [`BATCH_WINDOW`] or [`BATCH_SIZE`] records, whichever comes first), each batch in one
//! transaction, on a blocking thread. The invoke path only ever `try_send`s: it never waits on
//! the disk. A crash loses at most the batch being gathered (one window).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::record::Record;
use crate::store::UsageDb;

pub const BATCH_WINDOW: Duration = Duration::from_secs(1);
pub const BATCH_SIZE: usize = 512;
/// Records the channel holds before new ones are dropped (a stalled disk, not a busy one).
pub const QUEUE_CAPACITY: usize = 65_536;
/// How often records older than the retention are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

pub enum Msg {
    Record(Record),
    /// Answered once everything sent before it is committed.
    Flush(oneshot::Sender<()>),
    /// Flush, answer, and stop.
    Close(oneshot::Sender<()>),
}

pub type Db = Arc<Mutex<UsageDb>>;

pub fn lock(db: &Db) -> std::sync::MutexGuard<'_, UsageDb> {
    db.lock().unwrap_or_else(|p| p.into_inner())
}

async fn write(db: &Db, batch: &mut Vec<Record>) {
    if batch.is_empty() {
        return;
    }
    let records = std::mem::take(batch);
    let db = db.clone();
    let n = records.len();
    let done = tokio::task::spawn_blocking(move || lock(&db).insert(&records)).await;
    match done {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(%e, records = n, "writing metering records"),
        Err(e) => tracing::error!(%e, records = n, "metering writer task failed"),
    }
}

async fn purge(db: &Db, retention_days: u32) {
    if retention_days == 0 {
        return;
    }
    let cutoff = crate::now_ms() - i64::from(retention_days) * 86_400_000;
    let db = db.clone();
    match tokio::task::spawn_blocking(move || lock(&db).delete_before(cutoff)).await {
        Ok(Ok(0)) => {}
        Ok(Ok(n)) => tracing::info!(records = n, "deleted metering records past retention"),
        Ok(Err(e)) => tracing::error!(%e, "deleting old metering records"),
        Err(e) => tracing::error!(%e, "metering purge task failed"),
    }
}

/// Runs until a `Close` arrives or every sender is gone.
pub async fn run(mut rx: mpsc::Receiver<Msg>, db: Db, retention_days: u32) {
    let mut batch: Vec<Record> = Vec::with_capacity(BATCH_SIZE);
    let mut due = Instant::now() + BATCH_WINDOW;
    let mut next_purge = Instant::now();
    loop {
        if Instant::now() >= next_purge {
            purge(&db, retention_days).await;
            next_purge = Instant::now() + PURGE_EVERY;
        }
        let wake = if batch.is_empty() {
            next_purge
        } else {
            due.min(next_purge)
        };
        let msg = tokio::select! {
            m = rx.recv() => m,
            _ = tokio::time::sleep_until(wake) => {
                write(&db, &mut batch).await;
                continue;
            }
        };
        match msg {
            Some(Msg::Record(r)) => {
                if batch.is_empty() {
                    due = Instant::now() + BATCH_WINDOW;
                }
                batch.push(r);
                if batch.len() >= BATCH_SIZE {
                    write(&db, &mut batch).await;
                }
            }
            Some(Msg::Flush(done)) => {
                write(&db, &mut batch).await;
                let _ = done.send(());
            }
            Some(Msg::Close(done)) => {
                write(&db, &mut batch).await;
                let _ = done.send(());
                return;
            }
            None => {
                write(&db, &mut batch).await;
                return;
            }
        }
    }
}
