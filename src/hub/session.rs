//! A session: a named channel with the current schema, its sequence number,
//! an expiry time and its connected devices.

use super::encoded::EncodedState;
use super::history::History;
use super::outbox::ConnId;
use crate::protocol::Schema;
use std::sync::Arc;
use std::time::Instant;

/// A push held back by coalescing, broadcast when the window closes.
#[derive(Debug, Clone)]
pub struct HeldPush {
    /// The schema to send.
    pub schema: Arc<Schema>,
    /// Its `preserveState`.
    pub preserve_state: bool,
}

/// One session.
#[derive(Debug)]
pub struct Session {
    /// The id (a UUID v4; the devices' only credential).
    pub id: Arc<str>,
    /// Creation time, ms since the epoch.
    pub created_at_ms: u64,
    /// When it expires.
    pub expires_at: Instant,
    /// The same, ms since the epoch.
    pub expires_at_ms: u64,
    /// What devices last received (the last broadcast).
    pub schema: Option<Arc<Schema>>,
    /// Sequence number of the last broadcast (0 before the first).
    pub sequence: u64,
    /// A push waiting for the coalescing window.
    pub held: Option<HeldPush>,
    /// When the last broadcast went out.
    pub last_broadcast: Option<Instant>,
    /// Registered devices (those that sent `connect`), in no set order.
    pub devices: Vec<ConnId>,
    /// The current state (`schema` at `sequence`) encoded for the wire,
    /// shared by every frame that carries it.
    pub encoded: EncodedState,
    /// The last updates, for devices that resume.
    pub history: History,
}

impl Session {
    /// The latest accepted schema: the held push if any, else the last
    /// broadcast.
    pub fn latest(&self) -> Option<&Arc<Schema>> {
        self.held
            .as_ref()
            .map(|h| &h.schema)
            .or(self.schema.as_ref())
    }

    /// Adds a device; returns its index in `devices`.
    pub fn add_device(&mut self, conn: ConnId) -> usize {
        self.devices.push(conn);
        self.devices.len() - 1
    }

    /// Removes the device at `index` in O(1); returns the device that moved
    /// into that index, whose own index must be updated.
    pub fn remove_device(&mut self, index: usize) -> Option<ConnId> {
        if index >= self.devices.len() {
            return None;
        }
        self.devices.swap_remove(index);
        if self.devices.capacity() > 4 * self.devices.len().max(16) {
            self.devices.shrink_to_fit();
        }
        self.devices.get(index).copied()
    }
}
