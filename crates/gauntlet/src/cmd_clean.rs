//! `gauntlet clean`: removes what gauntlet processes that died without
//! cleaning up (SIGKILL, an OOM kill, a power loss) left, and nothing
//! else: their cgroups and the processes in them, their network labs,
//! their containers, networks, volumes and images on the Docker Engine
//! (objects of this host's dead owners only), the data directories of
//! their cluster tests; and their runs in the store are marked
//! interrupted. Every command that runs things does the part it needs
//! before it starts; this does all of it at once.

use std::time::Duration;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use crate::cli::{JsonArg, StoreArgs};
use crate::exit;
use crate::out::{note, out};

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    gauntlet clean                 # after a SIGKILLed run: its processes, lab, containers, data\n  \
    gauntlet clean --json          # what was removed, as one JSON object\n\n\
    Only what dead gauntlet processes of this machine left is touched: a live run's things, and\n\
    anything gauntlet did not create, stay. Exit codes: 0 all removed (or nothing to remove),\n\
    255 something could not be removed (each named with why).")]
pub struct CleanArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub json: JsonArg,
}

pub fn run(args: CleanArgs) -> Result<u8> {
    let mut failed: Vec<String> = Vec::new();

    let cgroups = gauntlet_node::sweep_dead_owners();
    failed.extend(
        cgroups
            .failed
            .iter()
            .map(|(p, why)| format!("cgroup {}: {why}", p.display())),
    );

    let labs = match gauntlet_lab::state::sweep_dead() {
        Ok(swept) => swept.labs,
        Err(e) => {
            failed.push(format!("labs: {e}"));
            Vec::new()
        }
    };

    let docker = docker_sweep();
    let (docker_removed, docker_note) = match docker {
        Ok(Some(removed)) => {
            failed.extend(
                removed
                    .failed
                    .iter()
                    .map(|(what, why)| format!("docker {what}: {why}")),
            );
            (Some(removed), None)
        }
        Ok(None) => (
            None,
            Some("no Docker Engine answered; nothing to clean there"),
        ),
        Err(e) => {
            failed.push(format!("docker: {e}"));
            (None, None)
        }
    };

    // The store: its dead runs become interrupted, and their cluster
    // tests' data directories go. No store, nothing to do there.
    let location = args.store.location()?;
    let (runs, data) = match location.open(false) {
        Ok(store) => {
            let runs = store.mark_dead_runs_interrupted()?;
            let data = gauntlet_pipeline::cluster::remove_dead_data(&store);
            (runs.iter().map(|r| r.to_string()).collect::<Vec<_>>(), data)
        }
        Err(_) => (Vec::new(), Vec::new()),
    };

    let docker_json = docker_removed.as_ref().map(|r| {
        json!({
            "containers": r.containers, "networks": r.networks,
            "volumes": r.volumes, "images": r.images,
        })
    });
    if args.json.on {
        out!(
            "{}",
            json!({
                "cgroups": cgroups.removed,
                "labs": labs,
                "docker": docker_json,
                "runs_interrupted": runs,
                "data_dirs": data,
                "failed": failed,
            })
        );
    } else {
        let mut said = false;
        let mut say = |what: String| {
            out!("{what}");
            said = true;
        };
        for p in &cgroups.removed {
            say(format!(
                "removed the cgroup {} of a dead gauntlet",
                p.display()
            ));
        }
        for id in &labs {
            say(format!("removed lab {id} of a dead gauntlet"));
        }
        if let Some(r) = &docker_removed {
            for (kind, names) in [
                ("container", &r.containers),
                ("network", &r.networks),
                ("volume", &r.volumes),
                ("image", &r.images),
            ] {
                for n in names {
                    say(format!("removed docker {kind} {n} of a dead gauntlet"));
                }
            }
        }
        for r in &runs {
            say(format!("run {r}: its gauntlet died; marked interrupted"));
        }
        for d in &data {
            say(format!("removed {}", d.display()));
        }
        if !said {
            out!("nothing to clean: no dead gauntlet left anything here");
        }
        if let Some(n) = docker_note {
            note!("gauntlet: {n}");
        }
    }
    for f in &failed {
        note!("gauntlet: could not remove {f}");
    }
    Ok(if failed.is_empty() { 0 } else { exit::CRASHED })
}

/// Sweeps the Docker Engine (`DOCKER_HOST`, or the local socket), if one
/// answers within a few seconds; `None` when none does.
fn docker_sweep() -> Result<Option<gauntlet_docker::Removed>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let engine =
            match tokio::time::timeout(Duration::from_secs(5), gauntlet_docker::Engine::connect())
                .await
            {
                Ok(Ok(engine)) => engine,
                _ => return Ok(None),
            };
        Ok(Some(gauntlet_docker::sweep_dead(&engine).await?))
    })
}
