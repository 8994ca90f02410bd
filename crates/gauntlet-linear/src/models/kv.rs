//! `kv`: a string register per key with get, put and append.

use crate::history::Call;
use crate::intern::{short, shorten};
use crate::model::{Model, ParseError};

/// A key-value store of strings (Porcupine's kv model). Each `key` is an
/// independent object, so the checker splits the history by key; this
/// model describes one key.
///
/// | f | invoke value | ok value |
/// |---|---|---|
/// | `get` | ignored | the string read; a missing key reads `""` (`null` is taken as `""`) |
/// | `put` | the string stored | ignored |
/// | `append` | the string appended | ignored |
///
/// The state is exact but compact: the string a key holds is kept as a
/// position in the sorted list of strings that `get`s returned (the
/// string is a prefix of that entry), or as "no get can ever return it"
/// once it stops being a prefix of any of them, so steps never build
/// strings. Dropped when their outcome is unknown: gets, and puts of a
/// string that no get could see even after appends.
#[derive(Debug, Clone, Copy, Default)]
pub struct Kv;

/// A key's value: `G[lo][..len]` where `G` is the sorted strings gets
/// returned and `lo` the first of them with that prefix; or [`KvState::DEAD`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KvState {
    lo: u32,
    len: u32,
}

impl KvState {
    /// A string that is not a prefix of anything a get returned: no get can
    /// succeed until a put replaces it. All such strings behave alike, so
    /// they are one state.
    pub const DEAD: KvState = KvState {
        lo: u32::MAX,
        len: 0,
    };
}

/// A parsed kv op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KvOp {
    /// `None`: outcome unknown.
    Get(Option<KvState>),
    Put(KvState),
    /// Index into the appended strings.
    Append(u32),
}

/// The strings gets returned, sorted, with what the search needs to walk
/// them.
#[derive(Debug, Default)]
pub struct KvCtx {
    /// Distinct strings gets returned, plus `""`, sorted.
    reads: Vec<Box<str>>,
    /// `lcp[i]`: common prefix length of `reads[i-1]` and `reads[i]`
    /// (`lcp[0] = 0`), as a sparse table for range minimums.
    lcp: Vec<Vec<u32>>,
    appends: Vec<Box<str>>,
}

fn get_output(v: &serde_json::Value) -> Option<&str> {
    match v {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Null => Some(""),
        _ => None,
    }
}

impl KvCtx {
    fn build(&mut self, mut reads: Vec<Box<str>>) {
        reads.push("".into());
        reads.sort_unstable();
        reads.dedup();
        let n = reads.len();
        let mut base = vec![0u32; n];
        for i in 1..n {
            base[i] = reads[i - 1]
                .bytes()
                .zip(reads[i].bytes())
                .take_while(|(a, b)| a == b)
                .count() as u32;
        }
        let mut table = vec![base];
        let mut width = 1;
        while width * 2 <= n {
            let prev = &table[table.len() - 1];
            let next: Vec<u32> = (0..=n - width * 2)
                .map(|i| prev[i].min(prev[i + width]))
                .collect();
            table.push(next);
            width *= 2;
        }
        self.reads = reads;
        self.lcp = table;
    }

    /// min(lcp[a..=b]), a <= b.
    fn lcp_min(&self, a: usize, b: usize) -> u32 {
        let k = usize::BITS - 1 - (b - a + 1).leading_zeros();
        let row = &self.lcp[k as usize];
        row[a].min(row[b + 1 - (1 << k)])
    }

    /// The state holding exactly `s`.
    fn lookup(&self, s: &str) -> KvState {
        let i = self.reads.partition_point(|g| g.as_ref() < s);
        if i < self.reads.len() && self.reads[i].starts_with(s) {
            KvState {
                lo: i as u32,
                len: s.len() as u32,
            }
        } else {
            KvState::DEAD
        }
    }

    fn append(&self, st: KvState, s: &str) -> KvState {
        if st == KvState::DEAD {
            return st;
        }
        let (lo, d) = (st.lo as usize, st.len as usize);
        let first = &self.reads[lo];
        if first.as_bytes()[d..].starts_with(s.as_bytes()) {
            return KvState {
                lo: st.lo,
                len: (d + s.len()) as u32,
            };
        }
        // Strings sharing the prefix first[..d] are reads[lo..end): find end.
        let n = self.reads.len();
        let (mut a, mut b) = (lo + 1, n);
        while a < b {
            let mid = (a + b) / 2;
            if self.lcp_min(lo + 1, mid) as usize >= d {
                a = mid + 1;
            } else {
                b = mid;
            }
        }
        let end = a;
        // Within them, sorted by what follows the prefix: the first >= s.
        let range = &self.reads[lo + 1..end];
        let i = lo + 1 + range.partition_point(|g| &g.as_bytes()[d..] < s.as_bytes());
        if i < end && self.reads[i].as_bytes()[d..].starts_with(s.as_bytes()) {
            KvState {
                lo: i as u32,
                len: (d + s.len()) as u32,
            }
        } else {
            KvState::DEAD
        }
    }

    fn text(&self, st: KvState) -> Option<&str> {
        (st != KvState::DEAD).then(|| &self.reads[st.lo as usize][..st.len as usize])
    }
}

fn string_input<'a>(call: &Call<'a>) -> Result<&'a str, ParseError> {
    call.input().as_str().ok_or_else(|| {
        ParseError::input(format!(
            "{} wants a string value, not {}",
            call.f(),
            short(call.input(), 60)
        ))
    })
}

impl Model for Kv {
    type Op = KvOp;
    type State = KvState;
    type Ctx = KvCtx;

    fn name(&self) -> &str {
        "kv"
    }

    fn prepare(&self, ctx: &mut KvCtx, calls: &[Call<'_>]) {
        let reads = calls
            .iter()
            .filter(|c| c.f() == "get")
            .filter_map(|c| c.output().and_then(get_output))
            .map(Into::into)
            .collect();
        ctx.build(reads);
    }

    fn parse(&self, ctx: &mut KvCtx, call: &Call<'_>) -> Result<KvOp, ParseError> {
        match call.f() {
            "get" => match call.output() {
                None => Ok(KvOp::Get(None)),
                Some(v) => match get_output(v) {
                    Some(s) => Ok(KvOp::Get(Some(ctx.lookup(s)))),
                    None => Err(ParseError::output(format!(
                        "get returns a string, not {}",
                        short(v, 60)
                    ))),
                },
            },
            "put" => Ok(KvOp::Put(ctx.lookup(string_input(call)?))),
            "append" => {
                let s = string_input(call)?;
                ctx.appends.push(s.into());
                Ok(KvOp::Append(ctx.appends.len() as u32 - 1))
            }
            _ => Err(ParseError::unknown_f(call, &["get", "put", "append"])),
        }
    }

    fn init(&self, ctx: &KvCtx) -> KvState {
        ctx.lookup("")
    }

    #[inline]
    fn step(&self, ctx: &KvCtx, state: &KvState, op: &KvOp) -> Option<KvState> {
        match *op {
            KvOp::Get(None) => Some(*state),
            KvOp::Get(Some(want)) => (want == *state && want != KvState::DEAD).then_some(want),
            KvOp::Put(s) => Some(s),
            KvOp::Append(i) => Some(ctx.append(*state, &ctx.appends[i as usize])),
        }
    }

    fn is_read_only(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::Get(_))
    }

    fn droppable_if_indeterminate(&self, _: &KvCtx, op: &KvOp) -> bool {
        matches!(op, KvOp::Put(s) if *s == KvState::DEAD)
    }

    fn is_hopeless(&self, _: &KvCtx, state: &KvState) -> bool {
        *state == KvState::DEAD
    }

    fn revives(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::Put(s) if *s != KvState::DEAD)
    }

    fn describe_op(&self, call: &Call<'_>) -> String {
        let key = call
            .invoke
            .key
            .as_ref()
            .map(|k| format!("{} ", short(k, 30)))
            .unwrap_or_default();
        let s = match call.f() {
            "get" => match call.output() {
                Some(v) => format!("get {key}→ {}", short(v, 60)),
                None => format!("get {key}(outcome unknown)"),
            },
            f => format!("{f} {key}{}", short(call.input(), 60)),
        };
        if call.f() != "get" && call.output().is_none() {
            format!("{s} (outcome unknown)")
        } else {
            s
        }
    }

    fn describe_state(&self, ctx: &KvCtx, state: &KvState) -> String {
        match ctx.text(*state) {
            Some(t) => shorten(&serde_json::Value::from(t).to_string(), 80),
            None => "(a string no get returned, nor any prefix of one)".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(reads: &[&str]) -> KvCtx {
        let mut c = KvCtx::default();
        c.build(reads.iter().map(|s| (*s).into()).collect());
        c
    }

    /// The compact state agrees with real strings on every append chain.
    #[test]
    fn appends_match_string_concatenation() {
        let reads = ["ab", "abc", "abd", "abdx", "b", "ba", "x 1 y", "x 1 yx 2 y"];
        let c = ctx(&reads);
        let pieces = [
            "a", "b", "c", "d", "x", "", "ab", "bd", "x 1 y", "x 2 y", "ba",
        ];
        // Every string of up to 3 pieces.
        let mut frontier = vec![(String::new(), c.lookup(""))];
        for _ in 0..3 {
            let mut next = Vec::new();
            for (s, st) in &frontier {
                for p in pieces {
                    let s2 = format!("{s}{p}");
                    let st2 = c.append(*st, p);
                    assert_eq!(st2, c.lookup(&s2), "{s:?} + {p:?}");
                    let is_prefix = reads.iter().any(|r| r.starts_with(&s2)) || s2.is_empty();
                    assert_eq!(st2 != KvState::DEAD, is_prefix, "{s2:?}");
                    if let Some(t) = c.text(st2) {
                        assert_eq!(t, s2);
                    }
                    next.push((s2, st2));
                }
            }
            frontier = next;
        }
    }
}
