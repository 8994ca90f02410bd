//! See [`gauntlet_examples::netlab_tools::punch_rendezvous`]; also run as
//! `gauntlet example-node punch-rendezvous ...`.

fn main() -> std::process::ExitCode {
    gauntlet_examples::netlab_tools::punch_rendezvous::run(std::env::args().skip(1).collect())
}
