//! `[[notify]]`: who is told when something happens in a run. Each entry
//! POSTs a JSON payload to a URL or runs a command with the payload on its
//! stdin, for the events it names. The runtime (gauntlet-pipeline's
//! notifier, a subscriber of the run's events) delivers; a delivery that
//! fails is logged and changes nothing else.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::CommandLine;

/// One delivery's time limit unless `timeout` says otherwise.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest `timeout` a `[[notify]]` may have: a delivery still going
/// at the run's end holds the process's exit that long.
pub const MAX_NOTIFY_TIMEOUT: Duration = Duration::from_secs(600);

/// One `[[notify]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notify {
    pub target: NotifyTarget,
    /// The events it is told of, in the order the plan lists them (every
    /// event when the plan lists none).
    pub events: Vec<NotifyEvent>,
    /// One delivery's limit: the request's whole time, or the command's
    /// life (it is killed after).
    pub timeout: Duration,
}

impl Notify {
    /// Whether this entry is told of `event`.
    pub fn wants(&self, event: NotifyEvent) -> bool {
        self.events.contains(&event)
    }
}

/// Where a notification goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum NotifyTarget {
    /// `POST` the payload (`application/json`) to this plain `http://` URL;
    /// with `bearer_env`, `Authorization: Bearer <that variable's value>`,
    /// read when delivering (only the variable's name is kept).
    Url {
        url: String,
        bearer_env: Option<String>,
    },
    /// Run this command in `cwd` (the plan's directory) with the payload
    /// on its stdin.
    Command { command: CommandLine, cwd: PathBuf },
}

impl NotifyTarget {
    /// How logs name it: a URL without its query, fragment or user info
    /// (they may hold secrets), or the program.
    pub fn describe(&self) -> String {
        match self {
            NotifyTarget::Url { url, .. } => url_for_log(url),
            NotifyTarget::Command { command, .. } => match command {
                CommandLine::Shell(line) => format!("`{line}`"),
                CommandLine::Argv(argv) => argv.first().cloned().unwrap_or_default(),
            },
        }
    }
}

/// `url` as logs show it: without its query string and fragment, which may
/// hold a token, and without user info (`user:password@`).
pub fn url_for_log(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let url = &url[..end];
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}{path}")
}

/// What a `[[notify]]` entry can be told of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotifyEvent {
    /// The run started (or a held run started again).
    RunStarted,
    /// A stage failed (every failed stage).
    StageFailed,
    /// A `probe` stage failed: the machine is not as the plan expects
    /// (told as well as `stage-failed`).
    SpecMismatch,
    /// An operator let a failed stage through (`gauntlet override`).
    Override,
    /// The run ended for now: finished, held, interrupted or abandoned.
    RunEnded,
    /// A stage of a soak passed: the soak's stages are its checkpoints.
    Checkpoint,
    /// A fleet loop moved to its next phase (setup, build, deploy, test,
    /// fix, wait): every transition of the loop.
    Phase,
}

impl NotifyEvent {
    /// Every event, in the order the docs list them.
    pub const ALL: [NotifyEvent; 7] = [
        NotifyEvent::RunStarted,
        NotifyEvent::StageFailed,
        NotifyEvent::SpecMismatch,
        NotifyEvent::Override,
        NotifyEvent::RunEnded,
        NotifyEvent::Checkpoint,
        NotifyEvent::Phase,
    ];

    /// The plan's and the payload's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::RunStarted => "run-started",
            NotifyEvent::StageFailed => "stage-failed",
            NotifyEvent::SpecMismatch => "spec-mismatch",
            NotifyEvent::Override => "override",
            NotifyEvent::RunEnded => "run-ended",
            NotifyEvent::Checkpoint => "checkpoint",
            NotifyEvent::Phase => "phase",
        }
    }

    /// The event a plan's word names.
    pub fn from_word(word: &str) -> Option<NotifyEvent> {
        NotifyEvent::ALL.into_iter().find(|e| e.as_str() == word)
    }
}

impl std::fmt::Display for NotifyEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_urls_keep_no_query_fragment_or_user_info() {
        assert_eq!(
            url_for_log("http://127.0.0.1:9000/hook?token=abc#x"),
            "http://127.0.0.1:9000/hook"
        );
        assert_eq!(
            url_for_log("http://bot:s3cret@hooks.example:80/a/b"),
            "http://hooks.example:80/a/b"
        );
        assert_eq!(url_for_log("http://h?k=v"), "http://h");
        assert_eq!(url_for_log("http://h"), "http://h");
    }

    #[test]
    fn every_event_has_its_word_back() {
        for e in NotifyEvent::ALL {
            assert_eq!(NotifyEvent::from_word(e.as_str()), Some(e));
            assert_eq!(
                serde_json::to_value(e).unwrap(),
                serde_json::json!(e.as_str())
            );
        }
        assert_eq!(NotifyEvent::from_word("stage-fail"), None);
    }
}
