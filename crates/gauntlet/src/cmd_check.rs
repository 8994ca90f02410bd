//! `gauntlet check`: is a recorded history linearizable?

use std::path::Path;

use anyhow::{Context, Result};
use gauntlet_linear::{Analysis, Options, Timeline};
use gauntlet_report::{LinearTimeline, TimelineOp, render_linear_timeline};

use crate::cli::CheckArgs;
use crate::exit::{self, Failure};
use crate::out::out;

/// The HTML draws at most this many operations: a counterexample's key is
/// small, but a valid 10^6-op history would make a page no browser opens.
const HTML_MAX_OPS: usize = 5_000;

pub fn run(args: CheckArgs) -> Result<u8> {
    if let Some(workload) = crate::cmd_check_txn::workload(&args.model) {
        return crate::cmd_check_txn::run(args, workload);
    }
    if args.model == "kafka" {
        return crate::cmd_check_txn::run_kafka(args);
    }
    let model = gauntlet_linear::model_by_name(&args.model).ok_or_else(|| {
        Failure::bad_args(format!(
            "unknown model {:?}; expected one of: {}, list-append, rw-register, kafka",
            args.model,
            gauntlet_linear::MODEL_NAMES.join(", ")
        ))
    })?;
    if args.consistency_models.is_some() {
        return Err(Failure::bad_args(format!(
            "--consistency-models is for the transaction models (list-append, rw-register), \
             not {:?}",
            args.model
        )));
    }
    let timeout = args.timeout.map(|t| t.0);
    let mut history = gauntlet_history::read_history(&args.history)
        .map_err(|e| Failure::bad_args(e.to_string()))?;
    if args.independent {
        history.split_independent_tuples();
    }
    let mut options = timeout.map_or_else(Options::default, Options::with_timeout);
    options.split = !args.no_split;
    if let Some(threads) = args.threads {
        options.threads = threads;
    }
    let analysis = model
        .check_history(&history.ops, &options)
        .map_err(|e| Failure::bad_args(locate(&e, e.index(), &history)))?;

    if let Some(path) = &args.html {
        let timeline = analysis
            .timeline(&history.ops)
            .map_err(|e| Failure::bad_args(locate(&e, e.index(), &history)))?;
        let page = render_linear_timeline(&to_page(&analysis, &timeline, &args.history));
        std::fs::write(path, page).with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json.on {
        out!("{}", serde_json::to_string_pretty(&analysis.result())?);
    } else {
        print_summary(&analysis, &args.history, args.html.as_deref());
    }
    Ok(exit::for_validity(analysis.valid))
}

/// An error about an op (its `index` in the history, if it names one),
/// with the file and line the op came from.
pub(crate) fn locate(
    e: &impl std::fmt::Display,
    index: Option<u64>,
    history: &gauntlet_history::History,
) -> String {
    let line = index
        .and_then(|index| history.ops.iter().position(|op| op.index == index))
        .and_then(|pos| history.lines.get(pos).copied());
    at(&history.source, line, e)
}

/// `file:line: error`, or `file: error` without a line.
pub(crate) fn at(path: &Path, line: Option<usize>, e: &impl std::fmt::Display) -> String {
    match line {
        Some(line) => format!("{}:{line}: {e}", path.display()),
        None => format!("{}: {e}", path.display()),
    }
}

fn print_summary(a: &Analysis, path: &Path, html: Option<&Path>) {
    let c = &a.counts;
    out!(
        "{}: {} calls ({} ok, {} info, {} open, {} fail), {} key{}, model {}{}",
        path.display(),
        c.calls,
        c.ok,
        c.info,
        c.open,
        c.fail,
        a.key_count,
        if a.key_count == 1 { "" } else { "s" },
        a.model,
        if a.split || a.key_count < 2 {
            ""
        } else {
            ", checked as one object"
        }
    );
    out!(
        "checked in {:.3} s, {} configurations explored",
        a.seconds,
        a.configs
    );
    if !a.failures.is_empty() {
        out!();
        out!("{}", a.explain());
    }
    if !a.undecided_keys.is_empty() {
        out!(
            "undecided (the time ran out): {} key{}",
            a.undecided_keys.len(),
            if a.undecided_keys.len() == 1 { "" } else { "s" }
        );
    }
    if let Some(html) = html {
        out!("timeline: {}", html.display());
    }
    out!(
        "{}",
        match a.valid {
            gauntlet_check::Validity::Valid => "valid: the history is linearizable",
            gauntlet_check::Validity::Invalid => "INVALID: the history is not linearizable",
            gauntlet_check::Validity::Unknown if nothing_checked(a) =>
                "unknown: nothing to check (no operation completed ok)",
            gauntlet_check::Validity::Unknown => "unknown: the check could not decide in time",
        }
    );
}

/// The verdict is `unknown` because no operation completed ok (the JSON
/// says so in its evidence), not because the time ran out.
fn nothing_checked(a: &Analysis) -> bool {
    a.valid == gauntlet_check::Validity::Unknown && a.undecided_keys.is_empty()
}

/// The page for the first failing key, or for the whole (capped) history.
fn to_page(a: &Analysis, t: &Timeline, path: &Path) -> LinearTimeline {
    let failure = t.failures.first();
    let on_key = |op: &&gauntlet_linear::TimelineOp| failure.is_none_or(|f| op.key == f.key);
    let ops: Vec<TimelineOp> = t
        .ops
        .iter()
        .filter(on_key)
        .filter(|op| op.kind != "fail")
        .take(HTML_MAX_OPS)
        .map(|op| {
            // Histories without times (like Jepsen's early etcd logs) are
            // drawn on their line order instead.
            let (start, end) = match op.invoke_time {
                Some(t0) => (t0, op.return_time),
                None => (op.invoke_index, op.return_index),
            };
            let arg = if op.value.is_null() {
                String::new()
            } else {
                format!(" {}", compact(&op.value))
            };
            let label = match &op.result {
                Some(r) if !r.is_null() || op.f.contains("read") || op.f == "get" => {
                    format!("{}{arg} → {}", op.f, compact(r))
                }
                _ => format!("{}{arg}", op.f),
            };
            TimelineOp {
                id: op.id,
                process: op.process.to_string(),
                start,
                end,
                outcome: op.kind.clone(),
                label,
            }
        })
        .collect();
    let key = failure
        .and_then(|f| f.key.as_ref())
        .map(|k| format!(", key {k}"))
        .unwrap_or_default();
    LinearTimeline {
        title: format!(
            "{}{key}: {} (model {})",
            path.display(),
            verdict_word(a),
            a.model
        ),
        verdict: match failure {
            Some(_) => format!(
                "Not linearizable. The {} operations in the longest linearizable prefix are numbered in order; \
                 the red ones could not be linearized next.",
                failure.map_or(0, |f| f.linearization.len())
            ),
            None if t.ops.len() > HTML_MAX_OPS => {
                format!(
                    "{}; the first {HTML_MAX_OPS} of {} operations are drawn.",
                    verdict_word(a),
                    t.ops.len()
                )
            }
            None => format!("{}.", verdict_word(a)),
        },
        ops,
        linearized: failure.map(|f| f.linearization.clone()).unwrap_or_default(),
        stuck: failure.map(|f| f.stuck.clone()).unwrap_or_default(),
        states: failure.map(|f| f.states.clone()).unwrap_or_default(),
        explanation: a.explain(),
    }
}

fn verdict_word(a: &Analysis) -> &'static str {
    match a.valid {
        gauntlet_check::Validity::Valid => "linearizable",
        gauntlet_check::Validity::Invalid => "not linearizable",
        gauntlet_check::Validity::Unknown if nothing_checked(a) => "nothing to check",
        gauntlet_check::Validity::Unknown => "undecided",
    }
}

fn compact(v: &serde_json::Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 {
        s.chars().take(39).collect::<String>() + "…"
    } else {
        s
    }
}
