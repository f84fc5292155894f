//! API Gateway v2 HTTP APIs in SQLite: one document per API, and one per integration, route,
//! stage or deployment under it (`kind` tells which). The API layer owns the documents' shapes;
//! this module only keeps them, in the caller's transaction.

use rusqlite::{params, OptionalExtension};
use serde::{de::DeserializeOwned, Serialize};
use stratus_core::Result;

use crate::fault;
use crate::meta::{from_json, to_json, Tx};

impl Tx<'_> {
    pub fn http_api<T: DeserializeOwned>(&self, id: &str) -> Result<Option<T>> {
        self.0
            .query_row("SELECT body FROM http_apis WHERE id = ?1", [id], |r| {
                r.get::<_, String>(0)
            })
            .optional()
            .map_err(|e| fault("read api", e))?
            .map(|s| from_json(&s))
            .transpose()
    }

    pub fn put_http_api<T: Serialize>(&self, id: &str, body: &T) -> Result<()> {
        self.0
            .execute(
                // An upsert, not REPLACE: replacing the row would cascade-delete its items.
                "INSERT INTO http_apis (id, body) VALUES (?1, ?2)
                 ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                params![id, to_json(body)],
            )
            .map_err(|e| fault("write api", e))?;
        Ok(())
    }

    /// Deletes an API and everything under it.
    pub fn delete_http_api(&self, id: &str) -> Result<()> {
        self.0
            .execute("DELETE FROM http_apis WHERE id = ?1", [id])
            .map_err(|e| fault("delete api", e))?;
        Ok(())
    }

    /// APIs whose id sorts after `after`, by id.
    pub fn http_apis_after<T: DeserializeOwned>(
        &self,
        after: &str,
        limit: usize,
    ) -> Result<Vec<T>> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT body FROM http_apis WHERE id > ?1 ORDER BY id LIMIT ?2")
            .map_err(|e| fault("prepare", e))?;
        let rows = stmt
            .query_map(params![after, limit as i64], |r| r.get::<_, String>(0))
            .map_err(|e| fault("query apis", e))?;
        rows.map(|r| from_json(&r.map_err(|e| fault("read row", e))?))
            .collect()
    }

    pub fn http_api_item<T: DeserializeOwned>(
        &self,
        api: &str,
        kind: &str,
        id: &str,
    ) -> Result<Option<T>> {
        self.0
            .query_row(
                "SELECT body FROM http_api_items WHERE api = ?1 AND kind = ?2 AND id = ?3",
                [api, kind, id],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(|e| fault("read api item", e))?
            .map(|s| from_json(&s))
            .transpose()
    }

    pub fn put_http_api_item<T: Serialize>(
        &self,
        api: &str,
        kind: &str,
        id: &str,
        body: &T,
    ) -> Result<()> {
        self.0
            .execute(
                "INSERT OR REPLACE INTO http_api_items (api, kind, id, body) VALUES (?1, ?2, ?3, ?4)",
                params![api, kind, id, to_json(body)],
            )
            .map_err(|e| fault("write api item", e))?;
        Ok(())
    }

    pub fn delete_http_api_item(&self, api: &str, kind: &str, id: &str) -> Result<()> {
        self.0
            .execute(
                "DELETE FROM http_api_items WHERE api = ?1 AND kind = ?2 AND id = ?3",
                [api, kind, id],
            )
            .map_err(|e| fault("delete api item", e))?;
        Ok(())
    }

    /// Every item of one kind under an API, by id.
    pub fn http_api_items<T: DeserializeOwned>(&self, api: &str, kind: &str) -> Result<Vec<T>> {
        let mut stmt = self
            .0
            .prepare_cached(
                "SELECT body FROM http_api_items WHERE api = ?1 AND kind = ?2 ORDER BY id",
            )
            .map_err(|e| fault("prepare", e))?;
        let rows = stmt
            .query_map([api, kind], |r| r.get::<_, String>(0))
            .map_err(|e| fault("query api items", e))?;
        rows.map(|r| from_json(&r.map_err(|e| fault("read row", e))?))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::meta::Meta;

    #[test]
    fn items_survive_reopen_and_go_with_their_api() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        Meta::open(&path)
            .unwrap()
            .tx(|tx| {
                tx.put_http_api("a1", &serde_json::json!({"name": "x"}))?;
                tx.put_http_api_item("a1", "route", "r1", &"GET /")?;
                tx.put_http_api_item("a1", "route", "r2", &"POST /")?;
                tx.put_http_api_item("a1", "stage", "$default", &1)
            })
            .unwrap();
        let meta = Meta::open(&path).unwrap();
        let routes: Vec<String> = meta.tx(|tx| tx.http_api_items("a1", "route")).unwrap();
        assert_eq!(routes, ["GET /", "POST /"]);
        let apis: Vec<serde_json::Value> = meta.tx(|tx| tx.http_apis_after("", 10)).unwrap();
        assert_eq!(apis.len(), 1);
        meta.tx(|tx| tx.put_http_api("a1", &serde_json::json!({"name": "y"})))
            .unwrap();
        let kept: Vec<String> = meta.tx(|tx| tx.http_api_items("a1", "route")).unwrap();
        assert_eq!(kept.len(), 2, "updating an API keeps its items");
        meta.tx(|tx| tx.delete_http_api("a1")).unwrap();
        let left: Vec<i32> = meta.tx(|tx| tx.http_api_items("a1", "stage")).unwrap();
        assert!(left.is_empty());
    }
}
