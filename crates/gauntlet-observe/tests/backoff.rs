//! The seeded backoff between health probes.

mod common;

use std::time::Duration;

use gauntlet_observe::Backoff;
use gauntlet_plan::Probe;

fn check(interval_ms: u64, max_ms: u64, jitter: f64) -> gauntlet_plan::HealthCheck {
    let mut check = common::check(
        Probe::Tcp {
            address: "127.0.0.1:1".into(),
        },
        1_000,
    );
    check.interval = Duration::from_millis(interval_ms);
    check.max_interval = Duration::from_millis(max_ms);
    check.jitter = jitter;
    check
}

fn ms(waits: impl Iterator<Item = Duration>) -> Vec<u128> {
    waits.map(|d| d.as_millis()).collect()
}

#[test]
fn without_jitter_it_doubles_up_to_the_cap() {
    let waits = ms(Backoff::new(&check(100, 1_000, 0.0), 7).take(7));
    assert_eq!(waits, [100, 200, 400, 800, 1_000, 1_000, 1_000]);
}

#[test]
fn an_interval_above_the_cap_starts_at_the_cap() {
    let waits = ms(Backoff::new(&check(5_000, 1_000, 0.0), 7).take(2));
    assert_eq!(waits, [1_000, 1_000]);
}

#[test]
fn jitter_stays_within_its_bounds_and_varies() {
    let jitter = 0.25;
    let nominal = [100.0, 200.0, 400.0, 800.0, 1_000.0];
    let mut factors = Vec::new();
    for seed in 0..200 {
        let waits = Backoff::new(&check(100, 1_000, jitter), seed).take(nominal.len() + 5);
        for (i, wait) in waits.enumerate() {
            let base = nominal[i.min(nominal.len() - 1)];
            let factor = wait.as_secs_f64() * 1_000.0 / base;
            assert!(
                (1.0 - jitter..=1.0 + jitter).contains(&factor),
                "seed {seed} wait {i}: {wait:?}"
            );
            factors.push(factor);
        }
    }
    // Spread over the whole range, not stuck at one value.
    let min = factors.iter().copied().fold(f64::INFINITY, f64::min);
    let max = factors.iter().copied().fold(0.0, f64::max);
    assert!(min < 0.8 && max > 1.2, "{min} {max}");
}

#[test]
fn same_seed_same_sequence_other_seed_other_sequence() {
    let check = check(100, 10_000, 0.5);
    let a: Vec<Duration> = Backoff::new(&check, 42).take(20).collect();
    let b: Vec<Duration> = Backoff::new(&check, 42).take(20).collect();
    let c: Vec<Duration> = Backoff::new(&check, 43).take(20).collect();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn silly_jitter_is_clamped() {
    for jitter in [f64::NAN, -1.0] {
        let waits = ms(Backoff::new(&check(100, 1_000, jitter), 1).take(3));
        assert_eq!(waits, [100, 200, 400], "{jitter}");
    }
    // Above 1 means [0, 2]: never negative.
    assert!(
        Backoff::new(&check(100, 1_000, 5.0), 1)
            .take(50)
            .all(|d| d <= Duration::from_millis(2_000))
    );
}
