//! Admission: every invocation holds a permit for as long as it runs. Functions with reserved
//! concurrency draw from their own pool of that size (0 blocks every invocation); the others
//! share the account's.
//!
//! In a cluster the limits hold for the sum of all nodes: each node publishes what it runs
//! ([`Admission::running`]) with its heartbeat, and admits only while its own count plus the
//! other nodes' last published counts ([`Admission::set_others`]) stays within the limit.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::outcome::Throttle;

/// Invocations running, as one node counts them for admission.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Running {
    /// Invocations drawing on the account's shared pool (functions without a reservation).
    pub account: u64,
    /// Invocations per function (every function with at least one running).
    pub functions: BTreeMap<String, u64>,
}

pub struct Admission {
    account_limit: u32,
    account: Arc<Semaphore>,
    reserved: Mutex<HashMap<String, (u32, Arc<Semaphore>)>>,
    /// Running invocations per function on this node, kept by the permits. A function's
    /// entry stays once made (at zero when nothing runs), so a permit shares its name rather
    /// than copying it on every invocation.
    running: Arc<Mutex<HashMap<Arc<str>, u64>>>,
    /// What the other nodes of a cluster last published (empty on a single node).
    others: Mutex<Running>,
}

/// The right to run one invocation; dropping it frees its place.
#[derive(Debug)]
pub struct Permit {
    _permit: OwnedSemaphorePermit,
    name: Arc<str>,
    running: Arc<Mutex<HashMap<Arc<str>, u64>>>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = running.get_mut(&*self.name) {
            *n = n.saturating_sub(1);
        }
    }
}

impl Admission {
    pub fn new(account_limit: u32) -> Admission {
        Admission {
            account_limit,
            account: Arc::new(Semaphore::new(account_limit as usize)),
            reserved: Mutex::new(HashMap::new()),
            running: Arc::new(Mutex::new(HashMap::new())),
            others: Mutex::new(Running::default()),
        }
    }

    /// Records a function's reservation. Invocations in flight keep the permits they hold.
    pub fn set_reserved(&self, name: &str, n: Option<u32>) {
        let mut map = self.reserved.lock().unwrap();
        Self::set_reserved_in(&mut map, name, n);
    }

    fn set_reserved_in(
        map: &mut HashMap<String, (u32, Arc<Semaphore>)>,
        name: &str,
        n: Option<u32>,
    ) {
        match n {
            Some(n) if map.get(name).is_none_or(|(cur, _)| *cur != n) => {
                map.insert(name.to_string(), (n, Arc::new(Semaphore::new(n as usize))));
            }
            Some(_) => {}
            None => {
                map.remove(name);
            }
        }
    }

    /// Replaces what the other nodes of the cluster run (their last published counts).
    pub fn set_others(&self, others: Running) {
        *self.others.lock().unwrap_or_else(|p| p.into_inner()) = others;
    }

    /// What this node runs now, as its heartbeat publishes it.
    pub fn running(&self) -> Running {
        let functions: BTreeMap<String, u64> = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, v)| **v > 0)
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        Running {
            account: (self.account_limit as usize - self.account.available_permits()) as u64,
            functions,
        }
    }

    /// A permit to run one invocation now, or the limit that refused it. The reservation
    /// lock is held from the check to the count, so two admissions here never both take the
    /// last place.
    pub fn admit(&self, name: &str, reserved: Option<u32>) -> Result<Permit, Throttle> {
        let mut map = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
        Self::set_reserved_in(&mut map, name, reserved);
        // Read under the lock, not copied: this runs on every invocation.
        let others = self.others.lock().unwrap_or_else(|p| p.into_inner());
        let permit = match reserved {
            Some(n) => {
                let sem = map.get(name).map(|(_, s)| s.clone()).expect("just set");
                let elsewhere = others.functions.get(name).copied().unwrap_or(0);
                let here = self.running_here(name);
                if !within(n, here, elsewhere) {
                    return Err(Throttle::Reserved);
                }
                sem.try_acquire_owned().map_err(|_| Throttle::Reserved)?
            }
            None => {
                let here = (self.account_limit as usize - self.account.available_permits()) as u64;
                if !within(self.account_limit, here, others.account) {
                    return Err(Throttle::Account);
                }
                self.account
                    .clone()
                    .try_acquire_owned()
                    .map_err(|_| Throttle::Account)?
            }
        };
        drop(others);
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        // The name is copied only the first time the function runs here.
        let name = match running.get_key_value(name) {
            Some((kept, _)) => kept.clone(),
            None => Arc::from(name),
        };
        *running.entry(name.clone()).or_default() += 1;
        drop(running);
        Ok(Permit {
            _permit: permit,
            name,
            running: self.running.clone(),
        })
    }

    /// This node's running invocations of `name`.
    fn running_here(&self, name: &str) -> u64 {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .copied()
            .unwrap_or(0)
    }
}

/// Whether one more invocation fits under `limit` with `here` running on this node and
/// `elsewhere` on the others.
fn within(limit: u32, here: u64, elsewhere: u64) -> bool {
    here.saturating_add(elsewhere) < u64::from(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_zero_blocks_and_limits_bind() {
        let a = Admission::new(2);
        let e = a.admit("f", Some(0)).unwrap_err();
        assert_eq!(
            e.reason(),
            "ReservedFunctionConcurrentInvocationLimitExceeded"
        );
        let p1 = a.admit("g", None).unwrap();
        let _p2 = a.admit("h", None).unwrap();
        assert_eq!(
            a.admit("i", None).unwrap_err().reason(),
            "ConcurrentInvocationLimitExceeded"
        );
        drop(p1);
        assert!(a.admit("i", None).is_ok());
        let _r = a.admit("r", Some(1)).unwrap();
        assert!(a.admit("r", Some(1)).is_err());
    }

    #[test]
    fn the_running_counts_follow_the_permits() {
        let a = Admission::new(10);
        let g1 = a.admit("g", None).unwrap();
        let _g2 = a.admit("g", None).unwrap();
        let r = a.admit("r", Some(3)).unwrap();
        let run = a.running();
        assert_eq!(
            run.account, 2,
            "the reserved function draws on its own pool"
        );
        assert_eq!(
            run.functions,
            BTreeMap::from([("g".to_string(), 2), ("r".to_string(), 1)])
        );
        drop(g1);
        drop(r);
        let run = a.running();
        assert_eq!((run.account, run.functions.len()), (1, 1));
        assert_eq!(run.functions["g"], 1);
    }

    #[test]
    fn a_reservation_counts_what_the_other_nodes_run() {
        let a = Admission::new(10);
        a.set_others(Running {
            account: 0,
            functions: BTreeMap::from([("r".to_string(), 1)]),
        });
        let held = a.admit("r", Some(2)).unwrap();
        assert_eq!(
            a.admit("r", Some(2)).unwrap_err().reason(),
            "ReservedFunctionConcurrentInvocationLimitExceeded",
            "one here and one elsewhere fill a reservation of 2"
        );
        // Another function's counts elsewhere do not count against this one.
        assert!(a.admit("s", Some(1)).is_ok());
        drop(held);
        assert!(a.admit("r", Some(2)).is_ok());
        // The others finishing frees their places here.
        a.set_others(Running::default());
        let _second = a.admit("r", Some(2)).unwrap();
        let _third = a.admit("r", Some(2)).unwrap();
        assert!(a.admit("r", Some(2)).is_err());
    }

    #[test]
    fn the_account_limit_counts_what_the_other_nodes_run() {
        let a = Admission::new(3);
        a.set_others(Running {
            account: 2,
            functions: BTreeMap::from([("g".to_string(), 2)]),
        });
        let _one = a.admit("h", None).unwrap();
        assert_eq!(
            a.admit("h", None).unwrap_err().reason(),
            "ConcurrentInvocationLimitExceeded"
        );
        // A reserved function has its own pool, outside the account's.
        assert!(a.admit("r", Some(1)).is_ok());
        // Others running more than the limit (they admitted within one heartbeat) block all.
        a.set_others(Running {
            account: 7,
            functions: BTreeMap::new(),
        });
        assert!(a.admit("k", None).is_err());
        assert!(a.admit("z", Some(0)).is_err(), "0 still blocks");
    }
}
