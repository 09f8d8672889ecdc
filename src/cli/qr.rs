//! The banner's QR code: encoded by the `qrcodegen` crate (byte mode, the
//! smallest version that fits), drawn for a terminal two module rows per
//! text line with Unicode half blocks.

pub use qrcodegen::QrCodeEcc as Ecc;

/// A QR code symbol: a square of dark and light modules.
pub struct QrCode(qrcodegen::QrCode);

impl QrCode {
    /// Encodes `data` in byte mode at the smallest version that fits with
    /// at least `ecc` (boosted when that costs no size); `None` when it is
    /// too long for any version.
    pub fn encode(data: &[u8], ecc: Ecc) -> Option<QrCode> {
        qrcodegen::QrCode::encode_binary(data, ecc).ok().map(QrCode)
    }

    /// Modules per side (21 for version 1, 4 more per version).
    pub fn size(&self) -> usize {
        self.0.size() as usize
    }

    /// Whether the module at column `x`, row `y` is dark (false outside).
    pub fn get(&self, x: usize, y: usize) -> bool {
        match (i32::try_from(x), i32::try_from(y)) {
            (Ok(x), Ok(y)) => self.0.get_module(x, y),
            _ => false,
        }
    }

    /// Draws the code for a terminal: each character is one module wide and
    /// two tall (`▀`, `▄`, `█`, space), with a `quiet`-module light border.
    ///
    /// With `color`, modules are painted black on white with ANSI colours,
    /// which scans on any terminal theme. Without, light modules are drawn
    /// as blocks, which reads right on the usual dark terminal background
    /// (phone scanners also accept the inverted code a light one shows).
    pub fn render(&self, quiet: usize, color: bool) -> String {
        let size = self.size();
        let span = size + 2 * quiet;
        let dark = |x: usize, y: usize| -> bool {
            x >= quiet && y >= quiet && self.get(x - quiet, y - quiet)
        };
        let mut out = String::with_capacity((span * 3 + 12) * span.div_ceil(2));
        for row in (0..span).step_by(2) {
            if color {
                out.push_str("\x1b[30;107m");
            }
            for x in 0..span {
                let top = dark(x, row);
                let bottom = row + 1 < span && dark(x, row + 1);
                // What is drawn in the foreground: dark modules in colour,
                // light ones without.
                let (t, b) = if color {
                    (top, bottom)
                } else {
                    (!top, row + 1 < span && !bottom)
                };
                out.push(match (t, b) {
                    (true, true) => '█',
                    (true, false) => '▀',
                    (false, true) => '▄',
                    (false, false) => ' ',
                });
            }
            if color {
                out.push_str("\x1b[0m");
            }
            out.push('\n');
        }
        out
    }

    /// The code as an SVG image: one path of dark runs on a white square
    /// with a `quiet`-module border, one user unit per module (scale it
    /// with `width`/`height` or CSS). Only digits and fixed text: nothing to
    /// escape.
    pub fn svg(&self, quiet: usize) -> String {
        use std::fmt::Write as _;
        let size = self.size();
        let span = size + 2 * quiet;
        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {span} {span}\" shape-rendering=\"crispEdges\"><rect width=\"{span}\" height=\"{span}\" fill=\"#fff\"/><path fill=\"#000\" d=\""
        );
        for y in 0..size {
            let mut x = 0;
            while x < size {
                if !self.get(x, y) {
                    x += 1;
                    continue;
                }
                let start = x;
                while x < size && self.get(x, y) {
                    x += 1;
                }
                let _ = write!(
                    out,
                    "M{} {}h{}v1h-{}z",
                    start + quiet,
                    y + quiet,
                    x - start,
                    x - start
                );
            }
        }
        out.push_str("\"/></svg>");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smallest_version_that_fits() {
        // Version 1 at level L holds 17 bytes; version 2, 32.
        assert_eq!(QrCode::encode(&[b'a'; 17], Ecc::Low).unwrap().size(), 21);
        assert_eq!(QrCode::encode(&[b'a'; 18], Ecc::Low).unwrap().size(), 25);
        assert!(QrCode::encode(&[b'a'; 3000], Ecc::High).is_none());
    }

    #[test]
    fn finder_patterns_and_outside() {
        let code = QrCode::encode(b"ws://192.168.1.20:3000/ws?session=x", Ecc::Low).unwrap();
        let n = code.size();
        // The three finder patterns have dark corners; the fourth corner's
        // neighbourhood is data, and everything outside is light.
        assert!(code.get(0, 0) && code.get(n - 1, 0) && code.get(0, n - 1));
        assert!(code.get(6, 6) && !code.get(7, 7));
        assert!(!code.get(n, 0) && !code.get(0, n) && !code.get(usize::MAX, 0));
    }

    /// Reads the dark modules back out of an SVG from [`QrCode::svg`].
    fn modules_of_svg(svg: &str, quiet: usize) -> Vec<(usize, usize)> {
        let d = svg
            .split("d=\"")
            .nth(1)
            .and_then(|d| d.split('"').next())
            .unwrap();
        let mut dark = Vec::new();
        for run in d.split('M').filter(|r| !r.is_empty()) {
            let (xy, rest) = run.split_once('h').unwrap();
            let (x, y) = xy.split_once(' ').unwrap();
            let (x, y): (usize, usize) = (x.parse().unwrap(), y.parse().unwrap());
            let n: usize = rest.split('v').next().unwrap().parse().unwrap();
            assert!(rest.ends_with(&format!("v1h-{n}z")), "{run}");
            dark.extend((x..x + n).map(|x| (x - quiet, y - quiet)));
        }
        dark
    }

    #[test]
    fn svg_has_exactly_the_dark_modules() {
        let code = QrCode::encode(b"http://192.168.1.20:3000/s/abc", Ecc::Low).unwrap();
        let n = code.size();
        let svg = code.svg(4);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains(&format!("viewBox=\"0 0 {0} {0}\"", n + 8)));
        assert!(svg.ends_with("</svg>"));
        let mut expected = Vec::new();
        for y in 0..n {
            for x in 0..n {
                if code.get(x, y) {
                    expected.push((x, y));
                }
            }
        }
        assert_eq!(modules_of_svg(&svg, 4), expected);
    }

    #[test]
    fn render_draws_two_rows_per_line_with_a_quiet_zone() {
        let code = QrCode::encode(b"hello", Ecc::Medium).unwrap();
        let n = code.size();
        let plain = code.render(2, false);
        let lines: Vec<&str> = plain.lines().collect();
        assert_eq!(lines.len(), (n + 4).div_ceil(2));
        assert!(lines.iter().all(|l| l.chars().count() == n + 4));
        // The quiet zone is light: drawn as full blocks without colour.
        assert!(lines[0].chars().all(|c| c == '█'));
        // Row pair 2,3 at column 2 is the finder's dark top edge over dark:
        // nothing drawn (dark) without colour, a full block with colour.
        assert_eq!(lines[1].chars().nth(2), Some(' '));
        let coloured = code.render(2, true);
        assert!(coloured.starts_with("\x1b[30;107m"));
        assert_eq!(
            coloured.lines().nth(1).unwrap().chars().nth(2 + 9),
            Some('█')
        );
        for line in coloured.lines() {
            assert!(line.ends_with("\x1b[0m"));
        }
    }
}
