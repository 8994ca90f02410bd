//! A Jepsen EDN history (or whatever the first characters make of it): any
//! bytes read as a history or fail with an error that names a line of
//! them; never a panic.
#![no_main]

use std::path::Path;

use gauntlet_history::{Format, read_history_from};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lines = 1 + data.iter().filter(|&&b| b == b'\n').count();
    // EDN as told, and as sniffed (the first byte picks, so both formats
    // and the sniffing itself get fuzzed).
    let format = if data.first().is_some_and(|b| b % 2 == 0) {
        Some(Format::Edn)
    } else {
        None
    };
    match read_history_from(Path::new("fuzz.edn"), data, format) {
        Ok(mut h) => {
            assert_eq!(h.ops.len(), h.lines.len());
            assert!(h.lines.windows(2).all(|w| w[0] <= w[1]));
            assert!(h.lines.iter().all(|&l| (1..=lines).contains(&l)));
            let _ = h.pair_calls();
            h.split_independent_tuples();
        }
        Err(e) => {
            assert!(e.line().is_some_and(|l| (1..=lines).contains(&l)), "{e}");
        }
    }
});
