//! The composition root: reads the configuration, opens the store, starts the engine, serves
//! the HTTP API, and shuts everything down in order when told to.
//!
//! # Layout
//! - [`config`]: the configuration struct and its sources.
//! - [`run`] and [`Platform`]: start-up and graceful shutdown.
//! - [`serve`]: the accept loop and its connection limits.

pub mod config;
pub mod migrate;
pub mod serve;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use stratus_api::workers::Workers;
use stratus_api::{ApiConfig, AppState, Shared, Stores};
use stratus_engine::{Engine, EngineConfig};
use stratus_invoke::Invoker;
use stratus_store::code::CodeStore;
use stratus_store::meta::Meta;
use tokio_util::sync::CancellationToken;

pub use config::Config;

/// How long in-flight requests may run on after a shutdown signal (a single node).
const DRAIN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a draining cluster node waits, after its grace period, for the invocations in
/// flight: Lambda's longest function timeout and a margin, since every invocation ends by
/// its own timeout and an operator's second signal cuts the wait short.
const IN_FLIGHT_LIMIT: std::time::Duration = std::time::Duration::from_secs(15 * 60 + 30);
/// How long the asynchronous dispatcher may take to notice its stop token (it is between two
/// queue reads, or inside one short transaction).
const DISPATCHER_STOP: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens the blob store the configuration names (the data directory by default). Its
/// location is logged with any credentials redacted.
fn open_blob_store(
    cfg: &Config,
    data_dir: &std::path::Path,
) -> anyhow::Result<Arc<stratus_blobs::BlobStore>> {
    let store = stratus_blobs::BlobStore::open(&cfg.blob_store.0, data_dir)
        .map_err(|e| anyhow::anyhow!("opening the blob store {:?}: {e}", cfg.blob_store))?;
    tracing::info!(location = %store.location(), "blob store");
    Ok(Arc::new(store))
}

/// Runs the platform until `shutdown` resolves, then drains and stops; `now` resolving (a
/// second signal) cuts the drain short.
pub async fn run(
    cfg: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    now: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let platform = Platform::start(&cfg).await?;
    let app = stratus_api::router(platform.state.clone());
    platform.serve_until(app, shutdown, now).await
}

/// Where the web console is, and what signs in to it: the access key id always, the secret
/// only when it is the loopback default (`test`), which is no secret.
fn console_banner(addr: std::net::SocketAddr, (access, secret): &(String, String)) {
    let host = match addr.ip() {
        ip if ip.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let url = format!("http://{host}:{}/_stratus/console/", addr.port());
    if secret == "test" && access == "test" {
        tracing::info!("web console: {url} (sign in with access key id `test`, secret `test`)");
    } else {
        tracing::info!(
            "web console: {url} (sign in with access key id `{access}` and its secret key)"
        );
    }
}

/// A started platform: stores open, engine and background workers running, the port bound.
/// [`Platform::serve`] answers requests with a router built on [`Platform::state`].
pub struct Platform {
    pub state: Shared,
    listener: tokio::net::TcpListener,
    limits: serve::Limits,
    engine: Arc<Engine>,
    meter: Arc<stratus_metering::Meter>,
    /// Tells the asynchronous dispatcher to stop; its supervisor ends when it has.
    dispatcher_stop: CancellationToken,
    dispatcher: tokio::task::JoinHandle<()>,
    background: Vec<tokio::task::JoinHandle<()>>,
    /// The cluster this node joined, and its heartbeat task.
    cluster: Option<(Arc<stratus_cluster::Cluster>, tokio::task::JoinHandle<()>)>,
    /// How long the listener stays open after the shutdown signal (zero on a single node).
    grace: std::time::Duration,
}

impl Platform {
    /// Opens everything `cfg` names and starts the background workers under supervision.
    pub async fn start(cfg: &Config) -> anyhow::Result<Platform> {
        let (access, secret) = cfg.credentials()?;
        // A cluster misconfiguration is refused before anything is opened.
        cfg.cluster_mode(cfg.listen)?;
        let iam_enforced = cfg.iam_enforced()?;
        let credentials = (access.clone(), secret.clone());
        std::fs::create_dir_all(&cfg.data_dir)
            .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
        let data_dir = cfg.data_dir.canonicalize()?;
        // Where every store keeps its state; shown without its password.
        let location = stratus_db::Location::parse(cfg.database.as_deref(), &data_dir)?;
        tracing::info!(database = %location, "state");
        let meta =
            Arc::new(Meta::open(&location).map_err(|e| anyhow::anyhow!("metadata store: {e}"))?);
        let iam = Arc::new(
            stratus_iam::Iam::open(&location).map_err(|e| anyhow::anyhow!("iam store: {e}"))?,
        );
        let topics = stratus_topics::Topics::open(&location)
            .map_err(|e| anyhow::anyhow!("topics store: {e}"))?;
        let events = stratus_events::Events::open(&location)
            .map_err(|e| anyhow::anyhow!("events store: {e}"))?;
        let queues = Arc::new(
            stratus_queues::Queues::open(&location)
                .map_err(|e| anyhow::anyhow!("queues store: {e}"))?,
        );
        let cloudwatch = Arc::new(
            stratus_cloudwatch::store::CloudWatchDb::open(&location)
                .map_err(|e| anyhow::anyhow!("cloudwatch store: {e}"))?,
        );
        let deploy = Arc::new(
            stratus_deploy::store::DeployDb::open(&location)
                .map_err(|e| anyhow::anyhow!("deploy store: {e}"))?,
        );
        let stacks = stratus_stacks::store::Stacks::open(&location)
            .map_err(|e| anyhow::anyhow!("stacks store: {e}"))?;
        let blobs = open_blob_store(cfg, &data_dir)?;
        let code = Arc::new(
            CodeStore::open(blobs.clone(), &data_dir.join("code"))
                .map_err(|e| anyhow::anyhow!("opening code store: {e}"))?,
        );
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .with_context(|| format!("binding {}", cfg.listen))?;
        let addr = listener.local_addr()?;
        let runtimes = cfg.runtime_settings(&data_dir)?;
        let engine = Engine::new(EngineConfig {
            data_dir: data_dir.clone(),
            platform: addr,
            credentials: Arc::new(stratus_api::function_credentials::RoleCredentials::new(
                iam.clone(),
                iam_enforced,
            )),
            account_concurrency: cfg.account_concurrency,
            idle_timeout: std::time::Duration::from_secs(cfg.idle_timeout_secs),
            isolation: cfg.isolation.clone(),
            allow_weaker_sandbox: cfg.allow_weaker_sandbox,
            network: cfg.network.clone(),
            nat_subnet: cfg.nat_subnet.clone(),
            egress_allow: cfg.egress_allow.clone(),
            egress_deny: cfg.egress_deny.clone(),
            database: Some(location.clone()),
            runtimes,
            premade_per_runtime: cfg.premade_sandboxes,
        })
        .map_err(|e| anyhow::anyhow!("starting engine: {e}"))?;
        let isolation = engine.isolation();
        engine.logs().set_default_retention(cfg.log_retention_days);
        // Metric filters' and embedded-metric-format values become CloudWatch metrics, and so
        // do the invoker's asynchronous invocation metrics (set on it below).
        let metric_writer =
            stratus_api::services::cloudwatch::log_metrics::LogMetrics::start(cloudwatch.clone());
        engine.logs().set_metric_sink(metric_writer.clone());
        let workers = Arc::new(Workers::default());
        let mut background = vec![
            workers.supervise("idle_reaper", {
                let engine = engine.clone();
                move || engine.idle_reaper()
            }),
            workers.supervise("log_sweeper", {
                let engine = Arc::downgrade(&engine);
                move || sweep_logs(engine.clone())
            }),
        ];
        let health = serde_json::json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "store": {
                "database": location.kind(),
                "database_location": location.to_string(),
                "code": blobs.kind(),
                "objects": blobs.kind(),
                "data_dir": data_dir,
            },
            "isolation": format!("{isolation:?}").to_lowercase(),
            "memory_limits": engine.memory_enforced(),
            "protections": engine.protections(),
        });
        let objects = Arc::new(
            stratus_s3::ObjectStore::open(&data_dir.join("objects"), &location, blobs.clone())
                .await
                .context("opening object store")?,
        );
        background.push(workers.supervise("lifecycle_sweeper", {
            let objects = Arc::downgrade(&objects);
            let every = std::time::Duration::from_secs(cfg.lifecycle_sweep_secs.max(1));
            let day_ms = cfg.lifecycle_day_secs.max(1) as i64 * 1000;
            move || sweep_lifecycle(objects.clone(), every, day_ms)
        }));
        let meter = stratus_metering::Meter::open_with(
            &location,
            cfg.pricing,
            cfg.usage_retention_days,
            |runs| workers.supervise("metering_writer", runs),
        )
        .map_err(|e| anyhow::anyhow!("metering store: {e}"))?;
        let tables = Arc::new(
            stratus_tables::Tables::open(&location)
                .map_err(|e| anyhow::anyhow!("tables store: {e}"))?,
        );
        background.push(workers.supervise("ttl_sweeper", {
            let tables = Arc::downgrade(&tables);
            let every = std::time::Duration::from_secs(cfg.ttl_sweep_secs.max(1));
            move || sweep_expired_items(tables.clone(), every)
        }));
        let invoker = Arc::new(Invoker::new(stratus_invoke::Parts {
            meta: meta.clone(),
            code: code.clone(),
            engine: engine.clone(),
            meter: meter.clone(),
            async_retry_delay: std::time::Duration::from_secs(cfg.async_retry_delay_secs),
            node: cfg.node_id(&data_dir)?,
        }));
        invoker.set_queue_target(Arc::new(stratus_api::services::sqs::QueueSender(
            queues.clone(),
        )));
        invoker.set_metric_sink(metric_writer);
        let cluster = join_cluster(cfg, &location, &data_dir, addr, &engine, &workers)?;
        if let Some((c, _)) = &cluster {
            invoker.join_cluster(c.clone());
        }
        // Provisioned concurrency: the engine keeps the environments, the invoker tells it
        // which (after the cluster is joined, so placement decides where they live).
        background.push(workers.supervise("provisioned_keeper", {
            let engine = engine.clone();
            move || engine.provisioned_keeper()
        }));
        background.push(workers.supervise("provisioned_configs", {
            let invoker = invoker.clone();
            move || invoker.clone().keep_provisioned()
        }));
        let notifier = Arc::new(
            stratus_api::objects::Notifier::new(
                invoker.clone(),
                stratus_api::lambda::policy::InvokePermissions {
                    meta: meta.clone(),
                    enforced: iam_enforced,
                    memo: Default::default(),
                },
            )
            .with_queues(queues.clone()),
        );
        objects.set_sink(notifier.clone());
        let s3 = {
            let auth = stratus_api::s3_auth::IamAuth {
                root: credentials.clone(),
                iam: iam.clone(),
            };
            let access = stratus_api::s3_auth::IamAccess {
                auth: auth.clone(),
                enforced: iam_enforced,
                objects: objects.clone(),
            };
            stratus_s3::http_service(objects.clone(), auth, access)
        };
        let state = Arc::new(AppState {
            invoker: invoker.clone(),
            stores: Stores {
                s3,
                objects,
                tables,
                meta,
                code,
                blobs,
                database: Arc::new(stratus_db::Health::new(location.clone())),
                topics,
                events: stratus_api::services::events::EventsService::new(
                    events,
                    cfg.schedule_minute_ms as i64,
                    format!("http://{addr}"),
                ),
                queues,
                iam,
                cloudwatch,
                deploy: stratus_api::services::codedeploy::CodeDeployService::new(
                    deploy,
                    cfg.minute_ms as i64,
                ),
                stacks: stratus_api::services::cloudformation::StacksService::new(
                    stacks,
                    Some(stratus_stacks::transform::sam),
                ),
            },
            config: ApiConfig {
                secrets: HashMap::from([(access, secret)]),
                iam_enforced,
                url_key: rand_key(),
                account_concurrency: cfg.account_concurrency,
                health,
                port: addr.port(),
            },
            workers: workers.clone(),
            apigw: Default::default(),
            policies: Default::default(),
            console: Default::default(),
        });
        let _ = state
            .stores
            .events
            .sqs
            .set(Arc::new(stratus_api::services::sqs::QueueSender(
                state.stores.queues.clone(),
            )));
        notifier.set_state(&state);
        state.stores.stacks.start(Arc::downgrade(&state));
        background.push(workers.supervise("event_scheduler", {
            let state = Arc::downgrade(&state);
            move || {
                stratus_api::services::events::fire::run(
                    state.clone(),
                    stratus_api::services::events::fire::TICK,
                )
            }
        }));
        background.push(workers.supervise("alarm_evaluator", {
            let state = Arc::downgrade(&state);
            let tick = std::time::Duration::from_millis(cfg.alarm_evaluation_ms.max(100));
            move || stratus_api::services::cloudwatch::evaluate::run(state.clone(), tick)
        }));
        background.push(workers.supervise("deployment_driver", {
            let state = Arc::downgrade(&state);
            move || {
                stratus_api::services::codedeploy::drive::run(
                    state.clone(),
                    stratus_api::services::codedeploy::drive::TICK,
                )
            }
        }));
        invoker.release_interrupted();
        background.push(workers.supervise("mapping_poller", {
            let poller = stratus_mappings::poller::Poller::new(
                state.stores.meta.clone(),
                invoker.clone(),
                stratus_mappings::poller::Sources {
                    dynamodb: Arc::new(stratus_mappings::dynamodb::StreamSource {
                        tables: state.stores.tables.clone(),
                    }),
                    sqs: state.stores.queues.clone(),
                },
                Arc::new(stratus_api::lambda::mappings::MappingDestinations {
                    state: Arc::downgrade(&state),
                }),
                cfg.node_id(&data_dir)?,
            );
            move || poller.clone().run()
        }));
        let dispatcher_stop = CancellationToken::new();
        let dispatcher = workers.supervise("async_dispatcher", {
            let stop = dispatcher_stop.clone();
            move || invoker.clone().dispatch(stop.clone())
        });
        tracing::info!(%addr, data_dir = %data_dir.display(), ?isolation, "stratus listening on http://{addr}");
        console_banner(addr, &credentials);
        Ok(Platform {
            state,
            listener,
            limits: serve::Limits {
                header_read_timeout: std::time::Duration::from_secs(cfg.header_read_timeout_secs),
                max_connections: cfg.max_connections,
            },
            engine,
            meter,
            dispatcher_stop,
            dispatcher,
            background,
            grace: match cluster {
                Some(_) => std::time::Duration::from_secs(cfg.cluster_drain_secs),
                None => std::time::Duration::ZERO,
            },
            cluster,
        })
    }

    /// The address the platform listens on.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves `app` until `shutdown` resolves, then drains and stops everything in order.
    pub async fn serve(
        self,
        app: axum::Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.serve_until(app, shutdown, std::future::pending())
            .await
    }

    /// Serves `app` until `shutdown` resolves, then drains and stops everything in order:
    /// 1. a cluster node marks itself draining (`/health` answers `503` and its own
    ///    invocations go to the other nodes), the dispatcher claims no more async events, and a
    ///    cluster node announces the drain (the others stop placing work here) and keeps
    ///    answering for its grace period;
    /// 2. the listener closes and the requests in flight finish (a single node gives them
    ///    [`DRAIN_DEADLINE`]; a cluster node [`IN_FLIGHT_LIMIT`], and waits for its async
    ///    attempts too);
    /// 3. a cluster node leaves (its row is deleted and announced); the environments stop; a
    ///    cluster node hands back the async events it still held, so another takes them now.
    ///
    /// `now` resolving (a second signal) skips what is left of 1 and 2.
    pub async fn serve_until(
        self,
        app: axum::Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
        now: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let cluster = self.cluster.as_ref().map(|(c, _)| c.clone());
        let in_flight_limit = match cluster {
            Some(_) => self.grace + IN_FLIGHT_LIMIT,
            None => DRAIN_DEADLINE,
        };
        let signal = {
            let (grace, stop, cluster) =
                (self.grace, self.dispatcher_stop.clone(), cluster.clone());
            let state = self.state.clone();
            async move {
                shutdown.await;
                let _ = started_tx.send(());
                // The console's live views end, so their connections do not hold the drain.
                state.console.close();
                // A cluster node is marked draining (in memory) before the dispatcher stops: a
                // stopped worker alone reads as `degraded` on `/health`, and a load balancer
                // polling between the two would be told the wrong reason.
                if let Some(cluster) = &cluster {
                    cluster.mark_draining();
                }
                // The dispatcher claims no more events; attempts it started run on.
                stop.cancel();
                if let Some(cluster) = cluster {
                    cluster.drain().await;
                    tracing::info!(?grace, "draining: answering until the grace period ends");
                    tokio::time::sleep(grace).await;
                }
            }
        };
        tokio::pin!(now);
        // Requests in flight get a bounded time to finish once shutdown starts; an
        // invocation still running after that is cut off with its environment.
        let deadline = async {
            let _ = started_rx.await;
            tokio::time::sleep(in_flight_limit).await;
        };
        tokio::pin!(deadline);
        // Whether the deadline or the second signal ended the wait (neither may be polled
        // again once it has resolved).
        let cut_short = tokio::select! {
            _ = serve::serve(self.listener, app, self.limits, signal) => false,
            _ = &mut deadline => {
                tracing::warn!("requests still in flight after {in_flight_limit:?}; stopping anyway");
                true
            }
            _ = &mut now => {
                tracing::warn!("second signal: stopping at once");
                true
            }
        };
        tracing::info!("stopped accepting requests");
        if cluster.is_some() && !cut_short {
            // Async attempts run outside any request: wait for them as for requests.
            tokio::select! {
                _ = until_idle(&self.engine) => {}
                _ = &mut deadline => tracing::warn!("async attempts still running; stopping anyway"),
                _ = &mut now => tracing::warn!("second signal: stopping at once"),
            }
        }
        let mut dispatcher = self.dispatcher;
        if tokio::time::timeout(DISPATCHER_STOP, &mut dispatcher)
            .await
            .is_err()
        {
            // Waiting out a restart back-off, say: stop its supervisor instead.
            tracing::warn!("the asynchronous dispatcher did not stop in time");
            dispatcher.abort();
        }
        // The other nodes stop listing this one at once rather than after its lease.
        if let Some((cluster, heartbeat)) = &self.cluster {
            heartbeat.abort();
            cluster.leave().await;
        }
        for task in &self.background {
            task.abort();
        }
        tracing::info!("stopping execution environments");
        self.engine.shutdown().await;
        if self.cluster.is_some() {
            // Events whose attempts were cut off are due again for any node now, not when
            // their lease runs out or this node comes back.
            let invoker = self.state.invoker.clone();
            let _ = tokio::task::spawn_blocking(move || invoker.release_interrupted()).await;
        }
        // What is still in the writer's batch is committed before the process exits.
        self.meter.close().await;
        Ok(())
    }
}

/// Resolves once no invocation runs on `engine`.
async fn until_idle(engine: &Engine) {
    while engine.in_flight() > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Joins the cluster when the configuration asks for one: opens the membership store,
/// listens for joins and leaves, and starts the heartbeat (supervised) reporting this node's
/// load.
fn join_cluster(
    cfg: &Config,
    location: &stratus_db::Location,
    data_dir: &std::path::Path,
    bound: std::net::SocketAddr,
    engine: &Arc<Engine>,
    workers: &Arc<Workers>,
) -> anyhow::Result<Option<(Arc<stratus_cluster::Cluster>, tokio::task::JoinHandle<()>)>> {
    let Some(mode) = cfg.cluster_mode(bound)? else {
        return Ok(None);
    };
    let settings = stratus_cluster::Settings {
        node_id: cfg.node_id(data_dir)?,
        address: mode.advertise,
        secret: mode.secret,
        lease: mode.lease,
        max_environments: cfg.max_environments,
    };
    let cluster = stratus_cluster::Cluster::open(location, settings)
        .map_err(|e| anyhow::anyhow!("cluster store: {e}"))?;
    cluster
        .listen(location)
        .map_err(|e| anyhow::anyhow!("cluster notifications: {e}"))?;
    let load: Arc<dyn Fn() -> stratus_cluster::Load + Send + Sync> = {
        let engine = Arc::downgrade(engine);
        Arc::new(move || engine.upgrade().map(|e| load_of(&e)).unwrap_or_default())
    };
    cluster.on_others_running({
        let engine = Arc::downgrade(engine);
        Box::new(move |others| {
            if let Some(e) = engine.upgrade() {
                e.set_others_running(running_for_engine(others));
            }
        })
    });
    let heartbeat = workers.supervise("cluster_heartbeat", {
        let cluster = cluster.clone();
        move || cluster.clone().heartbeats(load.clone())
    });
    tracing::info!(node = %cluster.node_id(), "cluster mode");
    Ok(Some((cluster, heartbeat)))
}

/// This node's load, as its heartbeat reports it.
fn load_of(engine: &Engine) -> stratus_cluster::Load {
    let environments: Vec<_> = engine
        .environments()
        .into_iter()
        .map(|e| {
            serde_json::json!({
                "function": e.function, "version": e.version, "idle": e.idle, "busy": e.busy,
            })
        })
        .collect();
    stratus_cluster::Load {
        in_flight: engine.in_flight() as u64,
        idle: engine.idle_environments() as u64,
        environments: environments.into(),
        running: {
            let r = engine.running();
            stratus_cluster::Running {
                account: r.account,
                functions: r.functions,
            }
        },
    }
}

/// The other nodes' running counts, in the engine's terms.
fn running_for_engine(r: stratus_cluster::Running) -> stratus_engine::Running {
    stratus_engine::Running {
        account: r.account,
        functions: r.functions,
    }
}

/// A fresh 256-bit key from the OS random source (two UUIDv4s).
fn rand_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key
}

/// Deletes the DynamoDB items whose time to live has passed, every `every`.
async fn sweep_expired_items(
    tables: std::sync::Weak<stratus_tables::Tables>,
    every: std::time::Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(tables) = tables.upgrade() else {
            return;
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        match tokio::task::spawn_blocking(move || tables.sweep_expired(now)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::debug!(items = n, "expired items deleted"),
            Ok(Err(e)) => tracing::warn!(error = %e.message, "time-to-live sweep failed"),
            Err(e) => tracing::error!(error = %e, "time-to-live sweep panicked"),
        }
    }
}

/// Applies bucket lifecycle rules every `every`, a lifecycle day lasting `day_ms`.
async fn sweep_lifecycle(
    objects: std::sync::Weak<stratus_s3::ObjectStore>,
    every: std::time::Duration,
    day_ms: i64,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(objects) = objects.upgrade() else {
            return;
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        match stratus_s3::lifecycle::sweep(&objects, now, day_ms).await {
            Ok(s) if s == Default::default() => {}
            Ok(s) => tracing::debug!(
                expired = s.expired,
                aborted = s.aborted,
                "lifecycle applied"
            ),
            Err(e) => tracing::warn!(error = %e, "lifecycle sweep failed"),
        }
    }
}

/// Expires log events past their group's retention, hourly (and once at start). A panic in
/// the sweep itself (on a blocking thread) is re-raised here, so the supervisor sees it.
async fn sweep_logs(engine: std::sync::Weak<Engine>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let Some(engine) = engine.upgrade() else {
            return;
        };
        if let Err(e) = tokio::task::spawn_blocking(move || engine.logs().sweep()).await {
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }
}
