//! Network namespaces for execution environments. A namespace is created on a short-lived
//! thread, its loopback brought up, and listening sockets bound inside it; a socket stays in the
//! namespace it was created in, so the platform can accept on it from outside while only
//! processes inside the namespace can connect. The environment's processes join the namespace
//! through the returned handle.

#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::net::TcpListener;
use std::os::fd::OwnedFd;

/// A network namespace with the two listeners an environment needs.
pub struct NetNs {
    /// Handle used by `setns` in the child.
    pub handle: OwnedFd,
    /// The Runtime API, at 127.0.0.1:9001 inside (where AWS's runtime clients expect it).
    pub runtime_api: TcpListener,
    /// The platform's AWS endpoint, offered inside at the platform's own port (none in the
    /// `none` network mode).
    pub endpoint: Option<TcpListener>,
}

pub const RUNTIME_API_PORT: u16 = 9001;

pub fn create(endpoint_port: Option<u16>) -> io::Result<NetNs> {
    std::thread::spawn(move || -> io::Result<NetNs> {
        // SAFETY: unshare only changes this short-lived thread's own namespace membership.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        loopback_up()?;
        let runtime_api = TcpListener::bind(("127.0.0.1", RUNTIME_API_PORT))?;
        runtime_api.set_nonblocking(true)?;
        let endpoint = match endpoint_port {
            Some(port) => {
                let endpoint = TcpListener::bind(("127.0.0.1", port))?;
                endpoint.set_nonblocking(true)?;
                Some(endpoint)
            }
            None => None,
        };
        let handle = File::open("/proc/thread-self/ns/net")?.into();
        Ok(NetNs {
            handle,
            runtime_api,
            endpoint,
        })
    })
    .join()
    .map_err(|_| io::Error::other("namespace thread panicked"))?
}

/// Sets `lo` up in the calling thread's network namespace.
fn loopback_up() -> io::Result<()> {
    // SAFETY: plain socket/ioctl calls on a zeroed, correctly sized ifreq; the fd is closed below.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        let result = if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) < 0 {
            Err(io::Error::last_os_error())
        } else {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        };
        libc::close(fd);
        result
    }
}
