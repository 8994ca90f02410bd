//! `kind = "check"` stages: a checker program against the run's directory.

use std::path::Path;
use std::time::Duration;

use gauntlet_plan::*;

fn load(text: &str) -> Result<Plan, PlanError> {
    load_str(text, Path::new("/plans/plan.toml"), &LoadOptions::default())
}

#[test]
fn a_check_stage_takes_a_program_cwd_env_and_timeout() {
    let plan = load(
        r#"[vars]
tool = "lease"

[[stage]]
kind = "check"
program = ["python3", "checks/${tool}.py", "--strict"]
env = { LEVEL = "2" }
timeout = "5s"

[[stage]]
name = "fences"
kind = "check"
program = "./fences.sh"
"#,
    )
    .unwrap();
    let StageKind::Check(first) = &plan.stages[0].kind else {
        panic!("{:?}", plan.stages[0]);
    };
    assert_eq!(plan.stages[0].name, "check");
    assert_eq!(first.name, "check");
    assert_eq!(
        first.run.command,
        CommandLine::Argv(vec![
            "python3".into(),
            "checks/lease.py".into(),
            "--strict".into()
        ])
    );
    assert_eq!(first.run.cwd, Path::new("/plans"));
    assert_eq!(first.run.env.get("LEVEL").map(String::as_str), Some("2"));
    assert_eq!(first.timeout, Duration::from_secs(5));
    let StageKind::Check(second) = &plan.stages[1].kind else {
        panic!("{:?}", plan.stages[1]);
    };
    assert_eq!(second.name, "fences");
    assert_eq!(second.timeout, Duration::from_secs(60), "the default");
    assert_eq!(second.run.command, CommandLine::Shell("./fences.sh".into()));

    let stages = expand(&plan);
    assert_eq!(stages[1].kind(), "check");
    assert!(matches!(&stages[1].action, StageAction::Check(c) if c.name == "fences"));
    assert_eq!(plan.stages[0].kind.word(), "check");
}

#[test]
fn a_check_stage_without_a_program_or_with_foreign_keys_is_an_error_with_its_position() {
    let e = load("[[stage]]\nkind = \"check\"\ntimeout = \"5s\"\n").unwrap_err();
    let shown = e.to_string();
    assert!(shown.starts_with("/plans/plan.toml:1:1: "), "{shown}");
    assert!(shown.contains("has no `program`"), "{shown}");

    let e = load("[[stage]]\nkind = \"check\"\nprogram = \"x\"\nexpect_exit = 1\n").unwrap_err();
    let shown = e.to_string();
    assert_eq!((e.line(), e.column()), (Some(4), Some(15)), "{shown}");
    assert!(
        shown.contains("`expect_exit` does not apply to a stage of kind \"check\" (it takes `program`, `cwd`, `env`, `timeout`)"),
        "{shown}"
    );

    let e = load("[[stage]]\nkind = \"check\"\nprogram = \"x\"\nprogramme = \"y\"\n").unwrap_err();
    assert_eq!((e.line(), e.column()), (Some(4), Some(1)), "{e}");
    assert!(e.to_string().contains("programme"), "{e}");

    let e = load("[[stage]]\nkind = \"check\"\nprogram = []\n").unwrap_err();
    assert_eq!(e.line(), Some(3), "{e}");

    let e = load("[[stage]]\nkind = \"check\"\nprogram = \"x\"\ntimeout = \"soon\"\n").unwrap_err();
    assert_eq!(e.line(), Some(4), "{e}");

    let e = load("[[stage]]\nkind = \"command\"\ncommand = \"x\"\nprogram = \"y\"\n").unwrap_err();
    assert!(
        e.to_string()
            .contains("`program` does not apply to a stage of kind \"command\""),
        "{e}"
    );
}
