//! The durable asynchronous queue: an event is written to SQLite (`async_events` in the
//! metadata database) before whoever queued it is answered, then run by the
//! [dispatcher](crate::dispatcher).

use stratus_core::Result;
use stratus_store::meta::AsyncEvent;

use crate::trigger::Trigger;
use crate::Invoker;

/// An event to queue.
pub struct NewEvent {
    pub function: String,
    pub qualifier: Option<String>,
    pub payload: Vec<u8>,
    /// What queued it.
    pub trigger: Trigger,
    /// The region of the request or resource that queued it (ARNs in records use it).
    pub region: String,
    /// The request id the invocation carries: the one already answered to the caller, or
    /// `None` for a fresh one.
    pub request_id: Option<String>,
    /// The trace header of what queued it (its lineage reaches the invocation).
    pub trace: Option<String>,
}

/// What the services that fire events (S3 notifications, SNS deliveries) hold of the invoker.
pub trait EventQueue: Send + Sync {
    /// Queues events in one transaction: all are durable when this returns, or none is.
    fn enqueue_all(&self, events: Vec<NewEvent>) -> Result<()>;

    /// Whether `name` (with `qualifier`, a version or alias) is a function that can be invoked.
    fn function_exists(&self, name: &str, qualifier: Option<&str>) -> bool;
}

pub(crate) fn now_ms() -> i64 {
    stratus_core::clock::epoch_ms(time::OffsetDateTime::now_utc())
}

impl NewEvent {
    pub(crate) fn into_stored(self, now: i64) -> AsyncEvent {
        AsyncEvent {
            request_id: self
                .request_id
                .unwrap_or_else(|| stratus_core::ids::uuid().to_string()),
            function: self.function,
            qualifier: self.qualifier,
            payload: self.payload,
            trigger: self.trigger.as_str().to_string(),
            region: self.region,
            attempts: 0,
            enqueued_ms: now,
            due_ms: now,
            trace: self.trace,
        }
    }
}

impl Invoker {
    /// Queues one event; it is durable when this returns.
    pub fn enqueue(&self, event: NewEvent) -> Result<()> {
        let ev = event.into_stored(now_ms());
        self.meta.tx(|tx| tx.enqueue(&ev))?;
        self.events.notify_one();
        self.received(&ev);
        Ok(())
    }

    /// The number of queued events and when the oldest was queued (for metrics).
    pub fn queue_stats(&self) -> Result<(u64, Option<i64>)> {
        self.meta.tx(|tx| tx.queue_stats())
    }
}

impl Invoker {
    /// `AsyncEventsReceived`: one event queued.
    pub(crate) fn received(&self, ev: &AsyncEvent) {
        self.async_metric(
            &ev.function,
            ev.qualifier.as_deref(),
            "AsyncEventsReceived",
            1.0,
        );
    }
}

impl EventQueue for Invoker {
    fn enqueue_all(&self, events: Vec<NewEvent>) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        // Ids are drawn once, outside the transaction, which may run more than once.
        let stored: Vec<AsyncEvent> = events.into_iter().map(|e| e.into_stored(now)).collect();
        self.meta.tx(|tx| {
            for e in &stored {
                tx.enqueue(e)?;
            }
            Ok(())
        })?;
        self.events.notify_one();
        for e in &stored {
            self.received(e);
        }
        Ok(())
    }

    fn function_exists(&self, name: &str, qualifier: Option<&str>) -> bool {
        matches!(self.lookup(name, qualifier), Ok(Ok(_)))
    }
}
