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
