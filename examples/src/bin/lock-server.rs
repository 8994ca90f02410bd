//! See [`gauntlet_examples::services::lock_server`].

fn main() -> std::process::ExitCode {
    gauntlet_examples::services::lock_server::main()
}
