//! The server's log on stderr: `log` + `simplelog`, with device `log`
//! messages (target `"device"`) printed whole in their level's colour so
//! they stand out from the server's own lines.
//!
//! Colours only when stderr is a terminal and `NO_COLOR` is unset or empty
//! (<https://no-color.org>).

use super::args::Verbosity;
use log::{Level, LevelFilter, Log, Metadata, Record};
use simplelog::{
    ColorChoice, CombinedLogger, Config, ConfigBuilder, LevelPadding, SharedLogger, TermLogger,
    TerminalMode,
};
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

/// Installs the logger. Call it before starting threads: the local time
/// offset can only be read soundly while the process has one thread.
pub fn init(verbosity: Verbosity) {
    let level = level_filter(verbosity);
    let color = stderr_color();
    // simplelog's default time format is HH:MM:SS.
    let mut builder = ConfigBuilder::new();
    builder
        .set_level_padding(LevelPadding::Right)
        .set_target_level(LevelFilter::Off)
        .set_thread_level(LevelFilter::Off)
        .set_location_level(LevelFilter::Off)
        .add_filter_ignore_str(DEVICE_TARGET);
    let _ = builder.set_time_offset_to_local();
    let choice = if color {
        ColorChoice::Always
    } else {
        ColorChoice::Never
    };
    let server = TermLogger::new(level, builder.build(), TerminalMode::Stderr, choice);
    let devices = Box::new(DeviceLogger { level, color });
    let _ = CombinedLogger::init(vec![server, devices]);
}

/// Prints device `log` messages as `HH:MM:SS [LEVEL] [name] message`,
/// coloured by level as a whole line.
struct DeviceLogger {
    level: LevelFilter,
    color: bool,
}

impl Log for DeviceLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == DEVICE_TARGET && metadata.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format_device_line(local_time(), record.level(), record.args(), self.color);
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

impl SharedLogger for DeviceLogger {
    fn level(&self) -> LevelFilter {
        self.level
    }

    fn config(&self) -> Option<&Config> {
        None
    }

    fn as_log(self: Box<Self>) -> Box<dyn Log> {
        self
    }
}

/// One device line, with its newline.
pub fn format_device_line(
    (h, m, s): (u32, u32, u32),
    level: Level,
    message: &std::fmt::Arguments<'_>,
    color: bool,
) -> String {
    let (start, end) = match (color, level) {
        (false, _) => ("", ""),
        (true, Level::Error) => ("\x1b[31m", "\x1b[0m"),
        (true, Level::Warn) => ("\x1b[33m", "\x1b[0m"),
        (true, Level::Info) => ("\x1b[36m", "\x1b[0m"),
        (true, Level::Debug | Level::Trace) => ("\x1b[2m", "\x1b[0m"),
    };
    format!("{h:02}:{m:02}:{s:02} {start}[{level:<5}] {message}{end}\n")
}

/// The local wall-clock time now as (hours, minutes, seconds).
fn local_time() -> (u32, u32, u32) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    local_hms(now)
}

/// Local wall-clock time of a Unix time (seconds) as (hours, minutes,
/// seconds); UTC when the time zone cannot be read.
pub fn local_hms(unix_secs: u64) -> (u32, u32, u32) {
    let t = unix_secs as libc::time_t;
    // SAFETY: localtime_r only writes the struct we pass; both pointers are
    // valid for the call.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            let secs = unix_secs % 86_400;
            return (
                (secs / 3600) as u32,
                (secs / 60 % 60) as u32,
                (secs % 60) as u32,
            );
        }
        tm
    };
    (tm.tm_hour as u32, tm.tm_min as u32, tm.tm_sec as u32)
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
        let line =
            |level, color| format_device_line((9, 5, 7), level, &format_args!("[Pixel] hi"), color);
        assert_eq!(line(Level::Info, false), "09:05:07 [INFO ] [Pixel] hi\n");
        assert_eq!(
            line(Level::Error, true),
            "09:05:07 \x1b[31m[ERROR] [Pixel] hi\x1b[0m\n"
        );
        assert!(line(Level::Warn, true).contains("\x1b[33m"));
        assert!(line(Level::Debug, true).contains("\x1b[2m"));
    }

    #[test]
    fn verbosity_levels() {
        assert_eq!(level_filter(Verbosity::Quiet), LevelFilter::Warn);
        assert_eq!(level_filter(Verbosity::Normal), LevelFilter::Info);
        assert_eq!(level_filter(Verbosity::Verbose), LevelFilter::Debug);
    }
}
