//! What each HTTP API serves (the API, its stages and each stage's deployed snapshot), kept in
//! memory so a data-plane request reads no SQLite and decodes no stored JSON. Entries are
//! labelled with the metadata generation they were read at and used only while it is
//! unchanged (as the invoker's resolve memo is): any committed write (a route, a stage, a
//! deployment, the API itself, on this node or, on PostgreSQL, another) makes every entry
//! stale at once, so nothing is invalidated by hand.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use stratus_core::Result;
use stratus_store::meta::Meta;

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

#[derive(Default)]
pub struct ServedCache {
    entries: Mutex<HashMap<String, (u64, Arc<Served>)>>,
}

impl ServedCache {
    /// What `api_id` serves (`None`: no such API), from memory while nothing was written since
    /// it was read.
    pub fn get(&self, meta: &Meta, api_id: &str) -> Result<Option<Arc<Served>>> {
        // Read before the transaction: a write racing with it only makes the copy look older.
        let generation = meta.generation();
        if let Some((g, served)) = self.lock().get(api_id) {
            if *g == generation {
                return Ok(Some(served.clone()));
            }
        }
        let Some(served) = meta.tx(|tx| load(tx, api_id))? else {
            return Ok(None);
        };
        let served = Arc::new(served);
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(api_id.to_string(), (generation, served.clone()));
        Ok(Some(served))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, Arc<Served>)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
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
