//! The system-call filter every runtime starts under, modelled on the default profiles that
//! container runtimes ship (Docker's, containerd's): everything is allowed except the calls
//! that administer the machine or open kernel attack surface an unprivileged function has no
//! use for. Blocked calls fail with `EPERM`, so runtimes degrade instead of dying; `clone3`
//! fails with `ENOSYS`, since its flags sit in memory a filter cannot read, and libc then falls
//! back to `clone`, whose flags are checked. The list is documented in `docs/security.md`.
//!
//! The filter is compiled once when the platform starts (with `seccompiler`, Firecracker's),
//! handed to each launcher as hex in its spec, and installed by the runtime's process just
//! before it executes the runtime, after `no_new_privs`.

use std::collections::BTreeMap;
use std::io;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule,
};

/// Blocked outright: mounts and namespaces, keys, eBPF and perf, kernel modules and kexec,
/// reboot and swap, userfaultfd, io_uring, clocks, accounting and quotas, raw I/O ports,
/// host naming, handle-based opens (a classic container escape), and the kernel log.
const BLOCKED: &[i64] = &[
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_userfaultfd,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_settimeofday,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_sethostname,
    libc::SYS_setdomainname,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_syslog,
    libc::SYS_vhangup,
    libc::SYS_lookup_dcookie,
    libc::SYS_fanotify_init,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_iopl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ioperm,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_uselib,
    #[cfg(target_arch = "x86_64")]
    libc::SYS__sysctl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ustat,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_sysfs,
];

/// The `clone` flags that create namespaces.
const NAMESPACE_FLAGS: [u64; 7] = [
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWCGROUP as u64,
];

/// The personalities a program may ask for (Docker's list): Linux, 32-bit Linux, the 2.6-style
/// uname, both, and the query. Turning off address randomisation is not among them.
const PERSONALITIES: [u64; 5] = [0x0, 0x8, 0x0002_0000, 0x0002_0008, 0xffff_ffff];

const PTRACE_ATTACH: u64 = 16;
const PTRACE_SEIZE: u64 = 0x4206;

/// The compiled filter, ready for each environment.
#[derive(Debug, Clone)]
pub struct Filter {
    program: BpfProgram,
}

fn cond(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, io::Error> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Qword, op, value).map_err(io::Error::other)
}

fn rule(conditions: Vec<SeccompCondition>) -> io::Result<SeccompRule> {
    SeccompRule::new(conditions).map_err(io::Error::other)
}

/// The rules whose match means `EPERM`.
fn eperm_rules() -> io::Result<BTreeMap<i64, Vec<SeccompRule>>> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        BLOCKED.iter().map(|&nr| (nr, Vec::new())).collect();
    // clone with any namespace flag (the flags are the first argument on x86_64 and arm64).
    let clone = NAMESPACE_FLAGS
        .iter()
        .map(|&f| rule(vec![cond(0, SeccompCmpOp::MaskedEq(f), f)?]))
        .collect::<io::Result<Vec<_>>>()?;
    rules.insert(libc::SYS_clone, clone);
    // ptrace: attaching to another process is refused; a child may still ask to be traced
    // (PTRACE_TRACEME), so debuggers of their own children work.
    rules.insert(
        libc::SYS_ptrace,
        vec![
            rule(vec![cond(0, SeccompCmpOp::Eq, PTRACE_ATTACH)?])?,
            rule(vec![cond(0, SeccompCmpOp::Eq, PTRACE_SEIZE)?])?,
        ],
    );
    // personality: any value outside the list (the conditions of one rule must all hold).
    let not_allowed = PERSONALITIES
        .iter()
        .map(|&p| {
            SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, p)
                .map_err(io::Error::other)
        })
        .collect::<io::Result<Vec<_>>>()?;
    rules.insert(libc::SYS_personality, vec![rule(not_allowed)?]);
    Ok(rules)
}

impl Filter {
    /// Compiles the filter for this machine's architecture.
    pub fn compile() -> io::Result<Filter> {
        let arch = std::env::consts::ARCH
            .try_into()
            .map_err(io::Error::other)?;
        let eperm = SeccompFilter::new(
            eperm_rules()?,
            SeccompAction::Allow,
            SeccompAction::Errno(libc::EPERM as u32),
            arch,
        )
        .map_err(io::Error::other)?;
        let mut program: BpfProgram = eperm.try_into().map_err(io::Error::other)?;
        // A second program, run first by the kernel: clone3 answers ENOSYS; and on x86_64 the
        // x32 system-call numbers (bit 30 set), which would otherwise slip past every number
        // above, are refused.
        let enosys = SeccompFilter::new(
            BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
            SeccompAction::Allow,
            SeccompAction::Errno(libc::ENOSYS as u32),
            arch,
        )
        .map_err(io::Error::other)?;
        let enosys: BpfProgram = enosys.try_into().map_err(io::Error::other)?;
        program.push(separator());
        program.extend(x32_guard());
        program.push(separator());
        program.extend(enosys);
        Ok(Filter { program })
    }

    /// The filter as text for the launcher's spec: the programs, each instruction as 16 hex
    /// digits, programs separated by `/`.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(self.program.len() * 17);
        for ins in &self.program {
            if is_separator(ins) {
                out.push('/');
                continue;
            }
            let word = (u64::from(ins.code) << 48)
                | (u64::from(ins.jt) << 40)
                | (u64::from(ins.jf) << 32)
                | u64::from(ins.k);
            out.push_str(&format!("{word:016x}"));
        }
        out
    }
}

/// Marks the boundary between programs in the in-memory list (never installed).
fn separator() -> seccompiler::sock_filter {
    seccompiler::sock_filter {
        code: 0xffff,
        jt: 0xff,
        jf: 0xff,
        k: 0xffff_ffff,
    }
}

fn is_separator(ins: &seccompiler::sock_filter) -> bool {
    *ins == separator()
}

/// A hand-written program: `EPERM` for any system-call number with the x32 bit set.
fn x32_guard() -> Vec<seccompiler::sock_filter> {
    const LD_NR: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JGE: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
    const RET: u16 = 0x06; // BPF_RET | BPF_K
    const X32_BIT: u32 = 0x4000_0000;
    let ins = |code, jt, jf, k| seccompiler::sock_filter { code, jt, jf, k };
    vec![
        ins(LD_NR, 0, 0, 0), // offsetof(struct seccomp_data, nr)
        ins(JGE, 0, 1, X32_BIT),
        ins(RET, 0, 0, 0x0005_0000 | libc::EPERM as u32), // SECCOMP_RET_ERRNO
        ins(RET, 0, 0, 0x7fff_0000),                      // SECCOMP_RET_ALLOW
    ]
}

/// Decodes [`Filter::encode`]'s text into the programs to install.
pub fn decode(text: &str) -> io::Result<Vec<Vec<libc::sock_filter>>> {
    text.split('/')
        .filter(|p| !p.is_empty())
        .map(|prog| {
            if prog.len() % 16 != 0 {
                return Err(io::Error::other("bad filter length"));
            }
            (0..prog.len())
                .step_by(16)
                .map(|i| {
                    let word =
                        u64::from_str_radix(&prog[i..i + 16], 16).map_err(io::Error::other)?;
                    Ok(libc::sock_filter {
                        code: (word >> 48) as u16,
                        jt: (word >> 40) as u8,
                        jf: (word >> 32) as u8,
                        k: word as u32,
                    })
                })
                .collect()
        })
        .collect()
}

/// Installs the programs on the calling thread (which must have set `no_new_privs`).
pub fn install(programs: &[Vec<libc::sock_filter>]) -> io::Result<()> {
    for prog in programs {
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: the kernel copies the program from a valid pointer and length.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &fprog as *const libc::sock_fprog,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether this kernel filters system calls (`PR_GET_SECCOMP` answers instead of `EINVAL`).
pub fn available() -> bool {
    // SAFETY: a query without side effects.
    unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoded_filter_decodes_to_the_compiled_programs() {
        let filter = Filter::compile().unwrap();
        let programs = decode(&filter.encode()).unwrap();
        assert_eq!(programs.len(), 3);
        let total: usize = programs.iter().map(Vec::len).sum();
        assert_eq!(total + 2, filter.program.len());
        assert!(programs.iter().all(|p| !p.is_empty() && p.len() < 4096));
    }

    /// In a forked child (one thread, async-signal-safe calls only after the fork): install
    /// the filter and try calls it must refuse and calls it must let through.
    #[test]
    fn blocked_calls_fail_with_eperm_and_ordinary_ones_work() {
        if !available() {
            eprintln!("skipped: no seccomp in this kernel");
            return;
        }
        let programs = decode(&Filter::compile().unwrap().encode()).unwrap();
        // SAFETY: the child only makes raw system calls and leaves with _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let code = unsafe {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                let installed = install(&programs).is_ok();
                let errno = || *libc::__errno_location();
                let refused = |r: libc::c_long, want: i32| r == -1 && errno() == want;
                let checks = [
                    installed,
                    refused(
                        libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER),
                        libc::EPERM,
                    ),
                    refused(libc::syscall(libc::SYS_bpf, 0, 0, 0), libc::EPERM),
                    refused(libc::syscall(libc::SYS_userfaultfd, 0), libc::EPERM),
                    refused(libc::syscall(libc::SYS_io_uring_setup, 1, 0), libc::EPERM),
                    refused(libc::syscall(libc::SYS_clone3, 0, 0), libc::ENOSYS),
                    refused(
                        libc::syscall(
                            libc::SYS_clone,
                            libc::CLONE_NEWNET as libc::c_ulong,
                            0,
                            0,
                            0,
                            0,
                        ),
                        libc::EPERM,
                    ),
                    refused(
                        libc::syscall(libc::SYS_personality, 0x0004_0000),
                        libc::EPERM,
                    ),
                    libc::syscall(libc::SYS_getpid) > 0,
                    libc::syscall(libc::SYS_personality, 0xffff_ffffu64) >= 0,
                ];
                checks.iter().position(|ok| !ok).map_or(0, |i| i as i32 + 1)
            };
            // SAFETY: leaves the child at once.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status), "status {status}");
        assert_eq!(libc::WEXITSTATUS(status), 0, "check number that failed");
    }
}
