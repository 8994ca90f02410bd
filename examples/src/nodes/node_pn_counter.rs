//! Maelstrom pn-counter: add{delta} with any integer delta / read, on seq-kv.
//! See `crate::counter` for how it works.

pub fn main() -> std::io::Result<()> {
    crate::counter::run(false)
}
