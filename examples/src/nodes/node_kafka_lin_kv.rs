//! Maelstrom `kafka`: each key's log one lin-kv value, appended with cas; correct on any number of nodes. See `crate::kafka`.

pub fn main() -> std::io::Result<()> {
    crate::kafka::run(crate::kafka::Mode::LinKv)
}
