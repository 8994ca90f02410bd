//! Plans that load: the resolved model, variables, `--set`, `--cycles`,
//! `--modules`, defaults, and the example plans.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gauntlet_plan::*;

const PATH: &str = "/plans/shop.toml";

fn load_text(text: &str, opts: &LoadOptions) -> Plan {
    match load_str(text, Path::new(PATH), opts) {
        Ok(plan) => plan,
        Err(e) => panic!("plan should load: {e}"),
    }
}

fn s(x: &str) -> String {
    x.to_owned()
}

fn strings(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|x| s(x)).collect()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (s(k), s(v))).collect()
}

const FULL: &str = r#"
name = "shop"
description = "the full shape"

[vars]
redis_port = "6390"
api_port = 8380
bin = "${plan_dir}/bin"

[[service]]
name = "redis"
command = ["redis-server", "--port", "${redis_port}", "--save", ""]
[service.health]
tcp = "127.0.0.1:${redis_port}"

[[service]]
name = "api"
command = "exec ${bin}/api --port ${api_port}"
cwd = "srv/api"
env = { PORT = "${api_port}", MODE = "test" }
depends_on = ["redis"]
restart = "on-failure"
stop_timeout = "1m30s"
tests = [
  "cargo test -p api",
  ["pytest", "-k", "smoke"],
  { name = "slow", command = "make check", timeout = "5m", expect_exit = 2, expect_stdout = "ok ${api_port}", cwd = "/abs", env = { EXTRA = "1" } },
]
[service.health]
http = "http://127.0.0.1:${api_port}/health"
status = 204
timeout = "45s"
interval = "250ms"
max_interval = "4s"
jitter = 0.1
probe_timeout = "1s"
warn_p95 = "500ms"
[service.limits]
max_rss = "256MiB"
max_cpu = 90
max_restarts = 3
rss_growth_warn_pct = 15.5

[[stage]]
kind = "up"
services = ["api"]

[[stage]]
name = "smoke"
kind = "command"
command = ["curl", "-fsS", "http://127.0.0.1:${api_port}/"]
env = { A = "b" }
expect_stdout = "hello"

[[stage]]
kind = "probe"
[stage.expected]
kernel = { contains = "Linux", severity = "info" }
cpus = { min = 1 }
arch = "x86_64"
mem_total_mib = { max = 1e6, severity = "warning" }
disks = { equals = [1, 2] }

[[stage]]
kind = "wait"
duration = "2s"

[[stage]]
kind = "cycle"
cycles = 3

[[stage]]
kind = "up"

[[stage]]
kind = "down"
services = ["redis"]
"#;

#[test]
fn full_plan_loads_to_the_expected_model() {
    let plan = load_text(FULL, &LoadOptions::default());
    let dir = PathBuf::from("/plans");
    let api_dir = PathBuf::from("/plans/srv/api");
    let api_env = map(&[("PORT", "8380"), ("MODE", "test")]);

    let redis = Service {
        name: s("redis"),
        run: Command {
            command: CommandLine::Argv(strings(&["redis-server", "--port", "6390", "--save", ""])),
            cwd: dir.clone(),
            env: BTreeMap::new(),
        },
        depends_on: vec![],
        ready: Readiness::Healthy,
        health: Some(HealthCheck {
            probe: Probe::Tcp {
                address: s("127.0.0.1:6390"),
            },
            timeout: Duration::from_secs(30),
            interval: Duration::from_millis(100),
            max_interval: Duration::from_secs(2),
            jitter: 0.2,
            probe_timeout: Duration::from_secs(2),
            warn_p95: None,
        }),
        limits: Limits {
            max_rss: None,
            max_cpu: None,
            max_restarts: None,
            rss_growth_warn_pct: 20.0,
        },
        restart: RestartPolicy::Never,
        stop_timeout: Duration::from_secs(5),
        tests: vec![],
        host: None,
        group: None,
        container: None,
    };
    let test = |name: &str, command: CommandLine| TestCommand {
        name: s(name),
        run: Command {
            command,
            cwd: api_dir.clone(),
            env: api_env.clone(),
        },
        timeout: Duration::from_secs(600),
        expect: Expect {
            exit: 0,
            stdout_contains: None,
            figures: Vec::new(),
        },
    };
    let api = Service {
        name: s("api"),
        run: Command {
            command: CommandLine::Shell(s("exec /plans/bin/api --port 8380")),
            cwd: api_dir.clone(),
            env: api_env.clone(),
        },
        depends_on: strings(&["redis"]),
        ready: Readiness::Healthy,
        health: Some(HealthCheck {
            probe: Probe::Http {
                url: s("http://127.0.0.1:8380/health"),
                status: 204,
            },
            timeout: Duration::from_secs(45),
            interval: Duration::from_millis(250),
            max_interval: Duration::from_secs(4),
            jitter: 0.1,
            probe_timeout: Duration::from_secs(1),
            warn_p95: Some(Duration::from_millis(500)),
        }),
        limits: Limits {
            max_rss: Some(256 << 20),
            max_cpu: Some(90.0),
            max_restarts: Some(3),
            rss_growth_warn_pct: 15.5,
        },
        restart: RestartPolicy::OnFailure,
        stop_timeout: Duration::from_secs(90),
        tests: vec![
            test(
                "cargo test -p api",
                CommandLine::Shell(s("cargo test -p api")),
            ),
            test(
                "pytest -k smoke",
                CommandLine::Argv(strings(&["pytest", "-k", "smoke"])),
            ),
            TestCommand {
                name: s("slow"),
                run: Command {
                    command: CommandLine::Shell(s("make check")),
                    cwd: PathBuf::from("/abs"),
                    env: map(&[("PORT", "8380"), ("MODE", "test"), ("EXTRA", "1")]),
                },
                timeout: Duration::from_secs(300),
                expect: Expect {
                    exit: 2,
                    stdout_contains: Some(s("ok 8380")),
                    figures: Vec::new(),
                },
            },
        ],
        host: None,
        group: None,
        container: None,
    };

    let stages = vec![
        StageSpec {
            name: s("up"),
            kind: StageKind::Up {
                services: strings(&["api"]),
            },
            guards: Default::default(),
        },
        StageSpec {
            name: s("smoke"),
            kind: StageKind::Command(TestCommand {
                name: s("smoke"),
                run: Command {
                    command: CommandLine::Argv(strings(&[
                        "curl",
                        "-fsS",
                        "http://127.0.0.1:8380/",
                    ])),
                    cwd: dir.clone(),
                    env: map(&[("A", "b")]),
                },
                timeout: Duration::from_secs(600),
                expect: Expect {
                    exit: 0,
                    stdout_contains: Some(s("hello")),
                    figures: Vec::new(),
                },
            }),
            guards: Default::default(),
        },
        StageSpec {
            name: s("probe"),
            kind: StageKind::Probe {
                // File order, not alphabetical.
                expected: vec![
                    Expectation {
                        field: s("kernel"),
                        check: ExpectCheck::Contains(s("Linux")),
                        severity: Severity::Info,
                    },
                    Expectation {
                        field: s("cpus"),
                        check: ExpectCheck::Min(1.0),
                        severity: Severity::Critical,
                    },
                    Expectation {
                        field: s("arch"),
                        check: ExpectCheck::Equals(serde_json::json!("x86_64")),
                        severity: Severity::Critical,
                    },
                    Expectation {
                        field: s("mem_total_mib"),
                        check: ExpectCheck::Max(1e6),
                        severity: Severity::Warning,
                    },
                    Expectation {
                        field: s("disks"),
                        check: ExpectCheck::Equals(serde_json::json!([1, 2])),
                        severity: Severity::Critical,
                    },
                ],
            },
            guards: Default::default(),
        },
        StageSpec {
            name: s("wait"),
            kind: StageKind::Wait {
                duration: Duration::from_secs(2),
            },
            guards: Default::default(),
        },
        StageSpec {
            name: s("cycle"),
            kind: StageKind::Cycle {
                modules: strings(&["api"]),
                cycles: 3,
            },
            guards: Default::default(),
        },
        StageSpec {
            name: s("up-2"),
            kind: StageKind::Up {
                services: strings(&["redis", "api"]),
            },
            guards: Default::default(),
        },
        StageSpec {
            name: s("down"),
            kind: StageKind::Down {
                services: strings(&["redis"]),
            },
            guards: Default::default(),
        },
    ];

    let expected = Plan {
        name: s("shop"),
        description: Some(s("the full shape")),
        path: Some(PathBuf::from(PATH)),
        vars: map(&[
            ("redis_port", "6390"),
            ("api_port", "8380"),
            ("bin", "/plans/bin"),
        ]),
        services: vec![redis, api],
        stages,
        soak: None,
        lab: None,
        fleet: None,
        cluster: None,
        compose: None,
        notify: Vec::new(),
        warnings: Vec::new(),
        allowed_devices: Vec::new(),
        sensors: Default::default(),
    };
    assert_eq!(plan, expected);
}

#[test]
fn the_resolved_plan_round_trips_through_json() {
    let plan = load_text(FULL, &LoadOptions::default());
    let json = serde_json::to_string(&plan).expect("serialize");
    let back: Plan = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back, plan);
}

const SMALL: &str = r#"
[vars]
port = "8080"
host = "127.0.0.1"
addr = "${host}:${port}"

[[service]]
name = "a"
command = ["srv", "--listen", "${addr}", "price: $$5 $${literal} $HOME"]
cwd = "${plan_dir}/../run"
tests = ["true"]
[service.health]
command = "nc -z ${host} ${port}"

[[service]]
name = "b"
command = "srv"
depends_on = ["a"]
tests = ["true"]

[[service]]
name = "c"
command = "srv"

[[stage]]
kind = "command"
command = "echo ${port}"
"#;

fn argv(plan: &Plan, service: usize) -> Vec<String> {
    match &plan.services[service].run.command {
        CommandLine::Argv(a) => a.clone(),
        other => panic!("expected argv, got {other:?}"),
    }
}

#[test]
fn variables_expand_including_other_variables_and_escapes() {
    let plan = load_text(SMALL, &LoadOptions::default());
    assert_eq!(plan.name, "shop", "default name is the file stem");
    assert_eq!(
        argv(&plan, 0),
        strings(&[
            "srv",
            "--listen",
            "127.0.0.1:8080",
            "price: $$5 ${literal} $HOME"
        ])
    );
    assert_eq!(plan.services[0].run.cwd, PathBuf::from("/plans/../run"));
    let Some(HealthCheck {
        probe: Probe::Command(probe),
        ..
    }) = &plan.services[0].health
    else {
        panic!("command health check expected");
    };
    assert_eq!(probe.command, CommandLine::Shell(s("nc -z 127.0.0.1 8080")));
    assert_eq!(
        probe.cwd, plan.services[0].run.cwd,
        "runs where the service runs"
    );
    assert_eq!(
        plan.vars.get("addr").map(String::as_str),
        Some("127.0.0.1:8080")
    );
    assert!(
        !plan.vars.contains_key(PLAN_DIR),
        "plan_dir is built in, not a plan var"
    );
}

#[test]
fn set_overrides_a_variable_everywhere_it_is_used() {
    let opts = LoadOptions {
        sets: vec![
            parse_set("port=9999").unwrap(),
            parse_set("host=::1").unwrap(),
        ],
        ..LoadOptions::default()
    };
    let plan = load_text(SMALL, &opts);
    assert_eq!(
        argv(&plan, 0)[2],
        "::1:9999",
        "addr is rebuilt from the overrides"
    );
    let StageKind::Command(cmd) = &plan.stages[0].kind else {
        panic!("command stage expected");
    };
    assert_eq!(cmd.run.command, CommandLine::Shell(s("echo 9999")));
    assert_eq!(plan.vars["port"], "9999");
}

#[test]
fn set_value_may_use_variables() {
    let opts = LoadOptions {
        sets: vec![parse_set("port=${host}").unwrap()],
        ..LoadOptions::default()
    };
    let plan = load_text(SMALL, &opts);
    assert_eq!(plan.vars["port"], "127.0.0.1");
}

#[test]
fn parse_set_splits_at_the_first_equals() {
    assert_eq!(parse_set("a=b=c").unwrap(), (s("a"), s("b=c")));
    assert_eq!(parse_set("a=").unwrap(), (s("a"), s("")));
    assert!(matches!(
        parse_set("novalue"),
        Err(PlanError::Option { .. })
    ));
    assert!(matches!(parse_set("=x"), Err(PlanError::Option { .. })));
    assert!(matches!(parse_set("a b=x"), Err(PlanError::Option { .. })));
}

#[test]
fn relative_plan_paths_become_absolute() {
    let plan = load_str(SMALL, Path::new("dir/p.toml"), &LoadOptions::default()).unwrap();
    let path = plan.path.expect("path");
    assert!(path.is_absolute());
    assert!(path.ends_with("dir/p.toml"));
    assert_eq!(plan.services[2].run.cwd, path.parent().unwrap());
    assert_eq!(plan.name, "p");
}

fn cycle_stages(plan: &Plan) -> Vec<(String, Vec<String>, u32)> {
    plan.stages
        .iter()
        .filter_map(|st| match &st.kind {
            StageKind::Cycle { modules, cycles } => {
                Some((st.name.clone(), modules.clone(), *cycles))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn cycles_and_modules_append_a_cycle_stage_when_there_is_none() {
    let plan = load_text(
        SMALL,
        &LoadOptions {
            cycles: Some(4),
            ..LoadOptions::default()
        },
    );
    assert_eq!(
        cycle_stages(&plan),
        vec![(s("cycle"), strings(&["a", "b"]), 4)]
    );
    assert_eq!(plan.stages.last().map(|s| s.name.as_str()), Some("cycle"));

    let plan = load_text(
        SMALL,
        &LoadOptions {
            modules: Some(strings(&["b"])),
            ..LoadOptions::default()
        },
    );
    assert_eq!(cycle_stages(&plan), vec![(s("cycle"), strings(&["b"]), 1)]);

    // Without either, nothing is added.
    let plan = load_text(SMALL, &LoadOptions::default());
    assert!(cycle_stages(&plan).is_empty());
}

const TWO_CYCLES: &str = r#"
[[service]]
name = "db"
command = "db"
tests = ["t"]
[[service]]
name = "api"
command = "api"
depends_on = ["db"]
tests = ["t"]
[[service]]
name = "ui"
command = "ui"
tests = ["t"]

[[stage]]
kind = "cycle"
modules = ["api", "db"]
[[stage]]
name = "again"
kind = "cycle"
modules = ["ui", "api"]
cycles = 2
"#;

#[test]
fn modules_are_kept_in_dependency_order() {
    let plan = load_text(TWO_CYCLES, &LoadOptions::default());
    assert_eq!(
        cycle_stages(&plan),
        vec![
            (s("cycle"), strings(&["db", "api"]), 1),
            (s("again"), strings(&["api", "ui"]), 2),
        ]
    );
}

#[test]
fn cycles_and_modules_restrict_every_cycle_stage() {
    let plan = load_text(
        TWO_CYCLES,
        &LoadOptions {
            cycles: Some(5),
            modules: Some(strings(&["api"])),
            ..LoadOptions::default()
        },
    );
    assert_eq!(
        cycle_stages(&plan),
        vec![
            (s("cycle"), strings(&["api"]), 5),
            (s("again"), strings(&["api"]), 5),
        ]
    );
    let plan = load_text(
        TWO_CYCLES,
        &LoadOptions {
            modules: Some(strings(&["ui"])),
            ..LoadOptions::default()
        },
    );
    assert_eq!(
        cycle_stages(&plan),
        vec![(s("cycle"), vec![], 1), (s("again"), strings(&["ui"]), 2)]
    );
}

#[test]
fn default_stage_names_count_per_kind_and_avoid_explicit_names() {
    let plan = load_text(
        r#"
[[service]]
name = "a"
command = "a"
[[stage]]
kind = "wait"
duration = "1s"
[[stage]]
name = "wait-2"
kind = "up"
[[stage]]
kind = "wait"
duration = "1s"
[[stage]]
kind = "wait"
duration = "1s"
[[stage]]
kind = "up"
"#,
        &LoadOptions::default(),
    );
    let names: Vec<&str> = plan.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["wait", "wait-2", "wait-3", "wait-4", "up"]);
}

#[test]
fn durations_and_sizes() {
    for (text, ms) in [
        ("250ms", 250),
        ("30s", 30_000),
        ("5m", 300_000),
        ("1h", 3_600_000),
        ("1m30s", 90_000),
        ("1h2m3s4ms", 3_723_004),
    ] {
        assert_eq!(
            parse_duration(text),
            Ok(Duration::from_millis(ms)),
            "{text}"
        );
    }
    for bad in ["", "30", "1.5s", "30 s", "30S", "1d", "m", "-5s"] {
        assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
    }
    for (text, bytes) in [
        ("512", 512),
        ("512B", 512),
        ("1KB", 1000),
        ("1KiB", 1024),
        ("3MB", 3_000_000),
        ("256MiB", 256 * 1024 * 1024),
        ("2GB", 2_000_000_000),
        ("2GiB", 2 * 1024 * 1024 * 1024),
        ("4 mib", 4 * 1024 * 1024),
    ] {
        assert_eq!(parse_size(text), Ok(bytes), "{text}");
    }
    for bad in ["", "MiB", "1.5GiB", "12 XB", "-1"] {
        assert!(parse_size(bad).is_err(), "{bad:?} should be rejected");
    }
    assert_eq!(format_duration(Duration::from_millis(90_500)), "1m30s500ms");
}

#[test]
fn sizes_may_be_plain_integers_in_the_plan() {
    let plan = load_text(
        r#"
[[service]]
name = "a"
command = "a"
[service.limits]
max_rss = 1048576
[[stage]]
kind = "up"
"#,
        &LoadOptions::default(),
    );
    assert_eq!(plan.services[0].limits.max_rss, Some(1 << 20));
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/plans")
}

#[test]
fn every_example_plan_loads() {
    let mut count = 0;
    let entries = std::fs::read_dir(examples_dir()).expect("examples/plans exists");
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            if let Err(e) = load(&path, &LoadOptions::default()) {
                panic!("{e}");
            }
            count += 1;
        }
    }
    assert!(count >= 3, "expected the shipped examples, found {count}");
}

#[test]
fn shop_example_has_the_documented_shape() {
    let plan = load(&examples_dir().join("shop.toml"), &LoadOptions::default()).unwrap();
    let dir = examples_dir();
    let names: Vec<&str> = plan.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["redis", "api", "worker"]);
    let CommandLine::Argv(api) = &plan.services[1].run.command else {
        panic!("api runs as argv");
    };
    let bin = std::path::absolute(&dir)
        .unwrap()
        .join("../../target/release/http-service");
    assert_eq!(Path::new(&api[0]), bin);
    assert_eq!(
        api[1..],
        strings(&["--port", "8380", "--redis", "127.0.0.1:6390"])
    );

    let stages = expand(&plan);
    let names: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "start",
            "smoke",
            "machine",
            "stop-api",
            "cycle1/api",
            "cycle1/worker",
            "cycle2/api",
            "cycle2/worker",
            "soak",
            "stop"
        ]
    );
    // The override of --set reaches the example too.
    let plan = load(
        &examples_dir().join("shop.toml"),
        &LoadOptions {
            sets: vec![(s("bin_dir"), s("/opt/bin"))],
            ..LoadOptions::default()
        },
    )
    .unwrap();
    let CommandLine::Argv(api) = &plan.services[1].run.command else {
        panic!("api runs as argv");
    };
    assert_eq!(api[0], "/opt/bin/http-service");
}

#[test]
fn quoted_dotted_expected_fields_are_paths() {
    let plan = load_text(
        "[[stage]]\nkind = \"probe\"\n[stage.expected]\n\"disks.count\" = { min = 1 }\n",
        &LoadOptions::default(),
    );
    let StageKind::Probe { expected } = &plan.stages[0].kind else {
        panic!("probe expected");
    };
    assert_eq!(expected[0].field, "disks.count");
    assert_eq!(expected[0].check, ExpectCheck::Min(1.0));
}
