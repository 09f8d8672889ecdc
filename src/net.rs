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

/// Interfaces that are virtual bridges, tunnels or container networks,
/// recognisable by name; devices on the LAN cannot reach them.
fn is_virtual(name: &str) -> bool {
    const PREFIXES: [&str; 14] = [
        "lo", "docker", "br-", "veth", "virbr", "vmnet", "vboxnet", "utun", "tun", "tap", "awdl",
        "llw", "cni", "flannel",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Picks the address a phone on the same network would use: skips
/// loopback, link-local and virtual interfaces, prefers private ranges on
/// wired/wireless-looking names.
pub fn pick_lan_address(addrs: &[InterfaceAddr]) -> Option<Ipv4Addr> {
    let usable = addrs
        .iter()
        .filter(|a| !a.ip.is_loopback() && !a.ip.is_link_local() && !a.ip.is_unspecified())
        .filter(|a| !is_virtual(&a.name));
    let score = |a: &InterfaceAddr| {
        let physical = ["en", "eth", "wl"].iter().any(|p| a.name.starts_with(p));
        (a.ip.is_private() as u8) * 2 + physical as u8
    };
    usable.max_by_key(|a| score(a)).map(|a| a.ip)
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
        assert_eq!(pick_lan_address(&addrs[..3]), None);
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
