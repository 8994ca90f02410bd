//! The search: Wing & Gong's algorithm with Lowe's just-in-time
//! linearization and a cache of (linearized set, state) configurations, as
//! in Porcupine.
//!
//! Calls and returns of the operations that completed `ok` form one
//! doubly linked list in real-time order. The search walks it from the
//! head: a call whose operation the model accepts in the current state is
//! linearized ("lifted": its call and return leave the list) and the walk
//! restarts from the head; reaching a return means the operation that
//! returned there had to be linearized already, so the search backtracks to
//! the last choice and tries the next candidate. Operations of unknown
//! outcome have no return: they wait in a second list, in invoke order,
//! and are tried only after every `ok` candidate, each being a candidate
//! once its invoke precedes the first pending return. They never have to
//! be linearized. The history is linearizable when every `ok` operation
//! is.
//!
//! A configuration (the set of linearized operations, the state) that
//! was seen before is not explored again. The set is represented by a
//! 128-bit Zobrist fingerprint (the XOR of a random key per operation),
//! updated in O(1) per step, so a cache entry costs 16 bytes plus the
//! state instead of a bitset of the whole history. Two different sets
//! collide with probability 2^-128 per pair of configurations (model
//! checkers such as TLC rely on 64-bit fingerprints the same way); a
//! collision could only prune a branch, never accept a history.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use rustc_hash::FxHashMap;
use std::collections::hash_map::Entry;

use crate::model::Model;

/// One object's calls, parsed, with what the search needs.
pub(crate) struct Prepared<M: Model> {
    pub ctx: M::Ctx,
    pub ops: Vec<M::Op>,
    /// Local id → global call id.
    pub ids: Vec<u32>,
    /// Invoke position in the history.
    pub inv: Vec<u32>,
    /// Completion position for `ok` calls, [`NO_RETURN`] otherwise.
    pub ret: Vec<u32>,
    /// [`Model::is_read_only`] of each op.
    pub read_only: Vec<bool>,
    /// `ok` ops that [`Model::observes`].
    pub observer: Vec<bool>,
    /// Ops that [`Model::revives`].
    pub reviver: Vec<bool>,
    /// Equal ops share a class; `rank` orders a class's indeterminate
    /// members by invoke (`u32::MAX` for ok ops).
    pub class: Vec<u32>,
    pub rank: Vec<u32>,
    pub classes: usize,
    /// Indeterminate calls dropped because they cannot matter.
    pub dropped: usize,
}

pub(crate) const NO_RETURN: u32 = u32::MAX;

impl<M: Model> Prepared<M> {
    pub fn is_indeterminate(&self, l: usize) -> bool {
        self.ret[l] == NO_RETURN
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }
}

/// Why a search stopped before deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    Deadline,
    /// Another partition already proved the history invalid.
    Cancelled,
}

/// When to give up.
pub(crate) struct Budget<'a> {
    pub deadline: Option<Instant>,
    /// The smallest partition index found invalid so far (`usize::MAX`).
    pub cancel: &'a AtomicUsize,
    pub me: usize,
}

impl Budget<'_> {
    pub fn stop(&self) -> Option<Stop> {
        if self.cancel.load(Ordering::Relaxed) < self.me {
            return Some(Stop::Cancelled);
        }
        match self.deadline {
            Some(d) if Instant::now() >= d => Some(Stop::Deadline),
            _ => None,
        }
    }
}

/// Where the search got stuck, for the counterexample.
pub(crate) struct Dead<S> {
    /// The deepest configuration reached (most `ok` operations
    /// linearized), as local ids in linearization order.
    pub order: Vec<u32>,
    /// Every state the search reached with exactly that set linearized.
    pub states: Vec<S>,
    /// The `ok` operation whose return bounds what can go next.
    pub blocking: u32,
    /// Operations that could go next there (local ids): `blocking`, the
    /// other `ok` ones, then indeterminate ones, each by invoke.
    pub candidates: Vec<u32>,
}

pub(crate) enum Verdict<S> {
    Valid,
    Invalid(Dead<S>),
    Stopped(Stop),
}

pub(crate) struct Outcome<S> {
    pub verdict: Verdict<S>,
    /// Configurations explored (cache entries).
    pub configs: u64,
}

const REG_HEAD: u32 = 0;
const INFO_HEAD: u32 = 1;

/// 128-bit fingerprint keys, deterministic (splitmix64 of the local id).
fn zobrist(l: usize) -> [u64; 2] {
    fn mix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    let l = l as u64;
    [
        mix(l.wrapping_mul(2) ^ 0x5EED),
        mix(l.wrapping_mul(2) ^ 0x5EED ^ 1),
    ]
}

struct Lists {
    next: Vec<u32>,
    prev: Vec<u32>,
    /// Local id of the call behind a node.
    call: Vec<u32>,
    /// A return node (only `ok` calls have them).
    is_ret: Vec<bool>,
    /// History position of the node's event.
    pos: Vec<u32>,
    /// Call node → its return node (regular calls only).
    ret_node: Vec<u32>,
}

impl Lists {
    fn build<M: Model>(p: &Prepared<M>) -> Lists {
        let n = p.len();
        let mut call = vec![u32::MAX, u32::MAX];
        let mut is_ret = vec![false, false];
        let mut pos = vec![0, 0];
        let mut ret_node = vec![u32::MAX, u32::MAX];
        let mut regular: Vec<u32> = Vec::new();
        let mut info: Vec<u32> = Vec::new();
        for l in 0..n {
            let c = call.len() as u32;
            call.push(l as u32);
            is_ret.push(false);
            pos.push(p.inv[l]);
            if p.is_indeterminate(l) {
                ret_node.push(u32::MAX);
                info.push(c);
            } else {
                ret_node.push(c + 1);
                call.push(l as u32);
                is_ret.push(true);
                pos.push(p.ret[l]);
                ret_node.push(u32::MAX);
                regular.push(c);
                regular.push(c + 1);
            }
        }
        regular.sort_unstable_by_key(|&node| pos[node as usize]);
        // Info calls are already in invoke order (local ids follow invokes).
        let total = call.len();
        let mut next = vec![0u32; total];
        let mut prev = vec![0u32; total];
        for (head, nodes) in [(REG_HEAD, &regular), (INFO_HEAD, &info)] {
            let mut last = head;
            for &node in nodes.iter() {
                next[last as usize] = node;
                prev[node as usize] = last;
                last = node;
            }
            next[last as usize] = head;
            prev[head as usize] = last;
        }
        Lists {
            next,
            prev,
            call,
            is_ret,
            pos,
            ret_node,
        }
    }

    #[inline]
    fn unlink(&mut self, x: u32) {
        let (p, n) = (self.prev[x as usize], self.next[x as usize]);
        self.next[p as usize] = n;
        self.prev[n as usize] = p;
    }

    #[inline]
    fn relink(&mut self, x: u32) {
        let (p, n) = (self.prev[x as usize], self.next[x as usize]);
        self.next[p as usize] = x;
        self.prev[n as usize] = x;
    }

    #[inline]
    fn lift(&mut self, x: u32) {
        self.unlink(x);
        let r = self.ret_node[x as usize];
        if r != u32::MAX {
            self.unlink(r);
        }
    }

    #[inline]
    fn unlift(&mut self, x: u32) {
        let r = self.ret_node[x as usize];
        if r != u32::MAX {
            self.relink(r);
        }
        self.relink(x);
    }
}

struct Frame<S> {
    node: u32,
    /// The state before this node was linearized.
    state: S,
    /// Its place among the configuration's candidates.
    idx: u32,
    /// A read-only op linearized without alternatives: backtracking does
    /// not try other candidates in its place.
    forced: bool,
}

type Cache<S> = FxHashMap<(u64, u64, S), ()>;

struct Searcher<'a, M: Model> {
    model: &'a M,
    p: &'a Prepared<M>,
    lists: Lists,
    keys: Vec<[u64; 2]>,
    cache: Cache<M::State>,
    stack: Vec<Frame<M::State>>,
    state: M::State,
    fp: [u64; 2],
    required: usize,
    remaining: usize,
    /// The deepest configuration so far: `best` shares `common` frames with
    /// the current stack, so recording a new best copies only new frames.
    best: Vec<u32>,
    best_depth: usize,
    common: usize,
    /// Per class of equal ops, how many of its indeterminate members are
    /// linearized (always the first ones by invoke).
    taken: Vec<u32>,
    /// Per class, the ok candidate with the earliest return in the
    /// configuration surveyed last (valid when its stamp is `stamp`).
    best_of: Vec<(u64, u32)>,
    stamp: u64,
    /// The current configuration's candidates in the order to try them.
    cands: Vec<u32>,
    keyed: Vec<(bool, u32, u32)>,
    /// `ok` observers not linearized yet, by return.
    observers: Chain,
    /// Revivers not linearized yet, by invoke.
    revivers: Chain,
}

impl<M: Model> Searcher<'_, M> {
    /// Linearizes node `x`, leading to `next`, unless that configuration
    /// was explored before (then returns false).
    #[inline]
    fn push(&mut self, x: u32, next: M::State, idx: u32, forced: bool) -> bool {
        let l = self.lists.call[x as usize] as usize;
        if let Some(o) = self.observers.first_but(l)
            && self.model.is_hopeless(&self.p.ctx, &next)
            && self
                .revivers
                .first_but(l)
                .is_none_or(|r| self.p.inv[r] > self.p.ret[o])
        {
            // The next observation can never succeed.
            return false;
        }
        let k = self.keys[l];
        let fp = [self.fp[0] ^ k[0], self.fp[1] ^ k[1]];
        let Entry::Vacant(v) = self.cache.entry((fp[0], fp[1], next)) else {
            return false;
        };
        let s = v.key().2.clone();
        v.insert(());
        let before = std::mem::replace(&mut self.state, s);
        self.stack.push(Frame {
            node: x,
            state: before,
            idx,
            forced,
        });
        self.fp = fp;
        self.observers.remove(l);
        self.revivers.remove(l);
        self.lists.lift(x);
        if self.p.is_indeterminate(l) {
            self.taken[self.p.class[l] as usize] += 1;
        } else {
            self.remaining -= 1;
            let depth = self.required - self.remaining;
            if depth > self.best_depth {
                self.best.truncate(self.common);
                self.best
                    .extend(self.stack[self.common..].iter().map(|f| f.node));
                self.common = self.stack.len();
                self.best_depth = depth;
            }
        }
        true
    }

    /// Lists the current configuration's candidates in `cands`, in the
    /// order to try them, unless a read-only one is accepted now: then
    /// returns it (with its state) to commit to.
    ///
    /// Symmetry: equal ops are interchangeable, so only one of each class
    /// is a candidate. Of ok ones, the one that returns first (any order
    /// using another can swap the two); an indeterminate one only when no
    /// equal ok op is a candidate, and then the first left by invoke.
    fn survey(&mut self) -> Option<(u32, M::State)> {
        self.stamp += 1;
        self.cands.clear();
        let p = self.p;
        let mut x = self.lists.next[REG_HEAD as usize];
        while !self.lists.is_ret[x as usize] {
            let l = self.lists.call[x as usize] as usize;
            if p.read_only[l] {
                if let Some(next) = self.model.step(&p.ctx, &self.state, &p.ops[l]) {
                    return Some((x, next));
                }
            } else {
                let c = p.class[l] as usize;
                let (stamp, held) = self.best_of[c];
                if stamp != self.stamp || p.ret[l] < p.ret[self.lists.call[held as usize] as usize]
                {
                    self.best_of[c] = (self.stamp, x);
                }
                self.cands.push(x);
            }
            x = self.lists.next[x as usize];
        }
        let frontier = self.lists.pos[x as usize];
        let (stamp, best_of) = (self.stamp, &self.best_of);
        let calls = &self.lists.call;
        self.cands
            .retain(|&x| best_of[p.class[calls[x as usize] as usize] as usize] == (stamp, x));
        order_candidates(
            self.model,
            p,
            &self.state,
            calls,
            &mut self.cands,
            &mut self.keyed,
        );
        let mut x = self.lists.next[INFO_HEAD as usize];
        while x != INFO_HEAD && self.lists.pos[x as usize] < frontier {
            let l = self.lists.call[x as usize] as usize;
            let c = p.class[l] as usize;
            if self.taken[c] == p.rank[l] && self.best_of[c].0 != self.stamp {
                self.cands.push(x);
            }
            x = self.lists.next[x as usize];
        }
        None
    }

    /// Undoes the last push: (node, idx, forced).
    #[inline]
    fn pop(&mut self) -> Option<(u32, u32, bool)> {
        let frame = self.stack.pop()?;
        if self.stack.len() < self.common {
            self.common = self.stack.len();
        }
        let x = frame.node;
        let l = self.lists.call[x as usize] as usize;
        self.state = frame.state;
        self.fp = [self.fp[0] ^ self.keys[l][0], self.fp[1] ^ self.keys[l][1]];
        self.lists.unlift(x);
        self.revivers.restore(l);
        self.observers.restore(l);
        if self.p.is_indeterminate(l) {
            self.taken[self.p.class[l] as usize] -= 1;
        } else {
            self.remaining += 1;
        }
        Some((x, frame.idx, frame.forced))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A new configuration: done? a read to commit to?
    Fresh,
    /// Trying the candidates from `cur` on.
    Scan,
    /// Every candidate failed: undo the last choice.
    Back,
}

/// Orders the ok candidates: first those the model accepts now and that
/// do not lead to a hopeless state, by return (the op that must happen
/// soonest first), then those leading to a hopeless state; the ones the
/// model refuses now are left out.
fn order_candidates<M: Model>(
    model: &M,
    p: &Prepared<M>,
    state: &M::State,
    calls: &[u32],
    cands: &mut Vec<u32>,
    keyed: &mut Vec<(bool, u32, u32)>,
) {
    keyed.clear();
    for &x in cands.iter() {
        let l = calls[x as usize] as usize;
        if let Some(next) = model.step(&p.ctx, state, &p.ops[l]) {
            keyed.push((model.is_hopeless(&p.ctx, &next), p.ret[l], x));
        }
    }
    keyed.sort_unstable();
    cands.clear();
    cands.extend(keyed.iter().map(|k| k.2));
}

/// Checks one object. `budget` is consulted every few thousand steps.
pub(crate) fn search<M: Model>(
    model: &M,
    p: &Prepared<M>,
    budget: &Budget<'_>,
) -> Outcome<M::State> {
    let n = p.len();
    let required = (0..n).filter(|&l| !p.is_indeterminate(l)).count();
    let mut s = Searcher {
        model,
        p,
        lists: Lists::build(p),
        keys: (0..n).map(zobrist).collect(),
        cache: FxHashMap::default(),
        stack: Vec::new(),
        state: model.init(&p.ctx),
        fp: [0, 0],
        required,
        remaining: required,
        best: Vec::new(),
        best_depth: 0,
        common: 0,
        taken: vec![0; p.classes],
        best_of: vec![(0, 0); p.classes],
        stamp: 0,
        cands: Vec::new(),
        keyed: Vec::new(),
        observers: {
            let mut o: Vec<u32> = (0..n as u32).filter(|&l| p.observer[l as usize]).collect();
            o.sort_unstable_by_key(|&l| p.ret[l as usize]);
            Chain::new(n, o.into_iter())
        },
        revivers: Chain::new(n, (0..n as u32).filter(|&l| p.reviver[l as usize])),
    };
    let ctx = &p.ctx;
    let mut mode = Mode::Fresh;
    let mut idx = 0usize;
    let mut ticks = 0u32;

    loop {
        ticks = ticks.wrapping_add(1);
        if ticks & 0x3FF == 0
            && let Some(stop) = budget.stop()
        {
            return Outcome {
                verdict: Verdict::Stopped(stop),
                configs: s.cache.len() as u64,
            };
        }
        match mode {
            Mode::Fresh => {
                if s.remaining == 0 {
                    return Outcome {
                        verdict: Verdict::Valid,
                        configs: s.cache.len() as u64,
                    };
                }
                // A read the model accepts now goes first, without
                // branching: if any order of the rest works, one starting
                // with this read does.
                match s.survey() {
                    Some((x, next)) => {
                        if !s.push(x, next, 0, true) {
                            // Seen before: this configuration leads nowhere.
                            mode = Mode::Back;
                        }
                    }
                    None => {
                        idx = 0;
                        mode = Mode::Scan;
                    }
                }
            }
            Mode::Scan => {
                let Some(&x) = s.cands.get(idx) else {
                    mode = Mode::Back;
                    continue;
                };
                let l = s.lists.call[x as usize] as usize;
                let info = p.is_indeterminate(l);
                // An indeterminate op that would change nothing is never
                // needed: keeping it for later is as good.
                if let Some(next) = model.step(ctx, &s.state, &p.ops[l])
                    && !(info && next == s.state)
                    && s.push(x, next, idx as u32, false)
                {
                    mode = Mode::Fresh;
                    continue;
                }
                idx += 1;
            }
            Mode::Back => loop {
                let Some((_, i, forced)) = s.pop() else {
                    let dead = dead_end(model, p, &s.lists, &s.keys, &s.cache, &s.best);
                    return Outcome {
                        verdict: Verdict::Invalid(dead),
                        configs: s.cache.len() as u64,
                    };
                };
                if !forced {
                    // Back in a configuration surveyed before: list its
                    // candidates again (no read can be accepted here, or the
                    // search would not have branched) and go on after the
                    // one that failed.
                    let read = s.survey();
                    debug_assert!(read.is_none());
                    idx = i as usize + 1;
                    mode = Mode::Scan;
                    break;
                }
            },
        }
    }
}

fn dead_end<M: Model>(
    model: &M,
    p: &Prepared<M>,
    lists: &Lists,
    keys: &[[u64; 2]],
    cache: &Cache<M::State>,
    best: &[u32],
) -> Dead<M::State> {
    let n = p.len();
    let order: Vec<u32> = best.iter().map(|&node| lists.call[node as usize]).collect();
    let mut fp = [0u64; 2];
    let mut done = vec![false; n];
    for &l in &order {
        fp[0] ^= keys[l as usize][0];
        fp[1] ^= keys[l as usize][1];
        done[l as usize] = true;
    }
    let states: Vec<M::State> = if order.is_empty() {
        vec![model.init(&p.ctx)]
    } else {
        cache
            .keys()
            .filter(|(a, b, _)| [*a, *b] == fp)
            .map(|(_, _, s)| s.clone())
            .collect()
    };
    let blocking = (0..n)
        .filter(|&l| !done[l] && !p.is_indeterminate(l))
        .min_by_key(|&l| p.ret[l])
        .unwrap_or(0);
    let limit = p.ret[blocking];
    let mut candidates: Vec<u32> = (0..n)
        .filter(|&l| !done[l] && p.inv[l] < limit)
        .map(|l| l as u32)
        .collect();
    candidates.sort_by_key(|&l| {
        let l = l as usize;
        (l != blocking, p.is_indeterminate(l), p.inv[l])
    });
    Dead {
        order,
        states,
        blocking: blocking as u32,
        candidates,
    }
}

/// A doubly linked list over local ids in a fixed order, with removal and
/// LIFO restoration (dancing links); the head is the sentinel `len`.
struct Chain {
    next: Vec<u32>,
    prev: Vec<u32>,
    member: Vec<bool>,
}

impl Chain {
    fn new(n: usize, members: impl Iterator<Item = u32>) -> Chain {
        let head = n as u32;
        let mut next = vec![head; n + 1];
        let mut prev = vec![head; n + 1];
        let mut member = vec![false; n + 1];
        let mut last = head;
        for l in members {
            next[last as usize] = l;
            prev[l as usize] = last;
            member[l as usize] = true;
            last = l;
        }
        next[last as usize] = head;
        prev[head as usize] = last;
        Chain { next, prev, member }
    }

    fn head(&self) -> u32 {
        (self.next.len() - 1) as u32
    }

    /// The first member other than `skip`.
    fn first_but(&self, skip: usize) -> Option<usize> {
        let mut x = self.next[self.head() as usize];
        if x as usize == skip {
            x = self.next[x as usize];
        }
        (x != self.head()).then_some(x as usize)
    }

    fn remove(&mut self, l: usize) {
        if self.member[l] {
            let (p, n) = (self.prev[l], self.next[l]);
            self.next[p as usize] = n;
            self.prev[n as usize] = p;
        }
    }

    fn restore(&mut self, l: usize) {
        if self.member[l] {
            let (p, n) = (self.prev[l], self.next[l]);
            self.next[p as usize] = l as u32;
            self.prev[n as usize] = l as u32;
        }
    }
}
