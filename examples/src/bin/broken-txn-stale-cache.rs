fn main() -> std::io::Result<()> {
    gauntlet_examples::nodes::broken_txn_stale_cache::main()
}
