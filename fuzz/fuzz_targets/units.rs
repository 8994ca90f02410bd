//! The plan's durations and sizes: a value or a typed error, never a
//! panic; a duration printed the way plans write it reads back as itself.
#![no_main]

use gauntlet_plan::{format_duration, parse_duration, parse_size};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = parse_duration(text) {
        let again = parse_duration(&format_duration(d));
        assert_eq!(again, Ok(d), "{text:?} -> {}", format_duration(d));
    }
    let _ = parse_size(text);
});
