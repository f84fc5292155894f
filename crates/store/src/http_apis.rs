//! API Gateway v2 HTTP APIs: one document per API, and one per integration, route, stage or
//! deployment under it (`kind` tells which). The API layer owns the documents' shapes; this
//! module only keeps them, in the caller's transaction, on either backend.

use serde::{de::DeserializeOwned, Serialize};
use stratus_core::Result;
use stratus_db::args;

use crate::meta::{to_json, Tx};

impl Tx<'_, '_> {
    pub fn http_api<T: DeserializeOwned>(&self, id: &str) -> Result<Option<T>> {
        self.document_of(
            "read api",
            "SELECT body FROM http_apis WHERE id = ?1",
            args![id],
        )
    }

    pub fn put_http_api<T: Serialize>(&self, id: &str, body: &T) -> Result<()> {
        self.exec(
            "write api",
            // An upsert, not REPLACE: replacing the row would cascade-delete its items.
            "INSERT INTO http_apis (id, body) VALUES (?1, ?2)
             ON CONFLICT(id) DO UPDATE SET body = excluded.body",
            args![id, to_json(body)],
        )?;
        Ok(())
    }

    /// Deletes an API and everything under it.
    pub fn delete_http_api(&self, id: &str) -> Result<()> {
        self.exec(
            "delete api",
            "DELETE FROM http_apis WHERE id = ?1",
            args![id],
        )?;
        Ok(())
    }

    /// APIs whose id sorts after `after`, by id.
    pub fn http_apis_after<T: DeserializeOwned>(
        &self,
        after: &str,
        limit: usize,
    ) -> Result<Vec<T>> {
        self.documents_of(
            "query apis",
            "SELECT body FROM http_apis WHERE id > ?1 ORDER BY id LIMIT ?2",
            args![after, limit as i64],
        )
    }

    pub fn http_api_item<T: DeserializeOwned>(
        &self,
        api: &str,
        kind: &str,
        id: &str,
    ) -> Result<Option<T>> {
        self.document_of(
            "read api item",
            "SELECT body FROM http_api_items WHERE api = ?1 AND kind = ?2 AND id = ?3",
            args![api, kind, id],
        )
    }

    pub fn put_http_api_item<T: Serialize>(
        &self,
        api: &str,
        kind: &str,
        id: &str,
        body: &T,
    ) -> Result<()> {
        self.exec(
            "write api item",
            "INSERT INTO http_api_items (api, kind, id, body) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(api, kind, id) DO UPDATE SET body = excluded.body",
            args![api, kind, id, to_json(body)],
        )?;
        Ok(())
    }

    pub fn delete_http_api_item(&self, api: &str, kind: &str, id: &str) -> Result<()> {
        self.exec(
            "delete api item",
            "DELETE FROM http_api_items WHERE api = ?1 AND kind = ?2 AND id = ?3",
            args![api, kind, id],
        )?;
        Ok(())
    }

    /// Every item of one kind under an API, by id.
    pub fn http_api_items<T: DeserializeOwned>(&self, api: &str, kind: &str) -> Result<Vec<T>> {
        self.documents_of(
            "query api items",
            "SELECT body FROM http_api_items WHERE api = ?1 AND kind = ?2 ORDER BY id",
            args![api, kind],
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::meta::Meta;
    use crate::testing::backends;

    #[test]
    fn items_survive_reopen_and_go_with_their_api() {
        for b in backends("apis") {
            Meta::open(&b.location)
                .unwrap()
                .tx(|tx| {
                    tx.put_http_api("a1", &serde_json::json!({"name": "x"}))?;
                    tx.put_http_api_item("a1", "route", "r1", &"GET /")?;
                    tx.put_http_api_item("a1", "route", "r2", &"POST /")?;
                    tx.put_http_api_item("a1", "route", "r2", &"PUT /")?;
                    tx.put_http_api_item("a1", "stage", "$default", &1)
                })
                .unwrap();
            let meta = Meta::open(&b.location).unwrap();
            let routes: Vec<String> = meta.tx(|tx| tx.http_api_items("a1", "route")).unwrap();
            assert_eq!(routes, ["GET /", "PUT /"], "{:?}", b.location);
            let apis: Vec<serde_json::Value> = meta.tx(|tx| tx.http_apis_after("", 10)).unwrap();
            assert_eq!(apis.len(), 1);
            meta.tx(|tx| tx.put_http_api("a1", &serde_json::json!({"name": "y"})))
                .unwrap();
            let kept: Vec<String> = meta.tx(|tx| tx.http_api_items("a1", "route")).unwrap();
            assert_eq!(kept.len(), 2, "updating an API keeps its items");
            let one: Option<String> = meta.tx(|tx| tx.http_api_item("a1", "route", "r1")).unwrap();
            assert_eq!(one.as_deref(), Some("GET /"));
            meta.tx(|tx| tx.delete_http_api_item("a1", "route", "r1"))
                .unwrap();
            meta.tx(|tx| tx.delete_http_api("a1")).unwrap();
            let left: Vec<i32> = meta.tx(|tx| tx.http_api_items("a1", "stage")).unwrap();
            assert!(left.is_empty());
        }
    }
}
