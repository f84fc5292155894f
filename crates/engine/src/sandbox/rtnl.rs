//! The few route-netlink requests an environment's `eth0` needs, built by hand: a veth pair
//! whose peer is moved to another namespace, an address, the link up, a default route. They
//! act on the network namespace of the thread that opens the socket.

#![allow(unsafe_code)]

use std::io;
use std::net::Ipv4Addr;

const RTM_NEWLINK: u16 = 16;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_PID: u16 = 19;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_BOOT: u8 = 3;
const RTN_UNICAST: u8 = 1;
const RTNH_F_ONLINK: u32 = 4;

/// A netlink message under construction: the header, then the request's fixed part and its
/// attributes, each padded to four bytes.
struct Message(Vec<u8>);

impl Message {
    fn new(kind: u16, flags: u16) -> Message {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set in `finish`
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        buf.extend_from_slice(&1u32.to_ne_bytes()); // sequence
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port: the kernel
        Message(buf)
    }

    fn bytes(&mut self, b: &[u8]) -> &mut Message {
        self.0.extend_from_slice(b);
        while !self.0.len().is_multiple_of(4) {
            self.0.push(0);
        }
        self
    }

    /// `struct ifinfomsg`: family, type, index, flags, change.
    fn ifinfo(&mut self, index: i32, flags: u32, change: u32) -> &mut Message {
        let mut b = vec![libc::AF_UNSPEC as u8, 0, 0, 0];
        b.extend_from_slice(&index.to_ne_bytes());
        b.extend_from_slice(&flags.to_ne_bytes());
        b.extend_from_slice(&change.to_ne_bytes());
        self.bytes(&b)
    }

    fn attr(&mut self, kind: u16, payload: &[u8]) -> &mut Message {
        let len = (4 + payload.len()) as u16;
        self.0.extend_from_slice(&len.to_ne_bytes());
        self.0.extend_from_slice(&kind.to_ne_bytes());
        self.bytes(payload)
    }

    /// An attribute holding the attributes `inner` adds.
    fn nested(&mut self, kind: u16, inner: impl FnOnce(&mut Message)) -> &mut Message {
        let start = self.0.len();
        self.0.extend_from_slice(&[0; 4]);
        inner(self);
        let len = (self.0.len() - start) as u16;
        self.0[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self.0[start + 2..start + 4].copy_from_slice(&kind.to_ne_bytes());
        self
    }

    fn finish(&mut self) -> &[u8] {
        let len = self.0.len() as u32;
        self.0[..4].copy_from_slice(&len.to_ne_bytes());
        &self.0
    }
}

fn name_attr(name: &str) -> Vec<u8> {
    let mut b = name.as_bytes().to_vec();
    b.push(0);
    b
}

/// A route-netlink socket in the calling thread's network namespace.
pub struct Rtnl(i32);

impl Drop for Rtnl {
    fn drop(&mut self) {
        // SAFETY: closing the socket this value owns.
        unsafe { libc::close(self.0) };
    }
}

impl Rtnl {
    pub fn open() -> io::Result<Rtnl> {
        // SAFETY: plain socket call; the fd is owned by the returned value.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Rtnl(fd))
    }

    /// Sends one request and waits for the kernel's acknowledgement (an error code).
    fn request(&self, msg: &mut Message, what: &str) -> io::Result<()> {
        let bytes = msg.finish();
        // SAFETY: sending a valid buffer on our socket; the kernel is the default destination
        // of an unbound, unconnected netlink socket's send.
        let sent = unsafe {
            let mut to: libc::sockaddr_nl = std::mem::zeroed();
            to.nl_family = libc::AF_NETLINK as u16;
            libc::sendto(
                self.0,
                bytes.as_ptr().cast(),
                bytes.len(),
                0,
                (&to as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = [0u8; 1024];
        // SAFETY: receiving into a valid buffer.
        let n = unsafe { libc::recv(self.0, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        // nlmsghdr (16 bytes), then for NLMSG_ERROR a negative errno (0: acknowledged).
        if n < 20 || u16::from_ne_bytes([buf[4], buf[5]]) != NLMSG_ERROR {
            return Err(io::Error::other(format!(
                "{what}: unexpected netlink answer"
            )));
        }
        let code = i32::from_ne_bytes([buf[16], buf[17], buf[18], buf[19]]);
        if code == 0 {
            return Ok(());
        }
        let e = io::Error::from_raw_os_error(-code);
        Err(io::Error::new(e.kind(), format!("{what}: {e}")))
    }

    /// Creates a veth pair: `inside` here, `peer` moved to the network namespace of `pid`.
    pub fn add_veth(&self, inside: &str, peer: &str, pid: u32) -> io::Result<()> {
        let mut msg = Message::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
        msg.ifinfo(0, 0, 0)
            .attr(IFLA_IFNAME, &name_attr(inside))
            .nested(IFLA_LINKINFO, |m| {
                m.attr(IFLA_INFO_KIND, b"veth").nested(IFLA_INFO_DATA, |m| {
                    m.nested(VETH_INFO_PEER, |m| {
                        m.ifinfo(0, 0, 0)
                            .attr(IFLA_IFNAME, &name_attr(peer))
                            .attr(IFLA_NET_NS_PID, &pid.to_ne_bytes());
                    });
                });
            });
        self.request(&mut msg, "creating the veth pair")
    }

    pub fn add_address(&self, index: u32, addr: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let mut msg = Message::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
        // struct ifaddrmsg: family, prefix length, flags, scope, index.
        let mut fixed = vec![libc::AF_INET as u8, prefix, 0, 0];
        fixed.extend_from_slice(&index.to_ne_bytes());
        msg.bytes(&fixed)
            .attr(IFA_LOCAL, &addr.octets())
            .attr(IFA_ADDRESS, &addr.octets());
        self.request(&mut msg, "adding the address")
    }

    pub fn set_up(&self, index: u32) -> io::Result<()> {
        let up = libc::IFF_UP as u32;
        let mut msg = Message::new(RTM_NEWLINK, 0);
        msg.ifinfo(index as i32, up, up);
        self.request(&mut msg, "bringing the link up")
    }

    /// A default route through `gateway` on interface `index`, on-link (the gateway is on the
    /// interface's subnet, whether or not its carrier is up yet).
    pub fn add_default_route(&self, index: u32, gateway: Ipv4Addr) -> io::Result<()> {
        let mut msg = Message::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
        // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
        let mut fixed = vec![
            libc::AF_INET as u8,
            0,
            0,
            0,
            RT_TABLE_MAIN,
            RTPROT_BOOT,
            0,
            RTN_UNICAST,
        ];
        fixed.extend_from_slice(&RTNH_F_ONLINK.to_ne_bytes());
        msg.bytes(&fixed)
            .attr(RTA_GATEWAY, &gateway.octets())
            .attr(RTA_OIF, &index.to_ne_bytes());
        self.request(&mut msg, "adding the default route")
    }
}

/// The index of interface `name` in the calling thread's network namespace.
pub fn index_of(name: &str) -> io::Result<u32> {
    let c = std::ffi::CString::new(name).map_err(io::Error::other)?;
    // SAFETY: if_nametoindex reads a valid NUL-terminated string.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(io::Error::last_os_error()),
        i => Ok(i),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_nested_lengths_cover_their_contents() {
        let mut m = Message::new(RTM_NEWLINK, NLM_F_CREATE);
        m.attr(IFLA_IFNAME, &name_attr("eth0"))
            .nested(IFLA_LINKINFO, |m| {
                m.attr(IFLA_INFO_KIND, b"veth");
            });
        let bytes = m.finish().to_vec();
        assert_eq!(
            u32::from_ne_bytes(bytes[..4].try_into().unwrap()) as usize,
            bytes.len()
        );
        // "eth0\0": 4 + 5 = 9 bytes, padded to 12.
        assert_eq!(u16::from_ne_bytes([bytes[16], bytes[17]]), 9);
        assert_eq!(&bytes[20..25], b"eth0\0");
        // The nested attribute at 28: its own 4 bytes and the 8 of "veth"'s attribute.
        assert_eq!(u16::from_ne_bytes([bytes[28], bytes[29]]), 12);
        assert_eq!(u16::from_ne_bytes([bytes[30], bytes[31]]), IFLA_LINKINFO);
        assert!(bytes.len().is_multiple_of(4));
    }

    /// Root only: the requests, run in a new network namespace on a thread of their own.
    #[test]
    fn a_veth_gets_its_address_link_and_route() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root");
            return;
        }
        let result = std::thread::spawn(|| -> io::Result<String> {
            // SAFETY: unshare only changes this thread's namespace membership.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            let nl = Rtnl::open()?;
            // The peer goes to the namespace of the task named: this thread's own (by its tid),
            // so both ends stay here.
            // SAFETY: gettid has no preconditions.
            let tid = unsafe { libc::gettid() } as u32;
            nl.add_veth("eth0", "peer0", tid)?;
            let index = index_of("eth0")?;
            index_of("peer0")?;
            nl.add_address(index, Ipv4Addr::new(10, 213, 0, 2), 16)?;
            nl.set_up(index)?;
            nl.add_default_route(index, Ipv4Addr::new(10, 213, 0, 1))?;
            // A second, identical route is refused: the first one exists.
            let again = nl.add_default_route(index, Ipv4Addr::new(10, 213, 0, 1));
            assert_eq!(again.unwrap_err().kind(), io::ErrorKind::AlreadyExists);
            std::fs::read_to_string("/proc/thread-self/net/route")
        })
        .join()
        .unwrap()
        .unwrap();
        // The default route on eth0; the gateway is printed as the raw address in hex.
        let line = result
            .lines()
            .find(|l| l.starts_with("eth0\t00000000"))
            .unwrap_or_else(|| panic!("no default route:\n{result}"));
        let gateway = u32::from_str_radix(line.split('\t').nth(2).unwrap(), 16).unwrap();
        assert_eq!(
            Ipv4Addr::from(gateway.to_ne_bytes()),
            Ipv4Addr::new(10, 213, 0, 1)
        );
    }
}
