fn main() -> std::io::Result<()> {
    gauntlet_examples::nodes::node_broadcast::main()
}
