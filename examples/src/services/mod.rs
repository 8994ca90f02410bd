//! Example services for plans and soaks: long-running programs with a
//! health check, unlike the Maelstrom nodes in [`crate::nodes`], and the
//! user programs that drive them. Each is a module with a `main` and a
//! `run(args)`; the bins under `src/bin/` call `main`, and
//! `gauntlet example-node NAME ARGS` calls `run`.

pub mod http;
pub mod mem_client;
pub mod redis_user;
pub mod resp;
