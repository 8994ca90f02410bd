fn main() -> std::io::Result<()> {
    gauntlet_examples::nodes::node_txn_multi_key::main()
}
