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
use std::sync::{Arc, OnceLock};

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
    /// The group's peak memory (see [`Peak`]).
    peak: Option<Peak>,
    /// The environment's main process, found once its runtime has initialised, with its
    /// status file and its /tmp kept open (see [`Cgroup::peak_memory`]).
    main: Arc<OnceLock<Option<MainProcess>>>,
}

/// Where a group's peak memory comes from, kept open: it is read after every invocation, and
/// a `pread` at offset 0 regenerates the value without the path lookups of an open. v1 has
/// `memory.max_usage_in_bytes` and v2 `memory.peak` (Linux 5.19); on older v2 kernels the
/// current usage (`memory.current`) is sampled at each read and the highest sample kept.
#[derive(Debug)]
struct Peak {
    file: fs::File,
    /// Whether `file` is a current value, sampled, rather than a peak.
    sampled: bool,
    highest: std::sync::atomic::AtomicU64,
}

impl Peak {
    fn open(path: &Path, sampled: bool) -> Option<Peak> {
        Some(Peak {
            file: fs::File::open(path).ok()?,
            sampled,
            highest: Default::default(),
        })
    }

    fn open_v2(dir: &Path) -> Option<Peak> {
        Peak::open(&dir.join("memory.peak"), false)
            .or_else(|| Peak::open(&dir.join("memory.current"), true))
    }

    fn read(&self) -> Option<u64> {
        use std::os::unix::fs::FileExt;
        use std::sync::atomic::Ordering;
        let mut buf = [0u8; 32];
        let n = self.file.read_at(&mut buf, 0).ok()?;
        let value = parse_bytes(&buf[..n])?;
        if !self.sampled {
            return Some(value);
        }
        Some(self.highest.fetch_max(value, Ordering::Relaxed).max(value))
    }
}

/// The largest resident process (other than the launcher) of the group whose memory
/// controller's directory is `memory`, opened.
fn find_main(memory: &Path, launcher: i32) -> Option<MainProcess> {
    let procs = fs::read_to_string(memory.join("cgroup.procs")).unwrap_or_default();
    let (_, pid) = procs
        .lines()
        .filter_map(|l| l.trim().parse::<i32>().ok())
        .filter(|&pid| pid != launcher)
        .filter_map(|pid| super::peak_resident(pid).map(|b| (b, pid)))
        .max()?;
    Some(MainProcess {
        status: fs::File::open(format!("/proc/{pid}/status")).ok()?,
        tmp: fs::File::open(format!("/proc/{pid}/root/tmp")).ok()?,
        last: Default::default(),
    })
}

/// A cgroup file's single number (`max` is not one).
fn parse_bytes(text: &[u8]) -> Option<u64> {
    std::str::from_utf8(text).ok()?.trim().parse().ok()
}

/// Open handles on the environment's main process (the runtime: the largest resident one).
#[derive(Debug)]
struct MainProcess {
    /// `/proc/<pid>/status`, re-read at offset 0 for `VmHWM`.
    status: fs::File,
    /// `/proc/<pid>/root/tmp`, for `fstatvfs`.
    tmp: fs::File,
    /// The last `VmHWM` read, with the group's peak at that moment (see
    /// [`Cgroup::peak_memory`]).
    last: std::sync::Mutex<Option<ResidentRead>>,
}

#[derive(Debug, Clone, Copy)]
struct ResidentRead {
    group: u64,
    resident: u64,
    tmp: u64,
    at: std::time::Instant,
}

/// How long a read of the process's peak and /tmp stands while the group's peak is unchanged.
const RESIDENT_READ_LIFETIME: std::time::Duration = std::time::Duration::from_secs(1);

impl MainProcess {
    /// The main process's peak resident size and what its /tmp holds, in bytes. The kernel
    /// writes out the whole status file for a read (signal masks, CPU lists: ~6 % of the
    /// server's CPU at 16 concurrent warm invokes), so a read stands while the group's peak
    /// is unchanged, for up to [`RESIDENT_READ_LIFETIME`]: memory the process gains that is
    /// charged to the group raises the group's peak (the two grow together), and what is not
    /// charged (program pages another group read first) is mapped during the init, which the
    /// first read follows; the lifetime bounds what a later mapping of such pages goes
    /// unseen. /tmp is read with it: what the group's peak holds of /tmp is what /tmp held
    /// when the peak last moved, which is the read taken then.
    fn reads(&self, group: u64) -> (u64, u64) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = *last {
            if r.group == group && r.at.elapsed() < RESIDENT_READ_LIFETIME {
                return (r.resident, r.tmp);
            }
        }
        let resident = super::resident_peak_in(&self.status).unwrap_or(0);
        let tmp = tmp_in_use(&self.tmp);
        *last = Some(ResidentRead {
            group,
            resident,
            tmp,
            at: std::time::Instant::now(),
        });
        (resident, tmp)
    }
}

/// This process's path in the hierarchy of `controller` ("" for v2), from the text of
/// /proc/self/cgroup.
fn own_path(self_cgroup: &str, controller: &str) -> Option<String> {
    self_cgroup.lines().find_map(|l| {
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

/// Which hierarchy environments' groups go in, and this process's own group there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// The controllers are on v1 hierarchies (v1 alone, or "hybrid" with an empty v2 beside
    /// them, where v2 cannot have the memory controller): this process's own group in each.
    V1 {
        memory: PathBuf,
        pids: Option<PathBuf>,
        cpu: Option<PathBuf>,
    },
    /// The unified (v2) hierarchy: this process's own group in it.
    V2 { group: PathBuf },
}

/// One cgroup mount from /proc/self/mountinfo: where it is, the part of the hierarchy it
/// shows (not `/` inside a cgroup namespace or a bind mount), its type and its controllers.
struct CgroupMount<'a> {
    root: &'a str,
    point: &'a str,
    v2: bool,
    controllers: Vec<&'a str>,
}

fn cgroup_mounts(mountinfo: &str) -> Vec<CgroupMount<'_>> {
    mountinfo
        .lines()
        .filter_map(|line| {
            // `id parent dev root point options [optional...] - fstype source super-options`
            let (before, after) = line.split_once(" - ")?;
            let fields: Vec<&str> = before.split(' ').collect();
            let mut after = after.split(' ');
            let fstype = after.next()?;
            let super_options = after.nth(1).unwrap_or("");
            let v2 = match fstype {
                "cgroup2" => true,
                "cgroup" => false,
                _ => return None,
            };
            Some(CgroupMount {
                root: fields.get(3)?,
                point: fields.get(4)?,
                v2,
                controllers: super_options.split(',').collect(),
            })
        })
        .collect()
}

/// This process's group under `mount`: its path in the hierarchy, less the part the mount
/// does not show.
fn group_in(mount: &CgroupMount<'_>, own: &str) -> Option<PathBuf> {
    let relative = own.strip_prefix(mount.root.trim_end_matches('/'))?;
    Some(Path::new(mount.point).join(relative.trim_start_matches('/')))
}

/// Chooses the hierarchy from the texts of /proc/self/mountinfo and /proc/self/cgroup: v1 when
/// the memory controller is mounted there, otherwise the v2 mount.
pub fn layout(mountinfo: &str, self_cgroup: &str) -> Option<Layout> {
    let mounts = cgroup_mounts(mountinfo);
    let v1 = |controller: &str| {
        let mount = mounts
            .iter()
            .find(|m| !m.v2 && m.controllers.contains(&controller))?;
        group_in(mount, &own_path(self_cgroup, controller)?)
    };
    if let Some(memory) = v1("memory") {
        return Some(Layout::V1 {
            memory,
            pids: v1("pids"),
            cpu: v1("cpu"),
        });
    }
    let unified = mounts.iter().find(|m| m.v2)?;
    Some(Layout::V2 {
        group: group_in(unified, &own_path(self_cgroup, "")?)?,
    })
}

/// The v2 controllers environments' groups get, in `cgroup.subtree_control`'s syntax.
const V2_CONTROLLERS: [&str; 3] = ["+memory", "+pids", "+cpu"];

/// What is written to each file of a v2 environment group, in order (`cpu`: whether the cpu
/// controller is enabled).
pub fn v2_files(limits: &Limits, cpu: bool) -> Vec<(&'static str, String)> {
    let mut files = vec![
        ("memory.max", limits.memory_bytes().to_string()),
        // No swap: a function over its memory is killed, as on AWS, not slowed down.
        ("memory.swap.max", "0".to_string()),
        ("pids.max", limits.pids.to_string()),
    ];
    if cpu {
        files.push(("cpu.weight", limits.cpu_weight().to_string()));
        files.push((
            "cpu.max",
            format!("{} {CPU_PERIOD_US}", limits.cpu_quota_us()),
        ));
    }
    files
}

/// What is written to each file of the v1 environment groups, per controller.
pub fn v1_files(limits: &Limits) -> [(&'static str, Vec<(&'static str, String)>); 3] {
    let bytes = limits.memory_bytes().to_string();
    [
        (
            "memory",
            vec![
                ("memory.limit_in_bytes", bytes.clone()),
                ("memory.memsw.limit_in_bytes", bytes),
            ],
        ),
        ("pids", vec![("pids.max", limits.pids.to_string())]),
        (
            "cpu",
            vec![
                ("cpu.shares", limits.cpu_shares().to_string()),
                ("cpu.cfs_period_us", CPU_PERIOD_US.to_string()),
                ("cpu.cfs_quota_us", limits.cpu_quota_us().to_string()),
            ],
        ),
    ]
}

/// Whether the write of `file` may fail without failing the environment: the files a kernel
/// may lack (swap accounting off, no pids controller), not the limits that must hold.
fn optional(file: &str) -> bool {
    matches!(
        file,
        "memory.swap.max" | "memory.memsw.limit_in_bytes" | "pids.max" | "cpu.cfs_period_us"
    )
}

fn write_files(dir: &Path, files: &[(&'static str, String)]) -> io::Result<()> {
    for (file, value) in files {
        match fs::write(dir.join(file), value) {
            Err(_) if optional(file) => {}
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("writing {value} to {}: {e}", dir.join(file).display()),
                ))
            }
            Ok(()) => {}
        }
    }
    Ok(())
}

impl CgroupRoot {
    /// Finds a hierarchy with a usable memory controller, creating `stratus/` under this
    /// process's own cgroup.
    pub fn detect() -> Option<CgroupRoot> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
        let self_cgroup = fs::read_to_string("/proc/self/cgroup").ok()?;
        match layout(&mountinfo, &self_cgroup)? {
            Layout::V1 { memory, pids, cpu } => Some(CgroupRoot::V1 {
                memory: per_platform(&memory.join("stratus"))?,
                pids: pids.and_then(|p| per_platform(&p.join("stratus"))),
                cpu: cpu.and_then(|c| per_platform(&c.join("stratus"))),
            }),
            Layout::V2 { group } => Self::detect_v2(&group),
        }
    }

    /// Under v2, `stratus/<pid>/` below this process's group, with the controllers handed down
    /// to it. A group with processes in it cannot hand controllers to its children (the "no
    /// internal processes" rule), so if this process's own group refuses, the process first
    /// moves into a leaf of its own (`platform/`) and the group is asked again.
    fn detect_v2(own: &Path) -> Option<CgroupRoot> {
        let root = own.join("stratus");
        fs::create_dir_all(&root).ok()?;
        let enable = |dir: &Path| {
            for controller in V2_CONTROLLERS {
                let _ = fs::write(dir.join("cgroup.subtree_control"), controller);
            }
        };
        let has = |dir: &Path, c: &str| {
            fs::read_to_string(dir.join("cgroup.subtree_control"))
                .unwrap_or_default()
                .split_whitespace()
                .any(|e| e == c)
        };
        enable(own);
        if !has(own, "memory") {
            let leaf = own.join("platform");
            fs::create_dir_all(&leaf).ok()?;
            fs::write(leaf.join("cgroup.procs"), std::process::id().to_string()).ok()?;
            enable(own);
        }
        enable(&root);
        if !has(&root, "memory") {
            return None;
        }
        let root = per_platform(&root)?;
        enable(&root);
        Some(CgroupRoot::V2 {
            cpu: has(&root, "cpu"),
            pids: has(&root, "pids"),
            root,
        })
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
        match self {
            CgroupRoot::V2 { root, cpu, .. } => {
                let dir = root.join(id);
                fs::create_dir(&dir)?;
                write_files(&dir, &v2_files(limits, *cpu))?;
                Ok(Cgroup {
                    peak: Peak::open_v2(&dir),
                    main: Default::default(),
                    dirs: vec![dir.clone()],
                    memory: dir,
                    v2: true,
                })
            }
            CgroupRoot::V1 { memory, pids, cpu } => {
                let [(_, mem_files), (_, pids_files), (_, cpu_files)] = v1_files(limits);
                let mem = memory.join(id);
                fs::create_dir(&mem)?;
                write_files(&mem, &mem_files)?;
                let mut dirs = vec![mem.clone()];
                if let Some(p) = pids {
                    let dir = p.join(id);
                    if fs::create_dir(&dir).is_ok() {
                        write_files(&dir, &pids_files)?;
                        dirs.push(dir);
                    }
                }
                if let Some(c) = cpu {
                    let dir = c.join(id);
                    fs::create_dir(&dir)?;
                    write_files(&dir, &cpu_files)?;
                    dirs.push(dir);
                }
                Ok(Cgroup {
                    peak: Peak::open(&mem.join("memory.max_usage_in_bytes"), false),
                    main: Default::default(),
                    dirs,
                    memory: mem,
                    v2: false,
                })
            }
        }
    }
}

impl CgroupRoot {
    /// Sets `limits` on an existing group created with `from` (a pre-made sandbox's, as it
    /// gets its function). Only the files whose value changes are written: a cold start
    /// waits for these writes, and a function of the waiting size needs none.
    pub fn apply(&self, group: &Cgroup, from: &Limits, limits: &Limits) -> io::Result<()> {
        match self {
            CgroupRoot::V2 { cpu, .. } => write_files(
                &group.memory,
                &changed(v2_files(from, *cpu), v2_files(limits, *cpu)),
            ),
            CgroupRoot::V1 { memory, pids, cpu } => {
                let before = v1_files(from);
                for ((controller, files), (_, old)) in v1_files(limits).into_iter().zip(before) {
                    let base = match controller {
                        "memory" => Some(memory),
                        "pids" => pids.as_ref(),
                        _ => cpu.as_ref(),
                    };
                    let dir = base.and_then(|b| group.dirs.iter().find(|d| d.starts_with(b)));
                    let mut files = changed(old, files);
                    // v1 refuses a memory limit above the memory+swap limit (EINVAL): a
                    // limit that rises sets memory+swap first.
                    if controller == "memory" && limits.memory_bytes() > from.memory_bytes() {
                        files.reverse();
                    }
                    if let Some(dir) = dir {
                        write_files(dir, &files)?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// The files of `new` whose value differs from `old`'s, in `new`'s order.
fn changed(
    old: Vec<(&'static str, String)>,
    new: Vec<(&'static str, String)>,
) -> Vec<(&'static str, String)> {
    new.into_iter().filter(|f| !old.contains(f)).collect()
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
    /// This runs before every answer, so it costs one system call (the group's peak), three
    /// when the process's peak and /tmp are read again (see [`MainProcess::reads`]): the main
    /// process is found once (see [`Cgroup::find_main_ahead`]), and its status file and /tmp
    /// stay open. A child the function starts later is counted by the group's peak.
    /// `launcher` (in the group under v1) is the platform's own program, left out.
    pub fn peak_memory(&self, launcher: i32) -> Option<u64> {
        let group = self.peak.as_ref()?.read()?;
        let main = self.main.get_or_init(|| find_main(&self.memory, launcher));
        let (resident, tmp) = main.as_ref().map_or((0, 0), |m| m.reads(group));
        Some(group.saturating_sub(tmp).max(resident))
    }

    /// Finds the main process now, on a blocking thread, rather than in the first
    /// invocation's report: listing the group and reading each process's status took ~150 µs
    /// there, between the runtime's answer and the caller's. Called once the runtime has
    /// initialised (from then on it is the largest process), so the search runs beside the
    /// first invocation; finding nothing leaves it to the report.
    pub fn find_main_ahead(&self, launcher: i32) {
        let (main, memory) = (self.main.clone(), self.memory.clone());
        tokio::task::spawn_blocking(move || {
            if main.get().is_none() {
                if let Some(found) = find_main(&memory, launcher) {
                    let _ = main.set(Some(found));
                }
            }
        });
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

    #[test]
    fn a_process_peak_is_read_again_once_the_group_peak_moves() {
        // A status file of our own, so the test does not depend on this process's peak.
        let path = std::env::temp_dir().join(format!("stratus-status-{}", std::process::id()));
        let status = |kb: u64| fs::write(&path, format!("Name:\tf\nVmHWM:\t{kb} kB\n")).unwrap();
        status(10_000);
        let main = MainProcess {
            status: fs::File::open(&path).unwrap(),
            tmp: fs::File::open("/tmp").unwrap(),
            last: Default::default(),
        };
        let resident = |group| main.reads(group).0;
        assert_eq!(resident(100 << 20), 10_000 * 1024);
        status(80_000);
        assert_eq!(resident(100 << 20), 10_000 * 1024, "the read stands");
        assert_eq!(resident(164 << 20), 80_000 * 1024, "the group moved");
        let _ = fs::remove_file(&path);
    }

    /// This machine's layout: controllers on v1, an empty v2 beside them.
    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
";
    const HYBRID_SELF: &str =
        "9:name=systemd:/\n8:pids:/svc\n4:memory:/api/x\n1:cpu,cpuacct:/\n0::/\n";

    #[test]
    fn v1_is_chosen_where_the_memory_controller_is_and_v2_beside_it_is_ignored() {
        assert_eq!(
            layout(HYBRID, HYBRID_SELF),
            Some(Layout::V1 {
                memory: "/sys/fs/cgroup/memory/api/x".into(),
                pids: Some("/sys/fs/cgroup/pids/svc".into()),
                cpu: Some("/sys/fs/cgroup/cpu,cpuacct".into()),
            })
        );
        // Without a pids or cpu hierarchy, only memory.
        let memory_only: String = HYBRID
            .lines()
            .filter(|l| !l.contains("pids") && !l.contains("cpu"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            layout(&memory_only, HYBRID_SELF),
            Some(Layout::V1 {
                memory: "/sys/fs/cgroup/memory/api/x".into(),
                pids: None,
                cpu: None,
            })
        );
    }

    #[test]
    fn v2_is_chosen_on_a_unified_host_and_a_cgroup_namespace_root_is_taken_off() {
        let unified = "25 30 0:23 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";
        assert_eq!(
            layout(unified, "0::/system.slice/stratus.service\n"),
            Some(Layout::V2 {
                group: "/sys/fs/cgroup/system.slice/stratus.service".into()
            })
        );
        // A container whose mount shows only its part of the hierarchy.
        let container = "1 0 0:23 /machine/c1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        assert_eq!(
            layout(container, "0::/machine/c1/app\n"),
            Some(Layout::V2 {
                group: "/sys/fs/cgroup/app".into()
            })
        );
        assert_eq!(
            layout("22 1 8:1 / / rw - ext4 /dev/vda rw\n", "0::/\n"),
            None
        );
    }

    #[test]
    fn the_v2_files_hold_the_limits_in_their_own_syntax() {
        let limits = Limits {
            memory_mb: 3538,
            tmp_mb: 512,
            pids: 1024,
        };
        let files = v2_files(&limits, true);
        let names: Vec<&str> = files.iter().map(|(f, _)| *f).collect();
        assert_eq!(
            names,
            [
                "memory.max",
                "memory.swap.max",
                "pids.max",
                "cpu.weight",
                "cpu.max"
            ]
        );
        let value = |f: &str| files.iter().find(|(n, _)| *n == f).unwrap().1.clone();
        assert_eq!(value("memory.max"), (4050u64 * 1024 * 1024).to_string());
        assert_eq!(value("memory.swap.max"), "0");
        assert_eq!(value("pids.max"), "1024");
        // Two vCPUs: weight 200 (100 per vCPU), quota 200 ms per 100 ms period.
        assert_eq!(value("cpu.weight"), "200");
        assert_eq!(value("cpu.max"), "200000 100000");
        // Without the cpu controller, no cpu files.
        assert_eq!(v2_files(&limits, false).len(), 3);
        // The limits that must hold are not optional; swap and pids may be absent.
        assert!(!optional("memory.max") && !optional("cpu.max") && !optional("cpu.weight"));
        assert!(optional("memory.swap.max") && optional("pids.max"));
    }

    #[test]
    fn a_pre_made_group_is_written_only_what_changes() {
        let waiting = Limits {
            memory_mb: 128,
            tmp_mb: 512,
            pids: 1024,
        };
        assert!(changed(v2_files(&waiting, true), v2_files(&waiting, true)).is_empty());
        let bigger = Limits {
            memory_mb: 3538,
            ..waiting
        };
        let files = changed(v2_files(&waiting, true), v2_files(&bigger, true));
        let names: Vec<_> = files.iter().map(|(f, _)| *f).collect();
        assert_eq!(names, ["memory.max", "cpu.weight", "cpu.max"]);
        let [(_, old), _, _] = v1_files(&waiting);
        let [(_, new), _, _] = v1_files(&bigger);
        assert_eq!(changed(old, new).len(), 2);
    }

    #[test]
    fn the_v1_files_hold_the_same_limits() {
        let limits = Limits {
            memory_mb: 3538,
            tmp_mb: 512,
            pids: 1024,
        };
        let [(m, memory), (p, pids), (c, cpu)] = v1_files(&limits);
        assert_eq!((m, p, c), ("memory", "pids", "cpu"));
        let bytes = (4050u64 * 1024 * 1024).to_string();
        assert_eq!(memory[0], ("memory.limit_in_bytes", bytes.clone()));
        assert_eq!(memory[1], ("memory.memsw.limit_in_bytes", bytes));
        assert_eq!(pids, vec![("pids.max", "1024".to_string())]);
        assert_eq!(cpu[0], ("cpu.shares", "2048".to_string()));
        assert_eq!(cpu[2], ("cpu.cfs_quota_us", "200000".to_string()));
    }

    #[test]
    fn a_sampled_current_value_keeps_its_highest_and_a_peak_is_read_as_is() {
        let dir = tempfile::tempdir().unwrap();
        let current = dir.path().join("memory.current");
        fs::write(&current, "4096\n").unwrap();
        let sampled = Peak::open_v2(dir.path()).unwrap();
        assert!(sampled.sampled);
        assert_eq!(sampled.read(), Some(4096));
        fs::write(&current, "1024\n").unwrap();
        assert_eq!(sampled.read(), Some(4096));
        fs::write(&current, "8192\n").unwrap();
        assert_eq!(sampled.read(), Some(8192));
        // memory.peak, when the kernel has it, is preferred and read as it is.
        fs::write(dir.path().join("memory.peak"), "5000\n").unwrap();
        let peak = Peak::open_v2(dir.path()).unwrap();
        assert!(!peak.sampled);
        assert_eq!(peak.read(), Some(5000));
        fs::write(dir.path().join("memory.peak"), "max\n").unwrap();
        assert_eq!(peak.read(), None);
    }
}
