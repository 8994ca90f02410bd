//! A plan whose services run on a fleet's nodes (`fleet = "fleet.toml"`):
//! `host` and `on` name the fleet's nodes (and its selectors), `${host}`
//! and `${addr}` are each node's, and every mistake is named at its line.

use std::path::{Path, PathBuf};

use gauntlet_plan::{LoadOptions, Plan, PlanError, load_str};

const FLEET: &str = r#"
[[node]]
name = "n1"
address = "127.0.0.2"
role = "bootstrap"
[[node]]
name = "n2"
address = "127.0.0.3"
[[node]]
name = "n3"
address = "10.0.0.3"
region = "eu"
"#;

/// A directory with `fleet.toml` and the plan's path in it.
fn dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fleet.toml"), FLEET).unwrap();
    let plan = dir.path().join("plan.toml");
    (dir, plan)
}

fn load(plan: &Path, text: &str) -> Result<Plan, PlanError> {
    load_str(text, plan, &LoadOptions::default())
}

const STAGE: &str = "\n[[stage]]\nname = \"up\"\nkind = \"up\"\n";

#[test]
fn host_and_on_name_the_fleets_nodes_with_their_addresses() {
    let (_d, path) = dir();
    let text = format!(
        r#"fleet = "fleet.toml"
[[service]]
name = "seed"
host = "n1"
command = "seed --listen 0.0.0.0:9000"
[[service]]
name = "peer"
on = ["role:test"]
command = "peer --name ${{host}} --listen ${{addr}}:9000 --all ${{addrs}}"
cwd = "/srv/${{host}}"
{STAGE}"#
    );
    let plan = load(&path, &text).unwrap();
    let fleet = plan
        .fleet
        .as_ref()
        .expect("the fleet is kept with the plan");
    assert_eq!(fleet.nodes.len(), 3);
    let seed = plan.services.iter().find(|s| s.name == "seed").unwrap();
    assert_eq!(seed.host.as_deref(), Some("n1"));
    // The plan's directory is this machine's: on a node, `/` unless said.
    assert_eq!(seed.run.cwd, PathBuf::from("/"));
    let names: Vec<&str> = plan.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["seed", "peer-n2", "peer-n3"]);
    let peer = plan.services.iter().find(|s| s.name == "peer-n2").unwrap();
    assert_eq!(peer.host.as_deref(), Some("n2"));
    assert_eq!(peer.group.as_deref(), Some("peer"));
    assert_eq!(peer.run.cwd, PathBuf::from("/srv/n2"));
    assert_eq!(
        peer.run.command,
        gauntlet_plan::CommandLine::Shell(
            "peer --name n2 --listen 127.0.0.3:9000 --all 127.0.0.3,10.0.0.3".into()
        )
    );
    // Kept whole with the run: a resumed run reaches the same nodes.
    let json = serde_json::to_string(&plan).unwrap();
    let back: Plan = serde_json::from_str(&json).unwrap();
    assert_eq!(back, plan);
}

fn error(text: &str) -> PlanError {
    let (_d, path) = dir();
    load(&path, text).unwrap_err()
}

#[test]
fn an_unknown_node_is_named_at_its_line_with_the_fleets_nodes() {
    let e = error(&format!(
        "fleet = \"fleet.toml\"\n[[service]]\nname = \"a\"\nhost = \"n9\"\ncommand = \"x\"\n{STAGE}"
    ));
    assert_eq!(e.line(), Some(4), "{e}");
    let m = e.to_string();
    assert!(
        m.contains("no node called \"n9\"") && m.contains("n1, n2, n3"),
        "{m}"
    );

    let e = error(&format!(
        "fleet = \"fleet.toml\"\n[[service]]\nname = \"a\"\non = [\"n1\", \"role:nosuch\"]\ncommand = \"x\"\n{STAGE}"
    ));
    assert_eq!(e.line(), Some(4), "{e}");
    let m = e.to_string();
    assert!(
        m.contains("\"role:nosuch\" selects no node") && m.contains("n1, n2, n3"),
        "{m}"
    );
}

#[test]
fn a_plan_has_a_lab_or_a_fleet_and_a_node_is_no_place_for_a_relative_cwd() {
    let e = error(&format!(
        "fleet = \"fleet.toml\"\n[[segment]]\nname = \"eu\"\nsubnet = \"10.80.1.0/24\"\n[[host]]\nname = \"h\"\nsegment = \"eu\"\n[[service]]\nname = \"a\"\nhost = \"h\"\ncommand = \"x\"\n{STAGE}"
    ));
    assert_eq!(e.line(), Some(1), "{e}");
    assert!(e.to_string().contains("not both"), "{e}");

    let e = error(&format!(
        "fleet = \"fleet.toml\"\n[[service]]\nname = \"a\"\nhost = \"n1\"\ncwd = \"work\"\ncommand = \"x\"\n{STAGE}"
    ));
    assert_eq!(e.line(), Some(5), "{e}");
    assert!(e.to_string().contains("absolute path"), "{e}");

    let e = error(&format!(
        "fleet = \"nosuch.toml\"\n[[service]]\nname = \"a\"\ncommand = \"x\"\n{STAGE}"
    ));
    assert_eq!(e.line(), Some(1), "{e}");
    assert!(e.to_string().contains("does not exist"), "{e}");

    // Without a lab or a fleet, `host` says what it could name.
    let e = error(&format!(
        "[[service]]\nname = \"a\"\nhost = \"n1\"\ncommand = \"x\"\n{STAGE}"
    ));
    assert_eq!(e.line(), Some(3), "{e}");
    assert!(e.to_string().contains("fleet"), "{e}");
}

#[test]
fn a_mistake_in_the_fleet_file_is_named_in_that_file() {
    let (d, path) = dir();
    std::fs::write(d.path().join("fleet.toml"), "[[node]]\nname = \"n1\"\n").unwrap();
    let e = load(
        &path,
        &format!("fleet = \"fleet.toml\"\n[[service]]\nname = \"a\"\ncommand = \"x\"\n{STAGE}"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("fleet.toml"), "{e}");
}

#[test]
fn a_soak_partitions_fleet_nodes_on_their_network_and_keeps_clocks_here() {
    let (_d, path) = dir();
    let soak = |fault: &str| {
        format!(
            "fleet = \"fleet.toml\"\n[[service]]\nname = \"api\"\non = [\"n1\", \"n2\"]\ncommand = \"api\"\n\
             [soak]\n[users]\nprogram = \"user\"\n[readback]\nprogram = true\n{fault}"
        )
    };
    let plan = load(
        &path,
        &soak("[[fault]]\nkind = \"partition\"\nservice = \"api-n2\"\nevery = \"1m\"\n"),
    )
    .unwrap();
    let faults = &plan.soak.unwrap().faults;
    assert_eq!(
        faults[0].kind,
        gauntlet_plan::soak::FaultKind::Partition {
            mode: gauntlet_plan::soak::PartitionMode::Network
        }
    );
    let e = load(
        &path,
        &soak(
            "[[fault]]\nkind = \"clock\"\nservice = \"api-n1\"\noffset = \"+1m\"\nevery = \"1m\"\n",
        ),
    )
    .unwrap_err();
    assert_eq!(e.line(), Some(13), "{e}");
    assert!(e.to_string().contains("fleet node"), "{e}");
}

#[test]
fn a_builtin_client_talks_to_the_services_on_fleet_nodes() {
    let (_d, path) = dir();
    let plan = load(
        &path,
        "fleet = \"fleet.toml\"\n[[service]]\nname = \"etcd\"\non = [\"n1\", \"n3\"]\ncommand = \"etcd\"\n\
         [workload]\nkind = \"cas-register\"\nclient = { builtin = \"etcd\" }\n\
         [nemesis]\nfaults = [\"kill\", \"partition\"]\n[[check]]\nname = \"linearizable\"\n",
    )
    .unwrap();
    let cluster = plan.cluster.unwrap();
    assert_eq!(cluster.nodes, ["etcd-n1", "etcd-n3"]);
    assert_eq!(
        cluster.workload.client,
        gauntlet_plan::ClusterClient::Builtin {
            system: "etcd".into(),
            args: vec![
                "--endpoints".into(),
                "http://127.0.0.2:2379,http://10.0.0.3:2379".into(),
            ]
        }
    );
}

#[test]
fn a_cluster_nemesis_on_fleet_nodes_skews_no_clock() {
    let (_d, path) = dir();
    let e = load(
        &path,
        "fleet = \"fleet.toml\"\n[[service]]\nname = \"etcd\"\non = [\"n1\"]\ncommand = \"etcd\"\n\
         [workload]\nkind = \"cas-register\"\nclient = { builtin = \"etcd\" }\n\
         [nemesis]\nfaults = [\"kill\", \"clock\"]\n[[check]]\nname = \"linearizable\"\n",
    )
    .unwrap_err();
    assert_eq!(e.line(), Some(10), "{e}");
    assert!(e.to_string().contains("libfaketime"), "{e}");
}
