//! `mutex`: acquire and release.

use crate::history::Call;
use crate::model::{Model, ParseError};

/// A lock, initially free. Values are ignored and the lock has no owner:
/// any process may release it.
///
/// | f | meaning on ok |
/// |---|---|
/// | `acquire` | the lock was free and is now held |
/// | `release` | the lock was held and is now free |
///
/// A second acquire while held, or a release while free, cannot be
/// linearized. Nothing is dropped: an acquire or release of unknown outcome
/// may have changed the lock.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mutex;

/// A parsed mutex op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MutexOp {
    Acquire,
    Release,
}

impl Model for Mutex {
    type Op = MutexOp;
    /// `true` while held.
    type State = bool;
    type Ctx = ();

    fn name(&self) -> &str {
        "mutex"
    }

    fn parse(&self, _: &mut (), call: &Call<'_>) -> Result<MutexOp, ParseError> {
        match call.f() {
            "acquire" => Ok(MutexOp::Acquire),
            "release" => Ok(MutexOp::Release),
            _ => Err(ParseError::unknown_f(call, &["acquire", "release"])),
        }
    }

    fn init(&self, _: &()) -> bool {
        false
    }

    fn step(&self, _: &(), held: &bool, op: &MutexOp) -> Option<bool> {
        match op {
            MutexOp::Acquire => (!held).then_some(true),
            MutexOp::Release => held.then_some(false),
        }
    }

    fn describe_op(&self, call: &Call<'_>) -> String {
        let unknown = if call.output().is_none() {
            " (outcome unknown)"
        } else {
            ""
        };
        format!("{}{unknown}", call.f())
    }

    fn describe_state(&self, _: &(), held: &bool) -> String {
        if *held { "held" } else { "free" }.to_owned()
    }
}
