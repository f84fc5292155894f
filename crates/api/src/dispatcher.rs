//! Asynchronous invocation: events are written to the queue in SQLite before they are
//! acknowledged, then run by this dispatcher with AWS's semantics: at-least-once, function
//! errors retried (MaximumRetryAttempts, default 2, after a delay), throttles and platform
//! errors retried with backoff until MaximumEventAgeInSeconds, and the outcome sent to the
//! OnSuccess / OnFailure destination as an invocation record.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use stratus_core::arn::function_arn;
use stratus_core::function::FunctionConfig;
use stratus_core::names::{FunctionRef, Qualifier};
use stratus_core::{Error, Result};
use stratus_engine::{InvokeOutcome, InvokeRequest};
use stratus_store::meta::AsyncEvent;
use tokio::sync::Semaphore;

use crate::lambda::event_invoke::{EventInvokeConfig, KIND};
use crate::Shared;

/// How many queued events run at once.
const PARALLEL: usize = 64;
/// How long a claimed event is leased before another pass may take it again.
const LEASE_MS: i64 = 15 * 60 * 1000 + 60_000;

fn now_ms() -> i64 {
    stratus_core::clock::epoch_ms(time::OffsetDateTime::now_utc())
}

/// Queues an event; it is durable when this returns.
pub fn enqueue(
    s: &Shared,
    function: &str,
    qualifier: Option<&str>,
    payload: &[u8],
    trigger: &str,
    region: &str,
    request_id: &str,
) -> Result<()> {
    let now = now_ms();
    let ev = AsyncEvent {
        request_id: request_id.to_string(),
        function: function.to_string(),
        qualifier: qualifier.map(str::to_string),
        payload: payload.to_vec(),
        trigger: trigger.to_string(),
        region: region.to_string(),
        attempts: 0,
        enqueued_ms: now,
        due_ms: now,
    };
    s.meta.tx(|tx| tx.enqueue(&ev))?;
    s.events.notify_one();
    Ok(())
}

/// An event to queue with [`enqueue_many`].
pub struct NewEvent {
    pub function: String,
    pub qualifier: Option<String>,
    pub payload: Vec<u8>,
    /// What queued it (`sns`, ...).
    pub trigger: &'static str,
    pub region: String,
}

/// Queues several events in one transaction: all are durable when this returns, or none is.
pub fn enqueue_many(s: &Shared, events: Vec<NewEvent>) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    s.meta.tx(|tx| {
        for e in events {
            tx.enqueue(&AsyncEvent {
                request_id: stratus_core::ids::uuid().to_string(),
                function: e.function,
                qualifier: e.qualifier,
                payload: e.payload,
                trigger: e.trigger.to_string(),
                region: e.region,
                attempts: 0,
                enqueued_ms: now,
                due_ms: now,
            })?;
        }
        Ok(())
    })?;
    s.events.notify_one();
    Ok(())
}

/// Makes the events a previous process had claimed due again. Called once at start-up, not
/// when the dispatcher is restarted after a panic: the attempts it started then are still
/// running in their own tasks.
pub fn release_interrupted(s: &Shared) {
    match s.meta.tx(|tx| tx.release_leases(now_ms())) {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            events = n,
            "re-queued asynchronous events interrupted by a restart"
        ),
        Err(e) => tracing::error!(%e, "releasing interrupted async events"),
    }
}

/// The slots bounding how many queued events run at once; shared across restarts of
/// [`run`], so attempts started before a panic still count.
pub fn slots() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(PARALLEL))
}

/// Runs queued events until the process ends (or a panic, after which the supervisor starts
/// it again with the same `slots`).
pub async fn run(s: Shared, slots: Arc<Semaphore>) {
    loop {
        let free = slots.available_permits();
        let due = if free == 0 {
            Ok(Vec::new())
        } else {
            s.meta
                .tx(|tx| tx.claim_due(now_ms(), now_ms() + LEASE_MS, free))
        };
        match due {
            Ok(events) if !events.is_empty() => {
                for ev in events {
                    let permit = slots.clone().acquire_owned().await.expect("never closed");
                    let s = s.clone();
                    tokio::spawn(async move {
                        attempt(&s, ev).await;
                        drop(permit);
                    });
                }
            }
            Ok(_) => {
                let _ = tokio::time::timeout(Duration::from_millis(250), s.events.notified()).await;
            }
            Err(e) => {
                tracing::error!(%e, "reading the async queue");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

struct Target {
    config: FunctionConfig,
    reserved: Option<u32>,
    settings: EventInvokeConfig,
}

fn resolve(s: &Shared, ev: &AsyncEvent) -> Result<Option<Target>> {
    s.meta.tx(|tx| {
        let Some(row) = tx.function(&ev.function)? else {
            return Ok(None);
        };
        let (version, key) = match Qualifier::parse(ev.qualifier.as_deref()) {
            Qualifier::Latest => ("$LATEST".to_string(), "$LATEST".to_string()),
            Qualifier::Version(n) => (n.to_string(), n.to_string()),
            Qualifier::Alias(a) => match tx.alias(&ev.function, &a)? {
                Some(alias) => (alias.pick_version(rand::random::<f64>()).to_string(), a),
                None => return Ok(None),
            },
        };
        let Some(config) = tx.version(&ev.function, &version)? else {
            return Ok(None);
        };
        let settings = tx.document(&ev.function, KIND, &key)?.unwrap_or_default();
        Ok(Some(Target {
            config,
            reserved: row.reserved_concurrency,
            settings,
        }))
    })
}

async fn attempt(s: &Shared, ev: AsyncEvent) {
    let target = match resolve(s, &ev) {
        Ok(Some(t)) => t,
        Ok(None) => {
            tracing::warn!(function = %ev.function, request_id = %ev.request_id, "dropping event for a function that no longer exists");
            return finish(s, &ev);
        }
        Err(e) => return retry_later(s, &ev, ev.attempts, &e),
    };
    let max_retries = target.settings.maximum_retry_attempts.unwrap_or(2) as u32;
    let max_age_ms = target
        .settings
        .maximum_event_age_in_seconds
        .unwrap_or(21_600)
        * 1000;
    if now_ms() - ev.enqueued_ms > max_age_ms {
        return conclude(s, &ev, &target, "EventAgeExceeded", None);
    }
    if target.reserved == Some(0) {
        return conclude(s, &ev, &target, "ZeroReservedConcurrency", None);
    }
    let req = InvokeRequest {
        code_dir: s.code.unpacked_dir(&target.config.code.sha256_hex),
        invoked_arn: function_arn(&ev.region, &ev.function, ev.qualifier.as_deref()),
        region: ev.region.clone(),
        request_id: ev.request_id.clone(),
        payload: Bytes::from(ev.payload.clone()),
        client_context: None,
        reserved: target.reserved,
        config: std::sync::Arc::new(target.config.clone()),
        want_log: false,
    };
    let trigger = stratus_metering::Trigger::of_event(&ev.trigger);
    match crate::metering::run(s, req, trigger, ev.qualifier.as_deref()).await {
        Ok(out) if !out.function_error => {
            let counted = AsyncEvent {
                attempts: ev.attempts + 1,
                ..ev.clone()
            };
            conclude(s, &counted, &target, "Success", Some(&out))
        }
        Ok(out) => {
            let attempts = ev.attempts + 1;
            let delay = s.async_retry_delay.as_millis() as i64 * i64::from(attempts);
            let retry_at = now_ms() + delay;
            let counted = AsyncEvent {
                attempts,
                ..ev.clone()
            };
            if attempts > max_retries {
                conclude(s, &counted, &target, "RetriesExhausted", Some(&out));
            } else if retry_at - ev.enqueued_ms > max_age_ms {
                // The next attempt would come too late: AWS gives up now, not at the deadline.
                conclude(s, &counted, &target, "EventAgeExceeded", Some(&out));
            } else {
                reschedule(s, &ev, attempts, retry_at);
            }
        }
        // Throttles and platform faults don't count as attempts (AWS retries them until the
        // event is too old).
        Err(e) => retry_later(s, &ev, ev.attempts, &e),
    }
}

fn retry_later(s: &Shared, ev: &AsyncEvent, attempts: u32, e: &Error) {
    let waited = (now_ms() - ev.enqueued_ms).max(0);
    let backoff = (waited / 2).clamp(1000, 300_000);
    tracing::debug!(request_id = %ev.request_id, error = %e, backoff_ms = backoff, "async invocation deferred");
    reschedule(s, ev, attempts, now_ms() + backoff);
}

fn reschedule(s: &Shared, ev: &AsyncEvent, attempts: u32, due: i64) {
    if let Err(e) = s.meta.tx(|tx| tx.reschedule(&ev.request_id, attempts, due)) {
        tracing::error!(%e, request_id = %ev.request_id, "could not reschedule event");
    }
}

fn finish(s: &Shared, ev: &AsyncEvent) {
    if let Err(e) = s.meta.tx(|tx| tx.finish(&ev.request_id)) {
        tracing::error!(%e, request_id = %ev.request_id, "could not finish event");
    }
}

/// Sends the outcome to its destination, if one is configured, and removes the event. The
/// destination event is queued in the same transaction, so neither is lost nor doubled.
fn conclude(
    s: &Shared,
    ev: &AsyncEvent,
    target: &Target,
    condition: &str,
    out: Option<&InvokeOutcome>,
) {
    let key = if condition == "Success" {
        "OnSuccess"
    } else {
        "OnFailure"
    };
    let destination = target
        .settings
        .destination_config
        .as_ref()
        .and_then(|d| d.get(key)?.get("Destination")?.as_str().map(str::to_string));
    if condition != "Success" {
        tracing::warn!(function = %ev.function, request_id = %ev.request_id, condition, "asynchronous invocation failed");
    }
    let record = invocation_record(ev, &target.config, condition, out);
    let result = s.meta.tx(|tx| {
        if let Some(dest) = destination.as_deref().filter(|d| d.contains(":function:")) {
            let r = FunctionRef::parse(dest)?;
            let next = AsyncEvent {
                request_id: stratus_core::ids::uuid().to_string(),
                function: r.name,
                qualifier: r.qualifier,
                payload: record.to_string().into_bytes(),
                trigger: "destination".into(),
                region: ev.region.clone(),
                attempts: 0,
                enqueued_ms: now_ms(),
                due_ms: now_ms(),
            };
            tx.enqueue(&next)?;
        }
        tx.finish(&ev.request_id)
    });
    match result {
        Ok(()) => s.events.notify_one(),
        Err(e) => tracing::error!(%e, request_id = %ev.request_id, "could not conclude event"),
    }
}

/// AWS's invocation record, as destinations receive it.
fn invocation_record(
    ev: &AsyncEvent,
    cfg: &FunctionConfig,
    condition: &str,
    out: Option<&InvokeOutcome>,
) -> Value {
    let qualifier = ev.qualifier.clone().unwrap_or_else(|| "$LATEST".into());
    let request_payload: Value = serde_json::from_slice(&ev.payload).unwrap_or(Value::Null);
    let mut record = json!({
        "version": "1.0",
        "timestamp": iso_now(),
        "requestContext": {
            "requestId": ev.request_id,
            "functionArn": function_arn(&ev.region, &cfg.name, Some(&qualifier)),
            "condition": condition,
            "approximateInvokeCount": ev.attempts,
        },
        "requestPayload": request_payload,
    });
    if let Some(out) = out {
        let mut ctx = json!({ "statusCode": 200, "executedVersion": out.executed_version });
        if out.function_error {
            ctx["functionError"] = json!("Unhandled");
        }
        record["responseContext"] = ctx;
        record["responsePayload"] = serde_json::from_slice(&out.payload).unwrap_or(Value::Null);
    }
    record
}

fn iso_now() -> String {
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(f)
        .unwrap_or_default()
}
