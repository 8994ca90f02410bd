//! See [`gauntlet_examples::netlab_tools::punch_peer`]; also run as
//! `gauntlet example-node punch-peer ...`.

fn main() -> std::process::ExitCode {
    gauntlet_examples::netlab_tools::punch_peer::run(std::env::args().skip(1).collect())
}
