//! Maelstrom `lin-kv`: read / write / cas proxied to the `lin-kv` service,
//! errors passed through. See `crate::lin_kv`.

pub fn main() -> std::io::Result<()> {
    crate::lin_kv::run(false)
}
