//! Events per second.

use gauntlet_soak::throughput::per_second;

#[test]
fn buckets_events_and_fills_holes_with_zero() {
    let events = [2_500, 100, 900, 1_000, 3_999];
    assert_eq!(
        per_second(&events, 1_000),
        [(0, 2.0), (1_000, 1.0), (2_000, 1.0), (3_000, 1.0)]
    );
    // Half-second buckets report per second, not per bucket.
    assert_eq!(
        per_second(&[0, 100, 1_600], 500),
        [(0, 4.0), (500, 0.0), (1_000, 0.0), (1_500, 2.0)]
    );
    // Negative times fall in the bucket below, not toward zero.
    assert_eq!(per_second(&[-1], 1_000), [(-1_000, 1.0)]);
}

#[test]
fn degenerate_input_is_empty() {
    assert!(per_second(&[], 1_000).is_empty());
    assert!(per_second(&[5], 0).is_empty());
    assert!(per_second(&[5], -1).is_empty());
}
