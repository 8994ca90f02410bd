//! The fleet loop's commands: `start` (with the interview on a TTY),
//! `status`, `stop` and `logs`. The loop itself is the pipeline's fleet
//! preset; these read and drive it through the store, so they work from
//! any shell.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use gauntlet_pipeline::fleet::{Choices, LoopPlan, LoopStart};
use gauntlet_plan::{Criteria, Fleet, Proof, ServiceControl};
use gauntlet_store::{Run, RunFilter, RunKind, RunState, Store, now_ms};

use crate::cli::{JsonArg, QuietArg, StoreArgs};
use crate::cmd_fleet::FleetArg;
use crate::cmd_run::{drive, finish, store_error};
use crate::exit::{self, Failure};
use crate::out::{note, out};

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    gauntlet start                                   # on a TTY: asks project, focus, criteria, proof\n  \
    gauntlet start ant-quic nat-traversal threshold all-evidence   # asks only to confirm\n  \
    gauntlet start ant-quic --focus connectivity --criteria all-pass --proof logs --yes   # CI: no questions\n\n\
    The loop: SETUP (reach every node) -> BUILD here -> DEPLOY (stop, upload beside, rename, start, verify)\n\
    -> TEST (the focus's suites) -> on failure FIX (the fix hook, given the evidence) and BUILD again;\n\
    on success WAIT for each checkpoint and TEST again -> COMPLETE. Its state is in the store:\n\
    `gauntlet status`, `gauntlet stop PROJECT` and `gauntlet logs PROJECT` work from another shell,\n\
    and `gauntlet retry RUN` goes on with a held or interrupted loop.\n\
    Criteria: all-pass, threshold (each figure within its min/max), improvement (no figure worse than\n\
    the last green test), check (the project's [project.criteria] check program).\n\
    Proof: summary, logs (and every node's service log), all-evidence (and every output); written to\n\
    STORE/<run-id>/proof/ with SHA256SUMS.\n\
    Exit codes: 0 complete, 1 failed or held, 254 bad input or cancelled, 255 interrupted.")]
pub struct StartArgs {
    /// The project (a [[project]] of the fleet file).
    pub project: Option<String>,
    /// The focus: a focus its suites name, or full-suite.
    #[arg(value_name = "FOCUS")]
    pub focus_word: Option<String>,
    /// all-pass, threshold, improvement or check.
    #[arg(value_name = "CRITERIA")]
    pub criteria_word: Option<String>,
    /// summary, logs or all-evidence.
    #[arg(value_name = "PROOF")]
    pub proof_word: Option<String>,
    /// The focus (as the second argument).
    #[arg(long, conflicts_with = "focus_word")]
    pub focus: Option<String>,
    /// The success criteria (as the third argument).
    #[arg(long, conflicts_with = "criteria_word")]
    pub criteria: Option<String>,
    /// What the proof bundle holds (as the fourth argument).
    #[arg(long, conflicts_with = "proof_word")]
    pub proof: Option<String>,
    /// Start without asking to confirm the plan.
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[command(flatten)]
    pub fleet: FleetArg,
    #[command(flatten)]
    pub quiet: QuietArg,
    #[command(flatten)]
    pub json: JsonArg,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// The answers so far; `None` is still to be asked.
#[derive(Debug, Clone, Default)]
pub struct Answers {
    pub project: Option<String>,
    pub focus: Option<String>,
    pub criteria: Option<Criteria>,
    pub proof: Option<Proof>,
}

fn parse_word<T: Copy>(
    word: Option<String>,
    what: &str,
    parse: fn(&str) -> Option<T>,
    all: &[&str],
) -> Result<Option<T>> {
    word.map(|w| {
        parse(&w).ok_or_else(|| {
            Failure::bad_args(format!("{what} {w:?} is not one of: {}", all.join(", ")))
        })
    })
    .transpose()
}

pub fn start(args: StartArgs) -> Result<u8> {
    let fleet = args.fleet.load()?;
    let criteria_words: Vec<&str> = Criteria::ALL.iter().map(|c| c.word()).collect();
    let proof_words: Vec<&str> = Proof::ALL.iter().map(|p| p.word()).collect();
    let mut answers = Answers {
        project: args.project.clone(),
        focus: args.focus.clone().or(args.focus_word.clone()),
        criteria: parse_word(
            args.criteria.clone().or(args.criteria_word.clone()),
            "criteria",
            Criteria::parse,
            &criteria_words,
        )?,
        proof: parse_word(
            args.proof.clone().or(args.proof_word.clone()),
            "proof",
            Proof::parse,
            &proof_words,
        )?,
    };
    let tty = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let plan = loop {
        if !tty {
            missing_is_an_error(&answers, &fleet)?;
        }
        crate::interview::ask(&fleet, &mut answers)?;
        let plan = LoopPlan::new(
            fleet.clone(),
            answers.project.as_deref().unwrap_or_default(),
            Choices {
                focus: answers.focus.clone().unwrap_or_default(),
                criteria: answers.criteria.unwrap_or(Criteria::AllPass),
                proof: answers.proof.unwrap_or(Proof::Summary),
            },
        )
        .map_err(Failure::bad_args)?;
        let summary = summary(&plan);
        if args.yes || !tty {
            if !args.quiet.on && !args.json.on {
                note!("{summary}");
            }
            break plan;
        }
        match crate::interview::confirm(&summary)? {
            crate::interview::Confirmed::Proceed => break plan,
            crate::interview::Confirmed::Modify => {
                answers = crate::interview::modify(&fleet, answers)?;
            }
            crate::interview::Confirmed::Cancel => {
                note!("cancelled: nothing was started");
                return Ok(exit::BAD_ARGS);
            }
        }
    };
    let location = args.store.location()?;
    let store = location.open(true)?;
    store.mark_dead_runs_interrupted().map_err(store_error)?;
    if let Some(running) = loops(&store, Some(&plan.project))?
        .into_iter()
        .find(|r| r.state == RunState::Running)
    {
        return Err(Failure::bad_args(format!(
            "loop {} of {} is running (gauntlet process {}): `gauntlet status`, or `gauntlet stop {}` first",
            running.id, plan.project, running.owner.pid, plan.project
        )));
    }
    let fleet_text = std::fs::read_to_string(&plan.fleet.path).unwrap_or_default();
    let quiet = args.quiet.on || args.json.on;
    let outcome = drive(quiet, |context, cancel| {
        gauntlet_pipeline::fleet::start(
            store,
            LoopStart {
                plan,
                fleet_text,
                command_line: std::env::args().collect(),
                context,
            },
            cancel,
        )
    })?;
    let proof = outcome
        .reports
        .iter()
        .find(|p| p.ends_with("PROOF.md"))
        .cloned();
    let code = finish(outcome, args.json.on, &location)?;
    if let (Some(proof), false) = (proof, args.json.on) {
        out!(
            "proof bundle: {}",
            proof.parent().unwrap_or(Path::new(".")).display()
        );
    }
    Ok(code)
}

/// Without a TTY nothing can be asked: name the flags that are missing.
fn missing_is_an_error(answers: &Answers, fleet: &Fleet) -> Result<()> {
    let mut missing = Vec::new();
    if answers.project.is_none() {
        let names: Vec<&str> = fleet.projects.iter().map(|p| p.name.as_str()).collect();
        missing.push(format!("PROJECT (one of: {})", names.join(", ")));
    }
    if answers.focus.is_none() {
        let focuses = answers
            .project
            .as_deref()
            .and_then(|p| fleet.project(p))
            .map(|p| p.focuses().join(", "))
            .unwrap_or_else(|| "the project's focuses".to_owned());
        missing.push(format!("--focus (one of: {focuses})"));
    }
    if answers.criteria.is_none() {
        missing.push("--criteria (all-pass, threshold, improvement, check)".to_owned());
    }
    if answers.proof.is_none() {
        missing.push("--proof (summary, logs, all-evidence)".to_owned());
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(Failure::bad_args(format!(
        "not a terminal, so nothing can be asked; give {}",
        missing.join(", ")
    )))
}

/// The plan as a person confirms it.
pub(crate) fn summary(plan: &LoopPlan) -> String {
    let p = plan.project();
    let mut roles: std::collections::BTreeMap<String, usize> = Default::default();
    let mut nats: std::collections::BTreeMap<&str, usize> = Default::default();
    for n in p.nodes.iter().filter_map(|n| plan.fleet.node(n)) {
        *roles.entry(n.role.clone()).or_default() += 1;
        *nats.entry(n.nat_word()).or_default() += 1;
    }
    let counts = |m: Vec<(String, usize)>| {
        m.into_iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let suites: Vec<&str> = p
        .suites_of(&plan.choices.focus)
        .iter()
        .map(|s| s.name())
        .collect();
    let control = match &p.service.control {
        ServiceControl::Supervised { .. } => "a command Gauntlet supervises".to_owned(),
        ServiceControl::Systemd { unit } => format!("systemd unit {unit}"),
    };
    format!(
        "the loop of project {} on fleet {}:\n  \
         nodes:    {} ({}; NAT: {})\n  \
         binary:   built here by `{}` in {}, {} -> {} on each node ({control})\n  \
         focus:    {} (suites: {})\n  \
         criteria: {}\n  \
         proof:    {}\n  \
         checkpoints: {}; at most {} builds in a row and {} fixes{}",
        p.name,
        plan.fleet.path.display(),
        p.nodes.len(),
        counts(roles.into_iter().collect()),
        counts(nats.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()),
        display_command(&p.build.command),
        p.repo.display(),
        p.artifact.display(),
        p.install,
        plan.choices.focus,
        suites.join(", "),
        plan.choices.criteria.word(),
        plan.choices.proof.word(),
        p.loop_spec
            .checkpoints
            .iter()
            .map(|c| gauntlet_plan::format_duration(*c))
            .collect::<Vec<_>>()
            .join(" and "),
        p.loop_spec.max_builds,
        p.loop_spec.max_fixes,
        if p.fix_hook.is_some() {
            ", through the fix hook"
        } else {
            "; no fix hook: a failure holds for an operator"
        }
    )
}

fn display_command(c: &gauntlet_plan::CommandLine) -> String {
    match c {
        gauntlet_plan::CommandLine::Shell(s) => s.clone(),
        gauntlet_plan::CommandLine::Argv(v) => v.join(" "),
    }
}

/// The fleet loops in the store, newest first; only `project`'s when given.
fn loops(store: &Store, project: Option<&str>) -> Result<Vec<Run>> {
    Ok(store
        .runs(&RunFilter {
            kind: Some(RunKind::Fleet),
            ..Default::default()
        })
        .map_err(store_error)?
        .into_iter()
        .filter(|r| project.is_none_or(|p| r.plan_name == p))
        .collect())
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    gauntlet status                 # the latest loop of each project\n  \
    gauntlet status ant-quic --all  # every loop of one project\n  \
    gauntlet status --json")]
pub struct StatusArgs {
    /// Only this project's loops.
    pub project: Option<String>,
    /// Every loop, not only the latest of each project.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub json: JsonArg,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn status(args: StatusArgs) -> Result<u8> {
    let store = args.store.location()?.open(false)?;
    store.mark_dead_runs_interrupted().map_err(store_error)?;
    let mut runs = loops(&store, args.project.as_deref())?;
    if !args.all {
        let mut seen = std::collections::HashSet::new();
        runs.retain(|r| seen.insert(r.plan_name.clone()));
    }
    let mut shown = Vec::new();
    for r in &runs {
        let stages = store.stages(&r.id).map_err(store_error)?;
        let phases: Vec<serde_json::Value> = stages
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name, "state": s.current().state.as_str(),
                    "message": s.current().message,
                })
            })
            .collect();
        let now = stages
            .iter()
            .rev()
            .find(|s| s.current().state != gauntlet_store::StageState::Pending)
            .map(|s| s.name.clone());
        shown.push(serde_json::json!({
            "run": r.id.as_str(), "project": r.plan_name, "state": r.state.as_str(),
            "result": r.result.map(|v| v.to_string()), "phase": now, "message": r.message,
            "started_at": r.started_at, "took_ms": r.took_ms(now_ms()), "pid": r.owner.pid,
            "phases": phases,
        }));
    }
    if args.json.on {
        out!("{}", serde_json::to_string_pretty(&shown)?);
        return Ok(exit::VALID);
    }
    if shown.is_empty() {
        out!("no fleet loops in this store (start one with `gauntlet start`)");
        return Ok(exit::VALID);
    }
    for s in &shown {
        let word = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_owned();
        out!(
            "{}  {}  {}{}  phase {}  for {:.0} s",
            word(&s["run"]),
            word(&s["project"]),
            word(&s["state"]),
            s["result"]
                .as_str()
                .map(|r| format!(
                    " ({})",
                    match r {
                        "true" => "PASS",
                        "false" => "FAIL",
                        _ => "UNKNOWN",
                    }
                ))
                .unwrap_or_default(),
            word(&s["phase"]),
            s["took_ms"].as_f64().unwrap_or(0.0) / 1000.0
        );
        let line: Vec<String> = s["phases"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| format!("{} {}", word(&p["name"]), mark(&word(&p["state"]))))
            .collect();
        out!("  {}", line.join("  "));
        if let Some(m) = s["message"].as_str() {
            out!("  {m}");
        }
    }
    Ok(exit::VALID)
}

fn mark(state: &str) -> &'static str {
    match state {
        "passed" => "ok",
        "failed" => "FAILED",
        "running" => "...",
        "overridden" => "overridden",
        "skipped" => "skipped",
        _ => "pending",
    }
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    gauntlet stop ant-quic          # the running loop of ant-quic\n\n\
    The loop's process is sent SIGTERM, as Ctrl-C would: it stops the phase it is in, stops the\n\
    services it supervises, writes its reports and proof, and leaves the loop interrupted;\n\
    `gauntlet retry RUN` goes on from that phase.")]
pub struct StopArgs {
    /// The project (or a loop's run id).
    pub project: String,
    /// How long to wait for the loop to stop.
    #[arg(long, default_value = "60s", value_parser = crate::units::timeout_with_unit)]
    pub wait: crate::units::Seconds,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn stop(args: StopArgs) -> Result<u8> {
    let store = args.store.location()?.open(false)?;
    store.mark_dead_runs_interrupted().map_err(store_error)?;
    let run = loops(&store, None)?.into_iter().find(|r| {
        r.state == RunState::Running
            && (r.plan_name == args.project || r.id.as_str().starts_with(&args.project))
    });
    let Some(run) = run else {
        out!("no loop of {} is running", args.project);
        return Ok(exit::INVALID);
    };
    // The owner is this machine's live gauntlet that created the run (its
    // pid and start time checked), never a recycled pid.
    if !run.owner.terminate()? {
        return Err(Failure::bad_args(format!(
            "loop {} runs in gauntlet process {} on {}, which this machine cannot signal",
            run.id,
            run.owner.pid,
            run.owner.host.as_deref().unwrap_or("another host")
        )));
    }
    note!(
        "asked gauntlet process {} to stop loop {}",
        run.owner.pid,
        run.id
    );
    let began = std::time::Instant::now();
    while began.elapsed() < args.wait.0 {
        let now = store.run(run.id.as_str()).map_err(store_error)?;
        if now.state != RunState::Running {
            out!(
                "loop {} of {} is {}; `gauntlet retry {}` goes on with it",
                run.id,
                run.plan_name,
                now.state,
                run.id
            );
            return Ok(exit::VALID);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(Failure {
        code: exit::CRASHED,
        message: format!(
            "loop {} did not stop in {} s (gauntlet process {})",
            run.id,
            args.wait.0.as_secs(),
            run.owner.pid
        ),
    }
    .into())
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    gauntlet logs ant-quic              # the last lines of each node's service log\n  \
    gauntlet logs ant-quic -f           # and follow them while the loop runs\n  \
    gauntlet logs ant-quic --node saorsa-4 --lines 200")]
pub struct LogsArgs {
    /// The project (or a loop's run id).
    pub project: String,
    /// Follow the logs while the loop runs (Ctrl-C to stop).
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only this node's log.
    #[arg(long)]
    pub node: Option<String>,
    /// How many lines of each log to show first.
    #[arg(long, default_value_t = 40)]
    pub lines: usize,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn logs(args: LogsArgs) -> Result<u8> {
    let store = args.store.location()?.open(false)?;
    store.mark_dead_runs_interrupted().map_err(store_error)?;
    let Some(run) = loops(&store, None)?
        .into_iter()
        .find(|r| r.plan_name == args.project || r.id.as_str().starts_with(&args.project))
    else {
        return Err(Failure::bad_args(format!(
            "no loop of {} in this store",
            args.project
        )));
    };
    let dir = store.artifact_dir(&run.id).join("services");
    let prefix = format!("{}@", run.plan_name);
    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let node = name.strip_prefix(&prefix)?.strip_suffix(".log")?.to_owned();
            Some((node, e.path()))
        })
        .filter(|(node, _)| args.node.as_ref().is_none_or(|n| n == node))
        .collect();
    files.sort();
    if files.is_empty() {
        let plan = gauntlet_pipeline::fleet::resolved_loop(&store, &run.id).ok();
        let systemd = plan
            .as_ref()
            .and_then(|p| match &p.project().service.control {
                ServiceControl::Systemd { unit } => Some(unit.clone()),
                ServiceControl::Supervised { .. } => None,
            });
        match systemd {
            Some(unit) => out!(
                "loop {}: the service is systemd unit {unit}; its log is each node's journal (`gauntlet diagnose NODE`)",
                run.id
            ),
            None => out!("loop {}: no service log yet (no deploy so far)", run.id),
        }
        return Ok(exit::VALID);
    }
    let mut offsets = Vec::new();
    for (node, path) in &files {
        let text = std::fs::read(path).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        let lines: Vec<&str> = text.lines().collect();
        for line in &lines[lines.len().saturating_sub(args.lines)..] {
            out!("{node} | {line}");
        }
        offsets.push(text.len() as u64);
    }
    if !args.follow {
        return Ok(exit::VALID);
    }
    // Until the loop stops (or Ctrl-C, which ends this reader at once).
    loop {
        for ((node, path), offset) in files.iter().zip(offsets.iter_mut()) {
            let Ok(bytes) = std::fs::read(path) else {
                continue;
            };
            if (bytes.len() as u64) > *offset {
                let new = String::from_utf8_lossy(&bytes[*offset as usize..]).into_owned();
                // Only whole lines; the rest waits for its newline.
                if let Some(end) = new.rfind('\n') {
                    for line in new[..end].lines() {
                        out!("{node} | {line}");
                    }
                    *offset += end as u64 + 1;
                }
            }
        }
        let state = store.run(run.id.as_str()).map_err(store_error)?.state;
        if state != RunState::Running {
            note!("loop {} is {state}", run.id);
            return Ok(exit::VALID);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}
