//! `[[notify]]`: a URL or a command told of chosen events; every bad
//! entry is an error at its line and column, naming what is wrong.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gauntlet_plan::{
    CommandLine, LoadOptions, NOTIFY_TIMEOUT, NotifyEvent, NotifyTarget, Plan, PlanError, load_str,
};

const STAGE: &str = "[[stage]]\nkind = \"command\"\ncommand = \"true\"\n";

fn load(rest: &str) -> Result<Plan, PlanError> {
    load_str(
        &format!("{STAGE}{rest}"),
        Path::new("/plans/hook.toml"),
        &LoadOptions::default(),
    )
}

/// The error of `rest` after the stage (lines 1-3): at `line:column`,
/// containing `needle`.
#[track_caller]
fn assert_error(rest: &str, line: usize, column: usize, needle: &str) {
    let e = match load(rest) {
        Ok(plan) => panic!("expected an error, got {:#?}", plan.notify),
        Err(e) => e,
    };
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("/plans/hook.toml:{line}:{column}: ")),
        "position of: {shown}"
    );
    assert!(
        shown.contains(needle),
        "{shown:?} should contain {needle:?}"
    );
}

#[test]
fn a_url_and_a_command_entry_load_with_their_events_and_timeouts() {
    let plan = load(
        r#"[vars]
port = "9000"
[[notify]]
url = "http://127.0.0.1:${port}/hook?k=v"
events = ["stage-failed", "spec-mismatch", "override", "run-ended"]
timeout = "2s"
bearer_env = "HOOK_TOKEN"
[[notify]]
command = ["./notify.sh", "--quiet"]
events = ["run-ended"]
"#,
    )
    .unwrap();
    assert_eq!(plan.notify.len(), 2);
    let hook = &plan.notify[0];
    assert_eq!(
        hook.target,
        NotifyTarget::Url {
            url: "http://127.0.0.1:9000/hook?k=v".into(),
            bearer_env: Some("HOOK_TOKEN".into()),
        }
    );
    assert_eq!(
        hook.events,
        [
            NotifyEvent::StageFailed,
            NotifyEvent::SpecMismatch,
            NotifyEvent::Override,
            NotifyEvent::RunEnded
        ]
    );
    assert_eq!(hook.timeout, Duration::from_secs(2));
    assert!(hook.wants(NotifyEvent::Override) && !hook.wants(NotifyEvent::RunStarted));
    // Logs never show the query string.
    assert_eq!(hook.target.describe(), "http://127.0.0.1:9000/hook");

    let script = &plan.notify[1];
    assert_eq!(
        script.target,
        NotifyTarget::Command {
            command: CommandLine::Argv(vec!["./notify.sh".into(), "--quiet".into()]),
            cwd: PathBuf::from("/plans"),
        }
    );
    assert_eq!(script.events, [NotifyEvent::RunEnded]);
    assert_eq!(script.timeout, NOTIFY_TIMEOUT);
}

#[test]
fn without_events_an_entry_hears_every_event() {
    let plan = load("[[notify]]\ncommand = \"cat > /tmp/x\"\n").unwrap();
    assert_eq!(plan.notify[0].events, NotifyEvent::ALL);
    assert_eq!(plan.notify[0].timeout, Duration::from_secs(5));
    assert!(matches!(
        &plan.notify[0].target,
        NotifyTarget::Command { command: CommandLine::Shell(s), .. } if s == "cat > /tmp/x"
    ));
}

#[test]
fn a_plan_without_notify_has_none_and_an_old_resolved_plan_reads() {
    let plan = load("").unwrap();
    assert!(plan.notify.is_empty());
    // A resolved plan kept by an older gauntlet has no `notify` key.
    let mut json = serde_json::to_value(&plan).unwrap();
    json.as_object_mut().unwrap().remove("notify");
    let back: Plan = serde_json::from_value(json).unwrap();
    assert_eq!(back, plan);
}

#[test]
fn the_resolved_plan_keeps_the_entries_and_never_a_token() {
    let plan = load(
        "[[notify]]\nurl = \"http://127.0.0.1:1/h\"\nbearer_env = \"HOOK_TOKEN\"\nevents = [\"checkpoint\"]\n",
    )
    .unwrap();
    let text = serde_json::to_string(&plan).unwrap();
    assert!(
        text.contains("HOOK_TOKEN") && text.contains("checkpoint"),
        "{text}"
    );
    let back: Plan = serde_json::from_str(&text).unwrap();
    assert_eq!(back.notify, plan.notify);
}

#[test]
fn neither_or_both_of_url_and_command_is_an_error() {
    assert_error(
        "[[notify]]\nevents = [\"run-ended\"]\n",
        4,
        1,
        "a [[notify]] needs `url` (POST the payload there) or `command`",
    );
    assert_error(
        "[[notify]]\nurl = \"http://127.0.0.1:1/\"\ncommand = [\"x\"]\n",
        6,
        11,
        "`url` or `command`, not both",
    );
}

#[test]
fn an_unknown_event_lists_the_known_ones() {
    assert_error(
        "[[notify]]\nurl = \"http://h/\"\nevents = [\"run-ended\", \"stage-fail\"]\n",
        6,
        24,
        "unknown event \"stage-fail\"; the events are run-started, stage-failed, spec-mismatch, override, run-ended, checkpoint",
    );
    assert_error(
        "[[notify]]\nurl = \"http://h/\"\nevents = []\n",
        6,
        10,
        "`events` is empty",
    );
    assert_error(
        "[[notify]]\nurl = \"http://h/\"\nevents = [\"override\", \"override\"]\n",
        6,
        23,
        "\"override\" is listed twice",
    );
}

#[test]
fn a_url_must_be_plain_http_with_a_host() {
    assert_error(
        "[[notify]]\nurl = \"https://hooks.example/x?token=SECRET\"\n",
        5,
        7,
        "https://hooks.example/x: https:// is not supported (gauntlet is built without TLS)",
    );
    assert_error(
        "[[notify]]\nurl = \"ftp://h/x\"\n",
        5,
        7,
        "`url` \"ftp://h/x\" is not an http:// URL",
    );
    assert_error(
        "[[notify]]\nurl = \"127.0.0.1:9000/hook\"\n",
        5,
        7,
        "is not an http:// URL",
    );
    assert_error("[[notify]]\nurl = \"http:///x\"\n", 5, 7, "it needs a host");
    // The token in a bad URL's query is not repeated in the message.
    let e = load("[[notify]]\nurl = \"https://h/?token=SECRET\"\n").unwrap_err();
    assert!(!e.to_string().contains("SECRET"), "{e}");
}

#[test]
fn an_empty_command_is_an_error() {
    assert_error(
        "[[notify]]\ncommand = []\n",
        5,
        11,
        "needs at least the program",
    );
    assert_error(
        "[[notify]]\ncommand = \"  \"\n",
        5,
        11,
        "the command is empty",
    );
    assert_error(
        "[[notify]]\ncommand = [\"\"]\n",
        5,
        11,
        "the command's program is empty",
    );
}

#[test]
fn a_bad_timeout_is_an_error() {
    assert_error(
        "[[notify]]\nurl = \"http://h/\"\ntimeout = \"5 seconds\"\n",
        6,
        11,
        "`timeout`: invalid duration \"5 seconds\"",
    );
    assert_error(
        "[[notify]]\nurl = \"http://h/\"\ntimeout = 5\n",
        6,
        11,
        "`timeout` must be a duration string",
    );
    assert_error(
        "[[notify]]\nurl = \"http://h/\"\ntimeout = \"0s\"\n",
        6,
        11,
        "`timeout` is more than 0 and at most 10m",
    );
    assert_error(
        "[[notify]]\nurl = \"http://h/\"\ntimeout = \"11m\"\n",
        6,
        11,
        "at most 10m",
    );
}

#[test]
fn bearer_env_names_a_variable_and_goes_with_a_url() {
    assert_error(
        "[[notify]]\nurl = \"http://h/\"\nbearer_env = \"Bearer abc.def\"\n",
        6,
        14,
        "is not an environment variable name",
    );
    assert_error(
        "[[notify]]\ncommand = [\"x\"]\nbearer_env = \"TOKEN\"\n",
        6,
        14,
        "`bearer_env` goes with `url`",
    );
}

#[test]
fn unknown_keys_are_errors_at_the_key() {
    assert_error(
        "[[notify]]\nurl = \"http://h/\"\nevent = [\"run-ended\"]\n",
        6,
        1,
        "unknown key `event`",
    );
}

#[test]
fn a_soak_plan_may_notify_too() {
    let text = r#"[[service]]
name = "api"
command = "api"

[soak]

[users]
program = "user"

[readback]
program = true

[[notify]]
url = "http://127.0.0.1:9/hook"
events = ["checkpoint", "run-ended"]
"#;
    let plan = load_str(text, Path::new("soak.toml"), &LoadOptions::default()).unwrap();
    assert!(plan.soak.is_some());
    assert_eq!(
        plan.notify[0].events,
        [NotifyEvent::Checkpoint, NotifyEvent::RunEnded]
    );
}
