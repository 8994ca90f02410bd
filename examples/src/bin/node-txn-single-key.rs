fn main() -> std::io::Result<()> {
    gauntlet_examples::nodes::node_txn_single_key::main()
}
