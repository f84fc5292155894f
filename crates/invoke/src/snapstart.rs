//! SnapStart's entry from the control plane (decision 0039): a published SnapStart version is
//! handed to the engine to keep environments of it parked before restore.

use std::sync::Arc;

use stratus_core::function::FunctionConfig;
use stratus_engine::snapstart::{State, Target};

use crate::Invoker;

impl Invoker {
    /// Starts preparing `cfg`'s environments when it is a SnapStart version this node serves
    /// (in a cluster, the node its invocations are placed on; the others start on demand).
    /// Its state is `Pending` on return, until the first environment is parked.
    pub async fn prepare_snapshot(&self, cfg: &FunctionConfig, region: &str) {
        if !cfg.snap_start_on() || !self.owns(cfg) {
            return;
        }
        let (code_dir, layers_dir) = match self.trees.trees(cfg).await {
            Ok(trees) => trees,
            Err(e) => {
                tracing::warn!(%e, function = %cfg.name, "unpacking code and layers for SnapStart");
                return;
            }
        };
        self.engine.prepare_snapshot(Target {
            config: Arc::new(cfg.clone()),
            code_dir,
            layers_dir,
            region: region.to_string(),
        });
    }

    /// Where a SnapStart version stands on this node (`None`: not prepared here, or not a
    /// SnapStart version; such a version is served on demand and reported `Active`).
    pub fn snapshot_state(&self, cfg: &FunctionConfig) -> Option<State> {
        if !cfg.snap_start_on() {
            return None;
        }
        self.engine.snapshot_state(&cfg.name, &cfg.version)
    }
}
