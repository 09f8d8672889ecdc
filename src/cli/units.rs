//! Durations and byte counts as flags write them: `500ms`, `30s`, `8h`,
//! `64KiB`, `10MiB`.

use std::time::Duration;

/// Parses `500ms`, `30s`, `1.5s`, `10m`, `8h`, `2d`; a bare number is in
/// `bare_unit` (`s` or `ms`).
pub fn parse_duration(text: &str, bare_unit: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit = if unit.is_empty() { bare_unit } else { unit };
    let bad = || format!("{text:?} is not a duration (e.g. 500ms, 30s, 10m, 8h)");
    // The number read as seconds, then scaled to the unit.
    let n = crate::server::config::parse_decimal_seconds(number).ok_or_else(bad)?;
    let out_of_range = || format!("{text:?} is out of range");
    let d = match unit {
        "ms" => n / 1000,
        "s" => n,
        "m" | "min" => n.checked_mul(60).ok_or_else(out_of_range)?,
        "h" => n.checked_mul(3600).ok_or_else(out_of_range)?,
        "d" => n.checked_mul(86_400).ok_or_else(out_of_range)?,
        _ => return Err(bad()),
    };
    // Up to ten years: enough for any timeout, and far from overflow.
    if d > Duration::from_secs(315_360_000) {
        return Err(out_of_range());
    }
    Ok(d)
}

/// Parses a byte count: `65536`, `64k`, `64KiB`, `10M`, `10MiB`.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale: usize = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        "g" | "gb" | "gib" => 1024 * 1024 * 1024,
        _ => {
            return Err(format!(
                "{text:?} is not a size (a number of bytes, or with KiB, MiB or GiB: e.g. 65536, 64KiB, 10MiB)"
            ));
        }
    };
    number
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("{text:?} is not a size (e.g. 65536, 64KiB, 10MiB)"))
}

/// `30s`, `8h`, `100ms`: the shortest exact way to write a duration.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        "0".into()
    } else if ms % 3_600_000 == 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// `64KiB`, `10MiB`: a byte count as the help texts write it (for the
/// test that checks them).
#[cfg(test)]
pub(crate) fn format_size(n: usize) -> String {
    if n >= 1 << 20 && n % (1 << 20) == 0 {
        format!("{}MiB", n >> 20)
    } else if n >= 1 << 10 && n % (1 << 10) == 0 {
        format!("{}KiB", n >> 10)
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        let ms = Duration::from_millis;
        assert_eq!(parse_duration("500ms", "s"), Ok(ms(500)));
        assert_eq!(parse_duration("30s", "s"), Ok(ms(30_000)));
        assert_eq!(parse_duration("1.5s", "s"), Ok(ms(1500)));
        assert_eq!(parse_duration("10m", "s"), Ok(ms(600_000)));
        assert_eq!(parse_duration("8h", "s"), Ok(ms(8 * 3_600_000)));
        assert_eq!(parse_duration("2", "s"), Ok(ms(2000)));
        assert_eq!(parse_duration("2", "ms"), Ok(ms(2)));
        assert!(parse_duration("", "s").is_err());
        assert!(parse_duration("5y", "s").is_err());
        assert!(parse_duration("1e400s", "s").is_err());
        assert!(parse_duration("-1s", "s").is_err());
        assert!(parse_duration("11000d", "s").is_err());
        assert_eq!(parse_duration("0.5ms", "s"), Ok(Duration::from_micros(500)));
        assert_eq!(format_duration(ms(8 * 3_600_000)), "8h");
        assert_eq!(format_duration(ms(100)), "100ms");
        assert_eq!(format_duration(ms(90_000)), "90s");
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("10M"), Ok(10 << 20));
        assert_eq!(parse_size("123"), Ok(123));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert!(parse_size("1TiB").unwrap_err().contains("KiB, MiB or GiB"));
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("99999999999999999999").is_err());
        assert_eq!(format_size(64 * 1024), "64KiB");
    }
}
