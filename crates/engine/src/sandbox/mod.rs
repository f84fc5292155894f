//! Starting an execution environment's process tree, isolated as well as the host allows:
//! with namespaces, a root of its own, an unprivileged user, a system-call filter and cgroups
//! (see [`jail`], [`rootfs`], [`seccomp`], [`netns`], [`cgroup`]), or as a plain process where
//! the platform lacks the privileges for them. [`Protections`] says which are in force.

#![allow(unsafe_code)]

pub mod cgroup;
pub mod forker;
pub mod handoff;
pub mod jail;
pub mod nat;
pub mod netns;
pub mod premade;
pub mod rootfs;
mod rtnl;
pub mod seccomp;
pub mod spawner;

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
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
    /// The function's merged layers, if it has any (mounted at `/opt`).
    pub opt_dir: Option<PathBuf>,
    /// Host directories bound read-only at another place inside (the runtime's SDK).
    pub mounts: Vec<(PathBuf, String)>,
    pub memory_mb: u32,
    pub tmp_mb: u32,
}

/// An environment's launcher (or, without namespaces, its runtime's process), killed when
/// dropped.
pub enum Child {
    /// Started by the forker.
    Launcher(forker::Launcher),
    Process(tokio::process::Child),
}

impl Child {
    pub fn id(&self) -> Option<u32> {
        match self {
            Child::Launcher(l) => l.id(),
            Child::Process(p) => p.id(),
        }
    }

    pub fn try_wait(&mut self) -> io::Result<Option<std::process::ExitStatus>> {
        match self {
            Child::Launcher(l) => l.try_wait(),
            Child::Process(p) => p.try_wait(),
        }
    }

    pub fn start_kill(&mut self) -> io::Result<()> {
        match self {
            Child::Launcher(l) => l.start_kill(),
            Child::Process(p) => p.start_kill(),
        }
    }

    pub async fn wait(&mut self) -> io::Result<std::process::ExitStatus> {
        match self {
            Child::Launcher(l) => l.wait().await,
            Child::Process(p) => p.wait().await,
        }
    }
}

/// A started environment process and its plumbing.
pub struct Launched {
    pub child: Child,
    pub runtime_api: tokio::net::TcpListener,
    /// The platform's endpoint offered inside the environment, when it has its own network.
    pub endpoint: Option<tokio::net::TcpListener>,
    /// Read end of the pipe carrying the environment's stdout and stderr.
    pub output: OwnedFd,
    pub cgroup: Option<Cgroup>,
    /// The environment's address on the NAT bridge (`nat` mode), released when dropped.
    pub lease: Option<nat::Lease>,
}

/// Which protections environments get on this host (reported by `/health`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Protections {
    /// The function runs as the sandbox user in a user namespace of its own, mapped to an
    /// unprivileged host user.
    pub user_namespace: bool,
    /// The environment pivots into a minimal root of its own.
    pub pivot_root: bool,
    /// The system-call filter is installed.
    pub seccomp: bool,
    /// `MemorySize` (plus the /tmp size, see `cgroup`) is enforced by a memory cgroup.
    pub memory_limit: bool,
    /// CPU in proportion to `MemorySize` through the cpu controller.
    pub cpu_limit: bool,
    /// The pids controller caps processes and threads.
    pub pids_limit: bool,
    /// /tmp is a tmpfs of `EphemeralStorage.Size`.
    pub tmp_limit: bool,
    /// What the environment's network reaches: `platform` (only the platform's endpoint),
    /// `none` (only its Runtime API), `nat` (the platform's endpoint and, through the NAT
    /// bridge, the outside as `egress_allow` / `egress_deny` say), or `host` (process mode:
    /// whatever the host reaches).
    pub network: &'static str,
}

impl Protections {
    /// The protections this host lacks, by name.
    pub fn missing(&self) -> Vec<&'static str> {
        [
            ("user_namespace", self.user_namespace),
            ("pivot_root", self.pivot_root),
            ("seccomp", self.seccomp),
            ("memory_limit", self.memory_limit),
            ("cpu_limit", self.cpu_limit),
            ("pids_limit", self.pids_limit),
            ("tmp_limit", self.tmp_limit),
        ]
        .into_iter()
        .filter(|(_, on)| !on)
        .map(|(name, _)| name)
        .collect()
    }
}

pub struct Sandbox {
    pub mode: Isolation,
    exe: PathBuf,
    runtime_dir: PathBuf,
    skeleton: Option<rootfs::Skeleton>,
    filter: Option<String>,
    user_namespace: bool,
    cgroups: Option<CgroupRoot>,
    endpoint_port: u16,
    platform_endpoint: String,
    network: Network,
    /// The bridge and ruleset of the `nat` mode, once set up.
    nat: Option<nat::Nat>,
}

/// What an environment's network namespace offers besides its Runtime API (the server's
/// `network` option).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Network {
    /// The platform's AWS endpoint at its own port on the environment's loopback (the default).
    Platform,
    /// Nothing: the function reaches no service at all.
    None,
    /// The platform's endpoint, and the outside through NAT as the plan allows (see `nat`).
    Nat(nat::Plan),
}

impl Network {
    /// The `network` option, with the `nat` mode's subnet and egress lists.
    pub fn parse(
        mode: &str,
        subnet: &str,
        allow: &[String],
        deny: &[String],
    ) -> io::Result<Network> {
        match mode {
            "platform" => Ok(Network::Platform),
            "none" => Ok(Network::None),
            "nat" => nat::Plan::parse(subnet, allow, deny)
                .map(Network::Nat)
                .map_err(io::Error::other),
            other => Err(io::Error::other(format!(
                "network must be `platform`, `none` or `nat`, not {other:?}"
            ))),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Network::Platform => "platform",
            Network::None => "none",
            Network::Nat(_) => "nat",
        }
    }
}

/// Processes and threads per environment (AWS's quota).
const PIDS_MAX: u32 = 1024;

/// The unprivileged host user and group functions run as (the sandbox user 993:990 inside
/// their user namespace). Far above the ranges distributions give accounts, never 0.
pub const HOST_IDS: (u32, u32) = (200_993, 200_990);

pub fn kill(pid: i32, sig: i32) {
    if pid > 0 {
        // SAFETY: sending a signal has no memory-safety preconditions.
        unsafe { libc::kill(pid, sig) };
    }
}

impl Sandbox {
    /// Chooses the isolation mode: `want` is `auto`, `namespaces` or `process`. In namespace
    /// mode every protection must be available unless `allow_weaker` says to start without the
    /// missing ones (which is logged loudly).
    pub fn new(
        want: &str,
        runtime_dir: &Path,
        data_dir: &Path,
        platform: std::net::SocketAddr,
        network: Network,
        allow_weaker: bool,
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
        let mut sandbox = Sandbox {
            mode,
            exe: std::env::current_exe()?,
            runtime_dir: runtime_dir.to_path_buf(),
            skeleton: None,
            filter: None,
            user_namespace: false,
            cgroups: None,
            endpoint_port: platform.port(),
            platform_endpoint: format!("http://{platform}"),
            network,
            nat: None,
        };
        if mode == Isolation::Namespaces {
            sandbox.prepare(data_dir)?;
            sandbox.check_protections(allow_weaker)?;
            sandbox.start_nat(data_dir, allow_weaker)?;
        }
        Ok(sandbox)
    }

    /// In the `nat` mode, sets up the bridge and the ruleset, and points the environments'
    /// resolver at the host's name servers they can reach. Without the means to (no `nft`, no
    /// privilege), refuses to start unless allowed a weaker sandbox, in which case environments
    /// get the `platform` network (no egress) and that is logged loudly.
    fn start_nat(&mut self, data_dir: &Path, allow_weaker: bool) -> io::Result<()> {
        let Network::Nat(plan) = &self.network else {
            return Ok(());
        };
        match nat::Nat::start(plan.clone(), data_dir) {
            Ok(nat) => {
                if let Some(skeleton) = &self.skeleton {
                    nat_resolver(&skeleton.root, nat.plan())?;
                }
                tracing::info!(subnet = %plan.subnet, bridge = nat::BRIDGE, "outbound NAT set up");
                self.nat = Some(nat);
                Ok(())
            }
            Err(e) if allow_weaker => {
                tracing::warn!("WEAKER SANDBOX: network = nat could not be set up ({e}); environments get the `platform` network, without outbound access (allow_weaker_sandbox is set)");
                self.network = Network::Platform;
                Ok(())
            }
            Err(e) => Err(io::Error::other(format!(
                "network = nat cannot be set up: {e}; start with allow_weaker_sandbox to run functions without outbound access"
            ))),
        }
    }

    /// Removes what the `nat` mode set up on the host (the bridge and the ruleset).
    pub fn stop_network(&self) {
        if let Some(nat) = &self.nat {
            nat.stop();
        }
    }

    /// What is prepared once for every environment: the root skeleton, the compiled filter,
    /// the cgroup hierarchy; and whether user namespaces work.
    fn prepare(&mut self, data_dir: &Path) -> io::Result<()> {
        // Left over from versions that kept /tmp on disk.
        let _ = std::fs::remove_dir_all(data_dir.join("envtmp"));
        self.skeleton = Some(rootfs::Skeleton::prepare(&data_dir.join("sandbox-root"))?);
        self.filter = if seccomp::available() {
            Some(seccomp::Filter::compile()?.encode())
        } else {
            None
        };
        self.user_namespace = user_namespaces_available();
        self.cgroups = CgroupRoot::detect();
        Ok(())
    }

    /// Refuses to start without a protection unless allowed to, and says which are missing.
    fn check_protections(&self, allow_weaker: bool) -> io::Result<()> {
        let missing = self.protections().missing();
        if missing.is_empty() {
            return Ok(());
        }
        let list = missing.join(", ");
        if !allow_weaker {
            return Err(io::Error::other(format!(
                "this host lacks sandbox protections: {list}; start with allow_weaker_sandbox to run functions without them"
            )));
        }
        tracing::warn!("WEAKER SANDBOX: execution environments run without {list} (allow_weaker_sandbox is set)");
        Ok(())
    }

    /// Which protections environments get.
    pub fn protections(&self) -> Protections {
        let ns = self.mode == Isolation::Namespaces;
        let cg = self.cgroups.as_ref();
        Protections {
            user_namespace: ns && self.user_namespace,
            pivot_root: ns && self.skeleton.is_some(),
            seccomp: ns && self.filter.is_some(),
            memory_limit: ns && cg.is_some(),
            cpu_limit: ns && cg.is_some_and(CgroupRoot::has_cpu),
            pids_limit: ns && cg.is_some_and(CgroupRoot::has_pids),
            tmp_limit: ns,
            network: if ns { self.network.name() } else { "host" },
        }
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

    /// Where a function's layers appear to it: `/opt`, or, without a root of its own, the
    /// merged tree's own path.
    pub fn opt_path(&self, opt_dir: Option<&Path>) -> String {
        match (self.mode, opt_dir) {
            (Isolation::Process, Some(dir)) => dir.display().to_string(),
            _ => "/opt".into(),
        }
    }

    pub fn launch(&self, mut spec: LaunchSpec) -> io::Result<Launched> {
        match self.mode {
            Isolation::Namespaces => self.launch_isolated(&spec),
            Isolation::Process => {
                let (read, write) = pipe()?;
                let stdout = Stdio::from(write.try_clone()?);
                let stderr = Stdio::from(write);
                self.launch_plain(&mut spec, stdout, stderr, read)
            }
        }
    }

    /// The variables every isolated environment gets from its sandbox: where its Runtime API
    /// and (unless the network is `none`) the platform's endpoint are.
    fn runtime_env(&self, env: &mut Vec<(String, String)>) {
        env.push((
            "AWS_LAMBDA_RUNTIME_API".into(),
            format!("127.0.0.1:{}", netns::RUNTIME_API_PORT),
        ));
        if self.network != Network::None {
            env.push((
                "AWS_ENDPOINT_URL".into(),
                format!("http://127.0.0.1:{}", self.endpoint_port),
            ));
        }
    }

    /// What every isolated environment starts from, made now or ahead (`premade`): the root
    /// skeleton, the host files `program` needs bound into the root, mount points for `mounts`, and a network
    /// namespace (on the NAT bridge in that mode).
    pub(crate) fn root_and_network(
        &self,
        program: &str,
        mounts: &[(PathBuf, String)],
    ) -> io::Result<(
        &rootfs::Skeleton,
        Vec<PathBuf>,
        netns::NetNs,
        Option<nat::Lease>,
    )> {
        let skeleton = self
            .skeleton
            .as_ref()
            .ok_or_else(|| io::Error::other("no root skeleton"))?;
        let binds = skeleton.expose(program)?;
        for (_, inside) in mounts {
            skeleton.mount_point(Path::new(inside))?;
        }
        let offered = (self.network != Network::None).then_some(self.endpoint_port);
        let ns = netns::create(offered)?;
        let lease = match &self.nat {
            Some(nat) => Some(nat.attach(&ns.handle)?),
            None => None,
        };
        Ok((skeleton, binds, ns, lease))
    }

    fn launch_isolated(&self, spec: &LaunchSpec) -> io::Result<Launched> {
        let (skeleton, binds, ns, lease) = self.root_and_network(&spec.program, &spec.mounts)?;
        let cgroup = match &self.cgroups {
            Some(root) => Some(root.create(&spec.id, &cgroup::Limits::of(spec, PIDS_MAX))?),
            None => None,
        };
        let mut env = spec.env.clone();
        self.runtime_env(&mut env);
        let jail = jail::JailSpec {
            program: spec.program.clone(),
            args: spec.args.clone(),
            env,
            code_dir: spec.code_dir.clone(),
            runtime_dir: self.runtime_dir.clone(),
            opt_dir: spec.opt_dir.clone(),
            root: skeleton.root.clone(),
            system: skeleton.system.clone(),
            binds,
            mounts: spec.mounts.clone(),
            tmp_mb: spec.tmp_mb,
            host_ids: HOST_IDS,
            user_namespace: self.user_namespace,
            seccomp: self.filter.clone(),
            cgroup: cgroup.as_ref().map(Cgroup::entry).unwrap_or_default(),
            hostname: "stratus".into(),
            premade: false,
            prestart: false,
            platform_pid: std::process::id(),
        };
        let (read, write) = pipe()?;
        let child = self.spawn_launcher(&jail, write, &ns.handle, None)?;
        Ok(Launched {
            child,
            runtime_api: tokio::net::TcpListener::from_std(ns.runtime_api)?,
            endpoint: ns
                .endpoint
                .map(tokio::net::TcpListener::from_std)
                .transpose()?,
            output: read,
            cgroup,
            lease,
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
        let child = Child::Process(cmd.spawn()?);
        Ok(Launched {
            child,
            runtime_api: tokio::net::TcpListener::from_std(listener)?,
            endpoint: None,
            output: read,
            cgroup: None,
            lease: None,
        })
    }
}

/// Rewrites the skeleton's resolv.conf (copied from the host) to keep the name servers an
/// environment can reach through NAT; when none is left, the host's copy stays as it is.
fn nat_resolver(root: &Path, plan: &nat::Plan) -> io::Result<()> {
    let path = root.join("etc/resolv.conf");
    let Ok(host) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    match nat::resolv_conf_for(&host, plan) {
        Some(text) => std::fs::write(&path, text),
        None => Ok(()),
    }
}

/// Peak resident memory of a process (VmHWM), in bytes.
pub fn peak_resident(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    vm_hwm(&status)
}

/// The same from a process's status file kept open (re-read at offset 0).
pub fn resident_peak_in(status: &std::fs::File) -> Option<u64> {
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; 4096];
    let n = status.read_at(&mut buf, 0).ok()?;
    // Straight to the line (SIMD search): validating and splitting the whole file into lines
    // cost ~10k instructions, and this runs after every invocation.
    let text = &buf[..n];
    let at = memchr::memmem::find(text, b"\nVmHWM:")?;
    let line = &text[at + 1..];
    let end = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
    vm_hwm(std::str::from_utf8(&line[..end]).ok()?)
}

fn vm_hwm(status: &str) -> Option<u64> {
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
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
    netns::create(Some(0)).map(drop)
}

/// Whether this kernel lets the platform create user namespaces, tried in a forked child (a
/// multi-threaded process cannot enter one itself).
fn user_namespaces_available() -> bool {
    // SAFETY: the child only calls unshare and _exit, both async-signal-safe.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: as above.
        unsafe { libc::_exit(i32::from(libc::unshare(libc::CLONE_NEWUSER) != 0)) };
    }
    if pid < 0 {
        return false;
    }
    let mut status = 0;
    // SAFETY: waiting for our own child with a valid status pointer.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_status_file_gives_the_same_peak_as_a_fresh_read() {
        let status = std::fs::File::open("/proc/self/status").unwrap();
        let kept = resident_peak_in(&status).unwrap();
        let fresh = peak_resident(std::process::id() as i32).unwrap();
        assert!(kept > 0 && kept <= fresh, "{kept} {fresh}");
    }

    #[test]
    fn network_modes_parse_and_others_are_refused() {
        let parse = |mode: &str| Network::parse(mode, nat::DEFAULT_SUBNET, &[], &[]);
        assert_eq!(parse("platform").unwrap(), Network::Platform);
        assert_eq!(parse("none").unwrap(), Network::None);
        assert!(
            matches!(parse("nat").unwrap(), Network::Nat(p) if p.subnet.to_string() == "10.213.0.0/16")
        );
        let e = parse("everywhere").unwrap_err().to_string();
        assert!(
            e.contains("network must be `platform`, `none` or `nat`"),
            "{e}"
        );
        let e = Network::parse("nat", "10.213.0.0/16", &["bad".into()], &[])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("egress_allow:"), "{e}");
    }

    #[test]
    fn missing_protections_are_named() {
        let all = Protections {
            user_namespace: true,
            pivot_root: true,
            seccomp: true,
            memory_limit: true,
            cpu_limit: true,
            pids_limit: true,
            tmp_limit: true,
            network: "platform",
        };
        assert!(all.missing().is_empty());
        let weaker = Protections {
            user_namespace: false,
            seccomp: false,
            ..all
        };
        assert_eq!(weaker.missing(), vec!["user_namespace", "seccomp"]);
    }
}
