fn main() -> std::io::Result<()> {
    gauntlet_examples::nodes::broken_txn_no_atomicity::main()
}
