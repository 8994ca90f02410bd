//! `gauntlet nodes` and `gauntlet diagnose` against a real OpenSSH server
//! on loopback (gauntlet-ssh's `testing` harness): two nodes on the test
//! sshd, one at a port nothing answers, one whose host key nobody
//! accepted. The ssh tests skip, saying why on stderr, where no sshd can
//! run (not root, no openssh-server); the fleet file's own errors need no
//! server.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::gauntlet;
use gauntlet_ssh::testing::{Sshd, closed_port, sshd, sshd_with};
use serde_json::Value;

/// A fleet file in `dir`: `alpha` and `beta` on the test sshd (alpha runs
/// a systemd project), `gone` at a closed port, and `extra` as it is.
fn write_fleet(dir: &Path, sshd: &Sshd, extra: &str) -> PathBuf {
    let path = dir.join("fleet.toml");
    let text = format!(
        r#"name = "loopback"

[defaults]
identity = "{key}"
known_hosts = "{known}"
connect_timeout = "3s"

[[node]]
name = "alpha"
address = "127.0.0.1"
port = {port}
role = "bootstrap"
region = "eu-west"

[[node]]
name = "beta"
address = "127.0.0.1"
port = {port}
nat = "symmetric"

[[node]]
name = "gone"
address = "127.0.0.1"
port = {closed}
connect_timeout = "1s"
{extra}
[[project]]
name = "api"
repo = "."
build = "true"
artifact = "api"
install = "/opt/gauntlet-test/api"
nodes = ["alpha"]
[project.service]
systemd = "gauntlet-test-nosuch.service"
"#,
        key = sshd.client_key.display(),
        known = sshd.known_hosts.display(),
        port = sshd.port,
        closed = closed_port(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn run(args: &[&str], fleet: Option<&Path>) -> Output {
    let mut cmd = Command::new(gauntlet());
    cmd.args(args).env_remove("GAUNTLET_FLEET");
    if let Some(fleet) = fleet {
        cmd.arg("--fleet").arg(fleet);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn nodes_shows_who_answered_with_their_figures_and_why_the_others_did_not() {
    let Some(sshd) = sshd() else { return };
    let dir = tempfile::tempdir().unwrap();
    let fleet = write_fleet(dir.path(), &sshd, "");
    let out = run(&["nodes"], Some(&fleet));
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "one node is unreachable\n{stdout}\n{stderr}\nsshd: {}",
        sshd.log()
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("NODE")
            && lines[0].contains("REACHABLE")
            && lines[0].contains("MEM(avail/total)")
            && lines[0].contains("DISK(free)")
            && lines[0].contains("SERVICE"),
        "{stdout}"
    );
    let row = |name: &str| {
        *lines
            .iter()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{stdout}"))
    };
    for name in ["alpha", "beta"] {
        let cells: Vec<&str> = row(name).split_whitespace().collect();
        // NODE ROLE REGION NAT REACHABLE LOAD MEM DISK SERVICE
        assert_eq!(cells[4], "yes", "{stdout}");
        assert!(cells[5].parse::<f64>().is_ok(), "a load figure: {stdout}");
        let (avail, total) = cells[6].split_once('/').unwrap();
        for figure in [avail, total, cells[7]] {
            assert!(
                figure.ends_with(['M', 'G', 'T'])
                    && figure[..figure.len() - 1].parse::<f64>().is_ok(),
                "a size, not {figure}: {stdout}"
            );
        }
    }
    let alpha: Vec<&str> = row("alpha").split_whitespace().collect();
    assert_eq!(&alpha[1..4], ["bootstrap", "eu-west", "public"]);
    assert!(alpha[8].starts_with("api="), "alpha runs api: {stdout}");
    let beta: Vec<&str> = row("beta").split_whitespace().collect();
    assert_eq!(&beta[1..4], ["test", "-", "symmetric"]);
    assert_eq!(beta[8], "-", "beta runs no project: {stdout}");
    let gone: Vec<&str> = row("gone").split_whitespace().collect();
    assert_eq!(gone[4], "no", "{stdout}");
    // The reason, below the table, in the node's name.
    let reason = lines
        .iter()
        .find(|l| l.starts_with("gone: "))
        .unwrap_or_else(|| panic!("no reason for gone:\n{stdout}"));
    assert!(reason.contains("127.0.0.1"), "{reason}");
    assert!(
        !stdout.contains("alpha: ") && !stdout.contains("beta: "),
        "reached nodes need no reason: {stdout}"
    );
}

#[test]
fn nodes_json_has_the_reports_with_numbers() {
    let Some(sshd) = sshd() else { return };
    let dir = tempfile::tempdir().unwrap();
    let fleet = write_fleet(dir.path(), &sshd, "");
    let out = run(&["nodes", "--json"], Some(&fleet));
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let reports: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    let names: Vec<&str> = reports
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "beta", "gone"], "in the file's order");
    for report in &reports[..2] {
        let reached = &report["reachable"]["reached"];
        assert_eq!(reached["address_used"], "127.0.0.1", "{report}");
        let vitals = &reached["vitals"];
        for figure in [
            "mem_total_mib",
            "mem_available_mib",
            "disk_free_mib",
            "cpus",
        ] {
            assert!(vitals[figure].as_u64().is_some(), "{figure}: {report}");
        }
        assert_eq!(
            vitals["load_avg"].as_array().map(Vec::len),
            Some(3),
            "{report}"
        );
    }
    let api = &reports[0]["reachable"]["reached"]["services"][0];
    assert_eq!(api["project"], "api");
    assert_eq!(api["control"], "systemd");
    assert!(
        api["state"].as_str().is_some_and(|s| !s.is_empty()),
        "{api}"
    );
    assert_eq!(reports[1]["nat"], "symmetric");
    let why = reports[2]["reachable"]["unreachable"].as_str().unwrap();
    assert!(why.contains("gone") && why.contains("127.0.0.1"), "{why}");

    // --role picks the nodes: the bootstrap node alone is reachable.
    let out = run(&["nodes", "--json", "--role", "bootstrap"], Some(&fleet));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let reports: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["name"], "alpha");
    let out = run(&["nodes", "--role", "nosuch"], Some(&fleet));
    assert_eq!(out.status.code(), Some(254));
    assert!(text(&out).1.contains("bootstrap, test"), "{}", text(&out).1);
}

#[test]
fn a_node_whose_host_key_is_unknown_is_unreachable_never_connected_silently() {
    let Some(sshd) = sshd() else { return };
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let stranger = format!(
        "\n[[node]]\nname = \"stranger\"\naddress = \"127.0.0.1\"\nport = {}\nknown_hosts = \"{}\"\n",
        sshd.port,
        empty.display()
    );
    let fleet = write_fleet(dir.path(), &sshd, &stranger);
    let out = run(&["nodes", "--json"], Some(&fleet));
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let reports: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    let stranger = reports.iter().find(|r| r["name"] == "stranger").unwrap();
    let why = stranger["reachable"]["unreachable"]
        .as_str()
        .unwrap_or_else(|| panic!("connected to a host whose key nobody accepted: {stranger}"));
    assert!(why.contains("host key"), "{why}");
    assert!(why.contains("ssh-keyscan"), "says how to accept it: {why}");
    assert!(
        std::fs::read_to_string(&empty).unwrap().is_empty(),
        "the key was not accepted behind the user's back"
    );
    // The table says it too, below.
    let out = run(&["nodes"], Some(&fleet));
    let (stdout, _) = text(&out);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("stranger: "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains("host key"), "{line}");
}

#[test]
fn diagnose_prints_each_section_of_a_reachable_node() {
    let Some(sshd) = sshd() else { return };
    let dir = tempfile::tempdir().unwrap();
    let fleet = write_fleet(dir.path(), &sshd, "");
    let out = run(&["diagnose", "alpha"], Some(&fleet));
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("alpha (reached at 127.0.0.1)"),
        "{stdout}"
    );
    for heading in [
        "== service api: systemctl status 'gauntlet-test-nosuch.service' --no-pager",
        "== logs api: journalctl -u 'gauntlet-test-nosuch.service' -n 50 --no-pager",
        "== system: ",
        "== disk: df -h",
        "== memory: ",
        "== listening: ",
        "== connections: ",
    ] {
        assert!(stdout.contains(heading), "no {heading:?}:\n{stdout}");
    }
    // Sections in order; each section's text is what follows its heading.
    let section = |name: &str| -> &str {
        let start = stdout
            .find(&format!("== {name}: "))
            .unwrap_or_else(|| panic!("{name}"));
        let rest = &stdout[start..];
        &rest[..rest[3..].find("\n== ").map_or(rest.len(), |i| i + 3)]
    };
    assert!(section("disk").contains("Filesystem"), "{stdout}");
    assert!(
        section("memory").contains("Mem") || section("memory").contains("MemTotal"),
        "{stdout}"
    );
    let port = format!(":{}", sshd.port);
    assert!(
        section("listening").contains(&port),
        "the sshd's port {port} listens:\n{stdout}"
    );
    assert!(
        section("connections").contains(&port),
        "our own connection to {port}:\n{stdout}"
    );

    let out = run(&["diagnose", "alpha", "--json"], Some(&fleet));
    assert_eq!(out.status.code(), Some(0));
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["node"], "alpha");
    let headings: Vec<&str> = d["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["heading"].as_str().unwrap())
        .collect();
    assert_eq!(
        headings,
        [
            "service api",
            "logs api",
            "system",
            "disk",
            "memory",
            "listening",
            "connections"
        ]
    );
}

#[test]
fn diagnose_reads_the_kernels_socket_tables_where_ss_is_missing() {
    // The "host"'s sessions get a PATH with every program of this machine
    // but `ss` (a minimal image).
    let bin = tempfile::tempdir().unwrap();
    for dir in ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin"] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let link = bin.path().join(entry.file_name());
            if entry.file_name() != "ss" && !link.exists() {
                std::os::unix::fs::symlink(entry.path(), link).unwrap();
            }
        }
    }
    let Some(sshd) = sshd_with(&format!("SetEnv PATH={}", bin.path().display())) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let fleet = write_fleet(dir.path(), &sshd, "");
    let out = run(&["diagnose", "beta", "--json"], Some(&fleet));
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let d: Value = serde_json::from_str(&stdout).unwrap();
    let section = |name: &str| {
        d["sections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["heading"] == name)
            .unwrap_or_else(|| panic!("no {name}: {d}"))["text"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let listening = section("listening");
    assert!(listening.starts_with("(ss is missing"), "{listening}");
    assert!(
        listening.contains(&format!("tcp 127.0.0.1:{}\n", sshd.port)),
        "the sshd's port, decoded: {listening}"
    );
    let connections = section("connections");
    assert!(
        connections.contains(&format!("tcp 127.0.0.1:{} <- 127.0.0.1:", sshd.port)),
        "our own connection, decoded: {connections}"
    );
}

#[test]
fn silent_nodes_are_given_up_on_in_time_and_together() {
    let Some(sshd) = sshd() else { return };
    // A port that accepts connections and never says a word (a wedged
    // host), held open by the test.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let silent: String = (1..=4)
        .map(|i| {
            format!(
                "\n[[node]]\nname = \"silent{i}\"\naddress = \"127.0.0.1\"\nport = {port}\n\
                 connect_timeout = \"2s\"\nrole = \"wedged\"\n"
            )
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let fleet = write_fleet(dir.path(), &sshd, &silent);
    let started = std::time::Instant::now();
    let out = run(&["nodes", "--json", "--role", "wedged"], Some(&fleet));
    let took = started.elapsed();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let reports: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(reports.len(), 4);
    for r in &reports {
        assert!(r["reachable"]["unreachable"].is_string(), "{r}");
    }
    // Each gives up after its 2 s (ssh's, or gauntlet's bound on the
    // whole connect); one after another they would take 8 s.
    assert!(
        took < std::time::Duration::from_secs(7),
        "took {took:?}: {stdout}"
    );
}

#[test]
fn diagnose_an_unreachable_node_says_why_and_exits_1() {
    let Some(sshd) = sshd() else { return };
    let dir = tempfile::tempdir().unwrap();
    let fleet = write_fleet(dir.path(), &sshd, "");
    let out = run(&["diagnose", "gone"], Some(&fleet));
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("gone: unreachable: "), "{stdout}");
}

/// A fleet file that needs no server: what `diagnose` says of a name the
/// file does not have.
fn plain_fleet(dir: &Path) -> PathBuf {
    let path = dir.join("fleet.toml");
    std::fs::write(
        &path,
        "[[node]]\nname = \"db1\"\naddress = \"10.0.0.11\"\n\n\
         [[node]]\nname = \"db2\"\naddress = \"10.0.0.12\"\n",
    )
    .unwrap();
    path
}

#[test]
fn diagnose_an_unknown_node_names_the_file_and_its_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = plain_fleet(dir.path());
    let out = run(&["diagnose", "nosuch"], Some(&fleet));
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(254), "{stdout}\n{stderr}");
    assert!(stderr.contains("nosuch"), "{stderr}");
    assert!(stderr.contains(&fleet.display().to_string()), "{stderr}");
    assert!(stderr.contains("db1, db2"), "{stderr}");
}

#[test]
fn a_missing_fleet_file_is_a_bad_argument_that_says_how_to_name_one() {
    let dir = tempfile::tempdir().unwrap();
    // The default, ./fleet.toml, in a directory without one.
    for args in [&["nodes"][..], &["diagnose", "db1"]] {
        let out = Command::new(gauntlet())
            .args(args)
            .env_remove("GAUNTLET_FLEET")
            .current_dir(dir.path())
            .output()
            .unwrap();
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(254), "{stderr}");
        assert!(stderr.contains("fleet.toml"), "{stderr}");
        assert!(
            stderr.contains("--fleet") && stderr.contains("GAUNTLET_FLEET"),
            "{stderr}"
        );
    }
    // GAUNTLET_FLEET names it; a bad file is a bad argument too.
    let missing = dir.path().join("elsewhere.toml");
    let out = Command::new(gauntlet())
        .arg("nodes")
        .env("GAUNTLET_FLEET", &missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(254));
    assert!(
        text(&out).1.contains(&missing.display().to_string()),
        "{}",
        text(&out).1
    );
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[node]]\nname = \"x\"\nnot_a_key = 1\n").unwrap();
    let out = Command::new(gauntlet())
        .arg("nodes")
        .env("GAUNTLET_FLEET", &bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(254), "{}", text(&out).1);
    assert!(text(&out).1.contains("bad.toml"), "{}", text(&out).1);
}

#[test]
fn the_help_shows_examples() {
    for command in ["nodes", "diagnose"] {
        let out = Command::new(gauntlet())
            .args([command, "--help"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let help = text(&out).0;
        assert!(help.contains("Examples:"), "{help}");
        assert!(help.contains("GAUNTLET_FLEET"), "{help}");
    }
}
