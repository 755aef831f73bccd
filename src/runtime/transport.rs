//! UDP transport: interface selection, the well-known RTPS ports and the
//! sockets of one participant.
//!
//! Every socket that can send sets `IP_MULTICAST_IF` to the chosen
//! interface's address, and the SPDP group is joined on that interface only,
//! so multicast never leaves through another interface.

use socket2::{Domain, Protocol, Socket, Type};
use starling_proto::wire::types::Locator;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

/// The default SPDP multicast group.
pub const SPDP_MULTICAST_GROUP: Ipv4Addr = Ipv4Addr::new(239, 255, 0, 1);
/// Largest valid domain id (its ports still fit under 65535).
pub const MAX_DOMAIN_ID: u32 = 232;
/// Participant indices tried when binding the unicast sockets.
pub const MAX_PARTICIPANT_INDEX: u32 = 120;
/// Default number of localhost participant indices SPDP is sent to (0..N).
pub const DEFAULT_LOCALHOST_PEERS: u32 = 20;
/// Participant indices a `--peer` without a port expands to (0..N).
pub const PEER_INDEX_RANGE: u32 = 10;

const PB: u32 = 7400;
const DG: u32 = 250;
const PG: u32 = 2;
const D1: u32 = 10;
const D2: u32 = 1;
const D3: u32 = 11;
const SOCKET_BUFFER: usize = 4 * 1024 * 1024;

/// Transport set-up errors; each names the offending value.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Domain id outside 0..=232.
    #[error("invalid domain id {0}: must be 0..={MAX_DOMAIN_ID}")]
    BadDomain(u32),
    /// No IPv4 interface with this name or address.
    #[error("unknown network interface '{0}' (give an interface name such as 'lo' or an IPv4 address of this host)")]
    UnknownInterface(String),
    /// A `--peer` value that is not an IPv4 address or address:port.
    #[error("invalid peer '{0}': expected an IPv4 address or ADDRESS:PORT")]
    BadPeer(String),
    /// Every participant index in range had a port in use.
    #[error("no free participant index in 0..{MAX_PARTICIPANT_INDEX} for domain {0}")]
    NoParticipantIndex(u32),
    /// Listing interfaces or creating a socket failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        source: io::Error,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> TransportError {
    let context = context.into();
    move |source| TransportError::Io { context, source }
}

/// Checks a domain id.
pub fn check_domain(domain: u32) -> Result<(), TransportError> {
    if domain > MAX_DOMAIN_ID {
        Err(TransportError::BadDomain(domain))
    } else {
        Ok(())
    }
}

fn port(value: u32) -> Option<u16> {
    u16::try_from(value).ok()
}

/// SPDP (metatraffic) multicast port: 7400 + 250·d.
pub fn spdp_multicast_port(domain: u32) -> Option<u16> {
    port(PB + DG * domain)
}

/// User-data multicast port: 7401 + 250·d.
pub fn user_multicast_port(domain: u32) -> Option<u16> {
    port(PB + DG * domain + D2)
}

/// Metatraffic unicast port: 7410 + 250·d + 2·pid.
pub fn metatraffic_unicast_port(domain: u32, pid: u32) -> Option<u16> {
    port(PB + DG * domain + D1 + PG * pid)
}

/// User-data unicast port: 7411 + 250·d + 2·pid.
pub fn user_unicast_port(domain: u32, pid: u32) -> Option<u16> {
    port(PB + DG * domain + D3 + PG * pid)
}

/// The network interface a participant uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetInterface {
    /// Interface name ("lo", "eth0").
    pub name: String,
    /// Its IPv4 address, advertised in locators and used for multicast.
    pub addr: Ipv4Addr,
    /// True for the loopback interface.
    pub loopback: bool,
}

/// One IPv4 address of an interface, with its flags (as far as known).
#[derive(Clone, Debug)]
pub struct InterfaceInfo {
    /// The interface.
    pub iface: NetInterface,
    /// IFF_UP (assumed true when unknown).
    pub up: bool,
    /// IFF_MULTICAST (assumed true when unknown).
    pub multicast: bool,
}

fn interface_flags(name: &str) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{name}/flags")).ok()?;
    u32::from_str_radix(text.trim().trim_start_matches("0x"), 16).ok()
}

/// Lists this host's IPv4 interfaces.
pub fn list_interfaces() -> Result<Vec<InterfaceInfo>, TransportError> {
    let addrs = if_addrs::get_if_addrs().map_err(io_err("listing network interfaces"))?;
    Ok(addrs
        .into_iter()
        .filter_map(|i| match i.ip() {
            std::net::IpAddr::V4(addr) => {
                let flags = interface_flags(&i.name);
                Some(InterfaceInfo {
                    up: flags.is_none_or(|f| f & 0x1 != 0),
                    multicast: flags.is_none_or(|f| f & 0x1000 != 0),
                    iface: NetInterface { loopback: addr.is_loopback(), name: i.name, addr },
                })
            }
            std::net::IpAddr::V6(_) => None,
        })
        .collect())
}

/// Picks an interface from `available` by name or address, or the default:
/// the first up, multicast-capable, non-loopback one, else loopback.
pub fn choose_interface(spec: Option<&str>, available: &[InterfaceInfo]) -> Result<NetInterface, TransportError> {
    match spec {
        Some(spec) => {
            let spec = spec.trim();
            let by_addr: Option<Ipv4Addr> = spec.parse().ok();
            available
                .iter()
                .find(|i| i.iface.name == spec || Some(i.iface.addr) == by_addr)
                .map(|i| i.iface.clone())
                .ok_or_else(|| TransportError::UnknownInterface(spec.to_string()))
        }
        None => Ok(available
            .iter()
            .find(|i| i.up && i.multicast && !i.iface.loopback)
            .or_else(|| available.iter().find(|i| i.iface.loopback))
            .map(|i| i.iface.clone())
            .unwrap_or(NetInterface { name: "lo".into(), addr: Ipv4Addr::LOCALHOST, loopback: true })),
    }
}

/// Selects the interface named or addressed by `spec` (or the default) on this host.
pub fn select_interface(spec: Option<&str>) -> Result<NetInterface, TransportError> {
    choose_interface(spec, &list_interfaces()?)
}

/// Parses a `--peer` value: `ADDR:PORT` is used as is; `ADDR` alone expands to
/// the metatraffic unicast ports of participant indices `0..PEER_INDEX_RANGE`.
pub fn parse_peer(spec: &str, domain: u32) -> Result<Vec<SocketAddrV4>, TransportError> {
    let spec = spec.trim();
    if let Ok(addr) = spec.parse::<SocketAddrV4>() {
        if addr.port() == 0 {
            return Err(TransportError::BadPeer(spec.to_string()));
        }
        return Ok(vec![addr]);
    }
    let ip: Ipv4Addr = spec.parse().map_err(|_| TransportError::BadPeer(spec.to_string()))?;
    Ok((0..PEER_INDEX_RANGE)
        .filter_map(|pid| metatraffic_unicast_port(domain, pid))
        .map(|p| SocketAddrV4::new(ip, p))
        .collect())
}

/// How to set up a participant's transport.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// DDS domain id.
    pub domain_id: u32,
    /// Interface name or address; `None` for the default.
    pub interface: Option<String>,
    /// Initial peers (`ADDR` or `ADDR:PORT`).
    pub peers: Vec<String>,
    /// SPDP goes to 127.0.0.1 metatraffic ports of pids `0..localhost_peers`.
    pub localhost_peers: u32,
    /// Multicast TTL (1 keeps multicast on the local link).
    pub multicast_ttl: u32,
    /// Socket buffer sizes in bytes (receive, send) and whether the user chose them.
    pub buffers: SocketBuffers,
    /// Join the user-data multicast group (239.255.0.1, port 7401 + 250·d) and advertise it, so that writers
    /// may send one datagram to several readers; off by default, as in RTI Connext and Fast DDS.
    pub data_multicast: bool,
}

/// SO_RCVBUF / SO_SNDBUF for a participant's sockets. The kernel caps what an unprivileged process gets at
/// `net.core.rmem_max` / `wmem_max`; a privileged one (CAP_NET_ADMIN) is given the size it asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketBuffers {
    /// Receive buffer of the receiving sockets.
    pub receive: usize,
    /// Send buffer of the sending socket.
    pub send: usize,
    /// Set explicitly: a smaller buffer from the kernel is then a warning, not a debug message.
    pub explicit: bool,
}

impl Default for SocketBuffers {
    fn default() -> Self {
        SocketBuffers { receive: SOCKET_BUFFER, send: SOCKET_BUFFER, explicit: false }
    }
}

impl TransportConfig {
    /// Defaults for `domain_id`.
    pub fn new(domain_id: u32) -> Self {
        TransportConfig {
            domain_id,
            interface: None,
            peers: Vec::new(),
            localhost_peers: DEFAULT_LOCALHOST_PEERS,
            multicast_ttl: 1,
            buffers: SocketBuffers::default(),
            data_multicast: false,
        }
    }
}

/// The bound sockets of one participant (std sockets, non-blocking, ready to
/// be registered with tokio) and the locators they give.
#[derive(Debug)]
pub struct BoundTransport {
    /// The chosen interface.
    pub iface: NetInterface,
    /// The participant index whose ports were bound.
    pub participant_id: u32,
    /// SPDP multicast receive socket (`None` if the group could not be joined).
    pub spdp_multicast: Option<std::net::UdpSocket>,
    /// User-data multicast receive socket (with `data_multicast`, if the group could be joined).
    pub user_multicast: Option<std::net::UdpSocket>,
    /// Metatraffic unicast socket.
    pub metatraffic_unicast: std::net::UdpSocket,
    /// User-data unicast socket.
    pub user_unicast: std::net::UdpSocket,
    /// Socket all datagrams are sent from.
    pub send: std::net::UdpSocket,
    /// Metatraffic unicast locators (chosen address, metatraffic port).
    pub metatraffic_unicast_locators: Vec<Locator>,
    /// Metatraffic multicast locators (the SPDP group).
    pub metatraffic_multicast_locators: Vec<Locator>,
    /// Default unicast locators for user data.
    pub default_unicast_locators: Vec<Locator>,
    /// Default multicast locators for user data (empty without `data_multicast`).
    pub default_multicast_locators: Vec<Locator>,
    /// Where SPDP announcements go.
    pub spdp_destinations: Vec<Locator>,
}

fn new_udp_socket() -> io::Result<Socket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Sets a socket's buffer sizes: SO_RCVBUFFORCE / SO_SNDBUFFORCE where the process may (so a privileged process
/// gets the full size whatever `net.core.*mem_max` says), else the capped SO_RCVBUF / SO_SNDBUF. The sizes the
/// kernel granted are read back; less than asked is logged.
fn set_buffers(s: &Socket, b: SocketBuffers, receive: bool) {
    let (want, forced_opt) = if receive { (b.receive, libc::SO_RCVBUFFORCE) } else { (b.send, libc::SO_SNDBUFFORCE) };
    if want == 0 {
        return;
    }
    let forced = {
        use std::os::fd::AsRawFd;
        let v = libc::c_int::try_from(want).unwrap_or(libc::c_int::MAX);
        // SAFETY: a valid socket descriptor, and a pointer to a c_int with its exact size.
        unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                forced_opt,
                std::ptr::addr_of!(v).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            ) == 0
        }
    };
    if !forced {
        let r = if receive { s.set_recv_buffer_size(want) } else { s.set_send_buffer_size(want) };
        if let Err(e) = r {
            tracing::debug!(receive, "socket buffer: {e}");
        }
    }
    // Linux reports twice the usable size it granted.
    let got = if receive { s.recv_buffer_size() } else { s.send_buffer_size() }.map(|g| g / 2).unwrap_or(0);
    if got < want {
        let what = if receive { "receive" } else { "send" };
        let sysctl = if receive { "net.core.rmem_max" } else { "net.core.wmem_max" };
        if b.explicit {
            tracing::warn!("socket {what} buffer is {got} bytes, not the {want} asked for (raise {sysctl})");
        } else {
            tracing::debug!("socket {what} buffer is {got} bytes, not {want} (raise {sysctl})");
        }
    }
}

fn pin_multicast(s: &Socket, iface: &NetInterface, ttl: u32) -> io::Result<()> {
    s.set_multicast_if_v4(&iface.addr)?;
    s.set_multicast_ttl_v4(ttl)?;
    s.set_multicast_loop_v4(true)
}

fn bind_unicast(port: u16, iface: &NetInterface, ttl: u32, buffers: SocketBuffers) -> io::Result<Socket> {
    let s = new_udp_socket()?;
    set_buffers(&s, buffers, true);
    pin_multicast(&s, iface, ttl)?;
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
    Ok(s)
}

fn bind_multicast(port: u16, iface: &NetInterface, buffers: SocketBuffers) -> io::Result<Socket> {
    let s = new_udp_socket()?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    set_buffers(&s, buffers, true);
    // Only receive the groups this socket joined, not every group joined on the host.
    #[cfg(target_os = "linux")]
    s.set_multicast_all_v4(false)?;
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
    s.join_multicast_v4(&SPDP_MULTICAST_GROUP, &iface.addr)?;
    s.set_multicast_if_v4(&iface.addr)?;
    s.set_multicast_loop_v4(true)?;
    Ok(s)
}

/// The MTU of interface `name` in the caller's network namespace (`SIOCGIFMTU`), or `None` when it cannot be
/// read.
pub fn interface_mtu(name: &str) -> Option<usize> {
    use std::os::fd::AsRawFd;
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ {
        return None;
    }
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, None).ok()?;
    // SAFETY: an all-zero ifreq is valid; the name copied in is shorter than IFNAMSIZ, so it stays
    // NUL-terminated, and SIOCGIFMTU only writes the ifru_mtu member of the union we then read.
    let mtu = unsafe {
        let mut req: libc::ifreq = std::mem::zeroed();
        for (d, s) in req.ifr_name.iter_mut().zip(bytes) {
            *d = *s as libc::c_char;
        }
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFMTU as _, &mut req) != 0 {
            return None;
        }
        req.ifr_ifru.ifru_mtu
    };
    usize::try_from(mtu).ok().filter(|m| *m > 0)
}

/// Binds a participant's sockets: picks the interface, the first participant
/// index whose metatraffic and user ports are both free, and computes locators.
pub fn bind(config: &TransportConfig) -> Result<BoundTransport, TransportError> {
    let domain = config.domain_id;
    check_domain(domain)?;
    let mut peers = Vec::new();
    for p in &config.peers {
        peers.extend(parse_peer(p, domain)?);
    }
    let iface = select_interface(config.interface.as_deref())?;
    let ttl = config.multicast_ttl;
    let mut bound = None;
    for pid in 0..MAX_PARTICIPANT_INDEX {
        let (Some(mp), Some(up)) = (metatraffic_unicast_port(domain, pid), user_unicast_port(domain, pid)) else {
            break;
        };
        let Ok(meta) = bind_unicast(mp, &iface, ttl, config.buffers) else { continue };
        let Ok(user) = bind_unicast(up, &iface, ttl, config.buffers) else { continue };
        bound = Some((pid, mp, up, meta, user));
        break;
    }
    let (pid, meta_port, user_port, meta, user) = bound.ok_or(TransportError::NoParticipantIndex(domain))?;
    let spdp_port = spdp_multicast_port(domain).ok_or(TransportError::BadDomain(domain))?;
    let spdp_multicast = match bind_multicast(spdp_port, &iface, config.buffers) {
        Ok(s) => Some(s.into()),
        Err(e) => {
            tracing::warn!(
                "cannot join {SPDP_MULTICAST_GROUP}:{spdp_port} on {} ({}): {e}; unicast discovery only",
                iface.name,
                iface.addr
            );
            None
        }
    };
    let mut default_multicast_locators = Vec::new();
    let mut user_multicast = None;
    if config.data_multicast {
        let port = user_multicast_port(domain).ok_or(TransportError::BadDomain(domain))?;
        match bind_multicast(port, &iface, config.buffers) {
            Ok(s) => {
                user_multicast = Some(s.into());
                default_multicast_locators.push(Locator::udpv4(SPDP_MULTICAST_GROUP, port));
            }
            Err(e) => tracing::warn!(
                "cannot join {SPDP_MULTICAST_GROUP}:{port} on {} ({}): {e}; user data by unicast only",
                iface.name,
                iface.addr
            ),
        }
    }
    let send = new_udp_socket().map_err(io_err("creating the send socket"))?;
    set_buffers(&send, config.buffers, false);
    pin_multicast(&send, &iface, ttl).map_err(io_err(format!("setting IP_MULTICAST_IF to {}", iface.addr)))?;
    send.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)).into()).map_err(io_err("binding the send socket"))?;

    let group = Locator::udpv4(SPDP_MULTICAST_GROUP, spdp_port);
    let mut spdp_destinations = vec![group];
    for i in 0..config.localhost_peers {
        if i == pid {
            continue;
        }
        if let Some(p) = metatraffic_unicast_port(domain, i) {
            spdp_destinations.push(Locator::udpv4(Ipv4Addr::LOCALHOST, p));
        }
    }
    for p in peers {
        let l = Locator::udpv4(*p.ip(), p.port());
        if !spdp_destinations.contains(&l) {
            spdp_destinations.push(l);
        }
    }
    tracing::debug!(interface = %iface.name, addr = %iface.addr, pid, meta_port, user_port, "transport bound");
    Ok(BoundTransport {
        participant_id: pid,
        spdp_multicast,
        user_multicast,
        metatraffic_unicast: meta.into(),
        user_unicast: user.into(),
        send: send.into(),
        metatraffic_unicast_locators: vec![Locator::udpv4(iface.addr, meta_port)],
        metatraffic_multicast_locators: vec![group],
        default_unicast_locators: vec![Locator::udpv4(iface.addr, user_port)],
        default_multicast_locators,
        spdp_destinations,
        iface,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_buffers_are_granted_to_a_privileged_process() {
        let s = new_udp_socket().expect("socket");
        let want = 3 * 1024 * 1024;
        set_buffers(&s, SocketBuffers { receive: want, send: want, explicit: true }, true);
        set_buffers(&s, SocketBuffers { receive: want, send: want, explicit: true }, false);
        let (r, w) = (s.recv_buffer_size().expect("rcvbuf") / 2, s.send_buffer_size().expect("sndbuf") / 2);
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // Root has CAP_NET_ADMIN (as in CI): the FORCE options grant the full size.
            assert!(r >= want && w >= want, "got {r}/{w}");
        } else {
            assert!(r > 0 && w > 0);
        }
    }

    fn info(name: &str, addr: [u8; 4], up: bool, multicast: bool) -> InterfaceInfo {
        let addr = Ipv4Addr::from(addr);
        InterfaceInfo { iface: NetInterface { name: name.into(), addr, loopback: addr.is_loopback() }, up, multicast }
    }

    #[test]
    fn port_math() {
        assert_eq!(spdp_multicast_port(0), Some(7400));
        assert_eq!(metatraffic_unicast_port(0, 0), Some(7410));
        assert_eq!(user_unicast_port(0, 0), Some(7411));
        assert_eq!(metatraffic_unicast_port(0, 3), Some(7416));
        assert_eq!(user_unicast_port(1, 2), Some(7665));
        assert_eq!(spdp_multicast_port(232), Some(65400));
        assert_eq!(user_unicast_port(232, 62), Some(65535));
        assert_eq!(user_unicast_port(232, 63), None);
        assert!(check_domain(232).is_ok());
        assert_eq!(check_domain(233).unwrap_err().to_string(), "invalid domain id 233: must be 0..=232");
    }

    #[test]
    fn interface_selection() {
        let all = [info("lo", [127, 0, 0, 1], true, false), info("eth0", [10, 0, 0, 5], true, true)];
        assert_eq!(choose_interface(None, &all).unwrap().name, "eth0");
        assert_eq!(choose_interface(Some("lo"), &all).unwrap().addr, Ipv4Addr::LOCALHOST);
        assert_eq!(choose_interface(Some("10.0.0.5"), &all).unwrap().name, "eth0");
        let down = [info("lo", [127, 0, 0, 1], true, false), info("eth0", [10, 0, 0, 5], false, true)];
        assert_eq!(choose_interface(None, &down).unwrap().name, "lo");
        let nomc = [info("eth0", [10, 0, 0, 5], true, false), info("lo", [127, 0, 0, 1], true, true)];
        assert_eq!(choose_interface(None, &nomc).unwrap().name, "lo");
    }

    #[test]
    fn interface_errors_name_the_value() {
        let all = [info("lo", [127, 0, 0, 1], true, false)];
        let e = choose_interface(Some("wlan9"), &all).unwrap_err();
        assert!(matches!(&e, TransportError::UnknownInterface(n) if n == "wlan9"));
        let msg = e.to_string();
        assert!(msg.contains("'wlan9'") && !msg.contains('\n'), "{msg}");
        assert!(choose_interface(Some("10.9.9.9"), &all).is_err());
    }

    #[test]
    fn peer_parsing() {
        let one = parse_peer("10.1.2.3:7777", 0).unwrap();
        assert_eq!(one, vec!["10.1.2.3:7777".parse().unwrap()]);
        let many = parse_peer("127.0.0.1", 1).unwrap();
        assert_eq!(many.len(), PEER_INDEX_RANGE as usize);
        assert_eq!(many[0].port(), 7660);
        assert_eq!(many[9].port(), 7678);
        for bad in ["", "host.example", "1.2.3", "1.2.3.4:0", "1.2.3.4:99999", "::1"] {
            let e = parse_peer(bad, 0).unwrap_err();
            assert!(matches!(&e, TransportError::BadPeer(s) if s == bad.trim()), "{bad}");
            assert!(e.to_string().contains(&format!("'{bad}'")));
        }
    }
}
