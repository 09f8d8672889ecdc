//! The `lumora-hr-mini` command line, one concept per file:
//!
//! - [`args`]: flags and defaults, with [`help`] (the help texts) and
//!   [`units`] (durations and sizes as flags write them)
//! - [`serve`]: the server with its banner ([`banner`], [`qr`]) and log
//!   ([`logging`])
//! - [`push`]: push a schema over a tiny HTTP/1.1 client ([`http_client`])
//! - [`device`]: headless devices, built on [`crate::client`]

/// `println!` that ignores a closed stdout (`lumora-hr-mini device … | head`)
/// instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::write_line(false, format_args!($($arg)*))
    };
}

/// `eprintln!` that ignores a closed stderr.
macro_rules! complain {
    ($($arg:tt)*) => {
        $crate::cli::write_line(true, format_args!($($arg)*))
    };
}

pub mod args;
pub mod banner;
pub mod device;
pub mod help;
pub mod http_client;
pub mod keys;
pub mod logging;
pub mod push;
pub mod qr;
pub mod serve;
pub mod units;

use args::Command;
use std::process::ExitCode;

/// Runs the command line with the process's arguments and environment.
pub fn main() -> ExitCode {
    let mut argv = std::env::args_os();
    let program = argv.next().map_or_else(
        || "lumora-hr-mini".into(),
        |p| p.to_string_lossy().into_owned(),
    );
    // Flags, URLs and paths are read as text: an argument that is not
    // UTF-8 (a file name in another encoding) is a usage error, not a panic.
    let mut args = Vec::new();
    for arg in argv {
        match arg.into_string() {
            Ok(a) => args.push(a),
            Err(raw) => {
                complain!(
                    "error: argument {:?} is not valid UTF-8; rename the file, or pass it on standard input (`push - < FILE`)",
                    raw
                );
                return ExitCode::from(2);
            }
        }
    }
    let token = std::env::var(args::TOKEN_ENV).ok();
    match args::parse(&args, token) {
        Ok(Command::Serve(opts)) => serve::run(*opts, &program),
        Ok(Command::Push(opts)) => push::run(&opts),
        Ok(Command::Device(opts)) => device::run(&opts),
        Ok(Command::Help(text)) => {
            say!("{}", text.trim_end());
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            say!("lumora-hr-mini {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            complain!("{e}");
            ExitCode::from(2)
        }
    }
}

/// Writes one line to stdout (or stderr) and flushes, ignoring errors: a
/// reader that went away is no reason to crash.
#[doc(hidden)]
pub fn write_line(to_stderr: bool, line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    if to_stderr {
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    } else {
        let mut out = std::io::stdout().lock();
        let written = writeln!(out, "{line}").and_then(|()| out.flush());
        if written.is_err_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) {
            STDOUT_CLOSED.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// Set once a line could not be printed because standard output was
/// closed (`lumora-hr-mini device … | head`).
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether standard output has been closed by its reader.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(std::sync::atomic::Ordering::Relaxed)
}
