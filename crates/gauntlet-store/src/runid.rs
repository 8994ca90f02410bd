//! Run ids: `r` + UTC `YYYYMMDD-HHMMSS` + `-` + three hex digits.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::types::Millis;

/// The id of a run created at `ms` with this random suffix (its low 12 bits).
pub(crate) fn format_id(ms: Millis, suffix: u16) -> String {
    let (y, m, d, h, mi, s) = utc_parts(ms);
    format!(
        "r{y:04}{m:02}{d:02}-{h:02}{mi:02}{s:02}-{:03x}",
        suffix & 0xfff
    )
}

/// Twelve random bits: std's randomly keyed hasher over the pid, the clock
/// and a counter. Two processes creating runs in the same second differ.
pub(crate) fn random_suffix() -> u16 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    (h.finish() & 0xfff) as u16
}

/// A UTC time as (year, month, day, hour, minute, second): what run ids,
/// tables and reports print (the calendar is [`gauntlet_events::clock`]'s).
pub fn utc_parts(ms: Millis) -> (i64, u32, u32, u32, u32, u32) {
    let (y, mo, d, h, mi, s, _) = gauntlet_events::clock::utc_parts(ms);
    (y, mo, d, h, mi, s)
}

/// `2026-11-23 17:45:01` (UTC).
pub fn format_utc(ms: Millis) -> String {
    let (y, mo, d, h, mi, s) = utc_parts(ms);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_as_utc_date_and_time() {
        // 2026-11-23T17:45:01.999Z
        assert_eq!(format_id(1_795_455_901_999, 0xa3f), "r20261123-174501-a3f");
        assert_eq!(format_id(0, 0), "r19700101-000000-000");
        // 2000-02-29T23:59:59Z, a leap day in a century leap year
        assert_eq!(format_id(951_868_799_000, 0x1fff), "r20000229-235959-fff");
        assert_eq!(format_id(951_868_800_000, 1), "r20000301-000000-001");
    }

    #[test]
    fn ids_sort_by_time() {
        let a = format_id(1_700_000_000_000, 0xfff);
        let b = format_id(1_700_000_001_000, 0x000);
        assert!(a < b);
    }

    #[test]
    fn suffixes_vary() {
        let all: std::collections::HashSet<u16> = (0..64).map(|_| random_suffix()).collect();
        assert!(all.len() > 32, "{all:?}");
        assert!(all.iter().all(|s| *s <= 0xfff));
    }
}
