//! Generated strict-serializable histories are valid; known corruptions
//! are caught; indeterminate outcomes never invent anomalies.

use gauntlet_check::Validity;
use gauntlet_history::OpType;
use gauntlet_txn::generate::{Corruption, GenConfig, corrupt, list_append};
use gauntlet_txn::{Options, Workload, check};
use proptest::prelude::*;

fn config() -> impl Strategy<Value = GenConfig> {
    (
        50usize..400,
        1usize..12,
        2usize..20,
        0u64..u64::MAX,
        0.0f64..0.1,
        0.0f64..0.1,
    )
        .prop_map(
            |(txns, processes, keys, seed, fail_rate, info_rate)| GenConfig {
                txns,
                processes,
                active_keys: keys,
                appends_per_key: 10,
                fail_rate,
                info_rate,
                seed,
                ..GenConfig::default()
            },
        )
}

fn strict() -> Options {
    Options::models(["strict-serializable"])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_histories_are_strict_serializable(cfg in config()) {
        let h = list_append(&cfg);
        let a = check(&h, Workload::ListAppend, &strict()).unwrap();
        prop_assert!(a.anomalies.is_empty(), "{:?}", a.anomalies.iter().next());
        prop_assert_ne!(a.valid, Validity::Invalid);
    }

    #[test]
    fn info_never_creates_an_anomaly(cfg in config(), pick in 0u64..u64::MAX) {
        let mut h = list_append(&cfg);
        // Turn every third-ish ok completion into info (its reads unknown).
        for (i, op) in h.iter_mut().enumerate() {
            if op.kind == OpType::Ok && (i as u64 ^ pick).is_multiple_of(3) {
                op.kind = OpType::Info;
            }
        }
        let a = check(&h, Workload::ListAppend, &strict()).unwrap();
        prop_assert!(a.anomalies.is_empty(), "{:?}", a.anomalies.iter().next());
    }

    #[test]
    fn aborting_an_observed_write_is_g1a(cfg in config(), seed in 0u64..u64::MAX) {
        let mut cfg = cfg;
        cfg.info_rate = 0.0;
        let mut h = list_append(&cfg);
        prop_assume!(corrupt(&mut h, Corruption::AbortObservedWrite, seed));
        let a = check(&h, Workload::ListAppend, &strict()).unwrap();
        prop_assert!(a.anomalies.count("G1a") > 0, "{:?}", a.anomalies.types().collect::<Vec<_>>());
        prop_assert_eq!(a.valid, Validity::Invalid);
    }

    #[test]
    fn dropped_elements_are_never_valid_when_seen_elsewhere(cfg in config(), seed in 0u64..u64::MAX) {
        let mut h = list_append(&cfg);
        let before = h.clone();
        prop_assume!(corrupt(&mut h, Corruption::DropElement, seed));
        let a = check(&h, Workload::ListAppend, &strict()).unwrap();
        let b = check(&before, Workload::ListAppend, &strict()).unwrap();
        prop_assert!(b.anomalies.is_empty());
        // A dropped element is caught whenever another read shows it; with
        // the default 10 appends per key and many reads it nearly always is.
        if a.valid == Validity::Valid {
            prop_assert!(a.anomalies.is_empty());
        } else {
            let t: Vec<&str> = a.anomalies.types().collect();
            prop_assert!(
                t.iter().any(|x| *x == "incompatible-order" || *x == "G1b" || x.starts_with("G-single") || x.starts_with("G2") || x.starts_with("G-nonadjacent")),
                "{t:?}"
            );
        }
    }
}

#[test]
fn drop_element_is_caught_on_a_busy_history() {
    let mut caught = 0;
    for seed in 0..20 {
        let mut h = list_append(&GenConfig {
            txns: 2000,
            seed,
            active_keys: 10,
            ..GenConfig::default()
        });
        assert!(corrupt(&mut h, Corruption::DropElement, seed));
        let a = check(&h, Workload::ListAppend, &strict()).unwrap();
        if a.valid == Validity::Invalid {
            caught += 1;
        }
    }
    assert!(caught >= 18, "caught {caught} of 20");
}

#[test]
fn stale_reads_are_caught_under_strict_serializability() {
    let mut caught = 0;
    for seed in 0..20 {
        let mut h = list_append(&GenConfig {
            txns: 2000,
            seed,
            active_keys: 10,
            ..GenConfig::default()
        });
        assert!(corrupt(&mut h, Corruption::StaleRead, seed));
        let a = check(&h, Workload::ListAppend, &strict()).unwrap();
        if a.valid == Validity::Invalid {
            caught += 1;
        }
    }
    // Popping a read's last element is invisible when it was the reader's
    // own append or no other read showed it; most are caught.
    assert!(caught >= 10, "caught {caught} of 20");
}
