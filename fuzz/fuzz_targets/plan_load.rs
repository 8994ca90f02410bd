//! A plan, from its TOML text (`gauntlet_plan::load_str`, no file read):
//! a resolved plan or a `PlanError`, never a panic; a resolved plan
//! expands into stages and serializes.
#![no_main]

use std::path::Path;

use gauntlet_plan::{LoadOptions, expand, load_str};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(plan) = load_str(text, Path::new("fuzz.toml"), &LoadOptions::default()) {
        let _ = expand(&plan);
        let _ = serde_json::to_string(&plan);
    }
});
