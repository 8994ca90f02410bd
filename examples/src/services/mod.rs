//! Example services for plans: long-running programs with a health check,
//! unlike the Maelstrom nodes in [`crate::nodes`]. Each is a module with a
//! `main`; the bins under `src/bin/` call them.

pub mod http;
