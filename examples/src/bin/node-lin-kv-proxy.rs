fn main() -> std::io::Result<()> {
    gauntlet_examples::nodes::node_lin_kv_proxy::main()
}
