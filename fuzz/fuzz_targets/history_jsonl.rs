//! A JSONL history: any bytes read as a history or fail with an error that
//! names a line of them; what reads pairs up or fails to, never panics.
#![no_main]

use std::path::Path;

use gauntlet_history::{Format, read_history_from};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lines = 1 + data.iter().filter(|&&b| b == b'\n').count();
    match read_history_from(Path::new("fuzz.jsonl"), data, Some(Format::Jsonl)) {
        Ok(mut h) => {
            assert_eq!(h.ops.len(), h.lines.len());
            assert!(h.lines.iter().all(|&l| (1..=lines).contains(&l)));
            let _ = h.pair_calls();
            h.split_independent_tuples();
            let _ = h.pair_calls();
        }
        Err(e) => {
            assert!(e.line().is_some_and(|l| (1..=lines).contains(&l)), "{e}");
        }
    }
});
