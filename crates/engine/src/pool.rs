//! Warm environments, per function version. An invocation takes an idle environment or starts
//! its own, and gives it back when done: the lock is held only to push or pop, never across an
//! await, so there is no window in which two invocations could claim the same environment.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use stratus_core::function::FunctionConfig;

use crate::env::Environment;

/// Which environments can serve an invocation: same function, version and configuration
/// (its `RevisionId`). It holds the configuration itself: made for every invocation, the key
/// costs an `Arc`'s count rather than copies of three strings.
#[derive(Debug, Clone)]
pub struct PoolKey(Arc<FunctionConfig>);

impl PoolKey {
    pub fn of(cfg: &Arc<FunctionConfig>) -> PoolKey {
        PoolKey(cfg.clone())
    }

    pub fn name(&self) -> &str {
        &self.0.name
    }

    pub fn version(&self) -> &str {
        &self.0.version
    }
}

/// Equality and hashing of a key that holds a configuration, over the fields it names.
macro_rules! keyed_by {
    ($key:ident: $($field:ident),+) => {
        impl PartialEq for $key {
            fn eq(&self, other: &Self) -> bool {
                $(self.0.$field == other.0.$field)&&+
            }
        }

        impl Eq for $key {}

        impl Hash for $key {
            fn hash<H: Hasher>(&self, state: &mut H) {
                $(self.0.$field.hash(state);)+
            }
        }
    };
}

keyed_by!(PoolKey: name, version, revision_id);

#[derive(Default)]
pub struct Pools {
    idle: Mutex<HashMap<PoolKey, Vec<Environment>>>,
}

impl Pools {
    /// The most recently used idle environment (so the others age out first).
    /// Environments that died while idle are dropped on the way.
    pub fn take(&self, key: &PoolKey) -> Option<Environment> {
        let mut idle = self.idle.lock().unwrap();
        let envs = idle.get_mut(key)?;
        let now = Instant::now();
        while let Some(env) = envs.pop() {
            if env.retire_by.is_some_and(|t| now >= t) {
                // Left for the reaper to shut down; a fresh environment gets new credentials.
                envs.insert(0, env);
                return None;
            }
            if env.is_alive() {
                return Some(env);
            }
        }
        None
    }

    pub fn put(&self, key: PoolKey, env: Environment) {
        self.idle.lock().unwrap().entry(key).or_default().push(env);
    }

    pub fn retire(&self, name: &str, version: Option<&str>) {
        let retired: Vec<Environment> = {
            let mut idle = self.idle.lock().unwrap();
            let keys: Vec<PoolKey> = idle
                .keys()
                .filter(|k| k.name() == name && version.is_none_or(|v| k.version() == v))
                .cloned()
                .collect();
            keys.iter()
                .filter_map(|k| idle.remove(k))
                .flatten()
                .collect()
        };
        for env in retired {
            tokio::spawn(env.shut_down());
        }
    }

    /// Whether an idle environment could serve `key` now.
    pub fn has_idle(&self, key: &PoolKey) -> bool {
        self.idle
            .lock()
            .unwrap()
            .get(key)
            .is_some_and(|envs| !envs.is_empty())
    }

    pub fn idle_count(&self) -> usize {
        self.idle.lock().unwrap().values().map(Vec::len).sum()
    }

    /// Idle environments per function and version.
    pub fn idle_by_version(&self) -> HashMap<(String, String), usize> {
        let mut out: HashMap<(String, String), usize> = HashMap::new();
        for (k, envs) in self.idle.lock().unwrap().iter() {
            *out.entry((k.name().to_string(), k.version().to_string()))
                .or_default() += envs.len();
        }
        out
    }

    /// Removes environments idle for longer than `max_idle`, and those whose role credentials
    /// near their expiry (so a new environment gets fresh ones).
    fn expired(&self, max_idle: Duration) -> Vec<Environment> {
        let now = Instant::now();
        let mut idle = self.idle.lock().unwrap();
        let mut out = Vec::new();
        for envs in idle.values_mut() {
            let (old, fresh): (Vec<_>, Vec<_>) = envs.drain(..).partition(|e| {
                now.duration_since(e.last_used) >= max_idle || e.retire_by.is_some_and(|t| now >= t)
            });
            *envs = fresh;
            out.extend(old);
        }
        idle.retain(|_, v| !v.is_empty());
        out
    }

    pub async fn drain(&self) {
        let all: Vec<Environment> = self
            .idle
            .lock()
            .unwrap()
            .drain()
            .flat_map(|(_, v)| v)
            .collect();
        let stops: Vec<_> = all
            .into_iter()
            .map(|e| tokio::spawn(e.shut_down()))
            .collect();
        for s in stops {
            let _ = s.await;
        }
    }
}

/// Shuts down idle environments as they pass `max_idle`, until the pools are dropped.
pub async fn reap_idle(pools: Weak<Pools>, max_idle: Duration) {
    let tick = (max_idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(10));
    loop {
        tokio::time::sleep(tick).await;
        let Some(pools) = pools.upgrade() else { return };
        for env in pools.expired(max_idle) {
            tracing::debug!(env = %env.id, "reclaiming idle environment");
            tokio::spawn(env.shut_down());
        }
    }
}

/// Invocations running now (each holds one environment, starting or busy), per function and
/// version: what the concurrency and environment gauges report.
#[derive(Default)]
pub struct Busy {
    running: Mutex<HashMap<VersionKey, usize>>,
}

/// A function version, as its configuration (compared by name and version): counted for
/// every invocation, so it costs an `Arc`'s count rather than copies of two strings.
#[derive(Clone)]
struct VersionKey(Arc<FunctionConfig>);

keyed_by!(VersionKey: name, version);

/// Counts one running invocation until dropped.
pub struct BusyGuard<'a> {
    busy: &'a Busy,
    key: VersionKey,
}

impl Busy {
    pub fn enter(&self, cfg: &Arc<FunctionConfig>) -> BusyGuard<'_> {
        let key = VersionKey(cfg.clone());
        *self.running.lock().unwrap().entry(key.clone()).or_default() += 1;
        BusyGuard { busy: self, key }
    }

    /// Invocations running now (environments starting included).
    pub fn total(&self) -> usize {
        self.running.lock().unwrap().values().sum()
    }

    /// Invocations running now per function and version.
    pub fn snapshot(&self) -> HashMap<(String, String), usize> {
        let running = self.running.lock().unwrap();
        running
            .iter()
            .map(|(k, n)| ((k.0.name.clone(), k.0.version.clone()), *n))
            .collect()
    }
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        let mut running = self.busy.running.lock().unwrap();
        if let Some(n) = running.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                running.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(name: &str, version: &str) -> Arc<FunctionConfig> {
        let mut cfg = (*crate::provisioned::tests::cfg(version)).clone();
        cfg.name = name.into();
        Arc::new(cfg)
    }

    #[test]
    fn busy_counts_running_invocations() {
        let busy = Busy::default();
        // Two configurations of one version count together.
        let a = busy.enter(&version("f", "1"));
        let b = busy.enter(&version("f", "1"));
        let _c = busy.enter(&version("g", "$LATEST"));
        assert_eq!(busy.snapshot()[&("f".to_string(), "1".to_string())], 2);
        drop(a);
        drop(b);
        let snap = busy.snapshot();
        assert!(!snap.contains_key(&("f".to_string(), "1".to_string())));
        assert_eq!(snap.len(), 1);
    }
}
