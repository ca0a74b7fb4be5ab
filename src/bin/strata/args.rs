//! Parsers for the command line's sizes and durations (`--max-memory 64M`, `--timeout 10s`).

use std::time::Duration;

/// Parses a byte count: digits with an optional binary suffix `K`, `M`, `G` or `T`
/// (case-insensitive, optionally followed by `B` or `iB`): `4096`, `512K`, `1.5G`, `2GiB`.
pub fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let bad = || format!("{s:?} is not a size (expected e.g. 4096, 512K, 64M, 4G)");
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let (body, binary) = if let Some(b) = lower.strip_suffix("ib") {
        (b, true)
    } else {
        (lower.strip_suffix('b').unwrap_or(&lower), false)
    };
    let cut = &body[..body.len().saturating_sub(1)];
    let (num, shift) = match body.as_bytes().last() {
        Some(b'k') => (cut, 10),
        Some(b'm') => (cut, 20),
        Some(b'g') => (cut, 30),
        Some(b't') => (cut, 40),
        _ if binary => return Err(bad()),
        _ => (body, 0),
    };
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(bad());
    }
    if let Ok(n) = num.parse::<u64>() {
        return n.checked_mul(1u64 << shift).ok_or_else(bad);
    }
    let f: f64 = num.parse().map_err(|_| bad())?;
    let v = f * (1u64 << shift) as f64;
    if !v.is_finite() || v >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(v as u64)
}

/// Parses a duration: a number with a unit `ms`, `s`, `m` or `h` (`500ms`, `10s`, `1.5m`);
/// a bare number is seconds.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration (expected e.g. 500ms, 10s, 2m, 1h)");
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let secs_per_unit = match unit.trim() {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "" | "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(bad()),
    };
    if num.is_empty() {
        return Err(bad());
    }
    let v: f64 = num.parse().map_err(|_| bad())?;
    Duration::try_from_secs_f64(v * secs_per_unit).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("64m"), Ok(64 << 20));
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("2GB"), Ok(2 << 30));
        assert_eq!(parse_size("100B"), Ok(100));
        assert_eq!(parse_size("1.5K"), Ok(1536));
        assert_eq!(parse_size("1T"), Ok(1 << 40));
        for bad in [
            "",
            "K",
            "12X",
            "-1",
            "1iB",
            "99999999999999999999T",
            "1..5M",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        for bad in ["", "s", "10x", "-1s", "1e999s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
