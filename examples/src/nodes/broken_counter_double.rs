//! Maelstrom a g/pn-counter that adds every delta twice, so final reads are off.
//! See `crate::counter` for how it works.

pub fn main() -> std::io::Result<()> {
    crate::counter::run(true)
}
