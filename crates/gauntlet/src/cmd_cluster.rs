//! `gauntlet test cluster.toml`: a cluster test (Jepsen mode), the
//! pipeline's cluster preset on the one driver, with the plan loaded, the
//! dead runs' leftovers swept and a recorded storm read for `--replay`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use gauntlet_check::Validity;
use gauntlet_pipeline::Start;
use gauntlet_plan::LoadOptions;
use gauntlet_store::RunState;

use crate::cmd_run::{drive, parse_sets, plan_error, rand_seed, store_error};
use crate::exit::{self, Failure};
use crate::out::{note, out};

/// `gauntlet test cluster.toml`: a cluster test (Jepsen mode) on the one
/// driver (`gauntlet_pipeline::cluster`).
pub fn run(args: crate::cli::TestArgs) -> Result<u8> {
    let path = match args.args.as_slice() {
        [plan] => PathBuf::from(plan),
        [] => {
            return Err(Failure::bad_args(
                "give --bin and the node program (a Maelstrom test), or a cluster plan: gauntlet test cluster.toml".to_owned(),
            ));
        }
        [plan, more, ..] => {
            return Err(Failure::bad_args(format!(
                "a cluster test takes one plan ({plan}), and {more:?} is one word too many (without --bin the words are not a node program's arguments)"
            )));
        }
    };
    let sets = parse_sets(&args.sets.values)?;
    let plan = gauntlet_plan::load(
        &path,
        &LoadOptions {
            sets,
            ..LoadOptions::default()
        },
    )
    .map_err(plan_error)?;
    if plan.cluster.is_none() {
        return Err(Failure::bad_args(format!(
            "{}: not a cluster test: it has no [workload] (see docs/cluster.md){}",
            path.display(),
            if plan.soak.is_some() {
                "; it is a soak plan: run it with `gauntlet soak`"
            } else {
                "; a plan of stages runs with `gauntlet run`"
            }
        )));
    }
    let plan_text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let location = args.store.location()?;
    let store = location.open(true)?;
    store.mark_dead_runs_interrupted().map_err(store_error)?;
    // What a cluster test whose gauntlet was SIGKILLed left: its lab
    // (namespaces, control link) and its data directories.
    if let Err(e) = gauntlet_lab::state::sweep_dead() {
        note!("gauntlet: could not sweep the labs of dead runs: {e}");
    }
    for data in gauntlet_pipeline::cluster::remove_dead_data(&store) {
        note!(
            "gauntlet: removed {}, left by a cluster test whose gauntlet died",
            data.display()
        );
    }
    let seed = args.seed.value.unwrap_or_else(rand_seed);
    let quiet = args.quiet.on || args.json.on;
    let replay = match &args.replay {
        None => None,
        Some(run) => {
            let storm = gauntlet_pipeline::cluster::recorded_storm(&store, run, &plan).map_err(
                |e| match e {
                    gauntlet_pipeline::PipelineError::Store(e) => store_error(e),
                    e => Failure::bad_args(format!("--replay {run}: {e}")),
                },
            )?;
            Some((run.clone(), storm))
        }
    };
    let options = gauntlet_pipeline::cluster::ClusterOptions {
        keep_data: args.keep_data,
        replay,
    };
    let outcome = drive(quiet, |context, cancel| {
        gauntlet_pipeline::warn_exposed(&plan, &context.events);
        gauntlet_pipeline::cluster::cluster(
            store,
            Start {
                plan,
                plan_text,
                seed,
                command_line: std::env::args().collect(),
                context,
            },
            options,
            cancel,
        )
    })?;
    let run = &outcome.outcome.run;
    let results: Option<serde_json::Value> = outcome
        .results
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| serde_json::from_str(&t).ok());
    if args.json.on {
        if let Some(r) = &results {
            out!("{}", serde_json::to_string_pretty(r)?);
        }
    } else {
        let word = match (run.state, outcome.verdict) {
            (RunState::Finished, Validity::Valid) => "PASS".to_owned(),
            (RunState::Finished, Validity::Invalid) => "FAIL".to_owned(),
            (RunState::Finished, Validity::Unknown) => "UNKNOWN".to_owned(),
            (state, _) => format!("did not complete ({state})"),
        };
        out!(
            "cluster test {} of plan {}: {word} (seed {seed})",
            run.id,
            run.plan_name
        );
        if let Some(checks) = results.as_ref().and_then(|r| r["checks"].as_object()) {
            for (name, c) in checks {
                out!("  {name}: {}", c["valid"]);
            }
        }
        if let Some(dir) = outcome.outcome.reports.first().and_then(|p| p.parent()) {
            out!("  files in {}", dir.display());
        }
        let sets: String = args
            .sets
            .values
            .iter()
            .map(|s| format!(" --set {s}"))
            .collect();
        // A replayed storm is the recorded run's; the seed drew the ops.
        let storm = match &args.replay {
            Some(run) => format!(" --replay {run}"),
            None => String::new(),
        };
        out!(
            "  the same schedule again: gauntlet test {}{sets}{storm} --seed {seed}",
            path.display()
        );
    }
    match run.state {
        RunState::Finished => Ok(exit::for_validity(outcome.verdict)),
        state => Err(Failure {
            code: exit::CRASHED,
            message: format!(
                "cluster test {} {state}: {}",
                run.id,
                run.message.clone().unwrap_or_default()
            ),
        }
        .into()),
    }
}
