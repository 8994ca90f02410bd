//! `fifo-queue`: enqueue and dequeue.

use std::collections::VecDeque;

use crate::history::Call;
use crate::intern::{Interner, short};
use crate::model::{Model, ParseError};
use crate::models::set::shorten_list;

/// A FIFO queue of JSON values, initially empty.
///
/// | f | invoke value | ok value |
/// |---|---|---|
/// | `enqueue` | the value (not `null`) | ignored |
/// | `dequeue` | ignored | the value dequeued, or `null` when the queue was empty |
///
/// A dequeue of unknown outcome, if it happened, removed the head (if
/// any); not a value that is enqueued once and returned by another
/// dequeue. Dropped when their outcome is unknown: enqueues of a value no
/// dequeue returns.
///
/// Values no dequeue returns are one anonymous value in the state (their
/// order among themselves cannot matter), and when no dequeue has an
/// unknown outcome, nothing behind such a value can ever be dequeued, so
/// the state ends there. Queues are still the hardest model here: the
/// order of concurrent enqueues shows only when they are dequeued, so a
/// long backlog of concurrent enqueues makes the search slow.
#[derive(Debug, Clone, Copy, Default)]
pub struct FifoQueue;

/// The anonymous value: something no dequeue returns.
const UNSEEN: u32 = u32::MAX;

/// A parsed queue op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueOp {
    /// An interned value, or the anonymous unseen value.
    Enqueue(u32),
    /// `None`: outcome unknown; `Some(None)`: found the queue empty.
    Dequeue(Option<Option<u32>>),
}

/// Interned values and which of them dequeues returned.
#[derive(Debug, Default)]
pub struct QueueCtx {
    pub values: Interner,
    /// Some dequeue has an unknown outcome (it may have removed anything).
    blind_dequeues: bool,
    /// How many enqueues (of any outcome) enqueue each interned value.
    copies: Vec<u32>,
}

impl Model for FifoQueue {
    type Op = QueueOp;
    type State = VecDeque<u32>;
    type Ctx = QueueCtx;

    fn name(&self) -> &str {
        "fifo-queue"
    }

    fn prepare(&self, ctx: &mut QueueCtx, calls: &[Call<'_>]) {
        for c in calls.iter().filter(|c| c.f() == "dequeue") {
            match c.output() {
                Some(v) if !v.is_null() => {
                    ctx.values.intern(v);
                }
                Some(_) => {}
                None => ctx.blind_dequeues = true,
            }
        }
        ctx.copies = vec![0; ctx.values.len()];
        for c in calls.iter().filter(|c| c.f() == "enqueue") {
            if let Some(id) = ctx.values.get(c.input()) {
                ctx.copies[id as usize] += 1;
            }
        }
    }

    fn parse(&self, ctx: &mut QueueCtx, call: &Call<'_>) -> Result<QueueOp, ParseError> {
        match call.f() {
            "enqueue" => {
                if call.input().is_null() {
                    return Err(ParseError::input(
                        "enqueue of null: null is what a dequeue of an empty queue returns",
                    ));
                }
                // Only values some dequeue returned were interned.
                Ok(QueueOp::Enqueue(
                    ctx.values.get(call.input()).unwrap_or(UNSEEN),
                ))
            }
            "dequeue" => Ok(QueueOp::Dequeue(
                call.output()
                    .map(|v| (!v.is_null()).then(|| ctx.values.intern(v))),
            )),
            _ => Err(ParseError::unknown_f(call, &["enqueue", "dequeue"])),
        }
    }

    fn init(&self, _: &QueueCtx) -> VecDeque<u32> {
        VecDeque::new()
    }

    fn step(&self, ctx: &QueueCtx, state: &VecDeque<u32>, op: &QueueOp) -> Option<VecDeque<u32>> {
        match *op {
            QueueOp::Enqueue(v) => {
                if !ctx.blind_dequeues && state.back() == Some(&UNSEEN) {
                    // Nothing behind an unseen value can be dequeued.
                    return Some(state.clone());
                }
                let mut next = state.clone();
                next.push_back(v);
                Some(next)
            }
            QueueOp::Dequeue(None) => {
                // A value enqueued once that some dequeue returns cannot
                // have been taken by a dequeue whose result is unknown.
                if let Some(&v) = state.front()
                    && v != UNSEEN
                    && ctx.copies[v as usize] <= 1
                {
                    return None;
                }
                let mut next = state.clone();
                next.pop_front();
                Some(next)
            }
            QueueOp::Dequeue(Some(None)) => state.is_empty().then(|| state.clone()),
            QueueOp::Dequeue(Some(Some(v))) => (state.front() == Some(&v)).then(|| {
                let mut next = state.clone();
                next.pop_front();
                next
            }),
        }
    }

    fn is_read_only(&self, op: &QueueOp) -> bool {
        matches!(op, QueueOp::Dequeue(Some(None)))
    }

    fn droppable_if_indeterminate(&self, _: &QueueCtx, op: &QueueOp) -> bool {
        matches!(op, QueueOp::Enqueue(UNSEEN))
    }

    fn observes(&self, op: &QueueOp) -> bool {
        matches!(op, QueueOp::Dequeue(Some(_)))
    }

    fn is_hopeless(&self, _: &QueueCtx, state: &VecDeque<u32>) -> bool {
        state.front() == Some(&UNSEEN)
    }

    fn revives(&self, op: &QueueOp) -> bool {
        matches!(op, QueueOp::Dequeue(None))
    }

    fn describe_op(&self, call: &Call<'_>) -> String {
        match (call.f(), call.output()) {
            ("dequeue", Some(v)) if v.is_null() => "dequeue → empty".to_owned(),
            ("dequeue", Some(v)) => format!("dequeue → {}", short(v, 60)),
            ("dequeue", None) => "dequeue (outcome unknown)".to_owned(),
            (f, out) => format!(
                "{f} {}{}",
                short(call.input(), 60),
                if out.is_none() {
                    " (outcome unknown)"
                } else {
                    ""
                }
            ),
        }
    }

    fn describe_state(&self, ctx: &QueueCtx, state: &VecDeque<u32>) -> String {
        let items: Vec<String> = state
            .iter()
            .map(|&v| match v {
                UNSEEN => "(a value no dequeue returns)".to_owned(),
                v => short(ctx.values.value(v), 20),
            })
            .collect();
        shorten_list(&items)
    }
}
