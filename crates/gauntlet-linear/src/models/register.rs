//! `register` and `cas-register`.

use crate::history::Call;
use crate::intern::{Interner, short};
use crate::model::{Model, ParseError};

/// A read/write register holding any JSON value, initially `null`.
///
/// | f | invoke value | ok value |
/// |---|---|---|
/// | `read` | ignored (usually `null`) | the value read (`null`: nothing written yet) |
/// | `write` | the value written | ignored |
///
/// With unknown outcome, a read is dropped (it changes nothing) and so is a
/// write whose value no read returns.
#[derive(Debug, Clone, Copy, Default)]
pub struct Register;

/// A compare-and-set register holding any JSON value, initially `null`
/// (Jepsen's `cas-register`, Knossos's and Porcupine's etcd model).
///
/// | f | invoke value | ok value |
/// |---|---|---|
/// | `read` | ignored (usually `null`) | the value read (`null`: nothing written yet) |
/// | `write` | the value written | ignored |
/// | `cas` | `[from, to]` | ignored; `ok` means the register held `from` and now holds `to` |
///
/// A `fail`ed cas did not happen and constrains nothing. A cas of unknown
/// outcome, if it happened, applied when the register held `from` and left
/// it unchanged otherwise. Dropped before the search when their outcome is
/// unknown: reads, writes and cas whose written value no read returns and
/// no cas expects, and cas with `from == to`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CasRegister;

/// A parsed register op; values are interned ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegOp {
    /// `None`: outcome unknown.
    Read(Option<u32>),
    Write(u32),
    Cas {
        from: u32,
        to: u32,
    },
}

/// Interned values and which of them anything observes.
#[derive(Debug, Default)]
pub struct RegCtx {
    pub values: Interner,
    /// `observed[id]`: a read returned it, or a cas expects it.
    observed: Vec<bool>,
}

impl RegCtx {
    fn observe(&mut self, id: u32) {
        let i = id as usize;
        if self.observed.len() <= i {
            self.observed.resize(i + 1, false);
        }
        self.observed[i] = true;
    }

    fn is_observed(&self, id: u32) -> bool {
        self.observed.get(id as usize).copied().unwrap_or(false)
    }
}

fn parse(ctx: &mut RegCtx, call: &Call<'_>, cas: bool) -> Result<RegOp, ParseError> {
    match call.f() {
        "read" => Ok(RegOp::Read(call.output().map(|v| {
            let id = ctx.values.intern(v);
            ctx.observe(id);
            id
        }))),
        "write" => Ok(RegOp::Write(ctx.values.intern(call.input()))),
        "cas" if cas => match call.input().as_array().map(Vec::as_slice) {
            Some([from, to]) => {
                let from = ctx.values.intern(from);
                let to = ctx.values.intern(to);
                ctx.observe(from);
                Ok(RegOp::Cas { from, to })
            }
            _ => Err(ParseError::input(format!(
                "cas wants [from, to], not {}",
                short(call.input(), 60)
            ))),
        },
        _ if cas => Err(ParseError::unknown_f(call, &["read", "write", "cas"])),
        _ => Err(ParseError::unknown_f(call, &["read", "write"])),
    }
}

#[inline]
fn step(state: u32, op: &RegOp) -> Option<u32> {
    match *op {
        RegOp::Read(None) => Some(state),
        RegOp::Read(Some(v)) => (v == state).then_some(state),
        RegOp::Write(v) => Some(v),
        // A cas that "happened" with unknown outcome is the same op: it
        // applied if the value matched and was a no-op otherwise. Only a
        // cas known to be ok requires the match.
        RegOp::Cas { from, to } => (from == state).then_some(to),
    }
}

fn droppable(ctx: &RegCtx, op: &RegOp) -> bool {
    match *op {
        RegOp::Read(_) => false,
        RegOp::Write(v) => !ctx.is_observed(v),
        RegOp::Cas { from, to } => from == to || !ctx.is_observed(to),
    }
}

fn describe(call: &Call<'_>) -> String {
    let out = |s: &mut String| {
        if call.output().is_none() {
            s.push_str(" (outcome unknown)");
        }
    };
    let mut s = match call.f() {
        "read" => match call.output() {
            Some(v) => format!("read → {}", short(v, 60)),
            None => "read".to_owned(),
        },
        "write" => format!("write {}", short(call.input(), 60)),
        "cas" => match call.input().as_array().map(Vec::as_slice) {
            Some([a, b]) => format!("cas {}→{}", short(a, 30), short(b, 30)),
            _ => format!("cas {}", short(call.input(), 60)),
        },
        other => format!("{other} {}", short(call.input(), 60)),
    };
    out(&mut s);
    s
}

impl Model for Register {
    type Op = RegOp;
    type State = u32;
    type Ctx = RegCtx;

    fn name(&self) -> &str {
        "register"
    }
    fn parse(&self, ctx: &mut RegCtx, call: &Call<'_>) -> Result<RegOp, ParseError> {
        parse(ctx, call, false)
    }
    fn init(&self, _: &RegCtx) -> u32 {
        Interner::NULL
    }
    #[inline]
    fn step(&self, _: &RegCtx, state: &u32, op: &RegOp) -> Option<u32> {
        step(*state, op)
    }
    fn is_read_only(&self, op: &RegOp) -> bool {
        matches!(op, RegOp::Read(_))
    }
    fn droppable_if_indeterminate(&self, ctx: &RegCtx, op: &RegOp) -> bool {
        droppable(ctx, op)
    }
    fn describe_op(&self, call: &Call<'_>) -> String {
        describe(call)
    }
    fn describe_state(&self, ctx: &RegCtx, state: &u32) -> String {
        short(ctx.values.value(*state), 80)
    }
}

impl Model for CasRegister {
    type Op = RegOp;
    type State = u32;
    type Ctx = RegCtx;

    fn name(&self) -> &str {
        "cas-register"
    }
    fn parse(&self, ctx: &mut RegCtx, call: &Call<'_>) -> Result<RegOp, ParseError> {
        parse(ctx, call, true)
    }
    fn init(&self, _: &RegCtx) -> u32 {
        Interner::NULL
    }
    #[inline]
    fn step(&self, _: &RegCtx, state: &u32, op: &RegOp) -> Option<u32> {
        step(*state, op)
    }
    fn is_read_only(&self, op: &RegOp) -> bool {
        matches!(op, RegOp::Read(_))
    }
    fn droppable_if_indeterminate(&self, ctx: &RegCtx, op: &RegOp) -> bool {
        droppable(ctx, op)
    }
    fn describe_op(&self, call: &Call<'_>) -> String {
        describe(call)
    }
    fn describe_state(&self, ctx: &RegCtx, state: &u32) -> String {
        short(ctx.values.value(*state), 80)
    }
}
