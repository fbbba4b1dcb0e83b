//! Go's `time.ParseDuration` syntax, which containerd's configuration and the kubelet's
//! credential providers use (`"10s"`, `"1m30s"`, `"1.5s"`, `"500ms"`, `"12h"`).

use std::time::Duration;

/// Parses a Go duration; negative durations, and durations too large to represent, are refused.
pub fn parse(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let (value, after) = number(rest)?;
        let (unit, after) = unit(after)?;
        total += value * unit;
        rest = after;
    }
    // A huge value (from a provider's answer, say) must be refused, not panic.
    Duration::try_from_secs_f64(total).ok()
}

fn number(s: &str) -> Option<(f64, &str)> {
    let end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let value = s[..end].parse::<f64>().ok()?;
    Some((value, &s[end..]))
}

fn unit(s: &str) -> Option<(f64, &str)> {
    const UNITS: &[(&str, f64)] =
        &[("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("μs", 1e-6), ("ms", 1e-3), ("s", 1.0), ("m", 60.0), ("h", 3600.0)];
    UNITS.iter().find(|(u, _)| s.starts_with(u)).map(|(u, f)| (*f, &s[u.len()..]))
}

#[cfg(test)]
mod tests {
    use super::parse;
    use std::time::Duration;

    #[test]
    fn go_durations() {
        assert_eq!(parse("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse("0"), Some(Duration::ZERO));
        assert_eq!(parse("10"), None);
        assert_eq!(parse("soon"), None);
        assert_eq!(parse("-1s"), None);
        assert_eq!(parse("12h"), Some(Duration::from_secs(12 * 3600)));
        // Found by fuzzing: a duration beyond what Duration holds.
        assert_eq!(parse("644444444444444444444444444444444444444446h"), None);
    }
}
