//! `http-service --data-file`: a PUT answered 200 survives a SIGKILL and a
//! restart, a torn last line is ignored, and `--ack-before-durable` (the
//! deliberate bug) loses acknowledged writes. These are the facts
//! `gauntlet soak` relies on when it judges "no data loss".

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{HTTP_SERVICE, Proc, Service, TempDir};

fn put(service: &Service, key: &str, value: &str) {
    assert_eq!(
        service.call("PUT", &format!("/kv/{key}"), value),
        (200, "ok".to_owned()),
        "PUT {key}"
    );
}

fn get(service: &Service, key: &str) -> (u16, String) {
    service.call("GET", &format!("/kv/{key}"), "")
}

/// Values that would break a naive line format, and a plain one.
fn value(i: usize) -> String {
    match i % 4 {
        0 => format!("v{i}"),
        1 => format!("tab\there\nnew line\r\n{i}"),
        2 => format!("100% ünïcødé ✓ %0A {i}"),
        _ => String::new(),
    }
}

/// Keys with a `%`, which the file format itself escapes.
fn key(i: usize) -> String {
    if i.is_multiple_of(5) {
        format!("k%41-{i}")
    } else {
        format!("k{i}")
    }
}

#[test]
fn acknowledged_writes_survive_sigkill_and_restart() {
    let dir = TempDir::new("durable");
    let file = dir.join("kv.data");
    let file = file.to_str().unwrap();
    let mut service = Service::start(&["--data-file", file]);
    assert_eq!(service.call("GET", "/health", ""), (200, "ok".into()));
    for i in 0..200 {
        put(&service, &key(i), &value(i));
    }
    // Overwrites: the last write wins at replay, as it did in memory.
    for i in 0..20 {
        put(&service, &key(i), &format!("second {i}"));
    }
    service.proc.kill();

    let service = Service::start(&["--data-file", file]);
    for i in 0..200 {
        let want = if i < 20 {
            format!("second {i}")
        } else {
            value(i)
        };
        assert_eq!(get(&service, &key(i)), (200, want), "key {}", key(i));
    }
    assert_eq!(get(&service, "never-written").0, 404);
    // One line per PUT, escaped so that values cannot split lines.
    let data = std::fs::read_to_string(file).unwrap();
    assert_eq!(data.lines().count(), 220);
    assert!(data.starts_with("k%2541-0\tv0\nk1\ttab%09here%0Anew line%0D%0A1\n"));
}

#[test]
fn ack_before_durable_loses_acknowledged_writes_on_sigkill() {
    let dir = TempDir::new("ack-early");
    let file = dir.join("kv.data");
    let file = file.to_str().unwrap();
    // The buffer reaches the file only after 5 s, long after the kill below.
    let started = Instant::now();
    let mut service = Service::start(&[
        "--data-file",
        file,
        "--ack-before-durable",
        "--flush-every-ms",
        "5000",
    ]);
    for i in 0..50 {
        put(&service, &key(i), &value(i));
    }
    // While the process lives the bug is invisible.
    assert_eq!(get(&service, &key(7)), (200, value(7)));
    service.proc.kill();
    let killed_after = started.elapsed();

    let service = Service::start(&["--data-file", file]);
    let mut missing = 0;
    for i in 0..50 {
        match get(&service, &key(i)) {
            (404, _) => missing += 1,
            // Whatever did survive is right.
            found => assert_eq!(found, (200, value(i)), "key {}", key(i)),
        }
    }
    assert!(
        missing >= 1,
        "no acknowledged write was lost (killed {killed_after:?} after the start)"
    );
    if killed_after < Duration::from_secs(4) {
        assert_eq!(missing, 50, "the first flush came early");
    }
}

#[test]
fn ack_before_durable_still_reaches_the_file_after_a_flush() {
    let dir = TempDir::new("ack-flushed");
    let file = dir.join("kv.data");
    let file = file.to_str().unwrap();
    let mut service = Service::start(&[
        "--data-file",
        file,
        "--ack-before-durable",
        "--flush-every-ms",
        "100",
    ]);
    for i in 0..10 {
        put(&service, &key(i), &value(i));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(file).unwrap().lines().count() < 10 {
        assert!(
            Instant::now() < deadline,
            "the buffer never reached the file"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    service.proc.kill();
    let service = Service::start(&["--data-file", file]);
    for i in 0..10 {
        assert_eq!(get(&service, &key(i)), (200, value(i)));
    }
}

#[test]
fn a_torn_last_line_is_ignored_and_cut_off() {
    let dir = TempDir::new("torn");
    let file = dir.join("kv.data");
    // The last write was cut short by a crash: it has no newline, and its
    // value may be incomplete, even though it decodes.
    std::fs::write(&file, "a\t1\nb\tx%0Ay\nc\tpart").unwrap();
    let file = file.to_str().unwrap();
    let mut service = Service::start(&["--data-file", file]);
    assert_eq!(get(&service, "a"), (200, "1".into()));
    assert_eq!(get(&service, "b"), (200, "x\ny".into()));
    assert_eq!(get(&service, "c").0, 404);
    let replayed =
        "replayed 2 writes of 2 keys, skipped 0 damaged lines, dropped a torn tail of 6 bytes";
    assert!(
        service.proc.stderr_shows(replayed, Duration::from_secs(5)),
        "{}",
        service.proc.stderr()
    );
    // The next append starts on a fresh line, not glued to the fragment.
    put(&service, "c", "whole");
    service.proc.kill();
    assert_eq!(
        std::fs::read_to_string(file).unwrap(),
        "a\t1\nb\tx%0Ay\nc\twhole\n"
    );
    let service = Service::start(&["--data-file", file]);
    assert_eq!(get(&service, "c"), (200, "whole".into()));
    assert_eq!(get(&service, "a"), (200, "1".into()));
}

#[test]
fn an_unusable_data_file_or_bad_flags_stop_the_start() {
    let dir = TempDir::new("unusable");
    let missing_dir = dir.join("no/such/dir/kv.data");
    let mut proc = Proc::spawn(
        "http-service",
        Command::new(HTTP_SERVICE)
            .args(["--port", "0", "--data-file"])
            .arg(&missing_dir),
    );
    let status = proc
        .exit_within(Duration::from_secs(10))
        .expect("http-service kept running without its data file");
    assert_eq!(status.code(), Some(1));
    assert!(proc.stderr().contains("--data-file"), "{}", proc.stderr());

    for bad in [
        &["--ack-before-durable"][..],
        &["--data-file", "x", "--redis", "127.0.0.1:1"],
        &["--data-file", "x", "--flush-every-ms", "0"],
    ] {
        let output = Command::new(HTTP_SERVICE).args(bad).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{bad:?}");
    }
}
