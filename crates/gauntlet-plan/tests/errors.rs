//! Every plan rule: the message says what is wrong, and the position
//! points at the offending key or value.

use std::path::Path;

use gauntlet_plan::*;

fn error(text: &str) -> PlanError {
    error_with(text, &LoadOptions::default())
}

fn error_with(text: &str, opts: &LoadOptions) -> PlanError {
    match load_str(text, Path::new("plan.toml"), opts) {
        Ok(plan) => panic!("expected an error, got {plan:#?}"),
        Err(e) => e,
    }
}

/// Asserts the error is at `line:column` and its message contains `needle`.
#[track_caller]
fn assert_at(e: &PlanError, line: usize, column: usize, needle: &str) {
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

/// Two services and a stage, for rules that need a valid rest of a plan.
const BASE: &str = r#"[[service]]
name = "redis"
command = "redis-server"

[[service]]
name = "api"
command = "api"
tests = ["t"]
"#;

fn with_base(rest: &str) -> String {
    format!("{BASE}{rest}")
}

#[test]
fn syntax_errors_point_at_the_bad_token() {
    let e = error("name = \"x\"\nport = = 1\n");
    assert!(matches!(e, PlanError::Syntax { .. }));
    assert_eq!((e.line(), e.column()), (Some(2), Some(8)));
}

#[test]
fn unknown_keys_are_errors_at_the_key() {
    let e = error("nmae = \"x\"\n");
    assert_at(&e, 1, 1, "unknown key `nmae`");

    let e = error(&with_base("depend_on = [\"redis\"]\n"));
    assert_at(&e, 9, 1, "unknown key `depend_on`");

    let e = error(&with_base("[service.health]\ntcp = \"a:1\"\nretries = 3\n"));
    assert_at(&e, 11, 1, "unknown key `retries`");

    let e = error(&with_base("[service.limits]\nmax_mem = \"1GiB\"\n"));
    assert_at(&e, 10, 1, "unknown key `max_mem`");

    let e = error(&with_base(
        "[[stage]]\nkind = \"up\"\nservice = [\"api\"]\n",
    ));
    assert_at(&e, 11, 1, "unknown key `service`");

    // Inside an inline test table.
    let e = error(
        "[[service]]\nname = \"a\"\ncommand = \"a\"\ntests = [{ command = \"t\", timout = \"1s\" }]\n",
    );
    assert_at(&e, 4, 27, "unknown key `timout`");

    // Inside an expected check.
    let e = error("[[stage]]\nkind = \"probe\"\nexpected = { cpus = { least = 1 } }\n");
    assert_at(&e, 3, 23, "unknown key `least`");
}

#[test]
fn wrong_types_are_errors_at_the_value() {
    let e = error(&with_base(
        "[[stage]]\nkind = \"cycle\"\ncycles = \"two\"\n",
    ));
    assert_at(&e, 11, 10, "invalid type");

    let e = error("[[service]]\nname = \"a\"\ncommand = 42\n");
    assert_at(&e, 3, 11, "expected a command");

    let e = error("[[service]]\nname = \"a\"\ncommand = [\"x\", 1]\n");
    assert_at(&e, 3, 17, "expected a string");

    let e = error("[[service]]\nname = \"a\"\ncommand = \"a\"\nrestart = \"sometimes\"\n");
    assert_at(&e, 4, 11, "`never`, `on-failure`, `always`");

    let e = error("[vars]\nflag = true\n");
    assert_at(&e, 2, 8, "must be a string or a number");
}

#[test]
fn missing_command() {
    let e = error("[[service]]\nname = \"api\"\n\n[[stage]]\nkind = \"up\"\n");
    assert_at(&e, 1, 1, "service \"api\" has no `command`");

    let e = error(&with_base(
        "\n[[stage]]\nname = \"smoke\"\nkind = \"command\"\n",
    ));
    assert_at(&e, 10, 1, "command stage \"smoke\" has no `command`");

    let e = error("[[service]]\nname = \"a\"\ncommand = \"a\"\ntests = [{ name = \"t\" }]\n");
    assert_at(&e, 4, 10, "needs `command`");
}

#[test]
fn missing_required_keys() {
    let e = error("[[service]]\ncommand = \"a\"\n");
    assert_at(&e, 1, 1, "missing key `name`");
    let e = error(&with_base("[[stage]]\nname = \"x\"\n"));
    assert_at(&e, 9, 1, "missing key `kind`");
    let e = error(&with_base("[[stage]]\nkind = \"wait\"\n"));
    assert_at(&e, 9, 1, "has no `duration`");
}

#[test]
fn duplicate_names() {
    let e = error(&with_base(
        "\n[[service]]\nname = \"api\"\ncommand = \"x\"\n",
    ));
    assert_at(&e, 11, 8, "duplicate service name \"api\"");

    let e = error(&with_base(
        "[[stage]]\nname = \"go\"\nkind = \"up\"\n[[stage]]\nname = \"go\"\nkind = \"down\"\n",
    ));
    assert_at(&e, 13, 8, "duplicate stage name \"go\"");
}

#[test]
fn invalid_names() {
    let e = error("[[service]]\nname = \"my api\"\ncommand = \"x\"\n");
    assert_at(&e, 2, 8, "invalid service name \"my api\"");
    let e = error(&with_base("[[stage]]\nname = \"a/b\"\nkind = \"up\"\n"));
    assert_at(&e, 10, 8, "invalid stage name");
}

#[test]
fn unknown_service_references_name_it_and_list_the_known_ones() {
    let e = error(
        "[[service]]\nname = \"redis\"\ncommand = \"r\"\n[[service]]\nname = \"api\"\ncommand = \"a\"\ndepends_on = [\"redis\", \"apii\"]\n",
    );
    assert_at(
        &e,
        7,
        24,
        "unknown service \"apii\" in depends_on; services are: redis, api",
    );

    let e = error(&with_base(
        "[[stage]]\nkind = \"up\"\nservices = [\"api\", \"web\"]\n",
    ));
    assert_at(
        &e,
        11,
        20,
        "unknown service \"web\" in services; services are: redis, api",
    );

    let e = error(&with_base(
        "[[stage]]\nkind = \"cycle\"\nmodules = [\"apx\"]\n",
    ));
    assert_at(
        &e,
        11,
        12,
        "unknown service \"apx\" in modules; services are: redis, api",
    );
}

#[test]
fn dependency_cycles_are_named_in_order() {
    let e = error(
        r#"[[service]]
name = "api"
command = "a"
depends_on = ["worker"]

[[service]]
name = "worker"
command = "w"
depends_on = ["db", "api"]

[[service]]
name = "db"
command = "d"
"#,
    );
    assert_at(
        &e,
        9,
        21,
        "dependency cycle in depends_on: api → worker → api",
    );

    let e = error(
        r#"[[service]]
name = "lone"
command = "x"
[[service]]
name = "a"
command = "x"
depends_on = ["c"]
[[service]]
name = "b"
command = "x"
depends_on = ["a"]
[[service]]
name = "c"
command = "x"
depends_on = ["b"]
"#,
    );
    // b's `depends_on = ["a"]` closes it.
    assert_at(&e, 11, 15, "a → c → b → a");

    let e = error("[[service]]\nname = \"me\"\ncommand = \"x\"\ndepends_on = [\"me\"]\n");
    assert_at(&e, 4, 15, "me → me");
}

#[test]
fn cycle_module_without_tests() {
    let e = error(&with_base(
        "[[stage]]\nkind = \"cycle\"\nmodules = [\"api\", \"redis\"]\n",
    ));
    assert_at(
        &e,
        11,
        19,
        "module \"redis\" has no tests to cycle; modules with tests are: api",
    );

    let e = error("[[service]]\nname = \"a\"\ncommand = \"a\"\n[[stage]]\nkind = \"cycle\"\n");
    assert_at(&e, 4, 1, "no service has `tests`");
}

#[test]
fn health_needs_exactly_one_probe_kind() {
    let e = error(&with_base("[service.health]\ntimeout = \"5s\"\n"));
    assert_at(&e, 9, 1, "exactly one of `http`, `tcp`, `command`");

    let e = error(&with_base(
        "[service.health]\nhttp = \"http://x:1/\"\ntcp = \"x:1\"\n",
    ));
    assert_at(&e, 11, 7, "both `http` and `tcp`");

    let e = error(&with_base(
        "[service.health]\ntcp = \"x:1\"\nstatus = 200\n",
    ));
    assert_at(
        &e,
        11,
        10,
        "`status` applies only to an `http` health check",
    );

    let e = error(&with_base("[service.health]\ntcp = \"localhost\"\n"));
    assert_at(&e, 10, 7, "must be host:port");

    let e = error(&with_base("[service.health]\nhttp = \"https://x/\"\n"));
    assert_at(&e, 10, 8, "must start with http://");

    let e = error(&with_base(
        "[service.health]\ntcp = \"x:1\"\njitter = 1.0\n",
    ));
    assert_at(&e, 11, 10, "`jitter` 1 must be in [0, 1)");
}

#[test]
fn unknown_stage_kind_lists_the_valid_ones() {
    let e = error(&with_base("\n[[stage]]\nkind = \"start\"\n"));
    assert_at(
        &e,
        11,
        8,
        "unknown stage kind \"start\"; kinds are: up, command, probe, wait, down, cycle, check",
    );
}

#[test]
fn keys_of_another_kind_are_rejected() {
    let e = error(&with_base("[[stage]]\nkind = \"up\"\nduration = \"5s\"\n"));
    assert_at(
        &e,
        11,
        12,
        "`duration` does not apply to a stage of kind \"up\" (it takes `services`)",
    );
}

#[test]
fn bad_durations_and_sizes_point_at_the_value() {
    let e = error(&with_base(
        "[[stage]]\nkind = \"wait\"\nduration = \"5 minutes\"\n",
    ));
    assert_at(&e, 11, 12, "invalid duration \"5 minutes\"");

    let e = error(&with_base("[[stage]]\nkind = \"wait\"\nduration = 30\n"));
    assert_at(&e, 11, 12, "must be a duration string");

    let e = error(&with_base("[service.limits]\nmax_rss = \"12 parsecs\"\n"));
    assert_at(&e, 10, 11, "invalid size \"12 parsecs\"");

    let e = error("[[service]]\nname = \"a\"\ncommand = \"a\"\nstop_timeout = \"1.5s\"\n");
    assert_at(&e, 4, 16, "invalid duration");
}

#[test]
fn undefined_variables_name_the_variable_and_the_known_ones() {
    let e = error(
        "[vars]\nport = \"1\"\n\n[[service]]\nname = \"a\"\ncommand = [\"srv\", \"--port\", \"${prot}\"]\n",
    );
    assert_at(
        &e,
        6,
        29,
        "undefined variable \"prot\"; variables are: data_dir, plan_dir, port",
    );

    let e = error("[[service]]\nname = \"a\"\ncommand = \"a\"\nenv = { X = \"${nope\" }\n");
    assert_at(&e, 4, 13, "without a closing");

    let e = error("[vars]\na = \"${b}\"\nb = \"${a}\"\n");
    assert_at(&e, 3, 5, "variables refer to each other: a → b → a");

    let e = error("[vars]\na = \"${zzz}\"\n");
    assert_at(&e, 2, 5, "in variable \"a\": undefined variable \"zzz\"");

    let e = error("[vars]\nplan_dir = \"/x\"\n");
    assert_at(&e, 2, 1, "built in");
}

#[test]
fn a_plan_without_stages_is_an_error() {
    let e = error(BASE);
    assert!(matches!(e, PlanError::Plan { .. }), "{e:?}");
    assert_eq!(e.line(), None);
    assert!(
        e.to_string()
            .starts_with("plan.toml: the plan has no [[stage]]")
    );
}

#[test]
fn option_errors() {
    let set = |k: &str, v: &str| LoadOptions {
        sets: vec![(k.to_owned(), v.to_owned())],
        ..LoadOptions::default()
    };
    let text =
        "[vars]\nport = \"1\"\nhost = \"h\"\n[[stage]]\nkind = \"wait\"\nduration = \"1s\"\n";
    let e = error_with(text, &set("prot", "2"));
    assert!(matches!(e, PlanError::Option { .. }));
    assert_eq!(e.line(), None);
    assert_eq!(
        e.to_string(),
        "--set prot: unknown variable; the plan's variables are: host, port"
    );
    let e = error_with(text, &set("port", "${nope}"));
    assert!(
        e.to_string()
            .starts_with("--set port=${nope}: undefined variable \"nope\""),
        "{e}"
    );

    let modules = |m: &[&str]| LoadOptions {
        modules: Some(m.iter().map(|s| s.to_string()).collect()),
        ..LoadOptions::default()
    };
    let plan = with_base("[[stage]]\nkind = \"up\"\n");
    let e = error_with(&plan, &modules(&["apx"]));
    assert_eq!(
        e.to_string(),
        "unknown module \"apx\" in --modules; modules (services with tests) are: api"
    );
    let e = error_with(&plan, &modules(&["redis"]));
    assert!(
        e.to_string()
            .contains("\"redis\" in --modules has no tests"),
        "{e}"
    );

    let e = error_with(
        &plan,
        &LoadOptions {
            cycles: Some(0),
            ..LoadOptions::default()
        },
    );
    assert_eq!(e.to_string(), "--cycles must be at least 1");

    // --cycles on a plan where nothing has tests: nothing to append.
    let e = error_with(
        "[[service]]\nname = \"a\"\ncommand = \"a\"\n[[stage]]\nkind = \"up\"\n",
        &LoadOptions {
            cycles: Some(2),
            ..LoadOptions::default()
        },
    );
    assert!(e.to_string().contains("no service has `tests`"), "{e}");
}

#[test]
fn modules_option_must_be_cycled_by_some_stage() {
    let text = r#"[[service]]
name = "a"
command = "a"
tests = ["t"]
[[service]]
name = "b"
command = "b"
tests = ["t"]
[[stage]]
kind = "cycle"
modules = ["a"]
"#;
    let e = error_with(
        text,
        &LoadOptions {
            modules: Some(vec!["b".to_owned()]),
            ..LoadOptions::default()
        },
    );
    assert_eq!(
        e.to_string(),
        "module \"b\" from --modules is in no cycle stage of the plan; they cycle: a"
    );
}

#[test]
fn read_errors_name_the_file() {
    let e = load(Path::new("/nonexistent/plan.toml"), &LoadOptions::default()).unwrap_err();
    assert!(matches!(e, PlanError::Read { .. }));
    assert!(
        e.to_string()
            .starts_with("/nonexistent/plan.toml: cannot read the plan: "),
        "{e}"
    );
}
