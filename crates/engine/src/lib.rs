//! The Stratus execution engine: runs function code in sandboxed execution environments that
//! speak the Lambda Runtime API, pools them per function version, admits invocations against
//! concurrency limits, enforces timeouts and memory limits, and captures logs.
//! It knows nothing of AWS's front-end protocols beyond the Runtime API.
//!
//! # Layout
//! - [`sandbox`]: starting an environment's processes (namespaces, its own root, the system-call
//!   filter, cgroups, the launcher) and the protections report.
//! - [`runtime_api`]: the Runtime API server each environment talks to.
//! - [`stream`]: streamed responses, from the Runtime API to the caller's [`stream::Tap`].
//! - [`env`]: one environment's life: start, invoke, kill.
//! - [`pool`]: warm environments per function version, and idle reclaim.
//! - [`premade`]: sandboxes prepared before a function asks, taken by cold starts.
//! - [`provisioned`]: provisioned concurrency: environments initialised ahead of traffic.
//! - [`admission`]: account and reserved concurrency.
//! - [`outcome`]: how an invocation ended (or why it was refused), as types.
//! - [`logs`]: capturing output and writing log streams.
//! - [`runtimes`]: the managed runtimes: bootstraps, the interpreter of each runtime version,
//!   and the AWS SDKs they carry.

pub mod admission;
pub mod env;
pub mod logs;
pub mod outcome;
pub mod pool;
pub mod premade;
pub mod provisioned;
pub mod runtime_api;
pub mod runtimes;
pub mod sandbox;
pub mod snapstart;
pub mod stream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use stratus_core::function::FunctionConfig;
use stratus_core::Error;

pub use admission::Running;
use env::{Environment, InvokeParams, StartAs, StartFailure, Status};
pub use outcome::{Ending, InitFailure, Refusal, Throttle};
use pool::{Busy, PoolKey, Pools};

/// The local address the platform endpoint proxy connects from, on behalf of the functions in
/// their own network namespaces: a request arriving from it was made by a function.
pub const FUNCTION_PEER: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 0, 2);

/// How environments are isolated on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    Namespaces,
    Process,
}

pub struct EngineConfig {
    pub data_dir: PathBuf,
    /// The platform's own listening address (offered to functions as their AWS endpoint).
    pub platform: SocketAddr,
    /// Where each environment gets its function's credentials.
    pub credentials: Arc<dyn CredentialSource>,
    pub account_concurrency: u32,
    pub idle_timeout: Duration,
    /// `auto`, `namespaces` or `process`.
    pub isolation: String,
    /// What environments' networks offer: `platform`, `none` or `nat` (see `sandbox::Network`).
    pub network: String,
    /// The `nat` mode's private subnet, and its egress lists (see `sandbox::nat`).
    pub nat_subnet: String,
    pub egress_allow: Vec<String>,
    pub egress_deny: Vec<String>,
    /// Start in namespace mode even when the host lacks a sandbox protection (logged, and
    /// reported by `/health`).
    pub allow_weaker_sandbox: bool,
    /// Where the platform's state lives (`None`: SQLite files in `data_dir`). Log events
    /// stay in stream files beside SQLite, and move into the database with PostgreSQL.
    pub database: Option<stratus_db::Location>,
    /// Interpreters per runtime, the fallback, and where the runtimes' SDKs live.
    pub runtimes: runtimes::Settings,
    /// Pre-made sandboxes kept per runtime asked for recently (0: none; see [`premade`]).
    pub premade_per_runtime: usize,
}

/// What the engine's parts share.
pub struct Context {
    pub sandbox: Arc<sandbox::Sandbox>,
    /// Sandboxes prepared ahead for cold starts.
    pub premade: Arc<premade::Pool>,
    pub logs: Arc<logs::LogStore>,
    pub runtimes: Arc<runtimes::Runtimes>,
    pub credentials: Arc<dyn CredentialSource>,
    pub platform: SocketAddr,
}

/// Temporary credentials of a function's execution role, as its environment receives them
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).
#[derive(Debug, Clone)]
pub struct FunctionCredentials {
    pub access_key: String,
    pub secret: String,
    pub token: String,
    pub expires: std::time::SystemTime,
}

/// Issues the credentials of a function's role (`None`: the environment gets none). The
/// platform's own keys never reach an environment.
pub trait CredentialSource: Send + Sync {
    fn for_function(&self, role_arn: &str, function: &str) -> Option<FunctionCredentials>;
}

pub struct Engine {
    ctx: Arc<Context>,
    pools: Arc<Pools>,
    busy: Busy,
    admission: admission::Admission,
    /// Provisioned concurrency: environments kept initialised per configuration.
    provisioned: provisioned::Provisioned,
    /// How long an environment may stay idle before the reaper reclaims it.
    idle_timeout: Duration,
    /// SnapStart versions' parked environments (decision 0039).
    snapshots: Arc<snapstart::Snapshots>,
}

/// Environments of one function version, by state (the `busy` ones include those starting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentCount {
    pub function: String,
    pub version: String,
    pub idle: usize,
    pub busy: usize,
}

/// The code a new environment mounts: the unpacked package and the function's layers merged
/// in order (see `CodeStore::layers_tree`), if it has any. Asked for by a cold start only: a
/// warm environment has its code mounted already, so a warm invocation neither looks for the
/// trees nor fetches them.
pub trait CodeTrees: Send + Sync {
    /// The trees of `config`; an error is the caller's answer (a blob store that is down is
    /// a `ServiceException`).
    fn trees<'a>(&'a self, config: &'a FunctionConfig) -> BoxFuture<'a, CodeTreesResult>;
}

pub type CodeTreesResult = Result<(PathBuf, Option<PathBuf>), stratus_core::Error>;
type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// One synchronous invocation.
pub struct InvokeRequest {
    pub config: Arc<FunctionConfig>,
    /// Where a cold start finds the function's code.
    pub code: Arc<dyn CodeTrees>,
    /// The ARN the caller used (what the function sees as its invoked ARN).
    pub invoked_arn: String,
    /// The qualifier the caller named (provisioned concurrency serves only the qualifier it
    /// is configured on).
    pub qualifier: Option<String>,
    pub region: String,
    pub request_id: String,
    pub payload: Bytes,
    /// Decoded client context JSON.
    pub client_context: Option<String>,
    /// The function's reserved concurrency, if set.
    pub reserved: Option<u32>,
    /// Whether the outcome must carry the log (`LogType: Tail`).
    pub want_log: bool,
    /// Where a streamed response goes as the function writes it (`None`: a streamed
    /// response is gathered and returned whole, up to the buffered limit).
    pub tap: Option<stream::Tap>,
    /// The invocation's trace header, lineage included (`None`: a fresh one).
    pub trace: Option<String>,
}

pub struct InvokeOutcome {
    pub payload: Bytes,
    /// How it ended (a function error, a time-out, an exit, a failed init, or success).
    pub ending: Ending,
    pub executed_version: String,
    /// The invocation's log, START to REPORT.
    pub log: Vec<u8>,
    pub cold: bool,
    pub duration: Duration,
    pub init_duration: Option<Duration>,
    pub max_memory_mb: u64,
}

impl Engine {
    pub fn new(cfg: EngineConfig) -> Result<Arc<Engine>, Error> {
        let runtime_dir = cfg.data_dir.join("runtime");
        runtimes::install(&runtime_dir).map_err(|e| platform_fault("installing runtimes", e))?;
        let runtimes = Arc::new(runtimes::Runtimes::new(cfg.runtimes.clone()));
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(runtimes.clone().prepare());
        }
        let sandbox = sandbox::Sandbox::new(
            &cfg.isolation,
            &runtime_dir,
            &cfg.data_dir,
            cfg.platform,
            sandbox::Network::parse(
                &cfg.network,
                &cfg.nat_subnet,
                &cfg.egress_allow,
                &cfg.egress_deny,
            )
            .map_err(|e| platform_fault("choosing the network mode", e))?,
            cfg.allow_weaker_sandbox,
        )
        .map_err(|e| platform_fault("choosing isolation", e))?;
        let engine = Arc::new(Engine {
            ctx: Arc::new(Context {
                sandbox: Arc::new(sandbox),
                premade: Arc::new(premade::Pool::new(
                    cfg.premade_per_runtime,
                    cfg.idle_timeout,
                )),
                logs: Arc::new(open_logs(&cfg)?),
                runtimes: runtimes.clone(),
                credentials: cfg.credentials,
                platform: cfg.platform,
            }),
            pools: Arc::new(Pools::default()),
            busy: Busy::default(),
            admission: admission::Admission::new(cfg.account_concurrency),
            provisioned: provisioned::Provisioned::default(),
            idle_timeout: cfg.idle_timeout,
            snapshots: Arc::default(),
        });
        Ok(engine)
    }

    /// The task that reclaims idle environments; the caller spawns it (under supervision, so
    /// a panic restarts it). It ends when the engine is dropped.
    pub fn idle_reaper(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let envs = pool::reap_idle(Arc::downgrade(&self.pools), self.idle_timeout);
        let premade = premade::reap(Arc::downgrade(&self.ctx.premade), self.idle_timeout);
        async move {
            tokio::join!(envs, premade);
        }
    }

    /// The pool of pre-made sandboxes (for `/health`).
    pub fn sandbox_pool(&self) -> serde_json::Value {
        self.ctx.premade.report()
    }

    /// The task that keeps provisioned environments: starts what is missing, replaces what
    /// died. The caller spawns it under supervision; it ends when the engine is dropped.
    pub fn provisioned_keeper(
        self: &Arc<Self>,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        provisioned::keep(Arc::downgrade(self))
    }

    /// Replaces the provisioned concurrency configurations this node keeps.
    pub fn provision(&self, all: Vec<provisioned::Desired>) {
        self.provisioned.set(all);
    }

    /// Where a provisioned concurrency configuration's allocation stands on this node.
    pub fn provisioned_allocation(
        &self,
        function: &str,
        qualifier: &str,
    ) -> Option<provisioned::Allocation> {
        self.provisioned.allocation(function, qualifier)
    }

    /// Starts one provisioned environment: its concurrency first (`Ok(None)` when none is
    /// free, to be tried again), then its initialisation, whose failure is `Err(reason)`.
    async fn start_provisioned(
        &self,
        s: &provisioned::Start,
    ) -> Result<Option<provisioned::Held>, String> {
        let Ok(permit) = self.admission.admit(&s.function, s.reserved) else {
            return Ok(None);
        };
        let cfg = &s.target.config;
        let request_id = stratus_core::ids::uuid().to_string();
        let start = StartAs {
            region: &s.region,
            request_id: &request_id,
            provisioned: true,
            snap_start: false,
        };
        let started = Environment::start(
            &self.ctx,
            cfg,
            &s.target.code_dir,
            s.target.layers_dir.as_deref(),
            &start,
        )
        .await;
        match started {
            Ok(mut env) => {
                env.initialised_ahead();
                env.log_init_start(&self.ctx.logs);
                Ok(Some(provisioned::Held::new(env, permit)))
            }
            Err(StartFailure::Init { payload, log, .. }) => {
                let stream = format!("init-failures/[{}]", cfg.version);
                self.ctx.logs.append(&cfg.log_group_name(), &stream, &log);
                Err(provisioned::failure_reason(&payload))
            }
            Err(StartFailure::Platform(msg)) => {
                tracing::error!(function = %cfg.name, "{msg}");
                Err("An internal error occurred while allocating provisioned concurrency.".into())
            }
        }
    }

    /// The log groups and streams functions write to.
    pub fn logs(&self) -> &logs::LogStore {
        &self.ctx.logs
    }

    /// Each runtime identifier and what serves it (for `/health`).
    pub fn runtimes(&self) -> serde_json::Value {
        self.ctx.runtimes.report()
    }

    pub fn isolation(&self) -> Isolation {
        self.ctx.sandbox.mode
    }

    pub fn memory_enforced(&self) -> bool {
        self.ctx.sandbox.memory_enforced()
    }

    /// The protections execution environments get on this host.
    pub fn protections(&self) -> sandbox::Protections {
        self.ctx.sandbox.protections()
    }

    /// Runs one synchronous invocation. Function errors, time-outs and failed inits are
    /// outcomes (the function ran, or tried to); a throttle or a platform fault ran nothing.
    ///
    /// The paths a warm invocation does not take (a cold start, a SnapStart restore, a
    /// provisioned environment) are boxed: an async function's future has room for the
    /// largest of everything it awaits, and a future is copied each time it is moved (into
    /// its caller's, into the boxes of the HTTP layers around the handler), so a cold start's
    /// state held inline made every warm invocation carry and copy ~6 kB more.
    pub async fn invoke(&self, mut req: InvokeRequest) -> Result<InvokeOutcome, Refusal> {
        let snap_start = req.config.snap_start_on();
        if snap_start {
            self.snapshot_ready(&req.config)?;
        }
        let key = PoolKey::of(&req.config);
        let held = req
            .qualifier
            .as_deref()
            .and_then(|q| self.provisioned.take(q, &key));
        if let Some(held) = held {
            return Ok(Box::pin(self.invoke_provisioned(req, key, held)).await);
        }
        let _permit = self
            .admission
            .admit(&req.config.name, req.reserved)
            .map_err(Refusal::Throttled)?;
        let cfg = &req.config;
        let _busy = self.busy.enter(cfg);
        let warm = self.pools.take(&key).map(|env| (env, false));
        // A cold start of a SnapStart version takes a parked environment when there is one.
        let parked = match (&warm, snap_start) {
            (None, true) => self.snapshots.take(&self.ctx, &cfg.name, &cfg.version),
            _ => None,
        };
        let (mut env, cold) = match warm.or(parked.map(|env| (env, true))) {
            Some(found) => found,
            None => match Box::pin(self.start(&req, snap_start)).await? {
                Ok(env) => (env, true),
                Err(StartFailure::Init {
                    payload,
                    log,
                    status,
                    elapsed,
                }) => return Ok(self.init_failed(&req, payload, log, status, elapsed)),
                Err(StartFailure::Platform(msg)) => {
                    tracing::error!(function = %cfg.name, "{msg}");
                    return Err(Refusal::Platform);
                }
            },
        };
        if env.parked() {
            Box::pin(self.restore(&mut env)).await?;
        }
        let (outcome, env, keep) = self.run_in(&mut req, env, cold).await;
        if keep {
            self.pools.put(key, env);
        }
        Ok(outcome)
    }

    /// A new environment for `req` (a cold start): its code trees, then the start. The
    /// trees are looked for here, not by the caller, so a warm invocation does without.
    async fn start(
        &self,
        req: &InvokeRequest,
        snap_start: bool,
    ) -> Result<Result<Environment, StartFailure>, Refusal> {
        let (code_dir, layers_dir) = req
            .code
            .trees(&req.config)
            .await
            .map_err(Refusal::Rejected)?;
        let start = StartAs {
            region: &req.region,
            request_id: &req.request_id,
            provisioned: false,
            snap_start,
        };
        let layers = layers_dir.as_deref();
        Ok(Environment::start(&self.ctx, &req.config, &code_dir, layers, &start).await)
    }

    /// Runs an invocation in one of the provisioned environments of the qualifier it named.
    /// It holds its concurrency already; it goes back to its configuration afterwards.
    async fn invoke_provisioned(
        &self,
        mut req: InvokeRequest,
        key: PoolKey,
        held: provisioned::Held,
    ) -> InvokeOutcome {
        let _busy = self.busy.enter(&req.config);
        let provisioned::Held { env, permit } = held;
        let (outcome, env, keep) = self.run_in(&mut req, env, false).await;
        let qualifier = req.qualifier.as_deref().unwrap_or_default();
        self.provisioned
            .give_back(qualifier, key, provisioned::Held::new(env, permit), keep);
        outcome
    }

    /// Runs one invocation in `env`; gives the environment back with whether it can serve
    /// again.
    async fn run_in(
        &self,
        req: &mut InvokeRequest,
        mut env: Environment,
        cold: bool,
    ) -> (InvokeOutcome, Environment, bool) {
        let cfg = &req.config;
        let params = InvokeParams {
            request_id: &req.request_id,
            payload: req.payload.clone(),
            invoked_arn: &req.invoked_arn,
            client_context: req.client_context.clone(),
            version: &cfg.version,
            want_log: req.want_log,
            tap: req.tap.take(),
            trace: req.trace.take(),
        };
        env.log_init_start(&self.ctx.logs);
        let r = env.invoke(params).await;
        self.ctx
            .logs
            .append_to(&mut env.log_file, &env.group, &env.stream, &r.log);
        env.release_premade_pool();
        let outcome = InvokeOutcome {
            payload: r.payload,
            ending: Ending::of_invocation(r.status),
            executed_version: cfg.version.clone(),
            log: logs::frame::plain(r.log.text),
            cold,
            duration: r.duration,
            init_duration: r.init_duration,
            max_memory_mb: r.max_memory_mb,
        };
        (outcome, env, r.keep)
    }

    fn init_failed(
        &self,
        req: &InvokeRequest,
        payload: Bytes,
        log: logs::Captured,
        status: Status,
        elapsed: Duration,
    ) -> InvokeOutcome {
        let stream = format!("init-failures/[{}]", req.config.version);
        self.ctx
            .logs
            .append(&req.config.log_group_name(), &stream, &log);
        InvokeOutcome {
            payload,
            ending: Ending::of_init(status),
            executed_version: req.config.version.clone(),
            log: logs::frame::plain(log.text),
            cold: true,
            // The failed init ran in the invocation's time, as its REPORT line says.
            duration: elapsed,
            init_duration: None,
            max_memory_mb: 0,
        }
    }

    /// Drops the warm environments of a function (all versions) or of one version, and its
    /// parked SnapStart environments.
    pub fn retire(&self, name: &str, version: Option<&str>) {
        self.pools.retire(name, version);
        self.snapshots.retire(name, version);
    }

    /// Starts keeping environments of a SnapStart version parked before restore (decision
    /// 0039); its state is `Pending` until the first is parked.
    pub fn prepare_snapshot(&self, target: snapstart::Target) {
        self.snapshots.prepare(&self.ctx, target);
    }

    /// The state of a SnapStart version on this node (`None`: this node did not prepare it;
    /// its cold starts run the snap-start flow on demand).
    pub fn snapshot_state(&self, function: &str, version: &str) -> Option<snapstart::State> {
        self.snapshots.state(function, version)
    }

    /// SnapStart's parked environments (for `/health`).
    pub fn snapshots(&self) -> serde_json::Value {
        self.snapshots.report()
    }

    /// Refuses an invocation of a SnapStart version that is not ready, as AWS does.
    fn snapshot_ready(&self, cfg: &FunctionConfig) -> Result<(), Refusal> {
        match self.snapshots.state(&cfg.name, &cfg.version) {
            Some(snapstart::State::Pending) => Err(Refusal::Rejected(Error::new(
                "SnapStartNotReadyException",
                stratus_core::error::Kind::Conflict,
                "Lambda is initializing your function. It will be ready to invoke once your function state becomes ACTIVE.",
            ))),
            Some(snapstart::State::Failed { .. }) => Err(Refusal::Rejected(Error::new(
                "ResourceConflictException",
                stratus_core::error::Kind::Conflict,
                "The operation cannot be performed at this time. The function is currently in the following state: Failed",
            ))),
            _ => Ok(()),
        }
    }

    /// Restores a parked SnapStart environment. A failed after-restore hook discards it and
    /// fails the invocation with AWS's `SnapStartException` (its log goes to its stream).
    async fn restore(&self, env: &mut Environment) -> Result<(), Refusal> {
        let Err(failure) = env.restore().await else {
            return Ok(());
        };
        env.log_init_start(&self.ctx.logs);
        self.ctx
            .logs
            .append_to(&mut env.log_file, &env.group, &env.stream, &failure.log);
        Err(Refusal::Rejected(match failure.timed_out {
            true => Error::new(
                "SnapStartTimeoutException",
                stratus_core::error::Kind::InvalidInput,
                "Lambda couldn't restore the snapshot within the timeout limit.",
            ),
            false => Error::new(
                "SnapStartException",
                stratus_core::error::Kind::InvalidInput,
                "The afterRestore() runtime hook encountered an error. For more information, check the Amazon CloudWatch logs.",
            ),
        }))
    }

    /// Records a function's reserved concurrency (`None` removes it).
    pub fn set_reserved(&self, name: &str, n: Option<u32>) {
        self.admission.set_reserved(name, n);
    }

    /// The invocations this node's admission counts now (what its heartbeat publishes).
    pub fn running(&self) -> Running {
        self.admission.running()
    }

    /// Records what the other nodes of a cluster run, so the limits hold for their sum.
    pub fn set_others_running(&self, others: Running) {
        self.admission.set_others(others);
    }

    /// Number of environments currently warm and idle.
    pub fn idle_environments(&self) -> usize {
        self.pools.idle_count()
    }

    /// Whether an idle environment could serve `cfg` now.
    pub fn has_idle(&self, cfg: &Arc<FunctionConfig>) -> bool {
        self.pools.has_idle(&PoolKey::of(cfg))
    }

    /// Invocations running now.
    pub fn in_flight(&self) -> usize {
        self.busy.total()
    }

    /// Environments per function version, idle and busy.
    pub fn environments(&self) -> Vec<EnvironmentCount> {
        let mut counts: std::collections::BTreeMap<(String, String), (usize, usize)> =
            Default::default();
        for (k, n) in self.pools.idle_by_version() {
            counts.entry(k).or_default().0 += n;
        }
        for (k, n) in self.busy.snapshot() {
            counts.entry(k).or_default().1 += n;
        }
        counts
            .into_iter()
            .map(|((function, version), (idle, busy))| EnvironmentCount {
                function,
                version,
                idle,
                busy,
            })
            .collect()
    }

    /// Stops every idle environment.
    pub async fn shutdown(&self) {
        self.ctx.premade.drain();
        self.snapshots.drain();
        self.pools.drain().await;
        let provisioned: Vec<_> = self
            .provisioned
            .drain()
            .into_iter()
            .map(|e| tokio::spawn(e.shut_down()))
            .collect();
        for stop in provisioned {
            let _ = stop.await;
        }
        self.ctx.sandbox.stop_network();
        // Log lines still queued for the database are stored before the process exits.
        let logs = self.ctx.logs.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || logs.flush()).await {
            tracing::warn!(%e, "function log lines queued at shutdown were not stored");
        }
    }
}

/// The log store for where state lives (see [`EngineConfig::database`]).
fn open_logs(cfg: &EngineConfig) -> Result<logs::LogStore, Error> {
    let files = cfg.data_dir.join("logs");
    match &cfg.database {
        Some(location) => logs::LogStore::open(location, &files)
            .map_err(|e| platform_fault("opening the log store", e)),
        None => Ok(logs::LogStore::new(&files)),
    }
}

fn platform_fault(what: &str, e: impl std::fmt::Display) -> Error {
    tracing::error!(%e, "{what}");
    Error::service()
}
