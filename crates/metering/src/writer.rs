//! The writer: records are queued in memory and written in batches (every [`BATCH_WINDOW`] or
//! [`BATCH_SIZE`] records, whichever comes first), each batch in one transaction, on a blocking
//! thread. The invoke path only pushes onto the queue: it never waits on the disk, and it wakes
//! the writer only for the first record of a batch and for a full one, so a busy server does not
//! pay a task wake-up per invocation. A crash loses at most the batch being gathered (one
//! window).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Notify};
use tokio::time::Instant;

use crate::record::Record;
use crate::store::UsageDb;

pub const BATCH_WINDOW: Duration = Duration::from_secs(1);
pub const BATCH_SIZE: usize = 512;
/// Records the queue holds before new ones are dropped (a stalled disk, not a busy one).
pub const QUEUE_CAPACITY: usize = 65_536;
/// How often records older than the retention are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// What the invoke path shares with the writer.
#[derive(Default)]
pub struct Queue {
    records: Mutex<Vec<Record>>,
    wake: Notify,
}

impl Queue {
    /// Queues a record; `false` if the queue is full and the record was dropped.
    pub fn push(&self, r: Record) -> bool {
        let n = {
            let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
            if records.len() >= QUEUE_CAPACITY {
                return false;
            }
            records.push(r);
            records.len()
        };
        if n == 1 || n == BATCH_SIZE {
            self.wake.notify_one();
        }
        true
    }

    fn take(&self) -> Vec<Record> {
        std::mem::take(&mut *self.records.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn len(&self) -> usize {
        self.records.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Requests to the writer other than records.
pub enum Msg {
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

/// The writer's end of the request channel. It outlives a run of [`run`] that panics, so a
/// restarted writer goes on serving the same senders.
pub type Inbox = Arc<tokio::sync::Mutex<mpsc::Receiver<Msg>>>;

/// Runs until a `Close` arrives or every sender is gone.
pub async fn run(inbox: Inbox, queue: Arc<Queue>, db: Db, retention_days: u32) {
    let mut rx = inbox.lock().await;
    // When the batch being gathered is due; `None` while the queue is (known to be) empty.
    let mut due: Option<Instant> = None;
    let mut next_purge = Instant::now();
    loop {
        if Instant::now() >= next_purge {
            purge(&db, retention_days).await;
            next_purge = Instant::now() + PURGE_EVERY;
        }
        let wake = due.map_or(next_purge, |d| d.min(next_purge));
        tokio::select! {
            msg = rx.recv() => {
                write(&db, &mut queue.take()).await;
                due = None;
                match msg {
                    Some(Msg::Flush(done)) => { let _ = done.send(()); }
                    Some(Msg::Close(done)) => { let _ = done.send(()); return; }
                    None => return,
                }
            }
            _ = queue.wake.notified() => {
                if queue.len() >= BATCH_SIZE {
                    write(&db, &mut queue.take()).await;
                    due = None;
                } else if due.is_none() {
                    due = Some(Instant::now() + BATCH_WINDOW);
                }
            }
            _ = tokio::time::sleep_until(wake) => {
                if due.is_some_and(|d| d <= Instant::now()) {
                    write(&db, &mut queue.take()).await;
                    due = None;
                }
            }
        }
    }
}
