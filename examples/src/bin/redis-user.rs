fn main() -> std::process::ExitCode {
    gauntlet_examples::services::redis_user::main()
}
