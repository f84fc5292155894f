//! What each HTTP API serves (the API, its stages and each stage's deployed snapshot), kept in
//! memory so a data-plane request reads no SQLite and decodes no stored JSON, for as long as
//! nothing is written to the metadata (a route, a stage, a deployment, the API itself; see
//! [`crate::memo`]).

use std::sync::Arc;

use stratus_core::Result;
use stratus_store::meta::Meta;

use crate::memo::GenerationMemo;

use super::model::{Api, Snapshot, Stage, STAGE};
use super::store;

/// Beyond this many APIs the memo starts over rather than tracking use.
const MAX_ENTRIES: usize = 1024;

/// An API as its data plane serves it.
pub struct Served {
    pub api: Api,
    /// Each stage and the snapshot of its deployment (`None`: never deployed).
    pub stages: Vec<(Stage, Option<Snapshot>)>,
}

pub struct ServedCache {
    memo: GenerationMemo<Arc<Served>>,
}

impl Default for ServedCache {
    fn default() -> Self {
        ServedCache {
            memo: GenerationMemo::new(MAX_ENTRIES),
        }
    }
}

impl ServedCache {
    /// What `api_id` serves (`None`: no such API), from memory while nothing was written since
    /// it was read.
    pub fn get(&self, meta: &Meta, api_id: &str) -> Result<Option<Arc<Served>>> {
        // Read before the transaction: a write racing with it only makes the copy look older.
        let generation = meta.generation();
        if let Some(served) = self.memo.get(api_id, generation) {
            return Ok(Some(served));
        }
        let Some(served) = meta.tx(|tx| load(tx, api_id))? else {
            return Ok(None);
        };
        let served = Arc::new(served);
        self.memo
            .put(api_id.to_string(), generation, served.clone());
        Ok(Some(served))
    }
}

fn load(tx: &stratus_store::meta::Tx<'_, '_>, api_id: &str) -> Result<Option<Served>> {
    let Some(api) = tx.http_api::<Api>(api_id)? else {
        return Ok(None);
    };
    let mut stages = Vec::new();
    for stage in tx.http_api_items::<Stage>(api_id, STAGE)? {
        let snapshot = store::served(tx, api_id, &stage)?;
        stages.push((stage, snapshot));
    }
    Ok(Some(Served { api, stages }))
}
