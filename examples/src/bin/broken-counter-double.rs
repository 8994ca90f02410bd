//! Maelstrom a g/pn-counter that adds every delta twice, so final reads are off.
//! See `gauntlet_examples::counter` for how it works.

fn main() -> std::io::Result<()> {
    gauntlet_examples::counter::run(true)
}
