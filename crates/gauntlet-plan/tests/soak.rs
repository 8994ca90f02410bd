//! Soak plans: `[soak]`, `[users]`, `[readback]`, `[[fault]]`,
//! `[proxy.<service>]`, `[observer]`, `[invariants]` load to the expected
//! model; every rule gives its message at the right line and column;
//! `--minutes`, `--users`, `--scenario`; scenario filtering; the examples.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gauntlet_plan::soak::*;
use gauntlet_plan::*;

const PATH: &str = "/plans/soak.toml";

fn load_text(text: &str, opts: &LoadOptions) -> Plan {
    match load_str(text, Path::new(PATH), opts) {
        Ok(plan) => plan,
        Err(e) => panic!("plan should load: {e}"),
    }
}

fn soak_of(text: &str, opts: &LoadOptions) -> Soak {
    load_text(text, opts).soak.expect("a soak plan")
}

fn error_with(text: &str, opts: &LoadOptions) -> PlanError {
    match load_str(text, Path::new("plan.toml"), opts) {
        Ok(plan) => panic!("expected an error, got {plan:#?}"),
        Err(e) => e,
    }
}

fn error(text: &str) -> PlanError {
    error_with(text, &LoadOptions::default())
}

fn s(x: &str) -> String {
    x.to_owned()
}

fn strings(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|x| s(x)).collect()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Line and column (1-based) of the `nth` (0-based) occurrence of
/// `needle` in `text`.
fn find(text: &str, needle: &str, nth: usize) -> (usize, usize) {
    let (offset, _) = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("{needle:?} #{nth} is not in the plan"));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    (line, column)
}

/// Asserts the error is at `line:column` and its message contains `needle`.
#[track_caller]
fn assert_at(e: &PlanError, (line, column): (usize, usize), needle: &str) {
    let shown = e.to_string();
    assert_eq!(
        (e.line(), e.column()),
        (Some(line), Some(column)),
        "position of: {shown}"
    );
    assert!(
        shown.starts_with(&format!("plan.toml:{line}:{column}: ")),
        "display: {shown}"
    );
    assert!(
        shown.contains(needle),
        "{shown:?} should contain {needle:?}"
    );
}

/// Asserts `text` fails at the `nth` occurrence of `place` with `needle`.
#[track_caller]
fn fails_at(text: &str, place: &str, nth: usize, needle: &str) {
    assert_at(&error(text), find(text, place, nth), needle);
}

#[track_caller]
fn option_error(text: &str, opts: &LoadOptions, needle: &str) {
    let e = error_with(text, opts);
    assert!(matches!(e, PlanError::Option { .. }), "{e:?}");
    assert!(
        e.to_string().contains(needle),
        "{e} should contain {needle:?}"
    );
}

// ------------------------------------------------------------- the model

const FULL: &str = r#"
name = "soak"

[vars]
api_port = "8480"
api_public_port = "8481"
redis_port = "6490"

[[service]]
name = "redis"
command = "redis-server --port ${redis_port}"

[[service]]
name = "api"
command = ["api", "--port", "${api_port}"]
depends_on = ["redis"]

[soak]
minutes = 480
warmup = "30s"
calm_timeout = "1m30s"
scenario = "storm"
seed = 42

[users]
count = 12
think_min = "50ms"
think_max = "1s"
keys_per_user = 7
unreachable_after = "45s"

[[users.step]]
name = "login"
method = "POST"
url = "http://127.0.0.1:${api_public_port}/login/{{user}}"
expect_status = 201
capture = { token = "/token", all = "" }
timeout = "2s"

[[users.step]]
method = "PUT"
url = "http://127.0.0.1:${api_public_port}/kv/{{key}}?t={{token}}"
body = '{"value":"{{value}}","seq":{{seq}}}'
write = true

[[users.step]]
url = "http://127.0.0.1:${api_public_port}/kv/{{key}}"

[readback]
http = "http://127.0.0.1:${api_port}/kv/{{key}}"

[proxy.api]
listen = "127.0.0.1:${api_public_port}"
upstream = "127.0.0.1:${api_port}"

[proxy.redis]
listen = "127.0.0.1:7490"
upstream = "127.0.0.1:${redis_port}"

[[fault]]
name = "cut"
kind = "power-cut"
every = "20m..40m"
scenarios = ["storm", "cut"]

[[fault]]
kind = "kill"
service = "api"
every = "30m"
duration = "2s"
scenarios = ["storm"]

[[fault]]
kind = "kill"
service = "redis"
every = "1m..2m"

[[fault]]
kind = "pause"
service = "redis"
every = "1m"

[[fault]]
kind = "restart"
service = "api"
every = "1m"

[[fault]]
kind = "partition"
service = "api"
every = "10s..20s"
mode = "blackhole"
scenarios = ["flap"]

[[fault]]
kind = "partition"
service = "redis"
every = "10s..20s"

[[fault]]
kind = "latency"
service = "api"
every = "10s..20s"
duration = "3s"
latency = "200ms"
jitter = "50ms"
scenarios = ["flap", "storm"]

[[fault]]
kind = "latency"
service = "redis"
every = "1m"
latency = "1s"

[[fault]]
kind = "bandwidth"
service = "api"
every = "1m"
rate = "64KiB"

[[fault]]
kind = "reset"
service = "api"
every = "1m"

[[fault]]
kind = "timeout"
service = "api"
every = "1m"
after = "2s"

[[fault]]
kind = "timeout"
service = "redis"
every = "1m"

[observer]
interval = "500ms"
log_patterns = ["panic", "ERROR"]

[invariants]
p95_max = "500ms"
gap_max = "5s"
grace = "20s"
rss_slope_max_mb_per_hour = 25
recover_within = "30s"
restart_budget = 1
flap_budget = 2
gate = ["I4", "I1"]
"#;

fn fault(
    name: &str,
    kind: FaultKind,
    target: Option<&str>,
    every: (Duration, Duration),
    duration: Duration,
    scenarios: &[&str],
) -> FaultSpec {
    FaultSpec {
        name: s(name),
        kind,
        target: target.map(s),
        every_min: every.0,
        every_max: every.1,
        duration,
        scenarios: strings(scenarios),
    }
}

#[test]
fn full_soak_plan_loads_to_the_expected_model() {
    let plan = load_text(FULL, &LoadOptions::default());
    assert!(plan.stages.is_empty(), "a soak plan needs no stages");
    let soak = plan.soak.expect("a soak plan");
    let api = "http://127.0.0.1:8481";
    let minute = secs(60);
    let expected = Soak {
        duration: secs(480 * 60),
        warmup: secs(30),
        calm_timeout: secs(90),
        scenario: s("storm"),
        seed: Some(42),
        users: Users {
            count: 12,
            think_min: ms(50),
            think_max: secs(1),
            keys_per_user: 7,
            scenario: UserScenario::Http(vec![
                HttpStep {
                    name: s("login"),
                    method: s("POST"),
                    url: format!("{api}/login/{{{{user}}}}"),
                    body: None,
                    expect_status: 201,
                    write: false,
                    capture: [(s("token"), s("/token")), (s("all"), s(""))]
                        .into_iter()
                        .collect(),
                    timeout: secs(2),
                },
                HttpStep {
                    name: s("step-2"),
                    method: s("PUT"),
                    url: format!("{api}/kv/{{{{key}}}}?t={{{{token}}}}"),
                    body: Some(s(r#"{"value":"{{value}}","seq":{{seq}}}"#)),
                    expect_status: 200,
                    write: true,
                    capture: BTreeMap::new(),
                    timeout: secs(5),
                },
                HttpStep {
                    name: s("step-3"),
                    method: s("GET"),
                    url: format!("{api}/kv/{{{{key}}}}"),
                    body: None,
                    expect_status: 200,
                    write: false,
                    capture: BTreeMap::new(),
                    timeout: secs(5),
                },
            ]),
            unreachable_after: secs(45),
        },
        readback: Readback::Http {
            url: s("http://127.0.0.1:8480/kv/{{key}}"),
        },
        faults: vec![
            fault(
                "cut",
                FaultKind::PowerCut,
                None,
                (20 * minute, 40 * minute),
                secs(5),
                &["storm", "cut"],
            ),
            fault(
                "kill",
                FaultKind::Kill,
                Some("api"),
                (30 * minute, 30 * minute),
                secs(2),
                &["storm"],
            ),
            fault(
                "kill-2",
                FaultKind::Kill,
                Some("redis"),
                (minute, 2 * minute),
                secs(5),
                &["all"],
            ),
            fault(
                "pause",
                FaultKind::Pause,
                Some("redis"),
                (minute, minute),
                secs(5),
                &["all"],
            ),
            fault(
                "restart",
                FaultKind::Restart,
                Some("api"),
                (minute, minute),
                secs(5),
                &["all"],
            ),
            fault(
                "partition",
                FaultKind::Partition {
                    mode: PartitionMode::Blackhole,
                },
                Some("api"),
                (secs(10), secs(20)),
                secs(5),
                &["flap"],
            ),
            fault(
                "partition-2",
                FaultKind::Partition {
                    mode: PartitionMode::Refuse,
                },
                Some("redis"),
                (secs(10), secs(20)),
                secs(5),
                &["all"],
            ),
            fault(
                "latency",
                FaultKind::Latency {
                    latency: ms(200),
                    jitter: ms(50),
                },
                Some("api"),
                (secs(10), secs(20)),
                secs(3),
                &["flap", "storm"],
            ),
            fault(
                "latency-2",
                FaultKind::Latency {
                    latency: secs(1),
                    jitter: Duration::ZERO,
                },
                Some("redis"),
                (minute, minute),
                secs(5),
                &["all"],
            ),
            fault(
                "bandwidth",
                FaultKind::Bandwidth {
                    bytes_per_sec: 64 * 1024,
                },
                Some("api"),
                (minute, minute),
                secs(5),
                &["all"],
            ),
            fault(
                "reset",
                FaultKind::Reset,
                Some("api"),
                (minute, minute),
                secs(5),
                &["all"],
            ),
            fault(
                "timeout",
                FaultKind::Timeout { after: secs(2) },
                Some("api"),
                (minute, minute),
                secs(5),
                &["all"],
            ),
            fault(
                "timeout-2",
                FaultKind::Timeout { after: secs(1) },
                Some("redis"),
                (minute, minute),
                secs(5),
                &["all"],
            ),
        ],
        observer: ObserverSpec {
            interval: ms(500),
            log_patterns: strings(&["panic", "ERROR"]),
        },
        invariants: InvariantSpec {
            p95_max: ms(500),
            gap_max: secs(5),
            grace: secs(20),
            rss_slope_max_mb_per_hour: 25.0,
            recover_within: secs(30),
            restart_budget: 1,
            flap_budget: 2,
            gate: strings(&["I4", "I1"]),
        },
        proxies: [
            (
                s("api"),
                ProxySpec {
                    listen: s("127.0.0.1:8481"),
                    upstream: s("127.0.0.1:8480"),
                },
            ),
            (
                s("redis"),
                ProxySpec {
                    listen: s("127.0.0.1:7490"),
                    upstream: s("127.0.0.1:6490"),
                },
            ),
        ]
        .into_iter()
        .collect(),
    };
    assert_eq!(soak, expected);
}

#[test]
fn the_soak_model_round_trips_through_json() {
    let plan = load_text(FULL, &LoadOptions::default());
    let json = serde_json::to_string(&plan).unwrap();
    let back: Plan = serde_json::from_str(&json).unwrap();
    assert_eq!(back, plan);
    // A resolved plan stored before soak existed still reads.
    let mut old: serde_json::Value = serde_json::to_value(&plan).unwrap();
    old.as_object_mut().unwrap().remove("soak");
    let back: Plan = serde_json::from_value(old).unwrap();
    assert_eq!(back.soak, None);
}

/// The smallest soak plan.
const MINIMAL: &str = r#"[[service]]
name = "api"
command = "api"

[soak]

[users]
program = "user"

[readback]
program = true
"#;

#[test]
fn defaults() {
    let soak = soak_of(MINIMAL, &LoadOptions::default());
    let dir = PathBuf::from("/plans");
    assert_eq!(
        soak,
        Soak {
            duration: secs(3600),
            warmup: secs(10),
            calm_timeout: secs(60),
            scenario: s("all"),
            seed: None,
            users: Users {
                count: 10,
                think_min: ms(100),
                think_max: ms(500),
                keys_per_user: 100,
                scenario: UserScenario::Program(Command {
                    command: CommandLine::Shell(s("user")),
                    cwd: dir,
                    env: BTreeMap::new(),
                }),
                unreachable_after: secs(30),
            },
            readback: Readback::Program,
            faults: vec![],
            observer: ObserverSpec {
                interval: secs(1),
                log_patterns: strings(&["panic"]),
            },
            invariants: InvariantSpec {
                p95_max: secs(1),
                gap_max: secs(10),
                grace: secs(30),
                rss_slope_max_mb_per_hour: 50.0,
                recover_within: secs(60),
                restart_budget: 0,
                flap_budget: 0,
                gate: strings(&["I1", "I2", "I3", "I4", "I5"]),
            },
            proxies: BTreeMap::new(),
        }
    );
    // A plan without [soak] has none.
    let plan = load_text(
        "[[stage]]\nkind = \"wait\"\nduration = \"1s\"\n",
        &LoadOptions::default(),
    );
    assert_eq!(plan.soak, None);
}

#[test]
fn soak_length_in_minutes_or_as_a_duration() {
    let with = |soak: &str| MINIMAL.replace("[soak]\n", &format!("[soak]\n{soak}\n"));
    let opts = LoadOptions::default();
    assert_eq!(soak_of(&with("minutes = 2"), &opts).duration, secs(120));
    assert_eq!(soak_of(&with("minutes = 0.5"), &opts).duration, secs(30));
    assert_eq!(
        soak_of(&with("duration = \"1h30m\""), &opts).duration,
        secs(5400)
    );

    let text = with("minutes = 2\nduration = \"2m\"");
    fails_at(&text, "\"2m\"", 0, "both `minutes` and `duration`");
    let text = with("minutes = 0");
    fails_at(&text, "0", 0, "`minutes` must be a number of minutes > 0");
    let text = with("minutes = -3");
    fails_at(&text, "-3", 0, "`minutes` must be a number of minutes > 0");
    let text = with("minutes = 1e20");
    fails_at(&text, "1e20", 0, "at most 525600 (365 days)");
    let text = with("duration = \"9000h\"");
    fails_at(&text, "\"9000h\"", 0, "`duration` must be at most 365 days");
    let text = with("minutes = \"8h\"");
    fails_at(&text, "\"8h\"", 0, "`minutes` must be a number, not string");
    let text = with("duration = \"0s\"");
    fails_at(&text, "\"0s\"", 0, "`duration` must be more than 0");
    let text = with("duration = \"8 hours\"");
    fails_at(&text, "\"8 hours\"", 0, "`duration`: invalid duration");
    let text = with("seed = -1");
    fails_at(&text, "-1", 0, "invalid value");
    let text = with("minuts = 5");
    fails_at(&text, "minuts", 0, "unknown key `minuts`");
}

#[test]
fn program_forms() {
    let with = |program: &str| MINIMAL.replace("program = \"user\"", program);
    let opts = LoadOptions::default();
    let users = |text: &str| soak_of(text, &opts).users.scenario;
    let text = format!(
        "[vars]\nbin = \"/b\"\n\n{}",
        with("[users.program]\ncommand = [\"${bin}/user\", \"--port\", \"1\"]\ncwd = \"work\"\nenv = { RUST_LOG = \"debug\" }")
            .replace("[users]\n[users.program]", "[users.program]")
    );
    assert_eq!(
        users(&text),
        UserScenario::Program(Command {
            command: CommandLine::Argv(strings(&["/b/user", "--port", "1"])),
            cwd: PathBuf::from("/plans/work"),
            env: [(s("RUST_LOG"), s("debug"))].into_iter().collect(),
        })
    );
    assert_eq!(
        users(&with("program = [\"user\", \"-v\"]")),
        UserScenario::Program(Command {
            command: CommandLine::Argv(strings(&["user", "-v"])),
            cwd: PathBuf::from("/plans"),
            env: BTreeMap::new(),
        })
    );
    let text = with("program = { cwd = \"x\" }");
    fails_at(&text, "{ cwd", 0, "a program table needs `command`");
    let text = with("program = { command = \"u\", dir = \"x\" }");
    fails_at(&text, "dir", 0, "unknown key `dir`");
    let text = with("program = 3");
    fails_at(&text, "3", 0, "expected a program");
    let text = with("program = []");
    fails_at(&text, "[]", 0, "at least the program");
}

// ------------------------------------------------------------ the rules

#[test]
fn soak_sections_need_soak() {
    let base = "[[service]]\nname = \"api\"\ncommand = \"api\"\n[[stage]]\nkind = \"up\"\n";
    for (section, text) in [
        ("[users]", "[users]\nprogram = \"u\"\n"),
        ("[readback]", "[readback]\nprogram = true\n"),
        (
            "[[fault]]",
            "[[fault]]\nkind = \"kill\"\nservice = \"api\"\nevery = \"1m\"\n",
        ),
        (
            "[proxy]",
            "[proxy.api]\nlisten = \"127.0.0.1:1\"\nupstream = \"127.0.0.1:2\"\n",
        ),
        ("[observer]", "[observer]\ninterval = \"1s\"\n"),
        ("[invariants]", "[invariants]\nrestart_budget = 1\n"),
    ] {
        let e = error(&format!("{base}{text}"));
        assert_eq!(e.line(), Some(6), "{section}: {e}");
        assert!(
            e.to_string().contains(&format!(
                "{section} belongs only in a soak plan: add [soak]"
            )),
            "{e}"
        );
    }
    // The first one in the file is reported.
    let text = format!("{base}[observer]\n[users]\nprogram = \"u\"\n");
    fails_at(
        &text,
        "[observer]",
        0,
        "[observer] belongs only in a soak plan",
    );
}

#[test]
fn a_soak_plan_needs_users_and_readback() {
    let text = MINIMAL.replace("[users]\nprogram = \"user\"\n", "");
    fails_at(&text, "[soak]", 0, "a soak plan needs [users]");
    let text = MINIMAL.replace("[readback]\nprogram = true\n", "");
    fails_at(&text, "[soak]", 0, "a soak plan needs [readback]");
}

#[test]
fn a_plan_without_soak_still_needs_stages() {
    let e = error("[[service]]\nname = \"api\"\ncommand = \"api\"\n");
    assert!(matches!(e, PlanError::Plan { .. }), "{e:?}");
    assert!(e.to_string().contains("the plan has no [[stage]]"));
}

#[test]
fn users_rules() {
    let with = |extra: &str| MINIMAL.replace("[users]\n", &format!("[users]\n{extra}\n"));
    fails_at(&with("count = 0"), "0", 0, "`count` must be at least 1");
    fails_at(&with("count = -2"), "-2", 0, "invalid value");
    fails_at(
        &with("keys_per_user = 0"),
        "0",
        0,
        "`keys_per_user` must be at least 1",
    );
    let text = with("think_min = \"1s\"\nthink_max = \"500ms\"");
    fails_at(
        &text,
        "\"500ms\"",
        0,
        "`think_max` (500ms) must be at least `think_min` (1s)",
    );
    let text = with("think_min = \"1s\"");
    fails_at(&text, "\"1s\"", 0, "`think_max` (500ms) must be at least");
    fails_at(
        &with("unreachable_after = \"0s\""),
        "\"0s\"",
        0,
        "`unreachable_after` must be more than 0",
    );
    fails_at(
        &with("think_min = 5"),
        "5",
        0,
        "`think_min` must be a duration string",
    );
    fails_at(&with("users = 3"), "users = 3", 0, "unknown key `users`");

    // Exactly one of program and steps.
    let text = MINIMAL.replace(
        "[readback]",
        "[[users.step]]\nurl = \"http://h/{{key}}\"\n\n[readback]",
    );
    fails_at(
        &text,
        "[[users.step]]",
        0,
        "[users] has both `program` and [[users.step]]",
    );
    let text = MINIMAL.replace("program = \"user\"", "count = 2");
    fails_at(
        &text,
        "[users]",
        0,
        "[users] needs exactly one of `program` (a user program) or [[users.step]]",
    );
    let text = MINIMAL.replace("program = \"user\"", "step = []");
    fails_at(&text, "[]", 0, "`step` is empty");
}

/// A soak plan whose users run `steps` (TOML text of [[users.step]]s)
/// and read back over HTTP.
fn http_plan(steps: &str) -> String {
    format!(
        "[vars]\nport = \"80\"\n\n[[service]]\nname = \"api\"\ncommand = \"api\"\n\n[soak]\n\n[users]\n{steps}\n[readback]\nhttp = \"http://h:${{port}}/kv/{{{{key}}}}\"\n"
    )
}

#[test]
fn step_rules() {
    let step = |keys: &str| http_plan(&format!("[[users.step]]\n{keys}\n"));
    let ok = "url = \"http://h/{{key}}\"";

    fails_at(
        &step("method = \"PUT\""),
        "[[users.step]]",
        0,
        "step \"step-1\" has no `url`",
    );
    fails_at(
        &step("name = \"put\"\nmethod = \"PUT\""),
        "[[users.step]]",
        0,
        "step \"put\" has no `url`",
    );
    fails_at(
        &step(&format!("{ok}\nmethod = \"GET /\"")),
        "\"GET /\"",
        0,
        "`method` \"GET /\" is not an HTTP method",
    );
    fails_at(
        &step(&format!("{ok}\nmethod = \"\"")),
        "\"\"",
        0,
        "is not an HTTP method",
    );
    fails_at(
        &step("url = \"https://h/{{key}}\""),
        "\"https",
        0,
        "must start with http://",
    );
    fails_at(
        &step(&format!("{ok}\nexpect_status = 99")),
        "99",
        0,
        "`expect_status` 99 is not an HTTP status",
    );
    fails_at(
        &step(&format!("{ok}\ntimeout = \"0s\"")),
        "\"0s\"",
        0,
        "`timeout` must be more than 0",
    );
    fails_at(
        &step(&format!("{ok}\nheaders = {{}}")),
        "headers",
        0,
        "unknown key `headers`",
    );
    fails_at(
        &step(&format!("{ok}\nname = \"a b\"")),
        "\"a b\"",
        0,
        "invalid step name \"a b\"",
    );
    fails_at(
        &step(&format!("{ok}\nurl2 = \"${{nope}}\"")),
        "url2",
        0,
        "unknown key `url2`",
    );
    fails_at(
        &step("url = \"http://${nope}/{{key}}\""),
        "\"http",
        0,
        "undefined variable \"nope\"",
    );

    // Duplicate names, explicit or default.
    let text = http_plan(&format!(
        "[[users.step]]\nname = \"a\"\n{ok}\n[[users.step]]\nname = \"a\"\n{ok}\n"
    ));
    fails_at(&text, "\"a\"", 1, "duplicate step name \"a\"");
    let text = http_plan(&format!(
        "[[users.step]]\nname = \"step-2\"\n{ok}\n[[users.step]]\n{ok}\n"
    ));
    fails_at(&text, "[[users.step]]", 1, "duplicate step name \"step-2\"");

    // A write step must send the key and the value.
    let text = step("url = \"http://h/kv\"\nbody = \"{{value}}\"\nwrite = true");
    fails_at(&text, "true", 0, "does not use {{key}}");
    let text = step("url = \"http://h/kv/{{key}}\"\nwrite = true");
    fails_at(&text, "true", 0, "does not use {{value}}");
    let text = step("url = \"http://h/kv/{{user}}\"\nwrite = true");
    fails_at(&text, "true", 0, "does not use {{key}} or {{value}}");
    let plan = load_text(
        &step("url = \"http://h/kv/{{key}}\"\nwrite = false"),
        &LoadOptions::default(),
    );
    let UserScenario::Http(steps) = &plan.soak.unwrap().users.scenario else {
        panic!("http steps");
    };
    assert!(!steps[0].write);
    let plan = load_text(
        &step("url = \"http://h/kv/{{ key }}\"\nbody = \"{{ value }}\"\nwrite = true"),
        &LoadOptions::default(),
    );
    let UserScenario::Http(steps) = &plan.soak.unwrap().users.scenario else {
        panic!("http steps");
    };
    assert!(steps[0].write);
    assert_eq!(steps[0].url, "http://h/kv/{{ key }}");
}

#[test]
fn capture_rules() {
    let step = |capture: &str| {
        http_plan(&format!(
            "[[users.step]]\nurl = \"http://h/{{{{key}}}}\"\ncapture = {capture}\n"
        ))
    };
    fails_at(
        &step("{ token = \"token\" }"),
        "\"token\"",
        0,
        "capture \"token\": \"token\" is not a JSON pointer: it must be empty",
    );
    fails_at(
        &step("{ token = \"/a~2\" }"),
        "\"/a~2\"",
        0,
        "\"~\" must be followed by 0 or 1",
    );
    fails_at(
        &step("{ \"a-b\" = \"/x\" }"),
        "\"a-b\"",
        0,
        "invalid capture name \"a-b\"",
    );
    fails_at(
        &step("{ key = \"/x\" }"),
        "key =",
        0,
        "capture name \"key\" is built in (user, key, value, seq)",
    );
    fails_at(&step("{ t = 1 }"), "1", 0, "invalid type");
}

#[test]
fn templates_are_checked_where_they_are() {
    // An unknown name, at the template itself (line and column).
    let text = http_plan("[[users.step]]\nurl = \"http://h/kv/{{key}}/{{tokn}}\"\n");
    let e = error(&text);
    assert_at(&e, find(&text, "{{tokn}}", 0), "unknown template {{tokn}}");
    assert!(
        e.to_string()
            .contains("in the step's `url`; templates here are: user, key, value, seq"),
        "{e}"
    );

    // In a body, on a later line of a multi-line string.
    let text = http_plan(
        "[[users.step]]\nurl = \"http://h/kv/{{key}}\"\nbody = \"\"\"\n{\n  \"v\": \"{{valeu}}\"\n}\"\"\"\n",
    );
    assert_at(
        &error(&text),
        find(&text, "{{valeu}}", 0),
        "unknown template {{valeu}} in the step's `body`",
    );

    // The same template twice: the one that is wrong is the second's place
    // only if it differs; identical ones point at the first.
    let text = http_plan("[[users.step]]\nurl = \"http://h/{{key}}/{{x}}/{{x}}\"\n");
    assert_at(
        &error(&text),
        find(&text, "{{x}}", 0),
        "unknown template {{x}}",
    );

    // Captures are known to later steps only.
    let text = http_plan(
        "[[users.step]]\nurl = \"http://h/{{token}}\"\ncapture = { token = \"/t\" }\n[[users.step]]\nurl = \"http://h/{{key}}\"\n",
    );
    assert_at(
        &error(&text),
        find(&text, "{{token}}", 0),
        "templates here are: user, key, value, seq",
    );
    let text = http_plan(
        "[[users.step]]\nurl = \"http://h/login\"\ncapture = { token = \"/t\" }\n[[users.step]]\nurl = \"http://h/{{key}}?t={{token}}\"\n[[users.step]]\nurl = \"http://h/{{nope}}\"\n",
    );
    assert_at(
        &error(&text),
        find(&text, "{{nope}}", 0),
        "templates here are: user, key, value, seq, token",
    );

    // Malformed templates.
    let text = http_plan("[[users.step]]\nurl = \"http://h/{{key}}/{{ k-y }}\"\n");
    assert_at(
        &error(&text),
        find(&text, "{{ k-y }}", 0),
        "invalid template \"{{ k-y }}\"",
    );
    // Spaces around a name are allowed (the users' renderer trims them).
    let text = http_plan("[[users.step]]\nurl = \"http://h/{{ key }}/{{ tokn }}\"\n");
    assert_at(
        &error(&text),
        find(&text, "{{ tokn }}", 0),
        "unknown template {{tokn}}",
    );
    let text = http_plan("[[users.step]]\nurl = \"http://h/{{key\"\n");
    assert_at(
        &error(&text),
        find(&text, "{{key", 0),
        "\"{{\" without a closing \"}}\"",
    );

    // A template that comes from a variable: at the string that uses it.
    let text = http_plan("[[users.step]]\nurl = \"http://h/${port}/{{key}}\"\n")
        .replace("port = \"80\"", "port = \"{{bad}}\"");
    let e = error(&text);
    assert_at(
        &e,
        find(&text, "\"http://h/$", 0),
        "unknown template {{bad}}",
    );

    // The readback knows only {{key}}.
    let text = http_plan("[[users.step]]\nurl = \"http://h/{{key}}\"\n")
        .replace("/kv/{{key}}\"\n", "/kv/{{key}}?u={{user}}\"\n");
    assert_at(
        &error(&text),
        find(&text, "{{user}}", 0),
        "unknown template {{user}} in the readback; templates here are: key",
    );
}

#[test]
fn plan_variables_leave_templates_alone() {
    let text = http_plan(
        "[[users.step]]\nmethod = \"PUT\"\nurl = \"http://h:${port}/kv/{{key}}\"\nbody = \"${port}:{{value}}:$${x}\"\nwrite = true\n",
    );
    let soak = soak_of(&text, &LoadOptions::default());
    let UserScenario::Http(steps) = &soak.users.scenario else {
        panic!("http steps");
    };
    assert_eq!(steps[0].url, "http://h:80/kv/{{key}}");
    assert_eq!(steps[0].body.as_deref(), Some("80:{{value}}:${x}"));
    assert_eq!(
        soak.readback,
        Readback::Http {
            url: s("http://h:80/kv/{{key}}")
        }
    );
}

#[test]
fn readback_rules() {
    let with = |readback: &str| {
        http_plan("[[users.step]]\nurl = \"http://h/{{key}}\"\n").replace(
            "[readback]\nhttp = \"http://h:${port}/kv/{{key}}\"\n",
            &format!("[readback]\n{readback}\n"),
        )
    };
    let text = with("http = \"http://h/{{key}}\"\ncommand = \"get {{key}}\"");
    fails_at(
        &text,
        "\"get",
        0,
        "[readback] has both `http` and `command`; use exactly one of `http`, `command`, `program = true`",
    );
    let text = with("command = \"get {{key}}\"\nprogram = true");
    fails_at(&text, "true", 0, "has both `command` and `program = true`");
    fails_at(
        &with("program = false"),
        "[readback]",
        0,
        "[readback] needs exactly one of",
    );
    fails_at(
        &with("program = true"),
        "true",
        0,
        "`program = true` reads back through the user program, but [users] has HTTP steps",
    );
    fails_at(
        &with("http = \"http://h/kv\""),
        "\"http://h/kv\"",
        0,
        "the readback URL must use {{key}}",
    );
    fails_at(
        &with("http = \"ftp://h/{{key}}\""),
        "\"ftp",
        0,
        "readback URL \"ftp://h/{{key}}\" must start with http://",
    );
    fails_at(
        &with("command = [\"redis-cli\", \"GET\", \"k\"]"),
        "[\"redis-cli\"",
        0,
        "the readback command must use {{key}}",
    );
    let text = with("command = [\"redis-cli\", \"GET\", \"{{key}}\", \"{{value}}\"]");
    fails_at(
        &text,
        "{{value}}",
        0,
        "unknown template {{value}} in the readback",
    );
    let text = with("command = { command = \"get {{kye}}\", cwd = \"x\" }");
    fails_at(&text, "{{kye}}", 0, "unknown template {{kye}}");
    fails_at(&with("sql = \"x\""), "sql", 0, "unknown key `sql`");

    // The forms that load.
    let soak = |readback: &str| soak_of(&with(readback), &LoadOptions::default()).readback;
    assert_eq!(
        soak("command = [\"redis-cli\", \"-p\", \"${port}\", \"GET\", \"{{key}}\"]"),
        Readback::Command(Command {
            command: CommandLine::Argv(strings(&["redis-cli", "-p", "80", "GET", "{{key}}"])),
            cwd: PathBuf::from("/plans"),
            env: BTreeMap::new(),
        })
    );
    assert_eq!(
        soak("command = { command = \"get {{key}}\", cwd = \"/tmp\", env = { A = \"1\" } }"),
        Readback::Command(Command {
            command: CommandLine::Shell(s("get {{key}}")),
            cwd: PathBuf::from("/tmp"),
            env: [(s("A"), s("1"))].into_iter().collect(),
        })
    );
    let text = MINIMAL.replace(
        "program = true",
        "http = \"http://h/{{key}}\"\nprogram = false",
    );
    assert_eq!(
        soak_of(&text, &LoadOptions::default()).readback,
        Readback::Http {
            url: s("http://h/{{key}}")
        }
    );
}

/// MINIMAL with a `redis` service too and `extra` appended.
fn with_faults(extra: &str) -> String {
    format!("[[service]]\nname = \"redis\"\ncommand = \"redis\"\n\n{MINIMAL}\n{extra}")
}

const PROXY: &str = "[proxy.api]\nlisten = \"127.0.0.1:8481\"\nupstream = \"127.0.0.1:8480\"\n";

#[test]
fn fault_rules() {
    let fault = |keys: &str| with_faults(&format!("[[fault]]\n{keys}\n"));
    fails_at(
        &fault("kind = \"explode\"\nevery = \"1m\""),
        "\"explode\"",
        0,
        "unknown fault kind \"explode\"; kinds are: kill, power-cut, pause, restart, partition, latency, bandwidth, reset, timeout",
    );
    fails_at(
        &fault("service = \"api\""),
        "[[fault]]",
        0,
        "missing key `kind`",
    );
    fails_at(
        &fault("kind = \"kill\"\nevery = \"1m\""),
        "[[fault]]",
        0,
        "kill fault \"kill\" has no `service`",
    );
    let text = fault("kind = \"kill\"\nservice = \"apii\"\nevery = \"1m\"");
    let e = error(&text);
    assert_at(
        &e,
        find(&text, "\"apii\"", 0),
        "unknown service \"apii\" in fault \"kill\"; services are: redis, api",
    );
    fails_at(
        &fault("kind = \"power-cut\"\nservice = \"api\"\nevery = \"1m\""),
        "\"api\"\nevery",
        0,
        "a power-cut kills every service at once: it takes no `service`",
    );
    fails_at(
        &fault("kind = \"kill\"\nservice = \"api\""),
        "[[fault]]",
        0,
        "fault \"kill\" has no `every`",
    );
    // Keys of another kind.
    for (keys, key, belongs) in [
        (
            "kind = \"kill\"\nlatency = \"1s\"",
            "latency =",
            "latency\" or \"link",
        ),
        ("kind = \"latency\"\nmode = \"refuse\"", "mode", "partition"),
        ("kind = \"partition\"\nrate = \"1KiB\"", "rate", "bandwidth"),
        ("kind = \"power-cut\"\nafter = \"1s\"", "after", "timeout"),
        (
            "kind = \"timeout\"\njitter = \"1s\"",
            "jitter",
            "latency\" or \"link",
        ),
    ] {
        let text = fault(&format!("{keys}\nservice = \"api\"\nevery = \"1m\""));
        let kind = keys.split('"').nth(1).unwrap();
        let key = key.split(' ').next().unwrap();
        // At the value, like every other error about a key's value.
        let (line, column) = find(&text, &format!("{key} = "), 0);
        assert_at(
            &error(&text),
            (line, column + key.len() + 3),
            &format!("`{key}` applies only to a fault of kind \"{belongs}\", not \"{kind}\""),
        );
    }
    // `every`.
    let every = |e: &str| fault(&format!("kind = \"kill\"\nservice = \"api\"\nevery = {e}"));
    fails_at(
        &every("\"40m..20m\""),
        "\"40m",
        0,
        "the range's end (20m) is before its start (40m)",
    );
    fails_at(
        &every("\"0s..1m\""),
        "\"0s",
        0,
        "`every` must be more than 0",
    );
    fails_at(
        &every("\"soon\""),
        "\"soon\"",
        0,
        "`every`: invalid duration",
    );
    fails_at(
        &every("\"1m..\""),
        "\"1m..\"",
        0,
        "`every`: invalid duration",
    );
    fails_at(
        &every("30"),
        "30",
        0,
        "`every` must be a duration or a range",
    );
    let plan = load_text(&every("\"1m .. 2m\""), &LoadOptions::default());
    let f = &plan.soak.unwrap().faults[0];
    assert_eq!((f.every_min, f.every_max), (secs(60), secs(120)));
    // `scenarios`.
    let scenarios = |list: &str| {
        fault(&format!(
            "kind = \"kill\"\nservice = \"api\"\nevery = \"1m\"\nscenarios = {list}"
        ))
    };
    fails_at(&scenarios("[]"), "[]", 0, "`scenarios` is empty");
    fails_at(
        &scenarios("[\"clean\"]"),
        "\"clean\"",
        0,
        "\"clean\" is the built-in scenario without faults",
    );
    fails_at(
        &scenarios("[\"a\", \"a\"]"),
        "\"a\"",
        1,
        "\"a\" is listed twice in scenarios",
    );
    fails_at(
        &scenarios("[\"a b\"]"),
        "\"a b\"",
        0,
        "invalid scenario name \"a b\"",
    );
    // Kind-specific values.
    let proxied = |keys: &str| {
        with_faults(&format!(
            "{PROXY}\n[[fault]]\nservice = \"api\"\nevery = \"1m\"\n{keys}\n"
        ))
    };
    fails_at(
        &proxied("kind = \"latency\""),
        "[[fault]]",
        0,
        "latency fault \"latency\" has no `latency`",
    );
    fails_at(
        &proxied("kind = \"bandwidth\""),
        "[[fault]]",
        0,
        "bandwidth fault \"bandwidth\" has no `rate`",
    );
    fails_at(
        &proxied("kind = \"bandwidth\"\nrate = 0"),
        "0\n",
        0,
        "`rate` must be more than 0",
    );
    fails_at(
        &proxied("kind = \"bandwidth\"\nrate = \"fast\""),
        "\"fast\"",
        0,
        "`rate`: invalid size",
    );
    fails_at(
        &proxied("kind = \"partition\"\nmode = \"drop\""),
        "\"drop\"",
        0,
        "`refuse`, `blackhole`, `network`",
    );
    fails_at(
        &proxied("kind = \"latency\"\nlatency = \"fast\""),
        "\"fast\"",
        0,
        "`latency`: invalid duration",
    );
    let plan = load_text(
        &proxied("kind = \"bandwidth\"\nrate = 1000"),
        &LoadOptions::default(),
    );
    assert_eq!(
        plan.soak.unwrap().faults[0].kind,
        FaultKind::Bandwidth {
            bytes_per_sec: 1000
        }
    );
    // Names: explicit, unique, defaults skip explicit ones.
    let text = with_faults(
        "[[fault]]\nname = \"kill\"\nkind = \"pause\"\nservice = \"api\"\nevery = \"1m\"\n\
         [[fault]]\nkind = \"kill\"\nservice = \"api\"\nevery = \"1m\"\n\
         [[fault]]\nname = \"x\"\nkind = \"kill\"\nservice = \"api\"\nevery = \"1m\"\n",
    );
    let names: Vec<String> = soak_of(&text, &LoadOptions::default())
        .faults
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, strings(&["kill", "kill-2", "x"]));
    let text = with_faults(
        "[[fault]]\nname = \"f\"\nkind = \"pause\"\nservice = \"api\"\nevery = \"1m\"\n\
         [[fault]]\nname = \"f\"\nkind = \"kill\"\nservice = \"api\"\nevery = \"1m\"\n",
    );
    fails_at(&text, "\"f\"", 1, "duplicate fault name \"f\"");
    fails_at(
        &fault("name = \"a/b\"\nkind = \"kill\"\nservice = \"api\"\nevery = \"1m\""),
        "\"a/b\"",
        0,
        "invalid fault name",
    );
}

#[test]
fn proxy_faults_need_a_proxy() {
    for kind in ["partition", "latency", "bandwidth", "reset", "timeout"] {
        let extra = match kind {
            "latency" => "latency = \"1s\"\n",
            "bandwidth" => "rate = \"1KiB\"\n",
            _ => "",
        };
        let text = with_faults(&format!(
            "[[fault]]\nkind = \"{kind}\"\nservice = \"redis\"\nevery = \"1m\"\n{extra}"
        ));
        fails_at(
            &text,
            "\"redis\"\nevery",
            0,
            &format!(
                "a {kind} fault acts through the service's proxy, and \"redis\" has none: add [proxy.redis]"
            ),
        );
        // With the proxy it loads.
        let text = text.replace("\"redis\"\nevery", "\"api\"\nevery") + PROXY;
        let soak = soak_of(&text, &LoadOptions::default());
        assert!(soak.faults[0].kind.needs_proxy());
        assert_eq!(soak.faults[0].kind.word(), kind);
    }
    // Process faults need none.
    for kind in ["kill", "pause", "restart"] {
        let text = with_faults(&format!(
            "[[fault]]\nkind = \"{kind}\"\nservice = \"redis\"\nevery = \"1m\"\n"
        ));
        let soak = soak_of(&text, &LoadOptions::default());
        assert!(!soak.faults[0].kind.needs_proxy());
    }
}

#[test]
fn proxy_rules() {
    let proxy = |table: &str| with_faults(&format!("{table}\n"));
    let text = proxy("[proxy.apii]\nlisten = \"127.0.0.1:1\"\nupstream = \"127.0.0.1:2\"");
    fails_at(
        &text,
        "apii",
        0,
        "[proxy.apii]: unknown service \"apii\"; a proxy is named after the service it fronts; services are: redis, api",
    );
    let text = proxy("[proxy.api]\nupstream = \"127.0.0.1:2\"");
    fails_at(&text, "[proxy.api]", 0, "[proxy.api] needs `listen`");
    let text = proxy("[proxy.api]\nlisten = \"127.0.0.1:2\"");
    fails_at(&text, "[proxy.api]", 0, "[proxy.api] needs `upstream`");
    let text = proxy("[proxy.api]\nlisten = \"8481\"\nupstream = \"127.0.0.1:2\"");
    fails_at(&text, "\"8481\"", 0, "`listen` \"8481\" must be host:port");
    let text = proxy("[proxy.api]\nlisten = \"h:1\"\nupstream = \"h:99999\"");
    fails_at(
        &text,
        "\"h:99999\"",
        0,
        "`upstream` \"h:99999\" must be host:port",
    );
    let text = proxy("[proxy.api]\nlisten = \"h:1\"\nupstream = \"h:1\"");
    fails_at(
        &text,
        "\"h:1\"",
        0,
        "[proxy.api] listens on its own upstream h:1",
    );
    let text = proxy(
        "[proxy.api]\nlisten = \"h:1\"\nupstream = \"h:2\"\n[proxy.redis]\nlisten = \"h:1\"\nupstream = \"h:3\"",
    );
    fails_at(
        &text,
        "\"h:1\"",
        1,
        "[proxy.redis] listens on h:1, as [proxy.api] does",
    );
    let text = proxy("[proxy.api]\nlisten = \"h:1\"\nupstream = \"h:2\"\nport = 3");
    fails_at(&text, "port", 0, "unknown key `port`");
}

#[test]
fn observer_and_invariant_rules() {
    let with = |extra: &str| with_faults(&format!("{extra}\n"));
    fails_at(
        &with("[observer]\ninterval = \"0s\""),
        "\"0s\"",
        0,
        "`interval` must be more than 0",
    );
    fails_at(
        &with("[observer]\nlog_patterns = [\"panic\", \"\"]"),
        "\"\"",
        0,
        "an empty log pattern",
    );
    let soak = soak_of(
        &with("[observer]\nlog_patterns = []"),
        &LoadOptions::default(),
    );
    assert_eq!(soak.observer.log_patterns, Vec::<String>::new());
    assert_eq!(soak.observer.interval, secs(1));

    fails_at(
        &with("[invariants]\ngate = [\"I1\", \"I6\"]"),
        "\"I6\"",
        0,
        "unknown invariant \"I6\" in gate; invariants are: I1, I2, I3, I4, I5",
    );
    fails_at(
        &with("[invariants]\ngate = [\"i1\"]"),
        "\"i1\"",
        0,
        "unknown invariant \"i1\"",
    );
    fails_at(
        &with("[invariants]\ngate = [\"I2\", \"I2\"]"),
        "\"I2\"",
        1,
        "\"I2\" is listed twice in gate",
    );
    fails_at(
        &with("[invariants]\nrss_slope_max_mb_per_hour = -1.0"),
        "-1.0",
        0,
        "`rss_slope_max_mb_per_hour` must be a number ≥ 0",
    );
    fails_at(
        &with("[invariants]\nrestart_budget = -1"),
        "-1",
        0,
        "invalid value",
    );
    fails_at(
        &with("[invariants]\np95 = \"1s\""),
        "p95",
        0,
        "unknown key `p95`",
    );
    fails_at(
        &with("[invariants]\ngap_max = \"ten seconds\""),
        "\"ten",
        0,
        "`gap_max`: invalid duration",
    );
    let soak = soak_of(&with("[invariants]\ngate = []"), &LoadOptions::default());
    assert!(soak.invariants.gate.is_empty());
}

// ------------------------------------------------------- command line

#[test]
fn options_override_the_plan() {
    let text = with_faults(
        "[[fault]]\nkind = \"kill\"\nservice = \"api\"\nevery = \"1m\"\nscenarios = [\"storm\"]\n",
    )
    .replace("[soak]\n", "[soak]\nminutes = 480\nscenario = \"storm\"\n")
    .replace("[users]\n", "[users]\ncount = 10\n");
    let soak = soak_of(&text, &LoadOptions::default());
    assert_eq!(
        (soak.duration, soak.users.count, soak.scenario.as_str()),
        (secs(480 * 60), 10, "storm")
    );
    let opts = LoadOptions {
        minutes: Some(1.5),
        users: Some(3),
        scenario: Some(s("clean")),
        ..LoadOptions::default()
    };
    let soak = soak_of(&text, &opts);
    assert_eq!(
        (soak.duration, soak.users.count, soak.scenario.as_str()),
        (secs(90), 3, "clean")
    );
    // `--minutes` also replaces a `duration`.
    let by_duration = text.replace("minutes = 480", "duration = \"8h\"");
    assert_eq!(soak_of(&by_duration, &opts).duration, secs(90));
    for scenario in ["all", "clean", "storm"] {
        let opts = LoadOptions {
            scenario: Some(s(scenario)),
            ..LoadOptions::default()
        };
        assert_eq!(soak_of(&text, &opts).scenario, scenario);
    }

    let bad = |opts: LoadOptions, needle: &str| option_error(&text, &opts, needle);
    bad(
        LoadOptions {
            scenario: Some(s("strom")),
            ..LoadOptions::default()
        },
        "unknown scenario \"strom\" in --scenario; scenarios are: all, clean, storm",
    );
    bad(
        LoadOptions {
            minutes: Some(0.0),
            ..LoadOptions::default()
        },
        "--minutes must be a number of minutes > 0 and at most 525600 (365 days), not 0",
    );
    bad(
        LoadOptions {
            minutes: Some(f64::NAN),
            ..LoadOptions::default()
        },
        "--minutes must be a number of minutes > 0",
    );
    bad(
        LoadOptions {
            users: Some(0),
            ..LoadOptions::default()
        },
        "--users must be at least 1",
    );

    // The plan's own scenario must be known too.
    let text = text.replace("scenario = \"storm\"", "scenario = \"strom\"");
    fails_at(
        &text,
        "\"strom\"",
        0,
        "unknown scenario \"strom\"; scenarios are: all, clean, storm",
    );
    // … unless --scenario replaces it.
    let opts = LoadOptions {
        scenario: Some(s("all")),
        ..LoadOptions::default()
    };
    assert_eq!(soak_of(&text, &opts).scenario, "all");
}

#[test]
fn soak_options_need_a_soak_plan() {
    let text = "[[stage]]\nkind = \"wait\"\nduration = \"1s\"\n";
    for (opts, flag) in [
        (
            LoadOptions {
                minutes: Some(5.0),
                ..LoadOptions::default()
            },
            "--minutes",
        ),
        (
            LoadOptions {
                users: Some(5),
                ..LoadOptions::default()
            },
            "--users",
        ),
        (
            LoadOptions {
                scenario: Some(s("all")),
                ..LoadOptions::default()
            },
            "--scenario",
        ),
    ] {
        option_error(
            text,
            &opts,
            &format!("{flag} applies only to a soak plan, and this plan has no [soak]"),
        );
    }
}

// ------------------------------------------------------------ scenarios

#[test]
fn scenario_filtering() {
    let soak = soak_of(FULL, &LoadOptions::default());
    let names = |scenario: &str| -> Vec<&str> {
        faults_in_scenario(&soak, scenario)
            .into_iter()
            .map(|f| f.name.as_str())
            .collect()
    };
    assert_eq!(names("all").len(), soak.faults.len());
    assert!(names("clean").is_empty());
    assert_eq!(names("storm"), ["cut", "kill", "latency"]);
    assert_eq!(names("cut"), ["cut"]);
    assert_eq!(names("flap"), ["partition", "latency"]);
    assert!(names("nothing").is_empty());
    assert_eq!(
        known_scenarios(&soak),
        strings(&["all", "clean", "storm", "cut", "flap"])
    );
}

// ------------------------------------------------------------- examples

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/plans")
}

#[test]
fn soak_shop_example() {
    let path = examples_dir().join("soak-shop.toml");
    let plan = load(&path, &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let dir = std::path::absolute(examples_dir()).unwrap();
    assert!(plan.stages.is_empty());
    let soak = plan.soak.expect("a soak plan");
    assert_eq!(soak.duration, secs(480 * 60));
    assert_eq!(soak.scenario, "all");
    let CommandLine::Argv(api) = &plan.services[0].run.command else {
        panic!("api runs as argv");
    };
    assert_eq!(
        api[1..],
        strings(&[
            "--port",
            "8480",
            "--data-file",
            &format!("{}/../../target/soak-shop.data", dir.display())
        ])
    );
    let UserScenario::Http(steps) = &soak.users.scenario else {
        panic!("http steps");
    };
    assert_eq!(
        steps
            .iter()
            .map(|s| (s.method.as_str(), s.url.as_str(), s.write))
            .collect::<Vec<_>>(),
        [
            ("PUT", "http://127.0.0.1:8481/kv/{{key}}", true),
            ("GET", "http://127.0.0.1:8481/kv/{{key}}", false),
        ]
    );
    assert_eq!(
        soak.readback,
        Readback::Http {
            url: s("http://127.0.0.1:8480/kv/{{key}}")
        }
    );
    assert_eq!(
        soak.proxies["api"],
        ProxySpec {
            listen: s("127.0.0.1:8481"),
            upstream: s("127.0.0.1:8480"),
        }
    );
    let faults: Vec<_> = soak
        .faults
        .iter()
        .map(|f| {
            (
                f.name.as_str(),
                f.kind.word(),
                f.target.as_deref(),
                f.every_min,
                f.every_max,
                f.scenarios.clone(),
            )
        })
        .collect();
    assert_eq!(
        faults,
        [
            (
                "kill-api",
                "kill",
                Some("api"),
                secs(20),
                secs(40),
                strings(&["storm"])
            ),
            (
                "power-cut",
                "power-cut",
                None,
                secs(30),
                secs(60),
                strings(&["storm", "cut"])
            ),
            (
                "slow-proxy",
                "latency",
                Some("api"),
                secs(10),
                secs(20),
                strings(&["flap"])
            ),
            (
                "partition",
                "partition",
                Some("api"),
                secs(30),
                secs(60),
                strings(&["flap"])
            ),
        ]
    );
    assert_eq!(soak.faults[2].duration, secs(3));
    assert_eq!(
        soak.faults[3].kind,
        FaultKind::Partition {
            mode: PartitionMode::Refuse
        }
    );
    assert_eq!(soak.observer.log_patterns, strings(&["panic"]));
    assert_eq!(
        known_scenarios(&soak),
        strings(&["all", "clean", "storm", "cut", "flap"])
    );
    // The CLI's overrides reach it.
    let opts = LoadOptions {
        minutes: Some(5.0),
        users: Some(4),
        scenario: Some(s("flap")),
        ..LoadOptions::default()
    };
    let soak = load(&path, &opts).unwrap().soak.unwrap();
    assert_eq!((soak.duration, soak.users.count), (secs(300), 4));
    let flap: Vec<&str> = faults_in_scenario(&soak, &soak.scenario)
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(flap, ["slow-proxy", "partition"]);
}

#[test]
fn soak_redis_example() {
    let path = examples_dir().join("soak-redis.toml");
    let plan = load(&path, &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let dir = std::path::absolute(examples_dir()).unwrap();
    let CommandLine::Shell(redis) = &plan.services[0].run.command else {
        panic!("redis runs with sh -c");
    };
    assert!(redis.contains("--appendonly yes"), "{redis}");
    let soak = plan.soak.expect("a soak plan");
    assert_eq!(
        soak.users.scenario,
        UserScenario::Program(Command {
            command: CommandLine::Argv(vec![
                format!("{}/../../target/release/redis-user", dir.display()),
                s("--redis"),
                s("127.0.0.1:6490"),
            ]),
            cwd: dir.clone(),
            env: BTreeMap::new(),
        })
    );
    assert_eq!(
        soak.readback,
        Readback::Command(Command {
            command: CommandLine::Argv(strings(&["redis-cli", "-p", "6490", "GET", "{{key}}"])),
            cwd: dir,
            env: BTreeMap::new(),
        })
    );
    assert_eq!(
        soak.faults,
        [fault(
            "power-cut",
            FaultKind::PowerCut,
            None,
            (secs(20), secs(30)),
            secs(2),
            &["all"]
        )]
    );
    let plan = load(
        &path,
        &LoadOptions {
            sets: vec![(s("appendonly"), s("no"))],
            ..LoadOptions::default()
        },
    )
    .unwrap();
    let CommandLine::Shell(redis) = &plan.services[0].run.command else {
        panic!("redis runs with sh -c");
    };
    assert!(redis.contains("--appendonly no"), "{redis}");
}
