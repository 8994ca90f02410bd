//! A plan's services on the nodes of a fleet file, against a real OpenSSH
//! server on loopback (gauntlet-ssh's `testing` harness): two nodes, `n1`
//! at 127.0.0.2 and `n2` at 127.0.0.3, both the one test sshd listening
//! on those addresses (its host key known for each). A plan run with a
//! service on each node, a soak with kill and pause faults on them, and a
//! soak partition between the nodes cut with nftables on the nodes while
//! a probe on `n1` tries `n2` from `n1`'s address. Nothing may be left on
//! the "nodes": no process of the run, no `gauntlet_` nft table. Skips
//! (saying why on stderr) where no sshd can run (not root, no
//! openssh-server).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Bench, free_port, read_json, stderr, stdout};
use gauntlet_ssh::testing::{Sshd, pids_with_env, sshd_with};
use serde_json::Value;

/// The test sshd, listening on 127.0.0.2 to 127.0.0.5 too, its host key
/// known under each address. The tests run at once on one kernel: the
/// SIGKILL test partitions 127.0.0.4 and .5, the others use .2 and .3.
fn nodes_sshd() -> Option<Sshd> {
    let sshd = sshd_with(
        "ListenAddress 127.0.0.2\nListenAddress 127.0.0.3\nListenAddress 127.0.0.4\nListenAddress 127.0.0.5\n",
    )?;
    let mut known = std::fs::read_to_string(&sshd.known_hosts).unwrap();
    for address in ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"] {
        known.push_str(&format!("[{address}]:{} {}\n", sshd.port, sshd.host_key));
    }
    std::fs::write(&sshd.known_hosts, known).unwrap();
    Some(sshd)
}

fn write_fleet(dir: &Path, sshd: &Sshd) -> PathBuf {
    let path = dir.join("fleet.toml");
    std::fs::write(
        &path,
        format!(
            r#"name = "loopback"
[defaults]
identity = "{key}"
known_hosts = "{known}"
port = {port}
connect_timeout = "3s"
[[node]]
name = "n1"
address = "127.0.0.2"
[[node]]
name = "n2"
address = "127.0.0.3"
"#,
            key = sshd.client_key.display(),
            known = sshd.known_hosts.display(),
            port = sshd.port,
        ),
    )
    .unwrap();
    path
}

/// The example http-service on each node, on the node's address; every
/// process it starts carries `FLEETPLAN_MARK=<mark>` (the nodes get only
/// the plan's environment, not the test's marker).
fn api_service(b: &Bench, port: u16, mark: &str) -> String {
    format!(
        r#"[[service]]
name = "api"
on = ["n1", "n2"]
command = ["{bin}/http-service", "--bind", "${{addr}}", "--port", "{port}", "--data-file", "{dir}/${{host}}.data"]
env = {{ FLEETPLAN_MARK = "{mark}" }}
[service.health]
http = "http://${{addr}}:{port}/health"
interval = "50ms"
"#,
        bin = b.bin_dir(),
        dir = b.path().display(),
    )
}

/// No process of the run on the nodes, and no nft table of the run (the
/// tests run at once on one kernel: another test's run may hold one now).
fn assert_nothing_left(b: &Bench, mark: &str) {
    let left = pids_with_env(&format!("FLEETPLAN_MARK={mark}"));
    assert!(left.is_empty(), "processes left on the nodes: {left:?}");
    let run = b.runs()[0]["id"].as_str().unwrap().replace('-', "_");
    let tables = Command::new("nft")
        .args(["list", "tables"])
        .output()
        .unwrap();
    let tables = String::from_utf8_lossy(&tables.stdout).into_owned();
    assert!(
        !tables.contains(&format!("gauntlet_{run}")),
        "nft tables of run {run} left: {tables}"
    );
}

fn mark(test: &str) -> String {
    format!("fleetplan-{test}-{}", std::process::id())
}

fn store(b: &Bench) -> (gauntlet_store::Store, gauntlet_store::RunId) {
    let runs = b.runs();
    let store = gauntlet_store::Store::open(b.db()).unwrap();
    let id = store.resolve(runs[0]["id"].as_str().unwrap()).unwrap();
    (store, id)
}

#[test]
fn a_plan_runs_a_service_on_each_fleet_node_with_logs_and_samples() {
    let Some(sshd) = nodes_sshd() else { return };
    let b = Bench::new();
    write_fleet(b.path(), &sshd);
    let mark = mark("run");
    let port = free_port();
    let plan = b.write_plan(
        "plan.toml",
        &format!(
            "fleet = \"fleet.toml\"\n{}\n[[stage]]\nname = \"up\"\nkind = \"up\"\n\
             [[stage]]\nname = \"both\"\nkind = \"command\"\n\
             command = \"curl -sf http://127.0.0.2:{port}/health && curl -sf http://127.0.0.3:{port}/health && sleep 1.5\"\n",
            api_service(&b, port, &mark),
        ),
    );
    let out = b.gauntlet(&["run", plan.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}\nsshd: {}",
        stdout(&out),
        stderr(&out),
        sshd.log()
    );
    let runs = b.runs();
    let dir = b.artifact_dir(&runs[0]);
    for service in ["api-n1", "api-n2"] {
        let log = dir.join("services").join(format!("{service}.log"));
        assert!(log.exists(), "no log {}", log.display());
    }
    let (store, id) = store(&b);
    for service in ["api-n1", "api-n2"] {
        let rss = store.measurements(&id, "rss", service).unwrap();
        assert!(
            rss.iter().any(|m| m.value > 100_000.0),
            "{service}: rss samples {rss:?}"
        );
        assert!(
            !store.measurements(&id, "cpu", service).unwrap().is_empty(),
            "{service}: no cpu samples"
        );
    }
    assert_nothing_left(&b, &mark);
}

#[test]
fn an_unreachable_fleet_node_stops_the_run_before_it_starts_naming_the_node() {
    let Some(sshd) = nodes_sshd() else { return };
    let b = Bench::new();
    let fleet = write_fleet(b.path(), &sshd);
    let text = std::fs::read_to_string(&fleet).unwrap();
    // Nothing listens on 127.0.0.9 (and its host key is known nowhere).
    std::fs::write(&fleet, text.replace("127.0.0.3", "127.0.0.9")).unwrap();
    let plan = b.write_plan(
        "plan.toml",
        "fleet = \"fleet.toml\"\n[[service]]\nname = \"idle\"\non = [\"n1\", \"n2\"]\ncommand = \"sleep 30\"\n\
         [[stage]]\nname = \"up\"\nkind = \"up\"\n",
    );
    let out = b.gauntlet(&["run", plan.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(255), "{}\n{err}", stdout(&out));
    assert!(
        err.contains("fleet node n2 cannot be reached") && !err.contains("fleet node n1"),
        "{err}"
    );
}

/// A soak of the service on both nodes; users write through n1's.
/// `faults` are the soak's `[[fault]]` tables.
fn soak(b: &Bench, mark: &str, faults: &str) -> (Value, Value) {
    soak_on_port(b, mark, free_port(), faults, "")
}

fn rows<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["faults"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind)
        .collect()
}

#[test]
fn a_soak_kills_pauses_and_restarts_services_on_fleet_nodes() {
    let Some(sshd) = nodes_sshd() else { return };
    let b = Bench::new();
    write_fleet(b.path(), &sshd);
    let mark = mark("soak");
    let faults = r#"[[fault]]
kind = "kill"
service = "api-n2"
every = "2s..3s"
duration = "500ms"
[[fault]]
kind = "pause"
service = "api-n1"
every = "3s..4s"
duration = "500ms"
[[fault]]
kind = "restart"
service = "api-n1"
every = "4s..5s"
"#;
    let (verdict, report) = soak(&b, &mark, faults);
    for kind in ["kill", "pause", "restart"] {
        let found = rows(&report, kind);
        assert!(!found.is_empty(), "no {kind} fault recorded: {report}");
        assert!(
            found.iter().all(|f| f["healed_at"].is_number()),
            "{found:?}"
        );
    }
    // The invariants were judged, with the faults' windows.
    assert_eq!(
        verdict["invariants"]["I4-no-data-loss"]["valid"], true,
        "{verdict:#}"
    );
    assert!(
        verdict["faults"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["kind"] == "kill" && w["target"] == "api-n2"),
        "{verdict:#}"
    );
    assert_nothing_left(&b, &mark);
}

#[test]
fn a_soak_partitions_two_fleet_nodes_with_nftables_on_the_nodes() {
    let Some(sshd) = nodes_sshd() else { return };
    let b = Bench::new();
    write_fleet(b.path(), &sshd);
    let mark = mark("partition");
    let probes = b.path().join("probes");
    // On n1, from n1's address, n2's service every 100 ms: ok or cut, with
    // the time in ms. Only the connect is bounded tightly (on loopback the
    // kernel answers it at once unless the packet is dropped): the answer
    // may be slow on a loaded machine.
    let probe = format!(
        r#"[[service]]
name = "probe"
host = "n1"
command = "while :; do if curl -s --connect-timeout 0.5 --max-time 10 --interface 127.0.0.2 -o /dev/null http://127.0.0.3:${{port}}/health; then r=ok; else r=cut; fi; echo \"$(date +%s%3N) $r\" >> {probes}; sleep 0.1; done"
env = {{ FLEETPLAN_MARK = "{mark}" }}
"#,
        probes = probes.display(),
    );
    let faults = r#"[[fault]]
kind = "partition"
service = "api-n2"
every = "3s..4s"
duration = "1500ms"
"#;
    let (verdict, report) = {
        let port = free_port();
        let text = probe.replace("${port}", &port.to_string());
        soak_on_port(&b, &mark, port, faults, &text)
    };
    let cuts = rows(&report, "partition");
    assert!(!cuts.is_empty(), "no partition recorded: {report}");
    assert!(
        cuts.iter()
            .all(|f| f["value"]["value"]["network"] == "fleet" && f["healed_at"].is_number()),
        "{cuts:?}"
    );
    assert!(
        verdict["faults"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["kind"] == "partition" && w["target"] == "api-n2"),
        "{verdict:#}"
    );
    // The probe saw n2 answer, then not (cut), then answer again (healed).
    let seen: Vec<String> = std::fs::read_to_string(&probes)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
        .collect();
    let first_cut = seen.iter().position(|r| r == "cut");
    assert!(
        first_cut.is_some_and(
            |i| seen[..i].contains(&"ok".to_owned()) && seen[i..].contains(&"ok".to_owned())
        ),
        "{seen:?}"
    );
    assert_nothing_left(&b, &mark);
}

/// A soak of the service on both nodes on `port`, users writing through
/// n1's; `faults` are its `[[fault]]` tables, `extra` more services.
fn soak_on_port(b: &Bench, mark: &str, port: u16, faults: &str, extra: &str) -> (Value, Value) {
    let plan = format!(
        r#"fleet = "fleet.toml"
{service}{extra}
[soak]
duration = "9s"
warmup = "500ms"
calm_timeout = "20s"
[users]
count = 2
think_min = "20ms"
think_max = "50ms"
keys_per_user = 10
unreachable_after = "5s"
[[users.step]]
name = "put"
method = "PUT"
url = "http://127.0.0.2:{port}/kv/{{{{key}}}}"
body = "{{{{value}}}}"
write = true
timeout = "2s"
[readback]
http = "http://127.0.0.2:{port}/kv/{{{{key}}}}"
[invariants]
gate = ["I4"]
{faults}"#,
        service = api_service(b, port, mark),
    );
    let file = b.write_plan("soak.toml", &plan);
    let out = b.gauntlet(&["soak", file.to_str().unwrap(), "--json", "--seed", "3"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let runs = b.runs();
    let verdict = read_json(&b.artifact_dir(&runs[0]).join("verdict.json"));
    let out = b.gauntlet(&["show", runs[0]["id"].as_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    (verdict, report)
}

/// The run's nft tables on the nodes (one kernel here).
fn tables_of(run: &str) -> Vec<String> {
    let run = run.replace('-', "_");
    let out = Command::new("nft")
        .args(["list", "tables"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&format!("gauntlet_{run}")))
        .map(str::to_owned)
        .collect()
}

fn wait_for(what: &str, bound: std::time::Duration, mut done: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + bound;
    while !done() {
        assert!(
            std::time::Instant::now() < until,
            "{what}: not within {bound:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn a_sigkilled_gauntlet_leaves_no_partition_table_and_no_process_on_the_nodes() {
    let Some(sshd) = nodes_sshd() else { return };
    let b = Bench::new();
    let fleet = write_fleet(b.path(), &sshd);
    let text = std::fs::read_to_string(&fleet).unwrap();
    std::fs::write(
        &fleet,
        text.replace("127.0.0.2", "127.0.0.4")
            .replace("127.0.0.3", "127.0.0.5"),
    )
    .unwrap();
    let mark = mark("sigkill");
    let port = free_port();
    let plan = format!(
        r#"fleet = "fleet.toml"
{service}
[soak]
duration = "60s"
warmup = "500ms"
calm_timeout = "20s"
[users]
count = 1
think_min = "50ms"
think_max = "100ms"
keys_per_user = 5
unreachable_after = "5s"
[[users.step]]
method = "PUT"
url = "http://127.0.0.2:{port}/kv/{{{{key}}}}"
body = "{{{{value}}}}"
write = true
[readback]
http = "http://127.0.0.2:{port}/kv/{{{{key}}}}"
[[fault]]
kind = "partition"
service = "api-n2"
every = "1s..2s"
duration = "50s"
"#,
        service = api_service(&b, port, &mark),
    )
    .replace("127.0.0.2", "127.0.0.4");
    let file = b.write_plan("soak.toml", &plan);
    let mut child = b
        .command(&["soak", file.to_str().unwrap(), "--quiet"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut run = String::new();
    wait_for("the run", std::time::Duration::from_secs(20), || {
        // Not `b.runs()`: it asserts nothing of the bench runs, and this one does.
        let out = b.command(&["runs", "--json"]).output().unwrap();
        let runs: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        if let Some(id) = runs[0]["id"].as_str() {
            run = id.to_owned();
        }
        !run.is_empty()
    });
    // The partition is in: a table of the run on each node.
    wait_for("the partition", std::time::Duration::from_secs(20), || {
        tables_of(&run).len() == 2
    });
    // SAFETY: kill has no memory preconditions.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    // Its ssh connections died with it: each node's keeper kills the run's
    // processes and runs the undo script that deletes the table.
    wait_for(
        "the tables' removal",
        std::time::Duration::from_secs(15),
        || tables_of(&run).is_empty(),
    );
    wait_for(
        "the processes' end",
        std::time::Duration::from_secs(15),
        || pids_with_env(&format!("FLEETPLAN_MARK={mark}")).is_empty(),
    );
    // Here, its ssh processes end by themselves (their master is gone).
    wait_for(
        "the local ssh processes' end",
        std::time::Duration::from_secs(15),
        || common::processes_with_marker(&b.marker).is_empty(),
    );
}

#[test]
fn a_held_run_on_fleet_nodes_is_retried_with_its_services_back_on_the_nodes() {
    let Some(sshd) = nodes_sshd() else { return };
    let b = Bench::new();
    write_fleet(b.path(), &sshd);
    let mark = mark("retry");
    let port = free_port();
    let gate = b.path().join("go");
    let plan = b.write_plan(
        "plan.toml",
        &format!(
            "fleet = \"fleet.toml\"\n{}\n[[stage]]\nname = \"up\"\nkind = \"up\"\n\
             [[stage]]\nname = \"gate\"\nkind = \"command\"\ncommand = \"test -f {gate}\"\n\
             [[stage]]\nname = \"after\"\nkind = \"command\"\n\
             command = \"curl -sf http://127.0.0.2:{port}/health && curl -sf http://127.0.0.3:{port}/health\"\n",
            api_service(&b, port, &mark),
            gate = gate.display(),
        ),
    );
    let out = b.gauntlet(&["run", plan.to_str().unwrap(), "--quiet"]);
    assert_eq!(out.status.code(), Some(1), "held\n{}", stderr(&out));
    assert!(
        pids_with_env(&format!("FLEETPLAN_MARK={mark}")).is_empty(),
        "a held run's services stop with its process"
    );
    std::fs::write(&gate, "").unwrap();
    // From the resolved plan kept with the run: the nodes reached again,
    // the services `up` started brought back on them, then the rest.
    let out = b.gauntlet(&["retry", "latest", "--quiet"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert_nothing_left(&b, &mark);
}

#[test]
fn a_partition_where_nft_cannot_run_is_refused_at_the_start_naming_the_node() {
    // The nodes' sessions find no `nft` (it lives in /usr/sbin).
    let Some(sshd) =
        sshd_with("ListenAddress 127.0.0.2\nListenAddress 127.0.0.3\nSetEnv PATH=/usr/bin:/bin\n")
    else {
        return;
    };
    let mut known = std::fs::read_to_string(&sshd.known_hosts).unwrap();
    for address in ["127.0.0.2", "127.0.0.3"] {
        known.push_str(&format!("[{address}]:{} {}\n", sshd.port, sshd.host_key));
    }
    std::fs::write(&sshd.known_hosts, known).unwrap();
    let b = Bench::new();
    write_fleet(b.path(), &sshd);
    let mark = mark("nonft");
    let port = free_port();
    let plan = format!(
        r#"fleet = "fleet.toml"
{service}
[soak]
duration = "5s"
[users]
count = 1
[[users.step]]
method = "PUT"
url = "http://127.0.0.2:{port}/kv/{{{{key}}}}"
body = "{{{{value}}}}"
write = true
[readback]
http = "http://127.0.0.2:{port}/kv/{{{{key}}}}"
[[fault]]
kind = "partition"
service = "api-n2"
every = "1s..2s"
duration = "1s"
"#,
        service = api_service(&b, port, &mark),
    );
    let file = b.write_plan("soak.toml", &plan);
    let out = b.gauntlet(&["soak", file.to_str().unwrap(), "--quiet"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(255), "{}\n{err}", stdout(&out));
    assert!(
        err.contains("fleet node n1") && err.contains("nftables"),
        "{err}"
    );
    // Nothing was started on the nodes.
    assert!(pids_with_env(&format!("FLEETPLAN_MARK={mark}")).is_empty());
}

#[test]
fn a_cluster_test_kills_its_service_on_a_fleet_node() {
    let Some(sshd) = nodes_sshd() else { return };
    if !common::have("python3", "python3") {
        return;
    }
    let cluster = common::ClusterRun::new("lock-fleet");
    let mark = mark("cluster");
    let port = free_port().to_string();
    // The lock example with its server on fleet node n1 instead of a lab
    // host: the lab's tables out, the fleet in.
    let mut text = common::example_variant("cluster/lock.toml", &[("time_limit", "\"8s\"")]);
    let lab = text.find("[[segment]]").unwrap();
    let service = text.find("[[service]]").unwrap();
    text.replace_range(lab..service, "");
    let text = text
        .replacen(
            "name = \"lock\"\n",
            "name = \"lock\"\nfleet = \"fleet.toml\"\n",
            1,
        )
        .replace("10.75.0.2:7000", &format!("127.0.0.2:{port}"))
        .replace(":7000", &format!(":{port}"))
        .replace(
            "\n[service.health]",
            &format!("\nenv = {{ FLEETPLAN_MARK = \"{mark}\" }}\n[service.health]"),
        )
        .replace(
            "${plan_dir}/../python/one_holder.py",
            &common::example("python/one_holder.py")
                .display()
                .to_string(),
        );
    let dir = cluster.store().parent().unwrap().to_owned();
    write_fleet(&dir, &sshd);
    let bin_dir = format!("bin_dir={}", common::gauntlet().parent().unwrap().display());
    let out = cluster.test(
        "lock.toml",
        &text,
        &["--seed", "7", "--set", "server_flags=", "--set", &bin_dir],
    );
    assert_eq!(out.status.code(), Some(0), "{}", common::explain(&out));
    let run = cluster.latest();
    assert_eq!(read_json(&run.join("results.json"))["valid"], true);
    let history = common::history_of(&run);
    let kills = common::nemesis_ops(&history, &["kill"]);
    assert!(
        !kills.is_empty(),
        "the nemesis never killed the node's server"
    );
    assert!(pids_with_env(&format!("FLEETPLAN_MARK={mark}")).is_empty());
}

#[test]
fn a_power_cut_kills_the_services_on_every_fleet_node_and_they_come_back() {
    let Some(sshd) = nodes_sshd() else { return };
    let b = Bench::new();
    write_fleet(b.path(), &sshd);
    let mark = mark("power");
    let faults = r#"[[fault]]
kind = "power-cut"
every = "2s..3s"
duration = "300ms"
"#;
    let (verdict, report) = soak(&b, &mark, faults);
    let cuts = rows(&report, "power-cut");
    assert!(!cuts.is_empty(), "no power cut recorded: {report}");
    // Each cut hit both nodes' services.
    assert!(
        cuts.iter().all(|f| f["healed_at"].is_number()
            && f["value"]["value"].to_string().contains("api-n1")
            && f["value"]["value"].to_string().contains("api-n2")),
        "{cuts:?}"
    );
    assert_eq!(
        verdict["invariants"]["I4-no-data-loss"]["valid"], true,
        "{verdict:#}"
    );
    assert_nothing_left(&b, &mark);
}
