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
