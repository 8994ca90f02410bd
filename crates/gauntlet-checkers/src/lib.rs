//! Every built-in checker by name, in one registry: gauntlet-check's
//! (echo, unique-ids, set-full, counter, stats, availability),
//! gauntlet-linear's `linearizable`, and gauntlet-txn's `list-append` and
//! `rw-register` (strict serializability) and `kafka`. The workbench, the plan loader
//! and the plan's check stages all look names up here, so a name one of
//! them knows, every one knows.
//!
//! Checkers that need a run's options (availability against
//! `--availability`, the transaction checkers against
//! `--consistency-models`) are registered again over these by whoever has
//! the options.

use gauntlet_check::Checkers;

/// Every built-in checker with its default options.
pub fn builtin() -> Checkers {
    let mut c = gauntlet_linear::checkers();
    gauntlet_txn::register(&mut c);
    c.register(gauntlet_txn::kafka::KafkaChecker);
    c
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_family_is_registered() {
        let c = super::builtin();
        for name in [
            "echo",
            "counter",
            "linearizable",
            "list-append",
            "rw-register",
        ] {
            assert!(c.contains(name), "{name}");
        }
    }
}
