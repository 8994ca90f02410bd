use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;

use super::*;

fn rec(phase: Phase, ended: Ended) -> Record {
    Record { phase, ended }
}

fn tested(passed: bool, gbits: f64) -> Ended {
    Ended::Tested {
        passed,
        figures: BTreeMap::from([(
            "throughput".to_owned(),
            Figure {
                value: gbits,
                higher_is_better: true,
            },
        )]),
    }
}

fn spec() -> LoopSpec {
    LoopSpec {
        checkpoints: vec![Duration::from_secs(2), Duration::from_secs(5)],
        ..LoopSpec::default()
    }
}

/// Runs the loop on `outcomes`, feeding each phase `next` asks for the
/// next outcome; returns the phases' words and the final answer.
fn drive(spec: &LoopSpec, outcomes: Vec<Ended>) -> (Vec<String>, Next) {
    let mut done = Vec::new();
    let mut outcomes = outcomes.into_iter();
    loop {
        match next(spec, &done) {
            Next::Run(phase) => {
                let Some(ended) = outcomes.next() else {
                    return (words(&done), Next::Run(phase));
                };
                done.push(rec(phase, ended));
            }
            end => return (words(&done), end),
        }
    }
}

fn words(done: &[Record]) -> Vec<String> {
    done.iter()
        .map(|r| match &r.phase {
            Phase::Build { attempt } => format!("build{attempt}"),
            Phase::Test { checkpoint } => format!("test{checkpoint}"),
            Phase::Fix { round } => format!("fix{round}"),
            Phase::Wait { checkpoint, .. } => format!("wait{checkpoint}"),
            p => p.word().to_owned(),
        })
        .collect()
}

fn reached(n: usize, of: usize) -> Ended {
    Ended::Reached {
        reachable: n,
        total: of,
    }
}

#[test]
fn a_green_loop_tests_at_every_checkpoint_then_completes() {
    let (phases, end) = drive(
        &spec(),
        vec![
            reached(6, 6),
            Ended::Done,
            Ended::Done,
            tested(true, 9.0),
            Ended::Waited,
            tested(true, 9.1),
            Ended::Waited,
            tested(true, 8.9),
        ],
    );
    assert_eq!(
        phases,
        [
            "setup", "build1", "deploy", "test0", "wait1", "test1", "wait2", "test2"
        ]
    );
    assert_eq!(end, Next::Complete);
}

#[test]
fn a_failed_test_is_fixed_rebuilt_redeployed_and_retested() {
    let (phases, end) = drive(
        &spec(),
        vec![
            reached(5, 6),
            Ended::Done,
            Ended::Done,
            tested(false, 1.0),
            Ended::Fixed {
                commit: "abc123".into(),
            },
            Ended::Done,
            Ended::Done,
            tested(true, 9.0),
            Ended::Waited,
            tested(true, 9.0),
            Ended::Waited,
            tested(true, 9.0),
        ],
    );
    assert_eq!(
        phases,
        [
            "setup", "build1", "deploy", "test0", "fix1", "build1", "deploy", "test0", "wait1",
            "test1", "wait2", "test2"
        ]
    );
    assert_eq!(end, Next::Complete);
}

#[test]
fn waits_are_counted_from_the_first_green_test() {
    let (_, end) = drive(
        &spec(),
        vec![reached(1, 1), Ended::Done, Ended::Done, tested(true, 1.0)],
    );
    assert_eq!(
        end,
        Next::Run(Phase::Wait {
            checkpoint: 1,
            until: Duration::from_secs(2)
        })
    );
}

#[test]
fn fewer_than_half_reachable_fails_the_loop() {
    let (_, end) = drive(&spec(), vec![reached(2, 5)]);
    assert_eq!(
        end,
        Next::Fail("fewer than half the nodes are reachable: 2 of 5".into())
    );
    let (_, end) = drive(&spec(), vec![reached(0, 0)]);
    assert!(matches!(end, Next::Fail(_)));
    // Half is enough: the others are degraded and skipped.
    let (phases, _) = drive(&spec(), vec![reached(3, 6)]);
    assert_eq!(phases, ["setup"]);
}

#[test]
fn builds_that_keep_failing_go_through_the_fix_hook_then_hold() {
    let failed = || Ended::Failed("error[E0308]: mismatched types".into());
    let fixed = || Ended::Fixed { commit: "c".into() };
    let (phases, end) = drive(
        &spec(),
        vec![
            reached(2, 2),
            failed(),
            fixed(),
            failed(),
            fixed(),
            failed(),
        ],
    );
    assert_eq!(
        phases,
        ["setup", "build1", "fix1", "build2", "fix2", "build3"]
    );
    assert_eq!(
        end,
        Next::Hold("the build failed 3 times in a row: error[E0308]: mismatched types".into())
    );
}

#[test]
fn a_fix_hook_that_fixes_nothing_holds() {
    let (_, end) = drive(
        &spec(),
        vec![
            reached(2, 2),
            Ended::Done,
            Ended::Done,
            tested(false, 0.0),
            Ended::NoFix("exit status 1".into()),
        ],
    );
    assert_eq!(
        end,
        Next::Hold("the fix hook made no fix: exit status 1".into())
    );
}

#[test]
fn a_regression_at_a_checkpoint_goes_back_to_fix_and_checkpoints_start_over() {
    let (phases, end) = drive(
        &spec(),
        vec![
            reached(2, 2),
            Ended::Done,
            Ended::Done,
            tested(true, 10.0),
            Ended::Waited,
            // Still passing its criteria, but 20 % slower: a regression.
            tested(true, 8.0),
            Ended::Fixed { commit: "d".into() },
            Ended::Done,
            Ended::Done,
            tested(true, 10.0),
        ],
    );
    assert_eq!(
        phases,
        [
            "setup", "build1", "deploy", "test0", "wait1", "test1", "fix1", "build1", "deploy",
            "test0"
        ]
    );
    assert!(matches!(end, Next::Run(Phase::Wait { checkpoint: 1, .. })));
}

#[test]
fn within_the_tolerance_is_no_regression_and_lower_is_better_counts_the_other_way() {
    let figure = |value, higher_is_better| {
        BTreeMap::from([(
            "f".to_owned(),
            Figure {
                value,
                higher_is_better,
            },
        )])
    };
    let history = |baseline| {
        vec![
            rec(
                Phase::Test { checkpoint: 0 },
                Ended::Tested {
                    passed: true,
                    figures: baseline,
                },
            ),
            rec(
                Phase::Wait {
                    checkpoint: 1,
                    until: Duration::ZERO,
                },
                Ended::Waited,
            ),
            rec(Phase::Test { checkpoint: 1 }, Ended::Waited),
        ]
    };
    let s = spec();
    assert!(regression(&s, &history(figure(100.0, true)), &figure(91.0, true)).is_none());
    assert!(regression(&s, &history(figure(100.0, true)), &figure(89.0, true)).is_some());
    // Latency: higher is worse.
    assert!(regression(&s, &history(figure(10.0, false)), &figure(10.9, false)).is_none());
    let why = regression(&s, &history(figure(10.0, false)), &figure(12.0, false)).unwrap();
    assert_eq!(why, "f went from 10 to 12, beyond the 10% tolerance");
}

#[test]
fn the_loop_never_spins_past_max_fixes() {
    let mut outcomes = vec![reached(1, 1)];
    for _ in 0..10 {
        outcomes.extend([
            Ended::Done,
            Ended::Done,
            tested(false, 0.0),
            Ended::Fixed { commit: "x".into() },
        ]);
    }
    let (phases, end) = drive(&spec(), outcomes);
    assert_eq!(phases.iter().filter(|p| p.starts_with("fix")).count(), 5);
    assert_eq!(
        end,
        Next::Hold("5 fixes and still failing: an operator should look".into())
    );
}

fn any_ended() -> impl Strategy<Value = Ended> {
    prop_oneof![
        (0usize..8, 1usize..8).prop_map(|(r, t)| reached(r.min(t), t)),
        Just(Ended::Done),
        Just(Ended::Failed("no".into())),
        (any::<bool>(), 0.0f64..100.0).prop_map(|(p, v)| tested(p, v)),
        Just(Ended::Fixed { commit: "c".into() }),
        Just(Ended::NoFix("no".into())),
        Just(Ended::Waited),
    ]
}

proptest! {
    /// Whatever the phases answer, the loop ends (completes, holds or
    /// fails) within a bounded number of phases, and only completes after
    /// a passing test at the last checkpoint.
    #[test]
    fn the_loop_always_ends(outcomes in proptest::collection::vec(any_ended(), 0..200)) {
        let s = spec();
        let mut done: Vec<Record> = Vec::new();
        let mut outcomes = outcomes.into_iter();
        let bound = 1 + (s.max_fixes as usize + 1) * (s.max_builds as usize * 2 + 2 + 2 * s.checkpoints.len() + 1);
        loop {
            prop_assert!(done.len() <= bound, "{} phases", done.len());
            match next(&s, &done) {
                Next::Run(phase) => match outcomes.next() {
                    Some(ended) => done.push(rec(phase, ended)),
                    None => break,
                },
                Next::Complete => {
                    let last = done.last().unwrap();
                    prop_assert_eq!(&last.phase, &Phase::Test { checkpoint: s.checkpoints.len() });
                    let passed = matches!(last.ended, Ended::Tested { passed: true, .. });
                    prop_assert!(passed, "completed after {:?}", last.ended);
                    break;
                }
                Next::Hold(_) | Next::Fail(_) => break,
            }
        }
    }
}
