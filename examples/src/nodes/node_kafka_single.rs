//! Maelstrom `kafka`: all logs in this node's memory; correct on one node. See `crate::kafka`.

pub fn main() -> std::io::Result<()> {
    crate::kafka::run(crate::kafka::Mode::Single)
}
