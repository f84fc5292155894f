//! The in-memory cache of resolved access keys, so verifying a request's signature does not
//! read the database once the key has been seen. Every write that changes principals or keys
//! empties it (on this node at once, on the others when the write's `NOTIFY` arrives), and an
//! STS session's expiry is in its record, checked by the caller on every use.

use std::collections::HashMap;
use std::sync::RwLock;

use stratus_core::Error;

use super::{Iam, KeyRecord};

/// How many keys are kept at most.
const MAX_KEYS: usize = 10_000;

fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Resolved keys, with a generation that moves on every invalidation: a look-up that read
/// the database before an invalidation must not put its (possibly stale) answer back after it.
#[derive(Default)]
pub(super) struct KeyCache {
    inner: RwLock<Entries>,
}

#[derive(Default)]
struct Entries {
    generation: u64,
    keys: HashMap<String, KeyRecord>,
}

impl KeyCache {
    /// A cached record; an expired session's is not served from here (the database has the
    /// last word on it, and the caller refuses it as expired).
    fn get(&self, id: &str) -> Option<KeyRecord> {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let record = inner.keys.get(id)?;
        match record.expires {
            Some(expires) if expires <= now_secs() => None,
            _ => Some(record.clone()),
        }
    }

    /// The generation to hand back to [`KeyCache::put`]: read before the database is.
    pub(super) fn generation(&self) -> u64 {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .generation
    }

    /// Keeps `record` unless the cache was invalidated since `generation` was read.
    fn put(&self, generation: u64, id: &str, record: KeyRecord) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if inner.generation != generation {
            return;
        }
        // Bounded: STS hands out keys without end; starting over costs one read per key.
        if inner.keys.len() >= MAX_KEYS {
            inner.keys.clear();
        }
        inner.keys.insert(id.to_string(), record);
    }

    /// Forgets every key (a key, its user or a session changed somewhere).
    pub(super) fn invalidate(&self) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        inner.generation += 1;
        inner.keys.clear();
    }
}

impl Iam {
    /// Resolves an access key (a user's, or an STS session's) to its secret and identity,
    /// from the cache when it was resolved before. Unknown keys are not remembered, so a key
    /// created on another node works at once.
    pub fn resolve_key(&self, id: &str) -> Result<Option<KeyRecord>, Error> {
        if let Some(hit) = self.keys.get(id) {
            return Ok(Some(hit));
        }
        let generation = self.keys.generation();
        let found = self.load_key(id)?;
        if let Some(record) = &found {
            self.keys.put(generation, id, record.clone());
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stratus_db::Location;

    fn record(secret: &str) -> KeyRecord {
        KeyRecord {
            secret: secret.into(),
            identity: std::sync::Arc::new(super::super::Identity::root()),
            token: None,
            expires: None,
            active: true,
        }
    }

    /// A look-up that raced with an invalidation does not store what it read before it.
    #[test]
    fn a_read_from_before_an_invalidation_is_not_kept() {
        let cache = KeyCache::default();
        let g = cache.generation();
        cache.invalidate();
        cache.put(g, "AKIA1", record("old"));
        assert!(cache.get("AKIA1").is_none());
        cache.put(cache.generation(), "AKIA1", record("new"));
        assert_eq!(cache.get("AKIA1").unwrap().secret, "new");
    }

    /// An expired session's record is read again from the database, not served from here.
    #[test]
    fn an_expired_session_is_not_served_from_the_cache() {
        let cache = KeyCache::default();
        let mut expired = record("s");
        expired.expires = Some(now_secs() - 1);
        cache.put(cache.generation(), "ASIA1", expired);
        assert!(cache.get("ASIA1").is_none());
        let mut live = record("s");
        live.expires = Some(now_secs() + 60);
        cache.put(cache.generation(), "ASIA2", live);
        assert!(cache.get("ASIA2").is_some());
    }

    /// A key served from the cache stops working as soon as it is deactivated or deleted on
    /// this node, even though the lookup no longer reads the database.
    #[test]
    fn a_changed_key_is_forgotten_on_this_node() {
        let dir = tempfile::tempdir().unwrap();
        let iam = Iam::open(&Location::Sqlite(dir.path().into())).unwrap();
        iam.create_user("alice", "/").unwrap();
        let k = iam.create_access_key("alice").unwrap();
        assert!(iam.resolve_key(&k.id).unwrap().unwrap().active);
        assert!(iam.keys.get(&k.id).is_some(), "cached after the first use");
        iam.update_access_key("alice", &k.id, "Inactive").unwrap();
        assert!(!iam.resolve_key(&k.id).unwrap().unwrap().active);
        iam.delete_access_key("alice", &k.id).unwrap();
        assert!(iam.resolve_key(&k.id).unwrap().is_none());
        assert!(iam.keys.get(&k.id).is_none(), "misses are not cached");
    }

    /// Two nodes on one PostgreSQL database: a key deactivated on one stops working on the
    /// other once the announcement arrives.
    #[test]
    fn a_changed_key_is_forgotten_on_other_nodes() {
        let Ok(url) = std::env::var("STRATUS_TEST_DATABASE") else {
            return;
        };
        let schema = format!("test_iam_keys_{}", std::process::id());
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .unwrap();
        let loc = Location::parse(Some(&url), std::path::Path::new("/")).unwrap();
        let (one, other) = (
            Iam::open_named(&loc, &schema).unwrap(),
            Iam::open_named(&loc, &schema).unwrap(),
        );
        one.create_user("bob", "/").unwrap();
        let k = one.create_access_key("bob").unwrap();
        assert!(other.resolve_key(&k.id).unwrap().unwrap().active);
        assert!(other.keys.get(&k.id).is_some());
        one.update_access_key("bob", &k.id, "Inactive").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while other.resolve_key(&k.id).unwrap().unwrap().active {
            assert!(std::time::Instant::now() < deadline, "still active there");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
