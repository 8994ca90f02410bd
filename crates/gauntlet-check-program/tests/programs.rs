//! Real checker programs (shell scripts written into a temp dir), run
//! through the real runner: valid, invalid, crashing, hanging, garbage.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gauntlet_check::Validity;
use gauntlet_check_program::{ProgramSpec, run_checker};
use serde_json::json;

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn problem(r: &gauntlet_check::CheckResult) -> String {
    r.evidence[0]["problem"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Processes whose environment holds `marker`.
fn with_marker(marker: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(env) = std::fs::read(entry.path().join("environ"))
            && env.split(|b| *b == 0).any(|v| v == marker.as_bytes())
        {
            found.push(pid);
        }
    }
    found
}

#[tokio::test]
async fn programs_get_the_run_dir_and_their_verdicts_are_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = tmp.path().join("run");
    std::fs::create_dir(&run_dir).unwrap();
    std::fs::write(run_dir.join("history.jsonl"), "{}\n{}\n").unwrap();
    // It counts the history's lines from the directory it was given, and
    // checks the environment agrees.
    let valid = script(
        tmp.path(),
        "count.sh",
        r#"[ "$1" = "$GAUNTLET_RUN_DIR" ] || exit 9
n=$(wc -l < "$1/history.jsonl")
echo "checking $n ops" >&2
printf '{"valid": true, "checker": "count", "ops": %d}\n' $n"#,
    );
    let run = run_checker(&ProgramSpec::new("lines", &valid), &run_dir).await;
    assert_eq!(run.result.valid, Validity::Valid, "{:?}", run.result);
    assert_eq!(run.result.checker, "count");
    assert_eq!(run.result.figure("ops"), Some(&json!(2)));

    let invalid = script(
        tmp.path(),
        "invalid.sh",
        r#"echo '{"valid": false, "evidence": [{"problem": "two holders of lease 7"}]}'"#,
    );
    let run = run_checker(&ProgramSpec::new("lease", &invalid), &run_dir).await;
    assert_eq!(run.result.valid, Validity::Invalid);
    assert_eq!(
        run.result.checker, "lease",
        "the name stands in for a missing checker"
    );
    assert_eq!(run.result.evidence_count(), 1);
}

#[tokio::test]
async fn crashes_garbage_and_missing_programs_are_unknown_with_the_stderr_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (
            "exit3.sh",
            "echo 'it broke' >&2\necho '{\"valid\": true}'\nexit 3",
            "exited with code 3",
        ),
        (
            "segv.sh",
            "echo 'it broke' >&2\nkill -SEGV $$",
            "killed by SIGSEGV",
        ),
        (
            "garbage.sh",
            "echo 'it broke' >&2\necho 'all fine, trust me'",
            "not one JSON object",
        ),
        (
            "novalid.sh",
            "echo 'it broke' >&2\necho '{\"checker\": \"x\", \"ok\": true}'",
            "no \"valid\"",
        ),
        (
            "badvalid.sh",
            "echo 'it broke' >&2\necho '{\"valid\": \"probably\"}'",
            "\"probably\"",
        ),
        ("silent.sh", "echo 'it broke' >&2", "printed nothing"),
    ];
    for (file, body, why) in cases {
        let program = script(tmp.path(), file, body);
        let run = run_checker(&ProgramSpec::new("c", &program), tmp.path()).await;
        assert_eq!(
            run.result.valid,
            Validity::Unknown,
            "{file}: {:?}",
            run.result
        );
        assert!(
            problem(&run.result).contains(why),
            "{file}: {}",
            problem(&run.result)
        );
        assert_eq!(
            run.result.evidence[0]["stderr-tail"],
            json!(["it broke"]),
            "{file}"
        );
    }
    let run = run_checker(
        &ProgramSpec::new("c", tmp.path().join("missing.sh")),
        tmp.path(),
    )
    .await;
    assert_eq!(run.result.valid, Validity::Unknown);
    assert!(
        problem(&run.result).contains("could not be started"),
        "{}",
        problem(&run.result)
    );
}

#[tokio::test]
async fn a_flood_of_stdout_is_unknown_not_a_memory_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let program = script(
        tmp.path(),
        "flood.sh",
        "echo '{\"valid\": true,'\nhead -c 3000000 /dev/zero | tr '\\0' ' '\necho '}'",
    );
    let run = run_checker(&ProgramSpec::new("flood", &program), tmp.path()).await;
    assert_eq!(run.result.valid, Validity::Unknown);
    assert!(problem(&run.result).contains("more than 1048576 bytes"));
}

#[tokio::test]
async fn a_hanging_program_is_killed_with_its_group_at_the_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = format!("GAUNTLET_TEST_MARKER=hang-{}", std::process::id());
    // A child in the background too: the whole group must go.
    let program = script(tmp.path(), "hang.sh", "sleep 600 &\nsleep 600");
    let mut spec = ProgramSpec::new("hang", &program);
    spec.timeout = Duration::from_millis(700);
    let (k, v) = marker.split_once('=').unwrap();
    spec.env.push((k.into(), v.into()));
    let began = std::time::Instant::now();
    let run = run_checker(&spec, tmp.path()).await;
    let took = began.elapsed();
    assert_eq!(run.result.valid, Validity::Unknown);
    assert!(
        problem(&run.result).contains("timeout of 0.7 s"),
        "{}",
        problem(&run.result)
    );
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(10),
        "{took:?}"
    );
    // Give the reaper a moment, then nothing with the marker may remain.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !with_marker(&marker).is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(with_marker(&marker), Vec::<u32>::new());
}

#[tokio::test]
async fn a_relative_run_dir_reaches_a_program_running_elsewhere_as_an_absolute_path() {
    let run_dir = tempfile::tempdir_in(".").unwrap();
    let relative = Path::new(run_dir.path().file_name().unwrap()).to_owned();
    std::fs::write(run_dir.path().join("history.jsonl"), "").unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let program = script(
        elsewhere.path(),
        "abs.sh",
        r#"case "$1" in /*) ;; *) exit 5 ;; esac
[ -f "$1/history.jsonl" ] && [ "$GAUNTLET_RUN_DIR" = "$1" ] || exit 6
echo '{"valid": true}'"#,
    );
    let mut spec = ProgramSpec::new("abs", &program);
    spec.cwd = Some(elsewhere.path().to_owned());
    let run = run_checker(&spec, &relative).await;
    assert_eq!(run.result.valid, Validity::Valid, "{:?}", run.result);
}
