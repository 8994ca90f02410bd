//! Example services for plans and soaks: long-running programs with a
//! health check, unlike the Maelstrom nodes in [`crate::nodes`], and the
//! user programs that drive them. Each is a module with a `main` and a
//! `run(args)`; the bins under `src/bin/` call `main`, and
//! `gauntlet example-node NAME ARGS` calls `run`.

pub mod http;
pub mod lock_client;
pub mod lock_server;
pub mod mem_client;
pub mod redis_user;
pub mod resp;

/// The services `gauntlet example-node` finds by name in this list (the
/// others it names one by one), with their `run`s.
pub const PROGRAMS: [(&str, crate::netlab_tools::Main); 2] = [
    ("lock-server", lock_server::run),
    ("lock-client", lock_client::run),
];
