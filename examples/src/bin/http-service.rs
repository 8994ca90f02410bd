fn main() -> std::process::ExitCode {
    gauntlet_examples::services::http::main()
}
