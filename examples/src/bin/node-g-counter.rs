fn main() -> std::io::Result<()> {
    gauntlet_examples::nodes::node_g_counter::main()
}
