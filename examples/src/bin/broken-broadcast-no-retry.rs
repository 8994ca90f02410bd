fn main() -> std::io::Result<()> {
    gauntlet_examples::nodes::broken_broadcast_no_retry::main()
}
