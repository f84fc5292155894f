//! The invoker: the one path from every trigger to the engine. The Invoke API, HTTP APIs, S3
//! notifications, SNS deliveries and the asynchronous queue all call it; none of them builds an
//! engine request, resolves a qualifier or meters an invocation itself. It knows nothing of
//! HTTP: callers hand it a [`Call`] with a typed [`Trigger`], and map its typed answers
//! ([`Failure`], [`stratus_engine::Ending`]) to their own wire.
//!
//! # Layout
//! - [`trigger`]: what made an invocation, with the names the queue and reports use.
//! - [`resolve`]: function + qualifier → the version to run (one implementation), through
//!   [`memo`], the memo of what a qualifier resolved to at the current metadata generation.
//! - [`run`]: one invocation: the engine request, admission (in the engine), metering.
//! - [`streamed`]: the same for a caller that takes the response as a stream.
//! - [`placed`]: in a cluster, which node runs it (here, or forwarded to another).
//! - [`provisioned`]: provisioned concurrency configurations, applied to the engine.
//! - [`queue`]: the durable asynchronous queue, and [`EventQueue`], the trait event sources
//!   hold.
//! - [`dispatcher`]: the worker that runs queued events: retries, event age, destinations;
//!   stopped by a cancellation token.
//! - [`settings`]: the event-invoke configuration the dispatcher obeys.
//! - [`recursion`]: recursive loop detection: the lineage each call carries, and the stop.

pub mod async_metrics;
pub mod dispatcher;
pub mod memo;
pub mod placed;
pub mod provisioned;
pub mod queue;
pub mod recursion;
pub mod resolve;
pub mod run;
pub mod settings;
pub mod snapstart;
pub mod streamed;
pub mod trigger;

use std::sync::Arc;
use std::time::Duration;

use stratus_engine::Engine;
use stratus_metering::Meter;
use stratus_store::code::CodeStore;
use stratus_store::meta::Meta;
use tokio::sync::{Notify, Semaphore};

pub use queue::{EventQueue, NewEvent};
pub use recursion::RecursiveLoop;
pub use resolve::{function_not_found, Missing, Resolved};
pub use run::{Call, Failure};
pub use streamed::StreamedOutcome;
pub use trigger::Trigger;

/// What the invoker is built from.
pub struct Parts {
    pub meta: Arc<Meta>,
    pub code: Arc<CodeStore>,
    pub engine: Arc<Engine>,
    pub meter: Arc<Meter>,
    /// Delay before the first retry of a failed asynchronous invocation (times the attempt
    /// number for the next ones).
    pub async_retry_delay: Duration,
    /// This node's stable id: the holder named on the async events it leases, so after a
    /// restart it takes back its own leases, and never another live node's.
    pub node: String,
}

pub struct Invoker {
    meta: Arc<Meta>,
    /// The code store, as the trees an environment mounts (see [`run::CodeTrees`]).
    trees: Arc<dyn stratus_engine::CodeTrees>,
    engine: Arc<Engine>,
    meter: Arc<Meter>,
    /// What (function, qualifier) resolved to at the current metadata generation.
    resolved: memo::ResolveCache,
    /// Wakes the dispatcher when an event is queued.
    events: Notify,
    retry_delay: Duration,
    /// Bounds how many queued events run at once; outlives restarts of the dispatcher.
    slots: Arc<Semaphore>,
    /// The cluster invocations are placed across (unset: every call runs here).
    cluster: std::sync::OnceLock<Arc<stratus_cluster::Cluster>>,
    /// This node's id, as holder of its async event leases.
    node: String,
    /// Where records for queue destinations and dead-letter queues go (unset: dropped).
    queues: std::sync::OnceLock<Arc<dyn QueueTarget>>,
    /// Where the asynchronous invocation metrics go ([`async_metrics`]).
    metrics: std::sync::OnceLock<Arc<dyn stratus_engine::logs::metrics::MetricSink>>,
}

/// Sends a message to a queue (the SQS-compatible store, plugged in by the server): where an
/// asynchronous invocation's outcome goes when its destination or dead-letter target is a
/// queue ARN.
pub trait QueueTarget: Send + Sync {
    /// Sends `body` with string message attributes to the queue `arn`.
    fn send(&self, arn: &str, body: String, attributes: &[(&str, &str)]) -> Result<(), String>;
}

impl Invoker {
    pub fn new(parts: Parts) -> Invoker {
        Invoker {
            meta: parts.meta,
            trees: Arc::new(run::CodeTrees(parts.code)),
            engine: parts.engine,
            meter: parts.meter,
            resolved: memo::ResolveCache::default(),
            events: Notify::new(),
            retry_delay: parts.async_retry_delay,
            slots: Arc::new(Semaphore::new(dispatcher::PARALLEL)),
            cluster: std::sync::OnceLock::new(),
            node: parts.node,
            queues: std::sync::OnceLock::new(),
            metrics: std::sync::OnceLock::new(),
        }
    }

    /// Delivers queue destinations and dead-letter queues through `queues`.
    pub fn set_queue_target(&self, queues: Arc<dyn QueueTarget>) {
        let _ = self.queues.set(queues);
    }

    /// The engine invocations run on.
    /// Sets where the asynchronous invocation metrics go (until then they are not kept).
    pub fn set_metric_sink(&self, sink: Arc<dyn stratus_engine::logs::metrics::MetricSink>) {
        let _ = self.metrics.set(sink);
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Where invocations are metered.
    pub fn meter(&self) -> &Arc<Meter> {
        &self.meter
    }
}

/// What the unit tests share.
#[cfg(test)]
pub(crate) mod testing {
    use stratus_core::function::FunctionConfig;

    /// A stored configuration of version `version` of function `f`.
    pub fn cfg(version: &str) -> FunctionConfig {
        serde_json::from_value(serde_json::json!({
            "name": "f", "version": version, "runtime": "python3.12", "role": "r",
            "handler": "app.handler", "description": "", "timeout": 3, "memory_size": 128,
            "environment": null, "architectures": ["x86_64"], "ephemeral_storage": 512,
            "package_type": "Zip", "tracing_mode": "PassThrough", "dead_letter_target": null,
            "kms_key_arn": null, "log_format": "Text", "log_group": null,
            "code": {"sha256_hex": "ab", "sha256_b64": "qw==", "size": 10},
            "last_modified": "x", "revision_id": "r"
        }))
        .unwrap()
    }
}
