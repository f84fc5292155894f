//! Pre-made sandboxes (decision 0038): an environment prepared before any function asks —
//! network namespace, cgroup, the launcher in its new namespaces, pid 1 pivoted into a root
//! with everything no function chooses (system trees, the runtime bootstraps, the runtime's
//! SDK, /tmp, /dev, /proc, /sys), the runtime's process already unprivileged in its user
//! namespace with its system-call filter — waiting for one function. Specialising it sets
//! the function's limits on the cgroup and hands pid 1 the function's code and layers as
//! mount descriptors with its program and environment (see `handoff`). For python and node the
//! runtime's process may even have started the interpreter and imported the runtime client
//! (`prestart`); the bootstrap then waits for its function's environment. A pre-made sandbox
//! serves one function once, like any environment: it is never returned to the pool.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::Stdio;

use super::cgroup::{self, Cgroup};
use super::handoff::{self, Exec, Specialisation, CONTROL_FD};
use super::{
    forker, jail, nat, pipe, spawner, Child, LaunchSpec, Launched, Sandbox, HOST_IDS, PIDS_MAX,
};

/// What a pre-made sandbox is prepared for: everything about an environment that its function
/// does not choose. Environments of one runtime share it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Family {
    /// The runtime's program (its interpreter's prefix is bound in), and its arguments.
    pub program: String,
    pub args: Vec<String>,
    /// Host directories bound read-only at another place (the runtime's SDK).
    pub mounts: Vec<(PathBuf, String)>,
    /// Whether the interpreter is started ahead (python, node; see the module's comment).
    pub prestart: bool,
}

/// The size of a pre-made sandbox's /tmp and memory limit until it is specialised.
const WAITING: cgroup::Limits = cgroup::Limits {
    memory_mb: 128,
    tmp_mb: 512,
    pids: PIDS_MAX,
};

/// One prepared sandbox, waiting. Dropping it kills it.
pub struct Premade {
    pub family: Family,
    parts: Option<Parts>,
}

struct Parts {
    child: Child,
    runtime_api: std::net::TcpListener,
    endpoint: Option<std::net::TcpListener>,
    output: OwnedFd,
    cgroup: Option<Cgroup>,
    lease: Option<nat::Lease>,
    control: OwnedFd,
}

impl Premade {
    /// Whether its processes are still waiting (not killed, not failed).
    pub fn is_alive(&mut self) -> bool {
        self.parts
            .as_mut()
            .is_some_and(|p| matches!(p.child.try_wait(), Ok(None)))
    }
}

impl Drop for Premade {
    fn drop(&mut self) {
        let Some(mut parts) = self.parts.take() else {
            return;
        };
        let _ = parts.child.start_kill();
        if let Some(cg) = parts.cgroup.take() {
            cg.kill_all();
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(cg.remove());
            }
        }
    }
}

/// What a pre-started interpreter's process starts with: what every function of the runtime
/// gets alike (the Runtime API's address too, so it may connect while it waits), and where to
/// read its function's environment.
fn waiting_env() -> Vec<(String, String)> {
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
    [
        ("PATH", path.as_str()),
        ("LANG", "en_US.UTF-8"),
        ("TZ", ":UTC"),
        ("HOME", "/tmp"),
        ("LAMBDA_TASK_ROOT", "/var/task"),
        ("LAMBDA_RUNTIME_DIR", "/var/runtime"),
        ("_STRATUS_PRESTART_FD", "3"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

impl Sandbox {
    /// Prepares a sandbox for `family` (namespace isolation only).
    pub fn premake(&self, family: &Family) -> io::Result<Premade> {
        let (skeleton, binds, ns, lease) =
            self.root_and_network(&family.program, &family.mounts)?;
        let id = format!("pm-{}", uuid::Uuid::new_v4().simple());
        let cgroup = match &self.cgroups {
            Some(root) => Some(root.create(&id, &WAITING)?),
            None => None,
        };
        let (program, args, env) = match family.prestart {
            true => {
                let mut env = waiting_env();
                self.runtime_env(&mut env);
                (family.program.clone(), family.args.clone(), env)
            }
            false => Default::default(),
        };
        let spec = jail::JailSpec {
            program,
            args,
            env,
            code_dir: PathBuf::new(),
            runtime_dir: self.runtime_dir.clone(),
            opt_dir: None,
            root: skeleton.root.clone(),
            system: skeleton.system.clone(),
            binds,
            mounts: family.mounts.clone(),
            tmp_mb: WAITING.tmp_mb,
            host_ids: HOST_IDS,
            user_namespace: self.user_namespace,
            seccomp: self.filter.clone(),
            cgroup: cgroup.as_ref().map(Cgroup::entry).unwrap_or_default(),
            hostname: "stratus".into(),
            premade: true,
            prestart: family.prestart,
            platform_pid: std::process::id(),
        };
        let (ours, theirs) = handoff::socket_pair()?;
        let (read, write) = pipe()?;
        let child = self.spawn_launcher(&spec, write, &ns.handle, Some(&theirs))?;
        drop(theirs);
        Ok(Premade {
            family: family.clone(),
            parts: Some(Parts {
                child,
                runtime_api: ns.runtime_api,
                endpoint: ns.endpoint,
                output: read,
                cgroup,
                lease,
                control: ours,
            }),
        })
    }

    /// Turns a pre-made sandbox into `spec`'s environment: its limits, its code and layers,
    /// its program and environment. On error the sandbox is discarded (killed).
    pub fn specialise(&self, mut premade: Premade, spec: &LaunchSpec) -> io::Result<Launched> {
        let parts = premade
            .parts
            .as_ref()
            .ok_or_else(|| io::Error::other("pre-made sandbox already used"))?;
        if let (Some(root), Some(cg)) = (&self.cgroups, &parts.cgroup) {
            root.apply(cg, &WAITING, &cgroup::Limits::of(spec, PIDS_MAX))?;
        }
        let code = handoff::read_only_tree(&spec.code_dir)?;
        let opt = spec
            .opt_dir
            .as_deref()
            .map(handoff::read_only_tree)
            .transpose()?;
        let mut env = spec.env.clone();
        self.runtime_env(&mut env);
        let message = Specialisation {
            exec: Exec {
                program: spec.program.clone(),
                args: spec.args.clone(),
                env,
            },
            tmp_mb: spec.tmp_mb,
            opt: opt.is_some(),
        };
        let mut fds = vec![code.as_raw_fd()];
        fds.extend(opt.as_ref().map(AsRawFd::as_raw_fd));
        handoff::send(
            parts.control.as_raw_fd(),
            &serde_json::to_vec(&message)?,
            &fds,
        )?;
        let Some(parts) = premade.parts.take() else {
            return Err(io::Error::other("pre-made sandbox already used"));
        };
        Ok(Launched {
            child: parts.child,
            runtime_api: tokio::net::TcpListener::from_std(parts.runtime_api)?,
            endpoint: parts
                .endpoint
                .map(tokio::net::TcpListener::from_std)
                .transpose()?,
            output: parts.output,
            cgroup: parts.cgroup,
            lease: parts.lease,
        })
    }

    /// Starts the launcher (`stratus __jail`), its output on `output`; `control`, when given,
    /// becomes its descriptor `CONTROL_FD`. The launcher enters the environment's namespaces
    /// itself (`jail::enter`), so nothing runs between fork and exec. Its three standard
    /// descriptors carry what it needs until it moves them: the network namespace (stdin),
    /// the output (stdout), and the control socket or the output (stderr). It is started by
    /// the forker (see `forker`: none of the platform's descriptors to close at exec), or,
    /// if the forker cannot, from here with `posix_spawn`.
    pub(super) fn spawn_launcher(
        &self,
        spec: &jail::JailSpec,
        output: OwnedFd,
        netns: &OwnedFd,
        control: Option<&OwnedFd>,
    ) -> io::Result<Child> {
        let spec = serde_json::to_string(spec)?;
        let stderr = control.unwrap_or(&output);
        match forker::spawn_launcher(&spec, [netns, &output, stderr]) {
            Ok(launcher) => return Ok(Child::Launcher(launcher)),
            Err(e) => {
                tracing::warn!(%e, "starting a launcher through the forker; starting it here")
            }
        }
        let stdin = Stdio::from(netns.try_clone()?);
        let stdout = Stdio::from(output.try_clone()?);
        let stderr = Stdio::from(stderr.try_clone()?);
        let mut cmd = tokio::process::Command::new(&self.exe);
        cmd.arg("__jail").arg(spec);
        cmd.env_clear()
            .stdin(stdin)
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true);
        spawner::spawn(cmd).map(Child::Process)
    }
}

/// In a pre-made sandbox's pid 1 (after the runtime's process has started): waits for the
/// function, attaches its code (and layers), resizes /tmp, and writes the runtime's process
/// what to run on `go`. Exits when the platform discards the sandbox unused.
pub(super) fn specialise_in_pid1(go: i32) {
    let mut buf = vec![0u8; handoff::MAX_MESSAGE];
    let (n, fds) = match handoff::receive(CONTROL_FD, &mut buf) {
        Ok(Some(got)) => got,
        Ok(None) => std::process::exit(0),
        Err(e) => jail::die("waiting for the function", e),
    };
    jail::close(CONTROL_FD);
    let spec: Specialisation = match serde_json::from_slice(&buf[..n]) {
        Ok(s) => s,
        Err(e) => jail::die("reading the specialisation", io::Error::other(e)),
    };
    let mut trees = fds.into_iter();
    let attached = trees
        .next()
        .ok_or_else(|| io::Error::other("no code"))
        .and_then(|code| handoff::attach(code.as_raw_fd(), c"/var/task"));
    if let Err(e) = attached {
        jail::die("attaching the code", e);
    }
    if spec.opt {
        let attached = trees
            .next()
            .ok_or_else(|| io::Error::other("no layers"))
            .and_then(|opt| handoff::attach(opt.as_raw_fd(), c"/opt"));
        if let Err(e) = attached {
            jail::die("attaching the layers", e);
        }
    }
    let size = format!("size={}m", spec.tmp_mb);
    let flags = libc::MS_REMOUNT | libc::MS_NOSUID | libc::MS_NODEV;
    if let Err(e) = jail::mount(None, "/tmp", None, flags, Some(&size)) {
        jail::die("sizing /tmp", e);
    }
    let text = serde_json::to_vec(&spec.exec).unwrap_or_default();
    let mut rest = &text[..];
    while !rest.is_empty() {
        // SAFETY: writing from a valid buffer to our own pipe.
        let n = unsafe { libc::write(go, rest.as_ptr().cast(), rest.len()) };
        if n > 0 {
            rest = &rest[n as usize..];
        } else if io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            jail::die("starting the function", io::Error::last_os_error());
        }
    }
    jail::close(go);
}
