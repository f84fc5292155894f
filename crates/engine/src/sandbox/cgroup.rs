//! Control groups for execution environments: a memory limit equal to the function's
//! MemorySize and a pids limit, under cgroup v2 where it is usable and v1 otherwise. The
//! environment's processes are all in the group from the start (see `jail` and [`Entry`]), so
//! everything the function starts is counted.
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
    V2(PathBuf),
    V1 {
        memory: PathBuf,
        pids: Option<PathBuf>,
    },
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
            let pids = own_path("pids").and_then(|p| {
                let dir = Path::new("/sys/fs/cgroup/pids")
                    .join(p.trim_start_matches('/'))
                    .join("stratus");
                per_platform(&dir)
            });
            return Some(CgroupRoot::V1 { memory, pids });
        }
        let v2 = Path::new("/sys/fs/cgroup");
        if v2.join("cgroup.controllers").exists() {
            let root = v2
                .join(own_path("")?.trim_start_matches('/'))
                .join("stratus");
            fs::create_dir_all(&root).ok()?;
            // Children of `stratus` get the memory and pids controllers.
            let parent = root.parent()?;
            let _ = fs::write(parent.join("cgroup.subtree_control"), "+memory +pids");
            fs::write(root.join("cgroup.subtree_control"), "+memory +pids").ok()?;
            let root = per_platform(&root)?;
            let _ = fs::write(root.join("cgroup.subtree_control"), "+memory +pids");
            return Some(CgroupRoot::V2(root));
        }
        None
    }

    pub fn create(&self, id: &str, memory_mb: u32, pids_max: u32) -> io::Result<Cgroup> {
        let bytes = u64::from(memory_mb) * 1024 * 1024;
        match self {
            CgroupRoot::V2(root) => {
                let dir = root.join(id);
                fs::create_dir(&dir)?;
                fs::write(dir.join("memory.max"), bytes.to_string())?;
                let _ = fs::write(dir.join("memory.swap.max"), "0");
                let _ = fs::write(dir.join("pids.max"), pids_max.to_string());
                Ok(Cgroup {
                    peak: fs::File::open(dir.join("memory.peak")).ok(),
                    dirs: vec![dir.clone()],
                    memory: dir,
                    v2: true,
                })
            }
            CgroupRoot::V1 { memory, pids } => {
                let mem = memory.join(id);
                fs::create_dir(&mem)?;
                fs::write(mem.join("memory.limit_in_bytes"), bytes.to_string())?;
                let _ = fs::write(mem.join("memory.memsw.limit_in_bytes"), bytes.to_string());
                let mut dirs = vec![mem.clone()];
                if let Some(p) = pids {
                    let dir = p.join(id);
                    if fs::create_dir(&dir).is_ok() {
                        let _ = fs::write(dir.join("pids.max"), pids_max.to_string());
                        dirs.push(dir);
                    }
                }
                Ok(Cgroup {
                    peak: fs::File::open(mem.join("memory.max_usage_in_bytes")).ok(),
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

    /// The most memory the environment has used, in bytes.
    pub fn peak_memory(&self) -> Option<u64> {
        use std::os::unix::fs::FileExt;
        let mut buf = [0u8; 32];
        let n = self.peak.as_ref()?.read_at(&mut buf, 0).ok()?;
        std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
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
