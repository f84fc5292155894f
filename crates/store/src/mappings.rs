//! Lambda event source mappings: one JSON document per mapping (the API layer owns its
//! shape), the poller's checkpoint in its source, and the lease that lets one node at a time
//! poll it. The checkpoint is written only after a batch is done with, so a crash replays
//! the batch rather than losing it (at-least-once, as AWS delivers).

use serde::{de::DeserializeOwned, Serialize};
use stratus_core::Result;
use stratus_db::args;

use crate::meta::{to_json, Tx};

impl Tx<'_, '_> {
    pub fn mapping<T: DeserializeOwned>(&self, uuid: &str) -> Result<Option<T>> {
        self.document_of(
            "read mapping",
            "SELECT body FROM event_source_mappings WHERE uuid = ?1",
            args![uuid],
        )
    }

    /// Creates or replaces a mapping's document (its checkpoint and lease are kept).
    pub fn put_mapping<T: Serialize>(
        &self,
        uuid: &str,
        function: &str,
        source: &str,
        body: &T,
    ) -> Result<()> {
        self.exec(
            "write mapping",
            "INSERT INTO event_source_mappings (uuid, function, source, body) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (uuid) DO UPDATE SET \
             function = excluded.function, source = excluded.source, body = excluded.body",
            args![uuid, function, source, to_json(body)],
        )?;
        Ok(())
    }

    pub fn delete_mapping(&self, uuid: &str) -> Result<bool> {
        let n = self.exec(
            "delete mapping",
            "DELETE FROM event_source_mappings WHERE uuid = ?1",
            args![uuid],
        )?;
        Ok(n > 0)
    }

    /// Mappings after `after` (by UUID) of function `function` and source `source` where
    /// given (empty: any), at most `limit`.
    pub fn mappings_after<T: DeserializeOwned>(
        &self,
        function: &str,
        source: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<T>> {
        self.documents_of(
            "list mappings",
            "SELECT body FROM event_source_mappings WHERE uuid > ?1 \
             AND (?2 = '' OR function = ?2) AND (?3 = '' OR source = ?3) \
             ORDER BY uuid LIMIT ?4",
            args![after, function, source, limit as i64],
        )
    }

    /// Where the poller of a mapping is in its source (`None`: not started).
    pub fn mapping_checkpoint(&self, uuid: &str) -> Result<Option<String>> {
        self.text(
            "read checkpoint",
            "SELECT checkpoint FROM event_source_mappings WHERE uuid = ?1 AND checkpoint IS NOT NULL",
            args![uuid],
        )
    }

    /// Sets a new mapping's starting checkpoint (a mapping that has one keeps it).
    pub fn start_mapping_at(&self, uuid: &str, checkpoint: &str) -> Result<()> {
        self.exec(
            "start checkpoint",
            "UPDATE event_source_mappings SET checkpoint = ?2 WHERE uuid = ?1 AND checkpoint IS NULL",
            args![uuid, checkpoint],
        )?;
        Ok(())
    }

    /// Moves a mapping's checkpoint, if `holder` still holds its lease (a node that lost
    /// the lease must not move another's position).
    pub fn set_mapping_checkpoint(
        &self,
        uuid: &str,
        holder: &str,
        checkpoint: &str,
    ) -> Result<bool> {
        let n = self.exec(
            "write checkpoint",
            "UPDATE event_source_mappings SET checkpoint = ?3 WHERE uuid = ?1 AND holder = ?2",
            args![uuid, holder, checkpoint],
        )?;
        Ok(n > 0)
    }

    /// Takes (or renews) the lease on a mapping for `holder` until `until_ms`, if no other
    /// node holds an unexpired one. Returns whether `holder` now holds it.
    pub fn lease_mapping(
        &self,
        uuid: &str,
        holder: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool> {
        let n = self.exec(
            "lease mapping",
            "UPDATE event_source_mappings SET holder = ?2, lease_until = ?4 WHERE uuid = ?1 \
             AND (holder IS NULL OR holder = ?2 OR lease_until < ?3)",
            args![uuid, holder, now_ms, until_ms],
        )?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::meta::Meta;
    use crate::testing::backends;

    #[test]
    fn one_holder_moves_a_checkpoint_at_a_time() {
        for b in backends("mappings") {
            let meta = Meta::open(&b.location).unwrap();
            meta.tx(|tx| {
                tx.put_mapping("u1", "f", "arn:s", &json!({"UUID": "u1"}))?;
                tx.put_mapping("u2", "g", "arn:s", &json!({"UUID": "u2"}))?;
                tx.start_mapping_at("u1", "5")?;
                // A mapping that has started keeps its position.
                tx.start_mapping_at("u1", "9")
            })
            .unwrap();
            let cp = meta.tx(|tx| tx.mapping_checkpoint("u1")).unwrap();
            assert_eq!(cp.as_deref(), Some("5"));
            assert!(meta
                .tx(|tx| tx.lease_mapping("u1", "a", 1000, 2000))
                .unwrap());
            // Another node waits for the lease to lapse.
            assert!(!meta
                .tx(|tx| tx.lease_mapping("u1", "b", 1500, 2500))
                .unwrap());
            assert!(!meta
                .tx(|tx| tx.set_mapping_checkpoint("u1", "b", "7"))
                .unwrap());
            assert!(meta
                .tx(|tx| tx.set_mapping_checkpoint("u1", "a", "7"))
                .unwrap());
            assert!(meta
                .tx(|tx| tx.lease_mapping("u1", "b", 2001, 3000))
                .unwrap());
            assert!(!meta
                .tx(|tx| tx.set_mapping_checkpoint("u1", "a", "8"))
                .unwrap());
            let cp = meta.tx(|tx| tx.mapping_checkpoint("u1")).unwrap();
            assert_eq!(cp.as_deref(), Some("7"));
            let by_fn: Vec<Value> = meta.tx(|tx| tx.mappings_after("g", "", "", 10)).unwrap();
            assert_eq!(by_fn, [json!({"UUID": "u2"})]);
            let page: Vec<Value> = meta
                .tx(|tx| tx.mappings_after("", "arn:s", "u1", 10))
                .unwrap();
            assert_eq!(page.len(), 1);
            assert!(meta.tx(|tx| tx.delete_mapping("u1")).unwrap());
            assert!(meta.tx(|tx| tx.mapping::<Value>("u1")).unwrap().is_none());
        }
    }
}
