//! The few lines `lumora-hr-mini` prints when it starts: where it
//! listens, the URL (and QR code) devices use, the startup session and how
//! to push to it.

use super::args::DEFAULT_SERVER;
use super::logging::{local_date, local_hms};
use super::qr::{Ecc, QrCode};
use crate::net::InterfaceAddr;
use crate::server::urls;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Light modules around the QR code.
const QUIET: usize = 2;

/// The width of the terminal on stdout, if stdout is one.
pub fn terminal_columns() -> Option<usize> {
    // SAFETY: winsize is plain data, for which all zeroes is valid.
    let mut w: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes only the struct we pass, valid for the call.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut w) } == 0;
    (ok && w.ws_col > 0).then_some(usize::from(w.ws_col))
}

/// Everything the banner shows.
#[derive(Debug, Clone)]
pub struct Banner<'a> {
    /// The address bound.
    pub listening: SocketAddr,
    /// The port asked for, when it was taken and another was used.
    pub port_taken: Option<u16>,
    /// `host:port` devices are told to use.
    pub advertised: &'a str,
    /// The startup session.
    pub session_id: &'a str,
    /// Its expiry, ms since the epoch.
    pub expires_at_ms: u64,
    /// The time now, ms since the epoch.
    pub now_ms: u64,
    /// How the program was invoked, for the push command.
    pub program: &'a str,
    /// The files watched (`--watch`, repeatable).
    pub watch: &'a [PathBuf],
    /// A schema file that exists, for the push command when nothing is
    /// watched (`examples/app.json` in a clone of the repository).
    pub example: Option<&'a Path>,
    /// Keyboard shortcuts are on (stdin is a terminal).
    pub keys: bool,
    /// The LAN addresses found, best first, when bound to all interfaces
    /// without `--public-host`; shown when there are several.
    pub network: &'a [InterfaceAddr],
    /// Draw the QR code.
    pub qr: bool,
    /// The terminal's width in columns, when stdout is one: a QR code
    /// wider than it would wrap and not scan, so it is not drawn.
    pub columns: Option<usize>,
    /// What the QR code holds.
    pub qr_target: QrTarget,
    /// Use ANSI colours.
    pub color: bool,
    /// Time from start to ready.
    pub startup: Duration,
}

/// What the banner's QR code opens (`--qr page|ws`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QrTarget {
    /// The web device page, which any phone camera opens (the default).
    #[default]
    Page,
    /// The WebSocket URL, for native apps that scan it.
    WebSocket,
}

impl Banner<'_> {
    /// The URL devices connect to.
    pub fn ws_url(&self) -> String {
        urls::ws_url(self.advertised, self.session_id)
    }

    /// The web device page.
    pub fn page_url(&self) -> String {
        urls::page_url(self.advertised, self.session_id)
    }

    /// The URL in the QR code.
    pub fn qr_url(&self) -> String {
        match self.qr_target {
            QrTarget::Page => self.page_url(),
            QrTarget::WebSocket => self.ws_url(),
        }
    }

    /// The control API's URL from this machine.
    pub fn control_url(&self) -> String {
        let ip = match self.listening.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.listening.port()))
    }

    /// The banner text, ending with a blank line.
    pub fn render(&self) -> String {
        let (bold, cyan, dim, reset) = if self.color {
            ("\x1b[1m", "\x1b[36m", "\x1b[2m", "\x1b[0m")
        } else {
            ("", "", "", "")
        };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n  {bold}lumora-hr-mini {}{reset}  ready in {} ms\n",
            env!("CARGO_PKG_VERSION"),
            self.startup.as_millis()
        );
        let _ = write!(out, "  Listening  http://{}", self.listening);
        if let Some(port) = self.port_taken {
            let _ = write!(
                out,
                "  {dim}(port {port} was taken; using {}){reset}",
                self.listening.port()
            );
        }
        out.push('\n');
        let _ = writeln!(out, "  Web device {cyan}{}{reset}", self.page_url());
        let _ = writeln!(out, "  Devices    {cyan}{}{reset}", self.ws_url());
        self.network_lines(&mut out, dim, reset);
        if self.qr {
            let url = self.qr_url();
            // Its rows are indented by 2, one column per module.
            let width = |code: &QrCode| code.size() + 2 * QUIET + 2;
            match QrCode::encode(url.as_bytes(), Ecc::Low) {
                Some(code) if self.columns.is_some_and(|c| c < width(&code)) => {
                    let _ = writeln!(
                        out,
                        "\n  {dim}(the QR code needs {} columns and the terminal has {}: widen it{}){reset}",
                        width(&code),
                        self.columns.unwrap_or(0),
                        if self.keys {
                            " and press c"
                        } else {
                            " to see it at the next start"
                        }
                    );
                }
                Some(code) => {
                    out.push('\n');
                    for line in code.render(QUIET, self.color).lines() {
                        let _ = writeln!(out, "  {line}");
                    }
                    let what = match self.qr_target {
                        QrTarget::Page => "opens the web device in a phone's browser",
                        QrTarget::WebSocket => "holds the Devices URL, for native apps",
                    };
                    let _ = writeln!(out, "  {dim}(the QR code {what}){reset}");
                }
                None => out.push_str("  (the URL is too long for a QR code)\n"),
            }
        }
        let expires_in = Duration::from_millis(self.expires_at_ms.saturating_sub(self.now_ms));
        let (h, m, _) = local_hms(self.expires_at_ms / 1000);
        // A day or more away, the time alone would read as today's.
        let day = if expires_in >= Duration::from_secs(24 * 3600) {
            format!("{} ", local_date(self.expires_at_ms / 1000))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "\n  Session    {}  {dim}(expires {day}{h:02}:{m:02}, in {}){reset}",
            self.session_id,
            human(expires_in)
        );
        let control = self.control_url();
        let server_flag = if control == DEFAULT_SERVER {
            String::new()
        } else {
            format!(" --server {control}")
        };
        // A file that exists, so the command works as printed; FILE when
        // there is none to name.
        let file = self
            .watch
            .first()
            .map(PathBuf::as_path)
            .or(self.example)
            .map(|p| shell_word(&p.display().to_string()))
            .unwrap_or_else(|| "FILE".into());
        let _ = writeln!(
            out,
            "  Push       {bold}{} push{server_flag} {file}{reset}",
            shell_word(self.program)
        );
        let _ = writeln!(
            out,
            "  {dim}       or  curl -X POST -H 'Content-Type: application/json' --data @{file} {control}/send/{}{reset}",
            self.session_id
        );
        for (i, path) in self.watch.iter().enumerate() {
            let label = if i == 0 { "Watching" } else { "" };
            let _ = writeln!(
                out,
                "  {label:<8}   {}  {dim}(pushed whenever it changes){reset}",
                path.display()
            );
        }
        if self.keys {
            let _ = writeln!(
                out,
                "\n  {dim}press{reset} {bold}h{reset} {dim}for help{reset}"
            );
        }
        out.push('\n');
        out
    }
}

/// `word`, quoted for a POSIX shell when it has characters the shell would
/// treat specially.
fn shell_word(word: &str) -> String {
    let plain = |b: u8| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b);
    if !word.is_empty() && word.bytes().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

impl Banner<'_> {
    /// One `Network` line per candidate address when there are several,
    /// saying which one the URL and QR code hold and how to pick another.
    fn network_lines(&self, out: &mut String, dim: &str, reset: &str) {
        if self.network.len() < 2 {
            return;
        }
        let chosen = crate::net::parse_authority(self.advertised, 0).map(|(h, _)| h);
        let labels: Vec<String> = self
            .network
            .iter()
            .map(|a| format!("{} ({})", a.ip, super::keys::printable(&a.name)))
            .collect();
        let width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
        for (a, label) in self.network.iter().zip(&labels) {
            let note = if chosen == Some(a.ip.to_string().as_str()) {
                "in the URLs above and the QR code".to_string()
            } else {
                format!("--public-host {} to use this one", a.ip)
            };
            let _ = writeln!(out, "  Network    {label:<width$}  {dim}{note}{reset}");
        }
    }
}

/// `8h`, `7h 59m`, `5m`, `40s` (to the nearest minute above a minute).
fn human(d: Duration) -> String {
    let mut s = d.as_secs_f64().round() as u64;
    if s >= 60 {
        s = (s + 30) / 60 * 60;
    }
    match (s / 3600, s / 60 % 60) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h {m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn banner<'a>() -> Banner<'a> {
        Banner {
            listening: "0.0.0.0:3000".parse().unwrap(),
            port_taken: None,
            advertised: "192.168.1.20:3000",
            session_id: "2f6c1e2a-8d3b-4c5e-9f10-3a4b5c6d7e8f",
            expires_at_ms: 1_700_000_000_000 + 8 * 3_600_000,
            now_ms: 1_700_000_000_000,
            program: "lumora-hr-mini",
            watch: &[],
            example: None,
            keys: false,
            network: &[],
            qr: false,
            columns: None,
            qr_target: QrTarget::Page,
            color: false,
            startup: Duration::from_millis(3),
        }
    }

    #[test]
    fn shows_url_session_expiry_and_push_command() {
        let text = banner().render();
        assert!(text.contains(
            "Devices    ws://192.168.1.20:3000/ws?session=2f6c1e2a-8d3b-4c5e-9f10-3a4b5c6d7e8f\n"
        ));
        assert!(text.contains("Listening  http://0.0.0.0:3000\n"));
        assert!(text.contains(
            "Web device http://192.168.1.20:3000/s/2f6c1e2a-8d3b-4c5e-9f10-3a4b5c6d7e8f\n"
        ));
        assert!(text.contains("Session    2f6c1e2a-8d3b-4c5e-9f10-3a4b5c6d7e8f"));
        assert!(text.contains(", in 8h)"));
        assert!(text.contains("Push       lumora-hr-mini push FILE\n"));
        assert!(!text.contains("press h"));
        assert!(text.contains("http://127.0.0.1:3000/send/2f6c1e2a-8d3b-4c5e-9f10-3a4b5c6d7e8f"));
        assert!(!text.contains('\x1b'));
        assert!(!text.contains('█'));
    }

    #[test]
    fn another_port_is_explained_and_pushed_to() {
        let watched = [
            PathBuf::from("examples/app.json"),
            PathBuf::from("examples/other.json"),
        ];
        let b = Banner {
            listening: "127.0.0.1:3001".parse().unwrap(),
            port_taken: Some(3000),
            watch: &watched,
            ..banner()
        };
        let text = b.render();
        assert!(text.contains("(port 3000 was taken; using 3001)"));
        assert!(text.contains("push --server http://127.0.0.1:3001 examples/app.json\n"));
        assert!(text.contains("--data @examples/app.json http://127.0.0.1:3001/send/"));
        assert!(text.contains("\n  Watching   examples/app.json  (pushed"));
        assert!(text.contains("\n             examples/other.json  (pushed"));
    }

    #[test]
    fn the_push_command_names_a_file_that_exists() {
        let b = Banner {
            example: Some(Path::new("examples/app.json")),
            program: "./my dir/lumora-hr-mini",
            keys: true,
            ..banner()
        };
        let text = b.render();
        assert!(
            text.contains("Push       './my dir/lumora-hr-mini' push examples/app.json\n"),
            "{text}"
        );
        assert!(text.contains("press h for help"));
        let files = [PathBuf::from("ui/it's.json")];
        let watched = Banner { watch: &files, ..b };
        assert!(watched.render().contains(r"push 'ui/it'\''s.json'"));
    }

    #[test]
    fn an_expiry_a_day_or_more_away_has_its_date() {
        let soon = banner().render();
        let line = soon.lines().find(|l| l.contains("expires")).unwrap();
        assert!(
            line.contains("(expires ") && !line.contains("(expires 20"),
            "{line}"
        );
        let b = Banner {
            expires_at_ms: 1_700_000_000_000 + 48 * 3_600_000,
            ..banner()
        };
        let text = b.render();
        let line = text.lines().find(|l| l.contains("expires")).unwrap();
        let date = local_date(1_700_000_000 + 48 * 3600);
        assert!(date.len() == 10 && date.starts_with("2023-11-"), "{date}");
        assert!(line.contains(&format!("(expires {date} ")), "{line}");
    }

    #[test]
    fn a_qr_code_wider_than_the_terminal_is_not_drawn_but_said() {
        let b = Banner {
            qr: true,
            keys: true,
            ..banner()
        };
        let width = QrCode::encode(b.qr_url().as_bytes(), Ecc::Low)
            .unwrap()
            .size()
            + 2 * QUIET
            + 2;
        let rows = |b: &Banner<'_>| b.render().lines().filter(|l| l.contains('█')).count();
        let narrow = Banner {
            columns: Some(width - 1),
            ..b
        };
        assert_eq!(rows(&narrow), 0);
        assert!(narrow.render().contains(&format!(
            "(the QR code needs {width} columns and the terminal has {}: widen it and press c)",
            width - 1
        )));
        let fits = Banner {
            columns: Some(width),
            ..b
        };
        assert!(rows(&fits) > 10);
        // The widest line drawn is the width said.
        let widest = fits
            .render()
            .lines()
            .filter(|l| l.contains('█'))
            .map(|l| l.chars().count())
            .max();
        assert_eq!(widest, Some(width));
    }

    #[test]
    fn qr_code_of_the_url() {
        let b = Banner {
            qr: true,
            ..banner()
        };
        let drawn = |b: &Banner<'_>| -> Vec<String> {
            let text = b.render();
            let rows: Vec<String> = text
                .lines()
                .filter(|l| l.contains(['█', '▀', '▄']))
                .map(|l| l.trim_start().to_string())
                .collect();
            rows
        };
        let expect = |url: &str| -> Vec<String> {
            let code = QrCode::encode(url.as_bytes(), Ecc::Low).unwrap();
            code.render(2, false)
                .lines()
                .filter(|l| l.contains(['█', '▀', '▄']))
                .map(|l| l.trim_start().to_string())
                .collect()
        };
        // By default the code opens the page; `--qr ws` puts the ws URL there.
        assert_eq!(b.qr_url(), b.page_url());
        assert_eq!(drawn(&b), expect(&b.page_url()));
        assert!(b.render().contains("opens the web device"));
        let ws = Banner {
            qr_target: QrTarget::WebSocket,
            ..b.clone()
        };
        assert_eq!(drawn(&ws), expect(&ws.ws_url()));
        assert_ne!(drawn(&ws), drawn(&b));
    }

    #[test]
    fn several_lan_addresses_are_listed_with_the_one_in_the_qr_code() {
        let addr = |name: &str, ip: [u8; 4]| InterfaceAddr {
            name: name.into(),
            ip: ip.into(),
        };
        let list = [
            addr("wlan0", [192, 168, 1, 20]),
            addr("eth0", [10, 0, 0, 5]),
        ];
        let text = Banner {
            network: &list,
            ..banner()
        }
        .render();
        let lines: Vec<&str> = text.lines().filter(|l| l.contains("Network")).collect();
        assert_eq!(
            lines,
            [
                "  Network    192.168.1.20 (wlan0)  in the URLs above and the QR code",
                "  Network    10.0.0.5 (eth0)       --public-host 10.0.0.5 to use this one",
            ]
        );
        let one = Banner {
            network: &list[..1],
            ..banner()
        };
        assert!(!one.render().contains("Network"));
    }

    #[test]
    fn durations_for_people() {
        assert_eq!(human(Duration::from_secs(8 * 3600)), "8h");
        assert_eq!(human(Duration::from_secs(8 * 3600 - 60)), "7h 59m");
        assert_eq!(human(Duration::from_millis(8 * 3_600_000 - 5)), "8h");
        assert_eq!(human(Duration::from_secs(300)), "5m");
        assert_eq!(human(Duration::from_secs(40)), "40s");
    }
}
