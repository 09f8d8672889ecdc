//! The time the hub is given: monotonic for deadlines, wall-clock for the wire.

use super::*;

/// The time, both monotonic (for deadlines) and wall-clock (for the wire).
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// Monotonic time.
    pub mono: Instant,
    /// Milliseconds since the Unix epoch.
    pub wall_ms: u64,
}

impl Now {
    /// The current time.
    pub fn current() -> Now {
        Now {
            mono: Instant::now(),
            wall_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        }
    }

    /// This time plus `d` (both clocks).
    pub fn plus(self, d: Duration) -> Now {
        Now {
            mono: self.mono + d,
            wall_ms: self.wall_ms.saturating_add(d.as_millis() as u64),
        }
    }
}
