//! Maelstrom g-counter: add{delta} with deltas >= 0 / read, on seq-kv.
//! See `crate::counter` for how it works.

pub fn main() -> std::io::Result<()> {
    crate::counter::run(false)
}
