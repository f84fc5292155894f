//! Placement in a cluster: once the qualifier is resolved (alias weights have chosen the
//! version), the invocation runs on the node rendezvous hashing ranks first for that function
//! and version, so repeated calls find its warm environment wherever they arrive. A node
//! that is full (no idle environment for the version and no room for another) passes the call
//! to the next in rank; one that cannot be reached is skipped. The node that runs a call
//! meters it; a forwarded call never travels further. Without a cluster nothing here runs.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use stratus_cluster::{Answer, Cluster, Forward, Ran, SendError};
use stratus_core::function::FunctionConfig;
use stratus_engine::{Ending, InitFailure, InvokeOutcome, Throttle};

use crate::resolve::Resolved;
use crate::run::{Call, Failure};
use crate::trigger::Trigger;
use crate::Invoker;

/// Time a forwarded call may take beyond the function's own timeout: starting an
/// environment (its init has its own 10-second limit) and the two hops.
const FORWARD_MARGIN: Duration = Duration::from_secs(30);

impl Invoker {
    /// Makes this invoker place invocations across `cluster`'s nodes, and release the async
    /// event leases of nodes that leave it (after each heartbeat, with the list it read).
    pub fn join_cluster(self: &Arc<Self>, cluster: Arc<Cluster>) {
        let me = Arc::downgrade(self);
        cluster.on_sweep(Box::new(move |live| {
            if let Some(invoker) = me.upgrade() {
                invoker.release_orphaned(live);
            }
        }));
        let _ = self.cluster.set(cluster);
    }

    /// The cluster this node belongs to, if any.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.get()
    }

    /// Runs `call` on the node placement chooses: here, or forwarded. When every node is full
    /// or unreachable, this node runs it; a node that rejects what this one resolved (its
    /// metadata lags for a moment) leaves it to this node too.
    pub(crate) async fn placed(
        &self,
        cluster: &Cluster,
        call: Call<'_>,
        target: Resolved,
    ) -> Result<InvokeOutcome, Failure> {
        let cfg = target.config.clone();
        let mut forward = None;
        for node in cluster.candidates(&cfg.name, &cfg.version) {
            if cluster.is_local(&node) {
                if self.has_room(cluster, &cfg) {
                    break;
                }
                continue;
            }
            let forward = forward.get_or_insert_with(|| forward_of(&call, &cfg.version));
            let deadline = Duration::from_secs(u64::from(cfg.timeout)) + FORWARD_MARGIN;
            match cluster.forward(&node, forward, deadline).await {
                Ok(Answer::Full) | Err(SendError::Unreachable(_)) => continue,
                Ok(Answer::Rejected { message }) => {
                    tracing::warn!(node = %node.id, %message, "a node rejected a forwarded call; running it here");
                    break;
                }
                Ok(answer) => return outcome_of(answer),
                Err(e @ SendError::Broken(_)) => {
                    // It may have run there: running it again here could run it twice.
                    tracing::error!(node = %node.id, error = %e, "forwarded invocation lost");
                    return Err(Failure::Platform);
                }
            }
        }
        self.run_here(call, target).await
    }

    /// Whether this node can take an invocation of `cfg` without exceeding its share: an idle
    /// environment for it, or fewer environments than the configured most.
    fn has_room(&self, cluster: &Cluster, cfg: &std::sync::Arc<FunctionConfig>) -> bool {
        let max = cluster.max_environments();
        max == 0
            || self.engine.has_idle(cfg)
            || self.engine.in_flight() + self.engine.idle_environments() < max
    }

    /// Runs an invocation another node placed here. It runs here or not at all (never
    /// forwarded again); a full or draining node answers [`Answer::Full`].
    pub async fn run_forwarded(&self, f: Forward) -> Answer {
        let target = match self.resolve(&f.region, &f.function, Some(&f.version)) {
            Ok(t) => t,
            Err(e) => return Answer::Rejected { message: e.message },
        };
        if let Some(cluster) = self.cluster() {
            // A draining node takes no new work: the caller tries its next node, or runs the
            // call itself, as with a full one.
            if cluster.is_draining() || !self.has_room(cluster, &target.config) {
                return Answer::Full;
            }
        }
        let call = Call {
            trigger: Trigger::of_stored(&f.trigger),
            region: &f.region,
            name: &f.function,
            qualifier: f.qualifier.as_deref(),
            payload: Bytes::from(f.payload),
            client_context: f.client_context,
            request_id: f.request_id,
            want_log: f.want_log,
            trace: f.trace,
        };
        match self.run_here(call, target).await {
            Ok(out) => Answer::Ran(ran_of(out)),
            Err(Failure::Throttled(t)) => Answer::Throttled {
                reason: t.reason().into(),
            },
            Err(Failure::Platform | Failure::RecursiveLoop) => Answer::Platform,
            Err(Failure::Rejected(e)) => Answer::Rejected { message: e.message },
        }
    }
}

/// The call as another node receives it.
fn forward_of(call: &Call<'_>, version: &str) -> Forward {
    Forward {
        trigger: call.trigger.as_str().into(),
        region: call.region.into(),
        function: call.name.into(),
        qualifier: call.qualifier.map(String::from),
        version: version.into(),
        payload: call.payload.to_vec(),
        client_context: call.client_context.clone(),
        request_id: call.request_id.clone(),
        want_log: call.want_log,
        trace: call.trace.clone(),
    }
}

/// The names endings travel under.
const ENDINGS: [(Ending, &str); 7] = [
    (Ending::Success, "success"),
    (Ending::FunctionError, "function_error"),
    (Ending::TimedOut, "timed_out"),
    (Ending::Exited, "exited"),
    (Ending::InitFailed(InitFailure::Error), "init_error"),
    (Ending::InitFailed(InitFailure::Exited), "init_exited"),
    (Ending::InitFailed(InitFailure::TimedOut), "init_timed_out"),
];

fn ending_name(e: Ending) -> &'static str {
    ENDINGS
        .iter()
        .find(|(x, _)| *x == e)
        .map_or("exited", |(_, n)| n)
}

fn ending_of(name: &str) -> Option<Ending> {
    ENDINGS.iter().find(|(_, n)| *n == name).map(|(e, _)| *e)
}

fn ran_of(out: InvokeOutcome) -> Ran {
    Ran {
        payload: out.payload.to_vec(),
        ending: ending_name(out.ending).into(),
        executed_version: out.executed_version,
        log: out.log,
        cold: out.cold,
        duration_us: u64::try_from(out.duration.as_micros()).unwrap_or(u64::MAX),
        init_duration_us: out
            .init_duration
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
        max_memory_mb: out.max_memory_mb,
    }
}

/// The caller's answer from the running node's, exactly as if it had run here.
fn outcome_of(answer: Answer) -> Result<InvokeOutcome, Failure> {
    match answer {
        Answer::Ran(r) => {
            let Some(ending) = ending_of(&r.ending) else {
                tracing::error!(ending = %r.ending, "a node answered an unknown ending");
                return Err(Failure::Platform);
            };
            Ok(InvokeOutcome {
                payload: Bytes::from(r.payload),
                ending,
                executed_version: r.executed_version,
                log: r.log,
                cold: r.cold,
                duration: Duration::from_micros(r.duration_us),
                init_duration: r.init_duration_us.map(Duration::from_micros),
                max_memory_mb: r.max_memory_mb,
            })
        }
        Answer::Throttled { reason } if reason == Throttle::Reserved.reason() => {
            Err(Failure::Throttled(Throttle::Reserved))
        }
        Answer::Throttled { .. } => Err(Failure::Throttled(Throttle::Account)),
        Answer::Platform | Answer::Full | Answer::Rejected { .. } => Err(Failure::Platform),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endings_travel_by_name_and_come_back_the_same() {
        for (e, name) in ENDINGS {
            assert_eq!(ending_of(ending_name(e)), Some(e), "{name}");
        }
        assert_eq!(ending_of("melted"), None);
    }

    #[test]
    fn a_forwarded_answer_is_what_the_running_node_gave() {
        let out = InvokeOutcome {
            payload: Bytes::from_static(b"{\"errorType\":\"Boom\"}"),
            ending: Ending::FunctionError,
            executed_version: "7".into(),
            log: b"START RequestId: r\nEND".to_vec(),
            cold: true,
            duration: Duration::from_micros(12_345),
            init_duration: Some(Duration::from_micros(99)),
            max_memory_mb: 33,
        };
        let wire = serde_json::to_vec(&Answer::Ran(ran_of(out))).unwrap();
        let back = outcome_of(serde_json::from_slice(&wire).unwrap()).unwrap();
        assert_eq!(&back.payload[..], b"{\"errorType\":\"Boom\"}");
        assert_eq!(back.ending, Ending::FunctionError);
        assert_eq!(back.executed_version, "7");
        assert_eq!(back.log, b"START RequestId: r\nEND");
        assert!(back.cold);
        assert_eq!(back.duration, Duration::from_micros(12_345));
        assert_eq!(back.init_duration, Some(Duration::from_micros(99)));
        assert_eq!(back.max_memory_mb, 33);
    }

    #[test]
    fn throttles_keep_their_reason() {
        for t in [Throttle::Reserved, Throttle::Account] {
            let a = Answer::Throttled {
                reason: t.reason().into(),
            };
            assert!(matches!(outcome_of(a), Err(Failure::Throttled(x)) if x == t));
        }
        assert!(matches!(
            outcome_of(Answer::Platform),
            Err(Failure::Platform)
        ));
    }
}
