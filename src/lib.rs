//! lumora-hr-mini: a tiny hot-reload server that pushes Lumora IR schema
//! updates to devices over HTTP + WebSocket.
//!
//! The crate is both the server and a library: [`protocol`] holds the wire
//! format (messages, schema validation, checksums, deltas) with no I/O, so
//! devices and tools written in Rust can share it.

#![warn(missing_docs)]

pub mod protocol;
