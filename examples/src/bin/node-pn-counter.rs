fn main() -> std::io::Result<()> {
    gauntlet_examples::nodes::node_pn_counter::main()
}
