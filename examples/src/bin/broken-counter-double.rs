fn main() -> std::io::Result<()> {
    gauntlet_examples::nodes::broken_counter_double::main()
}
