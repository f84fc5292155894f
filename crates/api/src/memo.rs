//! A memo of what was read from the metadata store, each entry labelled with the metadata
//! generation it was read at and used only while that is unchanged: any committed write (on
//! this node or, on PostgreSQL, another) makes every entry stale at once, so nothing is
//! invalidated by hand and no write goes unseen. The HTTP API's served APIs and the functions'
//! policy decisions use it (the invoker keeps its own, keyed to borrow without a key string).

use std::collections::HashMap;
use std::sync::Mutex;

pub struct GenerationMemo<V> {
    entries: Mutex<HashMap<String, (u64, V)>>,
    /// Beyond this many entries the memo starts over rather than tracking use.
    max: usize,
}

impl<V: Clone> GenerationMemo<V> {
    pub fn new(max: usize) -> Self {
        GenerationMemo {
            entries: Mutex::new(HashMap::new()),
            max,
        }
    }

    /// The value kept for `key` if it was read at `generation`.
    pub fn get(&self, key: &str, generation: u64) -> Option<V> {
        match self.lock().get(key) {
            Some((g, v)) if *g == generation => Some(v.clone()),
            _ => None,
        }
    }

    /// Keeps `value` for `key`, read at `generation` (taken before the read: a write racing
    /// with the read only makes the value look older).
    pub fn put(&self, key: String, generation: u64, value: V) {
        let mut entries = self.lock();
        if entries.len() >= self.max {
            entries.clear();
        }
        entries.insert(key, (generation, value));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, V)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_used_at_its_generation_only() {
        let memo = GenerationMemo::new(2);
        memo.put("a".into(), 1, 10);
        assert_eq!(memo.get("a", 1), Some(10));
        assert_eq!(memo.get("a", 2), None);
        memo.put("b".into(), 1, 20);
        memo.put("c".into(), 1, 30);
        assert_eq!(
            memo.get("a", 1),
            None,
            "over the bound the memo starts over"
        );
        assert_eq!(memo.get("c", 1), Some(30));
    }
}
