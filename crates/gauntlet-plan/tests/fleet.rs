//! The fleet file: nodes with `[defaults]` applied, each mistake named at
//! its line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gauntlet_plan::{NatType, load_fleet_str};

const PATH: &str = "/fleets/p2p/fleet.toml";

fn load(text: &str) -> Result<gauntlet_plan::Fleet, gauntlet_plan::PlanError> {
    load_fleet_str(text, Path::new(PATH), &[])
}

const FLEET: &str = r#"
name = "saorsa"

[vars]
domain = "example.net"

[defaults]
user = "ops"
port = 2222
identity = "keys/fleet_ed25519"
known_hosts = "keys/known_hosts"
connect_timeout = "5s"

[[node]]
name = "saorsa-1"
address = "boot1.${domain}"
fallback_address = "10.0.0.11"
role = "bootstrap"
region = "eu-west"

[[node]]
name = "saorsa-4"
address = "saorsa-4"          # an ~/.ssh/config alias
user = "root"
port = 22
nat = "symmetric"
labels = { rack = "b7", kernel = "6.1" }
"#;

#[test]
fn nodes_take_the_defaults_unless_they_say_otherwise() {
    let fleet = load(FLEET).unwrap();
    assert_eq!(fleet.name, "saorsa");
    assert_eq!(fleet.nodes.len(), 2);
    let boot = fleet.node("saorsa-1").unwrap();
    assert_eq!(boot.ssh.address, "boot1.example.net");
    assert_eq!(boot.ssh.fallback_address.as_deref(), Some("10.0.0.11"));
    assert_eq!(boot.ssh.user.as_deref(), Some("ops"));
    assert_eq!(boot.ssh.port, Some(2222));
    assert_eq!(
        boot.ssh.identity,
        Some(PathBuf::from("/fleets/p2p/keys/fleet_ed25519"))
    );
    assert_eq!(boot.ssh.connect_timeout, Duration::from_secs(5));
    assert_eq!(boot.role, "bootstrap");
    assert_eq!(boot.region.as_deref(), Some("eu-west"));
    assert_eq!(boot.nat, None);
    assert_eq!(boot.nat_word(), "public");

    let nat = fleet.node("saorsa-4").unwrap();
    assert_eq!(nat.ssh.user.as_deref(), Some("root"));
    assert_eq!(nat.ssh.port, Some(22));
    assert_eq!(nat.role, "test", "the default role");
    assert_eq!(nat.nat, Some(NatType::Symmetric));
    assert_eq!(nat.labels["rack"], "b7");
}

#[test]
fn without_defaults_ssh_decides() {
    let fleet = load("[[node]]\nname = \"a\"\naddress = \"a.example\"\n").unwrap();
    let a = &fleet.nodes[0];
    assert_eq!(a.ssh.port, None);
    assert_eq!(a.ssh.user, None);
    assert_eq!(a.ssh.identity, None);
    assert_eq!(a.ssh.known_hosts, None);
    assert_eq!(fleet.name, "fleet", "the file's stem");
}

#[test]
fn each_mistake_is_named_at_its_line() {
    let node = |keys: &str| format!("[[node]]\nname = \"n1\"\n{keys}");
    for (text, line, words) in [
        (node(""), 1, "node \"n1\" has no `address`"),
        (
            format!("{}{}", node("address = \"a\"\n"), node("address = \"b\"\n")),
            5,
            "two nodes are named \"n1\"",
        ),
        (
            node("address = \"-oProxyCommand=x\"\n"),
            3,
            "is not a host name",
        ),
        (
            node("address = \"a\"\nport = 70000\n"),
            4,
            "between 1 and 65535",
        ),
        (
            node("address = \"a\"\nnat = \"cone\"\n"),
            4,
            "unknown NAT type \"cone\"; types are: none, full-cone",
        ),
        (
            node("address = \"a\"\nrole = \"Boot Strap\"\n"),
            4,
            "is one word",
        ),
        (
            node("address = \"a\"\nuser = \"a b\"\n"),
            4,
            "is not a user name",
        ),
        (
            node("address = \"a\"\nconnect_timeout = \"soon\"\n"),
            4,
            "connect_timeout",
        ),
        (
            node("address = \"a\"\nprojects = []\n"),
            4,
            "unknown key `projects`",
        ),
        (
            "[[node]]\nname = \"n 1\"\naddress = \"a\"\n".to_owned(),
            2,
            "invalid node name",
        ),
        (node("address = \"${nope}\"\n"), 3, "nope"),
    ] {
        let e = load(&text).expect_err(&text).to_string();
        assert!(
            e.contains(&format!("fleet.toml:{line}:")) && e.contains(words),
            "wanted line {line} and {words:?}, got: {e}\n{text}"
        );
    }
    let e = load("name = \"empty\"\n").unwrap_err().to_string();
    assert!(e.contains("the fleet has no [[node]]"), "{e}");
}

const PROJECT: &str = r#"
[[project]]
name = "ant-quic"
repo = "../ant-quic"
build = "cargo build --release --bin ant-quic"
artifact = "target/release/ant-quic"
install = "/opt/ant-quic/bin/ant-quic"
nodes = ["role:bootstrap", "nat:symmetric"]
fix_hook = ["./scripts/fix.sh"]
checkpoints = ["30s", "2m"]
max_builds = 2
regression_tolerance_pct = 5.0
[project.service]
command = "/opt/ant-quic/bin/ant-quic --listen 0.0.0.0:9000"
[project.service.health]
tcp = "{{address}}:9000"
"#;

#[test]
fn a_project_builds_here_installs_there_and_runs_on_the_nodes_it_selects() {
    use gauntlet_plan::{CommandLine, Probe, ServiceControl};
    let fleet = load(&format!("{FLEET}{PROJECT}")).unwrap();
    let p = fleet.project("ant-quic").unwrap();
    assert_eq!(p.repo, PathBuf::from("/fleets/p2p/../ant-quic"));
    assert_eq!(p.build.cwd, PathBuf::from("/fleets/p2p/../ant-quic"));
    assert_eq!(
        p.build.command,
        CommandLine::Shell("cargo build --release --bin ant-quic".into())
    );
    assert_eq!(
        p.artifact,
        PathBuf::from("/fleets/p2p/../ant-quic/target/release/ant-quic")
    );
    assert_eq!(p.install, "/opt/ant-quic/bin/ant-quic");
    assert_eq!(p.nodes, ["saorsa-1", "saorsa-4"]);
    assert!(matches!(
        p.service.control,
        ServiceControl::Supervised { .. }
    ));
    assert_eq!(
        p.service.health.as_ref().unwrap().probe,
        Probe::Tcp {
            address: "{{address}}:9000".into()
        }
    );
    assert_eq!(
        p.loop_spec.checkpoints,
        [Duration::from_secs(30), Duration::from_secs(120)]
    );
    assert_eq!(p.loop_spec.max_builds, 2);
    assert_eq!(p.loop_spec.max_fixes, 5, "the default");
    assert_eq!(p.loop_spec.regression_tolerance_pct, 5.0);
    assert!(p.fix_hook.is_some());
}

#[test]
fn each_project_mistake_is_named_at_its_line() {
    let base = |change: (&str, &str)| format!("{FLEET}{}", PROJECT.replace(change.0, change.1));
    // Line numbers: PROJECT's line n is line 27 + n of the file.
    let at = |n: usize| 27 + n;
    for (text, line, words) in [
        (
            base((
                "install = \"/opt/ant-quic/bin/ant-quic\"",
                "install = \"bin/ant-quic\"",
            )),
            at(7),
            "is the absolute path of the file on each node",
        ),
        (
            base((
                "nodes = [\"role:bootstrap\", \"nat:symmetric\"]",
                "nodes = [\"role:relay\"]",
            )),
            at(8),
            "\"role:relay\" selects no node",
        ),
        (
            base((
                "checkpoints = [\"30s\", \"2m\"]",
                "checkpoints = [\"2m\", \"30s\"]",
            )),
            at(10),
            "each later than the one before",
        ),
        (
            base(("max_builds = 2", "max_builds = 0")),
            at(11),
            "between 1 and 100",
        ),
        (
            base((
                "[project.service]\n",
                "[project.service]\nsystemd = \"ant-quic.service\"\n",
            )),
            at(14),
            "both `command` and `systemd`",
        ),
        (
            base(("build = \"cargo build --release --bin ant-quic\"\n", "")),
            at(2),
            "project \"ant-quic\" has no `build`",
        ),
        (
            format!("{FLEET}{PROJECT}{PROJECT}"),
            at(PROJECT.lines().count() + 3),
            "two projects are named \"ant-quic\"",
        ),
    ] {
        let e = load(&text).expect_err(&text).to_string();
        assert!(
            e.contains(&format!("fleet.toml:{line}:")) && e.contains(words),
            "wanted line {line} and {words:?}, got: {e}"
        );
    }
}

const SUITES: &str = r#"
[[project.suite]]
name = "matrix"
focus = ["connectivity", "nat-traversal"]
command = "./scripts/matrix --nodes '{{addresses}}'"
timeout = "2m"
[[project.suite.figure]]
name = "direct_pct"
json = "/direct/pct"
min = 99
[[project.suite]]
name = "iperf"
focus = ["throughput"]
on = "nodes"
command = ["iperf3", "-c", "{{address}}", "-J"]
[project.criteria]
check = "./scripts/judge"
"#;

#[test]
fn suites_run_by_focus_here_or_on_each_node() {
    use gauntlet_plan::{Criteria, Proof, SuiteRuns};
    let fleet = load(&format!("{FLEET}{PROJECT}{SUITES}")).unwrap();
    let p = fleet.project("ant-quic").unwrap();
    assert_eq!(p.suites.len(), 2);
    let names =
        |focus: &str| -> Vec<&str> { p.suites_of(focus).iter().map(|s| s.name()).collect() };
    assert_eq!(names("connectivity"), ["matrix"]);
    assert_eq!(names("throughput"), ["iperf"]);
    assert_eq!(names("full-suite"), ["matrix", "iperf"]);
    assert!(names("gossip").is_empty());
    assert_eq!(
        p.focuses(),
        ["connectivity", "nat-traversal", "throughput", "full-suite"]
    );
    let matrix = &p.suites[0];
    assert_eq!(matrix.on, SuiteRuns::Here);
    assert_eq!(matrix.test.timeout, Duration::from_secs(120));
    assert_eq!(matrix.test.expect.figures[0].name, "direct_pct");
    assert_eq!(
        matrix.test.run.cwd,
        PathBuf::from("/fleets/p2p/../ant-quic")
    );
    assert_eq!(p.suites[1].on, SuiteRuns::EachNode);
    assert_eq!(p.suites[1].test.run.cwd, PathBuf::from("/"));
    assert!(p.check.is_some());
    assert_eq!(Criteria::parse("all-pass"), Some(Criteria::AllPass));
    assert_eq!(Proof::parse("all-evidence"), Some(Proof::AllEvidence));
    assert_eq!(Criteria::parse("most"), None);
}

#[test]
fn a_suite_mistake_is_named_at_its_line() {
    let text = format!(
        "{FLEET}{PROJECT}[[project.suite]]\nname = \"x\"\non = \"everywhere\"\ncommand = \"true\"\n"
    );
    let err = load(&text).unwrap_err().to_string();
    let line = text.lines().position(|l| l.starts_with("on = ")).unwrap() + 1;
    assert!(
        err.starts_with(&format!("{PATH}:{line}:")) && err.contains("`on = \"everywhere\"`"),
        "{err}"
    );
    let text = format!("{FLEET}{PROJECT}[[project.suite]]\nname = \"x\"\n");
    let err = load(&text).unwrap_err().to_string();
    assert!(err.contains("suite \"x\" has no `command`"), "{err}");
}
