//! The two RFC 8785 (JCS) rules that need care: how a number and a string
//! are written.

/// A number as ECMAScript's `Number.prototype.toString` prints it (which
/// JCS requires): the shortest digits that read back as the same double
/// (from `zmij`, `serde_json`'s own formatter), placed by ECMAScript's
/// rules: plain up to 21 integer digits, `0.000001` down to 1e-6, else
/// `d.ddde+N`. Zero (and minus zero) is `0`.
pub fn write_js_number(f: f64, out: &mut Vec<u8>) {
    if !f.is_finite() {
        // Never read from JSON; what JSON.stringify writes.
        out.extend_from_slice(b"null");
        return;
    }
    if f == 0.0 {
        out.push(b'0');
        return;
    }
    if f < 0.0 {
        out.push(b'-');
    }
    let mut buf = zmij::Buffer::new();
    let printed = buf.format_finite(f.abs()).as_bytes();
    // Read back the digits and where the decimal point goes, whatever the
    // form printed (`123.45`, `0.00012`, `1.5e-7`, `1e21`).
    let (mantissa, exp) = match printed.iter().position(|&b| b == b'e' || b == b'E') {
        Some(e) => (&printed[..e], parse_exp(&printed[e + 1..])),
        None => (printed, 0),
    };
    let mut digits: Vec<u8> = Vec::with_capacity(24);
    let mut point = None;
    for &b in mantissa {
        if b == b'.' {
            point = Some(digits.len());
        } else {
            digits.push(b);
        }
    }
    let mut point = point.unwrap_or(digits.len()) as i32;
    let lead = digits.iter().take_while(|&&d| d == b'0').count();
    digits.drain(..lead);
    point -= lead as i32;
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    // The value is 0.DIGITS × 10^n.
    let (n, k) = (point + exp, digits.len() as i32);
    if k <= n && n <= 21 {
        out.extend_from_slice(&digits);
        out.extend(std::iter::repeat_n(b'0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.extend_from_slice(&digits[..n as usize]);
        out.push(b'.');
        out.extend_from_slice(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-n) as usize));
        out.extend_from_slice(&digits);
    } else {
        out.push(digits[0]);
        if k > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if n - 1 < 0 { b'-' } else { b'+' });
        out.extend_from_slice((n - 1).unsigned_abs().to_string().as_bytes());
    }
}

fn parse_exp(text: &[u8]) -> i32 {
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let n = digits
        .iter()
        .fold(0i32, |n, &d| n * 10 + i32::from(d.wrapping_sub(b'0')));
    if negative { -n } else { n }
}

/// JSON.stringify's minimal escaping: `"`, `\`, the five short control
/// escapes, other controls as lowercase `\u00xx`; all else is literal UTF-8.
pub fn write_jcs_string(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"\"");
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 0xf) as usize],
            ]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.extend_from_slice(b"\"");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_ecmascript_does() {
        let check = |f: f64| {
            let mut ours = Vec::new();
            write_js_number(f, &mut ours);
            let theirs = ryu_js::Buffer::new().format(f).to_string();
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                theirs,
                "{f:e} ({:#x})",
                f.to_bits()
            );
        };
        for f in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            100.0,
            1e20,
            1e21,
            1.5e21,
            123456789012345680000.0,
            1e-6,
            1e-7,
            1.5e-7,
            0.000001234,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            2f64.powi(53),
            1.0 / 3.0,
            9007199254740993.0,
            4.35,
            0.1 + 0.2,
        ] {
            check(f);
        }
        let mut r = crate::test_rng::Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..200_000 {
            let bits = r.next_u64();
            let f = f64::from_bits(bits);
            if f.is_finite() {
                check(f);
            }
            // Decimals as tools write them.
            check((bits % 2_000_000) as f64 / 1000.0 - 1000.0);
        }
    }
}
