//! `gauntlet check --model list-append|rw-register`: is a recorded history
//! of transactions consistent with the models asked about? (gauntlet-txn)

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use gauntlet_check::Validity;
use gauntlet_txn::{Analysis, Options, TxnError, Workload};

use crate::cli::CheckArgs;
use crate::cmd_check::at;
use crate::exit::{self, Failure};
use crate::out::out;

/// How many anomalies the text summary explains; the rest are counted
/// (and all kept ones are in `--json` and `--html`).
const EXPLAINED: usize = 3;

/// The transaction workload `--model` names, if it names one.
pub fn workload(model: &str) -> Option<Workload> {
    match model {
        "list-append" => Some(Workload::ListAppend),
        "rw-register" => Some(Workload::RwRegister),
        _ => None,
    }
}

/// `--model kafka`: Jepsen's kafka checker (gauntlet-txn's `kafka`), the
/// same verdict `gauntlet test -w kafka` files. Its cycle search is fixed
/// at strict-serializable, so `--consistency-models` and `--html` are
/// refused rather than ignored.
pub fn run_kafka(args: CheckArgs) -> Result<u8> {
    if args.consistency_models.is_some() || args.html.is_some() {
        return Err(Failure::bad_args(
            "--model kafka takes neither --consistency-models nor --html",
        ));
    }
    let history = gauntlet_history::read_history(&args.history)
        .map_err(|e| Failure::bad_args(e.to_string()))?;
    let result = gauntlet_txn::kafka::check(&history.ops);
    if args.json.on {
        out!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        let figure = |k: &str| result.figure(k).cloned().unwrap_or_default();
        out!(
            "{}: {} sends ({} ok), {} polls ({} ok), {} keys, kafka",
            args.history.display(),
            figure("send-count"),
            figure("send-ok-count"),
            figure("poll-count"),
            figure("poll-ok-count"),
            figure("key-count"),
        );
        for t in figure("error-types").as_array().into_iter().flatten() {
            let t = t.as_str().unwrap_or_default();
            let count = result
                .figure(t)
                .and_then(|e| e["count"].as_u64())
                .unwrap_or(0);
            out!("  {t}: {count}");
        }
        for e in result.evidence.iter().take(EXPLAINED * 3) {
            out!("  - {}", e["problem"].as_str().unwrap_or_default());
        }
        out!("{}", result.valid);
    }
    Ok(exit::for_validity(result.valid))
}

pub fn run(args: CheckArgs, workload: Workload) -> Result<u8> {
    let mut options = Options::default();
    if let Some(models) = &args.consistency_models {
        options.models = models.0.clone();
    }
    if let Some(timeout) = args.timeout {
        options.timeout = Some(timeout.0);
    }
    // Models first: a typo is refused before a long read.
    for m in &options.models {
        gauntlet_txn::parse_model(m).map_err(|e| Failure::bad_args(e.to_string()))?;
    }
    let transactions = read(&args.history, workload)?;
    let analysis = gauntlet_txn::check_transactions(transactions.parsed, &options)
        .map_err(|e| Failure::bad_args(locate(&e, &args.history, &transactions.lines)))?;
    if let Some(dir) = &args.html {
        write_html(dir, &analysis, &args.history)?;
    }
    if args.json.on {
        out!("{}", serde_json::to_string_pretty(&analysis.result())?);
    } else {
        print_summary(&analysis, &args.history, args.html.as_deref());
    }
    Ok(exit::for_validity(analysis.valid))
}

/// A history read into transactions, and the line of each txn op (by
/// index) for errors found later.
pub struct ReadTxns {
    pub parsed: gauntlet_txn::Transactions,
    /// (op index, line), in file order.
    pub lines: Vec<(u64, u32)>,
}

/// Streams the history file into the transaction checker's compact form:
/// one op at a time, none kept, so a history of millions of transactions
/// is never held as JSON values. Same reader and errors as every other
/// command.
pub fn read(path: &Path, workload: Workload) -> Result<ReadTxns> {
    let mut builder = gauntlet_txn::TxnBuilder::new(workload);
    let mut lines: Vec<(u64, u32)> = Vec::new();
    let mut failed: Option<(TxnError, usize)> = None;
    gauntlet_history::for_each_op(path, |op, line| {
        if op.f == "txn" && op.is_client() {
            lines.push((op.index, u32::try_from(line).unwrap_or(u32::MAX)));
        }
        match builder.push(&op) {
            Ok(()) => true,
            Err(e) => {
                failed = Some((e, line));
                false
            }
        }
    })
    .map_err(|e| Failure::bad_args(e.to_string()))?;
    if let Some((e, line)) = failed {
        return Err(Failure::bad_args(at(path, Some(line), &e)));
    }
    let parsed = builder
        .finish()
        .map_err(|e| Failure::bad_args(locate(&e, path, &lines)))?;
    Ok(ReadTxns { parsed, lines })
}

/// An error about an op, with the file and line the op came from.
fn locate(e: &TxnError, path: &Path, lines: &[(u64, u32)]) -> String {
    let line = e
        .index()
        .and_then(|index| lines.iter().find(|l| l.0 == index))
        .map(|l| l.1 as usize);
    at(path, line, e)
}

fn print_summary(a: &Analysis, path: &Path, html: Option<&Path>) {
    out!(
        "{}: {} transactions ({} committed), {}",
        path.display(),
        a.txn_count,
        a.ok_count,
        a.workload.name()
    );
    for (kind, count) in a.anomalies.types().map(|t| (t, a.anomalies.count(t))) {
        out!("  {kind}: {count}");
    }
    for t in &a.timeouts {
        out!(
            "  cycle-search-timeout: a component of {} transactions (ops {:?}…) not searched for {}",
            t.scc_size,
            t.sample_ops,
            t.classes.join(", ")
        );
    }
    for (i, anomaly) in a.anomalies.iter().take(EXPLAINED).enumerate() {
        out!();
        out!("{}. {}", i + 1, anomaly.kind);
        for line in anomaly.explanation.lines() {
            out!("   {line}");
        }
    }
    let total: usize = a.anomalies.types().map(|t| a.anomalies.count(t)).sum();
    if total > EXPLAINED {
        out!();
        out!("… {total} anomalies in all (--json or --html for the rest)");
    }
    if !a.not.is_empty() {
        out!("ruled out: {} (and what is stronger)", a.not.join(", "));
    }
    if let Some(dir) = html {
        out!("anomalies drawn: {}", dir.join("index.html").display());
    }
    for m in &a.models {
        let verdict = match m.valid {
            Validity::Valid => "holds".to_owned(),
            Validity::Invalid => format!("RULED OUT by {}", m.because.join(", ")),
            Validity::Unknown if a.ok_count == 0 => {
                "unknown: nothing to check (no transaction committed)".to_owned()
            }
            Validity::Unknown => format!("unknown: not searched for {}", m.because.join(", ")),
        };
        out!("{}: {verdict}", m.model);
    }
}

/// `DIR/index.html`: every kept anomaly with its explanation and, for a
/// cycle, its drawing; and `DIR/<type>-<n>.svg`, each cycle on its own.
fn write_html(dir: &Path, a: &Analysis, history: &Path) -> Result<()> {
    use gauntlet_report::escape;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut body = String::new();
    let mut numbers = std::collections::BTreeMap::<&str, usize>::new();
    for anomaly in a.anomalies.iter() {
        let n = numbers.entry(anomaly.kind).or_default();
        *n += 1;
        let _ = write!(
            body,
            "<section><h2>{} #{n}</h2><pre>{}</pre>",
            escape(anomaly.kind),
            escape(&anomaly.explanation)
        );
        let svg = a.cycle_svg(anomaly);
        if !svg.is_empty() {
            let file = dir.join(format!("{}-{n}.svg", anomaly.kind));
            std::fs::write(&file, &svg).with_context(|| format!("writing {}", file.display()))?;
            body.push_str(&svg);
        }
        body.push_str("</section>\n");
    }
    let verdicts: String = a
        .models
        .iter()
        .map(|m| {
            format!(
                "<li>{}: {}</li>",
                escape(m.model),
                match m.valid {
                    Validity::Valid => "holds".to_owned(),
                    Validity::Invalid => format!("ruled out by {}", escape(&m.because.join(", "))),
                    Validity::Unknown => "unknown".to_owned(),
                }
            )
        })
        .collect();
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:sans-serif;margin:2em;max-width:70em}}pre{{background:#f6f6f6;\
         padding:1em;white-space:pre-wrap}}svg{{max-width:100%;height:auto}}</style></head><body>\
         <h1>{title}</h1><p>{} transactions, {} committed.</p><ul>{verdicts}</ul>{}</body></html>\n",
        a.txn_count,
        a.ok_count,
        if body.is_empty() {
            "<p>No anomalies.</p>".to_owned()
        } else {
            body
        },
        title = escape(&format!("{}: {}", history.display(), a.workload.name())),
    );
    let index = dir.join("index.html");
    std::fs::write(&index, page).with_context(|| format!("writing {}", index.display()))
}
