fn main() -> std::io::Result<()> {
    gauntlet_examples::nodes::broken_lin_kv_cache::main()
}
