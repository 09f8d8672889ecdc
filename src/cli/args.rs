//! Command-line parsing, by hand: `--flag value`, `--flag=value`, `-` for
//! stdin, `--` to end flags. The defaults `--help` shows ([`super::help`])
//! are checked against [`Config::default`] by a test below, so help and
//! behaviour cannot drift apart.

pub use super::banner::QrTarget;
use super::help::{DEVICE_HELP, PUSH_HELP, SERVE_HELP};
use super::units::{format_duration, parse_duration, parse_size};
use crate::client::WsUrl;
use crate::server::Config;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Default server for `push`.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:3000";
/// Default interval of a headless device's protocol `ping`.
pub const DEVICE_PING_INTERVAL: Duration = Duration::from_secs(30);
/// Environment variable read for `--token`.
pub const TOKEN_ENV: &str = "LUMORA_TOKEN";

/// What the command line asks for.
#[derive(Debug, Clone)]
pub enum Command {
    /// Run the server (`lumora-hr-mini` or `lumora-hr-mini serve`).
    Serve(Box<ServeOptions>),
    /// Push a schema file to a running server.
    Push(PushOptions),
    /// Run headless devices.
    Device(DeviceOptions),
    /// Print this help text and exit 0.
    Help(&'static str),
    /// Print the version and exit 0.
    Version,
}

/// How much the server logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// Warnings and errors only (`--quiet`).
    Quiet,
    /// Info and above (the default).
    Normal,
    /// Debug and above (`--verbose`).
    Verbose,
}

/// `serve` options.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The server configuration built from the flags.
    pub config: Config,
    /// Skip the QR code in the banner.
    pub no_qr: bool,
    /// What the QR code holds (`--qr page|ws`).
    pub qr: QrTarget,
    /// Push these files to the startup session whenever they change.
    pub watch: Vec<PathBuf>,
    /// Log level.
    pub verbosity: Verbosity,
}

/// `push` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOptions {
    /// Base URL of the server (`http://host:port`).
    pub server: String,
    /// Target session; `None` means the server's startup session.
    pub session: Option<String>,
    /// `preserveState` of the update.
    pub preserve_state: bool,
    /// Bearer token for a server reached from another machine.
    pub token: Option<String>,
    /// The schema file, or `-` for stdin.
    pub file: String,
}

/// `device` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceOptions {
    /// `ws://host:port/ws?session=ID` (or the web device's page URL).
    pub url: WsUrl,
    /// How many devices to run.
    pub count: usize,
    /// `deviceName` (numbered when `count` > 1).
    pub name: String,
    /// `platform` sent in `connect`.
    pub platform: String,
    /// Print only connection events and the summary, not every update.
    pub quiet: bool,
    /// Interval of the protocol `ping`.
    pub ping_interval: Duration,
}

/// A command line that cannot be run: a one-line message plus the usage of
/// the subcommand concerned. Exit status 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError {
    /// What is wrong.
    pub message: String,
    /// One-line usage of the subcommand.
    pub usage: &'static str,
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "error: {}\nusage: {}\n(see --help)",
            self.message, self.usage
        )
    }
}

const SERVE_USAGE: &str = "lumora-hr-mini [serve] [--port N] [--watch FILE] [--no-qr] [FLAGS]";
const PUSH_USAGE: &str =
    "lumora-hr-mini push [--server URL] [--session ID] [--no-preserve-state] FILE";
const DEVICE_USAGE: &str =
    "lumora-hr-mini device URL [--count N] [--name NAME] [--platform P] [--quiet]";

/// Parses the arguments after the program name. `env_token` is the value
/// of `LUMORA_TOKEN`, used when `--token` is not given.
pub fn parse(args: &[String], env_token: Option<String>) -> Result<Command, UsageError> {
    let env_token = env_token.filter(|t| !t.is_empty());
    match args.first().map(String::as_str) {
        Some("push") => parse_push(&args[1..], env_token),
        Some("device") => parse_device(&args[1..]),
        Some("serve") => parse_serve(&args[1..], env_token),
        Some("help") => help(&args[1..]),
        _ => parse_serve(args, env_token),
    }
}

/// `help`, `help serve`, `help push`, `help device`; anything else is a
/// usage error.
fn help(args: &[String]) -> Result<Command, UsageError> {
    const USAGE: &str = "lumora-hr-mini help [serve|push|device]";
    let text = match args.first().map(String::as_str) {
        None | Some("serve") => SERVE_HELP,
        Some("push") => PUSH_HELP,
        Some("device") => DEVICE_HELP,
        Some(other) => {
            return Err(UsageError {
                message: format!(
                    "no help on {other:?}; the subcommands are serve, push and device"
                ),
                usage: USAGE,
            });
        }
    };
    match args.get(1) {
        Some(extra) => Err(UsageError {
            message: format!("unexpected argument {extra:?}"),
            usage: USAGE,
        }),
        None => Ok(Command::Help(text)),
    }
}

/// Splits arguments into flags (with inline `=` values) and positionals.
struct Args<'a> {
    rest: std::slice::Iter<'a, String>,
    usage: &'static str,
    only_positionals: bool,
}

enum Arg<'a> {
    Flag(&'a str, Option<&'a str>),
    Positional(&'a str),
}

impl<'a> Args<'a> {
    fn new(args: &'a [String], usage: &'static str) -> Args<'a> {
        Args {
            rest: args.iter(),
            usage,
            only_positionals: false,
        }
    }

    fn next(&mut self) -> Option<Arg<'a>> {
        loop {
            let arg = self.rest.next()?.as_str();
            if self.only_positionals || arg == "-" || !arg.starts_with('-') {
                return Some(Arg::Positional(arg));
            }
            if arg == "--" {
                self.only_positionals = true;
                continue;
            }
            return Some(match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => Arg::Flag(flag, Some(value)),
                _ => Arg::Flag(arg, None),
            });
        }
    }

    /// The value of `flag`: inline, or the next argument, unless that is
    /// a flag (`--watch --no-state` would watch a file named `--no-state`
    /// and keep state); `--watch=--odd-name` gives such a value.
    fn value(&mut self, flag: &str, inline: Option<&'a str>) -> Result<&'a str, UsageError> {
        if let Some(v) = inline {
            return Ok(v);
        }
        let Some(v) = self.rest.next().map(String::as_str) else {
            return Err(self.error(format!("{flag} needs a value")));
        };
        let mut after_dash = v.strip_prefix('-').unwrap_or("").chars();
        if !self.only_positionals
            && matches!(after_dash.next(), Some(c) if c == '-' || c.is_ascii_alphabetic())
        {
            return Err(self.error(format!(
                "{flag} needs a value, and {v} is a flag (a value that starts with a dash is given as {flag}={v})"
            )));
        }
        Ok(v)
    }

    /// A value that may not be empty (`--token ""` would mean no token).
    fn text(&mut self, flag: &str, inline: Option<&'a str>) -> Result<String, UsageError> {
        match self.value(flag, inline)? {
            "" => Err(self.error(format!("{flag} must not be empty"))),
            v => Ok(v.to_string()),
        }
    }

    fn parsed<T: std::str::FromStr>(
        &mut self,
        flag: &str,
        inline: Option<&'a str>,
        what: &str,
    ) -> Result<T, UsageError> {
        let v = self.value(flag, inline)?;
        v.parse()
            .map_err(|_| self.error(format!("{flag}: {v:?} is not {what}")))
    }

    fn duration(&mut self, flag: &str, inline: Option<&'a str>) -> Result<Duration, UsageError> {
        let v = self.value(flag, inline)?;
        parse_duration(v, "s").map_err(|e| self.error(format!("{flag}: {e}")))
    }

    fn positive_duration(
        &mut self,
        flag: &str,
        inline: Option<&'a str>,
    ) -> Result<Duration, UsageError> {
        let d = self.duration(flag, inline)?;
        if d.is_zero() {
            return Err(self.error(format!("{flag} must be more than zero")));
        }
        Ok(d)
    }

    fn no_value(&self, flag: &str, inline: Option<&str>) -> Result<(), UsageError> {
        match inline {
            Some(_) => Err(self.error(format!("{flag} takes no value"))),
            None => Ok(()),
        }
    }

    fn error(&self, message: String) -> UsageError {
        UsageError {
            message,
            usage: self.usage,
        }
    }

    fn unknown(&self, flag: &str) -> UsageError {
        self.error(format!("unknown flag {flag}"))
    }
}

fn parse_serve(args: &[String], env_token: Option<String>) -> Result<Command, UsageError> {
    let mut config = Config {
        handle_signals: true,
        token: env_token,
        ..Config::default()
    };
    let mut no_qr = false;
    let mut qr = QrTarget::Page;
    let mut no_state = false;
    let mut state_dir: Option<PathBuf> = None;
    let mut watch: Vec<PathBuf> = Vec::new();
    let mut verbosity = Verbosity::Normal;
    // Given (`Some`): checked against the ping interval; else it follows it.
    let mut idle_timeout: Option<Duration> = None;
    let mut a = Args::new(args, SERVE_USAGE);
    while let Some(arg) = a.next() {
        let (flag, inline) = match arg {
            Arg::Flag(f, v) => (f, v),
            Arg::Positional(p) => {
                return Err(a.error(format!("unexpected argument {p:?}")));
            }
        };
        let hub = &mut config.hub;
        match flag {
            "--help" | "-h" => return Ok(Command::Help(SERVE_HELP)),
            "--version" | "-V" => return Ok(Command::Version),
            "--host" => {
                let v = a.value(flag, inline)?;
                config.host = match v {
                    "localhost" => IpAddr::from([127, 0, 0, 1]),
                    _ => v.parse().map_err(|_| {
                        a.error(format!("--host: {v:?} is not an IP address to bind"))
                    })?,
                };
            }
            "--port" | "-p" => config.port = a.parsed(flag, inline, "a port number (0-65535)")?,
            "--strict-port" => {
                a.no_value(flag, inline)?;
                config.strict_port = true;
            }
            "--public-host" => {
                let v = a.value(flag, inline)?;
                let host = crate::net::parse_public_host(v).ok_or_else(|| {
                    a.error(format!(
                        "--public-host: {v:?} is not a host name or IP address (e.g. dev.local, 192.168.1.20); no scheme, port or path"
                    ))
                })?;
                config.public_host = Some(host.to_string());
            }
            "--no-qr" => {
                a.no_value(flag, inline)?;
                no_qr = true;
            }
            "--qr" => {
                qr = match a.value(flag, inline)? {
                    "page" => QrTarget::Page,
                    "ws" => QrTarget::WebSocket,
                    v => {
                        return Err(a.error(format!(
                            "--qr: {v:?} is not page (the web device) or ws (the WebSocket URL)"
                        )));
                    }
                }
            }
            "--watch" | "-w" => {
                let path = PathBuf::from(a.value(flag, inline)?);
                if path.as_os_str().is_empty() {
                    return Err(a.error("--watch needs a file name".into()));
                }
                if watch.contains(&path) {
                    return Err(a.error(format!("--watch {}: given twice", path.display())));
                }
                watch.push(path);
            }
            "--watch-poll" => {
                a.no_value(flag, inline)?;
                config.watch_poll = true;
            }
            "--session-timeout" => hub.session_ttl = a.positive_duration(flag, inline)?,
            "--ping-interval" => hub.ping_interval = a.positive_duration(flag, inline)?,
            "--idle-timeout" => idle_timeout = Some(a.positive_duration(flag, inline)?),
            "--connect-timeout" => hub.connect_timeout = a.positive_duration(flag, inline)?,
            "--request-timeout" => config.request_timeout = a.positive_duration(flag, inline)?,
            "--keep-alive-timeout" => {
                config.keep_alive_timeout = a.positive_duration(flag, inline)?
            }
            "--coalesce-ms" => {
                let v = a.value(flag, inline)?;
                hub.coalesce =
                    parse_duration(v, "ms").map_err(|e| a.error(format!("{flag}: {e}")))?;
            }
            "--max-connections" => {
                config.max_connections = a.parsed(flag, inline, "a whole number")?
            }
            "--max-sessions" => hub.max_sessions = a.parsed(flag, inline, "a whole number")?,
            "--state-dir" => {
                let v = a.value(flag, inline)?;
                if v.is_empty() {
                    return Err(a.error("--state-dir must not be empty".into()));
                }
                state_dir = Some(PathBuf::from(v));
            }
            "--no-state" => {
                a.no_value(flag, inline)?;
                no_state = true;
            }
            "--history-updates" => {
                hub.history_updates = a.parsed(flag, inline, "a whole number")?
            }
            "--history-bytes" => {
                let v = a.value(flag, inline)?;
                hub.history_bytes = parse_size(v).map_err(|e| a.error(format!("{flag}: {e}")))?;
            }
            "--max-message-bytes" => {
                let v = a.value(flag, inline)?;
                config.max_message_bytes =
                    parse_size(v).map_err(|e| a.error(format!("{flag}: {e}")))?;
            }
            "--max-body-bytes" => {
                let v = a.value(flag, inline)?;
                config.max_body_bytes =
                    parse_size(v).map_err(|e| a.error(format!("{flag}: {e}")))?;
            }
            "--max-body-buffer" => {
                let v = a.value(flag, inline)?;
                config.max_buffered_body_bytes =
                    parse_size(v).map_err(|e| a.error(format!("{flag}: {e}")))?;
            }
            "--max-queued-updates" => {
                config.max_queued_updates = a.parsed(flag, inline, "a whole number")?
            }
            "--rate-limit" => {
                hub.rate_limit = a.parsed(flag, inline, "a number of messages per second")?
            }
            "--token" => config.token = Some(a.text(flag, inline)?),
            "--allowed-host" => config.allowed_hosts.push(a.text(flag, inline)?),
            "--allowed-origin" => config.allowed_origins.push(a.text(flag, inline)?),
            "--verbose" | "-v" | "--quiet" | "-q" => {
                a.no_value(flag, inline)?;
                let wanted = match flag {
                    "--verbose" | "-v" => Verbosity::Verbose,
                    _ => Verbosity::Quiet,
                };
                if verbosity != Verbosity::Normal && verbosity != wanted {
                    return Err(a.error(
                        "--verbose and --quiet contradict each other; give one of them".into(),
                    ));
                }
                verbosity = wanted;
            }
            _ => return Err(a.unknown(flag)),
        }
    }
    let positive = [
        ("--max-connections", config.max_connections),
        ("--max-sessions", config.hub.max_sessions),
        ("--max-message-bytes", config.max_message_bytes),
        ("--max-body-bytes", config.max_body_bytes),
        ("--max-queued-updates", config.max_queued_updates),
        ("--rate-limit", config.hub.rate_limit as usize),
    ];
    if let Some((flag, _)) = positive.iter().find(|(_, n)| *n == 0) {
        return Err(a.error(format!("{flag} must be at least 1")));
    }
    if config.max_buffered_body_bytes < config.max_body_bytes {
        return Err(a.error(format!(
            "--max-body-buffer ({} bytes) must be at least --max-body-bytes ({} bytes), or the largest bodies are never accepted",
            config.max_buffered_body_bytes, config.max_body_bytes
        )));
    }
    // Pongs are what a quiet device sends: it must be allowed to wait for
    // the next ping. Left at its default, the idle timeout follows a long
    // ping interval; given, it must fit.
    let hub = &mut config.hub;
    hub.idle_timeout = match idle_timeout {
        None => hub.idle_timeout.max(hub.ping_interval * 2),
        Some(idle) if idle <= hub.ping_interval => {
            return Err(a.error(format!(
                "--idle-timeout ({}) must be longer than --ping-interval ({}): a device that only answers the server's pings would be closed between two of them",
                format_duration(idle),
                format_duration(hub.ping_interval)
            )));
        }
        Some(idle) => idle,
    };
    if no_state && state_dir.is_some() {
        return Err(a.error("--no-state and --state-dir contradict each other".into()));
    }
    // A server on a random port (`--port 0`) cannot find its state again:
    // it keeps some only in a directory it is given.
    config.state_dir = match state_dir {
        Some(dir) => Some(dir),
        None if no_state || config.port == 0 => None,
        None => crate::server::state::default_dir(),
    };
    Ok(Command::Serve(Box::new(ServeOptions {
        config,
        no_qr,
        qr,
        watch,
        verbosity,
    })))
}

fn parse_push(args: &[String], env_token: Option<String>) -> Result<Command, UsageError> {
    let mut server = DEFAULT_SERVER.to_string();
    let mut session = None;
    let mut preserve_state = true;
    let mut token = env_token;
    let mut file = None;
    let mut a = Args::new(args, PUSH_USAGE);
    while let Some(arg) = a.next() {
        match arg {
            Arg::Positional(p) if file.is_none() => file = Some(p.to_string()),
            Arg::Positional(p) => return Err(a.error(format!("unexpected argument {p:?}"))),
            Arg::Flag(flag, inline) => match flag {
                "--help" | "-h" => return Ok(Command::Help(PUSH_HELP)),
                "--version" | "-V" => return Ok(Command::Version),
                "--server" | "-s" => {
                    server = a.text(flag, inline)?;
                    super::http_client::parse_url(&server)
                        .map_err(|e| a.error(format!("--server: {e}")))?;
                }
                "--session" => session = Some(a.text(flag, inline)?),
                "--no-preserve-state" => {
                    a.no_value(flag, inline)?;
                    preserve_state = false;
                }
                "--token" => token = Some(a.text(flag, inline)?),
                _ => return Err(a.unknown(flag)),
            },
        }
    }
    let file =
        file.ok_or_else(|| a.error("which file? give a schema file, or - for stdin".into()))?;
    Ok(Command::Push(PushOptions {
        server,
        session,
        preserve_state,
        token,
        file,
    }))
}

fn parse_device(args: &[String]) -> Result<Command, UsageError> {
    let mut url = None;
    // Filled in as the flags come; the URL is checked once all are read.
    let mut opts = DeviceFlags {
        count: 1,
        name: "headless".into(),
        platform: "headless".into(),
        quiet: false,
        ping_interval: DEVICE_PING_INTERVAL,
    };
    let mut a = Args::new(args, DEVICE_USAGE);
    while let Some(arg) = a.next() {
        match arg {
            Arg::Positional(p) if url.is_none() => url = Some(p.to_string()),
            Arg::Positional(p) => return Err(a.error(format!("unexpected argument {p:?}"))),
            Arg::Flag(flag, inline) => match flag {
                "--help" | "-h" => return Ok(Command::Help(DEVICE_HELP)),
                "--version" | "-V" => return Ok(Command::Version),
                "--count" | "-n" => {
                    opts.count = a.parsed(flag, inline, "a whole number")?;
                    if opts.count == 0 || opts.count > 100_000 {
                        return Err(a.error("--count must be between 1 and 100000".into()));
                    }
                }
                "--name" => opts.name = a.text(flag, inline)?,
                "--platform" => opts.platform = a.text(flag, inline)?,
                "--ping-interval" => opts.ping_interval = a.positive_duration(flag, inline)?,
                "--quiet" | "-q" => {
                    a.no_value(flag, inline)?;
                    opts.quiet = true;
                }
                _ => return Err(a.unknown(flag)),
            },
        }
    }
    let url = url.ok_or_else(|| {
        a.error(
            "which server? give the URL the server printed (ws://HOST:PORT/ws?session=ID)".into(),
        )
    })?;
    let url = WsUrl::parse(&url).map_err(|e| a.error(e))?;
    let DeviceFlags {
        count,
        name,
        platform,
        quiet,
        ping_interval,
    } = opts;
    Ok(Command::Device(DeviceOptions {
        url,
        count,
        name,
        platform,
        quiet,
        ping_interval,
    }))
}

/// The `device` flags other than the URL, while they are read.
struct DeviceFlags {
    count: usize,
    name: String,
    platform: String,
    quiet: bool,
    ping_interval: Duration,
}

#[cfg(test)]
mod tests {
    use super::super::units::{format_duration, format_size};
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn serve(s: &str) -> ServeOptions {
        match parse(&args(s), None) {
            Ok(Command::Serve(o)) => *o,
            other => panic!("{s}: {other:?}"),
        }
    }

    fn err(s: &str) -> UsageError {
        match parse(&args(s), None) {
            Err(e) => e,
            Ok(c) => panic!("{s}: expected an error, got {c:?}"),
        }
    }

    #[test]
    fn state_dir_flags() {
        let o = serve("--state-dir /tmp/x --port 3001");
        assert_eq!(o.config.state_dir, Some(PathBuf::from("/tmp/x")));
        // Explicit directories are kept even on a random port.
        let o = serve("--state-dir=/tmp/y --port 0");
        assert_eq!(o.config.state_dir, Some(PathBuf::from("/tmp/y")));
        assert_eq!(serve("--no-state").config.state_dir, None);
        assert_eq!(serve("--port 0").config.state_dir, None);
        assert!(
            err("--no-state --state-dir /tmp/x")
                .message
                .contains("contradict")
        );
        assert!(err("--state-dir=").message.contains("must not be empty"));
        let o = serve("--history-updates 8 --history-bytes 1MiB");
        assert_eq!(
            (o.config.hub.history_updates, o.config.hub.history_bytes),
            (8, 1 << 20)
        );
        assert_eq!(serve("--history-updates 0").config.hub.history_updates, 0);
        assert!(
            err("--history-bytes lots")
                .message
                .contains("--history-bytes")
        );
        // The default follows $XDG_STATE_HOME / $HOME; it is the library's
        // resolution, per port below it.
        let d = serve("--port 3002").config.state_dir;
        assert_eq!(d, crate::server::state::default_dir());
    }

    #[test]
    fn no_arguments_serve_with_the_defaults() {
        let o = serve("");
        let d = Config::default();
        assert_eq!(o.config.port, d.port);
        assert_eq!(o.config.host, d.host);
        assert!(o.config.handle_signals);
        assert!(!o.no_qr);
        assert_eq!(o.qr, QrTarget::Page);
        assert_eq!(o.verbosity, Verbosity::Normal);
        assert_eq!(serve("serve").config.port, d.port);
    }

    #[test]
    fn watch_is_repeatable_but_not_twice_the_same_file() {
        let o = serve("-w a.json --watch=b/c.json --watch-poll");
        assert_eq!(
            o.watch,
            [PathBuf::from("a.json"), PathBuf::from("b/c.json")]
        );
        assert!(o.config.watch_poll);
        assert!(serve("").watch.is_empty());
        let e = err("--watch a.json -w a.json");
        assert_eq!(e.message, "--watch a.json: given twice");
        assert_eq!(err("--watch=").message, "--watch needs a file name");
        assert!(err("--watch-poll=yes").message.contains("--watch-poll"));
    }

    #[test]
    fn qr_target() {
        assert_eq!(serve("--qr ws").qr, QrTarget::WebSocket);
        assert_eq!(serve("--qr=page").qr, QrTarget::Page);
        assert!(err("--qr wss").message.contains("not page"));
        assert!(err("--qr").message.contains("--qr"));
    }

    #[test]
    fn every_serve_flag_maps_onto_the_config() {
        let o = serve(
            "serve --host 127.0.0.1 --port=4000 --strict-port --public-host dev.local --no-qr \
             --watch app.json --session-timeout 1h --ping-interval 5s --idle-timeout 10s \
             --connect-timeout 2s --request-timeout 3s --keep-alive-timeout 4s --coalesce-ms 0 \
             --max-connections 50 --max-sessions 7 --max-message-bytes 32KiB \
             --max-body-bytes 1MiB --max-body-buffer 3MiB --max-queued-updates 8 --rate-limit 20 --token t \
             --allowed-host a.test --allowed-host b.test --allowed-origin http://x.test -q",
        );
        let c = &o.config;
        assert_eq!(c.host, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(c.port, 4000);
        assert!(c.strict_port && o.no_qr);
        assert_eq!(c.public_host.as_deref(), Some("dev.local"));
        assert_eq!(o.watch, vec![PathBuf::from("app.json")]);
        assert!(!c.watch_poll);
        assert_eq!(c.hub.session_ttl, Duration::from_secs(3600));
        assert_eq!(c.hub.ping_interval, Duration::from_secs(5));
        assert_eq!(c.hub.idle_timeout, Duration::from_secs(10));
        assert_eq!(c.hub.connect_timeout, Duration::from_secs(2));
        assert_eq!(c.request_timeout, Duration::from_secs(3));
        assert_eq!(c.keep_alive_timeout, Duration::from_secs(4));
        assert_eq!(c.hub.coalesce, Duration::ZERO);
        assert_eq!(c.max_connections, 50);
        assert_eq!(c.hub.max_sessions, 7);
        assert_eq!(c.max_message_bytes, 32 * 1024);
        assert_eq!(c.max_body_bytes, 1 << 20);
        assert_eq!(c.max_buffered_body_bytes, 3 << 20);
        assert_eq!(c.max_queued_updates, 8);
        assert_eq!(c.hub.rate_limit, 20);
        assert_eq!(c.token.as_deref(), Some("t"));
        assert_eq!(c.allowed_hosts, ["a.test", "b.test"]);
        assert_eq!(c.allowed_origins, ["http://x.test"]);
        assert_eq!(o.verbosity, Verbosity::Quiet);
        assert_eq!(serve("-v").verbosity, Verbosity::Verbose);
        assert_eq!(
            serve("--coalesce-ms 250").config.hub.coalesce.as_millis(),
            250
        );
    }

    #[test]
    fn token_comes_from_the_environment_unless_given() {
        let from_env = |s: &str| match parse(&args(s), Some("env".into())) {
            Ok(Command::Serve(o)) => o.config.token,
            Ok(Command::Push(p)) => p.token,
            other => panic!("{other:?}"),
        };
        assert_eq!(from_env("").as_deref(), Some("env"));
        assert_eq!(from_env("--token flag").as_deref(), Some("flag"));
        assert_eq!(from_env("push f.json").as_deref(), Some("env"));
        assert_eq!(from_env("push --token x f.json").as_deref(), Some("x"));
    }

    #[test]
    fn mistakes_are_usage_errors() {
        assert_eq!(err("--frobnicate").message, "unknown flag --frobnicate");
        assert_eq!(err("--frobnicate").usage, SERVE_USAGE);
        assert_eq!(err("push --nope f").usage, PUSH_USAGE);
        assert_eq!(err("device --nope").usage, DEVICE_USAGE);
        assert!(err("--port").message.contains("needs a value"));
        assert_eq!(
            err("--watch --no-state").message,
            "--watch needs a value, and --no-state is a flag (a value that starts with a dash is given as --watch=--no-state)"
        );
        assert!(err("--state-dir -v").message.contains("-v is a flag"));
        assert_eq!(
            serve("--watch=--odd.json").watch,
            vec![PathBuf::from("--odd.json")]
        );
        // A negative number is a value (refused for what it is).
        assert!(err("--port -1").message.contains("is not a port number"));
        assert!(err("--port 70000").message.contains("port number"));
        assert!(err("--ping-interval 0s").message.contains("more than zero"));
        assert_eq!(
            err("--ping-interval 5s --idle-timeout 2s").message,
            "--idle-timeout (2s) must be longer than --ping-interval (5s): a device that only answers the server's pings would be closed between two of them"
        );
        assert!(
            err("--ping-interval 5s --idle-timeout 5s")
                .message
                .contains("must be longer")
        );
        // Left at its default (60 s), the idle timeout follows a longer
        // ping interval.
        let c = serve("--ping-interval 90s").config;
        assert_eq!(c.hub.idle_timeout, Duration::from_secs(180));
        let c = serve("--ping-interval 10s").config;
        assert_eq!(c.hub.idle_timeout, Duration::from_secs(60));
        let c = serve("--ping-interval 45s").config;
        assert_eq!(c.hub.idle_timeout, Duration::from_secs(90));
        assert!(err("--session-timeout soon").message.contains("duration"));
        assert!(err("--max-connections 0").message.contains("at least 1"));
        assert!(
            err("--max-body-buffer 1MiB")
                .message
                .contains("at least --max-body-bytes")
        );
        assert!(err("--no-qr=yes").message.contains("takes no value"));
        assert!(err("stray").message.contains("unexpected"));
        assert!(err("push").message.contains("file"));
        assert!(err("push a b").message.contains("unexpected"));
        // A bad --server is a usage error with push's usage line.
        let e = err("push -s ftp://x app.json");
        assert_eq!(e.usage, PUSH_USAGE);
        assert!(
            e.message.contains("only http:// is supported"),
            "{}",
            e.message
        );
        assert!(
            err("push -s http://127.0.0.1:99999 a.json")
                .message
                .starts_with("--server: ")
        );
        // Empty values mean nothing: refused, not taken.
        for (cmd, flag) in [
            ("push", "--token"),
            ("push", "--session"),
            ("serve", "--token"),
            ("device", "--name"),
        ] {
            let mut argv = vec![cmd.to_string(), flag.to_string(), String::new()];
            argv.push(
                if cmd == "device" {
                    "ws://h:1/ws?session=s"
                } else {
                    "f.json"
                }
                .into(),
            );
            if cmd == "serve" {
                argv.pop();
            }
            match parse(&argv, None) {
                Err(e) => assert_eq!(e.message, format!("{flag} must not be empty"), "{cmd}"),
                Ok(c) => panic!("{cmd} {flag} \"\": {c:?}"),
            }
        }
        assert!(err("device").message.contains("URL"));
        assert!(err("device ws://x --count 0").message.contains("--count"));
        let shown = err("--bogus").to_string();
        assert!(shown.starts_with("error: unknown flag --bogus\nusage: "));
    }

    #[test]
    fn help_on_an_unknown_subcommand_is_a_usage_error() {
        assert!(err("help bogus").message.contains("no help on \"bogus\""));
        assert!(err("help push extra").message.contains("unexpected"));
        for (s, text) in [
            ("help", SERVE_HELP),
            ("help serve", SERVE_HELP),
            ("help push", PUSH_HELP),
            ("help device", DEVICE_HELP),
        ] {
            assert!(
                matches!(parse(&args(s), None), Ok(Command::Help(t)) if t == text),
                "{s}"
            );
        }
    }

    #[test]
    fn verbose_and_quiet_together_are_refused() {
        for s in ["-v -q", "--quiet --verbose", "-q -v -q"] {
            assert!(err(s).message.contains("contradict"), "{s}");
        }
        assert_eq!(serve("-v -v").verbosity, Verbosity::Verbose);
        assert_eq!(serve("-q --quiet").verbosity, Verbosity::Quiet);
    }

    #[test]
    fn public_host_is_a_host_name_or_an_ip() {
        for (given, kept) in [
            ("dev.local", "dev.local"),
            ("192.168.1.20", "192.168.1.20"),
            ("[fe80::1]", "fe80::1"),
            ("fe80::1", "fe80::1"),
            ("my-laptop", "my-laptop"),
        ] {
            let o = serve(&format!("--public-host {given}"));
            assert_eq!(o.config.public_host.as_deref(), Some(kept), "{given}");
        }
        for bad in [
            "bad host!",
            "http://x",
            "x:3000",
            "a/b",
            "",
            "-x",
            "a..b",
            "10.0.0.300",
        ] {
            let e = parse(&[String::from("--public-host"), bad.to_string()], None).expect_err(bad);
            assert!(
                e.message.starts_with("--public-host"),
                "{bad}: {}",
                e.message
            );
        }
    }

    #[test]
    fn push_and_device_options() {
        match parse(
            &args("push --server http://h:1 --session s --no-preserve-state -"),
            None,
        ) {
            Ok(Command::Push(p)) => {
                assert_eq!(p.server, "http://h:1");
                assert_eq!(p.session.as_deref(), Some("s"));
                assert!(!p.preserve_state);
                assert_eq!(p.file, "-");
            }
            other => panic!("{other:?}"),
        }
        match parse(&args("push app.json"), None) {
            Ok(Command::Push(p)) => {
                assert_eq!(p.server, DEFAULT_SERVER);
                assert_eq!(p.session, None);
                assert!(p.preserve_state);
            }
            other => panic!("{other:?}"),
        }
        match parse(
            &args(
                "device ws://h/ws?session=x -n 5 --name bot --platform ios -q --ping-interval 1s",
            ),
            None,
        ) {
            Ok(Command::Device(d)) => {
                assert_eq!(d.url.to_string(), "ws://h:80/ws?session=x");
                assert_eq!(d.url.session, "x");
                assert_eq!(d.count, 5);
                assert_eq!(d.name, "bot");
                assert_eq!(d.platform, "ios");
                assert!(d.quiet);
                assert_eq!(d.ping_interval, Duration::from_secs(1));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn help_and_version() {
        for (line, text) in [
            ("--help", "SERVE FLAGS"),
            ("serve -h", "SERVE FLAGS"),
            ("help push", "--no-preserve-state"),
            ("push --help", "--no-preserve-state"),
            ("device --help", "--count"),
            ("help device", "--count"),
        ] {
            match parse(&args(line), None) {
                Ok(Command::Help(h)) => assert!(h.contains(text), "{line}"),
                other => panic!("{line}: {other:?}"),
            }
        }
        assert!(matches!(
            parse(&args("--version"), None),
            Ok(Command::Version)
        ));
        assert!(matches!(
            parse(&args("push -V"), None),
            Ok(Command::Version)
        ));
    }

    /// The help texts write their defaults out; they must be the real ones.
    #[test]
    fn help_shows_the_real_defaults_of_every_flag() {
        let c = Config::default();
        let h = &c.hub;
        let d = format_duration;
        let expected = [
            ("--host IP", c.host.to_string()),
            ("--port N", c.port.to_string()),
            ("--session-timeout", d(h.session_ttl)),
            ("--ping-interval", d(h.ping_interval)),
            ("--idle-timeout", d(h.idle_timeout)),
            ("--connect-timeout", d(h.connect_timeout)),
            ("--request-timeout", d(c.request_timeout)),
            ("--keep-alive-timeout", d(c.keep_alive_timeout)),
            ("--coalesce-ms", h.coalesce.as_millis().to_string()),
            ("--max-connections", c.max_connections.to_string()),
            ("--max-sessions", h.max_sessions.to_string()),
            ("--max-message-bytes", format_size(c.max_message_bytes)),
            ("--max-body-bytes", format_size(c.max_body_bytes)),
            ("--max-body-buffer", format_size(c.max_buffered_body_bytes)),
            ("--max-queued-updates", c.max_queued_updates.to_string()),
            ("--history-updates", h.history_updates.to_string()),
            ("--history-bytes", format_size(h.history_bytes)),
            ("--rate-limit", h.rate_limit.to_string()),
            ("--token", format!("${TOKEN_ENV} or none")),
        ];
        for (flag, value) in expected {
            let line = SERVE_HELP
                .lines()
                .find(|l| l.contains(flag))
                .unwrap_or_else(|| panic!("{flag} missing from --help"));
            assert!(
                line.ends_with(&format!(" {value}")),
                "{flag}: {line:?} should end with {value}"
            );
        }
        for flag in [
            "--strict-port",
            "--public-host",
            "--no-qr",
            "--watch",
            "--allowed-host",
            "--allowed-origin",
            "--verbose",
            "--quiet",
        ] {
            assert!(SERVE_HELP.contains(flag), "{flag} missing from --help");
        }
        assert!(SERVE_HELP.starts_with(concat!("lumora-hr-mini ", env!("CARGO_PKG_VERSION"), ":")));
        let server_line = PUSH_HELP
            .lines()
            .find(|l| l.contains("-s, --server"))
            .unwrap_or("");
        assert!(server_line.ends_with(DEFAULT_SERVER));
        assert!(PUSH_HELP.contains(PUSH_USAGE));
        assert!(DEVICE_HELP.contains(DEVICE_USAGE));
        let ping = DEVICE_HELP
            .lines()
            .find(|l| l.contains("--ping-interval"))
            .unwrap_or("");
        assert!(ping.ends_with(&format_duration(DEVICE_PING_INTERVAL)));
    }
}
