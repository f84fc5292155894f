//! Outbound networking through NAT (the `nat` network mode). At start the platform creates a
//! bridge (`stratus0`) with the first address of `nat_subnet` (the gateway), lets the kernel
//! forward packets arriving on it, and loads an nftables ruleset of its own ([`Plan::ruleset`]:
//! `table inet stratus` and `table bridge stratus`, replaced atomically) that masquerades what
//! leaves the subnet and decides what an environment may reach. Each environment gets a veth
//! pair: `eth0` in its network namespace, with an address from the subnet and a default route
//! through the gateway, and its peer attached to the bridge ([`Nat::attach`]). The veths go away
//! with the namespace; the address returns to the allocator when the environment ends.
//!
//! Whatever the lists say, an environment never reaches: the host itself (every packet from the
//! bridge to the host is dropped on input, so neither the gateway's address, the host's other
//! addresses nor its services answer); the loopback and link-local ranges (127.0.0.0/8,
//! 169.254.0.0/16: the cloud metadata service); another environment (frames between the
//! bridge's ports are dropped, and so is anything routed back into the subnet); anything over
//! IPv6 (environments have IPv4 only, so `::1` and `fe80::/10` are dropped with the rest). Then
//! `egress_deny` drops, and a non-empty `egress_allow` admits only what it lists.
//!
//! Forwarding: the kernel forwards a packet only if the interface it arrived on has forwarding
//! on. Outbound packets arrive on the bridge; replies arrive on the host's uplinks (the
//! interfaces its routes use) and are forwarded back once un-masqueraded. So forwarding is
//! turned on for the bridge and for each uplink that had it off, rather than globally; those
//! uplinks are noted (in the data directory, so a crashed platform's are known at the next
//! start) and the ruleset drops anything else arriving on them to be forwarded, so the host
//! does not become a router for its neighbours. At stop, the table and the bridge are deleted
//! and those uplinks get forwarding off again.

#![allow(unsafe_code)]

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// The bridge environments' veths are attached to.
pub const BRIDGE: &str = "stratus0";
/// The host end of each environment's veth is named this followed by a counter; the ruleset
/// matches the prefix.
const PORT_PREFIX: &str = "stratus-";
/// The subnet used when `nat_subnet` is not set.
pub const DEFAULT_SUBNET: &str = "10.213.0.0/16";
/// The file under the data directory naming the uplinks this platform turned forwarding on for.
const FORWARDING_FILE: &str = "nat-forwarding";

/// An IPv4 network in CIDR form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n` (or a bare address, a /32); the address must be the network's first.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (
                a,
                p.parse::<u8>()
                    .map_err(|_| format!("bad prefix in {s:?}"))?,
            ),
            None => (s, 32),
        };
        let addr: Ipv4Addr = addr.parse().map_err(|_| {
            format!("{s:?} is not an IPv4 address or CIDR (environments have IPv4 only)")
        })?;
        if prefix > 32 {
            return Err(format!("bad prefix in {s:?}"));
        }
        let cidr = Cidr { addr, prefix };
        if cidr.network() != addr {
            return Err(format!(
                "{s:?} has host bits set (the network is {}/{prefix})",
                cidr.network()
            ));
        }
        Ok(cidr)
    }

    fn mask(self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0)
    }

    fn network(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr)
    }

    /// How many addresses the network spans.
    fn size(self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    /// The `n`th address of the network.
    fn nth(self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) + n)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// One `egress_allow` / `egress_deny` entry: a network and optionally one port (TCP and UDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub net: Cidr,
    pub port: Option<u16>,
}

impl Rule {
    /// Parses `CIDR` or `CIDR:port`.
    pub fn parse(s: &str) -> Result<Rule, String> {
        let s = s.trim();
        let (net, port) = match s.rsplit_once(':') {
            Some((net, port)) => {
                let port = port
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| format!("bad port in {s:?}"))?;
                (net, Some(port))
            }
            None => (s, None),
        };
        Ok(Rule {
            net: Cidr::parse(net)?,
            port,
        })
    }

    fn matches(&self, ip: Ipv4Addr, port: u16) -> bool {
        self.net.contains(ip) && self.port.is_none_or(|p| p == port)
    }

    /// The nftables match for this rule.
    fn nft_match(&self) -> String {
        match self.port {
            Some(port) => format!(
                "ip daddr {} meta l4proto {{ tcp, udp }} th dport {port}",
                self.net
            ),
            None => format!("ip daddr {}", self.net),
        }
    }
}

/// What the `nat` mode was configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub subnet: Cidr,
    pub allow: Vec<Rule>,
    pub deny: Vec<Rule>,
}

/// Destinations no environment reaches, whatever the lists say (besides its own subnet).
const ALWAYS_DENIED: [&str; 2] = ["127.0.0.0/8", "169.254.0.0/16"];

impl Plan {
    pub fn parse(subnet: &str, allow: &[String], deny: &[String]) -> Result<Plan, String> {
        let subnet = Cidr::parse(subnet).map_err(|e| format!("nat_subnet: {e}"))?;
        if !(8..=28).contains(&subnet.prefix) {
            return Err(format!(
                "nat_subnet: {subnet} must be between a /8 and a /28"
            ));
        }
        if !subnet.addr.is_private() {
            return Err(format!(
                "nat_subnet: {subnet} is not a private range (10/8, 172.16/12, 192.168/16)"
            ));
        }
        let rules = |list: &[String], name: &str| {
            list.iter()
                .filter(|s| !s.trim().is_empty())
                .map(|s| Rule::parse(s).map_err(|e| format!("{name}: {e}")))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Plan {
            subnet,
            allow: rules(allow, "egress_allow")?,
            deny: rules(deny, "egress_deny")?,
        })
    }

    /// The bridge's address, which environments route through.
    pub fn gateway(&self) -> Ipv4Addr {
        self.subnet.nth(1)
    }

    /// Whether an environment may open a connection to `ip:port` (the ruleset's egress chain,
    /// evaluated here to choose a reachable name server).
    pub fn reaches(&self, ip: Ipv4Addr, port: u16) -> bool {
        let always = ALWAYS_DENIED
            .iter()
            .filter_map(|c| Cidr::parse(c).ok())
            .any(|c| c.contains(ip));
        if always || self.subnet.contains(ip) || self.deny.iter().any(|r| r.matches(ip, port)) {
            return false;
        }
        self.allow.is_empty() || self.allow.iter().any(|r| r.matches(ip, port))
    }

    /// The nftables ruleset, loaded with `nft -f -` in one transaction: each table is created
    /// (so that deleting it cannot fail), deleted, and created again with its rules, so a
    /// previous platform's leftovers are replaced atomically. `uplinks` are the interfaces this
    /// platform turned forwarding on for (see the module's comment).
    pub fn ruleset(&self, uplinks: &[String]) -> String {
        let subnet = self.subnet;
        let port = format!("{PORT_PREFIX}*");
        let mut egress = String::new();
        for rule in &self.deny {
            let _ = writeln!(egress, "\t\t{} drop", rule.nft_match());
        }
        for rule in &self.allow {
            let _ = writeln!(egress, "\t\t{} accept", rule.nft_match());
        }
        if !self.allow.is_empty() {
            egress.push_str("\t\tdrop\n");
        }
        let uplinks = if uplinks.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = uplinks.iter().map(|u| format!("\"{u}\"")).collect();
            format!(
                "\t\t# The host forwards nothing else because the platform turned forwarding on.\n\
                 \t\tiifname {{ {} }} drop\n",
                names.join(", ")
            )
        };
        let always = ALWAYS_DENIED.join(", ");
        format!(
            "table inet stratus
delete table inet stratus
table bridge stratus
delete table bridge stratus
table inet stratus {{
\tchain input {{
\t\ttype filter hook input priority filter; policy accept;
\t\t# Nothing from an environment reaches the host: not the gateway, not a host service.
\t\tiifname \"{BRIDGE}\" drop
\t\tiifname \"{port}\" drop
\t}}
\tchain forward {{
\t\ttype filter hook forward priority filter; policy accept;
\t\t# Replies to what environments opened; nothing else enters the subnet.
\t\toifname \"{BRIDGE}\" ct state established,related accept
\t\toifname \"{BRIDGE}\" drop
\t\tiifname \"{BRIDGE}\" jump egress
{uplinks}\t}}
\tchain egress {{
\t\tip saddr != {subnet} drop
\t\t# Environments have IPv4 only: no ::1, no fe80::/10, nothing over IPv6.
\t\tmeta nfproto ipv6 drop
\t\tip daddr {{ {always}, {subnet} }} drop
{egress}\t}}
\tchain postrouting {{
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\tip saddr {subnet} oifname != \"{BRIDGE}\" masquerade
\t}}
}}
table bridge stratus {{
\tchain forward {{
\t\ttype filter hook forward priority filter; policy accept;
\t\t# No frame passes from one environment's port to another's.
\t\tiifname \"{port}\" drop
\t}}
}}
"
        )
    }
}

/// The interfaces the host's IPv4 routes use, from `/proc/net/route`, but loopback and the
/// bridge: where replies to environments come back from.
pub fn route_interfaces(proc_net_route: &str) -> Vec<String> {
    let names: BTreeSet<&str> = proc_net_route
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "lo" && *name != BRIDGE && !name.starts_with(PORT_PREFIX))
        .collect();
    names.into_iter().map(String::from).collect()
}

/// The host's resolver configuration with only the name servers an environment can reach;
/// `None` when none is left (the environment then keeps the host's file, as in other modes).
pub fn resolv_conf_for(host: &str, plan: &Plan) -> Option<String> {
    let mut kept = 0;
    let mut out = String::new();
    for line in host.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver") {
            let reachable = words
                .next()
                .and_then(|a| a.parse::<IpAddr>().ok())
                .is_some_and(|ip| matches!(ip, IpAddr::V4(v4) if plan.reaches(v4, 53)));
            if !reachable {
                continue;
            }
            kept += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    (kept > 0).then_some(out)
}

/// Hands out the subnet's addresses (offsets from its first: 0 is the network, 1 the gateway,
/// the last the broadcast address). Round robin, so an address just released (whose old MAC
/// may linger in the host's neighbour cache) is the last to be reused.
#[derive(Debug)]
struct Allocator {
    used: BTreeSet<u32>,
    next: u32,
    last: u32,
}

impl Allocator {
    fn new(subnet: Cidr) -> Allocator {
        Allocator {
            used: BTreeSet::new(),
            next: 2,
            last: (subnet.size() - 2) as u32,
        }
    }

    fn allocate(&mut self) -> Option<u32> {
        let span = self.last - 1;
        for i in 0..span {
            let candidate = 2 + (self.next - 2 + i) % span;
            if self.used.insert(candidate) {
                self.next = if candidate == self.last {
                    2
                } else {
                    candidate + 1
                };
                return Some(candidate);
            }
        }
        None
    }

    fn release(&mut self, offset: u32) {
        self.used.remove(&offset);
    }
}

/// The running NAT: the bridge, the ruleset and the address allocator.
pub struct Nat {
    plan: Plan,
    addresses: Arc<Mutex<Allocator>>,
    ports: AtomicU32,
    /// Uplinks this platform turned forwarding on for, and where they are noted.
    uplinks: Vec<String>,
    noted: PathBuf,
    stopped: AtomicBool,
}

/// An environment's address, returned to the allocator when dropped.
pub struct Lease {
    pub address: Ipv4Addr,
    offset: u32,
    addresses: Arc<Mutex<Allocator>>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Ok(mut a) = self.addresses.lock() {
            a.release(self.offset);
        }
    }
}

impl Nat {
    /// Sets up the bridge and the ruleset, replacing what a previous platform left.
    pub fn start(plan: Plan, data_dir: &Path) -> io::Result<Nat> {
        for (program, package) in [("nft", "nftables"), ("ip", "iproute2")] {
            if !command_works(program) {
                return Err(io::Error::other(format!(
                    "network = nat needs the `{program}` command (Debian package {package})"
                )));
            }
        }
        let noted = data_dir.join(FORWARDING_FILE);
        // A crashed platform's uplinks are still ours to turn off at stop.
        let mut uplinks: BTreeSet<String> = std::fs::read_to_string(&noted)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        let routes = std::fs::read_to_string("/proc/net/route")?;
        for name in route_interfaces(&routes) {
            if read_forwarding(&name) == Some(false) {
                uplinks.insert(name);
            }
        }
        let uplinks: Vec<String> = uplinks.into_iter().collect();
        // The rules go in before anything is forwarded.
        nft(&plan.ruleset(&uplinks))?;
        let nat = Nat {
            addresses: Arc::new(Mutex::new(Allocator::new(plan.subnet))),
            plan,
            ports: AtomicU32::new(0),
            uplinks,
            noted,
            stopped: AtomicBool::new(false),
        };
        if let Err(e) = nat.create_bridge() {
            nat.stop();
            return Err(e);
        }
        Ok(nat)
    }

    fn create_bridge(&self) -> io::Result<()> {
        // A previous platform's bridge (its environments died with it).
        let _ = ip_batch(&format!("link del {BRIDGE}\n"));
        ip_batch(&format!(
            "link add {BRIDGE} type bridge\naddress add {}/{} dev {BRIDGE}\n",
            self.plan.gateway(),
            self.plan.subnet.prefix
        ))?;
        // No IPv6 on the bridge: environments have none, and link-local addresses would
        // give them a path to the host the IPv4 rules do not describe.
        let _ = std::fs::write(
            format!("/proc/sys/net/ipv6/conf/{BRIDGE}/disable_ipv6"),
            "1",
        );
        ip_batch(&format!("link set {BRIDGE} up\n"))?;
        std::fs::write(&self.noted, self.uplinks.join("\n"))?;
        set_forwarding(BRIDGE, true)?;
        for uplink in &self.uplinks {
            set_forwarding(uplink, true)?;
        }
        Ok(())
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Gives the environment whose network namespace `ns` is a veth onto the bridge, with an
    /// address of its own and a default route through the gateway: four netlink requests from
    /// a thread inside the namespace and two ioctls outside, no process started.
    pub fn attach(&self, ns: &OwnedFd) -> io::Result<Lease> {
        let offset = self
            .addresses
            .lock()
            .map_err(|_| io::Error::other("address allocator poisoned"))?
            .allocate()
            .ok_or_else(|| {
                io::Error::other(format!("no free address left in {}", self.plan.subnet))
            })?;
        let lease = Lease {
            address: self.plan.subnet.nth(offset),
            offset,
            addresses: self.addresses.clone(),
        };
        let started = std::time::Instant::now();
        let (address, prefix, gateway) =
            (lease.address, self.plan.subnet.prefix, self.plan.gateway());
        // A host-side name can still be taken by an environment of an earlier server on this
        // bridge whose namespace has not gone yet (its processes die asynchronously): such a
        // name is skipped, not fatal.
        let mut attempts = 0;
        let port = loop {
            let n = self.ports.fetch_add(1, Ordering::Relaxed) % 10_000_000;
            let port = format!("{PORT_PREFIX}{n}");
            match veth_into(ns, &port, address, prefix, gateway) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 64 => {
                    attempts += 1
                }
                Err(e) => return Err(e),
                Ok(()) => break port,
            }
        };
        attach_to_bridge(&port)?;
        tracing::debug!(
            address = %lease.address,
            micros = started.elapsed().as_micros() as u64,
            "environment attached to the NAT bridge"
        );
        Ok(lease)
    }

    /// Deletes the ruleset and the bridge, and turns forwarding off again where this platform
    /// turned it on. Runs once.
    pub fn stop(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        for uplink in &self.uplinks {
            let _ = set_forwarding(uplink, false);
        }
        let _ = ip_batch(&format!("link del {BRIDGE}\n"));
        if let Err(e) = nft("delete table inet stratus\ndelete table bridge stratus\n") {
            tracing::warn!(%e, "removing the NAT ruleset");
        }
        let _ = std::fs::remove_file(&self.noted);
    }
}

impl Drop for Nat {
    fn drop(&mut self) {
        self.stop();
    }
}

fn command_works(program: &str) -> bool {
    Command::new(program)
        .arg("-V")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `program args` with `input` on its stdin; its error output becomes the error.
fn run_with_input(program: &str, args: &[&str], input: &str) -> io::Result<()> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if out.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

fn nft(ruleset: &str) -> io::Result<()> {
    run_with_input("nft", &["-f", "-"], ruleset)
}

fn ip_batch(commands: &str) -> io::Result<()> {
    run_with_input("ip", &["-batch", "-"], commands)
}

fn forwarding_path(interface: &str) -> String {
    format!("/proc/sys/net/ipv4/conf/{interface}/forwarding")
}

fn read_forwarding(interface: &str) -> Option<bool> {
    let text = std::fs::read_to_string(forwarding_path(interface)).ok()?;
    Some(text.trim() != "0")
}

fn set_forwarding(interface: &str, on: bool) -> io::Result<()> {
    std::fs::write(forwarding_path(interface), if on { "1" } else { "0" })
        .map_err(|e| io::Error::new(e.kind(), format!("forwarding on {interface}: {e}")))
}

/// `SIOCBRADDIF` (linux/sockios.h): adds an interface, by index, to a bridge.
const SIOCBRADDIF: libc::c_ulong = 0x89a2;

/// Creates the environment's `eth0` (its peer `port` in the platform's namespace) with its
/// address and default route: on a thread of its own inside the environment's namespace, over
/// netlink rather than an `ip` process (see `rtnl`).
fn veth_into(
    ns: &OwnedFd,
    port: &str,
    address: std::net::Ipv4Addr,
    prefix: u8,
    gateway: std::net::Ipv4Addr,
) -> io::Result<()> {
    let ns = ns.as_raw_fd();
    let platform = std::process::id();
    std::thread::scope(|scope| {
        scope
            .spawn(|| -> io::Result<()> {
                // SAFETY: setns only changes this short-lived thread's network namespace.
                if unsafe { libc::setns(ns, libc::CLONE_NEWNET) } != 0 {
                    return Err(io::Error::last_os_error());
                }
                let nl = super::rtnl::Rtnl::open()?;
                nl.add_veth("eth0", port, platform)?;
                let index = super::rtnl::index_of("eth0")?;
                nl.add_address(index, address, prefix)?;
                nl.set_up(index)?;
                nl.add_default_route(index, gateway)
            })
            .join()
            .map_err(|_| io::Error::other("network set-up thread panicked"))?
    })
}

/// Attaches the host end of a veth to the bridge and brings it up, with two ioctls.
fn attach_to_bridge(port: &str) -> io::Result<()> {
    let name = std::ffi::CString::new(port).map_err(io::Error::other)?;
    // SAFETY: if_nametoindex reads a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(io::Error::last_os_error());
    }
    let fill = |req: &mut libc::ifreq, ifname: &str| {
        for (dst, src) in req.ifr_name.iter_mut().zip(ifname.bytes().chain([0])) {
            *dst = src as libc::c_char;
        }
    };
    // SAFETY: socket/ioctl on zeroed, correctly sized ifreqs; the fd is closed below.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut bridge: libc::ifreq = std::mem::zeroed();
        fill(&mut bridge, BRIDGE);
        bridge.ifr_ifru.ifru_ifindex = index as libc::c_int;
        let mut result = if libc::ioctl(fd, SIOCBRADDIF as _, &bridge) < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        };
        if result.is_ok() {
            let mut req: libc::ifreq = std::mem::zeroed();
            fill(&mut req, port);
            result = if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) < 0 {
                Err(io::Error::last_os_error())
            } else {
                req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
                if libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(())
                }
            };
        }
        libc::close(fd);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(allow: &[&str], deny: &[&str]) -> Plan {
        let owned = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Plan::parse("10.213.0.0/16", &owned(allow), &owned(deny)).unwrap()
    }

    #[test]
    fn rules_parse_with_and_without_a_port() {
        assert_eq!(
            Rule::parse("10.0.0.0/8").unwrap(),
            Rule {
                net: Cidr::parse("10.0.0.0/8").unwrap(),
                port: None
            }
        );
        let r = Rule::parse(" 192.0.2.7:443 ").unwrap();
        assert_eq!(r.net.to_string(), "192.0.2.7/32");
        assert_eq!(r.port, Some(443));
        for bad in [
            "10.0.0.1/8",
            "10.0.0.0/33",
            "10.0.0.0/8:0",
            "10.0.0.0/8:http",
            "::1/128",
            "example.com",
        ] {
            assert!(Rule::parse(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn the_subnet_must_be_private_and_sized_for_environments() {
        assert_eq!(plan(&[], &[]).gateway(), Ipv4Addr::new(10, 213, 0, 1));
        for bad in ["8.8.0.0/16", "10.0.0.0/30", "10.213.0.1/16", "10.213.0.0"] {
            assert!(Plan::parse(bad, &[], &[]).is_err(), "{bad} accepted");
        }
        let e = Plan::parse("10.213.0.0/16", &[], &["nope".into()]).unwrap_err();
        assert!(e.starts_with("egress_deny:"), "{e}");
    }

    #[test]
    fn reachability_follows_the_fixed_drops_then_deny_then_allow() {
        let open = plan(&[], &[]);
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert!(open.reaches(ip("192.0.2.1"), 80));
        for never in ["127.0.0.1", "169.254.169.254", "10.213.0.1", "10.213.5.9"] {
            assert!(!open.reaches(ip(never), 80), "{never}");
        }
        let denied = plan(&[], &["192.0.2.0/24:53"]);
        assert!(!denied.reaches(ip("192.0.2.1"), 53));
        assert!(denied.reaches(ip("192.0.2.1"), 80));
        let allowed = plan(&["198.51.100.0/24"], &["198.51.100.9"]);
        assert!(allowed.reaches(ip("198.51.100.1"), 80));
        assert!(!allowed.reaches(ip("198.51.100.9"), 80));
        assert!(!allowed.reaches(ip("192.0.2.1"), 80));
    }

    #[test]
    fn the_ruleset_replaces_both_tables_and_orders_deny_before_allow() {
        let text = plan(&["198.51.100.0/24"], &["198.51.100.9:22"]).ruleset(&["eth0".into()]);
        assert!(
            text.starts_with("table inet stratus\ndelete table inet stratus\n"),
            "{text}"
        );
        assert!(text.contains("table bridge stratus {"), "{text}");
        let deny = text
            .find("ip daddr 198.51.100.9/32 meta l4proto { tcp, udp } th dport 22 drop")
            .expect("deny rule");
        let allow = text
            .find("ip daddr 198.51.100.0/24 accept")
            .expect("allow rule");
        assert!(deny < allow, "{text}");
        let last_drop = text.rfind("\t\tdrop\n").expect("default drop");
        assert!(allow < last_drop, "{text}");
        assert!(text.contains("iifname { \"eth0\" } drop"), "{text}");
        assert!(text.contains("ip daddr { 127.0.0.0/8, 169.254.0.0/16, 10.213.0.0/16 } drop"));
        assert!(text.contains("ip saddr 10.213.0.0/16 oifname != \"stratus0\" masquerade"));
        // Without an allow list nothing is dropped by default, and no uplink rule is written.
        let open = plan(&[], &[]).ruleset(&[]);
        assert!(!open.contains("\t\tdrop\n"), "{open}");
        assert!(!open.contains("iifname {"), "{open}");
    }

    #[test]
    fn the_kernel_accepts_the_ruleset() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 || !command_works("nft") {
            eprintln!("skipped: needs root and the nft command");
            return;
        }
        let text = plan(&["198.51.100.0/24", "192.0.2.1:443"], &["198.51.100.9:22"])
            .ruleset(&["eth0".into(), "veth9".into()]);
        // `-c`: checked by the kernel, then rolled back.
        run_with_input("nft", &["-c", "-f", "-"], &text).unwrap();
    }

    #[test]
    fn uplinks_are_the_interfaces_of_routes_but_loopback_and_ours() {
        let routes = "Iface\tDestination\tGateway\nEth0\t00000000\t010200C0\neth0\t000200C0\t0\n\
                      stratus0\t0000D50A\t0\nstratus-4\t0\t0\nlo\t0\t0\nveth9\t0\t0\n";
        assert_eq!(route_interfaces(routes), vec!["Eth0", "eth0", "veth9"]);
    }

    #[test]
    fn resolv_conf_keeps_only_reachable_name_servers() {
        let host = "search example\nnameserver 127.0.0.53\nnameserver 192.0.2.53\noptions edns0\n";
        assert_eq!(
            resolv_conf_for(host, &plan(&[], &[])).unwrap(),
            "search example\nnameserver 192.0.2.53\noptions edns0\n"
        );
        assert_eq!(resolv_conf_for(host, &plan(&[], &["192.0.2.0/24"])), None);
        assert_eq!(
            resolv_conf_for("nameserver 169.254.169.253\n", &plan(&[], &[])),
            None
        );
    }

    #[test]
    fn addresses_are_handed_out_round_robin_and_released() {
        let mut a = Allocator::new(Cidr::parse("10.0.0.0/29").unwrap());
        // .0 network, .1 gateway, .7 broadcast: .2 to .6.
        let got: Vec<u32> = (0..5).map(|_| a.allocate().unwrap()).collect();
        assert_eq!(got, vec![2, 3, 4, 5, 6]);
        assert_eq!(a.allocate(), None);
        a.release(3);
        a.release(5);
        // The next after the last handed out, wrapping round.
        assert_eq!(a.allocate(), Some(3));
        assert_eq!(a.allocate(), Some(5));
        assert_eq!(a.allocate(), None);
    }
}
