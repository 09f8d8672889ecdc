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

pub use crate::protocol::UpdateKind;
pub use device::{Applied, DeviceState, Event, Join};
pub use fleet::{Fleet, FleetConfig, FleetEnd, FleetEvent, Summary};

use crate::net::{Scheme, ServerUrl};
use std::fmt;

/// A device URL: a `ws://host:port/path?query` [`ServerUrl`] that names a
/// session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    /// Where to connect; `path` is the path and query, e.g. `/ws?session=ID`.
    pub url: ServerUrl,
    /// The `session` query parameter.
    pub session: String,
}

impl WsUrl {
    /// Parses a device URL; it must name a session.
    pub fn parse(text: &str) -> Result<WsUrl, String> {
        let url = ServerUrl::parse(text, Scheme::Ws)?;
        let query = url.path.split_once('?').map(|(_, q)| q).unwrap_or("");
        let session = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("session="))
            .map(crate::server::http::percent_decode)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                format!("{text:?} names no session: add ?session=ID (the server's banner shows the full URL)")
            })?;
        Ok(WsUrl { url, session })
    }
}

impl fmt::Display for WsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.url.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_urls() {
        let u = WsUrl::parse("ws://192.168.1.20:3000/ws?session=abc").unwrap();
        assert_eq!(u.url.host, "192.168.1.20");
        assert_eq!(u.url.port, 3000);
        assert_eq!(u.url.path, "/ws?session=abc");
        assert_eq!(u.session, "abc");
        assert_eq!(u.to_string(), "ws://192.168.1.20:3000/ws?session=abc");
        let u = WsUrl::parse("ws://[::1]:9/ws?x=1&session=a%2Db").unwrap();
        assert_eq!((u.url.host.as_str(), u.session.as_str()), ("::1", "a-b"));
        assert_eq!(u.url.authority(), "[::1]:9");
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
        // http:// names the same server; a bare query gets its slash.
        let u = WsUrl::parse("http://h:1?session=x").unwrap();
        assert_eq!(u.to_string(), "ws://h:1/?session=x");
    }
}
