fn main() -> std::io::Result<()> {
    gauntlet_examples::nodes::broken_kafka_reorder::main()
}
