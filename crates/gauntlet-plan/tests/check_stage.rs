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
    let StageKind::Check(CheckStage {
        name,
        by: CheckBy::Program { run, timeout },
    }) = &plan.stages[0].kind
    else {
        panic!("{:?}", plan.stages[0]);
    };
    assert_eq!(plan.stages[0].name, "check");
    assert_eq!(name, "check");
    assert_eq!(
        run.command,
        CommandLine::Argv(vec![
            "python3".into(),
            "checks/lease.py".into(),
            "--strict".into()
        ])
    );
    assert_eq!(run.cwd, Path::new("/plans"));
    assert_eq!(run.env.get("LEVEL").map(String::as_str), Some("2"));
    assert_eq!(*timeout, Duration::from_secs(5));
    let StageKind::Check(CheckStage {
        name,
        by: CheckBy::Program { run, timeout },
    }) = &plan.stages[1].kind
    else {
        panic!("{:?}", plan.stages[1]);
    };
    assert_eq!(name, "fences");
    assert_eq!(*timeout, Duration::from_secs(60), "the default");
    assert_eq!(run.command, CommandLine::Shell("./fences.sh".into()));

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
    assert!(shown.contains("has neither `program`"), "{shown}");

    let e = load("[[stage]]\nkind = \"check\"\nprogram = \"x\"\nexpect_exit = 1\n").unwrap_err();
    let shown = e.to_string();
    assert_eq!((e.line(), e.column()), (Some(4), Some(15)), "{shown}");
    assert!(
        shown.contains("`expect_exit` does not apply to a stage of kind \"check\" (it takes `program`, `cwd`, `env`, `timeout`, `checker`, `history`)"),
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

#[test]
fn a_check_stage_can_name_a_built_in_checker_over_a_history() {
    let plan = load(
        r#"[[stage]]
name = "linear"
kind = "check"
checker = "linearizable"

[[stage]]
kind = "check"
checker = "counter"
history = "/data/counter.edn"
"#,
    )
    .unwrap();
    assert_eq!(
        plan.stages[0].kind,
        StageKind::Check(CheckStage {
            name: "linear".into(),
            by: CheckBy::Builtin {
                checker: "linearizable".into(),
                history: "history.jsonl".into(),
            },
        })
    );
    assert!(matches!(
        &plan.stages[1].kind,
        StageKind::Check(CheckStage { by: CheckBy::Builtin { checker, history }, .. })
            if checker == "counter" && history == Path::new("/data/counter.edn")
    ));
}

#[test]
fn an_unknown_checker_name_is_an_error_at_the_name_listing_the_known_ones() {
    let e = load("[[stage]]\nkind = \"check\"\nchecker = \"lineariz\"\n").unwrap_err();
    assert_eq!((e.line(), e.column()), (Some(3), Some(11)), "{e}");
    let shown = e.to_string();
    assert!(
        shown.contains("unknown checker \"lineariz\"; known checkers are: availability, counter, echo, kafka, linearizable, list-append, rw-register, set-full, stats, unique-ids"),
        "{shown}"
    );
    let e =
        load("[[stage]]\nkind = \"check\"\nchecker = \"counter\"\nprogram = \"x\"\n").unwrap_err();
    assert!(
        e.to_string().contains("both `program` and `checker`"),
        "{e}"
    );
    let e =
        load("[[stage]]\nkind = \"check\"\nchecker = \"counter\"\ntimeout = \"1s\"\n").unwrap_err();
    assert_eq!(e.line(), Some(4), "{e}");
    assert!(
        e.to_string().contains("`timeout` goes with `program`"),
        "{e}"
    );
    let e =
        load("[[stage]]\nkind = \"check\"\nprogram = \"x\"\nhistory = \"h.jsonl\"\n").unwrap_err();
    assert_eq!(e.line(), Some(4), "{e}");
    assert!(
        e.to_string().contains("`history` goes with `checker`"),
        "{e}"
    );
}
