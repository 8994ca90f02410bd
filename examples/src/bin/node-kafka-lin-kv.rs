fn main() -> std::io::Result<()> {
    gauntlet_examples::nodes::node_kafka_lin_kv::main()
}
