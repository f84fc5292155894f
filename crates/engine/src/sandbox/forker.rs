//! The forker: a small helper process (`stratus __forker`) that starts the launchers on the
//! platform's behalf.
//!
//! Every process the platform starts inherits its descriptor table and closes it again at
//! exec, one descriptor at a time — and a platform serving a thousand environments holds
//! some eleven thousand descriptors (each environment's connections, pipe, pidfd, cgroup
//! file). Started by the platform, each launcher's exec spent milliseconds of kernel time
//! closing them (a sixth of the CPU of a scale-out to 1,000), and then relocated the whole
//! binary again. The forker is started once, while the platform holds few descriptors; it
//! holds only its socket to the platform and the three descriptors of the launcher it is
//! starting, and it forks each launcher without an exec. It forks with `CLONE_PARENT`, so the
//! launcher is the platform's own child (reaped by it, tied to it by its parent-death
//! signal), and hands the platform a pidfd for it.
//!
//! Protocol (a `SOCK_SEQPACKET` pair, see `handoff`): the platform sends the launcher's spec
//! (JSON) with its stdin, stdout and stderr; the forker answers with the launcher's pid and a
//! pidfd for it, or `E` and the error number.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::Mutex;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::handoff;
use super::jail::{self, CloneArgs};

/// The forker's socket to the platform.
const SOCKET: RawFd = 0;

/// Room for the launcher's title in the forker's command line (see [`retitle`]).
pub const TITLE_ROOM: usize = 16 * 1024;

/// Runs the forker; never returns. It exits when the platform closes its socket (and is
/// killed with the platform, by its parent-death signal).
pub fn run() -> ! {
    // SAFETY: prctl with constant arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    let title = command_line_area();
    let mut buf = vec![0u8; handoff::MAX_MESSAGE];
    loop {
        let (n, fds) = match handoff::receive(SOCKET, &mut buf) {
            Ok(Some(got)) => got,
            Ok(None) => std::process::exit(0),
            Err(e) => jail::die("forker: reading a request", e),
        };
        let answer = match <[OwnedFd; 3]>::try_from(fds) {
            Ok(stdio) => start(&buf[..n], stdio, title),
            Err(_) => Err(io::Error::from_raw_os_error(libc::EINVAL)),
        };
        // The spec carries its function's credentials: the next launcher, another
        // function's, is a copy of this process and must not find them.
        buf[..n].fill(0);
        let sent = match answer {
            Ok((pid, pidfd)) => {
                handoff::send(SOCKET, pid.to_string().as_bytes(), &[pidfd.as_raw_fd()])
            }
            Err(e) => handoff::send(
                SOCKET,
                format!("E{}", e.raw_os_error().unwrap_or(libc::EIO)).as_bytes(),
                &[],
            ),
        };
        if let Err(e) = sent {
            jail::die("forker: answering", e);
        }
    }
}

/// Forks the launcher for `spec` with `stdio` as its descriptors 0–2, as a child of the
/// platform; returns its pid and a pidfd for it. The child runs the launcher's code at once
/// (`jail::run`), without an exec: the forker's copy of the binary is already loaded and
/// relocated, which an exec of this binary did again for every launcher (its dynamic
/// relocations and the page faults they cause were about a fifth of a scale-out's CPU).
fn start(
    spec: &[u8],
    stdio: [OwnedFd; 3],
    title: Option<(usize, usize)>,
) -> io::Result<(i32, OwnedFd)> {
    let spec = std::str::from_utf8(spec).map_err(io::Error::other)?;
    let mut pidfd: RawFd = -1;
    let args = CloneArgs {
        flags: (libc::CLONE_PARENT | libc::CLONE_PIDFD) as u64,
        pidfd: &mut pidfd as *mut RawFd as u64,
        // No exit signal of its own with CLONE_PARENT: it takes the forker's (SIGCHLD), so
        // the platform is told of its exit as of any child's.
        ..CloneArgs::default()
    };
    // SAFETY: a fork-like clone of this single-threaded process (no CLONE_VM): the child has
    // the whole process to itself, as after fork.
    let pid = unsafe { jail::clone3(&args) }?;
    if pid == 0 {
        // The received descriptors are above 2 (0–2 are taken), so no dup2 overwrites one
        // still to be moved; the originals then go (there is no exec to close them).
        for (target, fd) in stdio.iter().enumerate() {
            // SAFETY: dup2 between descriptors this process owns.
            if unsafe { libc::dup2(fd.as_raw_fd(), target as RawFd) } < 0 {
                jail::die(
                    "forker: placing the launcher's descriptors",
                    io::Error::last_os_error(),
                );
            }
        }
        drop(stdio);
        if let Some(area) = title {
            retitle(area, spec);
        }
        jail::run(spec);
    }
    // SAFETY: CLONE_PIDFD wrote a new descriptor we now own.
    Ok((pid, unsafe { OwnedFd::from_raw_fd(pidfd) }))
}

/// Where this process's command line lives (`arg_start`, `arg_end` of /proc/self/stat).
fn command_line_area() -> Option<(usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which may hold spaces: the 48th and 49th overall.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let start = fields.get(48 - 3)?.parse().ok()?;
    let end = fields.get(49 - 3)?.parse().ok()?;
    (end > start).then_some((start, end))
}

/// Writes `stratus\0__jail\0SPEC` over the forker's command line in a launcher, so `ps` and
/// /proc show a launcher as they did when it was executed as `stratus __jail SPEC`
/// (truncated to the room the forker was started with, [`TITLE_ROOM`]).
fn retitle((start, end): (usize, usize), spec: &str) {
    let title = [b"stratus\0__jail\0".as_slice(), spec.as_bytes()].concat();
    let room = end - start - 1;
    let n = title.len().min(room);
    // SAFETY: [start, end) is this process's own command line (its initial stack, writable);
    // nothing reads it while it is rewritten, and it keeps its closing NUL.
    unsafe {
        let area = start as *mut u8;
        std::ptr::copy_nonoverlapping(title.as_ptr(), area, n);
        std::ptr::write_bytes(area.add(n), 0, room - n);
    }
}

/// The platform's side: the forker process and the socket to it, started on first use.
struct Forker {
    socket: OwnedFd,
    _process: tokio::process::Child,
}

static FORKER: Mutex<Option<Forker>> = Mutex::new(None);

/// Starts the launcher `spec_json` with `stdio` as its descriptors 0–2, through the forker.
/// Called on a spawner thread (the forker's parent-death signal follows that thread).
pub fn spawn_launcher(spec_json: &str, stdio: [&OwnedFd; 3]) -> io::Result<Launcher> {
    let mut forker = FORKER.lock().unwrap_or_else(|e| e.into_inner());
    if forker.is_none() {
        *forker = Some(start_forker()?);
    }
    let socket = forker.as_ref().map(|f| f.socket.as_raw_fd()).unwrap_or(-1);
    let fds = stdio.map(AsRawFd::as_raw_fd);
    let answer = handoff::send(socket, spec_json.as_bytes(), &fds).and_then(|()| {
        let mut buf = [0u8; 32];
        let (n, mut fds) = handoff::receive(socket, &mut buf)?
            .ok_or_else(|| io::Error::other("the forker is gone"))?;
        let text = std::str::from_utf8(&buf[..n]).unwrap_or("");
        if let Some(errno) = text.strip_prefix('E') {
            return Err(io::Error::from_raw_os_error(
                errno.parse().unwrap_or(libc::EIO),
            ));
        }
        let pid: u32 = text.parse().map_err(io::Error::other)?;
        fds.pop()
            .map(|pidfd| (pid, pidfd))
            .ok_or_else(|| io::Error::other("no pidfd"))
    });
    match answer {
        Ok((pid, pidfd)) => Launcher::new(pid, pidfd),
        Err(e) => {
            // A forker that failed mid-exchange is not trusted again: the next call starts one.
            *forker = None;
            Err(e)
        }
    }
}

fn start_forker() -> io::Result<Forker> {
    let (ours, theirs) = handoff::socket_pair()?;
    let mut cmd = tokio::process::Command::new(std::env::current_exe()?);
    cmd.arg("__forker")
        .arg(" ".repeat(TITLE_ROOM))
        .env_clear()
        .stdin(std::process::Stdio::from(theirs))
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true);
    let process = super::spawner::spawn(cmd)?;
    Ok(Forker {
        socket: ours,
        _process: process,
    })
}

/// A launcher started through the forker: the platform's child, known by its pidfd. Killed
/// when dropped before it has exited (as `kill_on_drop`), and then reaped in the background.
pub struct Launcher {
    pid: u32,
    /// Taken only by `drop`, to reap the killed process.
    pidfd: Option<AsyncFd<OwnedFd>>,
    status: Option<ExitStatus>,
}

impl Launcher {
    fn new(pid: u32, pidfd: OwnedFd) -> io::Result<Launcher> {
        // SAFETY: the AsyncFd owns the pidfd, which stays open and the same until it drops.
        match unsafe { AsyncFd::register_with_interest(pidfd, Interest::READABLE) } {
            Ok(pidfd) => Ok(Launcher {
                pid,
                pidfd: Some(pidfd),
                status: None,
            }),
            // Not watchable: the launcher is killed and reaped here rather than left running.
            Err(e) => {
                let (pidfd, error) = e.into_parts();
                let _ = kill(&pidfd);
                let _ = reap(&pidfd, 0);
                Err(error)
            }
        }
    }

    pub fn id(&self) -> Option<u32> {
        self.status.is_none().then_some(self.pid)
    }

    fn pidfd(&self) -> io::Result<&AsyncFd<OwnedFd>> {
        self.pidfd
            .as_ref()
            .ok_or_else(|| io::Error::other("launcher dropped"))
    }

    /// Its exit status if it has exited (and reaps it), without waiting.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = reap(self.pidfd()?.get_ref(), libc::WNOHANG)?;
        }
        Ok(self.status)
    }

    pub fn start_kill(&mut self) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        kill(self.pidfd()?.get_ref())
    }

    /// Waits for it to exit (a pidfd becomes readable when its process exits).
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            self.pidfd()?.readable().await?.clear_ready();
        }
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        if self.pidfd.is_none() || matches!(self.try_wait(), Ok(Some(_)) | Err(_)) {
            return;
        }
        let _ = self.start_kill();
        let mut dying = Launcher {
            pid: self.pid,
            pidfd: self.pidfd.take(),
            status: None,
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    let _ = dying.wait().await;
                });
            }
            // No runtime (the platform is ending): it dies by SIGKILL at once; reap it here.
            Err(_) => {
                if let Some(fd) = dying.pidfd.take() {
                    let _ = reap(fd.get_ref(), 0);
                }
            }
        }
    }
}

/// SIGKILL through a pidfd.
fn kill(pidfd: &OwnedFd) -> io::Result<()> {
    // SAFETY: pidfd_send_signal on a pidfd we own, with no siginfo.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `waitid` on a pidfd (`WNOHANG`: without waiting): its exit status once it has exited.
fn reap(pidfd: &OwnedFd, flags: libc::c_int) -> io::Result<Option<ExitStatus>> {
    // SAFETY: waitid fills a zeroed siginfo we own; P_PIDFD names our own child.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(
            libc::P_PIDFD,
            pidfd.as_raw_fd() as libc::id_t,
            &mut info,
            libc::WEXITED | flags,
        );
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        if info.si_pid() == 0 {
            return Ok(None);
        }
        let status = info.si_status();
        let raw = match info.si_code {
            libc::CLD_EXITED => (status & 0xff) << 8,
            libc::CLD_DUMPED => (status & 0x7f) | 0x80,
            _ => status & 0x7f,
        };
        Ok(Some(ExitStatus::from_raw(raw)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_area_is_what_proc_shows_as_the_command_line() {
        let (start, end) = command_line_area().expect("arg_start and arg_end");
        // SAFETY: this process's own command line, read only.
        let area = unsafe { std::slice::from_raw_parts(start as *const u8, end - start) };
        assert_eq!(area, std::fs::read("/proc/self/cmdline").unwrap());
    }

    fn exit_of(script: &str) -> ExitStatus {
        let child = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .spawn()
            .unwrap();
        // SAFETY: pidfd_open of our own (unreaped) child.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id(), 0) };
        assert!(fd >= 0, "{}", io::Error::last_os_error());
        // SAFETY: pidfd_open returned a new descriptor we own.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
        let status = reap(&pidfd, 0).unwrap().expect("exited");
        // Reaped above: std's own wait now finds no child.
        assert!(child.wait_with_output().is_err());
        status
    }

    #[test]
    fn exit_statuses_read_from_a_pidfd_are_the_ones_waitpid_gives() {
        assert_eq!(exit_of("exit 3").code(), Some(3));
        assert!(exit_of("exit 0").success());
        let killed = exit_of("kill -9 $$");
        assert_eq!(
            (killed.code(), killed.signal()),
            (None, Some(libc::SIGKILL))
        );
    }
}
