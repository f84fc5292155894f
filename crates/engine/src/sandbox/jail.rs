//! The environment launcher, run as `stratus __jail SPEC` (the same binary, before any async
//! runtime starts). The platform has already put it in new mount, ipc, uts and network
//! namespaces and made its children start a new pid namespace. It adds itself to the
//! environment's cgroups, forks the environment's pid 1, which builds the filesystem view
//! (code read-only at /var/task, runtime at /var/runtime, a private /tmp, the data directory
//! hidden, a /proc of its own) and execs the runtime. The launcher stays as the parent: when
//! it is killed, pid 1 dies with it (parent-death signal), and with pid 1 the whole namespace.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};

use serde::{Deserialize, Serialize};

/// Everything the launcher needs, passed as JSON in its argument.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JailSpec {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub code_dir: PathBuf,
    pub runtime_dir: PathBuf,
    /// Directories replaced by an empty read-only tmpfs (the data directory).
    pub hide: Vec<PathBuf>,
    pub tmp_size_mb: u32,
    pub cgroup_procs: Vec<PathBuf>,
    pub hostname: String,
}

static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = CHILD.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Runs the launcher; never returns.
pub fn run(spec_json: &str) -> ! {
    let spec: JailSpec = match serde_json::from_str(spec_json) {
        Ok(s) => s,
        Err(e) => die("bad launcher spec", io::Error::other(e)),
    };
    let me = std::process::id().to_string();
    for procs in &spec.cgroup_procs {
        if let Err(e) = std::fs::write(procs, &me) {
            die("joining cgroup", e);
        }
    }
    // SAFETY: the launcher is single-threaded here, so fork is sound.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => die("fork", io::Error::last_os_error()),
        0 => environment_init(&spec),
        child => supervise(child),
    }
}

/// Waits for pid 1 and exits with its status, forwarding SIGTERM/SIGINT to it.
fn supervise(child: i32) -> ! {
    CHILD.store(child, Ordering::Relaxed);
    // SAFETY: installing a handler that only calls kill().
    unsafe {
        libc::signal(libc::SIGTERM, forward as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, forward as *const () as libc::sighandler_t);
    }
    let mut status = 0;
    loop {
        // SAFETY: waitpid on our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(child, &mut status, 0) };
        if r == child {
            break;
        }
        if r < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break;
        }
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    std::process::exit(code)
}

fn environment_init(spec: &JailSpec) -> ! {
    // SAFETY: prctl with constant arguments; dies with the launcher.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    if let Err(e) = build_filesystem(spec) {
        die("setting up the environment's filesystem", e);
    }
    let host = CString::new(spec.hostname.as_str()).unwrap_or_default();
    // SAFETY: valid pointer and length of a NUL-terminated string.
    unsafe { libc::sethostname(host.as_ptr(), spec.hostname.len()) };
    limit_files(1024);
    if let Err(e) = std::env::set_current_dir("/var/task") {
        die("chdir /var/task", e);
    }
    exec(spec)
}

fn build_filesystem(spec: &JailSpec) -> io::Result<()> {
    mount(None, "/", None, libc::MS_REC | libc::MS_PRIVATE, None)?;
    bind_read_only(&spec.code_dir, "/var/task")?;
    bind_read_only(&spec.runtime_dir, "/var/runtime")?;
    // Hide first: the data directory may live under /tmp, which is replaced next.
    for dir in spec.hide.iter().filter(|d| d.is_dir()) {
        let path = dir.to_string_lossy();
        mount(
            Some("tmpfs"),
            &path,
            Some("tmpfs"),
            libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
            Some("size=4k"),
        )?;
    }
    let size = format!("size={}m,mode=1777", spec.tmp_size_mb);
    mount(
        Some("tmpfs"),
        "/tmp",
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some(&size),
    )?;
    mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        None,
    )
}

fn bind_read_only(src: &std::path::Path, dst: &str) -> io::Result<()> {
    let src = src.to_string_lossy();
    mount(Some(&src), dst, None, libc::MS_BIND | libc::MS_REC, None)?;
    mount(
        None,
        dst,
        None,
        libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
        None,
    )
}

fn mount(
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

fn exec(spec: &JailSpec) -> ! {
    let cstr = |s: &str| CString::new(s).unwrap_or_default();
    let program = cstr(&spec.program);
    let mut argv: Vec<CString> = vec![program.clone()];
    argv.extend(spec.args.iter().map(|a| cstr(a)));
    let envp: Vec<CString> = spec
        .env
        .iter()
        .map(|(k, v)| cstr(&format!("{k}={v}")))
        .collect();
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut envp_p: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
    envp_p.push(std::ptr::null());
    // SAFETY: NUL-terminated arrays of valid C strings that live until exec.
    unsafe { libc::execve(program.as_ptr(), argv_p.as_ptr(), envp_p.as_ptr()) };
    die(
        &format!("exec {}", spec.program),
        io::Error::last_os_error(),
    )
}

fn die(what: &str, e: io::Error) -> ! {
    eprintln!("stratus: environment launcher: {what}: {e}");
    std::process::exit(127)
}
