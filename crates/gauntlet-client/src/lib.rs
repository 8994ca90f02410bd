//! Clients that are programs: any language, JSON lines on stdin and
//! stdout, one request and one answer at a time.
//!
//! [`LineProgram`] is the edge (a process through any node backend, a
//! line out, a line back within a time limit, and a typed reason when it
//! does not come). [`protocol`] is the operation protocol of `gauntlet
//! test cluster.toml` (Jepsen's client: `{"f":"cas","key":"k3","value":[1,4]}`
//! in, `{"type":"ok"|"fail"|"info", ...}` out), sans-IO. The soak's user
//! programs speak their own requests over the same [`LineProgram`].
//! [`builtin`] is the other side: the client programs gauntlet ships
//! (`gauntlet client etcd`, `gauntlet client redis`).

pub mod bench;
pub mod builtin;
mod client;
mod program;
pub mod protocol;

pub use client::{KEPT_PROBLEMS, ProblemRecord, Problems, ProgramClient};
pub use program::{CallError, LineProgram};
