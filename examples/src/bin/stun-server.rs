//! See [`gauntlet_examples::netlab_tools::stun_server`]; also run as
//! `gauntlet example-node stun-server ...`.

fn main() -> std::process::ExitCode {
    gauntlet_examples::netlab_tools::stun_server::run(std::env::args().skip(1).collect())
}
