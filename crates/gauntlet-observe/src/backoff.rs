//! The waits between health probes: exponential backoff with jitter.
//!
//! Sans-IO and seeded: the same [`HealthCheck`] and seed give the same
//! waits, so a replayed run probes at the same moments. The jitter keeps
//! services that were started together from being probed in lockstep.

use std::time::Duration;

use gauntlet_plan::HealthCheck;

/// The waits between attempts: `interval` first, then doubling up to
/// `max_interval`, each scaled by a factor drawn uniformly from
/// `[1 - jitter, 1 + jitter]` (`jitter` clamped to `[0, 1]`). Endless.
///
/// The doubling applies to the unjittered wait, so the jitter never
/// compounds: the n-th wait is always within `jitter` of its nominal value.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// The nominal (unjittered) next wait.
    next: Duration,
    max: Duration,
    jitter: f64,
    rng: SplitMix64,
}

impl Backoff {
    pub fn new(check: &HealthCheck, seed: u64) -> Backoff {
        // A NaN jitter would poison every wait; treat it as none.
        let jitter = if check.jitter.is_nan() {
            0.0
        } else {
            check.jitter.clamp(0.0, 1.0)
        };
        Backoff {
            next: check.interval.min(check.max_interval),
            max: check.max_interval,
            jitter,
            rng: SplitMix64(seed),
        }
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let nominal = self.next;
        self.next = nominal.saturating_mul(2).min(self.max);
        // Always draw, even without jitter, so the sequence of draws (and
        // any later use of the generator) does not depend on the settings.
        let unit = self.rng.next_unit();
        let factor = 1.0 - self.jitter + 2.0 * self.jitter * unit;
        Some(nominal.mul_f64(factor))
    }
}

/// SplitMix64: tiny, fast and well distributed for a handful of draws, and
/// fully determined by its seed (unlike anything seeded from the OS).
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`: the top 53 bits as the mantissa.
    fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}
