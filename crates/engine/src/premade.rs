//! The pool of pre-made sandboxes (decision 0038; what one is: `sandbox::premade`). Sized by
//! demand: a runtime family gets `per_family` sandboxes once a cold start has asked for it,
//! each one taken is replaced in the background, and a family no cold start asked for within
//! the idle time is emptied, so an idle platform keeps none. A sandbox is taken once and
//! never comes back: each serves one environment of one function version.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::sandbox::premade::{Family, Premade};
use crate::sandbox::Sandbox;
use crate::Isolation;

pub struct Pool {
    per_family: usize,
    idle_after: Duration,
    shelves: Mutex<HashMap<Family, Shelf>>,
    /// Cold starts served by a pre-made sandbox, and those that found none ready.
    taken: AtomicU64,
    missed: AtomicU64,
}

struct Shelf {
    ready: Vec<Premade>,
    /// Being prepared now.
    making: usize,
    /// The last cold start that asked for this family.
    asked: Instant,
}

impl Pool {
    pub fn new(per_family: usize, idle_after: Duration) -> Pool {
        Pool {
            per_family,
            idle_after,
            shelves: Mutex::default(),
            taken: AtomicU64::new(0),
            missed: AtomicU64::new(0),
        }
    }

    /// Whether `sandbox` draws on the pool at all.
    fn serves(&self, sandbox: &Sandbox) -> bool {
        self.per_family > 0 && sandbox.mode == Isolation::Namespaces
    }

    /// A ready sandbox of `family`, if there is one. The shelf is not refilled here but by
    /// `replenish`, through the [`Replenish`] the cold start holds until its first invocation
    /// has answered: on two vCPUs, preparing a replacement (namespaces, a launcher, an
    /// interpreter's start) beside the cold start it is for slowed that cold start by a third.
    pub fn take(self: &Arc<Self>, sandbox: &Arc<Sandbox>, family: &Family) -> Option<Premade> {
        if !self.serves(sandbox) {
            return None;
        }
        let got = {
            let mut shelves = self.shelves.lock().unwrap();
            let shelf = shelves.entry(family.clone()).or_insert_with(|| Shelf {
                ready: Vec::new(),
                making: 0,
                asked: Instant::now(),
            });
            shelf.asked = Instant::now();
            // Oldest first: it has had the longest to finish starting.
            let mut got = None;
            while !shelf.ready.is_empty() {
                let mut p = shelf.ready.remove(0);
                if p.is_alive() {
                    got = Some(p);
                    break;
                }
            }
            got
        };
        let counter = if got.is_some() {
            &self.taken
        } else {
            &self.missed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        got
    }

    /// Starts preparing, in the background, what `family`'s shelf lacks (after a `take`).
    pub fn replenish(self: &Arc<Self>, sandbox: &Arc<Sandbox>, family: &Family) {
        if !self.serves(sandbox) {
            return;
        }
        let need = {
            let mut shelves = self.shelves.lock().unwrap();
            let Some(shelf) = shelves.get_mut(family) else {
                return;
            };
            let need = self
                .per_family
                .saturating_sub(shelf.ready.len() + shelf.making);
            shelf.making += need;
            need
        };
        for _ in 0..need {
            let (pool, sandbox, family) = (self.clone(), sandbox.clone(), family.clone());
            // Off the async workers (it waits on a namespace thread and a spawn), and on a
            // thread that outlives the sandbox's launcher.
            let asked = family.clone();
            let queued = crate::sandbox::spawner::submit(move || {
                let made = sandbox.premake(&family);
                pool.shelve(&family, made);
            });
            if let Err(e) = queued {
                self.shelve(&asked, Err(e));
            }
        }
    }

    fn shelve(&self, family: &Family, made: std::io::Result<Premade>) {
        let mut shelves = self.shelves.lock().unwrap();
        let Some(shelf) = shelves.get_mut(family) else {
            return; // emptied while it was made: dropping it kills it
        };
        shelf.making = shelf.making.saturating_sub(1);
        match made {
            Ok(p) => shelf.ready.push(p),
            Err(e) => tracing::warn!(%e, runtime = %family.program, "preparing a sandbox"),
        }
    }

    /// Removes the shelves of families no cold start asked for within the idle time; the
    /// caller drops what they held.
    fn expired(&self) -> Vec<Premade> {
        let mut shelves = self.shelves.lock().unwrap();
        let idle_after = self.idle_after;
        let stale: Vec<Family> = shelves
            .iter()
            .filter(|(_, s)| s.asked.elapsed() >= idle_after)
            .map(|(f, _)| f.clone())
            .collect();
        stale
            .iter()
            .filter_map(|f| shelves.remove(f))
            .flat_map(|s| s.ready)
            .collect()
    }

    /// Drops every pre-made sandbox (at shutdown).
    pub fn drain(&self) {
        let all: Vec<Shelf> = self
            .shelves
            .lock()
            .unwrap()
            .drain()
            .map(|(_, s)| s)
            .collect();
        drop(all);
    }

    /// What `/health` reports: the pool's size, what is ready, and how cold starts fared.
    pub fn report(&self) -> serde_json::Value {
        let shelves = self.shelves.lock().unwrap();
        let ready: usize = shelves.values().map(|s| s.ready.len()).sum();
        serde_json::json!({
            "per_runtime": self.per_family,
            "runtimes": shelves.len(),
            "ready": ready,
            "taken": self.taken.load(Ordering::Relaxed),
            "missed": self.missed.load(Ordering::Relaxed),
        })
    }
}

/// Empties the shelves of families no longer asked for, until the pool is dropped.
pub async fn reap(pool: Weak<Pool>, idle_after: Duration) {
    let tick = (idle_after / 4).clamp(Duration::from_millis(100), Duration::from_secs(10));
    loop {
        tokio::time::sleep(tick).await;
        let Some(pool) = pool.upgrade() else { return };
        let stale = pool.expired();
        if !stale.is_empty() {
            tracing::debug!(count = stale.len(), "discarding unused pre-made sandboxes");
        }
    }
}

/// Replenishes a family's shelf when dropped: at the end of the cold start that took from it.
pub struct Replenish {
    pool: Arc<Pool>,
    sandbox: Arc<Sandbox>,
    family: Family,
}

impl Replenish {
    pub fn new(ctx: &crate::Context, family: Family) -> Replenish {
        Replenish {
            pool: ctx.premade.clone(),
            sandbox: ctx.sandbox.clone(),
            family,
        }
    }
}

/// How long after a cold start's first invocation its replacement is begun: long enough for
/// the invocation's answer to be written out before the replacement's start (namespaces, a
/// launcher, an interpreter) competes with it for the CPUs.
const REPLENISH_AFTER: Duration = Duration::from_millis(20);

impl Drop for Replenish {
    fn drop(&mut self) {
        let (pool, sandbox, family) = (
            self.pool.clone(),
            self.sandbox.clone(),
            std::mem::take(&mut self.family),
        );
        // Without a runtime the platform is shutting down: nothing to refill.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                tokio::time::sleep(REPLENISH_AFTER).await;
                pool.replenish(&sandbox, &family);
            });
        }
    }
}
