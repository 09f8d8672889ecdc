//! The machine's LAN address, found from its interfaces without sending a
//! packet, for the URL devices are told to use.

use std::net::{IpAddr, Ipv4Addr};

/// An interface address as listed by the OS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddr {
    /// Interface name (`en0`, `eth0`, `wlan0`, `docker0`, ...).
    pub name: String,
    /// Its IPv4 address.
    pub ip: Ipv4Addr,
}

/// IPv4 addresses of all interfaces that are up.
pub fn interface_addresses() -> Vec<InterfaceAddr> {
    let mut out = Vec::new();
    // SAFETY: getifaddrs fills a linked list we only read and then free with
    // freeifaddrs; every pointer is checked for null before use.
    unsafe {
        let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut cur = head;
        while !cur.is_null() {
            let ifa = &*cur;
            cur = ifa.ifa_next;
            if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
                continue;
            }
            if (ifa.ifa_flags & libc::IFF_UP as libc::c_uint) == 0 {
                continue;
            }
            if i32::from((*ifa.ifa_addr).sa_family) != libc::AF_INET {
                continue;
            }
            let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            let name = std::ffi::CStr::from_ptr(ifa.ifa_name)
                .to_string_lossy()
                .into_owned();
            out.push(InterfaceAddr { name, ip });
        }
        libc::freeifaddrs(head);
    }
    out
}

/// What an interface is, judged by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum InterfaceKind {
    /// Container networks, bridges, VPNs, tunnels and virtual-machine host
    /// adapters (`docker0`, `br-…`, `veth…`, `virbr0`, `vboxnet0`,
    /// `vmnet8`, `tun0`, `wg0`, `utun3`, `zt…`, `tailscale0`, …): a phone
    /// on the LAN usually cannot reach their addresses.
    Virtual,
    /// A name we do not recognise.
    Other,
    /// Wired or wireless adapters (`eth0`, `enp3s0`, `en0`, `wlan0`,
    /// `wlp2s0`, …).
    Physical,
}

/// The kind of an interface, from its name.
pub fn interface_kind(name: &str) -> InterfaceKind {
    const VIRTUAL: [&str; 30] = [
        "lo",
        "docker",
        "br-",
        "bridge",
        "veth",
        "virbr",
        "vboxnet",
        "vmnet",
        "vnet",
        "vethernet",
        "utun",
        "tun",
        "tap",
        "wg",
        "zt",
        "tailscale",
        "ts",
        "nordlynx",
        "ppp",
        "ipsec",
        "gif",
        "stf",
        "awdl",
        "llw",
        "anpi",
        "cni",
        "flannel",
        "cali",
        "podman",
        "lxc",
    ];
    const PHYSICAL: [&str; 5] = ["eth", "en", "wl", "em", "ath"];
    let lower = name.to_ascii_lowercase();
    if VIRTUAL.iter().any(|p| lower.starts_with(p))
        || ["lxd", "kube", "cilium", "weave", "vxlan", "ham"]
            .iter()
            .any(|p| lower.starts_with(p))
    {
        InterfaceKind::Virtual
    } else if PHYSICAL.iter().any(|p| lower.starts_with(p)) {
        InterfaceKind::Physical
    } else {
        InterfaceKind::Other
    }
}

/// How likely a phone on the same network is to reach an IPv4 address:
/// home-LAN ranges first (192.168/16), then 10/8, 172.16/12 (also
/// Docker's), the shared range VPNs use (100.64/10), public addresses.
fn address_rank(ip: Ipv4Addr) -> u8 {
    let [a, b, ..] = ip.octets();
    match (a, b) {
        (192, 168) => 4,
        (10, _) => 3,
        (172, 16..=31) => 2,
        (100, 64..=127) => 0,
        _ => 1,
    }
}

/// The addresses a phone might use to reach this machine, best first:
/// physical adapters before unknown ones, and virtual ones (containers,
/// bridges, VPNs, virtual machines) only when there is nothing else; then
/// by address range, then in the order the OS lists them. Loopback,
/// link-local and unspecified addresses never appear.
pub fn rank_lan_addresses(addrs: &[InterfaceAddr]) -> Vec<InterfaceAddr> {
    let mut usable: Vec<(usize, &InterfaceAddr)> = addrs
        .iter()
        .filter(|a| !a.ip.is_loopback() && !a.ip.is_link_local() && !a.ip.is_unspecified())
        .enumerate()
        .collect();
    if usable
        .iter()
        .any(|(_, a)| interface_kind(&a.name) != InterfaceKind::Virtual)
    {
        usable.retain(|(_, a)| interface_kind(&a.name) != InterfaceKind::Virtual);
    }
    // Best first; the index breaks ties, so the OS's order is kept. An
    // insertion sort: a handful of interfaces, and no generic sort code.
    let key = |&(i, a): &(usize, &InterfaceAddr)| {
        (
            std::cmp::Reverse(interface_kind(&a.name)),
            std::cmp::Reverse(address_rank(a.ip)),
            i,
        )
    };
    for i in 1..usable.len() {
        let mut j = i;
        while j > 0 && key(&usable[j - 1]) > key(&usable[j]) {
            usable.swap(j - 1, j);
            j -= 1;
        }
    }
    usable.into_iter().map(|(_, a)| a.clone()).collect()
}

/// Picks the address a phone on the same network would use: the first of
/// [`rank_lan_addresses`].
pub fn pick_lan_address(addrs: &[InterfaceAddr]) -> Option<Ipv4Addr> {
    rank_lan_addresses(addrs).first().map(|a| a.ip)
}

/// This machine's candidate LAN addresses, best first.
pub fn lan_addresses() -> Vec<InterfaceAddr> {
    rank_lan_addresses(&interface_addresses())
}

/// The LAN address of this machine, if one is found.
pub fn lan_address() -> Option<IpAddr> {
    pick_lan_address(&interface_addresses()).map(IpAddr::V4)
}

/// The scheme of a [`ServerUrl`]: HTTP for the control API, WebSocket for
/// devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `http://`
    Http,
    /// `ws://`
    Ws,
}

impl Scheme {
    fn name(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Ws => "ws",
        }
    }
}

/// A parsed `scheme://host[:port][/path][?query]` URL of a server, as the
/// push client (`http://`) and the device client (`ws://`) take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    /// `http` or `ws`.
    pub scheme: Scheme,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (80 when absent).
    pub port: u16,
    /// For `http`, a path prefix without a trailing `/` (usually empty);
    /// for `ws`, the path and query, e.g. `/ws?session=ID`.
    pub path: String,
}

impl ServerUrl {
    /// Parses `text` as a URL of `scheme`. An `http` URL may leave out
    /// `http://` (`host:port` alone); a `ws` URL may also be written with
    /// `http://` (the same server and port).
    pub fn parse(text: &str, scheme: Scheme) -> Result<ServerUrl, String> {
        let example = match scheme {
            Scheme::Http => "an http:// URL (e.g. http://127.0.0.1:3000)",
            Scheme::Ws => "a device URL like ws://HOST:PORT/ws?session=ID",
        };
        let bad = || format!("{text:?} is not {example}");
        let rest = match (text.split_once("://"), scheme) {
            (Some(("http", rest)), _) | (Some(("ws", rest)), Scheme::Ws) => rest,
            (Some((other, _)), _) => {
                return Err(format!(
                    "{text:?}: only {}:// is supported, not {other}://",
                    scheme.name()
                ));
            }
            (None, Scheme::Http) => text,
            (None, Scheme::Ws) => return Err(bad()),
        };
        let (authority, path) = match (scheme, rest.find(['/', '?'])) {
            (Scheme::Http, _) => match rest.find('/') {
                Some(i) => (&rest[..i], rest[i..].trim_end_matches('/').to_string()),
                None => (rest, String::new()),
            },
            (Scheme::Ws, Some(i)) if rest[i..].starts_with('?') => {
                (&rest[..i], format!("/{}", &rest[i..]))
            }
            (Scheme::Ws, Some(i)) => (&rest[..i], rest[i..].to_string()),
            (Scheme::Ws, None) => (rest, "/".to_string()),
        };
        let (host, port) = parse_authority(authority, 80).ok_or_else(bad)?;
        Ok(ServerUrl {
            scheme,
            host: host.to_string(),
            port,
            path,
        })
    }

    /// The `Host` header value: `host:port`, IPv6 in brackets.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme.name(),
            self.authority(),
            self.path
        )
    }
}

/// A `--public-host` value: a host name (letters, digits, hyphens and
/// dots, RFC 1123), an IPv4 address, or an IPv6 address with or without
/// brackets; returned without brackets. Nothing else: no scheme, port,
/// path or spaces.
pub fn parse_public_host(text: &str) -> Option<&str> {
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    if bare.parse::<IpAddr>().is_ok() {
        return Some(bare);
    }
    let name = text.strip_suffix('.').unwrap_or(text);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    // A last label of digits only is a mistyped IPv4 address (`192.168.1.300`).
    let numeric = name
        .rsplit('.')
        .next()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
    let ok = !name.is_empty() && name.len() <= 253 && name.split('.').all(label_ok);
    (ok && !numeric).then_some(text)
}

/// Splits a URL authority (`host`, `host:port`, `[v6]:port`) into host and
/// port, with `default_port` when none is given; `None` when malformed.
pub fn parse_authority(authority: &str, default_port: u16) -> Option<(&str, u16)> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default_port,
    };
    (!host.is_empty()).then_some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(name: &str, ip: [u8; 4]) -> InterfaceAddr {
        InterfaceAddr {
            name: name.into(),
            ip: Ipv4Addr::from(ip),
        }
    }

    #[test]
    fn interface_kinds_by_name() {
        use InterfaceKind::*;
        for (name, kind) in [
            ("eth0", Physical),
            ("enp3s0", Physical),
            ("eno1", Physical),
            ("en0", Physical),
            ("wlan0", Physical),
            ("wlp2s0", Physical),
            ("docker0", Virtual),
            ("br-3f2a9c", Virtual),
            ("bridge100", Virtual),
            ("veth12ab", Virtual),
            ("virbr0", Virtual),
            ("vboxnet0", Virtual),
            ("vmnet8", Virtual),
            ("tun0", Virtual),
            ("tap0", Virtual),
            ("wg0", Virtual),
            ("utun3", Virtual),
            ("zt5u4abc", Virtual),
            ("tailscale0", Virtual),
            ("vEthernet (WSL)", Virtual),
            ("cni0", Virtual),
            ("lxdbr0", Virtual),
            ("lo", Virtual),
            ("bond0", Other),
            ("ib0", Other),
        ] {
            assert_eq!(interface_kind(name), kind, "{name}");
        }
    }

    #[test]
    fn ranking_over_interface_lists() {
        let names = |v: Vec<InterfaceAddr>| v.into_iter().map(|a| a.name).collect::<Vec<_>>();
        let cases: Vec<(&str, Vec<InterfaceAddr>, Vec<&str>)> = vec![
            (
                "Docker and VirtualBox next to Wi-Fi",
                vec![
                    a("lo", [127, 0, 0, 1]),
                    a("docker0", [172, 17, 0, 1]),
                    a("vboxnet0", [192, 168, 56, 1]),
                    a("wlan0", [192, 168, 1, 23]),
                ],
                vec!["wlan0"],
            ),
            (
                "two physical adapters: the home range first, then OS order",
                vec![
                    a("eth0", [10, 0, 0, 5]),
                    a("wlan0", [192, 168, 1, 23]),
                    a("eth1", [10, 1, 0, 5]),
                ],
                vec!["wlan0", "eth0", "eth1"],
            ),
            (
                "an unknown name after physical ones, before nothing",
                vec![a("bond0", [192, 168, 3, 3]), a("en0", [10, 2, 2, 2])],
                vec!["en0", "bond0"],
            ),
            (
                "link-local and VPN addresses are not candidates beside a LAN",
                vec![
                    a("en0", [169, 254, 3, 4]),
                    a("tailscale0", [100, 100, 1, 1]),
                    a("utun3", [10, 8, 0, 2]),
                    a("en1", [172, 20, 10, 2]),
                ],
                vec!["en1"],
            ),
            (
                "only virtual adapters: better than nothing, VPN range last",
                vec![
                    a("tailscale0", [100, 100, 1, 1]),
                    a("docker0", [172, 17, 0, 1]),
                ],
                vec!["docker0", "tailscale0"],
            ),
            ("loopback only", vec![a("lo", [127, 0, 0, 1])], vec![]),
        ];
        for (what, list, want) in cases {
            assert_eq!(names(rank_lan_addresses(&list)), want, "{what}");
        }
    }

    #[test]
    fn public_hosts() {
        for ok in [
            "dev.local",
            "a",
            "my-box.example.com.",
            "10.0.0.1",
            "::1",
            "[fe80::1]",
        ] {
            assert!(parse_public_host(ok).is_some(), "{ok}");
        }
        assert_eq!(parse_public_host("[::1]"), Some("::1"));
        for bad in [
            "bad host!",
            "",
            ".",
            "a..b",
            "-a",
            "a-",
            "x:1",
            "http://x",
            "1.2.3.999",
            "é.com",
        ] {
            assert!(parse_public_host(bad).is_none(), "{bad}");
        }
        assert!(parse_public_host(&"a".repeat(64)).is_none());
    }

    #[test]
    fn prefers_private_physical_and_skips_virtual() {
        let addrs = [
            a("lo", [127, 0, 0, 1]),
            a("docker0", [172, 17, 0, 1]),
            a("veth12", [10, 1, 1, 1]),
            a("en0", [169, 254, 3, 4]),
            a("tailscale0", [100, 100, 1, 1]),
            a("wlan0", [192, 168, 1, 23]),
        ];
        assert_eq!(
            pick_lan_address(&addrs),
            Some(Ipv4Addr::new(192, 168, 1, 23))
        );
        assert_eq!(pick_lan_address(&addrs[..1]), None);
    }

    #[test]
    fn authorities() {
        assert_eq!(parse_authority("a:81", 80), Some(("a", 81)));
        assert_eq!(parse_authority("a", 80), Some(("a", 80)));
        assert_eq!(parse_authority("[::1]:3000", 80), Some(("::1", 3000)));
        assert_eq!(parse_authority("[::1]", 80), Some(("::1", 80)));
        assert_eq!(parse_authority("[::1]x", 80), None);
        assert_eq!(parse_authority(":80", 80), None);
        assert_eq!(parse_authority("a:xx", 80), None);
    }

    #[test]
    fn lists_loopback_on_this_machine() {
        assert!(interface_addresses().iter().any(|a| a.ip.is_loopback()));
    }
}
