//! Control groups for execution environments, under cgroup v2 where it is usable and v1
//! otherwise: a memory limit, a pids limit and a CPU allotment. The environment's processes are
//! all in the group from the start (see `jail` and [`Entry`]), so everything the function
//! starts is counted.
//!
//! Memory: the limit is `MemorySize` plus the size of /tmp. /tmp is a size-limited tmpfs, and
//! the kernel charges a tmpfs page to the memory cgroup of the process that writes it; on AWS
//! /tmp is storage of its own, so without the extra room a function could not fill the /tmp it
//! was promised. Max Memory Used leaves what /tmp holds out (see `Cgroup::peak_memory`).
//!
//! CPU: AWS allots CPU in proportion to memory, one vCPU at 1,769 MB. Each group gets that as
//! a weight (`cpu.shares` / `cpu.weight`), so under contention a busy function gets no more
//! than its share and cannot starve another's latency; and as a hard quota (`cpu.cfs_quota_us`
//! / `cpu.max`) of `MemorySize / 1769` vCPUs, but never less than one: a 128 MB function held
//! to 7% of a CPU on an idle host would start in hundreds of milliseconds and spend seconds on
//! what AWS's larger hosts absorb, while a single vCPU already keeps it from taking a
//! many-core machine.
//!
//! How they get there matters for cold starts. Writing a pid to `cgroup.procs` moves a whole
//! thread group, which takes the kernel's global `cgroup_threadgroup_rwsem` for writing; unless
//! another move happened moments before, that waits for an RCU grace period (6-16 ms on a
//! 250 Hz kernel), longer than everything else in a sandbox's set-up together. Under v1 a
//! single-threaded process writing `0` (itself) to `tasks` moves its only thread without that
//! lock, in tens of microseconds; the launcher is single-threaded, so that is what it does.
//! v2 has no such file outside threaded groups, but `clone3(CLONE_INTO_CGROUP)` creates a
//! process directly in a group without moving anything: the launcher starts the environment's
//! pid 1 that way and stays outside itself.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// How the environment's processes enter its cgroup(s), as the launcher is told.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Entry {
    /// No cgroup.
    #[default]
    None,
    /// v1: the (single-threaded) launcher writes `0` to each of these `tasks` files before it
    /// forks, so it and everything it starts are in the groups.
    Join(Vec<PathBuf>),
    /// v2: pid 1 is created in this group by `clone3(CLONE_INTO_CGROUP)`.
    CloneInto(PathBuf),
}

/// Where this platform's environment cgroups are created.
#[derive(Debug, Clone)]
pub enum CgroupRoot {
    V2 {
        root: PathBuf,
        cpu: bool,
        pids: bool,
    },
    V1 {
        memory: PathBuf,
        pids: Option<PathBuf>,
        cpu: Option<PathBuf>,
    },
}

/// MB of memory that AWS allots one vCPU.
const MB_PER_VCPU: u64 = 1769;
/// The CPU quota's period, in microseconds (the kernel's default).
const CPU_PERIOD_US: u64 = 100_000;

/// What one environment may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub memory_mb: u32,
    pub tmp_mb: u32,
    pub pids: u32,
}

impl Limits {
    pub fn of(spec: &super::LaunchSpec, pids: u32) -> Limits {
        Limits {
            memory_mb: spec.memory_mb,
            tmp_mb: spec.tmp_mb,
            pids,
        }
    }

    /// The memory cgroup's limit: the function's memory and its /tmp (see the module's comment).
    fn memory_bytes(&self) -> u64 {
        (u64::from(self.memory_mb) + u64::from(self.tmp_mb)) * 1024 * 1024
    }

    /// CPU time per period, in microseconds: `MemorySize / 1769` vCPUs, at least one.
    fn cpu_quota_us(&self) -> u64 {
        (u64::from(self.memory_mb) * CPU_PERIOD_US / MB_PER_VCPU).max(CPU_PERIOD_US)
    }

    /// v1 `cpu.shares`: 1024 (the default of every other group) per vCPU.
    fn cpu_shares(&self) -> u64 {
        (u64::from(self.memory_mb) * 1024 / MB_PER_VCPU).max(2)
    }

    /// v2 `cpu.weight`: 100 (the default) per vCPU, within the kernel's 1..=10000.
    fn cpu_weight(&self) -> u64 {
        (u64::from(self.memory_mb) * 100 / MB_PER_VCPU).clamp(1, 10_000)
    }
}

/// One environment's cgroup(s).
#[derive(Debug)]
pub struct Cgroup {
    dirs: Vec<PathBuf>,
    memory: PathBuf,
    v2: bool,
    /// The peak-memory file, kept open: it is read after every invocation, and a `pread` at
    /// offset 0 regenerates its value without the path lookups of an open.
    peak: Option<fs::File>,
    /// The environment's main process, found after its first invocation, with its status
    /// file and its /tmp kept open (see [`Cgroup::peak_memory`]).
    main: OnceLock<Option<MainProcess>>,
}

/// Open handles on the environment's main process (the runtime: the largest resident one).
#[derive(Debug)]
struct MainProcess {
    /// `/proc/<pid>/status`, re-read at offset 0 for `VmHWM`.
    status: fs::File,
    /// `/proc/<pid>/root/tmp`, for `fstatvfs`.
    tmp: fs::File,
}

/// This process's path in the hierarchy of `controller` ("" for v2), from /proc/self/cgroup.
fn own_path(controller: &str) -> Option<String> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = if controller.is_empty() {
            ctrls.is_empty()
        } else {
            ctrls.split(',').any(|c| c == controller)
        };
        matches.then(|| path.to_string())
    })
}

impl CgroupRoot {
    /// Finds a hierarchy with a usable memory controller, creating `stratus/` under this
    /// process's own cgroup.
    pub fn detect() -> Option<CgroupRoot> {
        let v1_memory = Path::new("/sys/fs/cgroup/memory");
        if v1_memory.join("memory.limit_in_bytes").exists() || v1_memory.is_dir() {
            let memory = v1_memory
                .join(own_path("memory")?.trim_start_matches('/'))
                .join("stratus");
            let memory = per_platform(&memory)?;
            let v1_group = |controller: &str| {
                let own = own_path(controller)?;
                let dir = Path::new("/sys/fs/cgroup")
                    .join(controller)
                    .join(own.trim_start_matches('/'))
                    .join("stratus");
                per_platform(&dir)
            };
            return Some(CgroupRoot::V1 {
                memory,
                pids: v1_group("pids"),
                cpu: v1_group("cpu"),
            });
        }
        let v2 = Path::new("/sys/fs/cgroup");
        if v2.join("cgroup.controllers").exists() {
            let root = v2
                .join(own_path("")?.trim_start_matches('/'))
                .join("stratus");
            fs::create_dir_all(&root).ok()?;
            // Children of `stratus` get the memory, pids and cpu controllers.
            let parent = root.parent()?;
            let _ = fs::write(parent.join("cgroup.subtree_control"), "+memory +pids +cpu");
            fs::write(root.join("cgroup.subtree_control"), "+memory").ok()?;
            let _ = fs::write(root.join("cgroup.subtree_control"), "+pids");
            let _ = fs::write(root.join("cgroup.subtree_control"), "+cpu");
            let root = per_platform(&root)?;
            for controller in ["+memory", "+pids", "+cpu"] {
                let _ = fs::write(root.join("cgroup.subtree_control"), controller);
            }
            let enabled =
                fs::read_to_string(root.join("cgroup.subtree_control")).unwrap_or_default();
            let has = |c: &str| enabled.split_whitespace().any(|e| e == c);
            return Some(CgroupRoot::V2 {
                cpu: has("cpu"),
                pids: has("pids"),
                root,
            });
        }
        None
    }

    pub fn has_cpu(&self) -> bool {
        match self {
            CgroupRoot::V2 { cpu, .. } => *cpu,
            CgroupRoot::V1 { cpu, .. } => cpu.is_some(),
        }
    }

    pub fn has_pids(&self) -> bool {
        match self {
            CgroupRoot::V2 { pids, .. } => *pids,
            CgroupRoot::V1 { pids, .. } => pids.is_some(),
        }
    }

    pub fn create(&self, id: &str, limits: &Limits) -> io::Result<Cgroup> {
        let bytes = limits.memory_bytes();
        match self {
            CgroupRoot::V2 { root, cpu, .. } => {
                let dir = root.join(id);
                fs::create_dir(&dir)?;
                fs::write(dir.join("memory.max"), bytes.to_string())?;
                let _ = fs::write(dir.join("memory.swap.max"), "0");
                let _ = fs::write(dir.join("pids.max"), limits.pids.to_string());
                if *cpu {
                    fs::write(dir.join("cpu.weight"), limits.cpu_weight().to_string())?;
                    let quota = format!("{} {CPU_PERIOD_US}", limits.cpu_quota_us());
                    fs::write(dir.join("cpu.max"), quota)?;
                }
                Ok(Cgroup {
                    peak: fs::File::open(dir.join("memory.peak")).ok(),
                    main: OnceLock::new(),
                    dirs: vec![dir.clone()],
                    memory: dir,
                    v2: true,
                })
            }
            CgroupRoot::V1 { memory, pids, cpu } => {
                let mem = memory.join(id);
                fs::create_dir(&mem)?;
                fs::write(mem.join("memory.limit_in_bytes"), bytes.to_string())?;
                let _ = fs::write(mem.join("memory.memsw.limit_in_bytes"), bytes.to_string());
                let mut dirs = vec![mem.clone()];
                if let Some(p) = pids {
                    let dir = p.join(id);
                    if fs::create_dir(&dir).is_ok() {
                        let _ = fs::write(dir.join("pids.max"), limits.pids.to_string());
                        dirs.push(dir);
                    }
                }
                if let Some(c) = cpu {
                    let dir = c.join(id);
                    fs::create_dir(&dir)?;
                    fs::write(dir.join("cpu.shares"), limits.cpu_shares().to_string())?;
                    let _ = fs::write(dir.join("cpu.cfs_period_us"), CPU_PERIOD_US.to_string());
                    let quota = limits.cpu_quota_us().to_string();
                    fs::write(dir.join("cpu.cfs_quota_us"), quota)?;
                    dirs.push(dir);
                }
                Ok(Cgroup {
                    peak: fs::File::open(mem.join("memory.max_usage_in_bytes")).ok(),
                    main: OnceLock::new(),
                    dirs,
                    memory: mem,
                    v2: false,
                })
            }
        }
    }
}

/// This platform process's own group under `base` (`base/<pid>`), after clearing the groups
/// of platform processes that died without cleaning up (several may run side by side).
fn per_platform(base: &Path) -> Option<PathBuf> {
    fs::create_dir_all(base).ok()?;
    for entry in fs::read_dir(base).ok()?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let dead = name
            .parse::<u32>()
            .is_ok_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
        if dead {
            sweep(&entry.path());
            let _ = fs::remove_dir(entry.path());
        }
    }
    let mine = base.join(std::process::id().to_string());
    fs::create_dir_all(&mine).ok()?;
    Some(mine)
}

/// Bytes held by the /tmp that process `pid` sees (the environment's tmpfs).
fn tmp_in_use(dir: &fs::File) -> u64 {
    use std::os::fd::AsRawFd;
    // SAFETY: fstatvfs fills a zeroed struct through a valid pointer from an open descriptor.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::fstatvfs(dir.as_raw_fd(), &mut st) != 0 {
            return 0;
        }
        (st.f_blocks - st.f_bfree) * st.f_frsize
    }
}

/// Kills and removes the environment groups under `root`.
fn sweep(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for dir in entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
        let _ = fs::write(dir.join("cgroup.kill"), "1");
        if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
            for pid in text.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                crate::sandbox::kill(pid, libc::SIGKILL);
            }
        }
        for _ in 0..50 {
            if fs::remove_dir(&dir).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

impl Cgroup {
    /// How the launcher puts the environment in this group (see the module's comment).
    pub fn entry(&self) -> Entry {
        if self.v2 {
            Entry::CloneInto(self.memory.clone())
        } else {
            Entry::Join(self.dirs.iter().map(|d| d.join("tasks")).collect())
        }
    }

    /// The most memory the environment has used, in bytes: the group's peak less what its
    /// /tmp holds (tmpfs pages are charged to the group but are not memory on AWS), and at
    /// least the peak resident size of its main process. The latter counts the pages of the
    /// program and its libraries that are already in the page cache, charged to whoever read
    /// them first: without it a small compiled function (a Rust `lambda_http` one, say)
    /// showed the 1 MB of anonymous memory it allocated.
    ///
    /// This runs before every answer, so it costs three system calls: the main process is
    /// found once (listing the group and reading each process's status), and its status file
    /// and /tmp stay open. A child the function starts later is counted by the group's peak.
    /// `launcher` (in the group under v1) is the platform's own program, left out.
    pub fn peak_memory(&self, launcher: i32) -> Option<u64> {
        use std::os::unix::fs::FileExt;
        let mut buf = [0u8; 32];
        let n = self.peak.as_ref()?.read_at(&mut buf, 0).ok()?;
        let group: u64 = std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()?;
        let main = self.main.get_or_init(|| self.find_main(launcher));
        let (resident, tmp) = main.as_ref().map_or((0, 0), |m| {
            (
                super::resident_peak_in(&m.status).unwrap_or(0),
                tmp_in_use(&m.tmp),
            )
        });
        Some(group.saturating_sub(tmp).max(resident))
    }

    /// The group's largest resident process (other than the launcher), opened.
    fn find_main(&self, launcher: i32) -> Option<MainProcess> {
        let procs = fs::read_to_string(self.memory.join("cgroup.procs")).unwrap_or_default();
        let (_, pid) = procs
            .lines()
            .filter_map(|l| l.trim().parse::<i32>().ok())
            .filter(|&pid| pid != launcher)
            .filter_map(|pid| super::peak_resident(pid).map(|b| (b, pid)))
            .max()?;
        Some(MainProcess {
            status: fs::File::open(format!("/proc/{pid}/status")).ok()?,
            tmp: fs::File::open(format!("/proc/{pid}/root/tmp")).ok()?,
        })
    }

    /// Kills every process in the group.
    pub fn kill_all(&self) {
        if self.v2 && fs::write(self.memory.join("cgroup.kill"), "1").is_ok() {
            return;
        }
        if let Ok(text) = fs::read_to_string(self.memory.join("cgroup.procs")) {
            for pid in text.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                crate::sandbox::kill(pid, libc::SIGKILL);
            }
        }
    }

    /// Removes the group once its processes are gone (retrying briefly while they exit).
    pub async fn remove(self) {
        for _ in 0..50 {
            if self
                .dirs
                .iter()
                .all(|d| fs::remove_dir(d).is_ok() || !d.exists())
            {
                return;
            }
            self.kill_all();
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        tracing::warn!(dirs = ?self.dirs, "could not remove environment cgroup");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_memory_size_as_aws_allots_cpu() {
        let at = |memory_mb, tmp_mb| Limits {
            memory_mb,
            tmp_mb,
            pids: 1024,
        };
        assert_eq!(at(128, 512).memory_bytes(), 640 * 1024 * 1024);
        // One vCPU at 1769 MB; never under one; six at 10240 MB (the most AWS gives).
        assert_eq!(at(1769, 512).cpu_quota_us(), 100_000);
        assert_eq!(at(128, 512).cpu_quota_us(), 100_000);
        assert_eq!(at(10240, 512).cpu_quota_us(), 578_858);
        // Weights stay proportional below one vCPU.
        assert_eq!(at(1769, 512).cpu_shares(), 1024);
        assert_eq!(at(128, 512).cpu_shares(), 74);
        assert_eq!(at(128, 512).cpu_weight(), 7);
        assert_eq!(at(10240, 512).cpu_weight(), 578);
    }
}
