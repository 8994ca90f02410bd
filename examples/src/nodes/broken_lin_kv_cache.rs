//! Deliberately broken `lin-kv`: like `node-lin-kv-proxy`, but reads of keys
//! this node wrote are served from a local cache of its own last writes, so
//! other nodes' writes go unseen and the history is not linearizable.

pub fn main() -> std::io::Result<()> {
    crate::lin_kv::run(true)
}
