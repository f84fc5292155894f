//! Function URLs: one JSON document per function and qualifier (the API layer owns its
//! shape), keyed by the URL id its host name carries. The qualifier is `''` for the
//! unqualified function, else an alias name.

use serde::{de::DeserializeOwned, Serialize};
use stratus_core::Result;
use stratus_db::args;

use crate::db_fault;
use crate::meta::{from_json, to_json, Tx};

impl Tx<'_, '_> {
    /// The URL of `function` with `qualifier` (`""`: none).
    pub fn function_url<T: DeserializeOwned>(
        &self,
        function: &str,
        qualifier: &str,
    ) -> Result<Option<T>> {
        self.document_of(
            "read function url",
            "SELECT body FROM function_urls WHERE function = ?1 AND qualifier = ?2",
            args![function, qualifier],
        )
    }

    /// The URL whose host name carries `url_id`.
    pub fn function_url_by_id<T: DeserializeOwned>(&self, url_id: &str) -> Result<Option<T>> {
        self.document_of(
            "read function url by id",
            "SELECT body FROM function_urls WHERE url_id = ?1",
            args![url_id],
        )
    }

    /// Creates or replaces the URL of `function` with `qualifier` (its id never changes).
    pub fn put_function_url<T: Serialize>(
        &self,
        url_id: &str,
        function: &str,
        qualifier: &str,
        body: &T,
    ) -> Result<()> {
        self.exec(
            "write function url",
            "INSERT INTO function_urls (url_id, function, qualifier, body) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (url_id) DO UPDATE SET body = excluded.body",
            args![url_id, function, qualifier, to_json(body)],
        )?;
        Ok(())
    }

    /// Deletes the URL of `function` with `qualifier`; whether there was one.
    pub fn delete_function_url(&self, function: &str, qualifier: &str) -> Result<bool> {
        let n = self.exec(
            "delete function url",
            "DELETE FROM function_urls WHERE function = ?1 AND qualifier = ?2",
            args![function, qualifier],
        )?;
        Ok(n > 0)
    }

    /// The URLs of `function` whose qualifier sorts after `after` (`None`: from the first),
    /// with their qualifiers, at most `limit`.
    pub fn function_urls_after<T: DeserializeOwned>(
        &self,
        function: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, T)>> {
        self.0
            .query_map(
                "SELECT qualifier, body FROM function_urls
                 WHERE function = ?1 AND (?2 = 0 OR qualifier > ?3) ORDER BY qualifier LIMIT ?4",
                args![
                    function,
                    i64::from(after.is_some()),
                    after.unwrap_or(""),
                    limit as i64
                ],
                |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)),
            )
            .map_err(|e| db_fault("list function urls", e))?
            .into_iter()
            .map(|(q, b)| Ok((q, from_json(&b)?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::meta::{FunctionRow, Meta};
    use crate::testing::backends;

    fn row(name: &str) -> FunctionRow {
        FunctionRow {
            name: name.into(),
            next_version: 1,
            ..Default::default()
        }
    }

    #[test]
    fn urls_are_found_by_id_listed_and_cascade() {
        for b in backends("urls") {
            let meta = Meta::open(&b.location).unwrap();
            check(&meta);
        }
    }

    fn check(meta: &Meta) {
        meta.tx(|tx| {
            tx.put_function(&row("f"))?;
            tx.put_function_url("id1", "f", "", &serde_json::json!({"q": ""}))?;
            tx.put_function_url("id2", "f", "live", &serde_json::json!({"q": "live"}))
        })
        .unwrap();
        let by_id: Option<serde_json::Value> = meta.tx(|tx| tx.function_url_by_id("id2")).unwrap();
        assert_eq!(by_id.unwrap()["q"], "live");
        let all: Vec<(String, serde_json::Value)> =
            meta.tx(|tx| tx.function_urls_after("f", None, 10)).unwrap();
        assert_eq!(all.len(), 2);
        let rest: Vec<(String, serde_json::Value)> = meta
            .tx(|tx| tx.function_urls_after("f", Some(""), 10))
            .unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].0, "live");
        // A second URL for the same qualifier is refused by the store itself.
        let dup = meta.tx(|tx| tx.put_function_url("id3", "f", "live", &1));
        assert!(dup.is_err());
        assert!(meta.tx(|tx| tx.delete_function_url("f", "live")).unwrap());
        assert!(!meta.tx(|tx| tx.delete_function_url("f", "live")).unwrap());
        meta.tx(|tx| tx.delete_function("f")).unwrap();
        let gone: Option<serde_json::Value> = meta.tx(|tx| tx.function_url_by_id("id1")).unwrap();
        assert!(gone.is_none());
    }
}
