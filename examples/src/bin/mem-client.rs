//! See [`gauntlet_examples::services::mem_client`].

fn main() -> std::process::ExitCode {
    gauntlet_examples::services::mem_client::main()
}
