fn main() -> std::io::Result<()> {
    gauntlet_examples::nodes::broken_echo_wrong::main()
}
