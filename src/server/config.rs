//! Every limit and default of the server in one place.

use crate::hub::HubConfig;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

/// Server configuration. `Config::default()` is what `lumora-hr-mini`
/// runs with when given no flags.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to bind (default `0.0.0.0`: reachable from the LAN).
    pub host: IpAddr,
    /// Port (default 3000; 0 picks a free one).
    pub port: u16,
    /// Fail instead of trying the next ports when `port` is taken.
    pub strict_port: bool,
    /// How many following ports to try when `port` is taken.
    pub port_attempts: u16,
    /// Host name devices should use in `wsUrl` (default: detected LAN
    /// address, or the bound address).
    pub public_host: Option<String>,
    /// Sessions, heartbeat, rate limit and coalescing.
    pub hub: HubConfig,
    /// A request must arrive whole within this time of its first byte (or
    /// of the accept): 10 s, so slow clients cannot hold connections.
    pub request_timeout: Duration,
    /// An idle keep-alive connection is closed after this (30 s).
    pub keep_alive_timeout: Duration,
    /// Open connections at most (10,000); beyond it new ones get 503.
    pub max_connections: usize,
    /// Connections the kernel may hold for `accept` (1,024; Linux caps it at
    /// `net.core.somaxconn`). The standard library and mio ask for 128; a
    /// burst of devices (all reconnecting after a restart) overflows that
    /// while the loop is busy, and every SYN dropped is retried only after a
    /// second.
    pub listen_backlog: u32,
    /// Largest message a device may send (64 KiB); larger closes with 1009.
    pub max_message_bytes: usize,
    /// Largest request head (16 KiB).
    pub max_head_bytes: usize,
    /// Most request headers (64).
    pub max_headers: usize,
    /// Largest request body (10 MiB, the schema limit).
    pub max_body_bytes: usize,
    /// Request-body bytes buffered at once across all connections (40 MiB:
    /// four bodies of the largest size). Room is reserved from a request's
    /// `Content-Length` once its head is admitted; a body that does not fit
    /// is refused at once with 503 and `Retry-After: 1`. Keep it at least
    /// `max_body_bytes`, or the largest bodies are never accepted.
    pub max_buffered_body_bytes: usize,
    /// Update frames a device may have queued before it is dropped to a
    /// resync (32): bounds memory per slow device.
    pub max_queued_updates: usize,
    /// Unsent replies (HTTP responses, pongs, errors) a peer may leave
    /// unread (1 MiB): HTTP requests wait beyond it, and a WebSocket peer
    /// past it is disconnected, since replies cannot be dropped.
    pub max_pending_replies: usize,
    /// How long a closing connection may take to say goodbye (1 s).
    pub close_timeout: Duration,
    /// How long shutdown waits for close frames to go out (500 ms).
    pub shutdown_grace: Duration,
    /// Stop on SIGINT/SIGTERM (the command line sets this; embedders and
    /// tests usually do not).
    pub handle_signals: bool,
    /// Bearer token that opens the control API to non-loopback peers.
    pub token: Option<String>,
    /// Which peers are "this machine" and may use the control API without
    /// the token: [`is_loopback_peer`] by default. Narrowing it is safe and
    /// is what tests do to play a remote machine on one host (e.g.
    /// `|ip| ip == Ipv4Addr::LOCALHOST`, then connect from 127.0.0.2).
    /// Widening it opens the control API without a token to every peer it
    /// accepts; prefer `token` for that.
    pub is_local_peer: fn(IpAddr) -> bool,
    /// Extra `Host` header values accepted (DNS-rebinding defence).
    pub allowed_hosts: Vec<String>,
    /// `Origin` values allowed on the control API.
    pub allowed_origins: Vec<String>,
    /// Resolution of the timer wheel (10 ms).
    pub timer_tick: Duration,
    /// Watch files by polling every 100 ms even where inotify works
    /// (off): for file systems whose changes raise no events here.
    pub watch_poll: bool,
    /// Where sessions are kept across restarts; the server uses
    /// `<dir>/port-<port>/`. `None` (the library's default) keeps nothing;
    /// the command line defaults to `$XDG_STATE_HOME/lumora-hr-mini`.
    pub state_dir: Option<PathBuf>,
    /// A change reaches the disk at most this long after it happened, and a
    /// session's file is written at most once per interval (200 ms).
    pub state_write_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 3000,
            strict_port: false,
            port_attempts: 20,
            public_host: None,
            hub: HubConfig::default(),
            request_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            listen_backlog: 1024,
            max_message_bytes: 64 * 1024,
            max_head_bytes: 16 * 1024,
            max_headers: 64,
            max_body_bytes: crate::protocol::MAX_SCHEMA_BYTES,
            max_buffered_body_bytes: 4 * crate::protocol::MAX_SCHEMA_BYTES,
            max_queued_updates: 32,
            max_pending_replies: 1024 * 1024,
            close_timeout: Duration::from_secs(1),
            shutdown_grace: Duration::from_millis(500),
            handle_signals: false,
            token: None,
            is_local_peer: is_loopback_peer,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            timer_tick: Duration::from_millis(10),
            watch_poll: false,
            state_dir: None,
            state_write_interval: Duration::from_millis(200),
        }
    }
}

/// Parses a non-negative decimal number of seconds (`30`, `1.5`, `0.25`)
/// exactly, to the nanosecond (further digits are dropped); `None` for
/// anything else, or past about 584 years. Integer arithmetic only: parsing
/// text as a float would link the float parser's tables into the binary.
pub fn parse_decimal_seconds(text: &str) -> Option<Duration> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) {
        return None;
    }
    let secs = if whole.is_empty() {
        0
    } else {
        whole.parse::<u64>().ok()?
    };
    let mut nanos = 0u32;
    for (i, b) in frac.bytes().take(9).enumerate() {
        nanos += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
    }
    Some(Duration::new(secs, nanos))
}

/// True for loopback peers (`127.0.0.0/8`, `::1`, and `::ffff:127.x.y.z`
/// as seen by a dual-stack listener): the default of
/// [`Config::is_local_peer`].
pub fn is_loopback_peer(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_seconds() {
        let d = parse_decimal_seconds;
        assert_eq!(d("30"), Some(Duration::from_secs(30)));
        assert_eq!(d("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(d(".25"), Some(Duration::from_millis(250)));
        assert_eq!(d("2."), Some(Duration::from_secs(2)));
        assert_eq!(d("0.0000000019"), Some(Duration::from_nanos(1)));
        for bad in [
            "",
            ".",
            "-1",
            "1e3",
            "1.2.3",
            " 1",
            "inf",
            "NaN",
            "99999999999999999999",
        ] {
            assert_eq!(d(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn loopback_peers() {
        for ip in ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"] {
            assert!(is_loopback_peer(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "192.168.1.2",
            "::ffff:192.168.1.2",
            "0.0.0.0",
            "::",
            "fe80::1",
        ] {
            assert!(!is_loopback_peer(ip.parse().unwrap()), "{ip}");
        }
    }
}
