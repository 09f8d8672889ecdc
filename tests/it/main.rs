//! The integration tests, as one test crate (one binary to build and link).
//! Each module is one area; `common`, `support` and `hostile` are the
//! shared helpers: a real server on port 0, HTTP and WebSocket clients,
//! condition waits and hostile peers.
//!
//! `security_fd_limit` and `security_logs` stay separate binaries: they
//! change process-wide state (the open-file limit, the global logger).

mod chromium;
mod common;
mod hostile;
mod support;

mod amplification;
mod backpressure;
mod big_schemas;
mod browser;
mod browser_faults;
mod browser_state;
mod checksum_vectors;
mod cli;
mod delta_props;
mod device_flow;
mod device_handshake;
mod dialect;
mod heartbeat_and_expiry;
mod http_api;
mod http_conformance;
mod http_intake;
mod lan_address;
mod landing;
mod load;
mod protocol_checklist;
mod push_replies;
mod raw_forms;
mod regressions;
mod reply_keys;
mod resume;
mod security_guard;
mod security_limits;
mod security_load;
mod security_slow;
mod state_dir;
mod terminal;
mod timer_churn;
mod updates;
mod watch_and_startup;
mod watch_files;
mod web_page;
mod ws_protocol;
