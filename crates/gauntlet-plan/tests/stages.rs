//! Dependency order, stage expansion and what a resumed run restarts.

use std::path::Path;
use std::time::Duration;

use gauntlet_plan::*;

fn plan(text: &str) -> Plan {
    match load_str(text, Path::new("/p/plan.toml"), &LoadOptions::default()) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

fn strings(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|x| x.to_string()).collect()
}

/// A diamond: app → (cache, queue) → db, plus an unrelated `extra` that
/// the file lists first.
const DIAMOND: &str = r#"
[[service]]
name = "extra"
command = "x"
[[service]]
name = "app"
command = "x"
depends_on = ["queue", "cache"]
tests = ["t"]
[[service]]
name = "cache"
command = "x"
depends_on = ["db"]
tests = ["t"]
[[service]]
name = "queue"
command = "x"
depends_on = ["db"]
[[service]]
name = "db"
command = "x"
tests = ["t"]

[[stage]]
kind = "up"
services = ["app"]
"#;

#[test]
fn dependency_order_on_a_diamond() {
    let p = plan(DIAMOND);
    // Dependencies first; cache before queue because the plan lists it first.
    assert_eq!(
        dependency_order(&p, &strings(&["app"])),
        strings(&["db", "cache", "queue", "app"])
    );
    assert_eq!(
        dependency_order(&p, &strings(&["queue"])),
        strings(&["db", "queue"])
    );
    // Everything: unrelated services keep plan order.
    let all = strings(&["db", "app", "queue", "cache", "extra"]);
    assert_eq!(
        dependency_order(&p, &all),
        strings(&["extra", "db", "cache", "queue", "app"])
    );
    assert!(dependency_order(&p, &[]).is_empty());
    assert!(dependency_order(&p, &strings(&["nope"])).is_empty());
}

#[test]
fn stop_order_on_a_diamond() {
    let p = plan(DIAMOND);
    assert_eq!(
        stop_order(&p, &strings(&["db", "app", "cache", "queue"])),
        strings(&["app", "queue", "cache", "db"])
    );
    // Only the names given, still ordered through services not given.
    assert_eq!(
        stop_order(&p, &strings(&["db", "app"])),
        strings(&["app", "db"])
    );
    assert_eq!(stop_order(&p, &strings(&["db"])), strings(&["db"]));
}

fn names(stages: &[RunStage]) -> Vec<&str> {
    stages.iter().map(|s| s.name.as_str()).collect()
}

#[test]
fn expand_unrolls_cycles_in_dependency_order() {
    let p = plan(&format!(
        "{DIAMOND}\n[[stage]]\nkind = \"cycle\"\ncycles = 2\n[[stage]]\nkind = \"down\"\n"
    ));
    let stages = expand(&p);
    assert_eq!(
        names(&stages),
        [
            "up",
            "cycle1/db",
            "cycle1/cache",
            "cycle1/app",
            "cycle2/db",
            "cycle2/cache",
            "cycle2/app",
            "down"
        ]
    );
    let kinds: Vec<&str> = stages.iter().map(RunStage::kind).collect();
    assert_eq!(
        kinds,
        [
            "up", "module", "module", "module", "module", "module", "module", "down"
        ]
    );
    assert_eq!(
        stages[0].action,
        StageAction::Up {
            services: strings(&["db", "cache", "queue", "app"])
        }
    );
    assert_eq!(
        stages[6].action,
        StageAction::Module {
            module: "app".into(),
            cycle: 2,
            cycles: 2,
            deps: strings(&["db", "cache", "queue"]),
        }
    );
    assert_eq!(
        stages[1].action,
        StageAction::Module {
            module: "db".into(),
            cycle: 1,
            cycles: 2,
            deps: vec![],
        }
    );
    assert_eq!(
        stages[7].action,
        StageAction::Down {
            services: strings(&["app", "queue", "cache", "db", "extra"])
        }
    );
}

#[test]
fn expand_prefixes_when_there_are_two_cycle_stages() {
    let p = plan(&format!(
        "{DIAMOND}\n[[stage]]\nname = \"warm\"\nkind = \"cycle\"\nmodules = [\"db\"]\n\
         [[stage]]\nkind = \"cycle\"\nmodules = [\"app\"]\ncycles = 2\n"
    ));
    assert_eq!(
        names(&expand(&p)),
        [
            "up",
            "warm:cycle1/db",
            "cycle:cycle1/app",
            "cycle:cycle2/app"
        ]
    );
}

#[test]
fn expand_keeps_names_unique_in_a_hand_built_plan() {
    let mut p = plan(DIAMOND);
    p.stages.push(p.stages[0].clone());
    assert_eq!(names(&expand(&p)), ["up", "up-2"]);
}

#[test]
fn expand_passes_the_other_kinds_through() {
    let p = plan(
        r#"
[[stage]]
kind = "wait"
duration = "3s"
[[stage]]
name = "hi"
kind = "command"
command = "echo hi"
[[stage]]
kind = "probe"
"#,
    );
    let stages = expand(&p);
    assert_eq!(
        stages[0].action,
        StageAction::Wait {
            duration: Duration::from_secs(3)
        }
    );
    let StageAction::Command(cmd) = &stages[1].action else {
        panic!("command expected");
    };
    assert_eq!(cmd.name, "hi");
    assert_eq!(stages[1].kind(), "command");
    assert_eq!(stages[2].action, StageAction::Probe { expected: vec![] });
    assert_eq!(stages[2].kind(), "probe");
}

#[test]
fn running_before_follows_up_and_down_but_not_modules() {
    let p = plan(&format!(
        r#"{DIAMOND}
[[stage]]
kind = "cycle"
[[stage]]
kind = "down"
services = ["app"]
[[stage]]
kind = "up"
services = ["extra"]
[[stage]]
kind = "down"
"#
    ));
    let stages = expand(&p);
    assert_eq!(
        names(&stages),
        [
            "up",
            "cycle1/db",
            "cycle1/cache",
            "cycle1/app",
            "down",
            "up-2",
            "down-2"
        ]
    );
    let r = |i| running_before(&p, &stages, i);
    assert!(r(0).is_empty());
    let all_app = strings(&["db", "cache", "queue", "app"]);
    assert_eq!(r(1), all_app);
    assert_eq!(
        r(4),
        all_app,
        "module stages leave the running set as it was"
    );
    assert_eq!(r(5), strings(&["db", "cache", "queue"]));
    assert_eq!(r(6), strings(&["extra", "db", "cache", "queue"]));
    assert!(r(7).is_empty());
    assert!(r(99).is_empty(), "an index past the end is the end");
}
