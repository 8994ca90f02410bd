//! The wall clock as runs record it: milliseconds since the Unix epoch,
//! UTC, shown as calendar dates by one function. (A run's events carry
//! `t_ms` since the run's start; the store keeps the run's start on this
//! clock, so the two relate by one addition.)

/// A UTC time in ms since the epoch as (year, month, day, hour, minute,
/// second, millisecond).
pub fn utc_parts(ms: i64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem / 60 % 60) as u32,
        (rem % 60) as u32,
        ms.rem_euclid(1000) as u32,
    )
}

/// RFC 3339 in UTC with milliseconds: `2026-11-23T17:45:01.250Z`.
pub fn rfc3339(ms: i64) -> String {
    let (y, mo, d, h, mi, s, milli) = utc_parts(ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_dates_are_utc_and_leap_aware() {
        // 2026-11-23T17:45:01.999Z
        assert_eq!(utc_parts(1_795_455_901_999), (2026, 11, 23, 17, 45, 1, 999));
        assert_eq!(utc_parts(0), (1970, 1, 1, 0, 0, 0, 0));
        // 2000-02-29T12:00:00Z, and the millisecond before the epoch.
        assert_eq!(utc_parts(951_825_600_000).1, 2);
        assert_eq!(utc_parts(951_825_600_000).2, 29);
        assert_eq!(utc_parts(-1), (1969, 12, 31, 23, 59, 59, 999));
    }

    #[test]
    fn rfc3339_is_utc_with_milliseconds() {
        assert_eq!(rfc3339(1_795_455_901_999), "2026-11-23T17:45:01.999Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
    }
}
