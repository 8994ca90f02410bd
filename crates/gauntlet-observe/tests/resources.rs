//! Resource sampling of real process groups.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Group;
use gauntlet_observe::{
    GroupSample, cpu_percent, group_pids, looks_like_oom, oom_kill_count, percentile, sample_group,
};

/// Polls `f` until it is `Some`, for at most 5 s.
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(value) = f() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_sleeping_child_is_one_process_with_some_memory() {
    let sleep = Group::spawn(Command::new("sleep").arg("30"));
    let pgid = sleep.pgid();
    assert_eq!(group_pids(pgid), [pgid]);
    // Right after fork the child may still be the parent's copy mid-exec.
    let sample = eventually("sleep's RSS", || {
        sample_group(pgid).filter(|s| s.rss_bytes > 0)
    });
    assert_eq!(sample.processes, 1);
    assert!(sample.rss_bytes < 64 << 20, "{sample:?}");
}

#[test]
fn a_group_counts_all_its_members() {
    let sh = Group::spawn(Command::new("sh").args(["-c", "sleep 30 & sleep 30 & wait"]));
    let pgid = sh.pgid();
    let pids = eventually("three members", || {
        Some(group_pids(pgid)).filter(|p| p.len() == 3)
    });
    assert!(pids.contains(&pgid));
    assert_eq!(sample_group(pgid).unwrap().processes, 3);
}

#[test]
fn an_empty_group_has_no_sample() {
    // pid_max is at most 2^22, so no group has this id.
    assert_eq!(sample_group(i32::MAX), None);
    assert!(group_pids(i32::MAX).is_empty());
}

#[test]
fn rss_grows_when_the_group_allocates() {
    let script = "import sys\n\
                  print('before', flush=True)\n\
                  sys.stdin.readline()\n\
                  block = b'x' * (128 << 20)\n\
                  print('after', flush=True)\n\
                  sys.stdin.readline()\n";
    let mut python = Group::spawn(
        Command::new("python3")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    );
    let pgid = python.pgid();
    let mut stdin = python.0.stdin.take().unwrap();
    let mut stdout = BufReader::new(python.0.stdout.take().unwrap());
    let mut line = String::new();

    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "before\n");
    let before = sample_group(pgid).unwrap();
    writeln!(stdin).unwrap();
    line.clear();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "after\n");
    let after = sample_group(pgid).unwrap();
    let grown = after.rss_bytes.saturating_sub(before.rss_bytes);
    assert!(grown >= 100 << 20, "{before:?} -> {after:?}");
}

#[test]
fn a_busy_loop_uses_most_of_a_core() {
    let busy = Group::spawn(Command::new("sh").args(["-c", "while :; do :; done"]));
    let pgid = busy.pgid();
    let before = eventually("the loop", || sample_group(pgid));
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(1_500));
    let after = sample_group(pgid).unwrap();
    let percent = cpu_percent(&before, &after, started.elapsed());
    // An idle group measures ~0%; a loop gets what the (possibly busy, two
    // core) machine leaves it, so the floor proves measurement, not speed.
    assert!(percent > 10.0, "{percent}% ({before:?} -> {after:?})");
    assert!(percent < 150.0, "one shell loop is one core: {percent}%");
}

#[test]
fn cpu_percent_edge_cases() {
    let at = |ticks| GroupSample {
        rss_bytes: 0,
        cpu_ticks: ticks,
        processes: 1,
    };
    assert_eq!(cpu_percent(&at(10), &at(20), Duration::ZERO), 0.0);
    // A busy member exited: the ticks went down.
    assert_eq!(cpu_percent(&at(20), &at(10), Duration::from_secs(1)), 0.0);
    let hz = gauntlet_observe::resources::clock_ticks_per_second();
    let percent = cpu_percent(&at(0), &at(hz), Duration::from_secs(2));
    assert!((percent - 50.0).abs() < 1e-9, "{percent}");
}

#[test]
fn oom_kill_detection() {
    // Readable or not, reading does not fail.
    let _ = oom_kill_count();
    let kill = Some(libc::SIGKILL);
    assert!(looks_like_oom(kill, false, Some(1), Some(2)));
    assert!(!looks_like_oom(kill, false, Some(2), Some(2)));
    // Without the counter, a SIGKILL nobody here sent is presumed OOM.
    assert!(looks_like_oom(kill, false, None, None));
    assert!(looks_like_oom(kill, false, Some(2), None));
    assert!(!looks_like_oom(kill, true, Some(1), Some(2)));
    assert!(!looks_like_oom(
        Some(libc::SIGTERM),
        false,
        Some(1),
        Some(2)
    ));
    assert!(!looks_like_oom(None, false, Some(1), Some(2)));
}

#[test]
fn nearest_rank_percentiles() {
    let ms = |v: &[u64]| {
        v.iter()
            .map(|&m| Duration::from_millis(m))
            .collect::<Vec<_>>()
    };
    let samples = ms(&[50, 10, 40, 20, 30]);
    let p = |p| percentile(&samples, p).unwrap().as_millis();
    assert_eq!(p(0.0), 10);
    assert_eq!(p(20.0), 10);
    assert_eq!(p(21.0), 20);
    assert_eq!(p(50.0), 30);
    assert_eq!(p(95.0), 50);
    assert_eq!(p(100.0), 50);
    assert_eq!(p(250.0), 50);
    let hundred: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
    assert_eq!(percentile(&hundred, 95.0), Some(Duration::from_millis(95)));
    assert_eq!(percentile(&hundred, 99.0), Some(Duration::from_millis(99)));
    assert_eq!(percentile::<Duration>(&[], 50.0), None);
    assert_eq!(percentile(&samples, f64::NAN), None);
}
