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
    /// Parses a device URL; it must name a session. The web device's page
    /// URL (`http://HOST:PORT/s/ID`, what the QR code opens) names one too:
    /// it stands for that session's `ws://HOST:PORT/ws?session=ID`.
    pub fn parse(text: &str) -> Result<WsUrl, String> {
        let mut url = ServerUrl::parse(text, Scheme::Ws)?;
        let (path, query) = url.path.split_once('?').unwrap_or((&url.path, ""));
        let page = path
            .strip_prefix("/s/")
            .map(|id| id.trim_end_matches('/'))
            .filter(|id| !id.is_empty() && !id.contains('/'));
        let session = match page {
            Some(id) => crate::server::http::percent_decode(id),
            None => query
                .split('&')
                .find_map(|kv| kv.strip_prefix("session="))
                .map(crate::server::http::percent_decode)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    format!("{text:?} names no session: add ?session=ID (the server's banner shows the full URL)")
                })?,
        };
        if let Some(id) = page {
            url.path = format!("/ws?session={id}");
        }
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
        // The web device's page URL names its session.
        for page in [
            "http://h:1/s/a%20b",
            "http://h:1/s/a%20b/",
            "ws://h:1/s/a%20b?x=1",
        ] {
            let u = WsUrl::parse(page).unwrap();
            assert_eq!(u.session, "a b", "{page}");
            assert_eq!(u.to_string(), "ws://h:1/ws?session=a%20b", "{page}");
        }
        for no_id in ["http://h:1/s/", "http://h:1/s//", "http://h:1/s/a/b"] {
            assert!(
                WsUrl::parse(no_id)
                    .unwrap_err()
                    .contains("names no session"),
                "{no_id}"
            );
        }
    }
}
