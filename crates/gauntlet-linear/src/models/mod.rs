//! The built-in models, selectable by name.

mod counter;
mod kv;
mod mutex;
mod queue;
mod register;
pub(crate) mod set;

pub use counter::{Counter, CounterOp};
pub use kv::{Kv, KvCtx, KvOp, KvState};
pub use mutex::{Mutex, MutexOp};
pub use queue::{FifoQueue, QueueCtx, QueueOp};
pub use register::{CasRegister, RegCtx, RegOp, Register};
pub use set::{Bits, Set, SetCtx, SetOp};

use crate::check::DynModel;

/// The names [`model_by_name`] knows, in the order `--help` should list
/// them.
pub const MODEL_NAMES: [&str; 7] = [
    "register",
    "cas-register",
    "kv",
    "set",
    "fifo-queue",
    "mutex",
    "counter",
];

/// A built-in model by name, for the CLI: `model_by_name("cas-register")`.
pub fn model_by_name(name: &str) -> Option<Box<dyn DynModel>> {
    Some(match name {
        "register" => Box::new(Register),
        "cas-register" => Box::new(CasRegister),
        "kv" => Box::new(Kv),
        "set" => Box::new(Set),
        "fifo-queue" => Box::new(FifoQueue),
        "mutex" => Box::new(Mutex),
        "counter" => Box::new(Counter),
        _ => return None,
    })
}
