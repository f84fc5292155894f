//! The worker behind asynchronous invocation: it runs queued events with AWS's semantics —
//! at-least-once, function errors retried (MaximumRetryAttempts, default 2, after a delay),
//! throttles and platform faults retried with backoff until MaximumEventAgeInSeconds, and the
//! outcome sent to the OnSuccess / OnFailure destination as an invocation record. It stops
//! when its shutdown token is cancelled; attempts already started run on to their end.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use stratus_core::arn::function_arn;
use stratus_core::function::FunctionConfig;
use stratus_core::names::{FunctionRef, Qualifier};
use stratus_engine::InvokeOutcome;
use stratus_store::meta::AsyncEvent;
use tokio_util::sync::CancellationToken;

use crate::queue::{now_ms, NewEvent};
use crate::resolve::Resolved;
use crate::run::{Call, Failure};
use crate::settings::{EventInvokeConfig, KIND};
use crate::trigger::Trigger;
use crate::Invoker;

/// How many queued events run at once.
pub const PARALLEL: usize = 64;
/// How long a claimed event is leased before another pass (or node) may take it again: longer
/// than the longest function timeout (15 minutes) plus its start, so an attempt ends before its
/// lease does and nothing needs renewing.
const LEASE_MS: i64 = 15 * 60 * 1000 + 60_000;
/// How long the worker sleeps when the queue is empty and nothing wakes it.
const IDLE_POLL: Duration = Duration::from_millis(250);

/// How an asynchronous invocation ended, as its invocation record's `condition` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Condition {
    Success,
    RetriesExhausted,
    EventAgeExceeded,
    ZeroReservedConcurrency,
    /// Stopped by recursive loop detection (not retried).
    RecursiveInvocation,
}

impl Condition {
    fn as_str(self) -> &'static str {
        match self {
            Condition::Success => "Success",
            Condition::RetriesExhausted => "RetriesExhausted",
            Condition::EventAgeExceeded => "EventAgeExceeded",
            Condition::ZeroReservedConcurrency => "ZeroReservedConcurrency",
            Condition::RecursiveInvocation => "RecursiveInvocationDetected",
        }
    }
}

/// What one attempt runs: the resolved version and the event-invoke settings of the
/// qualifier the event names.
struct Target {
    resolved: Resolved,
    settings: EventInvokeConfig,
}

impl Invoker {
    /// Makes the events this node's previous process had claimed due again (other nodes'
    /// leases stay theirs until they lapse). Called once at start-up, not when the worker is
    /// restarted after a panic: the attempts it started then are still running in their own
    /// tasks.
    pub fn release_interrupted(&self) {
        match self.meta.tx(|tx| tx.release_leases(&self.node, now_ms())) {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                events = n,
                "re-queued asynchronous events interrupted by a restart"
            ),
            Err(e) => tracing::error!(%e, "releasing interrupted async events"),
        }
    }

    /// In a cluster: makes due again the events leased by nodes that are not among `live`
    /// (they died mid-event), and wakes the dispatcher to take them. Called by the membership
    /// sweep after each heartbeat with the list it just read; see
    /// [`stratus_store::meta::Tx::release_orphaned`].
    pub fn release_orphaned(&self, live: &[String]) {
        if !live.contains(&self.node) {
            // This node's own row was not read: the list is not one to act on.
            return;
        }
        match self.meta.tx(|tx| tx.release_orphaned(live, now_ms())) {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(
                    events = n,
                    "re-queued asynchronous events whose node left the cluster"
                );
                self.events.notify_one();
            }
            Err(e) => tracing::error!(%e, "releasing the async events of nodes that left"),
        }
    }

    /// Whether this node may claim events: always alone; in a cluster once every other
    /// node's list shows it (see [`stratus_cluster::Cluster::settled`]), so no node's sweep
    /// takes it for dead and releases what it claims.
    fn may_claim(&self) -> bool {
        self.cluster().is_none_or(|c| c.settled())
    }

    /// Runs queued events until `shutdown` is cancelled (or a panic, after which the supervisor
    /// starts it again; the slots bounding parallel attempts are the invoker's, so attempts
    /// started before the panic still count).
    pub async fn dispatch(self: Arc<Self>, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let free = self.slots.available_permits();
            let due = if free == 0 || !self.may_claim() {
                Ok(Vec::new())
            } else {
                self.meta
                    .tx(|tx| tx.claim_due(&self.node, now_ms(), now_ms() + LEASE_MS, free))
            };
            let pause = match due {
                Ok(events) if !events.is_empty() => {
                    self.start_attempts(events);
                    continue;
                }
                Ok(_) => IDLE_POLL,
                Err(e) => {
                    tracing::error!(%e, "reading the async queue");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = self.events.notified() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Starts one task per claimed event, each holding a slot until it ends.
    fn start_attempts(self: &Arc<Self>, events: Vec<AsyncEvent>) {
        for ev in events {
            // Events were claimed for the free slots only, and only this task takes them.
            let Ok(permit) = self.slots.clone().try_acquire_owned() else {
                self.retry_later(&ev, ev.attempts, &Failure::Platform);
                continue;
            };
            let invoker = self.clone();
            tokio::spawn(async move {
                invoker.attempt(ev).await;
                drop(permit);
            });
        }
    }

    /// The version and settings an event's attempt runs with; `Ok(None)` if the function (or
    /// its version or alias) no longer exists.
    fn target(&self, ev: &AsyncEvent) -> Result<Option<Target>, Failure> {
        let resolved = match self.lookup(&ev.function, ev.qualifier.as_deref())? {
            Ok(r) => r,
            Err(_missing) => return Ok(None),
        };
        let key = match Qualifier::parse(ev.qualifier.as_deref()) {
            Qualifier::Latest => stratus_core::function::LATEST.to_string(),
            Qualifier::Version(n) => n.to_string(),
            Qualifier::Alias(a) => a,
        };
        let settings = self
            .meta
            .tx(|tx| tx.document(&ev.function, KIND, &key))?
            .unwrap_or_default();
        Ok(Some(Target { resolved, settings }))
    }

    async fn attempt(&self, ev: AsyncEvent) {
        let target = match self.target(&ev) {
            Ok(Some(t)) => t,
            Ok(None) => {
                tracing::warn!(function = %ev.function, request_id = %ev.request_id, "dropping event for a function that no longer exists");
                return self.finish(&ev);
            }
            Err(e) => return self.retry_later(&ev, ev.attempts, &e),
        };
        let max_age_ms = target.settings.max_age_ms();
        if now_ms() - ev.enqueued_ms > max_age_ms {
            return self.conclude(&ev, &target, Condition::EventAgeExceeded, None);
        }
        if target.resolved.reserved == Some(0) {
            return self.conclude(&ev, &target, Condition::ZeroReservedConcurrency, None);
        }
        // AsyncEventAge: how long the event waited before this attempt ran it.
        let age = (now_ms() - ev.enqueued_ms).max(0) as f64;
        self.async_metric(&ev.function, ev.qualifier.as_deref(), "AsyncEventAge", age);
        let call = Call {
            trigger: Trigger::of_stored(&ev.trigger),
            region: &ev.region,
            name: &ev.function,
            qualifier: ev.qualifier.as_deref(),
            payload: Bytes::from(ev.payload.clone()),
            client_context: None,
            request_id: ev.request_id.clone(),
            want_log: false,
            trace: ev.trace.clone(),
        };
        let resolved = Resolved {
            config: target.resolved.config.clone(),
            reserved: target.resolved.reserved,
        };
        match self.run(call, resolved).await {
            Ok(out) if !out.ending.is_function_error() => {
                let counted = AsyncEvent {
                    attempts: ev.attempts + 1,
                    ..ev.clone()
                };
                self.conclude(&counted, &target, Condition::Success, Some(&out))
            }
            Ok(out) => self.after_function_error(&ev, &target, &out),
            // AWS drops the event at once, to the on-failure destination or dead-letter queue.
            Err(Failure::RecursiveLoop) => {
                self.conclude(&ev, &target, Condition::RecursiveInvocation, None)
            }
            // Throttles and platform faults don't count as attempts (AWS retries them until the
            // event is too old).
            Err(e) => self.retry_later(&ev, ev.attempts, &e),
        }
    }

    /// A function error: retried after the delay times the attempt number, or concluded.
    fn after_function_error(&self, ev: &AsyncEvent, target: &Target, out: &InvokeOutcome) {
        let attempts = ev.attempts + 1;
        let delay = self.retry_delay.as_millis() as i64 * i64::from(attempts);
        let retry_at = now_ms() + delay;
        let counted = AsyncEvent {
            attempts,
            ..ev.clone()
        };
        if attempts > target.settings.max_retries() {
            self.conclude(&counted, target, Condition::RetriesExhausted, Some(out));
        } else if retry_at - ev.enqueued_ms > target.settings.max_age_ms() {
            // The next attempt would come too late: AWS gives up now, not at the deadline.
            self.conclude(&counted, target, Condition::EventAgeExceeded, Some(out));
        } else {
            self.reschedule(ev, attempts, retry_at);
        }
    }

    fn retry_later(&self, ev: &AsyncEvent, attempts: u32, why: &Failure) {
        let waited = (now_ms() - ev.enqueued_ms).max(0);
        let backoff = (waited / 2).clamp(1000, 300_000);
        tracing::debug!(request_id = %ev.request_id, error = %why, backoff_ms = backoff, "async invocation deferred");
        self.reschedule(ev, attempts, now_ms() + backoff);
    }

    fn reschedule(&self, ev: &AsyncEvent, attempts: u32, due: i64) {
        match self
            .meta
            .tx(|tx| tx.reschedule(&self.node, &ev.request_id, attempts, due))
        {
            Ok(true) => {}
            Ok(false) => lost_lease(ev),
            Err(e) => {
                tracing::error!(%e, request_id = %ev.request_id, "could not reschedule event")
            }
        }
    }

    fn finish(&self, ev: &AsyncEvent) {
        match self.meta.tx(|tx| tx.finish(&self.node, &ev.request_id)) {
            Ok(true) => {}
            Ok(false) => lost_lease(ev),
            Err(e) => tracing::error!(%e, request_id = %ev.request_id, "could not finish event"),
        }
    }

    /// Sends the outcome to its destination, if one is configured, and removes the event. The
    /// destination event is queued in the same transaction, so neither is lost nor doubled.
    fn conclude(
        &self,
        ev: &AsyncEvent,
        target: &Target,
        condition: Condition,
        out: Option<&InvokeOutcome>,
    ) {
        let success = condition == Condition::Success;
        if !success {
            tracing::warn!(function = %ev.function, request_id = %ev.request_id, condition = condition.as_str(), "asynchronous invocation failed");
        }
        let configured = target.settings.destination(success);
        let destination = configured.filter(|d| d.contains(":function:"));
        let record = invocation_record(ev, &target.resolved.config, condition, out);
        let result = self.meta.tx(|tx| {
            // Removed first: if the lease is another node's now, that node concludes the
            // event, and its destination record is not queued twice.
            if !tx.finish(&self.node, &ev.request_id)? {
                return Ok(false);
            }
            if let Some(dest) = destination {
                let r = FunctionRef::parse(dest)?;
                let next = NewEvent {
                    function: r.name,
                    qualifier: r.qualifier,
                    payload: record.to_string().into_bytes(),
                    trigger: Trigger::Destination,
                    region: ev.region.clone(),
                    request_id: None,
                    trace: ev.trace.clone(),
                };
                tx.enqueue(&next.into_stored(now_ms()))?;
            }
            Ok(true)
        });
        match result {
            Ok(true) => {
                self.events.notify_one();
                if !success {
                    self.metric(ev, "AsyncEventsDropped");
                }
                let queue = configured.filter(|d| d.starts_with("arn:aws:sqs:"));
                self.to_queues(ev, &target.resolved.config, success, queue, &record, out);
            }
            Ok(false) => lost_lease(ev),
            Err(e) => tracing::error!(%e, request_id = %ev.request_id, "could not conclude event"),
        }
    }

    /// Sends a concluded event's outcome to the queues that want it, once the event is
    /// removed (so never twice): the invocation record to a queue destination, and after a
    /// failure the original event to a queue `DeadLetterConfig` names, with AWS's
    /// `RequestID`, `ErrorCode` and `ErrorMessage` attributes.
    fn to_queues(
        &self,
        ev: &AsyncEvent,
        cfg: &FunctionConfig,
        success: bool,
        destination: Option<&str>,
        record: &Value,
        out: Option<&InvokeOutcome>,
    ) {
        let Some(queues) = self.queues.get() else {
            return;
        };
        let dead_letter = cfg
            .dead_letter_target
            .as_deref()
            .filter(|d| !success && d.starts_with("arn:aws:sqs:"));
        if let Some(dest) = destination {
            if let Err(e) = queues.send(dest, record.to_string(), &[]) {
                tracing::warn!(%e, queue = dest, request_id = %ev.request_id, "destination record dropped");
                self.metric(ev, "DestinationDeliveryFailures");
            }
        }
        if let Some(dlq) = dead_letter {
            let body = String::from_utf8_lossy(&ev.payload).into_owned();
            let message = out
                .map(|o| String::from_utf8_lossy(&o.payload).into_owned())
                .unwrap_or_else(|| "The function could not be invoked.".into());
            let attributes = [
                ("RequestID", ev.request_id.as_str()),
                ("ErrorCode", "200"),
                ("ErrorMessage", message.as_str()),
            ];
            if let Err(e) = queues.send(dlq, body, &attributes) {
                tracing::warn!(%e, queue = dlq, request_id = %ev.request_id, "dead-letter event dropped");
                self.metric(ev, "DeadLetterErrors");
            }
        }
    }
}

impl Invoker {
    /// One occurrence of an asynchronous invocation metric for `ev`.
    fn metric(&self, ev: &AsyncEvent, name: &str) {
        self.async_metric(&ev.function, ev.qualifier.as_deref(), name, 1.0);
    }
}

/// An attempt ended after its lease was released (this node was taken for dead: its heartbeat
/// had lapsed): the event is another node's now, and its outcome here is dropped.
fn lost_lease(ev: &AsyncEvent) {
    tracing::warn!(request_id = %ev.request_id, "async event lease lost while it ran; its new holder decides its outcome");
}

/// AWS's invocation record, as destinations receive it.
fn invocation_record(
    ev: &AsyncEvent,
    cfg: &FunctionConfig,
    condition: Condition,
    out: Option<&InvokeOutcome>,
) -> Value {
    let qualifier = ev.qualifier.clone().unwrap_or_else(|| "$LATEST".into());
    let request_payload: Value = serde_json::from_slice(&ev.payload).unwrap_or(Value::Null);
    let mut record = json!({
        "version": "1.0",
        "timestamp": stratus_core::clock::now_iso_millis(),
        "requestContext": {
            "requestId": ev.request_id,
            "functionArn": function_arn(&ev.region, &cfg.name, Some(&qualifier)),
            "condition": condition.as_str(),
            "approximateInvokeCount": ev.attempts,
        },
        "requestPayload": request_payload,
    });
    if let Some(out) = out {
        let mut ctx = json!({ "statusCode": 200, "executedVersion": out.executed_version });
        if out.ending.is_function_error() {
            ctx["functionError"] = json!("Unhandled");
        }
        record["responseContext"] = ctx;
        record["responsePayload"] = serde_json::from_slice(&out.payload).unwrap_or(Value::Null);
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::EventQueue;
    use crate::Parts;
    use stratus_engine::{Engine, EngineConfig};
    use stratus_store::code::CodeStore;
    use stratus_store::meta::Meta;

    /// Functions in these tests call no AWS API.
    struct NoCredentials;

    impl stratus_engine::CredentialSource for NoCredentials {
        fn for_function(&self, _: &str, _: &str) -> Option<stratus_engine::FunctionCredentials> {
            None
        }
    }

    /// An invoker over fresh stores in `dir`, running functions as plain processes.
    fn invoker(dir: &std::path::Path) -> Arc<Invoker> {
        let engine = Engine::new(EngineConfig {
            data_dir: dir.to_path_buf(),
            platform: "127.0.0.1:9".parse().unwrap(),
            credentials: Arc::new(NoCredentials),
            account_concurrency: 4,
            idle_timeout: Duration::from_secs(60),
            isolation: "process".into(),
            network: "platform".into(),
            nat_subnet: String::new(),
            egress_allow: Vec::new(),
            egress_deny: Vec::new(),
            allow_weaker_sandbox: false,
            database: None,
            runtimes: Default::default(),
            premade_per_runtime: 0,
        })
        .unwrap();
        Arc::new(Invoker::new(Parts {
            meta: Arc::new(Meta::open_dir(dir).unwrap()),
            code: Arc::new(
                CodeStore::open(
                    Arc::new(stratus_blobs::BlobStore::open("", dir).unwrap()),
                    &dir.join("code"),
                )
                .unwrap(),
            ),
            engine,
            meter: stratus_metering::Meter::open(
                &stratus_metering::Location::Sqlite(dir.into()),
                Default::default(),
                1,
            )
            .unwrap(),
            async_retry_delay: Duration::from_secs(60),
            node: "test".into(),
        }))
    }

    fn event_for(function: &str) -> NewEvent {
        NewEvent {
            function: function.into(),
            qualifier: None,
            payload: b"{}".to_vec(),
            trigger: Trigger::S3,
            region: "eu-west-1".into(),
            request_id: None,
            trace: None,
        }
    }

    #[tokio::test]
    async fn the_dispatcher_stops_when_its_token_is_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let inv = invoker(dir.path());
        let stop = CancellationToken::new();
        let task = tokio::spawn(inv.clone().dispatch(stop.clone()));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!task.is_finished(), "it waits for events");
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(2), task)
            .await
            .expect("stopped within the idle poll")
            .unwrap();
    }

    #[tokio::test]
    async fn an_event_for_a_missing_function_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let inv = invoker(dir.path());
        assert!(!inv.function_exists("ghost", None));
        inv.enqueue_all(vec![event_for("ghost")]).unwrap();
        assert_eq!(inv.queue_stats().unwrap().0, 1);
        let stop = CancellationToken::new();
        let task = tokio::spawn(inv.clone().dispatch(stop.clone()));
        let mut left = 1;
        for _ in 0..100 {
            left = inv.queue_stats().unwrap().0;
            if left == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.cancel();
        task.await.unwrap();
        assert_eq!(left, 0, "the event was removed, not retried");
    }
}
