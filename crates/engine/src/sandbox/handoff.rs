//! How a pre-made sandbox (see `premade`) receives its function. The platform opens the
//! function's code (and layers) as detached, read-only mount trees (`open_tree` with
//! `OPEN_TREE_CLONE`, then `mount_setattr`) and sends their descriptors with the rest of the
//! specialisation over a `SOCK_SEQPACKET` socket to the environment's pid 1. Pid 1 has long
//! since pivoted into the environment's root, where no host path is reachable: it attaches
//! the trees with `move_mount`, which accepts a detached tree from another mount namespace,
//! resizes /tmp, and passes the program and environment on to the waiting runtime process.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The descriptor pid 1 of a pre-made sandbox receives its specialisation on.
pub const CONTROL_FD: RawFd = 3;

/// What turns a pre-made sandbox into one function's environment (the code and layers travel
/// beside it as descriptors, in that order).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Specialisation {
    pub exec: Exec,
    /// Size of the environment's /tmp, in MB.
    pub tmp_mb: u32,
    /// Whether a second descriptor, the layers' tree for `/opt`, follows the code's.
    pub opt: bool,
}

/// What the runtime process runs (a pre-started interpreter takes only the environment).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Exec {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// The largest specialisation message (environment variables are at most 4 KB on AWS; the
/// platform's own and the credentials add a few more).
pub const MAX_MESSAGE: usize = 256 * 1024;

const OPEN_TREE_CLONE: libc::c_uint = 1;
const AT_RECURSIVE: libc::c_uint = 0x8000;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;

/// The kernel's `struct mount_attr`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// A detached copy of the tree at `path`, read-only, without set-uid or device files: what a
/// pre-made sandbox's pid 1 attaches at `/var/task` or `/opt`.
pub fn read_only_tree(path: &Path) -> io::Result<OwnedFd> {
    let c =
        std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).map_err(io::Error::other)?;
    // SAFETY: a valid NUL-terminated path; open_tree returns a new descriptor we own.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            c.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | AT_RECURSIVE,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: just returned by the kernel, owned by nobody else.
    let tree = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: an empty path relative to our descriptor and a correctly sized attribute struct.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint | AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(tree)
}

/// Attaches a detached tree at `at` (in the caller's mount namespace).
pub fn attach(tree: RawFd, at: &std::ffi::CStr) -> io::Result<()> {
    // SAFETY: an empty path relative to the tree's descriptor, and a valid target path.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree,
            c"".as_ptr(),
            libc::AT_FDCWD,
            at.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A connected `SOCK_SEQPACKET` pair: one message per send, descriptors alongside.
pub fn socket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: socketpair writes two descriptors into a valid array; we own both.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both were just created.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Sends one message with up to three descriptors.
pub fn send(sock: RawFd, data: &[u8], fds: &[RawFd]) -> io::Result<()> {
    if data.len() > MAX_MESSAGE || fds.len() > 3 {
        return Err(io::Error::other("message too large"));
    }
    let mut space = [0u64; 8]; // at least CMSG_SPACE(3 * sizeof(int)) = 32 bytes, aligned
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: msghdr zeroed, then pointed at live buffers; the CMSG macros stay inside
    // `space`, which is large enough for three descriptors.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if !fds.is_empty() {
            let bytes = std::mem::size_of_val(fds) as u32;
            msg.msg_control = space.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(bytes) as usize;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(bytes) as usize;
            std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(cmsg).cast(), fds.len());
        }
        if libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Receives one message into `buf` and the descriptors that came with it; `Ok(None)` when the
/// other end closed without sending (the platform discarded the sandbox).
pub fn receive(sock: RawFd, buf: &mut [u8]) -> io::Result<Option<(usize, Vec<OwnedFd>)>> {
    let mut space = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: as in `send`; received descriptors are taken into ownership once each.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = space.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&space);
        let n = loop {
            let n = libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC);
            if n >= 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                break n;
            }
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut fds = Vec::new();
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                let count =
                    ((*cmsg).cmsg_len - libc::CMSG_LEN(0) as usize) / std::mem::size_of::<RawFd>();
                for i in 0..count {
                    fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
        if n == 0 && fds.is_empty() {
            return Ok(None);
        }
        if msg.msg_flags & libc::MSG_TRUNC != 0 {
            return Err(io::Error::other("specialisation truncated"));
        }
        Ok(Some((n as usize, fds)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_and_its_descriptors_cross_the_pair() {
        let (a, b) = socket_pair().unwrap();
        let file = std::fs::File::open("/proc/self/status").unwrap();
        send(a.as_raw_fd(), b"hello", &[file.as_raw_fd()]).unwrap();
        let mut buf = [0u8; 64];
        let (n, fds) = receive(b.as_raw_fd(), &mut buf).unwrap().unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(fds.len(), 1);
        drop(a);
        assert!(receive(b.as_raw_fd(), &mut buf).unwrap().is_none());
    }
}
