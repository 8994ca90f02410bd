//! `set`: a grow-only set with add and read.

use crate::history::Call;
use crate::intern::{Interner, short};
use crate::model::{Model, ParseError};

/// A set of JSON values, initially empty.
///
/// | f | invoke value | ok value |
/// |---|---|---|
/// | `add` | the element | ignored |
/// | `read` | ignored | an array: the whole set (order and duplicates do not matter) |
///
/// Dropped when their outcome is unknown: reads, and adds of an element no
/// read contains.
#[derive(Debug, Clone, Copy, Default)]
pub struct Set;

/// A set of interned elements as a bitset.
pub type Bits = Box<[u64]>;

/// A parsed set op.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SetOp {
    Add(u32),
    /// `None`: outcome unknown.
    Read(Option<Bits>),
}

/// Interned elements and which of them reads contain.
#[derive(Debug, Default)]
pub struct SetCtx {
    pub elements: Interner,
    words: usize,
    observed: Vec<bool>,
}

fn bits(ids: &[u32], words: usize) -> Bits {
    let mut b = vec![0u64; words].into_boxed_slice();
    for &i in ids {
        b[i as usize / 64] |= 1 << (i % 64);
    }
    b
}

impl Model for Set {
    type Op = SetOp;
    type State = Bits;
    type Ctx = SetCtx;

    fn name(&self) -> &str {
        "set"
    }

    fn prepare(&self, ctx: &mut SetCtx, calls: &[Call<'_>]) {
        // Intern every element first, so bitsets have their final width.
        for c in calls {
            match c.f() {
                "add" => {
                    ctx.elements.intern(c.input());
                }
                "read" => {
                    for e in c.output().and_then(|v| v.as_array()).into_iter().flatten() {
                        let id = ctx.elements.intern(e) as usize;
                        if ctx.observed.len() <= id {
                            ctx.observed.resize(id + 1, false);
                        }
                        ctx.observed[id] = true;
                    }
                }
                _ => {}
            }
        }
        ctx.words = ctx.elements.len().div_ceil(64);
    }

    fn parse(&self, ctx: &mut SetCtx, call: &Call<'_>) -> Result<SetOp, ParseError> {
        match call.f() {
            "add" => Ok(SetOp::Add(ctx.elements.intern(call.input()))),
            "read" => match call.output() {
                None => Ok(SetOp::Read(None)),
                Some(v) => {
                    let items = v.as_array().ok_or_else(|| {
                        ParseError::output(format!("read returns an array, not {}", short(v, 60)))
                    })?;
                    let ids: Vec<u32> = items.iter().map(|e| ctx.elements.intern(e)).collect();
                    Ok(SetOp::Read(Some(bits(&ids, ctx.words))))
                }
            },
            _ => Err(ParseError::unknown_f(call, &["add", "read"])),
        }
    }

    fn init(&self, ctx: &SetCtx) -> Bits {
        bits(&[], ctx.words)
    }

    fn step(&self, _: &SetCtx, state: &Bits, op: &SetOp) -> Option<Bits> {
        match op {
            SetOp::Add(e) => {
                let (w, b) = (*e as usize / 64, 1u64 << (e % 64));
                if state[w] & b != 0 {
                    return Some(state.clone());
                }
                let mut next = state.clone();
                next[w] |= b;
                Some(next)
            }
            SetOp::Read(None) => Some(state.clone()),
            SetOp::Read(Some(want)) => (want == state).then(|| state.clone()),
        }
    }

    fn is_read_only(&self, op: &SetOp) -> bool {
        matches!(op, SetOp::Read(_))
    }

    fn droppable_if_indeterminate(&self, ctx: &SetCtx, op: &SetOp) -> bool {
        match op {
            SetOp::Read(_) => false,
            SetOp::Add(e) => !ctx.observed.get(*e as usize).copied().unwrap_or(false),
        }
    }

    fn describe_state(&self, ctx: &SetCtx, state: &Bits) -> String {
        let items: Vec<String> = (0..ctx.elements.len() as u32)
            .filter(|&i| state[i as usize / 64] & (1 << (i % 64)) != 0)
            .map(|i| short(ctx.elements.value(i), 20))
            .collect();
        shorten_list(&items)
    }
}

pub(crate) fn shorten_list(items: &[String]) -> String {
    if items.len() <= 20 {
        return format!("[{}]", items.join(", "));
    }
    format!(
        "[{}, … {} more …, {}] ({} in all)",
        items[..8].join(", "),
        items.len() - 12,
        items[items.len() - 4..].join(", "),
        items.len()
    )
}
