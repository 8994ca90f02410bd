fn main() -> std::io::Result<()> {
    gauntlet_examples::nodes::node_echo::main()
}
