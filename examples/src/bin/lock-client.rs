//! See [`gauntlet_examples::services::lock_client`].

fn main() -> std::process::ExitCode {
    gauntlet_examples::services::lock_client::main()
}
