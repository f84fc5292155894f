//! One synchronous invocation, as every trigger makes it: the engine request, admission (in the
//! engine) and one metering record per invocation, throttles included.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use stratus_core::arn::function_arn;
use stratus_core::names::Qualifier;
use stratus_core::Error;
use stratus_engine::{Ending, InitFailure, InvokeOutcome, InvokeRequest, Refusal, Throttle};
use stratus_metering::{Outcome, Record};
use stratus_store::code::CodeStore;

use crate::resolve::Resolved;
use crate::trigger::Trigger;
use crate::Invoker;

/// One invocation, as a trigger hands it to the invoker.
pub struct Call<'a> {
    /// What made it (metered with the invocation).
    pub trigger: Trigger,
    /// The region of the request or resource that made it (for ARNs and `AWS_REGION`).
    pub region: &'a str,
    pub name: &'a str,
    pub qualifier: Option<&'a str>,
    pub payload: Bytes,
    /// Decoded client context JSON.
    pub client_context: Option<String>,
    pub request_id: String,
    /// Whether the outcome must carry the log (`LogType: Tail`).
    pub want_log: bool,
    /// The trace header of the request or message that caused it (its lineage counts the
    /// chain's invocations; see [`crate::recursion`]).
    pub trace: Option<String>,
}

/// Why an invocation did not run.
#[derive(Debug, Clone)]
pub enum Failure {
    /// The request named nothing runnable (or the metadata could not be read): AWS's error.
    Rejected(Error),
    /// No concurrency was free.
    Throttled(Throttle),
    /// The platform could not start an environment.
    Platform,
    /// The invocation's chain of events loops: it was stopped (see [`crate::recursion`]).
    RecursiveLoop,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Rejected(e)
    }
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Throttled(t) => Failure::Throttled(t),
            Refusal::Platform => Failure::Platform,
            Refusal::Rejected(e) => Failure::Rejected(e),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Rejected(e) => e.fmt(f),
            Failure::Throttled(t) => write!(f, "throttled: {}", t.reason()),
            Failure::Platform => f.write_str("platform fault"),
            Failure::RecursiveLoop => f.write_str("stopped as part of a recursive loop"),
        }
    }
}

/// What metering counts for an ending.
fn metered(ending: Ending) -> Outcome {
    match ending {
        Ending::Success => Outcome::Success,
        Ending::FunctionError | Ending::InitFailed(InitFailure::Error) => Outcome::FunctionError,
        Ending::TimedOut | Ending::InitFailed(InitFailure::TimedOut) => Outcome::Timeout,
        Ending::Exited | Ending::InitFailed(InitFailure::Exited) => Outcome::Crashed,
    }
}

impl Invoker {
    /// Resolves the qualifier (alias weights pick a version), admits the call and runs it,
    /// metered. Function errors, time-outs and failed inits are in the outcome.
    pub async fn invoke(&self, call: Call<'_>) -> Result<InvokeOutcome, Failure> {
        let target = self.resolve(call.region, call.name, call.qualifier)?;
        self.run(call, target).await
    }

    /// Runs a call whose target the caller has already resolved (the Invoke API resolves
    /// before it checks the payload, as AWS orders its errors).
    /// In a cluster the call runs on the node placement chooses (see [`crate::placed`]).
    /// A call whose chain loops is stopped here, before placement.
    pub async fn run(
        &self,
        mut call: Call<'_>,
        target: Resolved,
    ) -> Result<InvokeOutcome, Failure> {
        call.trace = Some(self.next_hop(&call, &target)?);
        match self.cluster() {
            // Boxed, as every rarer path of an invocation is (see `Engine::invoke`): forwarding
            // to another node holds an HTTP client's state (~39 kB in all), which held inline
            // every warm invocation's future would carry and be copied with.
            Some(cluster) => Box::pin(self.placed(cluster, call, target)).await,
            None => self.run_here(call, target).await,
        }
    }

    /// Runs a resolved call on this node.
    pub(crate) async fn run_here(
        &self,
        call: Call<'_>,
        target: Resolved,
    ) -> Result<InvokeOutcome, Failure> {
        let (trigger, qualifier) = (call.trigger, call.qualifier);
        let req = self.engine_request(call, target);
        self.metered_run(req, trigger, qualifier).await
    }

    pub(crate) fn engine_request(&self, call: Call<'_>, target: Resolved) -> InvokeRequest {
        InvokeRequest {
            code: self.trees.clone(),
            invoked_arn: function_arn(call.region, call.name, call.qualifier),
            qualifier: call.qualifier.map(String::from),
            region: call.region.to_string(),
            request_id: call.request_id,
            payload: call.payload,
            client_context: call.client_context,
            reserved: target.reserved,
            config: target.config,
            want_log: call.want_log,
            tap: None,
            trace: call.trace,
        }
    }

    /// Runs one invocation through the engine and meters it. `qualifier` is what the caller
    /// named (an alias is recorded as such; the version is the one that ran).
    pub(crate) async fn metered_run(
        &self,
        req: InvokeRequest,
        trigger: Trigger,
        qualifier: Option<&str>,
    ) -> Result<InvokeOutcome, Failure> {
        let mut record = self.record(&req, trigger, qualifier);
        let result = self.engine.invoke(req).await;
        match &result {
            Ok(out) => {
                record.version.clone_from(&out.executed_version);
                record.duration_ms = out.duration.as_secs_f64() * 1000.0;
                record.billed_ms = stratus_metering::billed_ms(out.duration);
                record.init_duration_ms = out.init_duration.map(|d| d.as_secs_f64() * 1000.0);
                record.max_memory_mb = out.max_memory_mb;
                record.outcome = metered(out.ending);
                record.cold = out.cold;
                self.meter.record(record);
            }
            // Throttled: recorded, not charged. Platform faults ran nothing and are not metered.
            Err(Refusal::Throttled(_)) => self.meter.record(record),
            Err(Refusal::Platform | Refusal::Rejected(_)) => {}
        }
        result.map_err(Failure::from)
    }

    /// The record of an invocation about to run (a throttle, until the engine says otherwise).
    fn record(&self, req: &InvokeRequest, trigger: Trigger, qualifier: Option<&str>) -> Record {
        let alias = match Qualifier::parse(qualifier) {
            Qualifier::Alias(a) => Some(a),
            _ => None,
        };
        Record {
            request_id: req.request_id.clone(),
            function: req.config.name.clone(),
            version: req.config.version.clone(),
            alias,
            trigger: trigger.metered(),
            start_ms: stratus_metering::now_ms(),
            duration_ms: 0.0,
            billed_ms: 0,
            init_duration_ms: None,
            memory_mb: req.config.memory_size,
            max_memory_mb: 0,
            architecture: req
                .config
                .architectures
                .first()
                .cloned()
                .unwrap_or_else(|| "x86_64".into()),
            outcome: Outcome::Throttled,
            cold: false,
        }
    }
}

/// A function's code trees from this node's cache: the unpacked package (usually one
/// `stat`; a node that lacks it, its cache cleared or another node having stored it, fetches
/// it from the blob store first) and its layers merged into one tree (cached per ordered
/// list). A store that is down is a platform fault (`ServiceException`), retried for
/// asynchronous events. Cold starts, SnapStart and provisioned concurrency all ask here.
pub(crate) struct CodeTrees(pub(crate) Arc<CodeStore>);

impl stratus_engine::CodeTrees for CodeTrees {
    fn trees<'a>(
        &'a self,
        cfg: &'a stratus_core::function::FunctionConfig,
    ) -> std::pin::Pin<Box<dyn Future<Output = stratus_engine::CodeTreesResult> + Send + 'a>> {
        Box::pin(async move {
            let code = self.0.unpacked(&cfg.code.sha256_hex).await?;
            if cfg.layers.is_empty() {
                return Ok((code, None));
            }
            let shas: Vec<String> = cfg.layers.iter().map(|l| l.sha256_hex.clone()).collect();
            Ok((code, Some(self.0.layers_tree(&shas).await?)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_inits_are_metered_as_what_ended_them() {
        assert_eq!(metered(Ending::Success), Outcome::Success);
        assert_eq!(
            metered(Ending::InitFailed(InitFailure::Error)),
            Outcome::FunctionError
        );
        assert_eq!(
            metered(Ending::InitFailed(InitFailure::TimedOut)),
            Outcome::Timeout
        );
        assert_eq!(metered(Ending::Exited), Outcome::Crashed);
    }
}
