//! Property tests of the plan's durations and sizes: what is written the
//! way plans write it reads back exactly, anything else is a typed error,
//! and no input panics.

use std::time::Duration;

use gauntlet_plan::{UnitError, format_duration, parse_duration, parse_size};
use proptest::prelude::*;

const SIZE_UNITS: [(&str, u64); 9] = [
    ("", 1),
    ("B", 1),
    ("KB", 1000),
    ("KiB", 1 << 10),
    ("MB", 1_000_000),
    ("MiB", 1 << 20),
    ("GB", 1_000_000_000),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
];

/// Flips the case of some letters: units are case-insensitive.
fn mixed_case(unit: &str, flips: u64) -> String {
    unit.chars()
        .enumerate()
        .map(|(i, c)| {
            if flips >> (i % 64) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// A duration in whole milliseconds prints as the plan writes it and
    /// reads back as itself.
    #[test]
    fn durations_round_trip(ms in any::<u64>()) {
        let d = Duration::from_millis(ms);
        let text = format_duration(d);
        prop_assert_eq!(parse_duration(&text), Ok(d), "{}", text);
    }

    /// Parts in any order and repetition add up; a sum past Duration's
    /// range is `DurationTooLong`, never a wrap.
    #[test]
    fn duration_parts_add_up(parts in prop::collection::vec((any::<u32>(), 0usize..4), 1..6)) {
        let units = [("ms", 1u128), ("s", 1000), ("m", 60_000), ("h", 3_600_000)];
        let text: String = parts.iter().map(|(n, u)| format!("{n}{}", units[*u].0)).collect();
        let ms: u128 = parts.iter().map(|(n, u)| u128::from(*n) * units[*u].1).sum();
        prop_assert_eq!(parse_duration(&text).map(|d| d.as_millis()), Ok(ms));
    }

    #[test]
    fn huge_durations_are_too_long(n in (u64::MAX / 60 + 1)..=u64::MAX, unit in "m|h") {
        let text = format!("{n}{unit}");
        prop_assert_eq!(parse_duration(&text), Err(UnitError::DurationTooLong { text: text.clone() }));
    }

    /// Any text: a duration or a typed error, and an error only when the
    /// text is not `<digits><unit>` parts.
    #[test]
    fn any_text_is_a_duration_or_a_typed_error(text in "\\PC{0,12}|[0-9]{0,22}(ms|s|m|h|d|S| s|\\.5s)?") {
        match parse_duration(&text) {
            Ok(_) => {
                let well_formed = !text.is_empty()
                    && text.split(|c: char| c.is_ascii_digit()).all(|u| ["", "ms", "s", "m", "h"].contains(&u))
                    && text.starts_with(|c: char| c.is_ascii_digit());
                prop_assert!(well_formed, "{:?} read as a duration", text);
            }
            Err(UnitError::InvalidDuration { text: t } | UnitError::DurationTooLong { text: t }) => {
                prop_assert_eq!(t, text);
            }
            Err(other) => prop_assert!(false, "a size error for a duration: {other}"),
        }
    }

    /// An integer with any unit, in any case, with or without a space, is
    /// that many bytes, or `SizeTooLarge` when it does not fit in a u64.
    #[test]
    fn sizes_round_trip(n in any::<u64>(), unit in 0usize..SIZE_UNITS.len(), flips in any::<u64>(), space in any::<bool>()) {
        let (name, multiplier) = SIZE_UNITS[unit];
        let text = format!("{n}{}{}", if space { " " } else { "" }, mixed_case(name, flips));
        match n.checked_mul(multiplier) {
            Some(bytes) => prop_assert_eq!(parse_size(&text), Ok(bytes)),
            None => prop_assert_eq!(parse_size(&text), Err(UnitError::SizeTooLarge { text: text.clone() })),
        }
    }

    #[test]
    fn any_text_is_a_size_or_a_typed_error(text in "\\PC{0,12}|[0-9]{0,22} ?([kKmMgGtT][iI]?)?[bB]?|-[0-9]+|[0-9]+\\.[0-9]+") {
        match parse_size(&text) {
            Ok(bytes) => {
                let trimmed = text.trim();
                let digits = trimmed.trim_start_matches(|c: char| c.is_ascii_digit());
                let unit = digits.trim_start().to_ascii_lowercase();
                let known = SIZE_UNITS.iter().chain([("TB", 1_000_000_000_000)].iter()).find(|(u, _)| u.to_ascii_lowercase() == unit);
                prop_assert!(known.is_some(), "{:?} read as a size", text);
                let n: u64 = trimmed[..trimmed.len() - digits.len()].parse().unwrap();
                prop_assert_eq!(Some(bytes), n.checked_mul(known.unwrap().1));
            }
            Err(UnitError::InvalidSize { text: t } | UnitError::SizeTooLarge { text: t }) => {
                prop_assert_eq!(t, text);
            }
            Err(other) => prop_assert!(false, "a duration error for a size: {other}"),
        }
    }
}

#[test]
fn errors_say_what_to_write() {
    let e = parse_duration("1.5s").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid duration \"1.5s\": write a number and a unit (ms, s, m, h), e.g. \"250ms\", \"30s\", \"1m30s\""
    );
    let e = parse_size("12 parsecs").unwrap_err();
    assert!(
        e.to_string().starts_with("invalid size \"12 parsecs\""),
        "{e}"
    );
    assert!(e.to_string().contains("TiB"), "{e}");
}
