//! Maelstrom `lin-kv`: read / write / cas proxied to the `lin-kv` service,
//! errors passed through. See `gauntlet_examples::lin_kv`.

fn main() -> std::io::Result<()> {
    gauntlet_examples::lin_kv::run(false)
}
