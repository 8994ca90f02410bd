//! A program run inside a running container: what a Compose health check
//! (`test: ["CMD", ...]`) does.

use std::time::Duration;

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::StreamExt;

use crate::{Container, DockerError};

/// How much of an exec's output is kept: the end, where a failing check
/// says why.
const OUTPUT_BYTES: usize = 4096;

/// How often an exec whose output has ended is asked for its exit code
/// while the engine still calls it running: at first soon (its exit is
/// recorded just after its output closes), then less often (a program
/// that closed its stdout and stderr runs on).
const EXIT_POLL_FIRST: Duration = Duration::from_millis(5);
const EXIT_POLL_MAX: Duration = Duration::from_millis(200);

/// What a program run by [`Container::exec`] came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutcome {
    /// Its exit code; `None` when it timed out. A program the engine
    /// could not start (missing, not executable) is 126, with the engine's
    /// reason in [`output`](Self::output); a shell's "not found" is 127.
    pub exit_code: Option<i64>,
    /// The last 4 KiB of its stdout and stderr, interleaved as they came,
    /// decoded as UTF-8 (invalid bytes replaced).
    pub output: String,
    /// It did not end within the timeout.
    pub timed_out: bool,
}

impl Container {
    /// Runs `argv` inside the container (`argv[0]` is the program, looked
    /// up in the container's `PATH` unless it is a path; no shell: a
    /// Compose `CMD-SHELL` check is `["/bin/sh", "-c", check]`), as the
    /// container's user and in its working directory, and waits at most
    /// `timeout` for it to end.
    ///
    /// A program that does not exist in the container is no error here:
    /// the engine starts the exec, writes its runtime's reason into the
    /// output (`OCI runtime exec failed: ... exec: "/nope": stat /nope: no
    /// such file or directory`) and records exit code 126 (seen on Engine
    /// 20.10, API 1.41). An error is a container that is not running (or
    /// paused), or an engine that does not answer.
    pub async fn exec(
        &self,
        argv: &[String],
        timeout: Duration,
    ) -> Result<ExecOutcome, DockerError> {
        if argv.is_empty() {
            return Err(DockerError::Invalid {
                what: format!("exec in container {}", self.name()),
                why: "no program given".to_owned(),
            });
        }
        let mut output = Vec::new();
        let run = self.exec_until_exit(argv, &mut output);
        let exit_code = match tokio::time::timeout(timeout, run).await {
            Ok(result) => Some(result?),
            // The engine has no way to kill an exec's process: it lives on
            // until it ends by itself or the container stops. Dropping the
            // stream only stops reading it.
            Err(_) => None,
        };
        Ok(ExecOutcome {
            timed_out: exit_code.is_none(),
            exit_code,
            output: text_of(&output),
        })
    }

    /// Creates and starts the exec, collects its output into `output` (the
    /// last [`OUTPUT_BYTES`]), and returns its exit code once it has ended.
    /// Unbounded: [`exec`](Self::exec) bounds it.
    async fn exec_until_exit(
        &self,
        argv: &[String],
        output: &mut Vec<u8>,
    ) -> Result<i64, DockerError> {
        let client = self.engine().client();
        let what = || format!("exec {} in container {}", argv[0], self.name());
        let options = CreateExecOptions {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            cmd: Some(argv.to_vec()),
            ..Default::default()
        };
        let exec = client
            .create_exec(self.id(), options)
            .await
            .map_err(DockerError::engine(what()))?;
        match client
            .start_exec(&exec.id, None)
            .await
            .map_err(DockerError::engine(what()))?
        {
            StartExecResults::Attached {
                output: mut stream, ..
            } => {
                while let Some(chunk) = stream.next().await {
                    let message = match chunk.map_err(DockerError::engine(what()))? {
                        LogOutput::StdOut { message }
                        | LogOutput::StdErr { message }
                        | LogOutput::Console { message } => message,
                        LogOutput::StdIn { .. } => continue,
                    };
                    keep_tail(output, &message);
                }
            }
            StartExecResults::Detached => {}
        }
        let mut pause = EXIT_POLL_FIRST;
        loop {
            let inspect = client
                .inspect_exec(&exec.id)
                .await
                .map_err(DockerError::engine(format!("inspect {}", what())))?;
            if let (Some(false), Some(code)) = (inspect.running, inspect.exit_code) {
                return Ok(code);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(EXIT_POLL_MAX);
        }
    }
}

/// Appends `bytes` to `kept`, keeping the last [`OUTPUT_BYTES`].
fn keep_tail(kept: &mut Vec<u8>, bytes: &[u8]) {
    kept.extend_from_slice(bytes);
    if kept.len() > OUTPUT_BYTES {
        let cut = kept.len() - OUTPUT_BYTES;
        kept.drain(..cut);
    }
}

/// The kept bytes as text; a character the cut split at the start is
/// dropped rather than shown as a replacement character.
fn text_of(kept: &[u8]) -> String {
    let start = kept
        .iter()
        .take(3)
        .take_while(|b| (**b & 0b1100_0000) == 0b1000_0000)
        .count();
    String::from_utf8_lossy(&kept[start..]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_last_4_kib_are_kept_and_a_split_character_is_dropped() {
        let mut kept = Vec::new();
        keep_tail(&mut kept, &[b'a'; 5000]);
        keep_tail(&mut kept, "é!".as_bytes());
        assert_eq!(kept.len(), OUTPUT_BYTES);
        let text = text_of(&kept);
        assert!(text.ends_with("aé!"), "{text:?}");
        // 'é' is two bytes: a cut after its first leaves a stray byte.
        let mut split = Vec::new();
        keep_tail(&mut split, "é".as_bytes());
        keep_tail(&mut split, &[b'b'; OUTPUT_BYTES - 1]);
        assert_eq!(split[0], "é".as_bytes()[1]);
        let text = text_of(&split);
        assert_eq!(text.len(), OUTPUT_BYTES - 1, "no replacement character");
        assert!(text.chars().all(|c| c == 'b'));
        assert_eq!(text_of(b"ok \xff"), "ok \u{fffd}", "lossy inside");
    }
}
