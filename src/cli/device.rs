//! `lumora-hr-mini device URL`: headless devices that print what they see.

use super::args::DeviceOptions;
use crate::client::{Applied, Fleet, FleetConfig, FleetEnd, FleetEvent, Join};
use crate::protocol::Close;
use std::process::ExitCode;

/// Runs the devices until Ctrl-C or the end of the session.
pub fn run(opts: &DeviceOptions) -> ExitCode {
    let url = opts.url.clone();
    // One socket per device, plus the loop's own few files.
    let need = opts.count as u64 + 16;
    if let Some(limit) = crate::fd_limit::raise().filter(|&l| l < need) {
        complain!(
            "warning: {} devices need about {need} open files, but this process may open {limit} \
             (ulimit -n): the devices beyond that cannot connect. Raise the limit \
             (`ulimit -n {need}`) or run fewer devices.",
            opts.count
        );
    }
    let mut cfg = FleetConfig::new(url.clone(), opts.count);
    cfg.name = opts.name.clone();
    cfg.platform = opts.platform.clone();
    cfg.ping_interval = opts.ping_interval;
    cfg.handle_signals = true;
    let mut fleet = match Fleet::new(cfg) {
        Ok(f) => f,
        Err(e) => {
            complain!("error: cannot reach {}: {e}", url.url.authority());
            return ExitCode::from(2);
        }
    };
    let multi = opts.count > 1;
    let quiet = opts.quiet;
    let mut ended_shown = false;
    if multi {
        say!("starting {} devices on {url} (Ctrl-C to stop)", opts.count);
    } else {
        say!(
            "device {:?} connecting to {url} (Ctrl-C to stop)",
            opts.name
        );
    }
    // With --quiet each reason for a lost connection is said once (a
    // thousand devices losing the server would otherwise be a thousand
    // lines, and silence would hide why devices never connect).
    let mut reasons_said: Vec<String> = Vec::new();
    // A reader that has gone (`| head`) ends the devices, as it would end
    // any program writing to it.
    let stopper = fleet.stop_handle();
    let result = fleet.run(|_, device, event| {
        if super::stdout_closed() {
            return stopper.stop();
        }
        let prefix = if multi {
            format!("[{}] ", device.name())
        } else {
            String::new()
        };
        let line = match event {
            FleetEvent::Connected {
                sequence,
                initial,
                reconnected,
                join,
            } => {
                if quiet {
                    return;
                }
                match join {
                    Join::Resumed { at, missed } => {
                        say!("{prefix}resumed at #{at} (missed {missed})");
                        return;
                    }
                    Join::FullResync(reason) => {
                        say!("{prefix}full resync ({reason})");
                    }
                    Join::Fresh => {}
                }
                let what = if reconnected {
                    "reconnected"
                } else {
                    "connected"
                };
                match initial {
                    Some(a) => format!("{what}; {}", describe(a)),
                    None => format!("{what}; the session has no schema yet (#{sequence})"),
                }
            }
            FleetEvent::Update(a) => {
                if quiet && a.ok() {
                    return;
                }
                describe(a)
            }
            FleetEvent::ServerError(e) => {
                format!("server error {}: {}", e.code.as_str(), e.message)
            }
            FleetEvent::Disconnected { reason, retry_in } => {
                if quiet {
                    let reason = reason.to_string();
                    if reasons_said.contains(&reason) || reasons_said.len() >= 20 {
                        return;
                    }
                    let line = format!("{prefix}{reason}; retrying (said once with --quiet)");
                    reasons_said.push(reason);
                    say!("{line}");
                    return;
                }
                format!("{reason}; retrying in {:.1} s", retry_in.as_secs_f64())
            }
            FleetEvent::Ended { .. } if multi && ended_shown => return,
            FleetEvent::Ended { code, reason } => {
                ended_shown = true;
                format!("disconnected for good: {reason} ({code})")
            }
        };
        say!("{prefix}{line}");
        if super::stdout_closed() {
            stopper.stop();
        }
    });
    let summary = fleet.summary();
    if multi {
        say!(
            "{} devices: {} initial schema{} and {} update{} received, {} checksum failures, {} reconnects, {} connected at the end",
            summary.devices,
            summary.initial_schemas,
            if summary.initial_schemas == 1 {
                ""
            } else {
                "s"
            },
            summary.updates,
            if summary.updates == 1 { "" } else { "s" },
            summary.checksum_failures,
            summary.reconnects,
            summary.connected
        );
    }
    match result {
        Ok(FleetEnd::Stopped) => {
            if !multi {
                say!("stopped");
            }
            ExitCode::SUCCESS
        }
        Ok(FleetEnd::SessionEnded { code, reason }) => {
            let known = Close::from_code(code);
            let message = match known {
                Some(Close::Normal) => "the session was closed on the server".to_string(),
                Some(Close::SessionNotFound) => {
                    "session not found: the server has no session with this id; \
                         copy the device URL from the server's banner"
                        .to_string()
                }
                Some(Close::SessionExpired) => {
                    "session expired: start the server again or create a new session".to_string()
                }
                Some(Close::UnsupportedVersion) => {
                    format!("the server speaks another protocol version: {reason}")
                }
                _ => format!("the server ended the connection: {reason} ({code})"),
            };
            say!("{message}");
            if known == Some(Close::Normal) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            complain!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// `#3 incremental (+0 ~1 -0) → checksum 1a2b3c4d ok (0.21 ms)`.
pub fn describe(a: &Applied) -> String {
    let changes = match a.changes {
        Some((added, modified, removed)) => format!(" (+{added} ~{modified} -{removed})"),
        None => String::new(),
    };
    match &a.error {
        None => format!(
            "#{} {}{changes} → checksum {} ok ({:.2} ms)",
            a.sequence,
            a.kind.as_str(),
            a.checksum,
            a.apply_ms
        ),
        Some(e) => format!(
            "#{} {}{changes} → FAILED: {e}; asked for a reload",
            a.sequence,
            a.kind.as_str()
        ),
    }
}
