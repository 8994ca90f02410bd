//! See [`gauntlet_examples::netlab_tools::nat_discover`]; also run as
//! `gauntlet example-node nat-discover ...`.

fn main() -> std::process::ExitCode {
    gauntlet_examples::netlab_tools::nat_discover::run(std::env::args().skip(1).collect())
}
