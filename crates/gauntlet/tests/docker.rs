//! Plans whose services run in containers (`backend = "docker"`), on the
//! machine's real Docker Engine: examples/plans/shop-docker.toml cycles
//! its api module in a container built here from the example binary; the
//! same api leaking past its memory limit is OOM-killed and FAILs; an
//! image the engine does not have is named before anything starts; and
//! nothing of any run stays on the engine. Skipped, saying so, without an
//! engine or redis-server.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{Bench, explain, free_port, have};
use serde_json::Value;

#[allow(
    clippy::disallowed_macros,
    reason = "a skipped test says why on stderr"
)]
fn skip(why: &str) {
    eprintln!("skipped: {why}");
}

// The engine calls below block on gauntlet-docker's own engine runtime
// (`on_engine`), as the docker backend's do.

/// The engine answers (`DOCKER_HOST`, or the local socket).
fn engine_answers() -> bool {
    let answer = gauntlet_docker::on_engine(async {
        let engine = gauntlet_docker::Engine::connect().await?;
        engine.ping().await
    });
    if let Err(e) = &answer {
        skip(&e.to_string());
    }
    answer.is_ok()
}

/// What the engine still holds of `run` (removing it: the test leaves
/// nothing either way).
fn leftovers(run: &str) -> Vec<String> {
    let run = run.to_owned();
    gauntlet_docker::on_engine(async move {
        let engine = gauntlet_docker::Engine::connect().await.unwrap();
        let removed = gauntlet_docker::remove_run(&engine, &run).await.unwrap();
        [
            removed.containers,
            removed.networks,
            removed.volumes,
            removed.images,
        ]
        .concat()
    })
}

/// Whether container `name` exists and runs.
fn container_running(name: &str) -> bool {
    let name = name.to_owned();
    gauntlet_docker::on_engine(async move {
        let engine = gauntlet_docker::Engine::connect().await.unwrap();
        gauntlet_docker::Container::existing(&engine, name)
            .inspect()
            .await
            .is_ok_and(|s| s.running)
    })
}

/// The directory of the example binaries the workspace build made
/// (`cargo test --workspace` builds them), built now if missing: the
/// images are made from the real `http-service`.
fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let dir = exe.parent().and_then(Path::parent).unwrap().to_owned();
        if !dir.join("http-service").exists() {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let status = std::process::Command::new(cargo)
                .args(["build", "-p", "gauntlet-examples", "--bin", "http-service"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .unwrap();
            assert!(status.success(), "building http-service failed");
        }
        dir
    })
}

fn plan() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/plans/shop-docker.toml")
        .display()
        .to_string()
}

/// `gauntlet run shop-docker.toml` with free ports and `more` settings.
fn run(bench: &Bench, more: &[&str]) -> std::process::Output {
    let bin = format!("bin_dir={}", bin_dir().display());
    let redis = format!("redis_port={}", free_port());
    let api = format!("api_port={}", free_port());
    let plan = plan();
    let mut args = vec![
        "run", &plan, "--cycles", "1", "--set", &bin, "--set", &redis, "--set", &api,
    ];
    args.extend(more);
    bench.gauntlet(&args)
}

fn latest(bench: &Bench) -> Value {
    bench.runs().into_iter().next().expect("a run")
}

#[test]
fn a_plan_cycles_its_module_in_a_container_and_an_oom_kill_fails_it() {
    if !have("redis-server", "redis-server") || !engine_answers() {
        return;
    }
    let bench = Bench::new();

    let out = run(&bench, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    assert!(
        common::stderr(&out).contains("api cycle 1/1: PASS"),
        "{}",
        explain(&out)
    );
    let passed = latest(&bench);
    let report: Value = common::read_json(&bench.artifact_dir(&passed).join("REPORT.json"));
    let module = &report["modules"][0];
    assert!(
        module["rss_max_bytes"].as_f64().is_some_and(|b| b > 0.0),
        "the engine's memory figure: {module}"
    );
    let log =
        std::fs::read_to_string(bench.artifact_dir(&passed).join("services/api.log")).unwrap();
    assert!(log.contains("listening"), "the container's output: {log}");
    assert_eq!(
        leftovers(passed["id"].as_str().unwrap()),
        Vec::<String>::new(),
        "nothing of the run stays on the engine"
    );

    // Every request leaks 16 MiB; the limit is 32 MiB: the health check
    // and the test pass it, and the kernel's OOM killer ends the api.
    let out = run(
        &bench,
        &["--set", "leak_kib=16384", "--set", "mem_limit=32MiB"],
    );
    assert_eq!(out.status.code(), Some(1), "held: {}", explain(&out));
    assert!(
        common::stderr(&out).contains("killed by the OOM killer"),
        "{}",
        explain(&out)
    );
    let held = latest(&bench);
    assert_eq!(held["state"], "held");
    let report = common::read_json(&bench.artifact_dir(&held).join("REPORT.json"));
    let module = &report["modules"][0];
    assert_eq!(module["oom_kills"], 1, "{module}");
    assert_eq!(module["status"], "fail", "{module}");
    assert_eq!(
        leftovers(held["id"].as_str().unwrap()),
        Vec::<String>::new()
    );
}

#[test]
fn an_image_the_engine_lacks_is_named_before_anything_starts() {
    if !engine_answers() {
        return;
    }
    let bench = Bench::new();
    let text = std::fs::read_to_string(plan()).unwrap().replace(
        "build = { binary = \"${redis_bin}\" }",
        "image = \"gauntlet-test/no-such-image:never\"",
    );
    let path = bench.write_plan("missing.toml", &text);
    let bin = format!("bin_dir={}", bin_dir().display());
    let out = bench.gauntlet(&["run", path.to_str().unwrap(), "--set", &bin]);
    assert_eq!(out.status.code(), Some(255), "{}", explain(&out));
    let err = common::stderr(&out);
    assert!(
        err.contains("service redis") && err.contains("no image gauntlet-test/no-such-image:never"),
        "{err}"
    );
    assert!(err.contains("pulls nothing"), "{err}");
}

#[test]
fn container_keys_need_the_docker_backend_and_are_named_at_their_line() {
    let bench = Bench::new();
    let path = bench.write_plan(
        "bad.toml",
        "name = \"x\"\n[[service]]\nname = \"api\"\ncommand = \"true\"\nports = [\"80:80\"]\n[[stage]]\nname = \"u\"\nkind = \"up\"\n",
    );
    let out = bench.gauntlet(&["run", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(254), "{}", explain(&out));
    assert!(
        common::stderr(&out)
            .contains("bad.toml:5:9: `ports` is a container's: add backend = \"docker\""),
        "{}",
        explain(&out)
    );
    let path = bench.write_plan(
        "port.toml",
        "name = \"x\"\n[[service]]\nname = \"api\"\nbackend = \"docker\"\nimage = \"i\"\nports = [\"8080\"]\n[[stage]]\nname = \"u\"\nkind = \"up\"\n",
    );
    let out = bench.gauntlet(&["run", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(254), "{}", explain(&out));
    assert!(
        common::stderr(&out).contains("port.toml:6:"),
        "{}",
        explain(&out)
    );
}

/// A gauntlet SIGKILLed mid-run leaves its containers running (they live
/// in the engine, not in its process tree); `gauntlet clean` removes them,
/// and the run's network, volumes and images, because their owner is dead.
#[test]
fn a_sigkilled_run_s_containers_are_removed_by_the_next_clean() {
    if !have("redis-server", "redis-server") || !engine_answers() {
        return;
    }
    let bench = Bench::new();
    let text = std::fs::read_to_string(plan()).unwrap().replace(
        "[[stage]]\nname = \"modules\"",
        "[[stage]]\nname = \"hold\"\nkind = \"wait\"\nduration = \"2m\"\n\n[[stage]]\nname = \"modules\"",
    );
    assert!(text.contains("name = \"hold\""), "the wait stage is in");
    let path = bench.write_plan("long.toml", &text);
    let bin = format!("bin_dir={}", bin_dir().display());
    let redis = format!("redis_port={}", free_port());
    let mut child = bench
        .command(&[
            "run",
            path.to_str().unwrap(),
            "--set",
            &bin,
            "--set",
            &redis,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Until the run's redis container runs (it is in its wait stage).
    let start = std::time::Instant::now();
    let run = loop {
        // Not `bench.runs()`: it checks that nothing of the bench runs.
        let out = bench.command(&["runs", "--json"]).output().unwrap();
        let runs: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        if let Some(id) = runs[0]["id"].as_str()
            && container_running(&format!("redis-{id}"))
        {
            break id.to_owned();
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "the run never started redis: {runs:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    child.kill().unwrap();
    child.wait().unwrap();

    let out = bench.gauntlet(&["clean", "--json"]);
    assert!(out.status.success(), "{}", explain(&out));
    let cleaned: Value = serde_json::from_slice(&out.stdout).unwrap();
    let containers = cleaned["docker"]["containers"].to_string();
    assert!(
        containers.contains(&format!("redis-{run}")),
        "clean removed the dead run's container: {cleaned}"
    );
    assert_eq!(leftovers(&run), Vec::<String>::new());
}

/// examples/plans/soak-docker.toml: the service fsyncs every write before
/// it acknowledges it; power cuts start a new container from the image.
/// With its data file on the run's volume nothing acknowledged is lost;
/// with it in the container's own file system the readback finds the
/// acknowledged writes gone and I4 fails naming them.
#[test]
fn a_soak_under_power_cuts_keeps_acknowledged_writes_on_a_volume_only() {
    if !engine_answers() {
        return;
    }
    let bench = Bench::new();
    let plan = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/plans/soak-docker.toml")
        .display()
        .to_string();
    let soak = |more: &[&str]| {
        let bin = format!("bin_dir={}", bin_dir().display());
        let api = format!("api_port={}", free_port());
        let public = format!("api_public_port={}", free_port());
        let mut args = vec![
            "soak",
            &plan,
            "--minutes",
            "0.25",
            "--seed",
            "7",
            "--quiet",
            "--set",
            &bin,
            "--set",
            &api,
            "--set",
            &public,
        ];
        args.extend(more);
        let out = bench.gauntlet(&args);
        let run = latest(&bench);
        let verdict = common::read_json(&bench.artifact_dir(&run).join("verdict.json"));
        assert_eq!(leftovers(run["id"].as_str().unwrap()), Vec::<String>::new());
        (out, verdict)
    };

    let (out, verdict) = soak(&[]);
    let i4 = &verdict["invariants"]["I4-no-data-loss"];
    assert_eq!(i4["valid"], true, "{i4:#}\n{}", explain(&out));
    assert!(i4["checked"].as_u64().unwrap() > 20, "{i4}");
    assert!(
        !verdict["faults"].as_array().unwrap().is_empty(),
        "power cuts were carried out: {verdict:#}"
    );
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));

    let (out, verdict) = soak(&["--set", "data_file=/kv.log"]);
    let i4 = &verdict["invariants"]["I4-no-data-loss"];
    assert_eq!(i4["valid"], false, "{i4:#}\n{}", explain(&out));
    assert!(i4["lost"].as_u64().unwrap() > 0, "{i4}");
    assert_eq!(out.status.code(), Some(1), "{}", explain(&out));
}

/// examples/plans/`name`.
fn example_plan(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/plans")
        .join(name)
        .display()
        .to_string()
}

/// `--set` arguments giving the Compose example free ports and the
/// binaries of this build.
fn compose_sets(more: &[(&str, String)]) -> Vec<String> {
    let mut sets = vec![
        ("bin_dir", bin_dir().display().to_string()),
        ("REDIS_PORT", free_port().to_string()),
        ("API_PORT", free_port().to_string()),
        ("KV_PORT", free_port().to_string()),
    ];
    sets.extend(more.iter().cloned());
    sets.into_iter()
        .flat_map(|(k, v)| ["--set".to_owned(), format!("{k}={v}")])
        .collect()
}

/// The Compose example's stack: redis, the api on it (healthy by a check
/// run inside its container), a one-shot smoke job, and kv, which starts
/// only after the job exited 0. Module cycling passes with the engine's
/// figures; the api leaking past its `mem_limit` is OOM-killed and fails.
#[test]
fn a_compose_stack_cycles_its_modules_and_an_oom_kill_fails_one() {
    if !have("redis-server", "redis-server") || !engine_answers() {
        return;
    }
    let bench = Bench::new();
    let plan = example_plan("shop-compose.toml");
    let sets = compose_sets(&[]);
    let mut args = vec!["run", &plan, "--cycles", "1"];
    args.extend(sets.iter().map(String::as_str));
    let out = bench.gauntlet(&args);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let stderr = common::stderr(&out);
    for said in [
        "api cycle 1/1: PASS",
        "starting dependency smoke",
        "kv cycle 1/1: PASS",
    ] {
        assert!(stderr.contains(said), "{said:?} in {}", explain(&out));
    }
    let passed = latest(&bench);
    let report: Value = common::read_json(&bench.artifact_dir(&passed).join("REPORT.json"));
    let modules = report["modules"].as_array().unwrap();
    assert_eq!(modules.len(), 2, "{report:#}");
    for module in modules {
        assert!(
            module["rss_max_bytes"].as_f64().is_some_and(|b| b > 0.0),
            "the engine's memory figure: {module}"
        );
        assert!(
            module["health_p95_ms"].as_f64().is_some(),
            "the healthcheck run inside the container: {module}"
        );
    }
    let smoke =
        std::fs::read_to_string(bench.artifact_dir(&passed).join("services/smoke.log")).unwrap();
    assert!(smoke.contains("passed"), "the job's own output: {smoke}");
    assert_eq!(
        leftovers(passed["id"].as_str().unwrap()),
        Vec::<String>::new(),
        "nothing of the run stays on the engine"
    );

    let sets = compose_sets(&[
        ("LEAK_KIB", "16384".to_owned()),
        ("MEM_LIMIT", "32m".to_owned()),
    ]);
    let mut args = vec!["run", &plan, "--cycles", "1", "--modules", "api"];
    args.extend(sets.iter().map(String::as_str));
    let out = bench.gauntlet(&args);
    assert_eq!(out.status.code(), Some(1), "held: {}", explain(&out));
    assert!(
        common::stderr(&out).contains("killed by the OOM killer"),
        "{}",
        explain(&out)
    );
    let held = latest(&bench);
    let report = common::read_json(&bench.artifact_dir(&held).join("REPORT.json"));
    let module = &report["modules"][0];
    assert_eq!(module["oom_kills"], 1, "{module}");
    assert_eq!(module["status"], "fail", "{module}");
    assert_eq!(
        leftovers(held["id"].as_str().unwrap()),
        Vec::<String>::new()
    );
}

/// The same stack soaked under power cuts: kv's acknowledged writes are
/// kept on its volume, and lost with the data file in the container.
#[test]
fn a_compose_stack_soaks_under_power_cuts() {
    if !have("redis-server", "redis-server") || !engine_answers() {
        return;
    }
    let bench = Bench::new();
    let plan = example_plan("soak-compose.toml");
    let soak = |more: &[(&str, String)]| {
        let mut sets = compose_sets(more);
        sets.extend([
            "--set".to_owned(),
            format!("kv_public_port={}", free_port()),
        ]);
        let mut args = vec!["soak", &plan, "--minutes", "0.25", "--seed", "7", "--quiet"];
        args.extend(sets.iter().map(String::as_str));
        let out = bench.gauntlet(&args);
        let run = latest(&bench);
        let verdict = common::read_json(&bench.artifact_dir(&run).join("verdict.json"));
        assert_eq!(leftovers(run["id"].as_str().unwrap()), Vec::<String>::new());
        (out, verdict)
    };
    let (out, verdict) = soak(&[]);
    let i4 = &verdict["invariants"]["I4-no-data-loss"];
    assert_eq!(i4["valid"], true, "{i4:#}\n{}", explain(&out));
    assert!(i4["checked"].as_u64().unwrap() > 20, "{i4}");
    assert!(
        !verdict["faults"].as_array().unwrap().is_empty(),
        "power cuts were carried out: {verdict:#}"
    );
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));

    let (out, verdict) = soak(&[("DATA_FILE", "/kv.log".to_owned())]);
    let i4 = &verdict["invariants"]["I4-no-data-loss"];
    assert_eq!(i4["valid"], false, "{i4:#}\n{}", explain(&out));
    assert_eq!(out.status.code(), Some(1), "{}", explain(&out));
}

/// Compose networks are the run's own and keep services apart: `web`
/// reaches `api` on `front`; `spy`, on `front` only, cannot reach `db` on
/// `back`, and its check (run inside its container) never passes.
#[test]
fn compose_networks_keep_services_apart() {
    if !engine_answers() {
        return;
    }
    let bench = Bench::new();
    let http = bin_dir().join("http-service");
    let check = |url: &str| {
        format!(
            "    healthcheck:\n      test: [\"CMD\", \"/app/http-service\", \"--selftest\", \"{url}\"]\n      interval: 200ms\n      timeout: 1s\n      retries: 4\n"
        )
    };
    let serve =
        "    command: --bind 0.0.0.0 --port 8080 --data-file /kv.log\n    stop_grace_period: 1s\n";
    let compose = format!(
        "services:\n  db:\n    image: app:dev\n{serve}    networks: [back]\n  api:\n    image: app:dev\n{serve}    networks: [front, back]\n{}  web:\n    image: app:dev\n{serve}    networks: [front]\n{}  spy:\n    image: app:dev\n{serve}    networks: [front]\n{}networks:\n  front:\n  back:\n",
        check("http://db:8080"),
        check("http://api:8080"),
        check("http://db:8080"),
    );
    bench.write_plan("docker-compose.yml", &compose);
    let plan = bench.write_plan(
        "nets.toml",
        &format!(
            "[compose]\nfile = \"docker-compose.yml\"\nproject = \"nets\"\n[compose.images]\n\"app:dev\" = {{ binary = \"{}\" }}\n[[stage]]\nname = \"reach\"\nkind = \"up\"\nservices = [\"db\", \"api\", \"web\"]\n[[stage]]\nname = \"apart\"\nkind = \"up\"\nservices = [\"spy\"]\n",
            http.display()
        ),
    );
    let out = bench.gauntlet(&["run", plan.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "held at `apart`: {}",
        explain(&out)
    );
    let stderr = common::stderr(&out);
    assert!(stderr.contains("[1/2] reach passed"), "{}", explain(&out));
    assert!(
        stderr.contains("spy did not become healthy"),
        "{}",
        explain(&out)
    );
    let held = latest(&bench);
    assert_eq!(
        leftovers(held["id"].as_str().unwrap()),
        Vec::<String>::new()
    );
}

/// A Compose file's mistakes are the plan's: named at the file's line,
/// exit 254, before anything starts.
#[test]
fn a_bad_compose_file_is_named_at_its_line() {
    let bench = Bench::new();
    bench.write_plan(
        "docker-compose.yml",
        "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n  c:\n    image: x\n    cap_add: [NET_ADMIN]\n",
    );
    let plan = bench.write_plan(
        "bad.toml",
        "[compose]\nfile = \"docker-compose.yml\"\n[[stage]]\nname = \"u\"\nkind = \"up\"\n",
    );
    let out = bench.gauntlet(&["run", plan.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(254), "{}", explain(&out));
    assert!(
        common::stderr(&out).contains("docker-compose.yml:10:1: c: `cap_add` is not supported"),
        "{}",
        explain(&out)
    );
    bench.write_plan(
        "docker-compose.yml",
        "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n",
    );
    let out = bench.gauntlet(&["run", plan.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(254), "{}", explain(&out));
    assert!(
        common::stderr(&out).contains("dependency cycle in depends_on: "),
        "{}",
        explain(&out)
    );
}

/// Network faults between containers, through the one fault model: a
/// partition (nftables in the container's network namespace) and a
/// disconnect (the engine's) of `db` each make `web`'s check — run
/// inside `web`, reaching `db` by name — fail while the fault holds, and
/// pass again once it is healed; before the first fault it always passed.
#[test]
fn partitions_and_disconnects_cut_containers_off_and_heal() {
    if !engine_answers() {
        return;
    }
    let bench = Bench::new();
    let serve =
        "    command: --bind 0.0.0.0 --port 8080 --data-file /kv.log\n    stop_grace_period: 1s\n";
    bench.write_plan(
        "docker-compose.yml",
        &format!(
            "services:\n  db:\n    image: app:dev\n{serve}    ports: [\"${{DB_PORT}}:8080\"]\n  web:\n    image: app:dev\n{serve}    healthcheck:\n      test: [\"CMD\", \"/app/http-service\", \"--selftest\", \"http://db:8080\"]\n      interval: 200ms\n      timeout: 500ms\n      retries: 10\n"
        ),
    );
    let plan = bench.write_plan(
        "cut.toml",
        &format!(
            r#"[vars]
DB_PORT = "{port}"
[compose]
file = "docker-compose.yml"
[compose.images]
"app:dev" = {{ binary = "{http}" }}
[soak]
minutes = 0.25
warmup = "1s"
calm_timeout = "30s"
[users]
count = 1
think_min = "100ms"
think_max = "200ms"
keys_per_user = 20
[[users.step]]
name = "put"
method = "PUT"
url = "http://127.0.0.1:${{DB_PORT}}/kv/{{{{key}}}}"
body = "{{{{value}}}}"
write = true
timeout = "2s"
[readback]
http = "http://127.0.0.1:${{DB_PORT}}/kv/{{{{key}}}}"
[[fault]]
name = "cut"
kind = "partition"
service = "db"
every = "5s"
duration = "2s"
scenarios = ["cut"]
[[fault]]
name = "unplug"
kind = "disconnect"
service = "db"
every = "5s"
duration = "2s"
scenarios = ["unplug"]
"#,
            port = free_port(),
            http = bin_dir().join("http-service").display()
        ),
    );
    for scenario in ["cut", "unplug"] {
        let out = bench.gauntlet(&[
            "soak",
            plan.to_str().unwrap(),
            "--scenario",
            scenario,
            "--quiet",
        ]);
        let run = latest(&bench);
        assert_eq!(leftovers(run["id"].as_str().unwrap()), Vec::<String>::new());
        let record = common::read_json(&bench.artifact_dir(&run).join("soak-record.json"));
        let windows: Vec<(i64, i64)> = record["faults"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["start_ms"].as_i64().unwrap(),
                    f["end_ms"].as_i64().unwrap(),
                )
            })
            .collect();
        assert!(
            !windows.is_empty(),
            "{scenario}: {record:#}\n{}",
            explain(&out)
        );
        let health: Vec<(i64, bool)> = record["health"]["web"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["t_ms"].as_i64().unwrap(), s["healthy"].as_bool().unwrap()))
            .collect();
        let seen = |pick: &dyn Fn(i64) -> bool| -> Vec<bool> {
            health
                .iter()
                .filter(|(t, _)| pick(*t))
                .map(|(_, h)| *h)
                .collect()
        };
        // A sample is stamped when its probe starts, and a probe takes up
        // to its timeout (500 ms): one begun just before the first fault
        // may see it.
        let before = seen(&|t| t + 1000 < windows[0].0);
        assert!(
            !before.is_empty() && before.iter().all(|h| *h),
            "{scenario}: web reaches db before any fault: {health:?}"
        );
        let during = seen(&|t| windows.iter().any(|(s, e)| t > s + 300 && t < *e));
        assert!(
            during.iter().any(|h| !h),
            "{scenario}: web cannot reach db while it holds: {health:?} in {windows:?}"
        );
        assert_eq!(
            health.last().map(|(_, h)| *h),
            Some(true),
            "{scenario}: healed: {health:?}"
        );
    }
}
