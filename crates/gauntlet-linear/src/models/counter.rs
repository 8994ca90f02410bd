//! `counter`: add and read.

use crate::history::Call;
use crate::intern::short;
use crate::model::{Model, ParseError};

/// An integer counter, initially 0.
///
/// | f | invoke value | ok value |
/// |---|---|---|
/// | `add` | the integer delta (may be negative) | ignored |
/// | `read` | ignored | the integer read |
///
/// Dropped when their outcome is unknown: reads, and adds of 0.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counter;

/// A parsed counter op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CounterOp {
    Add(i64),
    /// `None`: outcome unknown.
    Read(Option<i64>),
}

impl Model for Counter {
    type Op = CounterOp;
    type State = i128;
    type Ctx = ();

    fn name(&self) -> &str {
        "counter"
    }

    fn parse(&self, _: &mut (), call: &Call<'_>) -> Result<CounterOp, ParseError> {
        match call.f() {
            "add" => call.input().as_i64().map(CounterOp::Add).ok_or_else(|| {
                ParseError::input(format!(
                    "add wants an integer delta, not {}",
                    short(call.input(), 60)
                ))
            }),
            "read" => match call.output() {
                None => Ok(CounterOp::Read(None)),
                Some(v) => v.as_i64().map(|n| CounterOp::Read(Some(n))).ok_or_else(|| {
                    ParseError::output(format!("read returns an integer, not {}", short(v, 60)))
                }),
            },
            _ => Err(ParseError::unknown_f(call, &["add", "read"])),
        }
    }

    fn init(&self, _: &()) -> i128 {
        0
    }

    fn step(&self, _: &(), n: &i128, op: &CounterOp) -> Option<i128> {
        match *op {
            CounterOp::Add(d) => Some(n + d as i128),
            CounterOp::Read(None) => Some(*n),
            CounterOp::Read(Some(v)) => (v as i128 == *n).then_some(*n),
        }
    }

    fn is_read_only(&self, op: &CounterOp) -> bool {
        matches!(op, CounterOp::Read(_) | CounterOp::Add(0))
    }

    fn describe_op(&self, call: &Call<'_>) -> String {
        match (call.f(), call.output()) {
            ("read", Some(v)) => format!("read → {}", short(v, 30)),
            ("read", None) => "read (outcome unknown)".to_owned(),
            (f, out) => format!(
                "{f} {}{}",
                short(call.input(), 30),
                if out.is_none() {
                    " (outcome unknown)"
                } else {
                    ""
                }
            ),
        }
    }

    fn describe_state(&self, _: &(), n: &i128) -> String {
        n.to_string()
    }
}
