//! Lambda layers: one JSON document per layer version (the API layer owns its shape, with
//! its permission statements), and per layer name the next version number, which outlives
//! every deletion so a number is never given twice (as AWS numbers them).

use serde::{de::DeserializeOwned, Serialize};
use stratus_core::Result;
use stratus_db::args;

use crate::db_fault;
use crate::meta::{from_json, to_json, Tx};

impl Tx<'_, '_> {
    /// Takes the next version number of layer `name` (1 for a new name).
    pub fn take_layer_version(&self, name: &str) -> Result<u64> {
        let next: Option<i64> = self
            .0
            .query_opt(
                "SELECT next_version FROM layers WHERE name = ?1",
                args![name],
                |r| r.get(0),
            )
            .map_err(|e| db_fault("read layer", e))?;
        let version = next.unwrap_or(1);
        self.exec(
            "write layer",
            "INSERT INTO layers (name, next_version) VALUES (?1, ?2) \
             ON CONFLICT (name) DO UPDATE SET next_version = excluded.next_version",
            args![name, version + 1],
        )?;
        Ok(version as u64)
    }

    /// Creates or replaces a layer version's document.
    pub fn put_layer_version<T: Serialize>(
        &self,
        name: &str,
        version: u64,
        body: &T,
    ) -> Result<()> {
        self.exec(
            "write layer version",
            "INSERT INTO layer_versions (name, version, body) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name, version) DO UPDATE SET body = excluded.body",
            args![name, version as i64, to_json(body)],
        )?;
        Ok(())
    }

    pub fn layer_version<T: DeserializeOwned>(
        &self,
        name: &str,
        version: u64,
    ) -> Result<Option<T>> {
        self.document_of(
            "read layer version",
            "SELECT body FROM layer_versions WHERE name = ?1 AND version = ?2",
            args![name, version as i64],
        )
    }

    pub fn delete_layer_version(&self, name: &str, version: u64) -> Result<bool> {
        let n = self.exec(
            "delete layer version",
            "DELETE FROM layer_versions WHERE name = ?1 AND version = ?2",
            args![name, version as i64],
        )?;
        Ok(n > 0)
    }

    /// The versions of layer `name`, newest first.
    pub fn layer_versions<T: DeserializeOwned>(&self, name: &str) -> Result<Vec<T>> {
        self.documents_of(
            "list layer versions",
            "SELECT body FROM layer_versions WHERE name = ?1 ORDER BY version DESC",
            args![name],
        )
    }

    /// Every layer version of every layer, by name, newest first within a name.
    pub fn all_layer_versions<T: DeserializeOwned>(&self) -> Result<Vec<(String, T)>> {
        let rows: Vec<(String, String)> = self
            .0
            .query_map(
                "SELECT name, body FROM layer_versions ORDER BY name, version DESC",
                args![],
                |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)),
            )
            .map_err(|e| db_fault("list layers", e))?;
        rows.into_iter()
            .map(|(name, body)| Ok((name, from_json(&body)?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::meta::Meta;
    use crate::testing::backends;

    #[test]
    fn numbers_count_up_and_are_never_reused() {
        for b in backends("layers") {
            let meta = Meta::open(&b.location).unwrap();
            let put = |body: &str| {
                meta.tx(|tx| {
                    let v = tx.take_layer_version("lib")?;
                    tx.put_layer_version("lib", v, &body.to_string())?;
                    Ok(v)
                })
                .unwrap()
            };
            assert_eq!(put("one"), 1);
            assert_eq!(put("two"), 2);
            assert!(meta.tx(|tx| tx.delete_layer_version("lib", 2)).unwrap());
            assert_eq!(put("three"), 3, "a deleted number is not given again");
            let listed: Vec<String> = meta.tx(|tx| tx.layer_versions("lib")).unwrap();
            assert_eq!(listed, vec!["three", "one"]);
            let all: Vec<(String, String)> = meta.tx(|tx| tx.all_layer_versions()).unwrap();
            assert_eq!(all.len(), 2);
            let none: Option<String> = meta.tx(|tx| tx.layer_version("lib", 2)).unwrap();
            assert!(none.is_none());
        }
    }
}
