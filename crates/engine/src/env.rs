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
use crate::sandbox::{self, cgroup::Cgroup, LaunchSpec};
use crate::{Context, Isolation};

/// How long initialisation may take (AWS's init phase limit).
const INIT_LIMIT: Duration = Duration::from_secs(10);

pub struct Environment {
    pub id: String,
    pub stream: String,
    pub group: String,
    /// The log stream, kept open between invocations.
    pub log_file: crate::logs::StreamFile,
    next: mpsc::Sender<Invocation>,
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

/// The environment variables AWS sets, then the function's own.
fn environment_vars(
    creds: Option<&crate::FunctionCredentials>,
    cfg: &FunctionConfig,
    region: &str,
    stream: &str,
    task_root: &str,
    runtime_dir: &str,
    runtime_env: &[(String, String)],
) -> Vec<(String, String)> {
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
        ("AWS_LAMBDA_INITIALIZATION_TYPE".into(), "on-demand".into()),
        ("AWS_REGION".into(), region.into()),
        ("AWS_DEFAULT_REGION".into(), region.into()),
        ("AWS_XRAY_CONTEXT_MISSING".into(), "LOG_ERROR".into()),
        ("TZ".into(), ":UTC".into()),
        ("LANG".into(), "en_US.UTF-8".into()),
        (
            "PATH".into(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()),
        ),
        ("HOME".into(), "/tmp".into()),
    ];
    if let Some(c) = creds {
        env.push(("AWS_ACCESS_KEY_ID".into(), c.access_key.clone()));
        env.push(("AWS_SECRET_ACCESS_KEY".into(), c.secret.clone()));
        env.push(("AWS_SESSION_TOKEN".into(), c.token.clone()));
    }
    if let Some(exec_env) = cfg.runtime.as_deref().and_then(runtime::execution_env) {
        env.push(("AWS_EXECUTION_ENV".into(), exec_env));
    }
    // The runtime's own (NODE_PATH), which the function's variables may override.
    env.extend(runtime_env.iter().cloned());
    if let Some(vars) = &cfg.environment {
        for (k, v) in vars {
            env.retain(|(name, _)| name != k);
            env.push((k.clone(), v.clone()));
        }
    }
    env
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

impl Environment {
    /// Starts an environment and waits for its runtime to finish initialising.
    pub async fn start(
        ctx: &Context,
        cfg: &FunctionConfig,
        code_dir: &Path,
        region: &str,
        request_id: &str,
    ) -> Result<Environment, StartFailure> {
        let started = Instant::now();
        let id = stratus_core::ids::uuid().simple().to_string();
        let stream = stream_name(&cfg.version, &id);
        let (task_root, runtime_dir) = ctx.sandbox.paths(code_dir);
        let runtime_name = cfg.runtime.clone().unwrap_or_default();
        let isolated = ctx.sandbox.mode == Isolation::Namespaces;
        let launch = match ctx
            .runtimes
            .command(&runtime_name, &runtime_dir, &task_root, code_dir, isolated)
            .await
        {
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
                region,
                &stream,
                &task_root,
                &runtime_dir,
                &launch.env,
            ),
            mounts: launch.mounts,
            code_dir: code_dir.to_path_buf(),
            memory_mb: cfg.memory_size,
            tmp_mb: cfg.ephemeral_storage,
        };
        let launched = ctx
            .sandbox
            .launch(spec)
            .map_err(|e| StartFailure::Platform(format!("launching environment: {e}")))?;
        let (output, reader) =
            Output::start(launched.output).map_err(|e| StartFailure::Platform(e.to_string()))?;
        let (slot, next, init) = Slot::new();
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
            init_start: launch.init_start,
            last_used: Instant::now(),
            retire_by,
            memory_mb: cfg.memory_size,
            timeout: cfg.timeout,
        };
        env.await_init(init, started, request_id, &cfg.version)
            .await?;
        Ok(env)
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
                    self.init_duration = Some(started.elapsed());
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
        let deadline_ms =
            clock::epoch_ms(time::OffsetDateTime::now_utc()) + timeout.as_millis() as i64;
        self.output.append(
            format!("START RequestId: {} Version: {}\n", p.request_id, p.version).as_bytes(),
        );
        let (reply_tx, reply_rx) = oneshot::channel();
        let inv = Invocation {
            request_id: p.request_id.to_string(),
            payload: p.payload,
            deadline_ms,
            invoked_arn: p.invoked_arn.to_string(),
            trace_id: trace_id(),
            client_context: p.client_context,
            cognito_identity: None,
            reply: reply_tx,
        };
        let mut exited = self.exited.clone();
        let sent = self.next.send(inv).await.is_ok();
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
                Err(_) => (exit_error(p.request_id, "exit status 0"), Status::Crashed, false),
            },
            how = exited.wait_for(Option::is_some) => {
                let how = how.ok().and_then(|h| h.clone()).unwrap_or_default();
                (exit_error(p.request_id, &how), Status::Crashed, false)
            },
            _ = tokio::time::sleep(timeout) => {
                let secs = format!("{:.2}", timeout.as_secs_f64());
                (error_payload("Sandbox.Timedout", format!("RequestId: {} Error: Task timed out after {secs} seconds", p.request_id)), Status::Timeout, false)
            },
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
        let report = report(
            p.request_id,
            duration,
            self.memory_mb,
            max_memory_mb,
            init_duration,
        );
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
    let billed = duration.as_micros().div_ceil(1000).max(1);
    let mut line = format!(
        "END RequestId: {request_id}\nREPORT RequestId: {request_id}\tDuration: {:.2} ms\tBilled Duration: {billed} ms\tMemory Size: {memory_mb} MB\tMax Memory Used: {max_mb} MB\t",
        ms(duration)
    );
    if let Some(init) = init {
        line.push_str(&format!("Init Duration: {:.2} ms\t", ms(init)));
    }
    line.push('\n');
    line
}

fn iso_now() -> String {
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(f)
        .unwrap_or_default()
}

fn trace_id() -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let r = stratus_core::ids::uuid().simple().to_string();
    format!(
        "Root=1-{now:08x}-{};Parent={};Sampled=0",
        &r[..24],
        &r[16..32]
    )
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
        let warm = report("x", Duration::from_micros(200), 256, 1, None);
        assert!(warm.contains("Billed Duration: 1 ms") && !warm.contains("Init Duration"));
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
