//! Example Maelstrom node programs for Gauntlet's workbench, correct and
//! deliberately broken. Each program is a function in [`nodes`]; the bins
//! under `src/bin/` and `gauntlet example-node NAME` both run them.
//!
//! Every node program speaks JSON lines on stdin/stdout and logs only to
//! stderr. [`services`] holds example services for plans (`http-service`),
//! which speak HTTP instead, and `redis-user`, a soak user program that
//! turns JSON lines into Redis commands.
//!
//! The network lab's programs speak UDP instead: [`stun`] and [`nat`] are
//! the STUN codec and RFC 5780 NAT discovery behind `stun-server` and
//! `nat-discover`, [`punch`] the hole-punching protocol of
//! `punch-rendezvous` and `punch-peer`, [`netlab`] what they share.

// These are programs under test, not gauntlet: their stdout is their protocol
// (or their usage and selftest output) and their stderr their log, written
// with the ordinary macros as any user's node would be. The workspace's ban
// on print macros (clippy.toml) guards gauntlet's own output.
#![allow(clippy::disallowed_macros)]

pub mod counter;
pub mod kafka;
pub mod lin_kv;
pub mod nat;
pub mod netlab;
pub mod netlab_tools;
pub mod nodes;
pub mod punch;
pub mod services;
pub mod stun;
pub mod txn;

use std::fs::File;
use std::hash::{BuildHasher, RandomState};
use std::io::Read;
use std::time::{SystemTime, UNIX_EPOCH};

/// 64 random bits from the OS (`/dev/urandom`), falling back to std's
/// randomly keyed hasher mixed with the clock and the process id.
pub fn random_u64() -> u64 {
    let mut buf = [0u8; 8];
    if File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_ok()
    {
        return u64::from_le_bytes(buf);
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    RandomState::new().hash_one((nanos, std::process::id()))
}

/// A tiny, fast pseudo-random generator (xorshift64*), good enough to pick
/// where a message goes. Not for anything that needs real randomness.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1) // xorshift must not start at 0
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`; `n` must not be 0.
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }
}

/// A node program's entry point.
pub type NodeMain = fn() -> std::io::Result<()>;

/// Every example node, correct ones first, by the name of its binary.
pub const NODES: &[(&str, NodeMain)] = &[
    ("node-broadcast", nodes::node_broadcast::main),
    ("node-echo", nodes::node_echo::main),
    ("node-flood", nodes::node_flood::main),
    ("node-g-counter", nodes::node_g_counter::main),
    ("node-kafka-lin-kv", nodes::node_kafka_lin_kv::main),
    ("node-kafka-single", nodes::node_kafka_single::main),
    ("node-lin-kv-proxy", nodes::node_lin_kv_proxy::main),
    ("node-pn-counter", nodes::node_pn_counter::main),
    ("node-txn-multi-key", nodes::node_txn_multi_key::main),
    ("node-txn-single-key", nodes::node_txn_single_key::main),
    ("node-unique-ids", nodes::node_unique_ids::main),
    (
        "broken-broadcast-no-retry",
        nodes::broken_broadcast_no_retry::main,
    ),
    ("broken-counter-double", nodes::broken_counter_double::main),
    ("broken-echo-crash", nodes::broken_echo_crash::main),
    ("broken-echo-wrong", nodes::broken_echo_wrong::main),
    ("broken-garbage", nodes::broken_garbage::main),
    ("broken-kafka-reorder", nodes::broken_kafka_reorder::main),
    ("broken-lin-kv-cache", nodes::broken_lin_kv_cache::main),
    (
        "broken-txn-no-atomicity",
        nodes::broken_txn_no_atomicity::main,
    ),
    (
        "broken-txn-stale-cache",
        nodes::broken_txn_stale_cache::main,
    ),
];

/// The names of [`NODES`], for help texts.
pub const NODE_NAMES: [&str; NODES.len()] = {
    let mut names = [""; NODES.len()];
    let mut i = 0;
    while i < NODES.len() {
        names[i] = NODES[i].0;
        i += 1;
    }
    names
};

/// The entry point of the example node called `name`.
pub fn node_main(name: &str) -> Option<NodeMain> {
    NODES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, main)| *main)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_covers_its_range_and_differs_by_seed() {
        let mut rng = Rng::new(random_u64());
        let mut seen = [0u32; 5];
        for _ in 0..10_000 {
            seen[rng.below(5)] += 1;
        }
        assert!(seen.iter().all(|&n| n > 1_500), "{seen:?}");
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
        assert_ne!(random_u64(), random_u64());
    }
}
