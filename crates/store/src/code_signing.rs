//! Lambda code signing configurations: one JSON document per configuration, by its id (the
//! API layer owns the shape). Which function uses one is a per-function document.

use serde::{de::DeserializeOwned, Serialize};
use stratus_core::Result;
use stratus_db::args;

use crate::meta::Tx;

impl Tx<'_, '_> {
    /// Creates or replaces configuration `id`.
    pub fn put_code_signing_config<T: Serialize>(&self, id: &str, body: &T) -> Result<()> {
        self.exec(
            "write code signing config",
            "INSERT INTO code_signing_configs (id, body) VALUES (?1, ?2) \
             ON CONFLICT (id) DO UPDATE SET body = excluded.body",
            args![id, crate::meta::to_json(body)],
        )?;
        Ok(())
    }

    pub fn code_signing_config<T: DeserializeOwned>(&self, id: &str) -> Result<Option<T>> {
        self.document_of(
            "read code signing config",
            "SELECT body FROM code_signing_configs WHERE id = ?1",
            args![id],
        )
    }

    /// Every configuration, by id.
    pub fn code_signing_configs<T: DeserializeOwned>(&self) -> Result<Vec<T>> {
        self.documents_of(
            "list code signing configs",
            "SELECT body FROM code_signing_configs ORDER BY id",
            args![],
        )
    }

    pub fn delete_code_signing_config(&self, id: &str) -> Result<bool> {
        let n = self.exec(
            "delete code signing config",
            "DELETE FROM code_signing_configs WHERE id = ?1",
            args![id],
        )?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use crate::meta::Meta;
    use crate::testing::backends;

    #[test]
    fn configurations_are_kept_listed_in_order_and_deleted() {
        for b in backends("code_signing") {
            let meta = Meta::open(&b.location).unwrap();
            meta.tx(|tx| {
                tx.put_code_signing_config("csc-b", &"second".to_string())?;
                tx.put_code_signing_config("csc-a", &"first".to_string())?;
                tx.put_code_signing_config("csc-b", &"second, updated".to_string())
            })
            .unwrap();
            let all: Vec<String> = meta.tx(|tx| tx.code_signing_configs()).unwrap();
            assert_eq!(all, vec!["first", "second, updated"]);
            assert!(meta
                .tx(|tx| tx.delete_code_signing_config("csc-a"))
                .unwrap());
            assert!(!meta
                .tx(|tx| tx.delete_code_signing_config("csc-a"))
                .unwrap());
            let gone: Option<String> = meta.tx(|tx| tx.code_signing_config("csc-a")).unwrap();
            assert!(gone.is_none());
        }
    }
}
