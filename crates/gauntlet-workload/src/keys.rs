//! The keys a generator writes to, as Elle's `wr-txns` and Jepsen's kafka
//! test draw them: `key_count` active keys, the later slots exponentially
//! more likely, each key retired after `max_writes_per_key` writes for the
//! next integer never used as a key, so every value written is unique per
//! key (1, 2, ...).

use rand::{Rng, RngExt};

use crate::WorkloadOptions;

pub(crate) struct KeyPool {
    max_writes_per_key: u64,
    /// The active keys, by slot.
    active: Vec<u64>,
    /// The writes made so far to the key in each slot.
    writes: Vec<u64>,
    next_key: u64,
}

impl KeyPool {
    pub(crate) fn new(options: &WorkloadOptions) -> KeyPool {
        // Options are validated by the caller; the floors only keep a bad
        // one from panicking here.
        let key_count = options.key_count.max(1);
        KeyPool {
            max_writes_per_key: options.max_writes_per_key.max(1),
            active: (0..key_count as u64).collect(),
            writes: vec![0; key_count],
            next_key: key_count as u64,
        }
    }

    /// The key in `slot` now.
    pub(crate) fn key(&self, slot: usize) -> u64 {
        self.active[slot]
    }

    /// The active keys.
    pub(crate) fn active(&self) -> &[u64] {
        &self.active
    }

    /// A slot drawn as Elle's exponential key distribution (base 2) draws
    /// it: slot `i` is `2^i` times as likely as slot 0, so the last slot
    /// gets about half of all draws. Elle maps a uniform draw on
    /// `[0, 2^(n+1) - 2)` through `floor(log2(x + 2)) - 1`; this is the same
    /// distribution counted from the last slot down (a truncated geometric),
    /// which stays exact where `2^n` would overflow a float.
    pub(crate) fn slot(&self, rng: &mut dyn Rng) -> usize {
        let n = self.active.len();
        let tail = 0.5f64.powi(n.min(1100) as i32);
        let u: f64 = rng.random::<f64>() * (1.0 - tail);
        let from_last = (-(1.0 - u).log2()).floor();
        let from_last = if from_last.is_finite() && from_last >= 0.0 {
            (from_last as usize).min(n - 1)
        } else {
            0
        };
        n - 1 - from_last
    }

    /// The key in `slot` and the next value to write to it, retiring the
    /// key first when it has had all its writes.
    pub(crate) fn write_to(&mut self, slot: usize) -> (u64, u64) {
        if self.writes[slot] >= self.max_writes_per_key {
            self.active[slot] = self.next_key;
            self.next_key += 1;
            self.writes[slot] = 0;
        }
        self.writes[slot] += 1;
        (self.active[slot], self.writes[slot])
    }
}
