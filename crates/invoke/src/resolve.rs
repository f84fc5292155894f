//! Resolution: a function name and qualifier → the version one invocation runs. This is the
//! one place where a qualifier is turned into a version ([`named`]); the control plane's reads
//! use it too. The invoke path reads through the memo, so a warm invocation touches no SQLite.

use std::sync::Arc;

use stratus_core::alias::Alias;
use stratus_core::arn::function_arn;
use stratus_core::function::{FunctionConfig, LATEST};
use stratus_core::names::Qualifier;
use stratus_core::{Error, Result};
use stratus_store::meta::Tx;

use crate::memo::{Entry, Target};
use crate::Invoker;

/// `Function not found: arn:...` with the ARN AWS puts in it.
pub fn function_not_found(region: &str, name: &str, qualifier: Option<&str>) -> Error {
    Error::not_found(format!(
        "Function not found: {}",
        function_arn(region, name, qualifier)
    ))
}

/// What a qualifier names.
pub enum Named {
    /// A version (`$LATEST` included), by its name.
    Version(String),
    /// An alias, which routes to its primary version and perhaps one weighted other.
    Alias(Alias),
}

/// Reads what `qualifier` names in `tx`: none is `$LATEST`, a number is that version, anything
/// else an alias (`None` if there is no such alias). Versions are not checked here.
pub fn named(tx: &Tx, name: &str, qualifier: Option<&str>) -> Result<Option<Named>> {
    Ok(match Qualifier::parse(qualifier) {
        Qualifier::Latest => Some(Named::Version(LATEST.to_string())),
        Qualifier::Version(n) => Some(Named::Version(n.to_string())),
        Qualifier::Alias(a) => tx.alias(name, &a)?.map(Named::Alias),
    })
}

/// A function version to run: the configuration a qualifier resolved to (a weighted alias
/// picks its version per call) and the function's reserved concurrency.
#[derive(Clone)]
pub struct Resolved {
    pub config: Arc<FunctionConfig>,
    pub reserved: Option<u32>,
}

/// Why a reference resolved to nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// There is no such function.
    Function,
    /// The function exists; the version or alias does not.
    Qualifier,
}

impl Missing {
    /// AWS's error: a missing function is named with `$LATEST` when no qualifier was given.
    pub fn into_error(self, region: &str, name: &str, qualifier: Option<&str>) -> Error {
        match self {
            Missing::Function => {
                function_not_found(region, name, Some(qualifier.unwrap_or(LATEST)))
            }
            Missing::Qualifier => function_not_found(region, name, qualifier),
        }
    }
}

impl Invoker {
    /// Resolves `name` + `qualifier` to the version one invocation runs, from the memo while
    /// the metadata is unchanged.
    pub fn resolve(&self, region: &str, name: &str, qualifier: Option<&str>) -> Result<Resolved> {
        self.lookup(name, qualifier)?
            .map_err(|m| m.into_error(region, name, qualifier))
    }

    /// [`Invoker::resolve`], telling "not there" apart from a failure to read.
    pub fn lookup(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<std::result::Result<Resolved, Missing>> {
        // Read before the lookup: a write racing with it only makes the entry look stale.
        let generation = self.meta.generation();
        let entry = match self.resolved.get(name, qualifier, generation) {
            Some(entry) => entry,
            None => match self.meta.tx(|tx| read_target(tx, name, qualifier))? {
                Ok(entry) => {
                    let entry = Arc::new(entry);
                    self.resolved
                        .put(name, qualifier, generation, entry.clone());
                    entry
                }
                Err(missing) => return Ok(Err(missing)),
            },
        };
        Ok(match entry.target.pick(rand::random::<f64>()) {
            Some(config) => Ok(Resolved {
                config: config.clone(),
                reserved: entry.reserved,
            }),
            None => Err(Missing::Qualifier),
        })
    }
}

/// Reads what a qualifier names from the metadata store: the version, or the alias and every
/// version it routes to.
fn read_target(
    tx: &Tx,
    name: &str,
    qualifier: Option<&str>,
) -> Result<std::result::Result<Entry, Missing>> {
    let Some(row) = tx.function(name)? else {
        return Ok(Err(Missing::Function));
    };
    let version = |v: &str| tx.version(name, v);
    let target = match named(tx, name, qualifier)? {
        None => return Ok(Err(Missing::Qualifier)),
        Some(Named::Version(v)) => match version(&v)? {
            Some(cfg) => Target::Version(Arc::new(cfg)),
            None => return Ok(Err(Missing::Qualifier)),
        },
        Some(Named::Alias(alias)) => {
            let mut versions = Vec::with_capacity(1 + alias.weights.len());
            for v in std::iter::once(&alias.function_version).chain(alias.weights.keys()) {
                match version(v)? {
                    Some(cfg) => versions.push(Arc::new(cfg)),
                    None => return Ok(Err(Missing::Qualifier)),
                }
            }
            Target::Alias { alias, versions }
        }
    };
    Ok(Ok(Entry {
        target,
        reserved: row.reserved_concurrency,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::cfg;
    use stratus_store::meta::{FunctionRow, Meta};

    fn store_with_alias() -> (tempfile::TempDir, Meta) {
        let dir = tempfile::tempdir().unwrap();
        let meta = Meta::open_dir(dir.path()).unwrap();
        meta.tx(|tx| {
            tx.put_function(&FunctionRow {
                name: "f".into(),
                reserved_concurrency: Some(3),
                ..Default::default()
            })?;
            for v in [LATEST, "1", "2"] {
                tx.put_version(&cfg(v))?;
            }
            tx.put_alias(
                "f",
                &Alias {
                    name: "live".into(),
                    function_version: "1".into(),
                    description: String::new(),
                    weights: [("2".to_string(), 0.5)].into(),
                    revision_id: String::new(),
                },
            )
        })
        .unwrap();
        (dir, meta)
    }

    fn read(meta: &Meta, name: &str, q: Option<&str>) -> std::result::Result<Entry, Missing> {
        meta.tx(|tx| read_target(tx, name, q)).unwrap()
    }

    #[test]
    fn qualifiers_resolve_to_versions_or_say_what_is_missing() {
        let (_dir, meta) = store_with_alias();
        let latest = read(&meta, "f", None).ok().unwrap();
        assert_eq!(latest.reserved, Some(3));
        assert_eq!(latest.target.pick(0.5).unwrap().version, LATEST);
        assert_eq!(
            read(&meta, "f", Some("2"))
                .ok()
                .unwrap()
                .target
                .pick(0.0)
                .unwrap()
                .version,
            "2"
        );
        let alias = read(&meta, "f", Some("live")).ok().unwrap();
        assert_eq!(alias.target.pick(0.1).unwrap().version, "2");
        assert_eq!(alias.target.pick(0.9).unwrap().version, "1");
        assert_eq!(read(&meta, "g", None).err(), Some(Missing::Function));
        assert_eq!(read(&meta, "f", Some("7")).err(), Some(Missing::Qualifier));
        assert_eq!(
            read(&meta, "f", Some("gone")).err(),
            Some(Missing::Qualifier)
        );
    }

    #[test]
    fn a_missing_function_is_named_with_latest() {
        let e = Missing::Function.into_error("eu-west-1", "g", None);
        assert!(e.message.ends_with(":function:g:$LATEST"), "{}", e.message);
        let e = Missing::Qualifier.into_error("eu-west-1", "f", None);
        assert!(e.message.ends_with(":function:f"), "{}", e.message);
        assert!(e.message.contains("eu-west-1"));
    }
}
