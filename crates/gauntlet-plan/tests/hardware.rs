//! The hardware keys: `requires`, `max_temp_c`, `[sensors]`, and a
//! destructive stage's `devices` against the plan's `allowed_devices` —
//! each mistake an error at its line, before anything runs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gauntlet_plan::{LoadOptions, SensorKind, StageAction, expand, load_str};

fn load(text: &str) -> Result<gauntlet_plan::Plan, gauntlet_plan::PlanError> {
    load_str(text, Path::new("/plans/hw.toml"), &LoadOptions::default())
}

fn error(text: &str) -> String {
    load(text).expect_err("a plan error").to_string()
}

#[test]
fn requires_and_max_temp_are_read_and_the_sampler_is_asked_for() {
    let plan = load(
        r#"
[[stage]]
name = "gpu"
kind = "command"
command = "nvidia-smi -q"
max_temp_c = 85
[stage.requires]
programs = ["nvidia-smi"]
paths = ["/dev/nvidia0"]
sensors = ["power", "temp"]
command = "nvidia-smi -L"
"#,
    )
    .unwrap();
    let guards = &plan.stages[0].guards;
    assert_eq!(guards.requires.programs, ["nvidia-smi"]);
    assert_eq!(guards.requires.paths, [PathBuf::from("/dev/nvidia0")]);
    assert_eq!(
        guards.requires.sensors,
        [SensorKind::Power, SensorKind::Temp]
    );
    assert!(guards.requires.command.is_some());
    assert_eq!(guards.max_temp_c, Some(85.0));
    assert!(plan.sensors.asked);
    assert_eq!(plan.sensors.interval, Duration::from_secs(5));
    assert_eq!(plan.sensors.root, PathBuf::from("/sys/class/hwmon"));
}

#[test]
fn sensors_settings_are_read_relative_to_the_plan() {
    let plan = load(
        r#"
[sensors]
interval = "250ms"
root = "fixtures/hwmon"
[[stage]]
kind = "command"
command = "true"
"#,
    )
    .unwrap();
    assert_eq!(plan.sensors.interval, Duration::from_millis(250));
    assert_eq!(plan.sensors.root, PathBuf::from("/plans/fixtures/hwmon"));
    let e =
        error("[sensors]\ninterval = \"1ms\"\n[[stage]]\nkind = \"command\"\ncommand = \"true\"\n");
    assert!(
        e.contains("hw.toml:2:") && e.contains("at least 100ms"),
        "{e}"
    );
}

#[test]
fn a_destructive_stage_gets_a_gate_before_it() {
    let plan = load(
        r#"
allowed_devices = ["/dev/sdb", "/dev/sdc"]
[[stage]]
name = "wipe"
kind = "command"
command = "badblocks -w /dev/sdb"
destructive = true
devices = ["/dev/sdb"]
"#,
    )
    .unwrap();
    let stages = expand(&plan);
    let names: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["wipe/gate", "wipe"]);
    assert_eq!(stages[0].kind(), "gate");
    let StageAction::Gate {
        stage,
        devices,
        allowed,
    } = &stages[0].action
    else {
        panic!("a gate: {:?}", stages[0]);
    };
    assert_eq!(stage, "wipe");
    assert_eq!(devices, &[PathBuf::from("/dev/sdb")]);
    assert_eq!(allowed.len(), 2);
}

#[test]
fn each_destructive_mistake_is_named_at_its_line() {
    let stage = |keys: &str| {
        format!("[[stage]]\nname = \"wipe\"\nkind = \"command\"\ncommand = \"true\"\n{keys}")
    };
    for (text, line, words) in [
        (
            stage("destructive = true\ndevices = [\"/dev/sdb\"]\n"),
            6,
            "the plan has no `allowed_devices`",
        ),
        (
            format!(
                "allowed_devices = [\"/dev/sdc\"]\n{}",
                stage("destructive = true\ndevices = [\"/dev/sdb\"]\n")
            ),
            7,
            "/dev/sdb is not in `allowed_devices` (/dev/sdc)",
        ),
        (
            format!("allowed_devices = [\"/dev/sdb\"]\n{}", stage("destructive = true\n")),
            6,
            "names no `devices`",
        ),
        (
            format!("allowed_devices = [\"/dev/sdb\"]\n{}", stage("devices = [\"/dev/sdb\"]\n")),
            6,
            "is not `destructive = true`",
        ),
        (
            format!(
                "allowed_devices = [\"sdb\"]\n{}",
                stage("destructive = true\ndevices = [\"sdb\"]\n")
            ),
            1,
            "not an absolute device path",
        ),
        (stage("max_temp_c = 900\n"), 5, "between 0 and 200"),
        (
            stage("requires = { sensors = [\"voltage\"] }\n"),
            5,
            "unknown sensor kind \"voltage\"; kinds are: temp, fan, power",
        ),
        (
            stage("requires = { programs = [\"./tool\"] }\n"),
            5,
            "a program name looked up on PATH",
        ),
        (
            "allowed_devices = [\"/dev/sdb\"]\n[[stage]]\nkind = \"wait\"\nduration = \"1s\"\ndestructive = true\n"
                .to_owned(),
            5,
            "`destructive` does not apply to a stage of kind \"wait\"",
        ),
    ] {
        let e = error(&text);
        assert!(
            e.contains(&format!("hw.toml:{line}:")) && e.contains(words),
            "wanted line {line} and {words:?}, got: {e}\n{text}"
        );
    }
}
