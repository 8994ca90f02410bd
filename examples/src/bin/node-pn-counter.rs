//! Maelstrom pn-counter: add{delta} with any integer delta / read, on seq-kv.
//! See `gauntlet_examples::counter` for how it works.

fn main() -> std::io::Result<()> {
    gauntlet_examples::counter::run(false)
}
