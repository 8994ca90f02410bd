fn main() -> std::io::Result<()> {
    gauntlet_examples::nodes::broken_garbage::main()
}
