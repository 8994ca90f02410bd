//! The entry points: split a history by key, check the parts in parallel,
//! combine the verdicts.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gauntlet_check::Validity;
use gauntlet_history::Op;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::LinearError;
use crate::history::{Call, Outcome, Paired, pair};
use crate::model::{Keyed, Model, ParseError};
use crate::report::{Counterexample, build_counterexample};
use crate::search::{Budget, NO_RETURN, Prepared, Stop, Verdict, search};

/// How to check.
#[derive(Debug, Clone)]
pub struct Options {
    /// Check each `key` as an independent object (P-compositionality), the
    /// default. `false` checks a keyed history as one object whose state
    /// holds every key (the CLI's `--no-split`); slower, same verdict for
    /// models whose keys are independent.
    pub split: bool,
    /// When to give up. Keys not decided by then make the verdict
    /// `unknown` (never `valid`); they are listed in `undecided_keys`.
    pub deadline: Option<Instant>,
    /// Worker threads; 0 means `std::thread::available_parallelism`.
    pub threads: usize,
    /// Keep checking the other keys after one is found invalid, and report
    /// a counterexample for each (capped in the JSON evidence). By default
    /// the search stops at the first invalid key in history order, which is
    /// also the one reported, so the result is the same on every run.
    pub all_failures: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            split: true,
            deadline: None,
            threads: 0,
            all_failures: false,
        }
    }
}

impl Options {
    /// Default options with a deadline `timeout` from now.
    pub fn with_timeout(timeout: Duration) -> Options {
        Options {
            deadline: Instant::now().checked_add(timeout),
            ..Options::default()
        }
    }
}

/// How many calls of each kind the history had.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Client operations (invokes).
    pub calls: usize,
    pub ok: usize,
    /// Dropped: they did not happen.
    pub fail: usize,
    pub info: usize,
    /// Never completed: treated as `info`.
    pub open: usize,
    /// `info`/open calls dropped before the search because their model
    /// says they cannot matter (reads, writes nobody observes).
    pub dropped: usize,
    /// Nemesis entries, ignored.
    pub nemesis: usize,
}

/// One object (key) of the history and what the search found for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionSummary {
    /// The key (`null` for a history without keys). With `split: false`
    /// there is one partition, and `keys` lists all of them.
    pub keys: Vec<Value>,
    /// Calls searched (ok and indeterminate, after dropping).
    pub calls: usize,
    pub valid: Validity,
    /// Configurations explored.
    pub configs: u64,
    /// `"deadline"` or `"cancelled"` (another key was already invalid)
    /// when the search stopped before deciding.
    pub stopped: Option<String>,
}

/// The outcome of a check: the verdict, its figures and, when invalid, a
/// counterexample. Turn it into the project's result shape with
/// [`Analysis::result`], into text with [`Analysis::explain`], and into
/// timeline data with [`Analysis::timeline`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub valid: Validity,
    pub model: String,
    pub split: bool,
    pub counts: Counts,
    /// Distinct keys (1 for a history without keys).
    pub key_count: usize,
    /// Configurations explored over all keys.
    pub configs: u64,
    /// Invalid keys with their counterexamples, in history order: the
    /// first only, unless [`Options::all_failures`].
    pub failures: Vec<Counterexample>,
    /// Keys the deadline cut short (`null` for a history without keys).
    pub undecided_keys: Vec<Value>,
    /// Per key, in order of first appearance.
    pub partitions: Vec<PartitionSummary>,
    /// Wall time of the check.
    pub seconds: f64,
}

/// A model behind a trait object, for callers that pick one at run time
/// (see [`crate::model_by_name`]). Every [`Model`] is one.
pub trait DynModel: Send + Sync {
    /// The model's name.
    fn model_name(&self) -> &str;
    /// [`check`] with this model.
    fn check_history(&self, history: &[Op], options: &Options) -> Result<Analysis, LinearError>;
}

impl<M: Model> DynModel for M {
    fn model_name(&self) -> &str {
        self.name()
    }
    fn check_history(&self, history: &[Op], options: &Options) -> Result<Analysis, LinearError> {
        check(self, history, options)
    }
}

/// Checks that `history` (in real-time order) is linearizable with respect
/// to `model`.
///
/// Nemesis entries are ignored, `fail`ed calls dropped, and `info` calls
/// (or calls never completed) may take effect at any time after their
/// invoke, or never. A history that breaks the invoke/complete model, or
/// an op the model cannot read, is an error naming the op's `index`.
pub fn check<M: Model>(
    model: &M,
    history: &[Op],
    options: &Options,
) -> Result<Analysis, LinearError> {
    let start = Instant::now();
    let paired = pair(history)?;
    let split = options.split || !paired.has_keys();
    let mut analysis = if split {
        let parts = paired
            .keys
            .iter()
            .zip(&paired.by_key)
            .map(|(k, calls)| Part {
                keys: vec![k.clone().unwrap_or(Value::Null)],
                calls: calls.clone(),
            })
            .collect();
        run(model, history, &paired, parts, options)?
    } else {
        let part = Part {
            keys: paired
                .keys
                .iter()
                .map(|k| k.clone().unwrap_or(Value::Null))
                .collect(),
            calls: (0..paired.calls.len() as u32).collect(),
        };
        run(&Keyed(model), history, &paired, vec![part], options)?
    };
    analysis.split = split && paired.has_keys();
    analysis.key_count = paired.keys.len();
    analysis.seconds = start.elapsed().as_secs_f64();
    Ok(analysis)
}

struct Part {
    keys: Vec<Value>,
    calls: Vec<u32>,
}

struct PartResult {
    summary: PartitionSummary,
    failure: Option<Counterexample>,
    dropped: usize,
}

fn threads_for(options: &Options, parts: usize) -> usize {
    let t = if options.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        options.threads
    };
    t.clamp(1, parts.max(1))
}

/// Runs `f` on every index of `order` over a work queue of `threads`
/// workers; results land at their index.
fn parallel_map<T: Send>(
    len: usize,
    order: &[usize],
    threads: usize,
    f: impl Fn(usize) -> T + Sync,
) -> Vec<T> {
    let mut out: Vec<Option<T>> = (0..len).map(|_| None).collect();
    if threads <= 1 {
        for &i in order {
            out[i] = Some(f(i));
        }
    } else {
        let next = AtomicUsize::new(0);
        let results = std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            let k = next.fetch_add(1, Ordering::Relaxed);
                            let Some(&i) = order.get(k) else { break };
                            mine.push((i, f(i)));
                        }
                        mine
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| match w.join() {
                    Ok(mine) => mine,
                    Err(panic) => std::panic::resume_unwind(panic),
                })
                .collect::<Vec<_>>()
        });
        for (i, t) in results {
            out[i] = Some(t);
        }
    }
    out.into_iter()
        .map(|t| t.expect("every index was run"))
        .collect()
}

fn bad_op(model: &str, call: &Call<'_>, e: ParseError) -> LinearError {
    let at = match (e.in_output, call.completion) {
        (true, Some(c)) => c,
        _ => call.invoke,
    };
    LinearError::BadOp {
        index: at.index,
        model: model.to_owned(),
        message: e.message,
    }
}

fn prepare<M: Model>(
    model: &M,
    history: &[Op],
    paired: &Paired,
    ids: &[u32],
) -> Result<Prepared<M>, LinearError> {
    let calls: Vec<Call<'_>> = ids
        .iter()
        .map(|&g| (g, paired.calls[g as usize]))
        .filter(|(_, rec)| rec.outcome != Outcome::Fail)
        .map(|(g, rec)| rec.call(g as usize, history))
        .collect();
    let mut ctx = M::Ctx::default();
    model.prepare(&mut ctx, &calls);
    let mut ops = Vec::with_capacity(calls.len());
    for c in &calls {
        ops.push(
            model
                .parse(&mut ctx, c)
                .map_err(|e| bad_op(model.name(), c, e))?,
        );
    }
    let keep: Vec<bool> = calls
        .iter()
        .zip(&ops)
        .map(|(c, op)| {
            !(c.is_indeterminate()
                && (model.is_read_only(op) || model.droppable_if_indeterminate(&ctx, op)))
        })
        .collect();
    let mut p = Prepared {
        ctx,
        ops: Vec::with_capacity(calls.len()),
        ids: Vec::with_capacity(calls.len()),
        inv: Vec::with_capacity(calls.len()),
        ret: Vec::with_capacity(calls.len()),
        read_only: Vec::with_capacity(calls.len()),
        observer: Vec::with_capacity(calls.len()),
        reviver: Vec::with_capacity(calls.len()),
        class: Vec::new(),
        rank: Vec::new(),
        classes: 0,
        dropped: 0,
    };
    for ((c, op), keep) in calls.iter().zip(ops).zip(keep) {
        if !keep {
            p.dropped += 1;
            continue;
        }
        let rec = paired.calls[c.id];
        p.read_only.push(model.is_read_only(&op));
        p.observer
            .push(rec.outcome == Outcome::Ok && model.observes(&op));
        p.reviver.push(model.revives(&op));
        p.ops.push(op);
        p.ids.push(c.id as u32);
        p.inv.push(rec.invoke);
        p.ret.push(match rec.outcome {
            Outcome::Ok => rec.completion.unwrap_or(NO_RETURN),
            _ => NO_RETURN,
        });
    }
    classify(&mut p);
    Ok(p)
}

/// Groups equal ops, which the search treats as interchangeable (see
/// `search`).
fn classify<M: Model>(p: &mut Prepared<M>) {
    let mut classes: FxHashMap<&M::Op, (u32, u32)> = FxHashMap::default();
    let mut class = vec![u32::MAX; p.len()];
    let mut rank = vec![u32::MAX; p.len()];
    for l in 0..p.len() {
        let next = classes.len() as u32;
        let entry = classes.entry(&p.ops[l]).or_insert((next, 0));
        class[l] = entry.0;
        if p.is_indeterminate(l) {
            rank[l] = entry.1;
            entry.1 += 1;
        }
    }
    p.classes = classes.len();
    p.class = class;
    p.rank = rank;
}

fn run<M: Model>(
    model: &M,
    history: &[Op],
    paired: &Paired,
    parts: Vec<Part>,
    options: &Options,
) -> Result<Analysis, LinearError> {
    let n = parts.len();
    let threads = threads_for(options, n);
    // Biggest first, so one huge key does not start last.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(parts[i].calls.len()));

    let prepared = parallel_map(n, &order, threads, |i| {
        prepare(model, history, paired, &parts[i].calls)
    });
    let mut slots = Vec::with_capacity(n);
    let mut first_error: Option<LinearError> = None;
    for p in prepared {
        match p {
            Ok(p) => slots.push(Mutex::new(Some(p))),
            Err(e) => {
                // The error at the earliest op, whatever the thread timing.
                if first_error
                    .as_ref()
                    .is_none_or(|f| e.index().unwrap_or(0) < f.index().unwrap_or(0))
                {
                    first_error = Some(e);
                }
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }

    let cancel = AtomicUsize::new(usize::MAX);
    let results = parallel_map(n, &order, threads, |i| {
        let p = slots[i]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .expect("each partition is searched once");
        let budget = Budget {
            deadline: options.deadline,
            cancel: &cancel,
            me: i,
        };
        let (valid, stopped, configs, failure) = match budget.stop() {
            Some(stop) => (Validity::Unknown, Some(stop_name(stop)), 0, None),
            None => {
                let out = search(model, &p, &budget);
                match out.verdict {
                    Verdict::Invalid(dead) => {
                        if !options.all_failures {
                            cancel.fetch_min(i, Ordering::Relaxed);
                        }
                        let keys = &parts[i].keys;
                        let key = (keys.len() == 1).then(|| keys[0].clone());
                        let cx = build_counterexample(model, &p, dead, history, paired, key);
                        (Validity::Invalid, None, out.configs, Some(cx))
                    }
                    Verdict::Valid => (Validity::Valid, None, out.configs, None),
                    Verdict::Stopped(stop) => {
                        (Validity::Unknown, Some(stop_name(stop)), out.configs, None)
                    }
                }
            }
        };
        PartResult {
            summary: PartitionSummary {
                keys: parts[i].keys.clone(),
                calls: p.len(),
                valid,
                configs,
                stopped,
            },
            failure,
            dropped: p.dropped,
        }
    });

    let mut counts = Counts {
        calls: paired.calls.len(),
        nemesis: paired.nemesis,
        ..Counts::default()
    };
    for c in &paired.calls {
        match c.outcome {
            Outcome::Ok => counts.ok += 1,
            Outcome::Fail => counts.fail += 1,
            Outcome::Info => counts.info += 1,
            Outcome::Open => counts.open += 1,
        }
    }
    let first_invalid = cancel.load(Ordering::Relaxed);
    let mut analysis = Analysis {
        valid: Validity::Valid,
        model: model.name().to_owned(),
        split: true,
        counts,
        key_count: 0,
        configs: 0,
        failures: Vec::new(),
        undecided_keys: Vec::new(),
        partitions: Vec::with_capacity(n),
        seconds: 0.0,
    };
    for (i, r) in results.into_iter().enumerate() {
        analysis.counts.dropped += r.dropped;
        analysis.configs += r.summary.configs;
        match r.summary.stopped.as_deref() {
            Some("deadline") => {
                analysis.valid = Validity::worst(analysis.valid, Validity::Unknown);
                analysis
                    .undecided_keys
                    .extend(r.summary.keys.iter().cloned());
            }
            Some(_) => {}
            None => analysis.valid = Validity::worst(analysis.valid, r.summary.valid),
        }
        if let Some(cx) = r.failure
            && (options.all_failures || i == first_invalid)
        {
            analysis.failures.push(cx);
        }
        analysis.partitions.push(r.summary);
    }
    if analysis.valid == Validity::Valid && analysis.counts.ok == 0 {
        // Nothing completed, so nothing was checked.
        analysis.valid = Validity::Unknown;
    }
    Ok(analysis)
}

fn stop_name(stop: Stop) -> String {
    match stop {
        Stop::Deadline => "deadline",
        Stop::Cancelled => "cancelled",
    }
    .to_owned()
}
