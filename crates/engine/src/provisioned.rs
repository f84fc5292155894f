//! Provisioned concurrency: environments initialised ahead of traffic for the qualifier (a
//! version or an alias) a configuration names, kept warm for as long as it stands (the idle
//! reaper never sees them), and replaced when one dies.
//!
//! Each provisioned environment holds an admission permit for its whole life: allocated
//! provisioned concurrency is drawn from the function's reservation, or else from the
//! account's pool, as AWS counts it. An invocation served by one takes no other permit; beyond
//! the allocated number, invocations spill over to ordinary on-demand environments.
//!
//! The caller (the invoker's keeper) says what should exist with [`Provisioned::set`]; the
//! [`keep`] task starts what is missing and drops what is no longer wanted.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use stratus_core::function::FunctionConfig;

use crate::admission::Permit;
use crate::env::Environment;
use crate::pool::PoolKey;

/// How often the keeper looks for environments to start or replace.
const TICK: Duration = Duration::from_millis(250);

/// One version's share of a configuration (an alias with weights splits its configuration
/// between two versions).
#[derive(Clone)]
pub struct Target {
    pub config: Arc<FunctionConfig>,
    pub code_dir: PathBuf,
    pub layers_dir: Option<PathBuf>,
    pub count: u32,
}

/// A provisioned concurrency configuration, as the engine keeps it.
#[derive(Clone)]
pub struct Desired {
    pub function: String,
    pub qualifier: String,
    /// The region environments run in (`AWS_REGION`).
    pub region: String,
    /// The function's reserved concurrency, if set (provisioned environments draw on it).
    pub reserved: Option<u32>,
    /// When the configuration was last written: a new write retries a failed allocation.
    pub stamp: String,
    pub targets: Vec<Target>,
}

/// Where an allocation stands, as `GetProvisionedConcurrencyConfig` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    InProgress,
    Ready,
    /// An environment's initialisation failed; the reason says how.
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    /// Environments initialised (idle or serving).
    pub allocated: u32,
    /// Of those, the ones idle now.
    pub available: u32,
    pub status: Status,
}

/// A provisioned environment and the concurrency it holds.
pub struct Held {
    pub(crate) env: Environment,
    pub(crate) permit: Permit,
}

impl Held {
    pub(crate) fn new(env: Environment, permit: Permit) -> Held {
        Held { env, permit }
    }
}

/// The `StatusReason` of an allocation whose initialisation failed: the init error's type
/// and message, as the runtime reported them.
pub fn failure_reason(payload: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
    let kind = v["errorType"].as_str().unwrap_or("Runtime.Unknown");
    match v["errorMessage"].as_str().filter(|m| !m.is_empty()) {
        Some(message) => format!("{kind}: {message}"),
        None => kind.to_string(),
    }
}

/// One configuration's environments.
struct Slot {
    desired: Desired,
    idle: Vec<(PoolKey, Held)>,
    /// Environments serving an invocation now, per version.
    busy: HashMap<PoolKey, u32>,
    /// Environments being started, per version.
    starting: HashMap<PoolKey, u32>,
    failure: Option<String>,
}

impl Slot {
    fn new(desired: Desired) -> Slot {
        Slot {
            desired,
            idle: Vec::new(),
            busy: HashMap::new(),
            starting: HashMap::new(),
            failure: None,
        }
    }

    /// How many environments `key` should have (0: not one of the targets).
    fn wanted(&self, key: &PoolKey) -> u32 {
        self.desired
            .targets
            .iter()
            .find(|t| PoolKey::of(&t.config) == *key)
            .map_or(0, |t| t.count)
    }

    /// Environments of `key`: idle, busy and starting.
    fn have(&self, key: &PoolKey) -> u32 {
        let idle = self.idle.iter().filter(|(k, _)| k == key).count() as u32;
        idle + self.busy.get(key).copied().unwrap_or(0)
            + self.starting.get(key).copied().unwrap_or(0)
    }

    fn allocation(&self) -> Allocation {
        let ready = |k: &PoolKey| self.wanted(k) > 0;
        let available = self.idle.iter().filter(|(k, _)| ready(k)).count() as u32;
        let busy: u32 = self
            .busy
            .iter()
            .filter(|(k, _)| ready(k))
            .map(|(_, n)| n)
            .sum();
        let allocated = available + busy;
        let requested: u32 = self.desired.targets.iter().map(|t| t.count).sum();
        let status = match &self.failure {
            Some(reason) => Status::Failed(reason.clone()),
            None if allocated >= requested => Status::Ready,
            None => Status::InProgress,
        };
        Allocation {
            allocated,
            available,
            status,
        }
    }
}

type SlotKey = (String, String);

/// Every provisioned configuration on this node, by function and qualifier.
#[derive(Default)]
pub struct Provisioned {
    slots: Mutex<HashMap<SlotKey, Slot>>,
}

/// An environment the keeper should start.
pub struct Start {
    pub function: String,
    pub qualifier: String,
    pub region: String,
    pub reserved: Option<u32>,
    pub target: Target,
}

impl Provisioned {
    /// Replaces the configurations this node keeps. Environments no longer wanted are shut
    /// down (those serving an invocation, when it ends); a changed write clears a failure.
    pub fn set(&self, all: Vec<Desired>) {
        let mut retired = Vec::new();
        {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            let mut next: HashMap<SlotKey, Slot> = HashMap::new();
            for d in all {
                let key = (d.function.clone(), d.qualifier.clone());
                let slot = match slots.remove(&key) {
                    Some(mut slot) => {
                        if slot.desired.stamp != d.stamp {
                            slot.failure = None;
                        }
                        slot.desired = d;
                        slot
                    }
                    None => Slot::new(d),
                };
                next.insert(key, slot);
            }
            for (_, slot) in slots.drain() {
                retired.extend(slot.idle.into_iter().map(|(_, h)| h));
            }
            for slot in next.values_mut() {
                retired.extend(trim(slot));
            }
            *slots = next;
        }
        shut_down(retired);
    }

    /// Where the configuration of `function`:`qualifier` stands (`None`: not kept here).
    pub fn allocation(&self, function: &str, qualifier: &str) -> Option<Allocation> {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .get(&(function.to_string(), qualifier.to_string()))
            .map(Slot::allocation)
    }

    /// An idle provisioned environment of `key` for an invocation through `qualifier`, if one
    /// is free. It counts as busy until [`Provisioned::give_back`].
    pub fn take(&self, qualifier: &str, key: &PoolKey) -> Option<Held> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let slot = slots.get_mut(&(key.name().to_string(), qualifier.to_string()))?;
        let mut dead = Vec::new();
        let mut found = None;
        while let Some(i) = slot.idle.iter().rposition(|(k, _)| k == key) {
            let (k, held) = slot.idle.remove(i);
            if held.env.is_alive() {
                *slot.busy.entry(k).or_default() += 1;
                found = Some(held);
                break;
            }
            dead.push(held);
        }
        drop(slots);
        shut_down(dead);
        found
    }

    /// Returns an environment after its invocation: kept if it can serve again and is still
    /// wanted, shut down otherwise (the keeper starts its replacement).
    pub fn give_back(&self, qualifier: &str, key: PoolKey, held: Held, keep: bool) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let Some(slot) = slots.get_mut(&(key.name().to_string(), qualifier.to_string())) else {
            drop(slots);
            shut_down(vec![held]);
            return;
        };
        if let Some(n) = slot.busy.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                slot.busy.remove(&key);
            }
        }
        if keep && slot.have(&key) < slot.wanted(&key) {
            slot.idle.push((key, held));
        } else {
            drop(slots);
            shut_down(vec![held]);
        }
    }

    /// What is missing, marked as starting: one [`Start`] per environment to start. Dead idle
    /// environments are dropped first, so they are replaced.
    fn plan(&self) -> Vec<Start> {
        let mut out = Vec::new();
        let mut dead = Vec::new();
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        for slot in slots.values_mut() {
            let (alive, gone): (Vec<_>, Vec<_>) =
                slot.idle.drain(..).partition(|(_, h)| h.env.is_alive());
            slot.idle = alive;
            dead.extend(gone.into_iter().map(|(_, h)| h));
            if slot.failure.is_some() {
                continue;
            }
            for target in slot.desired.targets.clone() {
                let key = PoolKey::of(&target.config);
                let missing = target.count.saturating_sub(slot.have(&key));
                if missing > 0 {
                    *slot.starting.entry(key).or_default() += missing;
                }
                for _ in 0..missing {
                    out.push(Start {
                        function: slot.desired.function.clone(),
                        qualifier: slot.desired.qualifier.clone(),
                        region: slot.desired.region.clone(),
                        reserved: slot.desired.reserved,
                        target: target.clone(),
                    });
                }
            }
        }
        drop(slots);
        shut_down(dead);
        out
    }

    /// Records how a start ended: the environment joins its slot if still wanted; a failed
    /// initialisation marks the configuration failed with `Err(reason)`; `Ok(None)` (no
    /// concurrency was free) leaves it to be tried again.
    fn started(&self, s: &Start, result: Result<Option<Held>, String>) {
        let key = PoolKey::of(&s.target.config);
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let Some(slot) = slots.get_mut(&(s.function.clone(), s.qualifier.clone())) else {
            drop(slots);
            shut_down(result.ok().flatten().into_iter().collect());
            return;
        };
        if let Some(n) = slot.starting.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                slot.starting.remove(&key);
            }
        }
        let extra = match result {
            Ok(Some(held)) if slot.have(&key) < slot.wanted(&key) => {
                slot.idle.push((key, held));
                None
            }
            Ok(Some(held)) => Some(held),
            Ok(None) => None,
            Err(reason) => {
                slot.failure = Some(reason);
                None
            }
        };
        drop(slots);
        shut_down(extra.into_iter().collect());
    }

    /// Removes every environment (at shutdown).
    pub fn drain(&self) -> Vec<Environment> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .drain()
            .flat_map(|(_, s)| s.idle.into_iter().map(|(_, h)| h.env))
            .collect()
    }
}

/// Takes out the idle environments a slot no longer wants (another version, or more than
/// the count).
fn trim(slot: &mut Slot) -> Vec<Held> {
    let mut out = Vec::new();
    let mut kept: Vec<(PoolKey, Held)> = Vec::new();
    for (key, held) in slot.idle.drain(..) {
        let busy = slot.busy.get(&key).copied().unwrap_or(0);
        let already = kept.iter().filter(|(k, _)| *k == key).count() as u32 + busy;
        let wanted = slot
            .desired
            .targets
            .iter()
            .find(|t| PoolKey::of(&t.config) == key)
            .map_or(0, |t| t.count);
        if already < wanted {
            kept.push((key, held));
        } else {
            out.push(held);
        }
    }
    slot.idle = kept;
    out
}

fn shut_down(envs: Vec<Held>) {
    if envs.is_empty() {
        return;
    }
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        for held in envs {
            handle.spawn(held.env.shut_down());
        }
    }
}

/// The keeper: starts the provisioned environments that are missing (at first, after a
/// death, after a change), until the engine is dropped.
pub async fn keep(engine: Weak<crate::Engine>) {
    loop {
        tokio::time::sleep(TICK).await;
        let Some(e) = engine.upgrade() else { return };
        for start in e.provisioned.plan() {
            let e = e.clone();
            tokio::spawn(async move {
                let result = e.start_provisioned(&start).await;
                e.provisioned.started(&start, result);
            });
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn cfg(version: &str) -> Arc<FunctionConfig> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "name": "f", "version": version, "runtime": "python3.12", "role": "r",
                "handler": "app.handler", "description": "", "timeout": 3, "memory_size": 128,
                "environment": null, "architectures": ["x86_64"], "ephemeral_storage": 512,
                "package_type": "Zip", "tracing_mode": "PassThrough", "dead_letter_target": null,
                "kms_key_arn": null, "log_format": "Text", "log_group": null,
                "code": {"sha256_hex": "ab", "sha256_b64": "qw==", "size": 10},
                "last_modified": "x", "revision_id": "r"
            }))
            .unwrap(),
        )
    }

    fn desired(stamp: &str, targets: &[(&str, u32)]) -> Desired {
        Desired {
            function: "f".into(),
            qualifier: "live".into(),
            region: "us-east-1".into(),
            reserved: None,
            stamp: stamp.into(),
            targets: targets
                .iter()
                .map(|(v, n)| Target {
                    config: cfg(v),
                    code_dir: PathBuf::new(),
                    layers_dir: None,
                    count: *n,
                })
                .collect(),
        }
    }

    #[test]
    fn the_plan_starts_what_each_version_lacks_once() {
        let p = Provisioned::default();
        p.set(vec![desired("a", &[("1", 2), ("2", 1)])]);
        let plan = p.plan();
        assert_eq!(plan.len(), 3);
        assert_eq!(
            plan.iter()
                .filter(|s| s.target.config.version == "1")
                .count(),
            2
        );
        // What is starting is not planned again.
        assert!(p.plan().is_empty());
        let alloc = p.allocation("f", "live").unwrap();
        assert_eq!((alloc.allocated, alloc.status), (0, Status::InProgress));
    }

    #[test]
    fn a_failed_start_fails_the_configuration_until_it_is_written_again() {
        let p = Provisioned::default();
        p.set(vec![desired("a", &[("1", 1)])]);
        let plan = p.plan();
        p.started(&plan[0], Err("Runtime.ExitError".into()));
        assert_eq!(
            p.allocation("f", "live").unwrap().status,
            Status::Failed("Runtime.ExitError".into())
        );
        assert!(p.plan().is_empty(), "a failed configuration is not retried");
        // The same write again changes nothing; a new one retries.
        p.set(vec![desired("a", &[("1", 1)])]);
        assert!(p.plan().is_empty());
        p.set(vec![desired("b", &[("1", 1)])]);
        assert_eq!(p.plan().len(), 1);
        assert_eq!(
            p.allocation("f", "live").unwrap().status,
            Status::InProgress
        );
    }

    #[test]
    fn no_free_concurrency_is_tried_again_and_removal_forgets() {
        let p = Provisioned::default();
        p.set(vec![desired("a", &[("1", 1)])]);
        let plan = p.plan();
        p.started(&plan[0], Ok(None));
        assert_eq!(p.plan().len(), 1);
        p.set(Vec::new());
        assert!(p.allocation("f", "live").is_none());
        assert!(p.plan().is_empty());
        assert!(p.take("live", &PoolKey::of(&cfg("1"))).is_none());
    }
}
