//! The [`Model`] trait: a sequential specification the checker searches
//! against.

use std::fmt::Debug;
use std::hash::Hash;

use rustc_hash::FxHashMap;
use serde_json::Value;

use crate::history::{Call, KeyRef};
use crate::intern::short;

/// A model could not read an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
    /// True when the completion's value is at fault (the error then names
    /// the completion's index rather than the invoke's).
    pub in_output: bool,
}

impl ParseError {
    /// The invoke's `f` or value is wrong.
    pub fn input(message: impl Into<String>) -> ParseError {
        ParseError {
            message: message.into(),
            in_output: false,
        }
    }

    /// The completion's value is wrong.
    pub fn output(message: impl Into<String>) -> ParseError {
        ParseError {
            message: message.into(),
            in_output: true,
        }
    }

    /// The usual error for an `f` the model does not know.
    pub fn unknown_f(call: &Call<'_>, known: &[&str]) -> ParseError {
        ParseError::input(format!(
            "unknown f {:?}; this model knows {}",
            call.f(),
            known.join(", ")
        ))
    }
}

/// A sequential specification of one object, for the linearizability
/// checker.
///
/// The checker reads each operation once through [`Model::parse`] into the
/// model's own compact [`Model::Op`] (intern values into small integers
/// there, with [`crate::Interner`] in the context), then searches with
/// [`Model::step`], which should not allocate for common models. States
/// are compared and hashed to prune the search, so make [`Model::State`]
/// small and cheap to clone.
///
/// A model describes one object. When a history has keys, the checker runs
/// one instance per key (P-compositionality), each with its own
/// [`Model::Ctx`]; with `split: false` it runs them together on a state
/// holding every key's state.
///
/// A model with a nondeterministic step can be written with a set of
/// states as its `State` (the step maps every member and fails when the
/// result is empty), which is how Porcupine handles them too.
///
/// ```
/// use gauntlet_linear::{Call, Model, ParseError, Options, check};
/// use gauntlet_history::{Op, OpType};
/// use serde_json::json;
///
/// /// A counter that only grows by one: `inc` / `read`.
/// struct Inc;
/// #[derive(Debug, Clone, PartialEq, Eq, Hash)]
/// enum IncOp { Inc, Read(Option<i64>) }
///
/// impl Model for Inc {
///     type Op = IncOp;
///     type State = i64;
///     type Ctx = ();
///     fn name(&self) -> &str { "inc" }
///     fn parse(&self, _: &mut (), call: &Call<'_>) -> Result<IncOp, ParseError> {
///         match call.f() {
///             "inc" => Ok(IncOp::Inc),
///             "read" => match call.output() {
///                 None => Ok(IncOp::Read(None)),
///                 Some(v) => v.as_i64().map(|n| IncOp::Read(Some(n)))
///                     .ok_or_else(|| ParseError::output("read wants an integer")),
///             },
///             _ => Err(ParseError::unknown_f(call, &["inc", "read"])),
///         }
///     }
///     fn init(&self, _: &()) -> i64 { 0 }
///     fn step(&self, _: &(), s: &i64, op: &IncOp) -> Option<i64> {
///         match op {
///             IncOp::Inc => Some(s + 1),
///             IncOp::Read(Some(v)) => (v == s).then_some(*s),
///             IncOp::Read(None) => Some(*s),
///         }
///     }
///     fn is_read_only(&self, op: &IncOp) -> bool {
///         matches!(op, IncOp::Read(_))
///     }
/// }
///
/// let inc = Op::invoke(0, "inc", json!(null));
/// let read = Op::invoke(1, "read", json!(null));
/// let h = vec![
///     inc.clone(), read.clone(),
///     read.complete(OpType::Ok, json!(1)), inc.complete(OpType::Ok, json!(null)),
/// ];
/// let analysis = check(&Inc, &h, &Options::default()).unwrap();
/// assert!(analysis.valid.is_valid());
/// ```
pub trait Model: Send + Sync {
    /// One operation with its result, parsed once. Equal ops must behave
    /// alike (the search treats equal indeterminate ops as
    /// interchangeable).
    type Op: Eq + Hash + Send + Sync;
    /// The object's state.
    type State: Clone + Eq + Hash + Send + Sync + Debug;
    /// What parsing learns about one object's history (interned values,
    /// observed results), shared read-only by every step.
    type Ctx: Default + Send + Sync;

    /// The name used in results (`"cas-register"`).
    fn name(&self) -> &str;

    /// Sees every call of one object before any is parsed (to collect, say,
    /// every value a read returned). Failed calls are not included.
    fn prepare(&self, _ctx: &mut Self::Ctx, _calls: &[Call<'_>]) {}

    /// Reads one call: `call.output()` is `None` when the outcome is
    /// unknown (`info` or never completed).
    fn parse(&self, ctx: &mut Self::Ctx, call: &Call<'_>) -> Result<Self::Op, ParseError>;

    /// The initial state.
    fn init(&self, ctx: &Self::Ctx) -> Self::State;

    /// Applies `op` in `state`: the next state, or `None` when the op (with
    /// its recorded result) cannot happen in that state. An op of unknown
    /// outcome must step to the state it leaves if it happened.
    fn step(&self, ctx: &Self::Ctx, state: &Self::State, op: &Self::Op) -> Option<Self::State>;

    /// True when `op` never changes the state, whatever the state (a read):
    /// `step` returns the state it was given or `None`. The search then
    /// linearizes such an op as soon as the model accepts it, without
    /// trying alternatives (moving a read that is legal now to the front
    /// of any legal continuation keeps it legal), and drops it when its
    /// outcome is unknown. `false` is always correct, only slower.
    fn is_read_only(&self, _op: &Self::Op) -> bool {
        false
    }

    /// True when `op`, if its outcome is unknown, never needs to be
    /// linearized: any legal order that includes it stays legal without it
    /// (writes of a value no read observes). Such ops are dropped before
    /// the search, as are read-only ones. Called after every call was
    /// parsed. `false` is always correct, only slower.
    fn droppable_if_indeterminate(&self, _ctx: &Self::Ctx, _op: &Self::Op) -> bool {
        false
    }

    /// True for ops whose success [`Model::is_hopeless`] speaks of:
    /// observations, such as reads. Defaults to read-only ops.
    fn observes(&self, op: &Self::Op) -> bool {
        self.is_read_only(op)
    }

    /// True when no op that [`Model::observes`] can succeed from `state`,
    /// nor from any state it leads to, until an op that
    /// [`Model::revives`] happens (kv: the string is no longer a prefix of
    /// anything a get returned; only a put can change that). The search
    /// abandons such a state when some `ok` observer must still be
    /// linearized and no reviver can come before it. `false` is always
    /// correct, only slower.
    fn is_hopeless(&self, _ctx: &Self::Ctx, _state: &Self::State) -> bool {
        false
    }

    /// Ops that can lead out of a hopeless state (kv: a put of a string
    /// some get could see).
    fn revives(&self, _op: &Self::Op) -> bool {
        false
    }

    /// A short human description of a call, such as `cas 1→2` or
    /// `read → 3`.
    fn describe_op(&self, call: &Call<'_>) -> String {
        let mut s = call.f().to_owned();
        if !call.input().is_null() {
            s.push(' ');
            s.push_str(&short(call.input(), 60));
        }
        match call.output() {
            Some(out) if out != call.input() => {
                s.push_str(" → ");
                s.push_str(&short(out, 60));
            }
            Some(_) => {}
            None => s.push_str(" (outcome unknown)"),
        }
        s
    }

    /// A short human description of a state.
    fn describe_state(&self, _ctx: &Self::Ctx, state: &Self::State) -> String {
        format!("{state:?}")
    }
}

/// Runs a single-object model over every key of a history at once: the
/// state holds one inner state per key. This is the `split: false` mode.
pub(crate) struct Keyed<'m, M>(pub &'m M);

pub(crate) struct KeyedCtx<C> {
    ctxs: Vec<C>,
    keys: Vec<Option<Value>>,
    slots: FxHashMap<KeyRef<'static>, u32>,
}

impl<C> Default for KeyedCtx<C> {
    fn default() -> Self {
        KeyedCtx {
            ctxs: Vec::new(),
            keys: Vec::new(),
            slots: FxHashMap::default(),
        }
    }
}

impl<C: Default> KeyedCtx<C> {
    fn slot(&mut self, key: Option<&Value>) -> u32 {
        let owned: KeyRef<'static> = match KeyRef::of(key) {
            KeyRef::None => KeyRef::None,
            KeyRef::Int(i) => KeyRef::Int(i),
            KeyRef::Str(s) => KeyRef::Json(format!("s{s}")),
            KeyRef::Json(j) => KeyRef::Json(format!("j{j}")),
        };
        let next = self.ctxs.len() as u32;
        *self.slots.entry(owned).or_insert_with(|| {
            self.ctxs.push(C::default());
            self.keys.push(key.cloned());
            next
        })
    }
}

impl<M: Model> Model for Keyed<'_, M> {
    type Op = (u32, M::Op);
    type State = Box<[M::State]>;
    type Ctx = KeyedCtx<M::Ctx>;

    fn name(&self) -> &str {
        self.0.name()
    }

    fn prepare(&self, ctx: &mut Self::Ctx, calls: &[Call<'_>]) {
        let mut groups: Vec<Vec<Call<'_>>> = Vec::new();
        for c in calls {
            let slot = ctx.slot(c.invoke.key.as_ref()) as usize;
            if groups.len() <= slot {
                groups.resize_with(slot + 1, Vec::new);
            }
            groups[slot].push(*c);
        }
        for (slot, group) in groups.iter().enumerate() {
            self.0.prepare(&mut ctx.ctxs[slot], group);
        }
    }

    fn parse(&self, ctx: &mut Self::Ctx, call: &Call<'_>) -> Result<Self::Op, ParseError> {
        let slot = ctx.slot(call.invoke.key.as_ref());
        Ok((slot, self.0.parse(&mut ctx.ctxs[slot as usize], call)?))
    }

    fn init(&self, ctx: &Self::Ctx) -> Self::State {
        ctx.ctxs.iter().map(|c| self.0.init(c)).collect()
    }

    fn step(&self, ctx: &Self::Ctx, state: &Self::State, op: &Self::Op) -> Option<Self::State> {
        let slot = op.0 as usize;
        let next = self.0.step(&ctx.ctxs[slot], &state[slot], &op.1)?;
        let mut all = state.clone();
        all[slot] = next;
        Some(all)
    }

    fn is_read_only(&self, op: &Self::Op) -> bool {
        self.0.is_read_only(&op.1)
    }

    fn observes(&self, op: &Self::Op) -> bool {
        self.0.observes(&op.1)
    }

    fn revives(&self, op: &Self::Op) -> bool {
        self.0.revives(&op.1)
    }

    fn droppable_if_indeterminate(&self, ctx: &Self::Ctx, op: &Self::Op) -> bool {
        self.0
            .droppable_if_indeterminate(&ctx.ctxs[op.0 as usize], &op.1)
    }

    fn describe_op(&self, call: &Call<'_>) -> String {
        let inner = self.0.describe_op(call);
        match &call.invoke.key {
            Some(k) => format!("[{}] {inner}", short(k, 30)),
            None => inner,
        }
    }

    fn describe_state(&self, ctx: &Self::Ctx, state: &Self::State) -> String {
        let parts: Vec<String> = state
            .iter()
            .zip(&ctx.ctxs)
            .zip(&ctx.keys)
            .map(|((s, c), k)| {
                let key = k.as_ref().map_or("-".to_owned(), |k| short(k, 30));
                format!("{key}: {}", self.0.describe_state(c, s))
            })
            .collect();
        format!("{{{}}}", parts.join(", "))
    }
}
