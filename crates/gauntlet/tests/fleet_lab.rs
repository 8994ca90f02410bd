//! The fleet loop on a lab of namespaced hosts (issue 17): six hosts of
//! the network lab, two bootstrap and two test nodes on two public
//! segments and one node behind a full-cone and one behind a symmetric
//! NAT box, each running Debian's sshd in its own network namespace (one
//! host key and one client key, a `known_hosts` naming every address, so
//! host keys are checked strictly). This machine reaches the public
//! nodes at their addresses and the NATed ones at their management
//! addresses (the lab's `[management]` network), as a fleet's control
//! node does. `gauntlet nodes` sees all six; `gauntlet start` builds a
//! shell-script service, deploys it to all six through the supervisor,
//! and runs a suite on each node that connects to every other node's
//! service: every public one answers, no NATed one does (nothing reaches
//! a host behind a NAT box unasked, and the management network is no way
//! around it). Then nothing is left: no sshd, no service, no namespace.
//! Needs root (CI runs as root); skips, saying why, otherwise.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{assert_gone, gauntlet, read_json, stderr, stdout};
use gauntlet_ssh::testing::{Keys, Server, keys};
use serde_json::Value;

/// Subnets of this test's own: other lab tests run at the same time on
/// theirs, and the control link routes each lab's subnets from here.
const LAB: &str = r#"
[[segment]]
name = "eu"
subnet = "10.77.1.0/24"
[[segment]]
name = "us"
subnet = "10.77.2.0/24"
[management]
subnet = "10.77.250.0/24"
[[nat]]
name = "cone"
type = "full-cone"
outside = "eu"
[[nat]]
name = "sym"
type = "symmetric"
outside = "us"
[[host]]
name = "boot-1"
segment = "eu"
[[host]]
name = "boot-2"
segment = "us"
[[host]]
name = "test-1"
segment = "eu"
[[host]]
name = "test-2"
segment = "us"
[[host]]
name = "nat-cone"
behind = "cone"
[[host]]
name = "nat-sym"
behind = "sym"
"#;

/// The management network's addresses start so (the probe counts a peer
/// there as one behind a NAT box).
const MANAGEMENT_PREFIX: &str = "10.77.250.";

/// Where every node's service listens (each host has its own network
/// namespace, so one port serves them all).
const SERVICE_PORT: u16 = 8097;

/// Each node: its name, role, region, NAT type (as the fleet file names
/// it) and lab host.
const NODES: [(&str, &str, &str, Option<&str>); 6] = [
    ("boot-1", "bootstrap", "eu", None),
    ("boot-2", "bootstrap", "us", None),
    ("test-1", "test", "eu", None),
    ("test-2", "test", "us", None),
    ("nat-cone", "test", "eu", Some("full-cone")),
    ("nat-sym", "test", "us", Some("symmetric")),
];

/// Takes the lab down when dropped (also on a failed assert); the sshds,
/// dropped first (declared after it), are killed before.
struct Held(String);

impl Drop for Held {
    fn drop(&mut self) {
        let _ = Command::new(gauntlet())
            .args(["lab", "down", &self.0])
            .output();
    }
}

/// The project: a shell script that says it is up and serves HTTP on the
/// node's address; built by copying it, from a git work tree.
fn project(dir: &Path) {
    let repo = dir.join("app");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(
        repo.join("app.sh"),
        "#!/bin/sh\n# app NODE ADDRESS PORT DIR: serves DIR over HTTP on ADDRESS:PORT.\n\
         echo \"$1 up on $2:$3\" >&2\nexec python3 -m http.server --bind \"$2\" --directory \"$4\" \"$3\"\n",
    )
    .unwrap();
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .args(args)
            .current_dir(&repo)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "first"]);
}

/// The suite run on each node: connects to every other address's service
/// at once, then prints the share of public peers that answered and how
/// many peers behind NAT boxes did, as JSON. A public peer has 5 s (it
/// answers in milliseconds, but a lost SYN is sent again after 1 s, and
/// the machine may be busy); one behind a NAT box 1 s (on one machine,
/// what would connect does so at once), so the run stays short.
const PROBE: &str = r#"#!/bin/sh
# probe SELF PORT MANAGEMENT_PREFIX ADDRESS...
self=$1; port=$2; mgmt=$3; shift 3
out=$(mktemp -d)
for a in "$@"; do
  [ "$a" = "$self" ] && continue
  case $a in "$mgmt"*) bound=1 ;; *) bound=5 ;; esac
  ( if timeout $bound bash -c "exec 3<>/dev/tcp/$a/$port" 2>/dev/null; then echo "$a ok"; else echo "$a no"; fi ) > "$out/$a" &
done
wait
public=0; public_ok=0; nat_ok=0
for f in "$out"/*; do
  read -r a r < "$f"
  echo "$self -> $a: $r" >&2
  case $a in
    "$mgmt"*) if [ "$r" = ok ]; then nat_ok=$((nat_ok + 1)); fi ;;
    *) public=$((public + 1)); if [ "$r" = ok ]; then public_ok=$((public_ok + 1)); fi ;;
  esac
done
rm -rf "$out"
echo "{\"direct_pct\": $((100 * public_ok / public)), \"behind_nat_reached\": $nat_ok}"
"#;

fn fleet(dir: &Path, keys: &Keys, known: &Path, addresses: &[(String, String)]) -> PathBuf {
    let install = dir.join("nodes/opt/mesh/bin/mesh");
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    let probe = dir.join("probe.sh");
    std::fs::write(&probe, PROBE).unwrap();
    let mut text = format!(
        "name = \"lab\"\n\n[defaults]\nidentity = \"{}\"\nknown_hosts = \"{}\"\n\
         connect_timeout = \"5s\"\nport = 22\n",
        keys.client_key.display(),
        known.display()
    );
    for ((name, role, region, nat), (_, address)) in NODES.iter().zip(addresses) {
        text.push_str(&format!(
            "\n[[node]]\nname = \"{name}\"\naddress = \"{address}\"\nrole = \"{role}\"\nregion = \"{region}\"\n"
        ));
        if let Some(nat) = nat {
            text.push_str(&format!("nat = \"{nat}\"\n"));
        }
    }
    text.push_str(&format!(
        r#"
[[project]]
name = "mesh"
repo = "app"
build = "mkdir -p out && cp app.sh out/mesh && chmod +x out/mesh"
artifact = "out/mesh"
install = "{install}"
checkpoints = ["1s"]

[project.service]
command = ["{install}", "{{{{node}}}}", "{{{{address}}}}", "{SERVICE_PORT}", "{www}"]
[project.service.health]
tcp = "{{{{address}}}}:{SERVICE_PORT}"
timeout = "15s"

[[project.suite]]
name = "mesh"
focus = ["connectivity"]
on = "nodes"
command = "sh {probe} {{{{address}}}} {SERVICE_PORT} {MANAGEMENT_PREFIX} {{{{addresses}}}}"
timeout = "30s"
[[project.suite.figure]]
name = "direct_pct"
json = "/direct_pct"
min = 99
[[project.suite.figure]]
name = "behind_nat_reached"
json = "/behind_nat_reached"
max = 0
"#,
        install = install.display(),
        www = www.display(),
        probe = probe.display(),
    ));
    let path = dir.join("fleet.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `gauntlet ARGS` with the flags the command takes: `--fleet F` (not
/// `status`, which reads the store) and `--store DIR` (not `nodes`, which
/// keeps no record), bounded: interrupted after `bound`.
fn run(dir: &Path, fleet: &Path, args: &[&str], bound: Duration) -> Output {
    let mut command = Command::new(gauntlet());
    command.args(args);
    if args[0] != "status" {
        command.arg("--fleet").arg(fleet);
    }
    if args[0] != "nodes" {
        command.arg("--store").arg(dir.join("store"));
    }
    let mut child = command
        .env_remove("GAUNTLET_FLEET")
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + bound;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > until {
            // Its own Ctrl-C: it stops what it started on the nodes.
            // SAFETY: kill(2) on our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            let out = child.wait_with_output().unwrap();
            panic!(
                "gauntlet {args:?} ran over {bound:?}:\n{}\n{}",
                stdout(&out),
                stderr(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn shown(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    )
}

/// Live processes whose command line mentions `needle` (a path of this
/// test's: the sshds' configs, the services' directory, the lab file).
fn processes_mentioning(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| {
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            cmd.contains(needle)
                .then(|| format!("{}: {cmd}", e.file_name().to_string_lossy()))
        })
        .collect()
}

/// Live processes in any of the network namespaces `namespaces` (their
/// files under /run/netns), by the namespace's inode.
fn processes_in(namespaces: &[PathBuf]) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let inodes: Vec<String> = namespaces
        .iter()
        .filter_map(|ns| std::fs::metadata(ns).ok())
        .map(|m| format!("net:[{}]", m.ino()))
        .collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| {
            let net = std::fs::read_link(e.path().join("ns/net")).ok()?;
            inodes.contains(&net.display().to_string()).then(|| {
                let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                format!(
                    "{}: {}",
                    e.file_name().to_string_lossy(),
                    String::from_utf8_lossy(&cmd).replace('\0', " ")
                )
            })
        })
        .collect()
}

#[test]
fn the_fleet_loop_passes_on_six_namespaced_hosts_two_behind_nat() {
    if !common::lab_allowed() {
        return;
    }
    let Some(keys) = keys() else { return };
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www").display().to_string();
    let install_dir = dir.path().join("nodes").display().to_string();
    std::fs::create_dir_all(dir.path().join("store")).unwrap();
    let file = dir.path().join("lab.toml");
    std::fs::write(&file, LAB).unwrap();
    let out = Command::new(gauntlet())
        .args(["lab", "up", "--json", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", shown(&out));
    let record: Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    let id = record["id"].as_str().unwrap().to_owned();
    let held = Held(id.clone());
    assert_eq!(
        record["unrouted"].as_array().map(Vec::len),
        Some(0),
        "another lab routes this test's subnets: {record}"
    );

    // Each node's address as this machine reaches it: public hosts at
    // their own, the NATed ones at their management address.
    let hosts = record["spec"]["hosts"].as_array().unwrap();
    let addresses: Vec<(String, String)> = NODES
        .iter()
        .map(|(name, _, _, nat)| {
            let host = hosts.iter().find(|h| h["name"] == *name).unwrap();
            let address = match nat {
                None => {
                    assert!(host["management"].is_null(), "{host}");
                    host["addresses"][0].as_str().unwrap()
                }
                Some(_) => host["management"].as_str().unwrap(),
            };
            ((*name).to_owned(), address.to_owned())
        })
        .collect();
    assert!(
        addresses[4..]
            .iter()
            .all(|(_, a)| a.starts_with(MANAGEMENT_PREFIX)),
        "{addresses:?}"
    );

    // An sshd in each host's namespace, on its address, all with one
    // host key; dropped (killed) before the lab goes down.
    let servers: Vec<Server> = addresses
        .iter()
        .map(|(name, address)| {
            let ns = format!("gt-{id}-h-{name}");
            keys.serve(
                name,
                &["ip", "netns", "exec", &ns],
                address.parse().unwrap(),
                22,
                "",
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"))
        })
        .collect();
    let known = keys.known_hosts(
        "known_hosts",
        &addresses
            .iter()
            .map(|(_, a)| (a.clone(), 22))
            .collect::<Vec<_>>(),
    );
    project(dir.path());
    let fleet = fleet(dir.path(), &keys, &known, &addresses);

    // Every node reachable, with its vitals.
    let out = run(
        dir.path(),
        &fleet,
        &["nodes", "--json"],
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let reports: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reports.len(), 6, "{}", shown(&out));
    for (report, (name, address)) in reports.iter().zip(&addresses) {
        assert_eq!(report["name"], *name, "{report}");
        let reached = &report["reachable"]["reached"];
        assert_eq!(reached["address_used"], *address, "{report}");
        for figure in ["mem_total_mib", "disk_free_mib", "cpus"] {
            assert!(
                reached["vitals"][figure].as_u64().is_some(),
                "{figure}: {report}"
            );
        }
    }
    assert_eq!(reports[4]["nat"], "full-cone");
    assert_eq!(reports[5]["nat"], "symmetric");

    // The loop: setup, build, deploy, test, a checkpoint, test again.
    let out = run(
        dir.path(),
        &fleet,
        &[
            "start",
            "mesh",
            "--focus",
            "connectivity",
            "--criteria",
            "threshold",
            "--proof",
            "logs",
            "--yes",
        ],
        Duration::from_secs(120),
    );
    let said = shown(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("PASS"), "{said}");
    assert!(!said.contains("degraded"), "{said}");

    let out = run(
        dir.path(),
        &fleet,
        &["status", "--json", "--all"],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    let phases: Vec<(String, String)> = status[0]["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let names: Vec<&str> = phases.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["setup", "build-1", "deploy-1", "test-1", "wait-1", "test-2"],
        "{phases:?}"
    );
    assert!(phases.iter().all(|(_, s)| s == "passed"), "{phases:?}");
    assert_eq!(status[0]["result"], "true", "{status}");
    let run_id = status[0]["run"].as_str().unwrap().to_owned();

    // Each node's suite run saw every public peer and no NATed one.
    let run_dir = dir.path().join("store").join(&run_id);
    let results = read_json(&run_dir.join("phases/test-2/results.json"));
    let suites = results["suites"].as_array().unwrap();
    assert_eq!(suites.len(), 6, "{results}");
    for suite in suites {
        assert_eq!(suite["passed"], true, "{suite}");
    }

    // The proof bundle holds each node's service log.
    let proof = run_dir.join("proof");
    let md = std::fs::read_to_string(proof.join("PROOF.md")).unwrap();
    for ((name, address), (_, _, _, nat)) in addresses.iter().zip(NODES) {
        assert!(md.contains(name.as_str()), "{md}");
        if let Some(nat) = nat {
            assert!(md.contains(nat), "{md}");
        }
        let log = proof.join(format!("logs/mesh@{name}.log"));
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            text.contains(&format!("{name} up on {address}:{SERVICE_PORT}")),
            "{}: {text:?}",
            log.display()
        );
    }
    assert!(md.contains("mesh@nat-sym/direct_pct = 100"), "{md}");

    // Nothing is left: the loop stopped its services (they serve `www`
    // from where the deploy installed them); then the sshds and the lab go.
    let services = || {
        let mut left = processes_mentioning(&www);
        left.extend(processes_mentioning(&install_dir));
        left
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !services().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(services(), Vec::<String>::new(), "services left running");
    // Gauntlet's ssh connections ended with it: nothing here names the
    // test's keys but the six servers.
    let keys_dir = keys.dir.path().display().to_string();
    let clients = || {
        processes_mentioning(&keys_dir)
            .into_iter()
            .filter(|p| !p.contains(".sshd_config"))
            .collect::<Vec<_>>()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !clients().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(clients(), Vec::<String>::new(), "ssh clients left running");
    // Without its servers, nothing lives in any host: no session, no
    // service, before the lab's own teardown kills what is left. (The
    // servers are seen there while they run: the look works.)
    let namespaces: Vec<PathBuf> = NODES
        .iter()
        .map(|(name, ..)| PathBuf::from(format!("/run/netns/gt-{id}-h-{name}")))
        .collect();
    assert!(
        processes_in(&namespaces).len() >= 6,
        "{:?}",
        processes_in(&namespaces)
    );
    drop(servers);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_in(&namespaces).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        processes_in(&namespaces),
        Vec::<String>::new(),
        "left running in the lab's hosts"
    );
    drop(held);
    assert_gone(&id);
    assert_eq!(
        processes_mentioning(file.to_str().unwrap()),
        Vec::<String>::new(),
        "the lab's owner left running"
    );
}
