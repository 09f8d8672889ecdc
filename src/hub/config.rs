//! The hub's share of the server configuration.

use super::*;

/// The hub's share of the server configuration.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Coalescing window for pushes; zero disables it.
    pub coalesce: Duration,
    /// Session lifetime from creation or extension.
    pub session_ttl: Duration,
    /// Time a device has after the upgrade to send `connect`.
    pub connect_timeout: Duration,
    /// Heartbeat interval (used to judge health).
    pub ping_interval: Duration,
    /// Silence after which a device is dropped.
    pub idle_timeout: Duration,
    /// Messages per second per connection.
    pub rate_limit: u32,
    /// How long a connection may stay over the rate limit before 1008.
    pub rate_limit_close_after: Duration,
    /// `should_use_incremental_update`'s threshold.
    pub incremental_threshold: usize,
    /// Most sessions at once.
    pub max_sessions: usize,
    /// Updates kept per session for devices that resume (64).
    pub history_updates: usize,
    /// Bytes of update frames kept per session for resuming devices
    /// (4 MiB); the smaller bound of the two wins.
    pub history_bytes: usize,
    /// Emit [`Effect::Persist`] with a snapshot whenever a session changes
    /// (the server sets this when it keeps a state directory).
    pub persist: bool,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            coalesce: Duration::from_millis(100),
            session_ttl: Duration::from_secs(8 * 3600),
            connect_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            rate_limit: 100,
            rate_limit_close_after: Duration::from_secs(5),
            incremental_threshold: crate::protocol::DEFAULT_INCREMENTAL_THRESHOLD,
            max_sessions: 1000,
            history_updates: 64,
            history_bytes: 4 * 1024 * 1024,
            persist: false,
        }
    }
}
