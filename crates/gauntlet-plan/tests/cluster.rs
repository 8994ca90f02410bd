//! Cluster plans: services placed `on` lab hosts (one instance each, with
//! `${host}`, `${addr}` and `${addrs}`), `[workload]`, `[nemesis]` and
//! `[[check]]`, each mistake named at its line.

use std::path::Path;
use std::time::Duration;

use gauntlet_plan::{CheckBy, ClusterClient, CommandLine, LoadOptions, load_str};

const LAB: &str = r#"
[[segment]]
name = "dc"
subnet = "10.70.1.0/24"
[[host]]
name = "n1"
segment = "dc"
[[host]]
name = "n2"
segment = "dc"
[[host]]
name = "n3"
segment = "dc"
"#;

const CLUSTER: &str = r#"
[[service]]
name = "etcd"
on = ["n1", "n2", "n3"]
command = "etcd --name ${host} --listen-client-urls http://${addr}:2379 --peers ${addrs}"
[[service]]
name = "proxy"
command = "sleep 100"
depends_on = ["etcd"]
[workload]
kind = "register"
keys = 5
concurrency = 10
rate = 200
time_limit = "30s"
client = ["./etcd-client", "--endpoints", "10.70.1.2:2379"]
[nemesis]
faults = ["partition", "kill", "pause"]
interval = "5s"
partitions = ["one", "majority", "one"]
[[check]]
name = "linearizable"
[[check]]
name = "lease"
program = ["./one-holder.py"]
"#;

fn load(text: &str) -> Result<gauntlet_plan::Plan, gauntlet_plan::PlanError> {
    load_str(text, Path::new("cluster.toml"), &LoadOptions::default())
}

#[test]
fn services_on_hosts_become_one_instance_each() {
    let plan = load(&format!("{LAB}{CLUSTER}")).unwrap();
    let names: Vec<&str> = plan.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["etcd-n1", "etcd-n2", "etcd-n3", "proxy"]);
    let n2 = &plan.services[1];
    assert_eq!(n2.host.as_deref(), Some("n2"));
    assert_eq!(n2.group.as_deref(), Some("etcd"));
    assert_eq!(
        n2.run.command,
        CommandLine::Shell(
            "etcd --name n2 --listen-client-urls http://10.70.1.3:2379 --peers 10.70.1.2,10.70.1.3,10.70.1.4".into()
        )
    );
    // depends_on a group means every instance of it.
    assert_eq!(
        plan.services[3].depends_on,
        ["etcd-n1", "etcd-n2", "etcd-n3"]
    );

    let cluster = plan.cluster.as_ref().unwrap();
    assert_eq!(cluster.workload.generator, "register");
    assert_eq!(cluster.workload.ops_per_key, 200);
    assert_eq!(
        (cluster.workload.keys, cluster.workload.concurrency),
        (5, 10)
    );
    assert_eq!(cluster.workload.rate, 200.0);
    assert_eq!(cluster.workload.time_limit, Duration::from_secs(30));
    assert_eq!(cluster.nodes, ["etcd-n1", "etcd-n2", "etcd-n3"]);
    let nemesis = cluster.nemesis.as_ref().unwrap();
    assert_eq!(nemesis.faults, ["partition", "kill", "pause"]);
    assert_eq!(nemesis.partitions, ["one", "majority"]);
    assert!(
        matches!(&cluster.checks[0].by, CheckBy::Builtin { checker, .. } if checker == "linearizable")
    );
    assert!(matches!(&cluster.checks[1].by, CheckBy::Program { .. }));
    assert!(plan.stages.is_empty(), "a cluster plan needs no [[stage]]");
}

#[test]
fn a_builtin_client_talks_to_the_nodes_on_lab_hosts() {
    let plan = load(&format!(
        "{LAB}[[service]]\nname = \"etcd\"\non = [\"n1\", \"n3\"]\ncommand = \"etcd\"\n\
         [workload]\nkind = \"cas-register\"\nclient = {{ builtin = \"etcd\", reads = \"serializable\" }}\n\
         [[check]]\nname = \"linearizable\"\n"
    ))
    .unwrap();
    assert_eq!(
        plan.cluster.unwrap().workload.client,
        ClusterClient::Builtin {
            system: "etcd".into(),
            args: vec![
                "--endpoints".into(),
                "http://10.70.1.2:2379,http://10.70.1.4:2379".into(),
                "--reads".into(),
                "serializable".into()
            ]
        }
    );
    let plan = load(&format!(
        "{LAB}[[service]]\nname = \"r\"\nhost = \"n2\"\ncommand = \"redis-server\"\n\
         [workload]\nkind = \"register\"\nclient = {{ builtin = \"redis\", port = 7000, failover = true }}\n\
         [[check]]\nname = \"linearizable\"\n"
    ))
    .unwrap();
    assert_eq!(
        plan.cluster.unwrap().workload.client,
        ClusterClient::Builtin {
            system: "redis".into(),
            args: vec![
                "--endpoints".into(),
                "redis://10.70.1.3:7000".into(),
                "--failover".into()
            ]
        }
    );
}

/// The error of loading the lab and `text`, with the line it names.
fn error(text: &str) -> (String, Option<usize>) {
    let e = load(&format!("{LAB}{text}")).unwrap_err();
    (e.to_string(), e.line())
}

#[test]
fn bad_cluster_plans_are_named_at_their_line() {
    let lab_lines = LAB.lines().count();
    let at = |text: &str, line: usize, words: &str| {
        let (message, got) = error(text);
        assert_eq!(got, Some(lab_lines + line), "{message}");
        assert!(message.contains(words), "{message:?} lacks {words:?}");
    };
    let service = "[[service]]\nname = \"db\"\ncommand = \"db\"\n";
    let workload = "[workload]\nkind = \"register\"\nclient = \"./c\"\n";
    let check = "[[check]]\nname = \"linearizable\"\n";
    at(
        "[[service]]\nname = \"db\"\non = [\"n1\", \"n9\"]\ncommand = \"db\"\n",
        3,
        "no lab host called \"n9\"",
    );
    at(
        "[[service]]\nname = \"db\"\non = [\"n1\"]\nhost = \"n1\"\ncommand = \"db\"\n",
        4,
        "`host` and `on` do not go together",
    );
    at(
        "[[service]]\nname = \"db\"\ncommand = \"db --name ${host}\"\n",
        3,
        "undefined variable \"host\"",
    );
    at(
        &format!("{service}[workload]\nkind = \"queue\"\nclient = \"./c\"\n{check}"),
        5,
        "unknown workload \"queue\"",
    );
    at(&format!("{service}{workload}"), 4, "at least one [[check]]");
    at(
        &format!("{service}{workload}[[check]]\nname = \"lineariz\"\n"),
        8,
        "lineariz",
    );
    at(
        &format!("{service}{workload}[nemesis]\nfaults = [\"partition\", \"meteor\"]\n{check}"),
        8,
        "unknown fault \"meteor\"",
    );
    // A nemesis needs services on lab hosts to act on.
    at(
        &format!("{service}{workload}[nemesis]\nfaults = [\"kill\"]\n{check}"),
        8,
        "no [[service]] has `host` or `on`",
    );
    let placed = "[[service]]\nname = \"db\"\non = [\"n1\"]\ncommand = \"db\"\n";
    at(
        &format!(
            "{placed}{workload}[nemesis]\nfaults = [\"partition\"]\npartitions = [\"one\", \"ring\"]\n{check}"
        ),
        10,
        "unknown partition shape \"ring\"",
    );
    at(
        &format!(
            "{placed}{workload}[nemesis]\nfaults = [\"kill\"]\npartitions = [\"one\"]\n{check}"
        ),
        10,
        "no \"partition\"",
    );
    at(
        &format!(
            "{service}[nemesis]\nfaults = [\"kill\"]\n[[stage]]\nname = \"u\"\nkind = \"up\"\n"
        ),
        4,
        "add [workload]",
    );
    at(
        &format!("{service}{workload}rate = 0\n{check}"),
        7,
        "`rate`",
    );
    let builtin = |client: &str| {
        format!("{service}[workload]\nkind = \"register\"\nclient = {client}\n{check}")
    };
    at(
        &builtin("{ builtin = \"mongo\" }"),
        6,
        "no built-in client \"mongo\"",
    );
    at(
        &builtin("{ builtin = \"redis\", reads = \"serializable\" }"),
        6,
        "the redis client has no `reads`",
    );
    at(
        &builtin("{ builtin = \"etcd\", reads = \"fast\" }"),
        6,
        "\"serializable\"",
    );
    at(&builtin("{ builtin = \"etcd\", port = 0 }"), 6, "`port`");
    // The built-in client needs nodes on lab hosts, or `endpoints`.
    at(&builtin("{ builtin = \"etcd\" }"), 6, "list `endpoints`");
    at(&builtin("{ builtin = \"etcd\", colour = 1 }"), 6, "colour");
}
