//! The run state machine and the module verdicts.

use std::path::PathBuf;
use std::time::Duration;

use gauntlet_plan::*;

/// The states a run's stage can be in, as the store keeps them.
#[derive(Clone, Copy, Debug)]
enum State {
    Pending,
    Running,
    Passed,
    Failed,
    Overridden,
    Skipped,
}
use State::*;

impl StageProgress for State {
    fn is_done(self) -> bool {
        matches!(self, Passed | Overridden | Skipped)
    }
    fn is_failed(self) -> bool {
        matches!(self, Failed)
    }
}

#[test]
fn next_step_runs_the_first_stage_not_done() {
    assert_eq!(next_step::<State>(&[]), Next::Finished);
    assert_eq!(next_step(&[Pending, Pending]), Next::Run(0));
    assert_eq!(next_step(&[Passed, Pending, Pending]), Next::Run(1));
    assert_eq!(
        next_step(&[Passed, Overridden, Skipped, Pending]),
        Next::Run(3)
    );
    assert_eq!(next_step(&[Passed, Passed]), Next::Finished);
    assert_eq!(next_step(&[Overridden, Skipped, Passed]), Next::Finished);
}

#[test]
fn next_step_holds_on_a_failed_stage() {
    assert_eq!(next_step(&[Passed, Failed, Pending]), Next::Hold(1));
    assert_eq!(next_step(&[Failed]), Next::Hold(0));
    // Strict order: a later failure does not matter until it is reached.
    assert_eq!(next_step(&[Pending, Failed]), Next::Run(0));
}

#[test]
fn next_step_reruns_a_stage_left_running() {
    assert_eq!(next_step(&[Passed, Running, Pending]), Next::Run(1));
    assert_eq!(next_step(&[Running, Failed]), Next::Run(0));
}

fn service() -> Service {
    Service {
        name: "api".into(),
        run: Command {
            command: CommandLine::Shell("api".into()),
            cwd: PathBuf::from("/"),
            env: Default::default(),
        },
        depends_on: vec![],
        ready: Readiness::Healthy,
        health: Some(HealthCheck {
            probe: Probe::Tcp {
                address: "127.0.0.1:1".into(),
            },
            timeout: Duration::from_secs(30),
            interval: Duration::from_millis(100),
            max_interval: Duration::from_secs(2),
            jitter: 0.2,
            probe_timeout: Duration::from_secs(2),
            warn_p95: Some(Duration::from_millis(500)),
        }),
        limits: Limits {
            max_rss: Some(256 << 20),
            max_cpu: Some(90.0),
            max_restarts: Some(2),
            rss_growth_warn_pct: 20.0,
        },
        restart: RestartPolicy::OnFailure,
        stop_timeout: Duration::from_secs(5),
        tests: vec![],
        host: None,
        group: None,
        container: None,
    }
}

fn good() -> ModuleFigures {
    ModuleFigures {
        healthy: true,
        health_p95: Some(Duration::from_millis(12)),
        max_rss: Some(100 << 20),
        max_cpu: Some(40.0),
        restarts: 0,
        oom_kills: 0,
        tests_run: 3,
        tests_failed: 0,
        tests_empty: 0,
        rss_growth_pct: Some(5.0),
    }
}

#[track_caller]
fn verdict(f: ModuleFigures) -> (ModuleStatus, Vec<String>) {
    module_status(&service(), &f)
}

#[test]
fn a_clean_module_passes() {
    assert_eq!(verdict(good()), (ModuleStatus::Pass, vec![]));
    // Figures that were not measured judge nothing.
    let bare = ModuleFigures {
        healthy: true,
        ..ModuleFigures::default()
    };
    assert_eq!(verdict(bare), (ModuleStatus::Pass, vec![]));
}

#[test]
fn each_failure_has_its_reason() {
    let cases: Vec<(ModuleFigures, &str)> = vec![
        (
            ModuleFigures {
                healthy: false,
                ..good()
            },
            "not healthy (health check did not pass within 30s)",
        ),
        (
            ModuleFigures {
                tests_failed: 2,
                ..good()
            },
            "2 of 3 tests failed",
        ),
        (
            ModuleFigures {
                max_rss: Some(300 << 20),
                ..good()
            },
            "max RSS 300.0 MiB > max_rss 256.0 MiB",
        ),
        (
            ModuleFigures {
                max_cpu: Some(97.5),
                ..good()
            },
            "max CPU 97.5% > max_cpu 90.0%",
        ),
        (
            ModuleFigures {
                restarts: 3,
                ..good()
            },
            "3 restarts > max_restarts 2",
        ),
        (
            ModuleFigures {
                oom_kills: 1,
                ..good()
            },
            "killed by the OOM killer 1 time(s)",
        ),
    ];
    for (figures, reason) in cases {
        assert_eq!(
            verdict(figures),
            (ModuleStatus::Fail, vec![reason.to_owned()])
        );
    }
}

#[test]
fn each_warning_has_its_reason() {
    let cases: Vec<(ModuleFigures, &str)> = vec![
        (
            ModuleFigures {
                health_p95: Some(Duration::from_millis(812)),
                ..good()
            },
            "p95 health latency 812 ms > warn_p95 500 ms",
        ),
        (
            ModuleFigures {
                tests_empty: 1,
                ..good()
            },
            "1 of 3 test commands found no tests",
        ),
        (
            ModuleFigures {
                rss_growth_pct: Some(34.0),
                ..good()
            },
            "RSS grew 34.0% since the first cycle > rss_growth_warn_pct 20.0%",
        ),
    ];
    for (figures, reason) in cases {
        assert_eq!(
            verdict(figures),
            (ModuleStatus::Warn, vec![reason.to_owned()])
        );
    }
}

#[test]
fn limits_are_exclusive_and_unset_limits_judge_nothing() {
    let at_limits = ModuleFigures {
        max_rss: Some(256 << 20),
        max_cpu: Some(90.0),
        restarts: 2,
        health_p95: Some(Duration::from_millis(500)),
        rss_growth_pct: Some(20.0),
        ..good()
    };
    assert_eq!(verdict(at_limits).0, ModuleStatus::Pass);

    let mut unlimited = service();
    unlimited.limits = Limits {
        rss_growth_warn_pct: 20.0,
        ..Limits::default()
    };
    unlimited.health = None;
    let huge = ModuleFigures {
        max_rss: Some(u64::MAX),
        max_cpu: Some(800.0),
        restarts: 50,
        health_p95: Some(Duration::from_secs(9)),
        ..good()
    };
    assert_eq!(module_status(&unlimited, &huge).0, ModuleStatus::Pass);
    let down = ModuleFigures {
        healthy: false,
        ..good()
    };
    assert_eq!(
        module_status(&unlimited, &down),
        (ModuleStatus::Fail, vec!["not healthy (exited)".to_owned()])
    );
}

#[test]
fn failures_come_before_warnings_and_fail_wins() {
    let f = ModuleFigures {
        tests_empty: 1,
        oom_kills: 2,
        health_p95: Some(Duration::from_secs(1)),
        ..good()
    };
    let (status, reasons) = verdict(f);
    assert_eq!(status, ModuleStatus::Fail);
    assert_eq!(reasons.len(), 3);
    assert!(reasons[0].starts_with("killed by the OOM killer"));
    assert!(reasons[1].starts_with("p95 health latency"));

    // An unhealthy module's latency is not judged: it has no meaning.
    let (_, reasons) = verdict(ModuleFigures {
        healthy: false,
        health_p95: Some(Duration::from_secs(1)),
        ..good()
    });
    assert_eq!(reasons.len(), 1);
}

#[test]
fn module_status_orders_and_serializes_lowercase() {
    assert!(ModuleStatus::Fail > ModuleStatus::Warn && ModuleStatus::Warn > ModuleStatus::Pass);
    assert_eq!(
        serde_json::to_string(&ModuleStatus::Warn).unwrap(),
        "\"warn\""
    );
    let back: ModuleStatus = serde_json::from_str("\"fail\"").unwrap();
    assert_eq!(back, ModuleStatus::Fail);
}

#[test]
fn no_tests_found_cases() {
    // pytest: exit 5 means no tests were collected.
    assert!(no_tests_found(5, "", ""));
    assert!(no_tests_found(0, "collected 0 items\n", ""));
    assert!(no_tests_found(0, "", "===== no tests ran in 0.01s ====="));
    // cargo test: every binary ran 0 tests.
    let empty_cargo = "running 0 tests\n\ntest result: ok. 0 passed; 0 failed\n\nrunning 0 tests\n";
    assert!(no_tests_found(0, empty_cargo, ""));
    // cargo test: one binary of several had tests.
    let some_cargo = "running 0 tests\n\ntest result: ok.\n\nrunning 4 tests\ntest a ... ok\n";
    assert!(!no_tests_found(0, some_cargo, ""));
    assert!(!no_tests_found(0, "running 1 test\ntest a ... ok\n", ""));
    // Counts on stderr count too.
    assert!(!no_tests_found(
        0,
        "running 0 tests\n",
        "running 12 tests\n"
    ));
    // Ordinary output, failures and successes alike.
    assert!(!no_tests_found(0, "collected 10 items\n10 passed\n", ""));
    assert!(!no_tests_found(1, "FAILED test_x\n", ""));
    assert!(!no_tests_found(0, "", ""));
    // "running" without a count is not a test line.
    assert!(!no_tests_found(0, "running the smoke suite\n", ""));
}
