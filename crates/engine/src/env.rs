//! One execution environment: a runtime process tree in its sandbox, its Runtime API, its
//! output. Started on demand (a cold start), reused while warm, killed on timeout, crash,
//! retirement or idleness (dropping an `Environment` kills it).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;
use stratus_core::function::FunctionConfig;
use stratus_core::{clock, limits, runtime};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::logs::{Captured, Output};
use crate::runtime_api::{self, InitSignal, Invocation, Reply, Slot};
use crate::runtimes::Launch;
use crate::sandbox::{self, cgroup::Cgroup, premade::Family, LaunchSpec, Launched};
use crate::{Context, Isolation};

/// How long initialisation may take (AWS's init phase limit).
const INIT_LIMIT: Duration = Duration::from_secs(10);

pub struct Environment {
    pub id: String,
    pub stream: String,
    pub group: String,
    /// The log stream, kept open between invocations.
    pub log_file: crate::logs::StreamFile,
    next: mpsc::Sender<Box<Invocation>>,
    pid: i32,
    isolation: Isolation,
    exited: watch::Receiver<Option<String>>,
    output: Arc<Output>,
    cgroup: Option<Cgroup>,
    /// The address on the NAT bridge (`nat` network mode), released when the environment ends.
    _lease: Option<sandbox::nat::Lease>,
    tasks: Vec<JoinHandle<()>>,
    /// Set until the first invocation reports it.
    init_duration: Option<Duration>,
    pub last_used: Instant,
    /// The `INIT_START` line, until the first invocation writes it to the stream.
    pub init_start: Option<String>,
    /// When the environment must be retired because its role credentials near their expiry.
    pub retire_by: Option<Instant>,
    memory_mb: u32,
    timeout: u32,
    /// SnapStart: the restore still to be done (`None` once restored, or outside SnapStart).
    restore: Option<runtime_api::Restore>,
    /// SnapStart: how long the restore took, until the first invocation reports it.
    restore_duration: Option<Duration>,
    /// SnapStart: the `RESTORE_START` line the restore writes.
    restore_start: Option<String>,
    /// Refills the pre-made sandboxes this start drew on once its first invocation is over.
    replenish: Option<crate::premade::Replenish>,
}

/// Why a SnapStart environment could not be restored: its after-restore hooks failed (or it
/// exited), or they ran past the limit. The environment is gone; `log` is what it wrote.
pub struct RestoreFailure {
    pub timed_out: bool,
    pub log: Captured,
}

/// Why an environment could not start.
pub enum StartFailure {
    /// The function's own initialisation failed: the caller gets this as a function error.
    /// `status` says how (its error, its exit, or the init deadline); `elapsed` is how long it
    /// took.
    Init {
        payload: Bytes,
        log: Captured,
        status: Status,
        elapsed: Duration,
    },
    /// The platform could not start it.
    Platform(String),
}

/// One invocation as the environment sees it.
pub struct InvokeParams<'a> {
    pub request_id: &'a str,
    pub payload: Bytes,
    pub invoked_arn: &'a str,
    pub client_context: Option<String>,
    pub version: &'a str,
    /// Whether the caller needs the log with the result (`LogType: Tail`); otherwise a warm
    /// environment's log is collected after the result is returned.
    pub want_log: bool,
    /// Where a streamed response goes as it is written (`None`: gathered, up to the
    /// buffered limit, as AWS's `Invoke` does for a streaming function).
    pub tap: Option<crate::stream::Tap>,
    /// The trace header the function sees (`None`: a fresh one).
    pub trace: Option<String>,
}

/// How an invocation ended (what metering and metrics count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Success,
    /// The function returned an error (or its response was too large).
    FunctionError,
    /// The deadline passed; the environment was killed.
    Timeout,
    /// The runtime exited (or its Runtime API went away) before answering.
    Crashed,
}

/// What became of an invocation.
pub struct InvokeResult {
    pub payload: Bytes,
    pub function_error: bool,
    pub status: Status,
    /// Whether the environment can serve another invocation.
    pub keep: bool,
    /// The log, START to REPORT.
    pub log: Captured,
    pub duration: Duration,
    pub init_duration: Option<Duration>,
    pub max_memory_mb: u64,
}

fn error_payload(error_type: &str, message: String) -> Bytes {
    Bytes::from(json!({ "errorType": error_type, "errorMessage": message }).to_string())
}

/// How a process ended, in the words AWS's runtime interface uses (Go's).
fn describe_exit(status: std::io::Result<std::process::ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(c), _) => format!("exit status {c}"),
            (None, Some(sig)) => {
                let core = matches!(
                    sig,
                    libc::SIGSEGV
                        | libc::SIGABRT
                        | libc::SIGBUS
                        | libc::SIGFPE
                        | libc::SIGILL
                        | libc::SIGQUIT
                        | libc::SIGSYS
                        | libc::SIGTRAP
                );
                format!(
                    "signal: {}{}",
                    signal_name(sig),
                    if core { " (core dumped)" } else { "" }
                )
            }
            _ => "unknown".into(),
        },
        Err(e) => e.to_string(),
    }
}

fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "hangup",
        libc::SIGINT => "interrupt",
        libc::SIGQUIT => "quit",
        libc::SIGILL => "illegal instruction",
        libc::SIGTRAP => "trace/breakpoint trap",
        libc::SIGABRT => "aborted",
        libc::SIGBUS => "bus error",
        libc::SIGFPE => "floating point exception",
        libc::SIGKILL => "killed",
        libc::SIGUSR1 => "user defined signal 1",
        libc::SIGSEGV => "segmentation fault",
        libc::SIGUSR2 => "user defined signal 2",
        libc::SIGPIPE => "broken pipe",
        libc::SIGALRM => "alarm clock",
        libc::SIGTERM => "terminated",
        libc::SIGXCPU => "CPU time limit exceeded",
        libc::SIGXFSZ => "file size limit exceeded",
        libc::SIGSYS => "bad system call",
        other => return format!("signal {other}"),
    };
    name.to_string()
}

fn exit_error(request_id: &str, how: &str) -> Bytes {
    let msg = if how == "exit status 0" {
        format!("RequestId: {request_id} Error: Runtime exited without providing a reason")
    } else {
        format!("RequestId: {request_id} Error: Runtime exited with error: {how}")
    };
    error_payload("Runtime.ExitError", msg)
}

/// What an environment is started for: the region it runs in, the request whose cold start it
/// is (named in init errors), and whether it is provisioned ahead of traffic.
pub struct StartAs<'a> {
    pub region: &'a str,
    pub request_id: &'a str,
    pub provisioned: bool,
    /// A SnapStart version: its init ends at `/restore/next` and it is restored before serving.
    pub snap_start: bool,
}

impl StartAs<'_> {
    /// `AWS_LAMBDA_INITIALIZATION_TYPE`, as AWS sets it.
    fn initialization_type(&self) -> &'static str {
        if self.snap_start {
            "snap-start"
        } else if self.provisioned {
            "provisioned-concurrency"
        } else {
            "on-demand"
        }
    }
}

/// Where the environment's directories appear inside it: its code, the runtime directory, and
/// its layers (`/opt`, or their real place without a root of its own; `None`: no layers).
struct Places<'a> {
    task_root: &'a str,
    runtime_dir: &'a str,
    opt: Option<&'a str>,
}

/// The environment variables AWS sets, then the function's own.
fn environment_vars(
    creds: Option<&crate::FunctionCredentials>,
    cfg: &FunctionConfig,
    start: &StartAs,
    stream: &str,
    places: &Places,
    runtime_env: &[(String, String)],
) -> Vec<(String, String)> {
    let region = start.region;
    let Places {
        task_root,
        runtime_dir,
        opt,
    } = *places;
    let mut env: Vec<(String, String)> = vec![
        ("_HANDLER".into(), cfg.handler.clone().unwrap_or_default()),
        ("LAMBDA_TASK_ROOT".into(), task_root.into()),
        ("LAMBDA_RUNTIME_DIR".into(), runtime_dir.into()),
        ("AWS_LAMBDA_FUNCTION_NAME".into(), cfg.name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), cfg.version.clone()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
            cfg.memory_size.to_string(),
        ),
        ("AWS_LAMBDA_LOG_GROUP_NAME".into(), cfg.log_group_name()),
        ("AWS_LAMBDA_LOG_STREAM_NAME".into(), stream.into()),
        (
            "AWS_LAMBDA_INITIALIZATION_TYPE".into(),
            start.initialization_type().into(),
        ),
        ("AWS_REGION".into(), region.into()),
        ("AWS_DEFAULT_REGION".into(), region.into()),
        ("AWS_XRAY_CONTEXT_MISSING".into(), "LOG_ERROR".into()),
        ("TZ".into(), ":UTC".into()),
        ("LANG".into(), "en_US.UTF-8".into()),
        ("HOME".into(), "/tmp".into()),
    ];
    env.extend(search_paths(cfg, task_root, runtime_dir, opt));
    if let Some(c) = creds {
        env.push(("AWS_ACCESS_KEY_ID".into(), c.access_key.clone()));
        env.push(("AWS_SECRET_ACCESS_KEY".into(), c.secret.clone()));
        env.push(("AWS_SESSION_TOKEN".into(), c.token.clone()));
    }
    if start.snap_start {
        // AWS documents these two as unavailable in SnapStart functions: an environment is
        // initialised before the stream it will write to is known.
        env.retain(|(k, _)| k != "AWS_LAMBDA_LOG_GROUP_NAME" && k != "AWS_LAMBDA_LOG_STREAM_NAME");
    }
    if let Some(exec_env) = cfg.runtime.as_deref().and_then(runtime::execution_env) {
        env.push(("AWS_EXECUTION_ENV".into(), exec_env));
    }
    // The runtime's own (NODE_PATH), which the function's variables may override. Its `/opt`
    // entries name where the layers really are when the environment has no root of its own.
    let layers_at = opt.filter(|o| *o != "/opt").map(|o| format!("{o}/"));
    env.extend(runtime_env.iter().map(|(k, v)| match &layers_at {
        Some(at) => (k.clone(), v.replace("/opt/", at)),
        None => (k.clone(), v.clone()),
    }));
    if let Some(vars) = &cfg.environment {
        for (k, v) in vars {
            env.retain(|(name, _)| name != k);
            env.push((k.clone(), v.clone()));
        }
    }
    env
}

/// The search paths AWS sets, with a function's layers (`opt`: where its `/opt` appears) on
/// them as AWS documents: `/opt/bin` last on PATH, `/opt/lib` last on LD_LIBRARY_PATH (node's
/// `/opt/nodejs/...` directories are on the runtime's NODE_PATH, `runtimes::node`). Python's `/opt` directories go on `sys.path` in its bootstrap, after the task
/// root, as AWS's runtime puts them; without a root of its own (process isolation) the
/// bootstrap is told where the layers are.
fn search_paths(
    cfg: &FunctionConfig,
    task_root: &str,
    runtime_dir: &str,
    opt: Option<&str>,
) -> Vec<(String, String)> {
    let host_path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
    let Some(opt) = opt else {
        return vec![("PATH".into(), host_path)];
    };
    let mut env = vec![
        ("PATH".into(), format!("{host_path}:{opt}/bin")),
        (
            "LD_LIBRARY_PATH".into(),
            format!("/lib64:/usr/lib64:{runtime_dir}:{runtime_dir}/lib:{task_root}:{task_root}/lib:{opt}/lib"),
        ),
    ];
    let runtime_name = cfg.runtime.as_deref().unwrap_or_default();
    if runtime_name.starts_with("python") && opt != "/opt" {
        env.push(("_STRATUS_LAYERS_ROOT".into(), opt.into()));
    }
    env
}

/// A custom runtime whose package has no `bootstrap` runs its layers' `/opt/bootstrap`, as
/// AWS looks for one in `/var/task` and then in `/opt`.
fn layer_bootstrap(
    runtime_name: &str,
    code_dir: &Path,
    layers_dir: Option<&Path>,
    opt: &str,
) -> Option<(String, Vec<String>)> {
    let layers = layers_dir?;
    let runnable = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let custom = runtime::kind(runtime_name) == runtime::Kind::Provided;
    (custom && !runnable(&code_dir.join("bootstrap")) && runnable(&layers.join("bootstrap")))
        .then(|| (format!("{opt}/bootstrap"), Vec::new()))
}

/// The family of pre-made sandboxes `spec` can start from. A python or node function gets an
/// interpreter started ahead unless something it sets would have to be in place when the
/// interpreter starts: layers (their libraries on `LD_LIBRARY_PATH`, which the dynamic
/// loader reads once) or its own variables that the interpreter reads as it starts
/// (`PYTHON*`; `NODE_*`, `UV_*`; `LD_*`).
fn family_of(spec: &LaunchSpec, runtime_name: &str, cfg: &FunctionConfig) -> Family {
    // The variables each interpreter reads only as it starts (and the dynamic loader's).
    let (bootstrap, read_at_start): (&str, &[&str]) = match runtime::kind(runtime_name) {
        runtime::Kind::Python => ("/bootstrap.py", &["PYTHON", "LD_"]),
        runtime::Kind::Node => ("/bootstrap.mjs", &["NODE_", "UV_", "LD_"]),
        _ => ("", &[]),
    };
    let own_vars_apply_late = cfg.environment.as_ref().is_none_or(|vars| {
        vars.keys()
            .all(|k| !read_at_start.iter().any(|p| k.starts_with(p)))
    });
    let interpreter = !bootstrap.is_empty() && spec.args.iter().any(|a| a.ends_with(bootstrap));
    Family {
        program: spec.program.clone(),
        args: spec.args.clone(),
        mounts: spec.mounts.clone(),
        prestart: interpreter && spec.opt_dir.is_none() && own_vars_apply_late,
    }
}

/// How long before its credentials expire an environment is retired: longer than the
/// longest invocation (15 minutes), so no invocation ever runs with expired credentials.
pub const CREDENTIALS_MARGIN: Duration = Duration::from_secs(3600);

/// The instant an environment whose credentials expire at `expires` must be retired by.
fn retire_instant(expires: std::time::SystemTime) -> Instant {
    let left = expires
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default()
        .saturating_sub(CREDENTIALS_MARGIN);
    Instant::now() + left
}

fn stream_name(version: &str, id: &str) -> String {
    let today = time::OffsetDateTime::now_utc().date();
    format!(
        "{:04}/{:02}/{:02}/[{version}]{id}",
        today.year(),
        u8::from(today.month()),
        today.day()
    )
}

/// Starts a sandbox from nothing on a spawner thread: creating its network namespace and
/// cgroup and spawning its launcher wait on the kernel (its namespace locks) for a
/// millisecond or more, and on the async workers a burst of cold starts stalled every other
/// request (and left the CPUs idle) meanwhile. A pre-made sandbox's specialisation is a
/// message and stays on the worker.
async fn launch_fresh(ctx: &Context, spec: LaunchSpec) -> std::io::Result<Launched> {
    let sandbox = ctx.sandbox.clone();
    sandbox::spawner::run(move || sandbox.launch(spec)).await?
}

impl Environment {
    /// Lets the pre-made sandboxes this start drew on be refilled (until then that work
    /// would compete with this cold start for the CPUs): after its first invocation, or once
    /// it is parked; nothing after that.
    pub(crate) fn release_premade_pool(&mut self) {
        self.replenish.take();
    }

    /// Writes the pending `INIT_START` line as the stream's first line, as on AWS (not part of
    /// any invocation's own log tail); nothing once written.
    pub(crate) fn log_init_start(&mut self, logs: &crate::logs::LogStore) {
        if let Some(line) = self.init_start.take() {
            let mut notice = crate::logs::Captured::default();
            notice.push(format!("{line}\n").as_bytes());
            logs.append_to(&mut self.log_file, &self.group, &self.stream, &notice);
        }
    }

    /// Starts an environment and waits for its runtime to finish initialising.
    pub async fn start(
        ctx: &Context,
        cfg: &FunctionConfig,
        code_dir: &Path,
        layers_dir: Option<&Path>,
        start: &StartAs<'_>,
    ) -> Result<Environment, StartFailure> {
        let request_id = start.request_id;
        let started = Instant::now();
        let id = stratus_core::ids::uuid().simple().to_string();
        let stream = stream_name(&cfg.version, &id);
        let (task_root, runtime_dir) = ctx.sandbox.paths(code_dir);
        let runtime_name = cfg.runtime.clone().unwrap_or_default();
        let opt = ctx.sandbox.opt_path(layers_dir);
        let isolated = ctx.sandbox.mode == Isolation::Namespaces;
        let launch = match layer_bootstrap(&runtime_name, code_dir, layers_dir, &opt) {
            Some((program, args)) => Ok(Launch {
                program,
                args,
                ..Launch::default()
            }),
            None => {
                ctx.runtimes
                    .command(&runtime_name, &runtime_dir, &task_root, code_dir, isolated)
                    .await
            }
        };
        let launch = match launch {
            Ok(c) => c,
            Err((kind, msg)) => {
                return Err(StartFailure::Init {
                    payload: error_payload(&kind, format!("RequestId: {request_id} Error: {msg}")),
                    log: Captured::default(),
                    status: Status::FunctionError,
                    elapsed: started.elapsed(),
                })
            }
        };
        // The role's temporary credentials; the environment is retired before they expire.
        let creds = ctx.credentials.for_function(&cfg.role, &cfg.name);
        let retire_by = creds.as_ref().map(|c| retire_instant(c.expires));
        let spec = LaunchSpec {
            id: id.clone(),
            program: launch.program,
            args: launch.args,
            env: environment_vars(
                creds.as_ref(),
                cfg,
                start,
                &stream,
                &Places {
                    task_root: &task_root,
                    runtime_dir: &runtime_dir,
                    opt: layers_dir.map(|_| opt.as_str()),
                },
                &launch.env,
            ),
            mounts: launch.mounts,
            code_dir: code_dir.to_path_buf(),
            opt_dir: layers_dir.map(Path::to_path_buf),
            memory_mb: cfg.memory_size,
            tmp_mb: cfg.ephemeral_storage,
        };
        // Provisioned environments start ahead of traffic anyway: the pool is left to the
        // cold starts an invocation waits for.
        let family = (!start.provisioned).then(|| family_of(&spec, &runtime_name, cfg));
        let premade = family
            .as_ref()
            .and_then(|f| ctx.premade.take(&ctx.sandbox, f));
        // The pool is refilled once this environment's first invocation has ended, or its
        // start failed (see `Pool::take`).
        let replenish = family.map(|f| crate::premade::Replenish::new(ctx, f));
        let launched = match premade {
            Some(premade) => match ctx.sandbox.specialise(premade, &spec) {
                Ok(launched) => Ok(launched),
                Err(e) => {
                    tracing::warn!(%e, "specialising a pre-made sandbox; starting a new one");
                    launch_fresh(ctx, spec).await
                }
            },
            None => launch_fresh(ctx, spec).await,
        }
        .map_err(|e| StartFailure::Platform(format!("launching environment: {e}")))?;
        let (output, reader) =
            Output::start(launched.output).map_err(|e| StartFailure::Platform(e.to_string()))?;
        let (slot, next, init, restore) = Slot::new(start.snap_start);
        let mut tasks = vec![
            reader,
            tokio::spawn(runtime_api::serve(launched.runtime_api, slot)),
        ];
        if let Some(endpoint) = launched.endpoint {
            tasks.push(tokio::spawn(proxy(endpoint, ctx.platform)));
        }
        let mut child = launched.child;
        let pid = child.id().map_or(0, |p| p as i32);
        let (exit_tx, exited) = watch::channel(None);
        tasks.push(tokio::spawn(async move {
            let status = child.wait().await;
            let _ = exit_tx.send(Some(describe_exit(status)));
        }));
        let mut env = Environment {
            id,
            stream,
            group: cfg.log_group_name(),
            log_file: Default::default(),
            next,
            pid,
            isolation: ctx.sandbox.mode,
            exited,
            output,
            cgroup: launched.cgroup,
            _lease: launched.lease,
            tasks,
            init_duration: None,
            init_start: launch.init_start.clone(),
            last_used: Instant::now(),
            retire_by,
            memory_mb: cfg.memory_size,
            timeout: cfg.timeout,
            restore_start: restore.as_ref().and(
                launch
                    .init_start
                    .as_ref()
                    .map(|l| l.replacen("INIT_START", "RESTORE_START", 1)),
            ),
            restore,
            restore_duration: None,
            replenish,
        };
        // Opened while the runtime initialises, not after (files backend).
        ctx.logs
            .open_ahead(&mut env.log_file, &env.group, &env.stream);
        let initialised = env
            .await_init(init, started, request_id, &cfg.version)
            .await;
        if initialised.is_err() {
            ctx.logs
                .forget_unused(&mut env.log_file, &env.group, &env.stream);
        }
        initialised.map(|()| env)
    }

    async fn await_init(
        &mut self,
        init: oneshot::Receiver<InitSignal>,
        started: Instant,
        request_id: &str,
        version: &str,
    ) -> Result<(), StartFailure> {
        let mut exited = self.exited.clone();
        let (failure, status) = tokio::select! {
            signal = init => match signal {
                Ok(InitSignal::Ready) => {
                    let took = started.elapsed();
                    self.init_duration = Some(took);
                    if let Some(cg) = &self.cgroup {
                        cg.find_main_ahead(self.pid);
                    }
                    if self.restore.is_some() {
                        // SnapStart: the init's duration goes in its own record, not in REPORT.
                        self.init_duration = None;
                        self.output.append(format!("INIT_REPORT Init Duration: {:.2} ms\n", ms(took)).as_bytes());
                    }
                    return Ok(());
                }
                Ok(InitSignal::Error { error_type, body }) => {
                    (if body.is_empty() { error_payload(error_type.as_deref().unwrap_or("Runtime.Unknown"), String::new()) } else { body }, Status::FunctionError)
                }
                Err(_) => (error_payload("Runtime.Unknown", format!("RequestId: {request_id} Error: runtime API closed")), Status::Crashed),
            },
            how = exited.wait_for(Option::is_some) => {
                let how = how.ok().and_then(|h| h.clone()).unwrap_or_default();
                (exit_error(request_id, &how), Status::Crashed)
            },
            _ = tokio::time::sleep(INIT_LIMIT) => (error_payload(
                "Runtime.InitTimeout",
                format!("RequestId: {request_id} Error: Init phase timed out after {:.2} seconds", INIT_LIMIT.as_secs_f64()),
            ), Status::Timeout),
        };
        self.kill();
        let elapsed = started.elapsed();
        let mut log = self.output.collect();
        let kind = serde_json::from_slice::<serde_json::Value>(&failure)
            .ok()
            .and_then(|v| v["errorType"].as_str().map(str::to_string))
            .unwrap_or_else(|| "Runtime.Unknown".into());
        // AWS retries a failed init inside the invocation, so the log still has its lines.
        let report = report(
            request_id,
            elapsed,
            self.memory_mb,
            self.peak_memory_mb(),
            None,
        );
        log.push(
            format!(
                "INIT_REPORT Init Duration: {:.2} ms\tPhase: init\tStatus: error\tError Type: {kind}\nSTART RequestId: {request_id} Version: {version}\n{}Status: error\tError Type: {kind}\t\n",
                ms(elapsed),
                report.trim_end_matches('\n'),
            )
            .as_bytes(),
        );
        Err(StartFailure::Init {
            payload: failure,
            log,
            status,
            elapsed,
        })
    }

    /// Runs one invocation to its end: a result, an error, a crash or the deadline.
    pub async fn invoke(&mut self, p: InvokeParams<'_>) -> InvokeResult {
        let start = Instant::now();
        let timeout = Duration::from_secs(u64::from(self.timeout));
        let deadline = tokio::time::Instant::from_std(start + timeout);
        let deadline_ms =
            clock::epoch_ms(time::OffsetDateTime::now_utc()) + timeout.as_millis() as i64;
        self.output.append(
            format!("START RequestId: {} Version: {}\n", p.request_id, p.version).as_bytes(),
        );
        let (reply_tx, reply_rx) = oneshot::channel();
        let inv = Box::new(Invocation {
            request_id: p.request_id.to_string(),
            payload: p.payload,
            deadline_ms,
            invoked_arn: p.invoked_arn.to_string(),
            trace_id: p.trace.unwrap_or_else(stratus_core::trace::new_header),
            client_context: p.client_context,
            cognito_identity: None,
            reply: reply_tx,
        });
        let mut exited = self.exited.clone();
        let sent = self.next.send(inv).await.is_ok();
        let mut streamed = None;
        let (payload, status, keep) = tokio::select! {
            r = reply_rx, if sent => match r {
                Ok(Reply::Response(body)) => (body, Status::Success, true),
                Ok(Reply::Error { error_type, body }) => {
                    let body = if body.is_empty() { error_payload(error_type.as_deref().unwrap_or("Unhandled"), String::new()) } else { body };
                    (body, Status::FunctionError, true)
                }
                Ok(Reply::TooLarge) => (error_payload(
                    "Function.ResponseSizeTooLarge",
                    format!("Response payload size exceeded maximum allowed payload size ({} bytes).", limits::MAX_SYNC_RESPONSE),
                ), Status::FunctionError, true),
                Ok(Reply::Stream(incoming)) => {
                    streamed = Some(incoming);
                    (Bytes::new(), Status::Success, true)
                }
                Err(_) => (exit_error(p.request_id, "exit status 0"), Status::Crashed, false),
            },
            how = exited.wait_for(Option::is_some) => {
                let how = how.ok().and_then(|h| h.clone()).unwrap_or_default();
                (exit_error(p.request_id, &how), Status::Crashed, false)
            },
            _ = tokio::time::sleep_until(deadline) => (Bytes::new(), Status::Timeout, false),
        };
        let (payload, status, keep) = match streamed {
            Some(incoming) => follow(incoming, p.tap, &mut self.exited.clone(), deadline).await,
            None => (payload, status, keep),
        };
        // Whichever wait noticed them, a crash and a time-out are worded here.
        let payload = match status {
            Status::Timeout => {
                let secs = format!("{:.2}", timeout.as_secs_f64());
                error_payload(
                    "Sandbox.Timedout",
                    format!(
                        "RequestId: {} Error: Task timed out after {secs} seconds",
                        p.request_id
                    ),
                )
            }
            Status::Crashed if payload.is_empty() => {
                let how = self
                    .exited
                    .borrow()
                    .clone()
                    .unwrap_or_else(|| "exit status 0".into());
                exit_error(p.request_id, &how)
            }
            _ => payload,
        };
        let duration = start.elapsed();
        if !keep {
            self.kill();
        }
        if status == Status::Timeout {
            // After the kill, so the notice follows the function's last words.
            let secs = format!("{:.2}", timeout.as_secs_f64());
            let line = format!(
                "{} {} Task timed out after {secs} seconds\n",
                iso_now(),
                p.request_id
            );
            self.output.append(line.as_bytes());
        }
        let max_memory_mb = self.peak_memory_mb();
        let init_duration = self.init_duration.take();
        let mut report = report(
            p.request_id,
            duration,
            self.memory_mb,
            max_memory_mb,
            init_duration,
        );
        if let Some(restored) = self.restore_duration.take() {
            report.insert_str(report.len() - 1, &restore_fields(restored));
        }
        self.last_used = Instant::now();
        // The runtime has answered (or is gone), so its output is complete.
        let mut log = self.output.collect();
        log.push(report.as_bytes());
        InvokeResult {
            payload,
            function_error: status != Status::Success,
            status,
            keep,
            log,
            duration,
            init_duration,
            max_memory_mb,
        }
    }

    /// Marks an environment initialised ahead of traffic: its first invocation reports no
    /// init duration (the init did not happen in its time), as on AWS.
    pub fn initialised_ahead(&mut self) {
        self.init_duration = None;
    }

    /// Whether this SnapStart environment still waits to be restored.
    pub fn parked(&self) -> bool {
        self.restore.is_some()
    }

    /// Restores a SnapStart environment parked in `/restore/next`: answers it, then waits for
    /// the runtime's after-restore hooks to end (its first `/invocation/next`). A failed hook,
    /// an exit or the limit discards the environment. Does nothing outside SnapStart.
    pub async fn restore(&mut self) -> Result<(), RestoreFailure> {
        let Some(runtime_api::Restore { go, done }) = self.restore.take() else {
            return Ok(());
        };
        let started = Instant::now();
        if let Some(line) = self.restore_start.take() {
            self.output.append(format!("{line}\n").as_bytes());
        }
        let _ = go.send(());
        let mut exited = self.exited.clone();
        let timed_out = tokio::select! {
            signal = done => match signal {
                Ok(InitSignal::Ready) => {
                    let took = started.elapsed();
                    self.restore_duration = Some(took);
                    self.output.append(format!("RESTORE_REPORT Restore Duration: {:.2} ms\n", ms(took)).as_bytes());
                    return Ok(());
                }
                _ => false,
            },
            _ = exited.wait_for(Option::is_some) => false,
            _ = tokio::time::sleep(INIT_LIMIT) => true,
        };
        self.kill();
        let took = started.elapsed();
        let mut log = self.output.collect();
        let status = if timed_out { "timeout" } else { "error" };
        log.push(
            format!(
                "RESTORE_REPORT Restore Duration: {:.2} ms\tStatus: {status}\n",
                ms(took)
            )
            .as_bytes(),
        );
        Err(RestoreFailure { timed_out, log })
    }

    /// Whether the environment's processes are still running.
    pub fn is_alive(&self) -> bool {
        self.exited.borrow().is_none()
    }

    fn peak_memory_mb(&self) -> u64 {
        let bytes = match &self.cgroup {
            Some(cg) => cg.peak_memory(self.pid),
            None => sandbox::peak_resident(self.pid),
        };
        bytes.map_or(0, |b| b.div_ceil(1024 * 1024))
    }

    /// Asks the runtime to stop (SIGTERM), then kills it after a grace period.
    pub async fn shut_down(mut self) {
        self.signal(libc::SIGTERM);
        let mut exited = self.exited.clone();
        let _ = tokio::time::timeout(Duration::from_millis(500), exited.wait_for(Option::is_some))
            .await;
        self.kill();
        if let Some(cg) = self.cgroup.take() {
            cg.remove().await;
        }
    }

    fn signal(&self, sig: i32) {
        match self.isolation {
            // The launcher forwards SIGTERM; SIGKILL on it takes pid 1 and the namespace with it.
            Isolation::Namespaces => sandbox::kill(self.pid, sig),
            // The process leads its own group: signal the whole tree.
            Isolation::Process => sandbox::kill(-self.pid, sig),
        }
    }

    fn kill(&mut self) {
        self.signal(libc::SIGKILL);
        if let Some(cg) = &self.cgroup {
            cg.kill_all();
        }
    }
}

impl Drop for Environment {
    fn drop(&mut self) {
        self.kill();
        for t in &self.tasks {
            t.abort();
        }
        let cgroup = self.cgroup.take();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Some(cg) = cgroup {
                    cg.remove().await;
                }
            });
        }
    }
}

/// Follows a streamed response to its end: each chunk goes to the caller's tap as it
/// arrives (or is gathered, without one), while the deadline and the runtime's exit are
/// watched as for any invocation. A caller that goes away stops receiving, but the function
/// runs on to its end, as on AWS. A crash or time-out comes back with an empty payload (the
/// caller words it).
async fn follow(
    incoming: crate::stream::Incoming,
    tap: Option<crate::stream::Tap>,
    exited: &mut watch::Receiver<Option<String>>,
    deadline: tokio::time::Instant,
) -> (Bytes, Status, bool) {
    use crate::stream::{Piece, StreamEnd};
    let crate::stream::Incoming {
        content_type,
        mut pieces,
    } = incoming;
    let mut sink = match tap {
        Some(tap) => Sink::Caller(tap.open(content_type)),
        None => Sink::Gather(Vec::new()),
    };
    loop {
        let piece = tokio::select! {
            // What the runtime sent before it exited is still delivered.
            biased;
            p = pieces.recv() => p,
            _ = exited.wait_for(Option::is_some) => return (Bytes::new(), Status::Crashed, false),
            _ = tokio::time::sleep_until(deadline) => return (Bytes::new(), Status::Timeout, false),
        };
        let end = match piece {
            Some(Piece::Data(data)) => {
                if !sink.take(data, deadline).await {
                    return (Bytes::new(), Status::Timeout, false);
                }
                continue;
            }
            Some(Piece::End(end)) => end,
            // The post broke off before its end: the runtime is gone or unusable.
            None => return (Bytes::new(), Status::Crashed, false),
        };
        return match end {
            StreamEnd::Complete => match sink {
                Sink::Gather(v) if v.len() > limits::MAX_SYNC_RESPONSE => too_large(),
                Sink::Gather(v) => (Bytes::from(v), Status::Success, true),
                Sink::Caller(_) => (Bytes::new(), Status::Success, true),
            },
            StreamEnd::Error { error_type, body } => {
                let body = if body.is_empty() {
                    error_payload(&error_type, String::new())
                } else {
                    body
                };
                (body, Status::FunctionError, true)
            }
            StreamEnd::TooLarge => (
                error_payload(
                    "Function.ResponseSizeTooLarge",
                    format!(
                        "Response payload size exceeded maximum allowed payload size ({} bytes).",
                        limits::MAX_STREAMED_RESPONSE
                    ),
                ),
                Status::FunctionError,
                true,
            ),
        };
    }
}

fn too_large() -> (Bytes, Status, bool) {
    let msg = format!(
        "Response payload size exceeded maximum allowed payload size ({} bytes).",
        limits::MAX_SYNC_RESPONSE
    );
    (
        error_payload("Function.ResponseSizeTooLarge", msg),
        Status::FunctionError,
        true,
    )
}

/// Where a streamed response's chunks go.
enum Sink {
    /// To the caller (`None` once it has gone away).
    Caller(Option<mpsc::Sender<Bytes>>),
    /// Gathered for a caller that wants the response whole; past the buffered limit only the
    /// count matters.
    Gather(Vec<u8>),
}

impl Sink {
    /// Takes a chunk; `false` if the deadline passed while the caller was not reading.
    async fn take(&mut self, data: Bytes, deadline: tokio::time::Instant) -> bool {
        match self {
            Sink::Caller(Some(tx)) => tokio::select! {
                sent = tx.send(data) => {
                    if sent.is_err() {
                        *self = Sink::Caller(None);
                    }
                    true
                }
                _ = tokio::time::sleep_until(deadline) => false,
            },
            Sink::Caller(None) => true,
            Sink::Gather(v) => {
                if v.len() <= limits::MAX_SYNC_RESPONSE {
                    v.extend_from_slice(&data);
                }
                true
            }
        }
    }
}

/// Relays connections to the platform's endpoint from inside an environment's namespace.
async fn proxy(listener: tokio::net::TcpListener, platform: std::net::SocketAddr) {
    loop {
        let Ok((mut inside, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            if let Ok(mut outside) = connect_as_function(platform).await {
                let _ = tokio::io::copy_bidirectional(&mut inside, &mut outside).await;
            }
        });
    }
}

/// Connects to the platform from [`crate::FUNCTION_PEER`], so the platform can tell calls made
/// by functions (metered with the `function` trigger) from its other clients by their peer
/// address alone. Falls back to an ordinary connection when that address cannot be used.
async fn connect_as_function(
    platform: std::net::SocketAddr,
) -> std::io::Result<tokio::net::TcpStream> {
    if platform.is_ipv4() {
        if let Ok(socket) = tokio::net::TcpSocket::new_v4() {
            let from = std::net::SocketAddr::from((crate::FUNCTION_PEER, 0));
            if socket.bind(from).is_ok() {
                if let Ok(stream) = socket.connect(platform).await {
                    return Ok(stream);
                }
            }
        }
    }
    tokio::net::TcpStream::connect(platform).await
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// AWS's REPORT line; billed duration is rounded up to the millisecond.
fn report(
    request_id: &str,
    duration: Duration,
    memory_mb: u32,
    max_mb: u64,
    init: Option<Duration>,
) -> String {
    use std::fmt::Write;
    let billed = duration.as_micros().div_ceil(1000).max(1);
    // Sized once (the fixed text, two ids and room for the numbers): written for every
    // invocation, the line would otherwise grow its buffer as it went.
    let mut line = String::with_capacity(200 + 2 * request_id.len());
    let _ = write!(
        line,
        "END RequestId: {request_id}\nREPORT RequestId: {request_id}\tDuration: {:.2} ms\tBilled Duration: {billed} ms\tMemory Size: {memory_mb} MB\tMax Memory Used: {max_mb} MB\t",
        ms(duration)
    );
    if let Some(init) = init {
        let _ = write!(line, "Init Duration: {:.2} ms\t", ms(init));
    }
    line.push('\n');
    line
}

/// The REPORT fields of a restored environment's first invocation, in place of AWS's
/// `Init Duration`. Stratus restores nothing outside the environment (no snapshot is loaded),
/// so all of the restore is the runtime's after-restore work, which AWS bills.
fn restore_fields(restored: Duration) -> String {
    let billed = restored.as_micros().div_ceil(1000).max(1);
    format!(
        "Restore Duration: {:.2} ms\tBilled Restore Duration: {billed} ms\t",
        ms(restored)
    )
}

fn iso_now() -> String {
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(f)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_line_matches_aws() {
        let line = report(
            "abc",
            Duration::from_micros(12_341),
            128,
            40,
            Some(Duration::from_micros(123_450)),
        );
        assert!(line.starts_with("END RequestId: abc\nREPORT RequestId: abc\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\tInit Duration: 123.45 ms\t"));
        assert_eq!(
            restore_fields(Duration::from_micros(5_201)),
            "Restore Duration: 5.20 ms\tBilled Restore Duration: 6 ms\t"
        );
        let warm = report("x", Duration::from_micros(200), 256, 1, None);
        assert!(warm.contains("Billed Duration: 1 ms") && !warm.contains("Init Duration"));
    }

    #[test]
    fn layers_go_on_awss_search_paths() {
        let mut cfg: FunctionConfig = serde_json::from_value(json!({
            "name": "f", "version": "$LATEST", "runtime": "nodejs20.x", "role": "r",
            "handler": "index.handler", "description": "", "timeout": 3, "memory_size": 128,
            "environment": null, "architectures": ["x86_64"], "ephemeral_storage": 512,
            "package_type": "Zip", "tracing_mode": "PassThrough", "dead_letter_target": null,
            "kms_key_arn": null, "log_format": "Text", "log_group": null,
            "code": { "sha256_hex": "", "sha256_b64": "", "size": 0 },
            "last_modified": "", "revision_id": "r1"
        }))
        .unwrap();
        let get = |env: &[(String, String)], k: &str| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        };
        let none = search_paths(&cfg, "/var/task", "/var/runtime", None);
        assert!(get(&none, "NODE_PATH").is_none() && get(&none, "LD_LIBRARY_PATH").is_none());
        let with = search_paths(&cfg, "/var/task", "/var/runtime", Some("/opt"));
        assert!(get(&with, "PATH").unwrap().ends_with(":/opt/bin"));
        assert!(get(&with, "LD_LIBRARY_PATH")
            .unwrap()
            .ends_with(":/opt/lib"));
        // Node's layer directories are on the runtime's NODE_PATH, moved to where the layers
        // really are when the environment has no root of its own.
        assert!(get(&with, "NODE_PATH").is_none());
        let node_path = [(
            "NODE_PATH".to_string(),
            "/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:/var/runtime".to_string(),
        )];
        let places = |opt| Places {
            task_root: "/var/task",
            runtime_dir: "/var/runtime",
            opt,
        };
        let mut start = StartAs {
            region: "r",
            request_id: "q",
            provisioned: false,
            snap_start: false,
        };
        let env = environment_vars(None, &cfg, &start, "s", &places(Some("/opt")), &node_path);
        assert_eq!(get(&env, "NODE_PATH").unwrap(), node_path[0].1);
        assert_eq!(
            get(&env, "AWS_LAMBDA_INITIALIZATION_TYPE").unwrap(),
            "on-demand"
        );
        start.provisioned = true;
        let env = environment_vars(
            None,
            &cfg,
            &start,
            "s",
            &places(Some("/d/opt-1")),
            &node_path,
        );
        assert_eq!(
            get(&env, "AWS_LAMBDA_INITIALIZATION_TYPE").unwrap(),
            "provisioned-concurrency"
        );
        start.snap_start = true;
        let snap = environment_vars(None, &cfg, &start, "s", &places(None), &node_path);
        assert_eq!(
            get(&snap, "AWS_LAMBDA_INITIALIZATION_TYPE").unwrap(),
            "snap-start"
        );
        assert!(get(&snap, "AWS_LAMBDA_LOG_STREAM_NAME").is_none());
        assert!(get(&snap, "AWS_LAMBDA_LOG_GROUP_NAME").is_none());
        assert_eq!(
            get(&env, "NODE_PATH").unwrap(),
            "/d/opt-1/nodejs/node20/node_modules:/d/opt-1/nodejs/node_modules:/var/runtime"
        );
        cfg.runtime = Some("python3.12".into());
        let py = search_paths(&cfg, "/var/task", "/var/runtime", Some("/opt"));
        assert!(get(&py, "NODE_PATH").is_none());
        assert!(
            get(&py, "_STRATUS_LAYERS_ROOT").is_none(),
            "the bootstrap's default"
        );
        let plain = search_paths(&cfg, "/t", "/r", Some("/data/code/opt-1"));
        assert_eq!(
            get(&plain, "_STRATUS_LAYERS_ROOT").unwrap(),
            "/data/code/opt-1"
        );
    }

    #[test]
    fn interpreters_are_prestarted_unless_their_start_depends_on_the_function() {
        let mut cfg: FunctionConfig = serde_json::from_value(json!({
            "name": "f", "version": "$LATEST", "runtime": "python3.12", "role": "r",
            "handler": "app.handler", "description": "", "timeout": 3, "memory_size": 128,
            "environment": {"OWN": "x"}, "architectures": ["x86_64"], "ephemeral_storage": 512,
            "package_type": "Zip", "tracing_mode": "PassThrough", "dead_letter_target": null,
            "kms_key_arn": null, "log_format": "Text", "log_group": null,
            "code": { "sha256_hex": "", "sha256_b64": "", "size": 0 },
            "last_modified": "", "revision_id": "r1"
        }))
        .unwrap();
        let mut spec = LaunchSpec {
            id: "e".into(),
            program: "/usr/bin/python3.12".into(),
            args: vec![
                "-S".into(),
                "/var/runtime/bootstrap.py".into(),
                String::new(),
            ],
            env: Vec::new(),
            code_dir: "/code".into(),
            opt_dir: None,
            mounts: Vec::new(),
            memory_mb: 128,
            tmp_mb: 512,
        };
        assert!(family_of(&spec, "python3.12", &cfg).prestart);
        spec.opt_dir = Some("/layers".into());
        assert!(!family_of(&spec, "python3.12", &cfg).prestart, "layers");
        spec.opt_dir = None;
        for var in ["PYTHONPATH", "LD_PRELOAD"] {
            let mut with = cfg.clone();
            with.environment
                .get_or_insert_with(Default::default)
                .insert(var.into(), "1".into());
            assert!(!family_of(&spec, "python3.12", &with).prestart, "{var}");
        }
        cfg.runtime = Some("nodejs20.x".into());
        spec.args = vec!["/var/runtime/bootstrap.mjs".into()];
        let node = family_of(&spec, "nodejs20.x", &cfg);
        assert!(node.prestart && node.program == spec.program);
        for var in ["NODE_OPTIONS", "UV_THREADPOOL_SIZE", "LD_PRELOAD"] {
            let mut with = cfg.clone();
            with.environment
                .get_or_insert_with(Default::default)
                .insert(var.into(), "1".into());
            assert!(!family_of(&spec, "nodejs20.x", &with).prestart, "{var}");
        }
        // A custom runtime's own bootstrap is not an interpreter the platform knows.
        spec.args = vec![];
        assert!(!family_of(&spec, "provided.al2023", &cfg).prestart);
    }

    #[test]
    fn exit_messages() {
        let p = exit_error("id", "exit status 1");
        assert!(std::str::from_utf8(&p)
            .unwrap()
            .contains("Runtime exited with error: exit status 1"));
        let p = exit_error("id", "exit status 0");
        assert!(std::str::from_utf8(&p)
            .unwrap()
            .contains("without providing a reason"));
    }
}
