//! A memo of what a (function, qualifier) resolves to, so a warm invocation reads no SQLite and
//! decodes no stored JSON. Entries are labelled with the metadata generation they were read at
//! and are used only while it is unchanged: any committed control-plane write (and any other
//! write to the metadata database) makes every entry stale at once, so there is nothing to
//! invalidate by hand and no window in which an update is not seen.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use stratus_core::alias::Alias;
use stratus_core::function::FunctionConfig;

/// Beyond this many entries the memo starts over rather than tracking use.
const MAX_ENTRIES: usize = 4096;

/// What a qualifier names: one version, or an alias whose versions are all at hand.
#[derive(Clone)]
pub enum Target {
    Version(Arc<FunctionConfig>),
    Alias {
        alias: Alias,
        /// The configuration of every version the alias routes to.
        versions: Vec<Arc<FunctionConfig>>,
    },
}

impl Target {
    /// The configuration one invocation runs (a weighted alias rolls per call).
    pub fn pick(&self, roll: f64) -> Option<&Arc<FunctionConfig>> {
        match self {
            Target::Version(cfg) => Some(cfg),
            Target::Alias { alias, versions } => {
                let v = alias.pick_version(roll);
                versions.iter().find(|c| c.version == v)
            }
        }
    }
}

#[derive(Clone)]
pub struct Entry {
    pub target: Target,
    pub reserved: Option<u32>,
}

/// A function's memoised qualifiers: (qualifier, generation read at, entry). A function has
/// few qualifiers in use, and a scan compares borrowed strings without building a key.
type Qualifiers = Vec<(Option<String>, u64, Arc<Entry>)>;

#[derive(Default)]
pub struct ResolveCache {
    entries: Mutex<HashMap<String, Qualifiers>>,
}

impl ResolveCache {
    /// The entry for `name` + `qualifier` if it was read at `generation`.
    pub fn get(&self, name: &str, qualifier: Option<&str>, generation: u64) -> Option<Arc<Entry>> {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (_, g, entry) = map
            .get(name)?
            .iter()
            .find(|(q, _, _)| q.as_deref() == qualifier)?;
        (*g == generation).then(|| entry.clone())
    }

    pub fn put(&self, name: &str, qualifier: Option<&str>, generation: u64, entry: Arc<Entry>) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.values().map(Vec::len).sum::<usize>() >= MAX_ENTRIES {
            map.clear();
        }
        let quals = map.entry(name.to_string()).or_default();
        quals.retain(|(q, _, _)| q.as_deref() != qualifier);
        quals.push((qualifier.map(str::to_string), generation, entry));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::cfg;

    #[test]
    fn an_entry_is_used_only_at_its_generation() {
        let cache = ResolveCache::default();
        let entry = Entry {
            target: Target::Version(Arc::new(cfg("3"))),
            reserved: Some(2),
        };
        cache.put("f", Some("3"), 7, Arc::new(entry));
        assert!(cache.get("f", Some("3"), 7).is_some());
        assert!(
            cache.get("f", Some("3"), 8).is_none(),
            "a write happened since"
        );
        assert!(cache.get("f", None, 7).is_none(), "another qualifier");
    }

    #[test]
    fn an_alias_picks_among_its_versions_per_call() {
        let alias = Alias {
            name: "live".into(),
            function_version: "1".into(),
            description: String::new(),
            weights: [("2".to_string(), 0.25)].into(),
            revision_id: String::new(),
        };
        let t = Target::Alias {
            alias,
            versions: vec![Arc::new(cfg("1")), Arc::new(cfg("2"))],
        };
        assert_eq!(t.pick(0.1).unwrap().version, "2");
        assert_eq!(t.pick(0.9).unwrap().version, "1");
    }
}
