//! Durations ("1m30s") and sizes ("256MiB") as plans write them, and the
//! way verdict messages print them back.

use std::time::Duration;

/// A duration or size that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error(
        "invalid duration {text:?}: write a number and a unit (ms, s, m, h), e.g. \"250ms\", \"30s\", \"1m30s\""
    )]
    InvalidDuration { text: String },
    #[error("duration {text:?} is too long")]
    DurationTooLong { text: String },
    #[error(
        "invalid size {text:?}: write an integer and a unit (B, KB, KiB, MB, MiB, GB, GiB, TB, TiB), e.g. \"256MiB\""
    )]
    InvalidSize { text: String },
    #[error("size {text:?} is too large")]
    SizeTooLarge { text: String },
}

/// Parses a duration: one or more `<integer><unit>` parts with units `ms`,
/// `s`, `m`, `h` (e.g. `250ms`, `30s`, `1m30s`). Integers only, so a
/// duration means exactly what it says; write `1500ms` for 1.5 s.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let bad = || UnitError::InvalidDuration {
        text: text.to_owned(),
    };
    let too_long = || UnitError::DurationTooLong {
        text: text.to_owned(),
    };
    if text.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(bad());
        }
        let number = &rest[..digits];
        rest = &rest[digits..];
        let unit_len = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        if !matches!(unit, "ms" | "s" | "m" | "h") {
            return Err(bad());
        }
        // Only digits: a number that does not parse is too big for a u64.
        let n: u64 = number.parse().map_err(|_| too_long())?;
        let part = match unit {
            "ms" => Some(Duration::from_millis(n)),
            "s" => Some(Duration::from_secs(n)),
            "m" => n.checked_mul(60).map(Duration::from_secs),
            _ => n.checked_mul(3600).map(Duration::from_secs),
        };
        total = part
            .and_then(|p| total.checked_add(p))
            .ok_or_else(too_long)?;
    }
    Ok(total)
}

/// Parses a size: an integer and an optional unit (`B`, `KB`/`KiB`,
/// `MB`/`MiB`, `GB`/`GiB`, `TB`/`TiB`; case-insensitive; KB = 1000,
/// KiB = 1024), optionally separated by spaces. No unit means bytes.
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let bad = || UnitError::InvalidSize {
        text: text.to_owned(),
    };
    let too_large = || UnitError::SizeTooLarge {
        text: text.to_owned(),
    };
    let trimmed = text.trim();
    let digits = trimmed.len()
        - trimmed
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .len();
    if digits == 0 {
        return Err(bad());
    }
    let unit = trimmed[digits..].trim_start().to_ascii_lowercase();
    let multiplier: u64 = match unit.as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "kib" => 1 << 10,
        "mb" => 1000 * 1000,
        "mib" => 1 << 20,
        "gb" => 1000 * 1000 * 1000,
        "gib" => 1 << 30,
        "tb" => 1000 * 1000 * 1000 * 1000,
        "tib" => 1 << 40,
        _ => return Err(bad()),
    };
    // Only digits: a number that does not parse is too big for a u64.
    let n: u64 = trimmed[..digits].parse().map_err(|_| too_large())?;
    n.checked_mul(multiplier).ok_or_else(too_large)
}

/// A duration the way plans write it: `250ms`, `30s`, `1m30s`, `2h`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    let (h, m, s, ms) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s"), (ms, "ms")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

/// Milliseconds, the unit health latencies are compared in: `812 ms`.
pub(crate) fn show_ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// Mebibytes with one decimal: `256.0 MiB`.
pub(crate) fn show_mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "5", "s", "1.5s", "5 s", "3d", "-1s", "1m30"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        for text in ["250ms", "30s", "1m30s", "2h", "1h1s", "1s500ms"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size("1 KB"), Ok(1000));
        assert_eq!(parse_size("2kib"), Ok(2048));
        assert_eq!(parse_size("512"), Ok(512));
        for bad in ["", "MiB", "1.5GiB", "12 parsecs", "-1B"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_size("99999999999TiB"),
            Err(UnitError::SizeTooLarge {
                text: "99999999999TiB".into()
            })
        );
        assert!(matches!(
            parse_size("99999999999999999999"),
            Err(UnitError::SizeTooLarge { .. })
        ));
        assert!(matches!(
            parse_duration("99999999999999999999s"),
            Err(UnitError::DurationTooLong { .. })
        ));
        assert!(matches!(
            parse_duration("99999999999999999999x"),
            Err(UnitError::InvalidDuration { .. })
        ));
    }
}
