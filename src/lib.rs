//! lumora-hr-mini: a tiny hot-reload server that pushes Lumora IR schema
//! updates to devices over HTTP + WebSocket.
//!
//! - [`protocol`]: the wire format (messages, schema validation, checksums,
//!   deltas) with no I/O, shareable by devices and tools written in Rust;
//! - [`hub`]: sessions and devices as plain state driven by events;
//! - [`server`]: the single-threaded `mio` loop, HTTP API and WebSocket;
//! - [`net`]: finding the LAN address devices should use; [`fd_limit`]:
//!   the open-file limit;
//! - [`client`]: headless devices; [`cli`]: the command line.
//!
//! `ARCHITECTURE.md` in the repository maps every file and walks a push and
//! a device message through them.

#![warn(missing_docs)]
// Every unsafe block says why it is sound, and unsafe functions do not
// silently make their whole body unsafe.
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

pub mod cli;
pub mod client;
pub mod fd_limit;
pub mod hub;
pub mod net;
pub mod protocol;
pub mod server;
