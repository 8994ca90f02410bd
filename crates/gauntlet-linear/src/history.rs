//! Pairs invokes with completions and splits the calls by key.

use gauntlet_history::{Op, OpType, Process};
use rustc_hash::FxHashMap;
use serde_json::Value;

use crate::error::{LinearError, kind_name};

/// One client operation as a model sees it: an invoke and, unless it never
/// completed, its `ok` or `info` completion. Failed operations never reach a
/// model (they did not happen).
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The operation's id: its rank among the history's client invokes
    /// (fails included), the same id the [`crate::Timeline`] uses.
    pub id: usize,
    pub invoke: &'a Op,
    /// `Some(ok)`, `Some(info)`, or `None` when the history ends first.
    pub completion: Option<&'a Op>,
}

impl<'a> Call<'a> {
    pub fn f(&self) -> &'a str {
        &self.invoke.f
    }

    /// The argument: the invoke's value.
    pub fn input(&self) -> &'a Value {
        &self.invoke.value
    }

    /// The result, known only when the operation completed `ok`.
    pub fn output(&self) -> Option<&'a Value> {
        self.completion
            .filter(|c| c.kind == OpType::Ok)
            .map(|c| &c.value)
    }

    /// True when the outcome is unknown (`info`, or never completed): the
    /// operation may have taken effect at any time after its invoke, or not
    /// at all.
    pub fn is_indeterminate(&self) -> bool {
        self.output().is_none()
    }

    /// The client process.
    pub fn process(&self) -> u64 {
        match self.invoke.process {
            Process::Client(p) => p,
            Process::Nemesis => u64::MAX,
        }
    }
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    Fail,
    Info,
    /// No completion before the history ended: treated as `info`.
    Open,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
            Outcome::Open => "open",
        }
    }
}

/// A call by positions in the history slice.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallRec {
    pub invoke: u32,
    /// Position of the completion (ok, fail or info).
    pub completion: Option<u32>,
    pub outcome: Outcome,
}

impl CallRec {
    pub fn call<'a>(&self, id: usize, history: &'a [Op]) -> Call<'a> {
        Call {
            id,
            invoke: &history[self.invoke as usize],
            completion: match self.outcome {
                Outcome::Ok | Outcome::Info => self.completion.map(|p| &history[p as usize]),
                Outcome::Fail | Outcome::Open => None,
            },
        }
    }
}

/// A history's calls in invoke order, and its keys in order of first use.
pub(crate) struct Paired {
    pub calls: Vec<CallRec>,
    /// Distinct keys in order of first appearance (`None` for calls without
    /// a key). A history without keys has the single entry `None`.
    pub keys: Vec<Option<Value>>,
    /// Call ids of each key, in invoke order.
    pub by_key: Vec<Vec<u32>>,
    pub nemesis: usize,
}

impl Paired {
    /// True when any call carries a key.
    pub fn has_keys(&self) -> bool {
        self.keys.iter().any(Option::is_some)
    }
}

/// A hashable view of a key.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) enum KeyRef<'a> {
    None,
    Str(&'a str),
    Int(i64),
    Json(String),
}

impl<'a> KeyRef<'a> {
    pub fn of(v: Option<&'a Value>) -> KeyRef<'a> {
        match v {
            None => KeyRef::None,
            Some(Value::String(s)) => KeyRef::Str(s),
            Some(Value::Number(n)) if n.as_i64().is_some() => KeyRef::Int(n.as_i64().unwrap_or(0)),
            Some(other) => KeyRef::Json(crate::intern::canonical(other)),
        }
    }
}

pub(crate) const MAX_LEN: usize = (u32::MAX - 1) as usize;

pub(crate) fn pair(history: &[Op]) -> Result<Paired, LinearError> {
    if history.len() > MAX_LEN {
        return Err(LinearError::TooLong {
            len: history.len(),
            max: MAX_LEN,
        });
    }
    let mut calls: Vec<CallRec> = Vec::with_capacity(history.len() / 2 + 1);
    let mut open: FxHashMap<u64, u32> = FxHashMap::default();
    let mut key_ids: FxHashMap<KeyRef<'_>, u32> = FxHashMap::default();
    let mut keys: Vec<Option<Value>> = Vec::new();
    let mut by_key: Vec<Vec<u32>> = Vec::new();
    let mut nemesis = 0;
    for (pos, op) in history.iter().enumerate() {
        let Process::Client(p) = op.process else {
            nemesis += 1;
            continue;
        };
        if op.kind == OpType::Invoke {
            let id = calls.len() as u32;
            if let Some(prev) = open.insert(p, id) {
                return Err(LinearError::InvokeWhileOpen {
                    index: op.index,
                    process: p,
                    f: op.f.clone(),
                    open_index: history[calls[prev as usize].invoke as usize].index,
                });
            }
            let next = keys.len() as u32;
            let part = *key_ids
                .entry(KeyRef::of(op.key.as_ref()))
                .or_insert_with(|| {
                    keys.push(op.key.clone());
                    by_key.push(Vec::new());
                    next
                });
            by_key[part as usize].push(id);
            calls.push(CallRec {
                invoke: pos as u32,
                completion: None,
                outcome: Outcome::Open,
            });
            continue;
        }
        let Some(id) = open.remove(&p) else {
            return Err(LinearError::CompletionWithoutInvoke {
                index: op.index,
                process: p,
                kind: kind_name(op.kind),
                f: op.f.clone(),
            });
        };
        let call = &mut calls[id as usize];
        let inv = &history[call.invoke as usize];
        if inv.f != op.f {
            return Err(LinearError::FMismatch {
                index: op.index,
                invoke_index: inv.index,
                expected: inv.f.clone(),
                found: op.f.clone(),
            });
        }
        if let (Some(a), Some(b)) = (&inv.key, &op.key)
            && KeyRef::of(Some(a)) != KeyRef::of(Some(b))
        {
            return Err(LinearError::KeyMismatch {
                index: op.index,
                invoke_index: inv.index,
                expected: a.clone(),
                found: b.clone(),
            });
        }
        call.completion = Some(pos as u32);
        call.outcome = match op.kind {
            OpType::Ok => Outcome::Ok,
            OpType::Fail => Outcome::Fail,
            _ => Outcome::Info,
        };
    }
    if keys.is_empty() {
        keys.push(None);
        by_key.push(Vec::new());
    }
    Ok(Paired {
        calls,
        keys,
        by_key,
        nemesis,
    })
}
