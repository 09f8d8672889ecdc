//! A headless device client built on the library, for the `device`
//! subcommand, tests and load tools.
//!
//! - [`device`]: the protocol state of one device, no I/O (apply updates,
//!   verify checksums, build acks and reloads);
//! - [`fleet`]: one thread and one `mio` loop running 1 to thousands of
//!   devices over non-blocking sockets, with the WebSocket handshake done
//!   by hand, heartbeats, pings and reconnection with backoff.

pub mod device;
pub mod fleet;

pub use device::{Applied, DeviceState, Event, UpdateKind};
pub use fleet::{Fleet, FleetConfig, FleetEnd, FleetEvent, Summary};

use std::fmt;

/// A parsed `ws://host:port/path?query` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (80 when absent).
    pub port: u16,
    /// Path and query, e.g. `/ws?session=ID`.
    pub resource: String,
    /// The `session` query parameter.
    pub session: String,
}

impl WsUrl {
    /// Parses a device URL; it must name a session.
    pub fn parse(text: &str) -> Result<WsUrl, String> {
        let bad = || format!("{text:?} is not a device URL like ws://HOST:PORT/ws?session=ID");
        let rest = match text.split_once("://") {
            Some(("ws" | "http", rest)) => rest,
            Some((scheme, _)) => {
                return Err(format!(
                    "{text:?}: only ws:// is supported, not {scheme}://"
                ));
            }
            None => return Err(bad()),
        };
        let (authority, resource) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = crate::net::parse_authority(authority, 80).ok_or_else(bad)?;
        let resource = if resource.starts_with('?') {
            format!("/{resource}")
        } else {
            resource.to_string()
        };
        let query = resource.split_once('?').map(|(_, q)| q).unwrap_or("");
        let session = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("session="))
            .map(crate::server::http::percent_decode)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                format!("{text:?} names no session: add ?session=ID (the server's banner shows the full URL)")
            })?;
        Ok(WsUrl {
            host: host.to_string(),
            port,
            resource,
            session,
        })
    }

    /// The `Host` header value.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for WsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ws://{}{}", self.authority(), self.resource)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_urls() {
        let u = WsUrl::parse("ws://192.168.1.20:3000/ws?session=abc").unwrap();
        assert_eq!(u.host, "192.168.1.20");
        assert_eq!(u.port, 3000);
        assert_eq!(u.resource, "/ws?session=abc");
        assert_eq!(u.session, "abc");
        assert_eq!(u.to_string(), "ws://192.168.1.20:3000/ws?session=abc");
        let u = WsUrl::parse("ws://[::1]:9/ws?x=1&session=a%2Db").unwrap();
        assert_eq!((u.host.as_str(), u.session.as_str()), ("::1", "a-b"));
        assert_eq!(u.authority(), "[::1]:9");
        assert!(
            WsUrl::parse("ws://h:1/ws")
                .unwrap_err()
                .contains("names no session")
        );
        assert!(
            WsUrl::parse("wss://h/ws?session=x")
                .unwrap_err()
                .contains("only ws://")
        );
        assert!(WsUrl::parse("h:1/ws?session=x").is_err());
        assert!(WsUrl::parse("ws://h:port/ws?session=x").is_err());
    }
}
