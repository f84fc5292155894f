//! The environment launcher, run as `stratus __jail SPEC` (the same binary, before any async
//! runtime starts). It enters the environment's network namespace (passed as its stdin) and
//! new mount, ipc, uts and, for its children, pid namespaces (`enter`). It adds itself to the
//! environment's cgroups and forks the environment's pid 1 (under cgroup v2 it creates pid 1
//! directly in the group instead, see `cgroup`), which builds the environment's root from the
//! prepared skeleton and pivots into it (see `rootfs`), then starts the runtime: the runtime's
//! process enters a user namespace of its own, where pid 1 maps it to the sandbox user, gives
//! up every capability, sets `no_new_privs`, installs the system-call filter (see `seccomp`)
//! and executes the runtime. Pid 1 stays as a tiny init that reaps orphans. The launcher
//! stays as the parent: when it is killed, pid 1 dies with it (parent-death signal), and with
//! pid 1 the whole namespace. It exits the way the runtime did, signal included.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};

use serde::{Deserialize, Serialize};

use super::cgroup::Entry;

/// Everything the launcher needs, passed as JSON in its argument.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JailSpec {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub code_dir: PathBuf,
    pub runtime_dir: PathBuf,
    /// The function's layers, merged, bound read-only at `/opt` (none: `/opt` stays empty).
    #[serde(default)]
    pub opt_dir: Option<PathBuf>,
    /// The prepared root skeleton (see `rootfs`) pid 1 pivots into.
    pub root: PathBuf,
    /// Host system directories bound read-only at their own path.
    pub system: Vec<PathBuf>,
    /// Interpreter prefixes bound read-only at their own path.
    pub binds: Vec<PathBuf>,
    /// Host directories bound read-only at another path (the runtime's SDK), after
    /// `/var/runtime`, whose mount points they may be in.
    #[serde(default)]
    pub mounts: Vec<(PathBuf, String)>,
    /// Size of the environment's /tmp (a tmpfs), in MB.
    pub tmp_mb: u32,
    /// The host uid and gid the function runs as; inside a user namespace they appear as the
    /// sandbox user (993:990). Without one, the function runs as the sandbox ids on the host.
    pub host_ids: (u32, u32),
    pub user_namespace: bool,
    /// The system-call filter (see `seccomp`), when the kernel has one.
    pub seccomp: Option<String>,
    /// How the environment enters its cgroups (see `cgroup`).
    pub cgroup: Entry,
    pub hostname: String,
    /// A pre-made sandbox (see `premade`): pid 1 builds everything no function chooses,
    /// starts the runtime process, which waits, and takes its function from
    /// `handoff::CONTROL_FD`. `code_dir` and `opt_dir` are then unused.
    #[serde(default)]
    pub premade: bool,
    /// In a pre-made sandbox, whether `program` is an interpreter started ahead: it waits on
    /// descriptor 3 for its function's environment. Otherwise the runtime process waits for
    /// the program to execute.
    #[serde(default)]
    pub prestart: bool,
    /// The platform's process id: a launcher whose parent is no longer the platform exits.
    #[serde(default)]
    pub platform_pid: u32,
}

static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = CHILD.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

fn forward_termination_to(pid: i32) {
    CHILD.store(pid, Ordering::Relaxed);
    // SAFETY: installing a handler that only calls kill().
    unsafe {
        libc::signal(libc::SIGTERM, forward as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, forward as *const () as libc::sighandler_t);
    }
}

fn fork() -> i32 {
    // SAFETY: the launcher and its pid 1 are single-threaded, so fork is sound.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        die("fork", io::Error::last_os_error());
    }
    pid
}

/// Runs the launcher; never returns.
pub fn run(spec_json: &str) -> ! {
    let spec: JailSpec = match serde_json::from_str(spec_json) {
        Ok(s) => s,
        Err(e) => die("bad launcher spec", io::Error::other(e)),
    };
    enter(&spec);
    let pid1 = match &spec.cgroup {
        Entry::None => fork(),
        Entry::Join(files) => {
            join(files);
            fork()
        }
        Entry::CloneInto(dir) => fork_into(dir),
    };
    match pid1 {
        0 => environment_init(&spec),
        child => supervise(child),
    }
}

/// What the platform used to do between fork and exec (see `premade::spawn_launcher`): puts
/// the standard descriptors where they belong (stdin held the network namespace; stderr the
/// control socket of a pre-made sandbox, else the output), ties the launcher's life to the
/// platform's, and enters the environment's namespaces: its network namespace, and new mount,
/// ipc, uts and (for its children) pid namespaces. The launcher is single-threaded, as
/// `unshare` of a mount namespace requires.
fn enter(spec: &JailSpec) {
    // SAFETY: descriptor and process-attribute system calls on this process's own state.
    unsafe {
        if spec.premade && libc::dup2(2, super::handoff::CONTROL_FD) < 0 {
            die("taking the control socket", io::Error::last_os_error());
        }
        if libc::dup2(1, 2) < 0 {
            die("redirecting stderr", io::Error::last_os_error());
        }
        // It must not outlive the platform (e.g. after kill -9), even one that died before
        // this line ran.
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
            die("parent-death signal", io::Error::last_os_error());
        }
        if spec.platform_pid != 0 && libc::getppid() as u32 != spec.platform_pid {
            std::process::exit(1);
        }
        if libc::setns(0, libc::CLONE_NEWNET) != 0 {
            die("entering the network namespace", io::Error::last_os_error());
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        if null < 0 || libc::dup2(null, 0) < 0 {
            die("stdin", io::Error::last_os_error());
        }
        libc::close(null);
        let flags =
            libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS;
        if libc::unshare(flags) != 0 {
            die("new namespaces", io::Error::last_os_error());
        }
    }
}

/// Moves the launcher into cgroups by writing `0` (the writer itself) to each file. The
/// launcher has a single thread, so moving its thread (v1 `tasks`) moves the process, and
/// everything it forks from here on starts in the groups.
fn join(files: &[PathBuf]) {
    for file in files {
        if let Err(e) = std::fs::write(file, "0") {
            die("joining cgroup", e);
        }
    }
}

/// Forks pid 1 directly into the v2 group `dir`; on kernels without `CLONE_INTO_CGROUP`
/// (before 5.7), joins the group first and forks.
fn fork_into(dir: &std::path::Path) -> i32 {
    let group = match std::fs::File::open(dir) {
        Ok(f) => f,
        Err(e) => die("opening cgroup", e),
    };
    match clone_into_cgroup(&group) {
        Ok(pid) => pid,
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOSYS | libc::EINVAL | libc::E2BIG)
            ) =>
        {
            join(&[dir.join("cgroup.procs")]);
            fork()
        }
        Err(e) => die("starting the environment in its cgroup", e),
    }
}

/// The kernel's `struct clone_args` up to `cgroup` (CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
pub(crate) struct CloneArgs {
    pub(crate) flags: u64,
    pub(crate) pidfd: u64,
    pub(crate) child_tid: u64,
    pub(crate) parent_tid: u64,
    pub(crate) exit_signal: u64,
    pub(crate) stack: u64,
    pub(crate) stack_size: u64,
    pub(crate) tls: u64,
    pub(crate) set_tid: u64,
    pub(crate) set_tid_size: u64,
    pub(crate) cgroup: u64,
}

/// `clone3` as a fork: 0 in the child, its pid in the parent.
///
/// # Safety
/// `args` must not ask for a shared address space or a new stack, and the caller must be
/// single-threaded or keep to async-signal-safe calls in the child. Unlike glibc's fork it
/// keeps the parent's cached thread id, which glibc uses only as a lock-owner tag and to
/// signal other threads.
pub(crate) unsafe fn clone3(args: &CloneArgs) -> io::Result<i32> {
    let r = libc::syscall(
        libc::SYS_clone3,
        args as *const CloneArgs,
        std::mem::size_of::<CloneArgs>(),
    );
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r as i32)
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `fork()` that starts the child in the cgroup whose directory `group` is open on. Returns 0
/// in the child and its pid in the parent, as fork does.
pub(crate) fn clone_into_cgroup(group: &std::fs::File) -> io::Result<i32> {
    use std::os::fd::AsRawFd;
    let args = CloneArgs {
        flags: CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: group.as_raw_fd() as u64,
        ..CloneArgs::default()
    };
    // SAFETY: a fork-like clone (no CLONE_VM, no new stack) of the single-threaded launcher;
    // pid 1 has no other threads, and raise() asks the kernel for the id.
    unsafe { clone3(&args) }
}

/// Waits for the environment's pid 1 and ends the way the runtime ended: with its exit code,
/// or killed by the same signal, so the platform can report it as AWS does.
fn supervise(child: i32) -> ! {
    forward_termination_to(child);
    let status = wait_for(child);
    if libc::WIFSIGNALED(status) {
        die_by_signal(libc::WTERMSIG(status));
    }
    let code = libc::WEXITSTATUS(status);
    // pid 1 reports a runtime killed by signal N as 128 + N (it cannot die by it itself).
    if (129..129 + 64).contains(&code) {
        die_by_signal(code - 128);
    }
    std::process::exit(code)
}

fn die_by_signal(sig: i32) -> ! {
    let no_core = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls with valid arguments; the process ends here.
    unsafe {
        libc::setrlimit(libc::RLIMIT_CORE, &no_core);
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
    std::process::exit(128 + sig)
}

fn wait_for(pid: i32) -> i32 {
    let mut status = 0;
    loop {
        // SAFETY: waitpid on our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            return status;
        }
        if r < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return 0;
        }
    }
}

/// pid 1 of the environment: builds its root filesystem, starts the runtime as the sandbox
/// user without privileges, then reaps orphans until the runtime exits.
fn environment_init(spec: &JailSpec) -> ! {
    // SAFETY: prctl with constant arguments; dies with the launcher.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    if let Err(e) = build_root(spec) {
        die("setting up the environment's filesystem", e);
    }
    let host = CString::new(spec.hostname.as_str()).unwrap_or_default();
    // SAFETY: valid pointer and length of a NUL-terminated string.
    unsafe { libc::sethostname(host.as_ptr(), spec.hostname.len()) };
    limit_files(1024);
    let cwd = if spec.premade { "/" } else { "/var/task" };
    if let Err(e) = std::env::set_current_dir(cwd) {
        die("chdir", e);
    }
    let (go_r, go_w) = raw_pipe();
    let runtime = start_runtime(spec, go_r, go_w);
    close(go_r);
    if spec.premade {
        super::premade::specialise_in_pid1(go_w);
    } else {
        close(go_w);
    }
    forward_termination_to(runtime);
    reap_until(runtime)
}

/// Forks the runtime's process: it gives up its privileges and executes the runtime (in a
/// pre-made sandbox: the interpreter started ahead, or, once pid 1 writes it to `go`, the
/// function's program). Returns its pid once its user namespace is mapped.
fn start_runtime(spec: &JailSpec, go_r: i32, go_w: i32) -> i32 {
    let filter = match spec.seccomp.as_deref().map(super::seccomp::decode) {
        Some(Ok(programs)) => programs,
        Some(Err(e)) => die("decoding the system-call filter", e),
        None => Vec::new(),
    };
    let last_cap = last_capability();
    let (ready_r, ready_w) = raw_pipe();
    let (mapped_r, mapped_w) = raw_pipe();
    let runtime = fork();
    if runtime == 0 {
        close(ready_r);
        close(mapped_w);
        close(go_w);
        if spec.premade {
            // The channel to the platform is pid 1's alone.
            close(super::handoff::CONTROL_FD);
        }
        let lockdown = Lockdown {
            user_namespace: spec.user_namespace,
            host_ids: spec.host_ids,
            last_cap,
            ready: ready_w,
            mapped: mapped_r,
        };
        if let Err(e) = lockdown.apply() {
            die("dropping privileges", e);
        }
        if !filter.is_empty() {
            if let Err(e) = super::seccomp::install(&filter) {
                die("installing the system-call filter", e);
            }
        }
        match (spec.premade, spec.prestart) {
            (false, _) => exec(&spec.program, &spec.args, &spec.env),
            (true, true) => exec_prestarted(spec, go_r),
            (true, false) => exec_when_told(go_r),
        }
    }
    close(ready_w);
    close(mapped_r);
    if spec.user_namespace {
        if let Err(e) = map_user(runtime, ready_r, mapped_w, spec.host_ids) {
            super::kill(runtime, libc::SIGKILL);
            die("mapping the sandbox user", e);
        }
    }
    close(ready_r);
    close(mapped_w);
    runtime
}

/// Executes the interpreter started ahead with `go` as its descriptor 3, where it reads its
/// function's environment (see the python bootstrap).
fn exec_prestarted(spec: &JailSpec, go: i32) -> ! {
    // SAFETY: dup2/fcntl on descriptors this process owns; the copy at 3 survives exec.
    unsafe {
        if go == 3 {
            libc::fcntl(go, libc::F_SETFD, 0);
        } else if libc::dup2(go, 3) != 3 {
            die("passing the start descriptor", io::Error::last_os_error());
        }
    }
    exec(&spec.program, &spec.args, &spec.env)
}

/// Waits until pid 1 has attached the function's code and writes what to run, then runs it.
fn exec_when_told(go: i32) -> ! {
    let mut text = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        // SAFETY: reading into a valid buffer.
        let n = unsafe { libc::read(go, buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            text.extend_from_slice(&buf[..n as usize]);
        } else if n == 0 {
            break;
        } else if io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            die("waiting for the function", io::Error::last_os_error());
        }
    }
    if text.is_empty() {
        // The sandbox was discarded unused.
        std::process::exit(0);
    }
    let run: super::handoff::Exec = match serde_json::from_slice(&text) {
        Ok(r) => r,
        Err(e) => die("reading the function's program", io::Error::other(e)),
    };
    if let Err(e) = std::env::set_current_dir("/var/task") {
        die("chdir /var/task", e);
    }
    exec(&run.program, &run.args, &run.env)
}

fn reap_until(runtime: i32) -> ! {
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a valid status pointer.
        let r = unsafe { libc::waitpid(-1, &mut status, 0) };
        if r == runtime {
            if libc::WIFSIGNALED(status) {
                std::process::exit(128 + libc::WTERMSIG(status));
            }
            std::process::exit(libc::WEXITSTATUS(status));
        }
        if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD) {
            std::process::exit(0);
        }
    }
}

pub(super) fn raw_pipe() -> (i32, i32) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into a valid array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        die("pipe", io::Error::last_os_error());
    }
    (fds[0], fds[1])
}

pub(super) fn close(fd: i32) {
    // SAFETY: closing an fd this process owns.
    unsafe { libc::close(fd) };
}

/// One byte across a pipe: the runtime and pid 1 take turns while the user namespace is set up.
fn signal_fd(fd: i32) -> io::Result<()> {
    // SAFETY: writing one byte from a valid buffer.
    match unsafe { libc::write(fd, [1u8].as_ptr().cast(), 1) } {
        1 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

fn wait_fd(fd: i32) -> io::Result<()> {
    let mut byte = [0u8; 1];
    loop {
        // SAFETY: reading one byte into a valid buffer.
        match unsafe { libc::read(fd, byte.as_mut_ptr().cast(), 1) } {
            1 => return Ok(()),
            0 => return Err(io::Error::other("the other side went away")),
            _ if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) => continue,
            _ => return Err(io::Error::last_os_error()),
        }
    }
}

/// Once the runtime has entered its user namespace, maps the sandbox user and group in it to
/// the unprivileged host ids (pid 1 is still root on the host, so it may write the maps).
fn map_user(pid: i32, ready: i32, mapped: i32, (uid, gid): (u32, u32)) -> io::Result<()> {
    use super::rootfs::{SANDBOX_GID, SANDBOX_UID};
    wait_fd(ready)?;
    let proc = format!("/proc/{pid}");
    std::fs::write(format!("{proc}/setgroups"), "deny")?;
    std::fs::write(
        format!("{proc}/uid_map"),
        format!("{SANDBOX_UID} {uid} 1\n"),
    )?;
    std::fs::write(
        format!("{proc}/gid_map"),
        format!("{SANDBOX_GID} {gid} 1\n"),
    )?;
    signal_fd(mapped)
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn last_capability() -> u64 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// How the runtime's process gives up root: its own user namespace (pid 1 maps the ids in it),
/// the sandbox user, no capabilities now or after any exec, and `no_new_privs`.
struct Lockdown {
    user_namespace: bool,
    host_ids: (u32, u32),
    last_cap: u64,
    ready: i32,
    mapped: i32,
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl Lockdown {
    fn apply(&self) -> io::Result<()> {
        use super::rootfs::{SANDBOX_GID, SANDBOX_UID};
        // SAFETY: setgroups/unshare with valid arguments, affecting only this process.
        unsafe {
            // The host root's supplementary groups would survive the switch of user.
            check(libc::setgroups(0, std::ptr::null()))?;
            if self.user_namespace {
                check(libc::unshare(libc::CLONE_NEWUSER))?;
            }
        }
        let (uid, gid) = if self.user_namespace {
            signal_fd(self.ready)?;
            wait_fd(self.mapped)?;
            (SANDBOX_UID, SANDBOX_GID)
        } else {
            self.host_ids
        };
        close(self.ready);
        close(self.mapped);
        self.drop_capabilities(uid, gid)
    }

    /// Locks the secure bits, empties the bounding and ambient sets, switches to the sandbox
    /// user, clears every capability and sets `no_new_privs`.
    fn drop_capabilities(&self, uid: u32, gid: u32) -> io::Result<()> {
        let bits = libc::SECBIT_NOROOT
            | libc::SECBIT_NOROOT_LOCKED
            | libc::SECBIT_NO_SETUID_FIXUP
            | libc::SECBIT_NO_SETUID_FIXUP_LOCKED
            | libc::SECBIT_NO_CAP_AMBIENT_RAISE
            | libc::SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
        // SAFETY: prctl/capset/setres[ug]id with valid arguments, affecting only this process.
        unsafe {
            check(libc::prctl(
                libc::PR_SET_SECUREBITS,
                bits as libc::c_ulong,
                0,
                0,
                0,
            ))?;
            for cap in 0..=self.last_cap {
                libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0);
            }
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
                0,
                0,
                0,
            );
            check(libc::setresgid(gid, gid, gid))?;
            check(libc::setresuid(uid, uid, uid))?;
            let header = CapHeader {
                version: 0x2008_0522,
                pid: 0,
            };
            let data = [CapData::default(); 2];
            check(libc::syscall(libc::SYS_capset, &header, data.as_ptr()) as libc::c_int)?;
            check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
        }
        Ok(())
    }
}

/// Read-only, without set-uid or device files: how every host tree is bound in.
const RO_BIND: libc::c_ulong =
    libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV;

/// Builds the environment's root from the skeleton and pivots into it (see `rootfs`): the
/// host's tree is detached, so nothing but what is mounted here is reachable.
fn build_root(spec: &JailSpec) -> io::Result<()> {
    mount(None, "/", None, libc::MS_REC | libc::MS_PRIVATE, None)?;
    let root = spec.root.to_string_lossy().into_owned();
    let inside = |p: &std::path::Path| format!("{root}{}", p.display());
    mount(Some(&root), &root, None, libc::MS_BIND, None)?;
    mount(None, &root, None, RO_BIND, None)?;
    for dir in &spec.system {
        bind_read_only(dir, &inside(dir))?;
    }
    // A pre-made sandbox gets its code and layers later (see `handoff`).
    if !spec.premade {
        bind_read_only(&spec.code_dir, &format!("{root}/var/task"))?;
    }
    bind_read_only(&spec.runtime_dir, &format!("{root}/var/runtime"))?;
    if let (Some(opt), false) = (&spec.opt_dir, spec.premade) {
        bind_read_only(opt, &format!("{root}/opt"))?;
    }
    for (host, at) in &spec.mounts {
        bind_read_only(host, &format!("{root}{at}"))?;
    }
    let (uid, gid) = spec.host_ids;
    mount(
        Some("tmpfs"),
        &format!("{root}/tmp"),
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some(&format!(
            "size={}m,mode=1777,uid={uid},gid={gid}",
            spec.tmp_mb
        )),
    )?;
    // After /tmp, so an interpreter kept under the host's /tmp is bound over the new one.
    for dir in &spec.binds {
        let point = inside(dir);
        std::fs::create_dir_all(&point)?;
        bind_read_only(dir, &point)?;
    }
    minimal_dev(&format!("{root}/dev"))?;
    own_proc(&format!("{root}/proc"))?;
    cpu_only_sys(&format!("{root}/sys"))?;
    pivot(&root)
}

/// Makes `root` the root directory and detaches the host's tree beneath it.
fn pivot(root: &str) -> io::Result<()> {
    std::env::set_current_dir(root)?;
    // SAFETY: pivot_root(".", ".") stacks the old root on the new one; it is detached next.
    let r = unsafe { libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: valid NUL-terminated path.
    if unsafe { libc::umount2(c".".as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(io::Error::last_os_error());
    }
    std::env::set_current_dir("/")
}

/// The environment's own /proc (of its pid namespace), /proc/sys read-only and the files that
/// expose the kernel masked.
fn own_proc(proc: &str) -> io::Result<()> {
    mount(
        Some("proc"),
        proc,
        Some("proc"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        None,
    )?;
    let sys = format!("{proc}/sys");
    mount(Some(&sys), &sys, None, libc::MS_BIND | libc::MS_REC, None)?;
    mount(None, &sys, None, RO_BIND | libc::MS_NOEXEC, None)?;
    for masked in ["sysrq-trigger", "kcore", "keys", "timer_list", "kallsyms"] {
        let path = format!("{proc}/{masked}");
        if std::path::Path::new(&path).exists() {
            let _ = mount(Some("/dev/null"), &path, None, libc::MS_BIND, None);
        }
    }
    Ok(())
}

/// A /sys with nothing but the CPU topology (which libc and runtimes read to size their
/// thread pools), read-only.
fn cpu_only_sys(sys: &str) -> io::Result<()> {
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    mount(
        Some("tmpfs"),
        sys,
        Some("tmpfs"),
        flags,
        Some("size=4k,mode=755"),
    )?;
    let cpu = "/sys/devices/system/cpu";
    if std::path::Path::new(cpu).is_dir() {
        let point = format!("{sys}/devices/system/cpu");
        std::fs::create_dir_all(&point)?;
        bind_read_only(std::path::Path::new(cpu), &point)?;
    }
    mount(
        None,
        sys,
        None,
        libc::MS_REMOUNT | libc::MS_RDONLY | flags,
        None,
    )
}

/// A /dev with only the harmless character devices.
fn minimal_dev(dev: &str) -> io::Result<()> {
    mount(
        Some("tmpfs"),
        dev,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NOEXEC,
        Some("mode=755,size=64k"),
    )?;
    let devices = [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ];
    for (name, major, minor) in devices {
        let path = CString::new(format!("{dev}/{name}")).map_err(io::Error::other)?;
        // SAFETY: valid path; creating a device node on our own fresh tmpfs.
        let r = unsafe {
            libc::mknod(
                path.as_ptr(),
                libc::S_IFCHR | 0o666,
                libc::makedev(major, minor),
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: as above; mknod's mode is filtered by the umask, so set it explicitly.
        unsafe { libc::chmod(path.as_ptr(), 0o666) };
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        std::os::unix::fs::symlink(target, format!("{dev}/{link}"))?;
    }
    let shm = format!("{dev}/shm");
    std::fs::create_dir(&shm)?;
    mount(
        Some("tmpfs"),
        &shm,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some("mode=1777,size=64m"),
    )
}

fn bind_read_only(src: &std::path::Path, dst: &str) -> io::Result<()> {
    let src = src.to_string_lossy();
    mount(Some(&src), dst, None, libc::MS_BIND | libc::MS_REC, None)?;
    mount(None, dst, None, RO_BIND, None)
}

pub(super) fn mount(
    src: Option<&str>,
    dst: &str,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    let c = |s: &str| CString::new(s).map_err(io::Error::other);
    let src = src.map(c).transpose()?;
    let dst_c = c(dst)?;
    let fstype = fstype.map(c).transpose()?;
    let data = data.map(c).transpose()?;
    let ptr = |o: &Option<CString>| o.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: every pointer is null or a valid NUL-terminated string that outlives the call.
    let r = unsafe {
        libc::mount(
            ptr(&src),
            dst_c.as_ptr(),
            ptr(&fstype),
            flags,
            ptr(&data).cast(),
        )
    };
    if r != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("mount {dst}: {e}")));
    }
    Ok(())
}

fn limit_files(n: u64) {
    let lim = libc::rlimit {
        rlim_cur: n,
        rlim_max: n,
    };
    // SAFETY: valid rlimit pointer.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
}

fn exec(program: &str, args: &[String], env: &[(String, String)]) -> ! {
    let cstr = |s: &str| CString::new(s).unwrap_or_default();
    let program_c = cstr(program);
    let mut argv: Vec<CString> = vec![program_c.clone()];
    argv.extend(args.iter().map(|a| cstr(a)));
    let envp: Vec<CString> = env.iter().map(|(k, v)| cstr(&format!("{k}={v}"))).collect();
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut envp_p: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
    envp_p.push(std::ptr::null());
    // SAFETY: NUL-terminated arrays of valid C strings that live until exec.
    unsafe { libc::execve(program_c.as_ptr(), argv_p.as_ptr(), envp_p.as_ptr()) };
    die(&format!("exec {program}"), io::Error::last_os_error())
}

pub(super) fn die(what: &str, e: io::Error) -> ! {
    eprintln!("stratus: environment launcher: {what}: {e}");
    std::process::exit(127)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A cgroup v2 hierarchy this process may create groups in, and its own path there.
    fn own_v2_group() -> Option<PathBuf> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return None;
        }
        let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let mount = info.lines().find_map(|l| {
            let (before, after) = l.split_once(" - ")?;
            (after.split(' ').next() == Some("cgroup2")).then(|| before.split(' ').nth(4))?
        })?;
        let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let own = cgroups.lines().find_map(|l| l.strip_prefix("0::"))?;
        Some(Path::new(mount).join(own.trim_start_matches('/')))
    }

    #[test]
    fn clone_into_cgroup_starts_the_child_in_the_group() {
        let Some(parent) = own_v2_group() else {
            eprintln!("skipped: no writable cgroup v2 hierarchy");
            return;
        };
        let dir = parent.join(format!("stratus-test-{}", std::process::id()));
        if std::fs::create_dir(&dir).is_err() {
            eprintln!("skipped: cannot create a group under {}", parent.display());
            return;
        }
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let own = own.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
        let expected = format!(
            "0::{}/{}\n",
            own.trim_end_matches('/'),
            dir.file_name().unwrap().to_string_lossy()
        );
        let group = std::fs::File::open(&dir).unwrap();
        let result = clone_into_cgroup(&group);
        if let Ok(0) = result {
            // The child of a multi-threaded test process: async-signal-safe calls only.
            let mut buf = [0u8; 4096];
            // SAFETY: open/read into a stack buffer and _exit, all async-signal-safe.
            let code = unsafe {
                let fd = libc::open(c"/proc/self/cgroup".as_ptr(), libc::O_RDONLY);
                let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
                let text = &buf[..n.max(0) as usize];
                let found = text
                    .windows(expected.len())
                    .any(|w| w == expected.as_bytes());
                i32::from(!found)
            };
            // SAFETY: leaves the child at once.
            unsafe { libc::_exit(code) };
        }
        let status = result.map(|pid| {
            let mut status = 0;
            // SAFETY: waiting for our own child with a valid status pointer.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            status
        });
        let _ = std::fs::remove_dir(&dir);
        match status {
            Ok(status) => assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "the child was not in {expected:?} (status {status})"
            ),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOSYS | libc::EINVAL | libc::E2BIG)
                ) =>
            {
                eprintln!("skipped: kernel without CLONE_INTO_CGROUP ({e})");
            }
            Err(e) => panic!("clone3: {e}"),
        }
    }
}
