//! `gauntlet run | runs | show | retry | override | abandon | report`:
//! plans, and the operator's side of halt-and-hold.

use std::time::Duration;

use std::sync::Arc;

use anyhow::{Context, Result};
use gauntlet_check::Validity;
use gauntlet_events::Events;
use gauntlet_pipeline::{Outcome, Resumption, RunContext, Start};
use gauntlet_plan::{LoadOptions, PlanError};
use gauntlet_report::run::{Format, RunReport, render};
use gauntlet_store::{Run, RunFilter, RunKind, RunState, StageState, Store, StoreError, now_ms};

use crate::cli::{AbandonArgs, OverrideArgs, ReportArgs, RetryArgs, RunArgs, RunsArgs, ShowArgs};
use crate::exit::{self, Failure};
use crate::out::{note, out};
use crate::store_opt::Location;

/// Store refusals the operator caused (a wrong id, a run in the wrong
/// state) are bad arguments; anything else is a crash.
pub(crate) fn store_error(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::Sqlite { .. } | StoreError::Open { .. } | StoreError::ArtifactIo { .. } => {
            e.into()
        }
        other => Failure::bad_args(other.to_string()),
    }
}

pub(crate) fn plan_error(e: PlanError) -> anyhow::Error {
    Failure::bad_args(e.to_string())
}

pub(crate) fn parse_sets(sets: &[String]) -> Result<Vec<(String, String)>> {
    sets.iter()
        .map(|s| gauntlet_plan::parse_set(s).map_err(plan_error))
        .collect()
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Runs a pipeline future with Ctrl-C handling on a fresh runtime.
pub(crate) fn drive<T, F>(
    quiet: bool,
    f: impl FnOnce(RunContext, tokio::sync::watch::Receiver<bool>) -> F,
) -> Result<T>
where
    F: std::future::Future<Output = Result<T, gauntlet_pipeline::PipelineError>>,
{
    let rt = runtime()?;
    // The person watching sees the run's events as stages and notes.
    let printer = Arc::new(crate::progress::Stages::new(quiet));
    let events = Events::new(vec![printer.clone()]);
    let outcome = rt.block_on(async {
        let cancel = crate::signals::cancel_on_signals();
        f(RunContext::local(events), cancel).await
    });
    printer.finish();
    rt.shutdown_timeout(Duration::from_secs(2));
    Ok(outcome?)
}

pub fn run(args: RunArgs) -> Result<u8> {
    let sets = parse_sets(&args.sets.values)?;
    let opts = LoadOptions {
        sets,
        cycles: args.cycles,
        modules: args.modules.clone(),
        ..LoadOptions::default()
    };
    let plan = gauntlet_plan::load(&args.plan, &opts).map_err(plan_error)?;
    if plan.cluster.is_some() {
        // Its [workload], [nemesis] and [[check]] would be ignored: never
        // run half a plan and call it a result.
        return Err(Failure::bad_args(format!(
            "{}: this plan is a cluster test ([workload]): run it with `gauntlet test {}`",
            args.plan.display(),
            args.plan.display()
        )));
    }
    if gauntlet_plan::expand(&plan).is_empty() {
        // Nothing to run is not a pass.
        return Err(Failure::bad_args(format!(
            "{}: the plan has no stages to run{}",
            args.plan.display(),
            if plan.soak.is_some() {
                "; it is a soak plan: run it with `gauntlet soak`"
            } else {
                ""
            }
        )));
    }
    let plan_text = std::fs::read_to_string(&args.plan)
        .with_context(|| format!("reading {}", args.plan.display()))?;
    let location = args.store.location()?;
    let store = location.open(true)?;
    store.mark_dead_runs_interrupted().map_err(store_error)?;
    let seed = args.seed.value.unwrap_or_else(rand_seed);
    let quiet = args.quiet.on || args.json.on;
    let outcome = drive(quiet, |context, cancel| {
        gauntlet_pipeline::start(
            store,
            Start {
                plan,
                plan_text,
                seed,
                command_line: std::env::args().collect(),
                context,
            },
            cancel,
        )
    })?;
    finish(outcome, args.json.on, &location)
}

pub fn soak(args: crate::cli::SoakArgs) -> Result<u8> {
    let sets = parse_sets(&args.sets.values)?;
    let opts = LoadOptions {
        sets,
        minutes: args.minutes.map(|m| m.as_minutes_f64()),
        users: args.users,
        scenario: args.scenario.clone(),
        ..LoadOptions::default()
    };
    let plan = gauntlet_plan::load(&args.plan, &opts).map_err(plan_error)?;
    if plan.soak.is_none() {
        return Err(Failure::bad_args(format!(
            "{}: not a soak plan: it has no [soak] table (see docs/soak.md)",
            args.plan.display()
        )));
    }
    let plan_text = std::fs::read_to_string(&args.plan)
        .with_context(|| format!("reading {}", args.plan.display()))?;
    let store = args.store.location()?.open(true)?;
    store.mark_dead_runs_interrupted().map_err(store_error)?;
    // The command line beats the plan, as everywhere.
    let seed = args
        .seed
        .value
        .or(plan.soak.as_ref().and_then(|s| s.seed))
        .unwrap_or_else(rand_seed);
    let quiet = args.quiet.on || args.json.on;
    let outcome = drive(quiet, |context, cancel| {
        gauntlet_pipeline::warn_exposed(&plan, &context.events);
        gauntlet_pipeline::soak::soak(
            store,
            gauntlet_pipeline::soak::SoakStart {
                plan,
                plan_text,
                seed,
                command_line: std::env::args().collect(),
                context,
            },
            cancel,
        )
    })?;
    let run = &outcome.outcome.run;
    if args.json.on {
        if let Ok(text) = std::fs::read_to_string(&outcome.verdict_path) {
            out!("{text}");
        }
    } else {
        print_soak(&outcome);
    }
    if let Some(why) = &outcome.error {
        return Err(Failure {
            code: exit::CRASHED,
            message: format!("soak {} stopped early: {why}", run.id),
        }
        .into());
    }
    Ok(exit::for_validity(
        outcome.verdict.unwrap_or(Validity::Unknown),
    ))
}

fn print_soak(outcome: &gauntlet_pipeline::soak::SoakOutcome) {
    let run = &outcome.outcome.run;
    let verdict: serde_json::Value = std::fs::read_to_string(&outcome.verdict_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let word = match outcome.verdict {
        Some(Validity::Valid) => "PASS",
        Some(Validity::Invalid) => "FAIL",
        Some(Validity::Unknown) => "UNKNOWN",
        None => "did not complete",
    };
    match (&outcome.error, outcome.verdict) {
        // Judged on what was recorded before it stopped.
        (Some(_), Some(_)) => out!(
            "soak {} of plan {}: stopped early ({}); on what was recorded: {word}",
            run.id,
            run.plan_name,
            run.state
        ),
        _ => out!("soak {} of plan {}: {word}", run.id, run.plan_name),
    }
    if let Some(map) = verdict["invariants"].as_object() {
        for (name, r) in map {
            let valid = match &r["valid"] {
                serde_json::Value::Bool(true) => "pass",
                serde_json::Value::Bool(false) => "FAIL",
                _ => "unknown",
            };
            let first = r["evidence"][0]["problem"].as_str().unwrap_or_default();
            out!("  {name:<22} {valid:<8} {first}");
        }
    }
    out!("verdict: {}", outcome.verdict_path.display());
}

pub(crate) fn rand_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (t.as_nanos() as u64) ^ (u64::from(std::process::id()) << 32)
}

/// Prints how the run ended and picks the exit code.
pub(crate) fn finish(outcome: Outcome, json: bool, location: &Location) -> Result<u8> {
    let run = &outcome.run;
    if json {
        let store = location.open(false)?;
        let report = RunReport::load(&store, &run.id).map_err(store_error)?;
        out!("{}", render(&report, Format::Json));
    } else {
        // What qualifies a pass is on the verdict line: stages an operator
        // let through, and stages that checked nothing.
        let store = location.open(false)?;
        let overridden: Vec<String> = store
            .overrides(&run.id)
            .map_err(store_error)?
            .into_iter()
            .map(|o| o.stage)
            .collect();
        let skipped: Vec<String> = store
            .stage_states(&run.id)
            .map_err(store_error)?
            .into_iter()
            .filter(|(_, state)| *state == StageState::Skipped)
            .map(|(name, _)| name)
            .collect();
        let mut caveats = Vec::new();
        if !overridden.is_empty() {
            caveats.push(format!(
                "{} overridden ({})",
                overridden.len(),
                overridden.join(", ")
            ));
        }
        if !skipped.is_empty() {
            caveats.push(format!(
                "{} skipped ({})",
                skipped.len(),
                skipped.join(", ")
            ));
        }
        print_outcome(run, &outcome, &caveats.join(" and "));
    }
    Ok(match run.state {
        RunState::Finished => exit::for_validity(run.result.unwrap_or(Validity::Unknown)),
        RunState::Held => exit::INVALID,
        _ => exit::CRASHED,
    })
}

fn print_outcome(run: &Run, outcome: &Outcome, caveats: &str) {
    let took = run.took_ms(now_ms()) as f64 / 1000.0;
    match run.state {
        RunState::Finished => out!(
            "run {} of plan {}: finished, {}{} in {took:.1} s",
            run.id,
            run.plan_name,
            match run.result {
                Some(Validity::Valid) => "PASS",
                Some(Validity::Invalid) => "FAIL",
                _ => "UNKNOWN",
            },
            if caveats.is_empty() {
                String::new()
            } else {
                format!(" with {caveats}")
            }
        ),
        RunState::Held | RunState::Interrupted => {
            let stage = run.held_stage.as_deref().unwrap_or("?");
            out!(
                "run {} of plan {}: {} at stage {stage}{}",
                run.id,
                run.plan_name,
                if run.state == RunState::Held {
                    "HELD"
                } else {
                    "INTERRUPTED"
                },
                run.message
                    .as_ref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            );
            out!(
                "  gauntlet retry {}                      # run {stage} again and go on",
                run.id
            );
            out!(
                "  gauntlet override {} --stage {stage} --reason \"…\"   # accept it and go on",
                run.id
            );
            out!("  gauntlet abandon {}                    # give up", run.id);
        }
        _ => out!("run {}: {}", run.id, run.state),
    }
    if let Some(first) = outcome.reports.first()
        && let Some(dir) = first.parent()
    {
        let names: Vec<String> = outcome
            .reports
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        out!("reports in {}: {}", dir.display(), names.join(", "));
        // A soak's verdict (also after a retry or an override).
        let verdict = dir.join("verdict.json");
        if verdict.exists() {
            out!("verdict: {}", verdict.display());
        }
    }
}

pub fn runs(args: RunsArgs) -> Result<u8> {
    let state = match &args.state {
        Some(s) => Some(RunState::parse(s).ok_or_else(|| {
            let all: Vec<&str> = RunState::ALL.iter().map(|s| s.as_str()).collect();
            Failure::bad_args(format!("--state {s:?}: one of {}", all.join(", ")))
        })?),
        None => None,
    };
    let kind = match &args.kind {
        Some(k) => Some(RunKind::parse(k).ok_or_else(|| {
            let all: Vec<&str> = RunKind::ALL.iter().map(|k| k.as_str()).collect();
            Failure::bad_args(format!("--kind {k:?}: one of {}", all.join(", ")))
        })?),
        None => None,
    };
    let location = args.store.location()?;
    if let Some(note) = args.store.older_default_note() {
        note!("{note}");
    }
    if !location.exists() {
        // Nothing has been stored there yet: an empty list, not an error.
        if args.json.on {
            out!("[]");
        } else {
            out!("no runs: {} does not exist yet", location.describe());
        }
        return Ok(exit::VALID);
    }
    let store = location.open(false)?;
    store.mark_dead_runs_interrupted().map_err(store_error)?;
    let runs = store
        .runs(&RunFilter {
            state,
            kind,
            plan_name: args.plan.clone(),
            limit: Some(args.limit),
            offset: 0,
        })
        .map_err(store_error)?;
    if args.json.on {
        out!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(exit::VALID);
    }
    if runs.is_empty() {
        out!("no runs in {}", store.path().display());
        return Ok(exit::VALID);
    }
    let now = now_ms();
    let rows: Vec<[String; 8]> = runs
        .iter()
        .map(|r| {
            let failed = match r.state {
                RunState::Held | RunState::Interrupted | RunState::Abandoned => {
                    r.held_stage.clone().unwrap_or_default()
                }
                _ => String::new(),
            };
            [
                r.id.to_string(),
                r.kind.to_string(),
                r.plan_name.clone(),
                r.state.to_string(),
                match r.result {
                    Some(Validity::Valid) => "pass".into(),
                    Some(Validity::Invalid) => "fail".into(),
                    Some(Validity::Unknown) => "unknown".into(),
                    None => "-".into(),
                },
                failed,
                format_time(r.started_at),
                format!("{:.1} s", r.took_ms(now) as f64 / 1000.0),
            ]
        })
        .collect();
    print_table(
        &[
            "ID",
            "KIND",
            "PLAN",
            "STATE",
            "RESULT",
            "FAILED STAGE",
            "STARTED",
            "TOOK",
        ],
        &rows,
    );
    Ok(exit::VALID)
}

fn print_table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out!("{}", parts.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// UTC, to the second: `2026-11-23 17:45:01`.
fn format_time(ms: i64) -> String {
    gauntlet_store::format_utc(ms)
}

pub fn show(args: ShowArgs) -> Result<u8> {
    let store = args.store.location()?.open(false)?;
    store.mark_dead_runs_interrupted().map_err(store_error)?;
    let run = store.run(&args.run).map_err(store_error)?;
    let report = RunReport::load(&store, &run.id).map_err(store_error)?;
    if args.json.on {
        out!("{}", render(&report, Format::Json));
        return Ok(exit::VALID);
    }
    out!(
        "run {}  {}  plan {}  {}  result {}",
        run.id,
        run.kind,
        run.plan_name,
        run.state,
        run.result.map_or("-".to_owned(), |v| v.to_string())
    );
    out!(
        "started {} UTC, took {:.1} s, seed {}, gauntlet {}",
        format_time(run.started_at),
        run.took_ms(now_ms()) as f64 / 1000.0,
        run.seed,
        run.gauntlet_version
    );
    if let Some(m) = &run.message {
        out!("note: {m}");
    }
    out!();
    let rows: Vec<[String; 5]> = report
        .stages
        .iter()
        .map(|s| {
            let a = s.current();
            let took = match (a.started_at, a.ended_at) {
                (Some(b), Some(e)) => format!("{:.1} s", (e - b) as f64 / 1000.0),
                _ => String::new(),
            };
            let status = a.summary.as_ref().and_then(|v| v["status"].as_str());
            [
                s.name.clone(),
                s.kind.clone(),
                match status {
                    Some(st) if a.state.as_str() == "passed" => st.to_uppercase(),
                    _ => a.state.to_string(),
                },
                format!(
                    "{}{}",
                    took,
                    if s.attempts.len() > 1 {
                        format!(" ({} attempts)", s.attempts.len())
                    } else {
                        String::new()
                    }
                ),
                a.message.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print_table(&["STAGE", "KIND", "STATE", "TOOK", "MESSAGE"], &rows);
    if !report.overrides.is_empty() {
        out!("\noverrides:");
        for o in &report.overrides {
            out!(
                "  {} (attempt {}) by {} at {} UTC: {}",
                o.stage,
                o.attempt,
                o.who,
                format_time(o.time),
                o.reason
            );
        }
    }
    if !report.artifacts.is_empty() {
        out!("\nartifacts in {}:", store.artifact_dir(&run.id).display());
        for a in &report.artifacts {
            out!("  {:<48} {:>10} B  {}", a.path, a.bytes, a.kind);
        }
    }
    Ok(exit::VALID)
}

/// Refuses a run that could not be resumed (its resolved plan is gone,
/// unreadable or not the run's) before the store counts an attempt or
/// records an override: a refused retry leaves the run as it was.
fn resumable(store: &Store, run: &Run) -> Result<()> {
    if run.kind == RunKind::Test {
        // Never resumable, and the store says why (exit 254) in its own words.
        return Ok(());
    }
    match gauntlet_pipeline::check_resumable(store, &run.id) {
        Ok(_) => Ok(()),
        Err(e) => Err(Failure {
            code: exit::CRASHED,
            message: format!(
                "run {} cannot be resumed, and was left as it is: {e}",
                run.id
            ),
        }
        .into()),
    }
}

pub fn retry(args: RetryArgs) -> Result<u8> {
    let location = args.store.location()?;
    let store = location.open(false)?;
    let run = store.run(&args.run).map_err(store_error)?;
    resumable(&store, &run)?;
    let run = store.retry(&run.id).map_err(store_error)?;
    let quiet = args.quiet.on;
    if !quiet {
        note!("resuming run {}", run.id);
    }
    let outcome = drive(quiet, |context, cancel| async move {
        gauntlet_pipeline::resume(store, &run.id, Resumption::Retry, context, cancel).await
    })?;
    finish(outcome, false, &location)
}

pub fn override_stage(args: OverrideArgs) -> Result<u8> {
    if args.reason.trim().is_empty() {
        return Err(Failure::bad_args("--reason must say why"));
    }
    let location = args.store.location()?;
    let store = location.open(false)?;
    store.mark_dead_runs_interrupted().map_err(store_error)?;
    let run = store.run(&args.run).map_err(store_error)?;
    let stage = match args.stage.clone().or_else(|| run.held_stage.clone()) {
        Some(s) => s,
        None => {
            return Err(Failure::bad_args(format!(
                "run {} is {}; no stage holds it, so there is nothing to override",
                run.id, run.state
            )));
        }
    };
    let who = args
        .by
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "operator".to_owned());
    resumable(&store, &run)?;
    store
        .override_stage(&run.id, &stage, &args.reason, &who)
        .map_err(store_error)?;
    let quiet = args.quiet.on;
    if !quiet {
        note!(
            "stage {stage} of run {} overridden by {who}: {}",
            run.id,
            args.reason
        );
    }
    let how = Resumption::Override {
        stage,
        who,
        reason: args.reason.clone(),
    };
    let outcome = drive(quiet, |context, cancel| async move {
        gauntlet_pipeline::resume(store, &run.id, how, context, cancel).await
    })?;
    finish(outcome, false, &location)
}

pub fn abandon(args: AbandonArgs) -> Result<u8> {
    let store = args.store.location()?.open(false)?;
    store.mark_dead_runs_interrupted().map_err(store_error)?;
    let run = store.run(&args.run).map_err(store_error)?;
    store.abandon(&run.id, &args.reason).map_err(store_error)?;
    gauntlet_pipeline::write_reports(&store, &run.id)?;
    out!("run {} abandoned: {}", run.id, args.reason);
    Ok(exit::VALID)
}

pub fn report(args: ReportArgs) -> Result<u8> {
    let format: Format = args.format.parse().map_err(|_| {
        Failure::bad_args(format!(
            "--format {:?}: one of md, html, json, junit",
            args.format
        ))
    })?;
    let store = args.store.location()?.open(false)?;
    store.mark_dead_runs_interrupted().map_err(store_error)?;
    let run = store.run(&args.run).map_err(store_error)?;
    let report = RunReport::load(&store, &run.id).map_err(store_error)?;
    let text = render(&report, format);
    match &args.output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
            note!("wrote {}", path.display());
        }
        None => {
            crate::out::stdout_text(&text);
        }
    }
    Ok(exit::VALID)
}
