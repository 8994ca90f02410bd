//! `[[stage.figure]]`: numbers read from a command stage's stdout, by JSON
//! pointer or regex capture, with their checks; bad ones named at their
//! line.

use std::path::Path;

use gauntlet_plan::{ExpectCheck, FigureSource, LoadOptions, Severity, StageKind, load_str};

fn load(text: &str) -> Result<gauntlet_plan::Plan, gauntlet_plan::PlanError> {
    load_str(text, Path::new("/plans/hw.toml"), &LoadOptions::default())
}

const FIO: &str = r#"[[stage]]
name = "fio"
kind = "command"
command = ["fio", "--output-format=json", "job.fio"]
[[stage.figure]]
name = "read_iops"
json = "/jobs/0/read/iops"
min = 5000
unit = "iops"
[[stage.figure]]
name = "gbits"
regex = '([\d.]+) Gbits/sec'
min = 1
max = 100
severity = "warning"
"#;

#[test]
fn a_command_stage_names_its_figures_and_their_checks() {
    let plan = load(FIO).unwrap();
    let StageKind::Command(test) = &plan.stages[0].kind else {
        panic!("a command stage");
    };
    let f = &test.expect.figures;
    assert_eq!(f.len(), 2);
    assert_eq!(
        f[0].from,
        FigureSource::Json {
            pointer: "/jobs/0/read/iops".into()
        }
    );
    assert_eq!(f[0].checks, [ExpectCheck::Min(5000.0)]);
    assert_eq!(f[0].severity, Severity::Critical, "critical by default");
    assert_eq!(
        f[1].checks,
        [ExpectCheck::Min(1.0), ExpectCheck::Max(100.0)]
    );
    assert_eq!(f[1].severity, Severity::Warning);
}

#[test]
fn bad_figures_are_errors_at_their_line() {
    let cases = [
        (
            FIO.replace("json = \"/jobs/0/read/iops\"", "json = \"jobs/0\""),
            "hw.toml:7:8:",
            "must start with `/`",
        ),
        (
            FIO.replace(
                "json = \"/jobs/0/read/iops\"",
                "json = \"/jobs/0/read~iops\"",
            ),
            "hw.toml:7:8:",
            "has a `~` that is not `~0`",
        ),
        (
            FIO.replace(r"([\d.]+) Gbits/sec", r"([\d.]+ Gbits"),
            "hw.toml:12:9:",
            "does not compile",
        ),
        (
            FIO.replace(r"([\d.]+) Gbits/sec", r"[\d.]+ Gbits"),
            "hw.toml:12:9:",
            "no capture group",
        ),
        (
            FIO.replace("json = \"/jobs/0/read/iops\"\n", ""),
            "hw.toml:5:1:",
            "needs `json`",
        ),
        (
            FIO.replace("min = 5000", "min = 5000\nequals = 3"),
            "hw.toml:9:10:",
            "`equals` goes alone",
        ),
        (
            FIO.replace("name = \"gbits\"", "name = \"read_iops\""),
            "hw.toml:11:8:",
            "two figures named",
        ),
    ];
    for (text, place, words) in cases {
        let message = load(&text).unwrap_err().to_string();
        assert!(
            message.contains(place) && message.contains(words),
            "wanted {place}…{words}, got: {message}"
        );
    }
}
