//! SnapStart (decision 0039): for each published version with `SnapStart.ApplyOn:
//! PublishedVersions` that this node prepared, a shelf of environments parked before restore:
//! real sandboxed environments of that version that ran their init and their before-snapshot
//! hooks and wait in the Runtime API's `/restore/next`. A cold start takes one (it becomes
//! that environment; each is used once) and restores it; another is parked in the background
//! to replace it. The shelf's first environment decides the version's state: `Pending` while
//! it is made, `Active` once parked, `Failed` if its init failed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use stratus_core::function::FunctionConfig;

use crate::env::{Environment, StartAs, StartFailure};
use crate::Context;

/// Environments kept parked per version. One: a second cold start at the same moment starts
/// its own through the same flow (init, hooks, restore), so it is correct, only slower.
const PER_VERSION: usize = 1;

/// What a version's environments are made from.
pub struct Target {
    pub config: Arc<FunctionConfig>,
    pub code_dir: PathBuf,
    pub layers_dir: Option<PathBuf>,
    /// The region environments run in (`AWS_REGION`).
    pub region: String,
}

/// Where a SnapStart version stands on this node (AWS's `State`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Its first environment is being initialised.
    Pending,
    /// An environment was parked: it can be invoked.
    Active,
    /// Its init failed: `code` is AWS's `StateReasonCode`, `reason` its `StateReason`.
    Failed { code: &'static str, reason: String },
}

struct Shelf {
    target: Arc<Target>,
    ready: Vec<Environment>,
    making: usize,
    state: State,
}

type Key = (String, String);

#[derive(Default)]
pub struct Snapshots {
    shelves: Mutex<HashMap<Key, Shelf>>,
}

impl Snapshots {
    /// Starts keeping `target`'s version parked (once; a version already kept is left as it
    /// is, since a published version never changes).
    pub fn prepare(self: &Arc<Self>, ctx: &Arc<Context>, target: Target) {
        let key = (target.config.name.clone(), target.config.version.clone());
        {
            let mut shelves = self.shelves.lock().unwrap();
            if shelves.contains_key(&key) {
                return;
            }
            shelves.insert(
                key.clone(),
                Shelf {
                    target: Arc::new(target),
                    ready: Vec::new(),
                    making: 0,
                    state: State::Pending,
                },
            );
        }
        self.refill(ctx, &key);
    }

    /// The state of a version this node prepared (`None`: not prepared here).
    pub fn state(&self, name: &str, version: &str) -> Option<State> {
        let shelves = self.shelves.lock().unwrap();
        shelves
            .get(&(name.to_string(), version.to_string()))
            .map(|s| s.state.clone())
    }

    /// A parked environment of the version, if one is ready; either way the shelf is refilled
    /// in the background. Environments that died, or whose credentials near their expiry, are
    /// dropped on the way.
    pub fn take(
        self: &Arc<Self>,
        ctx: &Arc<Context>,
        name: &str,
        version: &str,
    ) -> Option<Environment> {
        let key = (name.to_string(), version.to_string());
        let got = {
            let mut shelves = self.shelves.lock().unwrap();
            let shelf = shelves.get_mut(&key)?;
            let now = Instant::now();
            let mut got = None;
            while !shelf.ready.is_empty() {
                let env = shelf.ready.remove(0);
                if env.is_alive() && env.retire_by.is_none_or(|t| now < t) {
                    got = Some(env);
                    break;
                }
            }
            got
        };
        self.refill(ctx, &key);
        got
    }

    /// Starts parking what the shelf lacks, off the invocation's path.
    fn refill(self: &Arc<Self>, ctx: &Arc<Context>, key: &Key) {
        let (need, target) = {
            let mut shelves = self.shelves.lock().unwrap();
            let Some(shelf) = shelves.get_mut(key) else {
                return;
            };
            if matches!(shelf.state, State::Failed { .. }) {
                return;
            }
            let need = PER_VERSION.saturating_sub(shelf.ready.len() + shelf.making);
            shelf.making += need;
            (need, shelf.target.clone())
        };
        for _ in 0..need {
            let (shelves, ctx, target, key) =
                (self.clone(), ctx.clone(), target.clone(), key.clone());
            tokio::spawn(async move {
                let made = park(&ctx, &target).await;
                shelves.shelve(&ctx, &key, made);
            });
        }
    }

    fn shelve(&self, ctx: &Context, key: &Key, made: Result<Environment, StartFailure>) {
        let mut shelves = self.shelves.lock().unwrap();
        let Some(shelf) = shelves.get_mut(key) else {
            return; // retired while it was made: dropping it kills it
        };
        shelf.making = shelf.making.saturating_sub(1);
        match made {
            Ok(env) => {
                shelf.ready.push(env);
                shelf.state = State::Active;
            }
            Err(failure) => {
                let failed = failed_state(ctx, &shelf.target.config, failure);
                // A replacement that fails later leaves an Active version Active: its next cold
                // start runs the init itself and reports what happens.
                if shelf.state == State::Pending {
                    shelf.state = failed;
                }
            }
        }
    }

    /// Drops the shelves of a function (all versions) or of one version.
    pub fn retire(&self, name: &str, version: Option<&str>) {
        let retired: Vec<Shelf> = {
            let mut shelves = self.shelves.lock().unwrap();
            let keys: Vec<Key> = shelves
                .keys()
                .filter(|(n, v)| n == name && version.is_none_or(|x| x == v))
                .cloned()
                .collect();
            keys.iter().filter_map(|k| shelves.remove(k)).collect()
        };
        for env in retired.into_iter().flat_map(|s| s.ready) {
            tokio::spawn(env.shut_down());
        }
    }

    /// Drops every parked environment (at shutdown).
    pub fn drain(&self) {
        let all: Vec<Shelf> = self
            .shelves
            .lock()
            .unwrap()
            .drain()
            .map(|(_, s)| s)
            .collect();
        drop(all);
    }

    /// What `/health` reports: versions kept and environments parked.
    pub fn report(&self) -> serde_json::Value {
        let shelves = self.shelves.lock().unwrap();
        let parked: usize = shelves.values().map(|s| s.ready.len()).sum();
        let pending = shelves
            .values()
            .filter(|s| s.state == State::Pending)
            .count();
        serde_json::json!({
            "per_version": PER_VERSION,
            "versions": shelves.len(),
            "parked": parked,
            "pending": pending,
        })
    }
}

/// Starts one environment of the version and waits until it is parked in `/restore/next`.
async fn park(ctx: &Context, target: &Target) -> Result<Environment, StartFailure> {
    let request_id = stratus_core::ids::uuid().to_string();
    let start = StartAs {
        region: &target.region,
        request_id: &request_id,
        provisioned: false,
        snap_start: true,
    };
    let mut env = Environment::start(
        ctx,
        &target.config,
        &target.code_dir,
        target.layers_dir.as_deref(),
        &start,
    )
    .await?;
    // The stream's first line; the init's own output waits for the first invocation.
    env.log_init_start(&ctx.logs);
    // Parked, it may wait long for its invocation: the pre-made sandboxes are refilled now.
    env.release_premade_pool();
    if !env.parked() {
        // A runtime that skipped `/restore/next` went straight to `/invocation/next`: it is
        // initialised all the same, and its restore is a no-op.
        tracing::debug!(function = %target.config.name, "runtime did not wait for a restore");
    }
    Ok(env)
}

/// The version's state after its first init failed; the init's log goes where a failed
/// init's log goes.
fn failed_state(ctx: &Context, cfg: &FunctionConfig, failure: StartFailure) -> State {
    match failure {
        StartFailure::Init {
            payload,
            log,
            status,
            ..
        } => {
            let stream = format!("init-failures/[{}]", cfg.version);
            ctx.logs.append(&cfg.log_group_name(), &stream, &log);
            let code = match status {
                crate::env::Status::Timeout => "FunctionError.InitTimeout",
                _ => "FunctionError",
            };
            State::Failed {
                code,
                reason: crate::provisioned::failure_reason(&payload),
            }
        }
        StartFailure::Platform(msg) => {
            tracing::error!(function = %cfg.name, "{msg}");
            State::Failed {
                code: "InternalError",
                reason: "An internal error occurred.".into(),
            }
        }
    }
}
