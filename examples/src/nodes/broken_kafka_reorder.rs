//! Maelstrom `kafka`: polls return each key's messages newest first (int-nonmonotonic-poll). See `crate::kafka`.

pub fn main() -> std::io::Result<()> {
    crate::kafka::run(crate::kafka::Mode::BrokenReorder)
}
