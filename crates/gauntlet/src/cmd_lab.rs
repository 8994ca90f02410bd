//! `gauntlet lab up | exec | status | down | clean`: the network lab by
//! hand.
//!
//! `lab up` builds the lab in a detached owner process (`lab up
//! --foreground` run in its own session), which holds it until `lab down`
//! sends it SIGTERM; the command itself returns once the lab is up, so the
//! next line of a script can `lab exec` into it. A SIGKILLed owner leaves
//! its lab to `lab clean` (and to the next lab or run, which sweep first).

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use gauntlet_lab::state::{self, Found, LabRecord};
use gauntlet_lab::{Lab, LabError, LabOptions};
use gauntlet_plan::{HostPlace, LabSpec};

use crate::exit::{self, Failure};
use crate::out::{note, out};

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    gauntlet lab up lab.toml                 # build it; prints hosts, addresses, NAT types\n  \
    gauntlet lab exec peer-behind-nat -- ./my-node --bootstrap 10.80.1.2:9000\n  \
    gauntlet lab status --json\n  \
    gauntlet lab down                        # the only lab, or: gauntlet lab down 3fa91c\n  \
    gauntlet lab clean                       # remove labs whose owner died (SIGKILL, crash)\n\n\
    The lab file's tables ([[segment]], [[link]], [[nat]], [[host]]) are described in docs/lab.md.\n\
    Everything runs as root: the lab is network namespaces, veth pairs, bridges and nftables.")]
pub struct LabArgs {
    #[command(subcommand)]
    pub command: LabCommand,
}

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Build a lab from a lab file (or a plan's lab tables) and keep it up until `lab down`.
    Up(UpArgs),
    /// Run a command inside a lab host (its addresses, routes and NAT).
    Exec(ExecArgs),
    /// List the labs on this machine: hosts, addresses, NAT types, owner.
    Status(StatusArgs),
    /// Take a lab down: stop what runs in it and remove everything it made.
    Down(DownArgs),
    /// Remove what labs whose owner died left behind, and nothing else.
    Clean,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// The lab file (or a plan with lab tables).
    pub file: PathBuf,
    /// Stay in the foreground and hold the lab until Ctrl-C or SIGTERM.
    #[arg(long)]
    pub foreground: bool,
    /// Seed of the links' loss and jitter streams.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print the lab as JSON (its record: id, hosts, addresses).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The host to run in.
    pub host: String,
    /// Which lab, when several are up (the id `lab status` shows).
    #[arg(long)]
    pub lab: Option<String>,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// One JSON object per line per lab.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// The lab's id; may be left out when one lab is up.
    pub id: Option<String>,
    /// Every lab on this machine.
    #[arg(long, conflicts_with = "id")]
    pub all: bool,
}

pub fn run(args: LabArgs) -> Result<u8> {
    match args.command {
        LabCommand::Up(up) if up.foreground => up_foreground(&up),
        LabCommand::Up(up) => up_detached(&up),
        LabCommand::Exec(exec) => exec_in(&exec),
        LabCommand::Status(status) => show_status(&status),
        LabCommand::Down(down) => take_down(&down),
        LabCommand::Clean => clean(),
    }
}

/// Bad input (the file, a name) is 254; the machine refusing is 255.
pub fn lab_failure(e: LabError) -> anyhow::Error {
    match e {
        LabError::NotRoot
        | LabError::MissingTool { .. }
        | LabError::UnknownHost { .. }
        | LabError::NotFound(_) => Failure::bad_args(e.to_string()),
        other => anyhow::Error::new(other),
    }
}

fn load(file: &Path) -> Result<LabSpec> {
    gauntlet_plan::load_lab(file).map_err(|e| Failure::bad_args(e.to_string()))
}

const READY: &str = "gauntlet-lab-ready";

fn up_foreground(args: &UpArgs) -> Result<u8> {
    let spec = load(&args.file)?;
    // Blocked before any thread starts, so every thread inherits the mask
    // and the signals wait for `wait` below instead of killing us with the
    // lab up.
    let signals = stop_signals();
    signals
        .thread_block()
        .context("cannot block SIGINT/SIGTERM")?;
    let mut lab = Lab::up(
        &spec,
        &LabOptions {
            seed: args.seed,
            source: std::path::absolute(&args.file).ok(),
        },
    )
    .map_err(lab_failure)?;
    print_lab(lab.record(), args.json, Some(lab.build_time));
    out!("{READY} {}", lab.id());
    let signal = signals.wait().context("waiting for a signal")?;
    note!("lab {}: {signal}, taking it down", lab.id());
    lab.down().map_err(lab_failure)?;
    Ok(exit::VALID)
}

fn stop_signals() -> nix::sys::signal::SigSet {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGHUP);
    set
}

/// Starts the owner in its own session and relays what it prints until the
/// lab is up.
fn up_detached(args: &UpArgs) -> Result<u8> {
    // Checked here too, so a bad file fails with its own message and code.
    load(&args.file)?;
    let exe = std::env::current_exe().context("cannot find the gauntlet binary")?;
    let mut command = Command::new(exe);
    command
        .args([
            "lab",
            "up",
            "--foreground",
            "--seed",
            &args.seed.to_string(),
        ])
        .args(args.json.then_some("--json"))
        .arg(&args.file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setsid is async-signal-safe. A session of its own: Ctrl-C in
    // this terminal, or the terminal closing, does not reach the owner.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .context("cannot start the lab's owner process")?;
    let stdout = BufReader::new(child.stdout.take().expect("piped"));
    let stderr = child.stderr.take().expect("piped");
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text);
        text
    });
    for line in stdout.lines() {
        let Ok(line) = line else { break };
        if let Some(id) = line.strip_prefix(READY) {
            if !args.json {
                out!("lab{id} is up; `gauntlet lab down{id}` takes it down");
            }
            // The owner's stderr stays open for its life: do not wait for
            // the relay thread.
            return Ok(exit::VALID);
        }
        out!("{line}");
    }
    let status = child.wait().context("waiting for the lab's owner")?;
    let text = errors.join().unwrap_or_default();
    let message = text.trim().trim_start_matches("gauntlet: ").to_owned();
    let code = status
        .code()
        .and_then(|c| u8::try_from(c).ok())
        .unwrap_or(exit::CRASHED);
    Err(Failure {
        code,
        message: if message.is_empty() {
            format!("the lab's owner ended ({status}) before the lab was up")
        } else {
            message
        },
    }
    .into())
}

fn print_lab(record: &LabRecord, json: bool, took: Option<Duration>) {
    if json {
        out!(
            "{}",
            serde_json::to_string(record).expect("a record serializes")
        );
        return;
    }
    let spec = &record.spec;
    let took = took
        .map(|t| format!(" in {} ms", t.as_millis()))
        .unwrap_or_default();
    out!(
        "lab {}: {} hosts, {} segments, {} NAT boxes{took}",
        record.id,
        spec.hosts.len(),
        spec.segments.len(),
        spec.nats.len()
    );
    for seg in &spec.segments {
        out!(
            "  segment {:<12} {}  router {}",
            seg.name,
            seg.subnet,
            seg.router
        );
    }
    for link in &spec.links {
        let s = &link.shape;
        let mut parts = Vec::new();
        if !s.latency.is_zero() || !s.jitter.is_zero() {
            parts.push(format!("latency {:?} ± {:?}", s.latency, s.jitter));
        }
        if s.loss_percent > 0.0 {
            parts.push(format!("loss {}%", s.loss_percent));
        }
        if let Some(b) = s.bandwidth_bits_per_sec {
            parts.push(format!("{} kbit/s", b / 1000));
        }
        if parts.is_empty() {
            parts.push("unshaped".into());
        }
        out!(
            "  link    {} <-> {}  {}",
            link.between[0],
            link.between[1],
            parts.join(", ")
        );
    }
    for nat in &spec.nats {
        out!(
            "  nat     {:<12} {:<18} public {} on {}, inside {}, mapping timeout {}s, hairpin {}",
            nat.name,
            nat.kind.name(),
            nat.outside_addr,
            nat.outside,
            nat.inside,
            nat.mapping_timeout.as_secs(),
            if nat.hairpin { "on" } else { "off" }
        );
    }
    if let Some(m) = &spec.management {
        out!(
            "  management {}  router {} (this machine reaches the hosts behind NAT boxes here)",
            m.subnet,
            m.router
        );
    }
    if !record.unrouted.is_empty() {
        out!(
            "  note    this machine already routes the subnets of {}: no route from here to them (lab exec still works)",
            record.unrouted.join(", ")
        );
    }
    for host in &spec.hosts {
        let addrs: Vec<String> = host.addresses.iter().map(ToString::to_string).collect();
        let management = host
            .management
            .map(|a| format!(", management {a}"))
            .unwrap_or_default();
        let place = match &host.place {
            HostPlace::Segment(s) => format!("on {s}"),
            HostPlace::Behind(n) => {
                let nat = spec
                    .nat(n)
                    .expect("a loaded lab's host is behind a known NAT");
                format!(
                    "behind {n} ({}, public {})",
                    nat.kind.name(),
                    nat.outside_addr
                )
            }
        };
        out!(
            "  host    {:<16} {:<24} {place}{management}",
            host.name,
            addrs.join(", ")
        );
    }
}

/// The lab a command means: `id`, or the only live one.
fn pick(id: Option<&str>) -> Result<Found> {
    let labs: Vec<Found> = state::list().into_iter().filter(|f| f.alive).collect();
    match id {
        Some(id) => labs.into_iter().find(|f| f.record.id == id).ok_or_else(|| {
            Failure::bad_args(format!(
                "no lab {id:?} is up (`gauntlet lab status` lists them)"
            ))
        }),
        None => match labs.len() {
            0 => Err(Failure::bad_args(
                "no lab is up: start one with `gauntlet lab up lab.toml`",
            )),
            1 => Ok(labs.into_iter().next().expect("one")),
            _ => Err(Failure::bad_args(format!(
                "{} labs are up ({}): say which with --lab ID",
                labs.len(),
                labs.iter()
                    .map(|f| f.record.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        },
    }
}

fn exec_in(args: &ExecArgs) -> Result<u8> {
    let found = pick(args.lab.as_deref())?;
    let ns = gauntlet_lab::namespace_of(&found.record, &args.host).map_err(lab_failure)?;
    // Only this thread moves, and it is about to exec, which makes its
    // namespace the process's.
    gauntlet_lab::netns::enter(&gauntlet_lab::sys::netns_path(&ns))
        .with_context(|| format!("cannot enter host {}", args.host))?;
    let error = Command::new(&args.command[0])
        .args(&args.command[1..])
        .exec();
    bail!(Failure {
        code: exit::BAD_ARGS,
        message: format!(
            "cannot run {:?} in host {}: {error}",
            args.command[0], args.host
        ),
    })
}

fn show_status(args: &StatusArgs) -> Result<u8> {
    let labs = state::list();
    if labs.is_empty() && !args.json {
        out!("no labs on this machine");
    }
    for found in labs {
        if args.json {
            let mut value = serde_json::to_value(&found.record).expect("a record serializes");
            value["alive"] = serde_json::Value::Bool(found.alive);
            out!("{value}");
        } else {
            print_lab(&found.record, false, None);
            let owner = if found.alive {
                format!("up, owned by pid {}", found.record.owner_pid)
            } else {
                "its owner died: `gauntlet lab clean` removes it".to_owned()
            };
            out!("  state   {owner}");
        }
    }
    Ok(exit::VALID)
}

fn take_down(args: &DownArgs) -> Result<u8> {
    let targets: Vec<Found> = if args.all {
        state::list().into_iter().filter(|f| f.alive).collect()
    } else {
        vec![pick(args.id.as_deref())?]
    };
    for found in &targets {
        let id = &found.record.id;
        // SAFETY: kill(2); the pid holds the lab's lock, so it is the owner.
        unsafe { libc::kill(found.record.owner_pid as i32, libc::SIGTERM) };
        let dir = state::lab_dir(&gauntlet_lab::LabId::parse(id).expect("listed ids parse"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while dir.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if dir.exists() {
            bail!(
                "lab {id}: its owner (pid {}) did not take it down within 20 s",
                found.record.owner_pid
            );
        }
        out!("lab {id} is down");
    }
    // A lab whose owner died is not "up", but `down` should not leave it.
    let swept = state::sweep_dead().map_err(lab_failure)?;
    for id in swept.labs {
        out!("lab {id} (owner dead) removed");
    }
    Ok(exit::VALID)
}

fn clean() -> Result<u8> {
    let swept = state::sweep_dead().map_err(lab_failure)?;
    if swept.labs.is_empty() {
        out!("nothing to clean");
    } else {
        out!(
            "removed {} lab(s) of dead owners ({}): {} namespaces, {} processes",
            swept.labs.len(),
            swept.labs.join(", "),
            swept.namespaces,
            swept.processes
        );
    }
    Ok(exit::VALID)
}
