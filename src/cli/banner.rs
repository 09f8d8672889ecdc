//! The few lines `lumora-hr-mini` prints when it starts: where it
//! listens, the URL (and QR code) devices use, the startup session and how
//! to push to it.

use super::args::DEFAULT_SERVER;
use super::logging::local_hms;
use super::qr::{Ecc, QrCode};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

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
    /// Draw the QR code.
    pub qr: bool,
    /// Use ANSI colours.
    pub color: bool,
    /// Time from start to ready.
    pub startup: Duration,
}

impl Banner<'_> {
    /// The URL devices connect to.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws?session={}", self.advertised, self.session_id)
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
        let url = self.ws_url();
        let _ = writeln!(out, "  Devices    {cyan}{url}{reset}");
        if self.qr {
            match QrCode::encode(url.as_bytes(), Ecc::Low) {
                Some(code) => {
                    out.push('\n');
                    for line in code.render(2, self.color).lines() {
                        let _ = writeln!(out, "  {line}");
                    }
                }
                None => out.push_str("  (the URL is too long for a QR code)\n"),
            }
        }
        let expires_in = Duration::from_millis(self.expires_at_ms.saturating_sub(self.now_ms));
        let (h, m, _) = local_hms(self.expires_at_ms / 1000);
        let _ = writeln!(
            out,
            "\n  Session    {}  {dim}(expires {h:02}:{m:02}, in {}){reset}",
            self.session_id,
            human(expires_in)
        );
        let control = self.control_url();
        let server_flag = if control == DEFAULT_SERVER {
            String::new()
        } else {
            format!(" --server {control}")
        };
        let _ = writeln!(
            out,
            "  Push       {bold}{} push{server_flag} schema.json{reset}",
            self.program
        );
        let _ = writeln!(
            out,
            "  {dim}       or  curl -X POST -H 'Content-Type: application/json' --data @schema.json {control}/send/{}{reset}",
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
        out.push('\n');
        out
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
            qr: false,
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
        assert!(text.contains("Session    2f6c1e2a-8d3b-4c5e-9f10-3a4b5c6d7e8f"));
        assert!(text.contains(", in 8h)"));
        assert!(text.contains("Push       lumora-hr-mini push schema.json\n"));
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
        assert!(text.contains("push --server http://127.0.0.1:3001 schema.json"));
        assert!(text.contains("\n  Watching   examples/app.json  (pushed"));
        assert!(text.contains("\n             examples/other.json  (pushed"));
    }

    #[test]
    fn qr_code_of_the_url() {
        let b = Banner {
            qr: true,
            ..banner()
        };
        let text = b.render();
        let code = QrCode::encode(b.ws_url().as_bytes(), Ecc::Low).unwrap();
        let rows = text.lines().filter(|l| l.contains(['█', '▀', '▄'])).count();
        assert_eq!(rows, (code.size() + 4).div_ceil(2));
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
