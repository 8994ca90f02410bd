//! The fleet's commands: the nodes of a `fleet.toml`, reached over SSH.
//! `gauntlet nodes` looks at every node (reached or not, load, memory,
//! disk, the projects' services); `gauntlet diagnose NODE` looks closer at
//! one. The looking is gauntlet-pipeline's (`fleet::survey`,
//! `fleet::diagnose`); this module loads the fleet file and prints.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use gauntlet_pipeline::fleet::diagnose::{Diagnosis, diagnose};
use gauntlet_pipeline::fleet::survey::{NodeReport, PARALLEL, Reached, survey};
use gauntlet_plan::{Fleet, FleetNode};
use serde_json::json;

use crate::cli::{JsonArg, SetArgs};
use crate::exit::{self, Failure};
use crate::out::out;

/// The fleet file when neither `--fleet` nor `GAUNTLET_FLEET` names one.
const DEFAULT_FLEET: &str = "fleet.toml";

/// `--fleet`, for every fleet command.
#[derive(Debug, Clone, Args)]
pub struct FleetArg {
    /// The fleet file: its nodes, how to reach them over SSH, its projects
    /// (docs/fleet.md) [env: GAUNTLET_FLEET] [default: ./fleet.toml]
    #[arg(
        long = "fleet",
        value_name = "FILE",
        env = "GAUNTLET_FLEET",
        hide_env = true
    )]
    pub path: Option<PathBuf>,
    #[command(flatten)]
    pub sets: SetArgs,
}

impl FleetArg {
    /// Loads the fleet file; a missing or bad one is a bad argument (254)
    /// that names the file and how to name another.
    pub(crate) fn load(&self) -> Result<Fleet> {
        let (path, whence) = match &self.path {
            Some(path) => (path.clone(), "given by --fleet or GAUNTLET_FLEET"),
            None => (PathBuf::from(DEFAULT_FLEET), "the default"),
        };
        if !path.exists() {
            return Err(Failure::bad_args(format!(
                "no fleet file at {} ({whence}): name one with --fleet FILE, or set \
                 GAUNTLET_FLEET=FILE (docs/fleet.md has the format)",
                path.display()
            )));
        }
        let sets = crate::cmd_run::parse_sets(&self.sets.values)?;
        gauntlet_plan::load_fleet(&path, &sets).map_err(crate::cmd_run::plan_error)
    }
}

// ---------------------------------------------------------------- nodes

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    gauntlet nodes                              # the nodes of ./fleet.toml\n  \
    gauntlet nodes --fleet fleets/p2p.toml --role bootstrap\n  \
    GAUNTLET_FLEET=fleets/p2p.toml gauntlet nodes --json\n\n\
    Each node is reached over SSH as the fleet file says (host keys are always checked: a node\n\
    whose key is unknown is unreachable, with how to accept the key). Columns: LOAD is the\n\
    1-minute load average, MEM available/total memory, DISK the root file system's free space,\n\
    SERVICE each project's state on the node (systemd's word; `unknown` for a service gauntlet\n\
    supervises). Exit codes: 0 every node reached, 1 some node unreachable, 254 a missing or bad\n\
    fleet file, 255 gauntlet could not look.")]
pub struct NodesArgs {
    #[command(flatten)]
    pub fleet: FleetArg,
    /// Only the nodes of this role (bootstrap, test, monitor, ...).
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,
    #[command(flatten)]
    pub json: JsonArg,
}

/// `gauntlet nodes`.
pub fn nodes(args: NodesArgs) -> Result<u8> {
    let fleet = args.fleet.load()?;
    let chosen: Vec<&FleetNode> = fleet
        .nodes
        .iter()
        .filter(|n| args.role.as_ref().is_none_or(|r| n.role == *r))
        .collect();
    if let (Some(role), true) = (&args.role, chosen.is_empty()) {
        let mut roles: Vec<&str> = fleet.nodes.iter().map(|n| n.role.as_str()).collect();
        roles.sort_unstable();
        roles.dedup();
        return Err(Failure::bad_args(format!(
            "no node of {} has the role {role}; its roles: {}",
            fleet.path.display(),
            roles.join(", ")
        )));
    }
    let reports = crate::cmd_run::runtime()?.block_on(survey(&fleet, &chosen, PARALLEL));
    if args.json.on {
        out!("{}", serde_json::to_string(&reports)?);
    } else {
        print_nodes(&reports);
    }
    Ok(if reports.iter().all(NodeReport::is_reachable) {
        0
    } else {
        exit::UNREACHABLE
    })
}

fn print_nodes(reports: &[NodeReport]) {
    let header = [
        "NODE",
        "ROLE",
        "REGION",
        "NAT",
        "REACHABLE",
        "LOAD",
        "MEM(avail/total)",
        "DISK(free)",
        "SERVICE",
    ];
    let rows: Vec<[String; 9]> = reports.iter().map(row).collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<w$}  "));
            }
        }
        text.trim_end().to_owned()
    };
    out!("{}", line(&header.map(str::to_owned)));
    for row in &rows {
        out!("{}", line(row));
    }
    // Why, below the table: a reason is a sentence, not a cell.
    let mut said_header = false;
    for report in reports {
        let why = match &report.reachable {
            Err(why) => short_reason(&report.name, why),
            Ok(Reached {
                vitals_error: Some(why),
                ..
            }) => format!("reached, but its figures could not be read: {why}"),
            Ok(_) => continue,
        };
        if !said_header {
            out!();
            said_header = true;
        }
        out!("{}: {why}", report.name);
    }
}

fn row(report: &NodeReport) -> [String; 9] {
    let dash = || "-".to_owned();
    let (reachable, load, mem, disk, service) = match &report.reachable {
        Err(_) => ("no".to_owned(), dash(), dash(), dash(), dash()),
        Ok(reached) => {
            let v = &reached.vitals;
            let reachable = if reached.fallback {
                format!("yes (fallback {})", reached.address_used)
            } else {
                "yes".to_owned()
            };
            let load = v
                .load_avg
                .map_or_else(|| "?".to_owned(), |l| format!("{:.2}", l[0]));
            let mem = format!(
                "{}/{}",
                mib_or_unknown(v.mem_available_mib),
                mib_or_unknown(v.mem_total_mib)
            );
            let disk = mib_or_unknown(v.disk_free_mib);
            let service = if reached.services.is_empty() {
                dash()
            } else {
                reached
                    .services
                    .iter()
                    .map(|s| format!("{}={}", s.project, s.state))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            (reachable, load, mem, disk, service)
        }
    };
    [
        report.name.clone(),
        report.role.clone(),
        report.region.clone().unwrap_or_else(dash),
        report.nat.clone(),
        reachable,
        load,
        mem,
        disk,
        service,
    ]
}

/// `812M`, `7.8G`, `1.2T`; `?` for a figure the node did not give.
fn mib_or_unknown(mib: Option<u64>) -> String {
    let Some(mib) = mib else {
        return "?".to_owned();
    };
    // Precision is not the point of a table cell; the JSON has the MiB.
    #[allow(clippy::cast_precision_loss, reason = "a rounded figure for a table")]
    let m = mib as f64;
    if mib < 1024 {
        format!("{mib}M")
    } else if m < 1024.0 * 1024.0 {
        format!("{:.1}G", m / 1024.0)
    } else {
        format!("{:.1}T", m / (1024.0 * 1024.0))
    }
}

/// The connection error without the "cannot connect to host NAME: " the
/// line's own NAME already says.
fn short_reason(name: &str, why: &str) -> String {
    let prefix = format!("cannot connect to host {name}: ");
    why.strip_prefix(&prefix).unwrap_or(why).to_owned()
}

// ------------------------------------------------------------- diagnose

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    gauntlet diagnose saorsa-4\n  \
    gauntlet diagnose saorsa-4 --fleet fleets/p2p.toml --json\n\n\
    Sections: each project's service (systemctl status) and recent logs (journalctl, the last 50\n\
    lines) for systemd projects, the system (uname, uptime), disk (df -h), memory (free -m),\n\
    listening sockets (ss -ltnup) and established connections (ss -tnp); where ss is missing,\n\
    the kernel's /proc/net tables. Each is one command with a 15 s bound; one that fails says so\n\
    in its section. Exit codes: 0 looked, 1 the node is unreachable, 254 an unknown node or a\n\
    missing or bad fleet file, 255 gauntlet could not look.")]
pub struct DiagnoseArgs {
    /// The node's name in the fleet file.
    pub node: String,
    #[command(flatten)]
    pub fleet: FleetArg,
    #[command(flatten)]
    pub json: JsonArg,
}

/// `gauntlet diagnose NODE`.
pub fn diagnose_node(args: DiagnoseArgs) -> Result<u8> {
    let fleet = args.fleet.load()?;
    let Some(node) = fleet.node(&args.node) else {
        let names: Vec<&str> = fleet.nodes.iter().map(|n| n.name.as_str()).collect();
        return Err(Failure::bad_args(format!(
            "no node {} in {}; its nodes: {}",
            args.node,
            fleet.path.display(),
            names.join(", ")
        )));
    };
    match crate::cmd_run::runtime()?.block_on(diagnose(node, &fleet)) {
        Ok(diagnosis) => {
            if args.json.on {
                out!("{}", serde_json::to_string(&diagnosis)?);
            } else {
                print_diagnosis(&diagnosis);
            }
            Ok(0)
        }
        Err(e) => {
            // The node's own failure, not gauntlet's: said as the result.
            if args.json.on {
                out!(
                    "{}",
                    json!({ "node": node.name, "unreachable": e.to_string() })
                );
            } else {
                out!(
                    "{}: unreachable: {}",
                    node.name,
                    short_reason(&node.name, &e.to_string())
                );
            }
            Ok(exit::UNREACHABLE)
        }
    }
}

fn print_diagnosis(d: &Diagnosis) {
    out!("{} (reached at {})", d.node, d.address_used);
    for s in &d.sections {
        out!();
        if s.command.is_empty() {
            out!("== {}", s.heading);
        } else {
            out!("== {}: {}", s.heading, s.command);
        }
        let text = s.text.trim_end();
        if !text.is_empty() {
            out!("{text}");
        }
        if let Some(exit) = &s.exit {
            out!("({exit})");
        }
        if let Some(failure) = &s.failure {
            out!("(failed: {failure})");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_at_a_glance() {
        assert_eq!(mib_or_unknown(None), "?");
        assert_eq!(mib_or_unknown(Some(812)), "812M");
        assert_eq!(mib_or_unknown(Some(7987)), "7.8G");
        assert_eq!(mib_or_unknown(Some(3 << 20)), "3.0T");
    }

    #[test]
    fn the_reason_drops_what_the_line_already_says() {
        assert_eq!(
            short_reason("db1", "cannot connect to host db1: 10.0.0.1: refused"),
            "10.0.0.1: refused"
        );
        assert_eq!(short_reason("db1", "other words"), "other words");
    }

    #[test]
    fn a_missing_fleet_file_names_itself_and_the_way_out() {
        let arg = FleetArg {
            path: Some(PathBuf::from("/nonexistent/fleet.toml")),
            sets: SetArgs { values: vec![] },
        };
        let e = arg.load().unwrap_err();
        assert_eq!(exit::code_for(&e), exit::BAD_ARGS);
        let text = e.to_string();
        assert!(text.contains("/nonexistent/fleet.toml"), "{text}");
        assert!(
            text.contains("--fleet") && text.contains("GAUNTLET_FLEET"),
            "{text}"
        );
    }
}
