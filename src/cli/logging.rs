//! The server's log on stderr: a small `log` backend printing
//! `HH:MM:SS [LEVEL] message` (local time), with the level coloured, and
//! device `log` messages (target `"device"`) printed whole in their level's
//! colour so they stand out from the server's own lines.
//!
//! Colours only when stderr is a terminal and `NO_COLOR` is unset or empty
//! (<https://no-color.org>).

use super::args::Verbosity;
use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::{IsTerminal, Write};

/// The target the hub logs device `log` messages under.
pub const DEVICE_TARGET: &str = "device";

/// Whether output to a stream should be coloured: only on a terminal, and
/// never when `NO_COLOR` is set to a non-empty value.
pub fn use_color(is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Whether stderr should be coloured.
pub fn stderr_color() -> bool {
    use_color(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

/// Whether stdout should be coloured.
pub fn stdout_color() -> bool {
    use_color(
        std::io::stdout().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

/// The level filter for a verbosity.
pub fn level_filter(v: Verbosity) -> LevelFilter {
    match v {
        Verbosity::Quiet => LevelFilter::Warn,
        Verbosity::Normal => LevelFilter::Info,
        Verbosity::Verbose => LevelFilter::Debug,
    }
}

/// Installs the logger (once; later calls do nothing).
pub fn init(verbosity: Verbosity) {
    let level = level_filter(verbosity);
    // Leaked once: the logger lives as long as the process.
    let logger: &'static StderrLogger = Box::leak(Box::new(StderrLogger {
        level,
        color: stderr_color(),
    }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}

/// The process's logger: server lines and device lines, on stderr.
struct StderrLogger {
    level: LevelFilter,
    color: bool,
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        // `-v` is this program's detail: the libraries' debug lines (every
        // WebSocket frame's) are not.
        let ours = metadata.target().starts_with(env!("CARGO_CRATE_NAME"))
            || metadata.target() == DEVICE_TARGET;
        metadata.level() <= self.level && (ours || metadata.level() <= Level::Info)
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let paint = match (self.color, record.target() == DEVICE_TARGET) {
            (false, _) => Paint::Nothing,
            (true, false) => Paint::Level,
            (true, true) => Paint::Line,
        };
        let line = format_line(local_time(), record.level(), record.args(), paint);
        // One write per line, so lines from a panic hook or another thread
        // never interleave mid-line.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// What a log line paints in its level's colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paint {
    /// Nothing (no terminal, or `NO_COLOR`).
    Nothing,
    /// The level only (the server's own lines).
    Level,
    /// The level and the message (device `log` lines, to stand out).
    Line,
}

/// One log line, `HH:MM:SS [LEVEL] message`, with its newline.
pub fn format_line(
    (h, m, s): (u32, u32, u32),
    level: Level,
    message: &std::fmt::Arguments<'_>,
    paint: Paint,
) -> String {
    let colour = match level {
        Level::Error => "\x1b[31m",
        Level::Warn => "\x1b[33m",
        Level::Info => "\x1b[36m",
        Level::Debug | Level::Trace => "\x1b[2m",
    };
    let reset = "\x1b[0m";
    match paint {
        Paint::Nothing => format!("{h:02}:{m:02}:{s:02} [{level:<5}] {message}\n"),
        Paint::Level => format!("{h:02}:{m:02}:{s:02} [{colour}{level:<5}{reset}] {message}\n"),
        Paint::Line => format!("{h:02}:{m:02}:{s:02} {colour}[{level:<5}] {message}{reset}\n"),
    }
}

/// The local wall-clock time now as (hours, minutes, seconds).
fn local_time() -> (u32, u32, u32) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    local_hms(now)
}

/// The broken-down local time of a Unix time (seconds), UTC when the
/// time zone cannot be read.
fn local_tm(unix_secs: u64) -> Option<libc::tm> {
    let t = unix_secs as libc::time_t;
    // SAFETY: localtime_r and gmtime_r only write the struct we pass; both
    // pointers are valid for the call.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        let ok =
            !libc::localtime_r(&t, &mut tm).is_null() || !libc::gmtime_r(&t, &mut tm).is_null();
        ok.then_some(tm)
    }
}

/// Local wall-clock time of a Unix time (seconds) as (hours, minutes,
/// seconds); UTC when the time zone cannot be read.
pub fn local_hms(unix_secs: u64) -> (u32, u32, u32) {
    match local_tm(unix_secs) {
        Some(tm) => (tm.tm_hour as u32, tm.tm_min as u32, tm.tm_sec as u32),
        None => {
            let secs = unix_secs % 86_400;
            (
                (secs / 3600) as u32,
                (secs / 60 % 60) as u32,
                (secs % 60) as u32,
            )
        }
    }
}

/// The local date of a time in seconds since the epoch: `2026-12-09`
/// (UTC where the local time zone cannot be read).
pub fn local_date(unix_secs: u64) -> String {
    local_tm(unix_secs).map_or_else(String::new, |tm| {
        format!(
            "{:04}-{:02}-{:02}",
            tm.tm_year + 1900,
            tm.tm_mon + 1,
            tm.tm_mday
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_color(true, None));
        assert!(use_color(true, Some(OsStr::new(""))));
        assert!(!use_color(true, Some(OsStr::new("1"))));
        assert!(!use_color(false, None));
    }

    #[test]
    fn device_lines_are_coloured_by_level() {
        let line = |level, paint| format_line((9, 5, 7), level, &format_args!("[Pixel] hi"), paint);
        assert_eq!(
            line(Level::Info, Paint::Nothing),
            "09:05:07 [INFO ] [Pixel] hi\n"
        );
        assert_eq!(
            line(Level::Error, Paint::Line),
            "09:05:07 \x1b[31m[ERROR] [Pixel] hi\x1b[0m\n"
        );
        assert!(line(Level::Warn, Paint::Line).contains("\x1b[33m"));
        assert!(line(Level::Debug, Paint::Line).contains("\x1b[2m"));
    }

    #[test]
    fn server_lines_colour_only_the_level() {
        let line =
            |level, paint| format_line((23, 0, 59), level, &format_args!("update #1 full"), paint);
        assert_eq!(
            line(Level::Info, Paint::Nothing),
            "23:00:59 [INFO ] update #1 full\n"
        );
        assert_eq!(
            line(Level::Warn, Paint::Level),
            "23:00:59 [\x1b[33mWARN \x1b[0m] update #1 full\n"
        );
    }

    #[test]
    fn verbose_shows_this_programs_debug_lines_not_the_libraries() {
        let logger = StderrLogger {
            level: LevelFilter::Debug,
            color: false,
        };
        let at = |level, target| {
            logger.enabled(&Metadata::builder().level(level).target(target).build())
        };
        assert!(at(Level::Debug, "lumora_hr_mini::server::watch"));
        assert!(at(Level::Debug, DEVICE_TARGET));
        assert!(!at(Level::Debug, "tungstenite::protocol"));
        assert!(at(Level::Warn, "tungstenite::protocol"));
        assert!(!at(Level::Trace, "lumora_hr_mini::hub"));
    }

    #[test]
    fn verbosity_levels() {
        assert_eq!(level_filter(Verbosity::Quiet), LevelFilter::Warn);
        assert_eq!(level_filter(Verbosity::Normal), LevelFilter::Info);
        assert_eq!(level_filter(Verbosity::Verbose), LevelFilter::Debug);
    }
}
