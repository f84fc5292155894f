//! Starting an execution environment's process tree, isolated as well as the host allows:
//! with namespaces and cgroups (see [`jail`], [`netns`], [`cgroup`]), or as a plain process
//! where the platform lacks the privileges for them.

#![allow(unsafe_code)]

pub mod cgroup;
pub mod jail;
pub mod netns;

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::Isolation;
use cgroup::{Cgroup, CgroupRoot};

/// What to run in a new environment.
pub struct LaunchSpec {
    pub id: String,
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub code_dir: PathBuf,
    pub memory_mb: u32,
    pub tmp_mb: u32,
}

/// A started environment process and its plumbing.
pub struct Launched {
    pub child: tokio::process::Child,
    pub runtime_api: tokio::net::TcpListener,
    /// The platform's endpoint offered inside the environment, when it has its own network.
    pub endpoint: Option<tokio::net::TcpListener>,
    /// Read end of the pipe carrying the environment's stdout and stderr.
    pub output: OwnedFd,
    pub cgroup: Option<Cgroup>,
    /// The host directory behind the environment's /tmp, removed with the environment.
    pub tmp_dir: Option<PathBuf>,
}

pub struct Sandbox {
    pub mode: Isolation,
    exe: PathBuf,
    runtime_dir: PathBuf,
    hide: Vec<PathBuf>,
    /// Where environments' /tmp directories live on the host.
    env_tmp: PathBuf,
    cgroups: Option<CgroupRoot>,
    endpoint_port: u16,
    platform_endpoint: String,
}

/// Processes and threads per environment (AWS's quota).
const PIDS_MAX: u32 = 1024;

pub fn kill(pid: i32, sig: i32) {
    if pid > 0 {
        // SAFETY: sending a signal has no memory-safety preconditions.
        unsafe { libc::kill(pid, sig) };
    }
}

impl Sandbox {
    /// Chooses the isolation mode: `want` is `auto`, `namespaces` or `process`.
    pub fn new(
        want: &str,
        runtime_dir: &Path,
        data_dir: &Path,
        platform: std::net::SocketAddr,
    ) -> io::Result<Sandbox> {
        let can = namespaces_available();
        let mode = match (want, &can) {
            ("process", _) => Isolation::Process,
            (_, Ok(())) => Isolation::Namespaces,
            ("namespaces", Err(e)) => {
                return Err(io::Error::other(format!("namespaces unavailable: {e}")))
            }
            (_, Err(e)) => {
                tracing::warn!("ISOLATION DISABLED: execution environments run as plain processes, without namespaces or cgroups ({e}); functions can see each other and the host");
                Isolation::Process
            }
        };
        let cgroups = if mode == Isolation::Namespaces {
            CgroupRoot::detect()
        } else {
            None
        };
        if mode == Isolation::Namespaces && cgroups.is_none() {
            tracing::warn!("no usable cgroup hierarchy: MemorySize is not enforced");
        }
        let env_tmp = data_dir.join("envtmp");
        // Left over from a platform that died without cleaning up.
        let _ = std::fs::remove_dir_all(&env_tmp);
        std::fs::create_dir_all(&env_tmp)?;
        Ok(Sandbox {
            mode,
            env_tmp,
            exe: std::env::current_exe()?,
            runtime_dir: runtime_dir.to_path_buf(),
            hide: vec![data_dir.to_path_buf()],
            cgroups,
            endpoint_port: platform.port(),
            platform_endpoint: format!("http://{platform}"),
        })
    }

    pub fn memory_enforced(&self) -> bool {
        self.cgroups.is_some()
    }

    /// Where the code and the runtime files appear to the function.
    pub fn paths(&self, code_dir: &Path) -> (String, String) {
        match self.mode {
            Isolation::Namespaces => ("/var/task".into(), "/var/runtime".into()),
            Isolation::Process => (
                code_dir.display().to_string(),
                self.runtime_dir.display().to_string(),
            ),
        }
    }

    pub fn launch(&self, mut spec: LaunchSpec) -> io::Result<Launched> {
        let (read, write) = pipe()?;
        let stdout = Stdio::from(write.try_clone()?);
        let stderr = Stdio::from(write);
        match self.mode {
            Isolation::Namespaces => self.launch_isolated(&mut spec, stdout, stderr, read),
            Isolation::Process => self.launch_plain(&mut spec, stdout, stderr, read),
        }
    }

    fn launch_isolated(
        &self,
        spec: &mut LaunchSpec,
        stdout: Stdio,
        stderr: Stdio,
        read: OwnedFd,
    ) -> io::Result<Launched> {
        let ns = netns::create(self.endpoint_port)?;
        let cgroup = match &self.cgroups {
            Some(root) => Some(root.create(&spec.id, spec.memory_mb, PIDS_MAX)?),
            None => None,
        };
        let tmp_dir = self.env_tmp.join(&spec.id);
        std::fs::create_dir_all(&tmp_dir)?;
        std::fs::set_permissions(
            &tmp_dir,
            std::os::unix::fs::PermissionsExt::from_mode(0o1777),
        )?;
        spec.env.push((
            "AWS_LAMBDA_RUNTIME_API".into(),
            format!("127.0.0.1:{}", netns::RUNTIME_API_PORT),
        ));
        spec.env.push((
            "AWS_ENDPOINT_URL".into(),
            format!("http://127.0.0.1:{}", self.endpoint_port),
        ));
        let jail = jail::JailSpec {
            program: spec.program.clone(),
            args: spec.args.clone(),
            env: spec.env.clone(),
            code_dir: spec.code_dir.clone(),
            runtime_dir: self.runtime_dir.clone(),
            hide: self.hide.clone(),
            keep: kept_under_tmp(&spec.program),
            tmp_dir: tmp_dir.clone(),
            cgroup: cgroup.as_ref().map(Cgroup::entry).unwrap_or_default(),
            hostname: "stratus".into(),
        };
        let mut cmd = tokio::process::Command::new(&self.exe);
        cmd.arg("__jail").arg(serde_json::to_string(&jail)?);
        cmd.env_clear()
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true);
        let nsfd = ns.handle.as_raw_fd();
        // SAFETY: between fork and exec the closure only makes the setns and unshare system
        // calls, which are async-signal-safe and allocate nothing.
        unsafe {
            cmd.pre_exec(move || {
                // The launcher must not outlive the platform (e.g. after kill -9).
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::setns(nsfd, libc::CLONE_NEWNET) != 0 {
                    return Err(io::Error::last_os_error());
                }
                let flags = libc::CLONE_NEWNS
                    | libc::CLONE_NEWPID
                    | libc::CLONE_NEWIPC
                    | libc::CLONE_NEWUTS;
                if libc::unshare(flags) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        Ok(Launched {
            child,
            runtime_api: tokio::net::TcpListener::from_std(ns.runtime_api)?,
            endpoint: Some(tokio::net::TcpListener::from_std(ns.endpoint)?),
            output: read,
            cgroup,
            tmp_dir: Some(tmp_dir),
        })
    }

    fn launch_plain(
        &self,
        spec: &mut LaunchSpec,
        stdout: Stdio,
        stderr: Stdio,
        read: OwnedFd,
    ) -> io::Result<Launched> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        spec.env.push((
            "AWS_LAMBDA_RUNTIME_API".into(),
            listener.local_addr()?.to_string(),
        ));
        spec.env
            .push(("AWS_ENDPOINT_URL".into(), self.platform_endpoint.clone()));
        let mut cmd = tokio::process::Command::new(&spec.program);
        cmd.args(&spec.args)
            .env_clear()
            .envs(spec.env.iter().cloned())
            .current_dir(&spec.code_dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0)
            .kill_on_drop(true);
        let child = cmd.spawn()?;
        Ok(Launched {
            child,
            runtime_api: tokio::net::TcpListener::from_std(listener)?,
            endpoint: None,
            output: read,
            cgroup: None,
            tmp_dir: None,
        })
    }
}

/// The environment's /tmp is its own, which would hide an interpreter installed under the
/// host's /tmp (a virtualenv in a checkout there, say): keep its prefix (`<prefix>/bin/<exe>`).
fn kept_under_tmp(program: &str) -> Vec<PathBuf> {
    let path = Path::new(program);
    match path.parent().and_then(Path::parent) {
        Some(prefix) if path.starts_with("/tmp") && prefix != Path::new("/tmp") => {
            vec![prefix.to_path_buf()]
        }
        _ => Vec::new(),
    }
}

pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into a valid array; we take ownership of both.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Whether this process may create the namespaces environments need.
fn namespaces_available() -> io::Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(io::Error::other("not running as root"));
    }
    for dir in ["/var/task", "/var/runtime"] {
        std::fs::create_dir_all(dir)
            .map_err(|e| io::Error::new(e.kind(), format!("creating mount point {dir}: {e}")))?;
    }
    netns::create(0).map(drop)
}
