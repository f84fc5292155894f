//! Provisioned concurrency configurations, from the metadata store to the engine. A
//! configuration is a per-qualifier document (so it goes with its version, alias or function);
//! the keeper re-reads them all whenever the metadata generation moves (an alias moved to
//! another version, a version deleted, another node's write) and hands the engine what each
//! one should keep: the version a configuration's qualifier names, or for an alias with
//! weights, both of its versions with the configured number split by weight.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use stratus_core::Result;
use stratus_engine::provisioned::{Desired, Target};
use stratus_store::meta::Tx;

use crate::resolve::{named, Named};
use crate::Invoker;

/// The document kind of a provisioned concurrency configuration.
pub const KIND: &str = "provisioned-concurrency";

/// How often the keeper compares the metadata generation with the one it last applied.
const POLL: Duration = Duration::from_millis(250);

/// A stored configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub requested: u32,
    /// `LastModified`, in Lambda's format.
    pub last_modified: String,
    /// The region of the request that wrote it (what its environments see as `AWS_REGION`).
    pub region: String,
}

/// How `n` environments are split over an alias's versions: each weighted version gets its
/// share rounded to the nearest, the primary the rest (AWS splits provisioned concurrency by
/// the alias's routing weights).
pub fn split(n: u32, primary: &str, weights: &[(String, f64)]) -> Vec<(String, u32)> {
    let mut rest = n;
    let mut out = Vec::new();
    for (v, w) in weights {
        let share = ((f64::from(n) * w).round() as u32).min(rest);
        rest -= share;
        out.push((v.clone(), share));
    }
    out.insert(0, (primary.to_string(), rest));
    out.retain(|(_, k)| *k > 0);
    out
}

/// One configuration, read: who, how many of which version, and the function's reservation.
struct Planned {
    function: String,
    qualifier: String,
    config: Config,
    reserved: Option<u32>,
    versions: Vec<(Arc<stratus_core::function::FunctionConfig>, u32)>,
}

/// Every configuration and the versions it covers now. One whose qualifier no longer
/// resolves (it is removed with it in the same transaction, so only briefly) is skipped.
fn read_all(tx: &Tx) -> Result<Vec<Planned>> {
    let mut out = Vec::new();
    for (function, qualifier, config) in tx.documents_of_kind::<Config>(KIND)? {
        let Some(row) = tx.function(&function)? else {
            continue;
        };
        let split_of = match named(tx, &function, Some(&qualifier))? {
            Some(Named::Version(v)) => vec![(v, config.requested)],
            Some(Named::Alias(a)) => {
                let weights: Vec<(String, f64)> =
                    a.weights.iter().map(|(v, w)| (v.clone(), *w)).collect();
                split(config.requested, &a.function_version, &weights)
            }
            None => continue,
        };
        let mut versions = Vec::new();
        for (v, n) in split_of {
            if let Some(cfg) = tx.version(&function, &v)? {
                versions.push((Arc::new(cfg), n));
            }
        }
        out.push(Planned {
            function,
            qualifier,
            config,
            reserved: row.reserved_concurrency,
            versions,
        });
    }
    Ok(out)
}

impl Invoker {
    /// The keeper of provisioned concurrency configurations: applies them to the engine at
    /// start and after every metadata change. Spawned under supervision by the server.
    pub async fn keep_provisioned(self: Arc<Self>) {
        let mut applied = None;
        loop {
            let generation = self.meta.generation();
            if applied != Some(generation) {
                match self.apply_provisioned().await {
                    Ok(()) => applied = Some(generation),
                    Err(e) => tracing::warn!(%e, "reading provisioned concurrency configurations"),
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Reads every configuration and tells the engine what to keep. In a cluster this node
    /// keeps the versions placement gives it (where their invocations are sent).
    async fn apply_provisioned(&self) -> Result<()> {
        let planned = self.meta.tx(read_all)?;
        let mut all = Vec::with_capacity(planned.len());
        for p in planned {
            let mut targets = Vec::new();
            for (config, count) in p.versions {
                if !self.owns(&config) {
                    continue;
                }
                let (code_dir, layers_dir) = self.trees.trees(&config).await?;
                targets.push(Target {
                    config,
                    code_dir,
                    layers_dir,
                    count,
                });
            }
            all.push(Desired {
                function: p.function,
                qualifier: p.qualifier,
                region: p.config.region,
                reserved: p.reserved,
                stamp: p.config.last_modified,
                targets,
            });
        }
        self.engine.provision(all);
        Ok(())
    }

    /// Whether this node is where invocations of `cfg` are placed first (always, alone).
    pub(crate) fn owns(&self, cfg: &stratus_core::function::FunctionConfig) -> bool {
        match self.cluster() {
            None => true,
            Some(c) => c
                .candidates(&cfg.name, &cfg.version)
                .first()
                .is_none_or(|n| c.is_local(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alias_splits_its_configuration_by_weight() {
        assert_eq!(split(4, "1", &[]), [("1".to_string(), 4)]);
        assert_eq!(
            split(10, "1", &[("2".into(), 0.3)]),
            [("1".to_string(), 7), ("2".to_string(), 3)]
        );
        // A share that rounds to nothing keeps no environment.
        assert_eq!(split(1, "1", &[("2".into(), 0.2)]), [("1".to_string(), 1)]);
        assert_eq!(split(1, "1", &[("2".into(), 0.9)]), [("2".to_string(), 1)]);
    }
}
