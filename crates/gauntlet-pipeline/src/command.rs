//! Test commands: run in their own process group (through gauntlet-node,
//! so a Ctrl-C or a panic takes them down too), stdout and stderr kept as
//! artifacts, judged by exit status and `expect`.
//!
//! Output is streamed, never held whole: each stream goes to its file (at
//! most [`MAX_OUTPUT_FILE`], then a note says how much more there was)
//! while its first and last lines ([`KEEP_LINES`], at most [`KEEP_BYTES`]
//! each) are kept for the stage's summary with the count of bytes between,
//! and `expect_stdout` and the "no tests found" phrases are looked for as
//! it passes. A command printing gigabytes costs disk up to the cap and a
//! few hundred KiB of memory, and never fails the run.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gauntlet_node::{Backend, CappedLog, LineSink, NodeError, NodeSpec};
use gauntlet_plan::{CommandLine, NoTestsScan, TestCommand};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt};

/// How many of the first and of the last lines of each output stream a
/// summary keeps (the database, every report).
pub const KEEP_LINES: usize = 20;

/// At most this many bytes of the first, and of the last, lines kept.
pub const KEEP_BYTES: usize = 16 * 1024;

/// A command's stdout or stderr file keeps at most this many bytes; what
/// follows is counted, and a note at the end of the file says how much.
/// (The same cap as every node's stderr log.)
pub const MAX_OUTPUT_FILE: u64 = gauntlet_node::DEFAULT_STDERR_LOG_LIMIT;

/// How much is read at once.
const CHUNK: usize = 64 * 1024;

/// What the summary says when a program cannot be started at all: the
/// program and why, after `who` (`service api`, `command smoke`).
pub(crate) fn cannot_start(who: &str, e: &NodeError) -> String {
    let text = e.to_string();
    match e {
        NodeError::Spawn { program, .. } | NodeError::Cwd { program, .. } => {
            let prefix = format!("cannot start node program {}: ", program.display());
            let why = text.strip_prefix(&prefix).unwrap_or(&text);
            format!("{who}: cannot start {}: {why}", program.display())
        }
        _ => format!("{who}: {text}"),
    }
}

/// One test command's result, as stage summaries and reports show it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TestRecord {
    pub name: String,
    pub command: String,
    pub passed: bool,
    pub exit: Option<i32>,
    pub signal: Option<i32>,
    pub duration_ms: u64,
    pub timed_out: bool,
    pub no_tests_found: bool,
    /// Relative to the run's artifact directory.
    pub stdout_artifact: String,
    pub stderr_artifact: String,
    /// The last lines of each stream (see [`KEEP_LINES`], [`KEEP_BYTES`]).
    pub stdout_tail: Vec<String>,
    pub stderr_tail: Vec<String>,
    /// The first lines, when the last ones are not the whole output.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stdout_head: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stderr_head: Vec<String>,
    /// Bytes written to each stream in all.
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    /// Bytes between the first and the last lines kept, not in the summary.
    #[serde(skip_serializing_if = "is_zero")]
    pub stdout_elided: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub stderr_elided: u64,
    /// The stream's file was cut at [`MAX_OUTPUT_FILE`].
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stdout_truncated: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stderr_truncated: bool,
    /// Why it failed, in one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Its program could not be started at all: why, for the stage (a run
    /// that cannot be carried out, not a failed test).
    #[serde(skip)]
    pub cannot_start: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl TestRecord {
    /// A test that did not run (or ran without its output files), with why.
    pub fn not_run(test: &TestCommand, failure: String) -> TestRecord {
        TestRecord {
            name: test.name.clone(),
            command: display(&test.run.command),
            passed: false,
            exit: None,
            signal: None,
            duration_ms: 0,
            timed_out: false,
            no_tests_found: false,
            stdout_artifact: String::new(),
            stderr_artifact: String::new(),
            stdout_tail: Vec::new(),
            stderr_tail: Vec::new(),
            stdout_head: Vec::new(),
            stderr_head: Vec::new(),
            stdout_bytes: 0,
            stderr_bytes: 0,
            stdout_elided: 0,
            stderr_elided: 0,
            stdout_truncated: false,
            stderr_truncated: false,
            failure: Some(failure),
            cannot_start: None,
        }
    }
}

/// The program and arguments of a command line (`sh -c` for a string).
pub(crate) fn argv(c: &CommandLine) -> (PathBuf, Vec<String>) {
    match c {
        CommandLine::Shell(s) => ("sh".into(), vec!["-c".into(), s.clone()]),
        CommandLine::Argv(v) => (
            v.first().cloned().unwrap_or_default().into(),
            v.iter().skip(1).cloned().collect(),
        ),
    }
}

/// How to start a plan's command: its argv (`sh -c` for a string), its
/// working directory and its environment; the caller adds logs and limits.
pub(crate) fn node_spec(command: &gauntlet_plan::Command) -> NodeSpec {
    let (program, args) = argv(&command.command);
    let mut spec = NodeSpec::new(program);
    spec.args = args.into_iter().map(Into::into).collect();
    spec.cwd = Some(command.cwd.clone());
    spec.env = command
        .env
        .iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    spec
}

/// The command line as a person would type it.
pub(crate) fn display(c: &CommandLine) -> String {
    match c {
        CommandLine::Shell(s) => s.clone(),
        CommandLine::Argv(v) => v
            .iter()
            .map(|a| {
                if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '"') {
                    format!("{a:?}")
                } else {
                    a.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// The last `n` lines of a text file (empty if it cannot be read), from
/// at most its last [`KEEP_BYTES`]: a service log of any size costs the
/// same.
pub(crate) fn lines_tail(path: &Path, n: usize) -> Vec<String> {
    let Ok(mut file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let window = KEEP_BYTES as u64 + 1;
    let from = len.saturating_sub(window);
    if file.seek(SeekFrom::Start(from)).is_err() {
        return Vec::new();
    }
    let mut bytes = Vec::new();
    if file.take(window).read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    let mut capture = Capture::new(None);
    capture.feed(&bytes);
    capture.finish(n).tail
}

/// One output stream as it passes: its size, its first [`KEEP_BYTES`],
/// its last bytes, whether `expect_stdout` appeared, and the "no tests
/// found" phrases.
pub(crate) struct Capture {
    total: u64,
    head: Vec<u8>,
    /// The last bytes seen: at least [`KEEP_BYTES`] once that many came.
    tail: Vec<u8>,
    needle: Option<Vec<u8>>,
    found: bool,
    scan: NoTestsScan,
}

/// What a [`Capture`] kept, for the summary.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Captured {
    pub total: u64,
    pub head: Vec<String>,
    pub tail: Vec<String>,
    pub elided: u64,
    pub found: bool,
    pub scan: NoTestsScan,
}

impl Capture {
    /// A capture that also looks for `needle` (an `expect_stdout`).
    pub fn new(needle: Option<&str>) -> Capture {
        Capture {
            total: 0,
            head: Vec::new(),
            tail: Vec::new(),
            needle: needle
                .filter(|n| !n.is_empty())
                .map(|n| n.as_bytes().to_vec()),
            found: needle.is_some_and(str::is_empty),
            scan: NoTestsScan::default(),
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        if chunk.is_empty() {
            return;
        }
        // What the last window ended with, so a phrase cut between two
        // chunks is seen whole.
        let carry = self.tail.len().min(self.overlap());
        let mut window = Vec::with_capacity(carry + chunk.len());
        window.extend_from_slice(&self.tail[self.tail.len() - carry..]);
        window.extend_from_slice(chunk);
        if !self.found
            && let Some(needle) = &self.needle
        {
            self.found = contains(&window, needle);
        }
        self.scan.feed(&String::from_utf8_lossy(&window));

        self.total += chunk.len() as u64;
        if self.head.len() < KEEP_BYTES {
            let room = KEEP_BYTES - self.head.len();
            self.head.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        self.tail.extend_from_slice(chunk);
        if self.tail.len() > 2 * KEEP_BYTES.max(CHUNK) {
            let drop = self.tail.len() - (KEEP_BYTES.max(self.overlap()) + 1);
            self.tail.drain(..drop);
        }
    }

    fn overlap(&self) -> usize {
        NoTestsScan::OVERLAP.max(self.needle.as_ref().map_or(0, |n| n.len() - 1))
    }

    /// The first and last `lines` lines (each side at most [`KEEP_BYTES`])
    /// and the bytes between them. The last lines come first: the first
    /// lines are only those before them.
    pub fn finish(self, lines: usize) -> Captured {
        let total = self.total;
        // The last lines, from the last KEEP_BYTES.
        let window = &self.tail[self.tail.len() - self.tail.len().min(KEEP_BYTES)..];
        let window_start = total - window.len() as u64;
        let body = window.strip_suffix(b"\n").unwrap_or(window);
        let mut cut = 0; // where the kept last lines begin, in `window`
        let mut seen = 0;
        for (i, b) in body.iter().enumerate().rev() {
            if *b == b'\n' {
                seen += 1;
                if seen == lines {
                    cut = i + 1;
                    break;
                }
            }
        }
        if lines == 0 {
            cut = window.len();
        }
        let mut tail = split_lines(&window[cut..]);
        // The byte before the window (the buffer keeps one more): when it
        // is not a newline, the window begins inside a line, shown cut.
        let before =
            (self.tail.len() > window.len()).then(|| self.tail[self.tail.len() - window.len() - 1]);
        if cut == 0
            && before.is_some_and(|b| b != b'\n')
            && let Some(first) = tail.first_mut()
        {
            first.insert(0, '…');
        }
        let tail_start = window_start + cut as u64;
        // The first lines: only what comes before the last ones.
        let head_window = &self.head[..self.head.len().min(tail_start as usize)];
        let mut end = head_window.len();
        let mut seen = 0;
        for (i, b) in head_window.iter().enumerate() {
            if *b == b'\n' {
                seen += 1;
                if seen == lines {
                    end = i + 1;
                    break;
                }
            }
        }
        if lines == 0 {
            end = 0;
        }
        let mut head = split_lines(&head_window[..end]);
        let head_end = end as u64;
        if head_end < tail_start
            && head_window[..end].last() != Some(&b'\n')
            && let Some(last) = head.last_mut()
        {
            last.push('…');
        }
        Captured {
            total,
            head,
            tail,
            elided: tail_start - head_end,
            found: self.found,
            scan: self.scan,
        }
    }
}

fn split_lines(bytes: &[u8]) -> Vec<String> {
    if bytes.is_empty() {
        return Vec::new();
    }
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    body.split(|b| *b == b'\n')
        .map(|l| String::from_utf8_lossy(l.strip_suffix(b"\r").unwrap_or(l)).into_owned())
        .collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let mut at = 0;
    while let Some(i) = hay[at..].iter().position(|b| *b == first) {
        let start = at + i;
        if hay[start + 1..].starts_with(rest) {
            return true;
        }
        at = start + 1;
    }
    false
}

/// Copies a stream to the end of the file at `path`, which keeps at most
/// [`MAX_OUTPUT_FILE`] bytes (then a note says how many more came),
/// feeding `capture`, if any, with all of it. Returns whether the file was
/// cut. A file that cannot be opened or written to costs only the file:
/// the stream is still read to its end (or its writer would block).
pub(crate) async fn copy_capped(
    mut from: impl AsyncRead + Unpin,
    path: PathBuf,
    capture: Option<Arc<Mutex<Capture>>>,
) -> bool {
    let mut file = CappedLog::append(&path, MAX_OUTPUT_FILE).ok();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let chunk = &buf[..n];
        if let Some(capture) = &capture {
            capture
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .feed(chunk);
        }
        if let Some(f) = file.as_mut()
            && f.write(chunk).is_err()
        {
            // Disk full or similar: the summary still gets its lines.
            file = None;
        }
    }
    file.is_some_and(CappedLog::finish)
}

/// Runs a test command on `backend` (this machine's, or a fleet node's
/// over SSH), writing its output to `<artifact_dir>/<rel>.stdout.log`
/// and `.stderr.log` here. `Err` only when the output files cannot be
/// created.
pub(crate) async fn run_test(
    test: &TestCommand,
    backend: &dyn Backend,
    artifact_dir: &Path,
    rel: &str,
) -> std::io::Result<TestRecord> {
    let stdout_rel = format!("{rel}.stdout.log");
    let stderr_rel = format!("{rel}.stderr.log");
    let stdout_path = artifact_dir.join(&stdout_rel);
    let stderr_path = artifact_dir.join(&stderr_rel);
    if let Some(parent) = stdout_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    // A retried stage starts its logs afresh.
    std::fs::write(&stdout_path, b"")?;
    std::fs::write(&stderr_path, b"")?;

    // Stderr goes through gauntlet-node, which writes its file (capped at
    // MAX_OUTPUT_FILE) and hands each line to the capture as it passes.
    let stderr = Arc::new(Mutex::new(Capture::new(None)));
    let mut spec = node_spec(&test.run);
    spec.stderr_log = Some(stderr_path.clone());
    spec.stderr_log_limit = MAX_OUTPUT_FILE;
    spec.echo_stderr = Some({
        let stderr = stderr.clone();
        LineSink::new(move |line| {
            let mut capture = stderr.lock().unwrap_or_else(|e| e.into_inner());
            capture.feed(line.as_bytes());
            capture.feed(b"\n");
        })
    });

    let began = Instant::now();
    let mut record = TestRecord {
        stdout_artifact: stdout_rel,
        stderr_artifact: stderr_rel,
        failure: None,
        ..TestRecord::not_run(test, String::new())
    };
    let mut process = match backend.spawn(&spec) {
        Ok(p) => p,
        Err(e) => {
            let why = cannot_start(&format!("test {}", test.name), &e);
            record.failure = Some(why.clone());
            std::fs::write(&stderr_path, format!("gauntlet: {why}\n"))?;
            record.stderr_tail = vec![format!("gauntlet: {why}")];
            record.cannot_start = Some(why);
            return Ok(record);
        }
    };
    drop(process.take_stdin());
    let stdout = Arc::new(Mutex::new(Capture::new(
        test.expect.stdout_contains.as_deref(),
    )));
    let copier = process
        .take_stdout()
        .map(|out| tokio::spawn(copy_capped(out, stdout_path.clone(), Some(stdout.clone()))));
    let exit = match tokio::time::timeout(test.timeout, process.wait()).await {
        Ok(exit) => Some(exit),
        Err(_) => {
            let _ = process.kill();
            process.wait().await;
            None
        }
    };
    if let Some(mut copier) = copier {
        // The group is gone, so the pipe closes; do not wait forever on a
        // grandchild that escaped the group and holds it open.
        match tokio::time::timeout(Duration::from_secs(2), &mut copier).await {
            Ok(cut) => record.stdout_truncated = cut.unwrap_or(false),
            Err(_) => copier.abort(),
        }
    }
    record.duration_ms = began.elapsed().as_millis() as u64;
    let stdout = std::mem::replace(
        &mut *stdout.lock().unwrap_or_else(|e| e.into_inner()),
        Capture::new(None),
    )
    .finish(KEEP_LINES);
    let stderr = std::mem::replace(
        &mut *stderr.lock().unwrap_or_else(|e| e.into_inner()),
        Capture::new(None),
    )
    .finish(KEEP_LINES);
    // The capture saw lines (each cut at 16 KiB); the node counted bytes.
    let stderr_bytes = exit
        .as_ref()
        .map_or(stderr.total, |e| e.stderr_bytes.max(stderr.total));
    record.stderr_truncated = stderr_bytes > MAX_OUTPUT_FILE;
    record.stdout_bytes = stdout.total;
    record.stdout_head = stdout.head;
    record.stdout_tail = stdout.tail;
    record.stdout_elided = stdout.elided;
    record.stderr_bytes = stderr_bytes;
    record.stderr_head = stderr.head;
    record.stderr_tail = stderr.tail;
    record.stderr_elided = stderr.elided + (stderr_bytes - stderr.total);
    let Some(exit) = exit else {
        record.timed_out = true;
        record.failure = Some(format!(
            "timed out after {:.0} s and was killed",
            test.timeout.as_secs_f64()
        ));
        return Ok(record);
    };
    record.exit = exit.termination.code();
    record.signal = exit.termination.signal();
    if let Some(code) = record.exit {
        let mut scan = stdout.scan;
        scan.merge(stderr.scan);
        record.no_tests_found = scan.no_tests_found(code);
    }
    record.failure = match record.exit {
        None => Some(format!("killed by {}", exit.termination)),
        Some(code) if code != test.expect.exit => {
            Some(format!("exit status {code}, expected {}", test.expect.exit))
        }
        Some(_) => match &test.expect.stdout_contains {
            Some(want) if !stdout.found => Some(format!("stdout does not contain {want:?}")),
            _ => None,
        },
    };
    // pytest's "no tests collected" (exit 5) is not a failure but a
    // finding: a module with no tests is WARN, not FAIL.
    if record.no_tests_found && record.exit != Some(0) && test.expect.exit == 0 {
        record.failure = None;
    }
    record.passed = record.failure.is_none();
    Ok(record)
}

/// A command's figures, read and judged.
pub(crate) struct JudgedFigures {
    /// For the stage's summary, each with its value or why it has none.
    pub shown: Vec<serde_json::Value>,
    /// Why the command fails on its figures: a critical check broken, a
    /// figure not read.
    pub broken: Vec<String>,
    /// Each figure read, by name, with the figure it was read as.
    pub read: Vec<(gauntlet_plan::Figure, f64)>,
}

/// Reads and judges a command's figures from its stdout file: each one
/// read is a `figure` measurement of `<subject>/<figure>`; a critical
/// check it breaks, or a figure that cannot be read at all (with stdout's
/// last lines), is a reason it fails. A command that did not run has
/// none.
pub(crate) fn judge_figures(
    test: &TestCommand,
    record: &TestRecord,
    artifact_dir: &Path,
    subject: &str,
    samples: &crate::supervisor::Samples,
    progress: &crate::Progress,
) -> JudgedFigures {
    use gauntlet_plan::{Severity, judge_figure, read_figure};
    use serde_json::json;
    let mut judged = JudgedFigures {
        shown: Vec::new(),
        broken: Vec::new(),
        read: Vec::new(),
    };
    if test.expect.figures.is_empty() || record.exit.is_none() {
        return judged;
    }
    let path = artifact_dir.join(&record.stdout_artifact);
    let stdout = std::fs::read_to_string(&path).unwrap_or_default();
    for figure in &test.expect.figures {
        match read_figure(&stdout, figure) {
            Ok(value) => {
                samples.push(
                    "figure",
                    &format!("{subject}/{}", figure.name),
                    value,
                    figure.unit.as_deref().unwrap_or(""),
                );
                let missed = judge_figure(figure, value);
                for m in &missed {
                    progress.note(&format!("{}: {m}", figure.severity));
                }
                if figure.severity == Severity::Critical {
                    judged.broken.extend(missed.iter().cloned());
                }
                judged.shown.push(json!({
                    "name": figure.name, "value": value, "unit": figure.unit,
                    "severity": figure.severity, "missed": missed,
                }));
                judged.read.push((figure.clone(), value));
            }
            Err(why) => {
                let tail = record.stdout_tail.iter().rev().take(5).rev().cloned();
                let tail: Vec<String> = tail.collect();
                judged.broken.push(format!(
                    "figure {} not read: {why} (stdout ends: {})",
                    figure.name,
                    if tail.is_empty() {
                        "nothing".to_owned()
                    } else {
                        tail.join(" | ")
                    }
                ));
                judged
                    .shown
                    .push(json!({ "name": figure.name, "value": null, "error": why }));
            }
        }
    }
    judged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(chunks: &[&[u8]], lines: usize) -> Captured {
        let mut c = Capture::new(Some("needle"));
        for chunk in chunks {
            c.feed(chunk);
        }
        c.finish(lines)
    }

    fn numbered(n: usize) -> String {
        (1..=n).map(|i| format!("line {i}\n")).collect()
    }

    #[test]
    fn short_output_is_all_in_the_tail() {
        let c = captured(&[b"a\nb\n"], 20);
        assert_eq!((c.total, c.elided), (4, 0));
        assert_eq!(c.tail, ["a", "b"]);
        assert!(c.head.is_empty());
        let c = captured(&[b"no newline at the end"], 20);
        assert_eq!(c.tail, ["no newline at the end"]);
        let c = captured(&[], 20);
        assert_eq!((c.total, c.head.len(), c.tail.len()), (0, 0, 0));
    }

    #[test]
    fn long_output_keeps_its_first_and_last_lines_and_counts_the_rest() {
        let text = numbered(100);
        let c = captured(&[text.as_bytes()], 20);
        assert_eq!(c.head.first().map(String::as_str), Some("line 1"));
        assert_eq!(c.head.last().map(String::as_str), Some("line 20"));
        assert_eq!(c.tail.first().map(String::as_str), Some("line 81"));
        assert_eq!(c.tail.last().map(String::as_str), Some("line 100"));
        let kept: usize = (1..=20)
            .chain(81..=100)
            .map(|i| format!("line {i}\n").len())
            .sum();
        assert_eq!(c.elided, text.len() as u64 - kept as u64);
        // 30 lines: the last 20, and the 10 before them; nothing between.
        let c = captured(&[numbered(30).as_bytes()], 20);
        assert_eq!((c.head.len(), c.tail.len(), c.elided), (10, 20, 0));
        assert_eq!(c.head.last().map(String::as_str), Some("line 10"));
    }

    #[test]
    fn one_huge_line_is_cut_at_both_ends() {
        let chunk = vec![b'a'; CHUNK];
        let mut c = Capture::new(Some("b"));
        for _ in 0..100 {
            c.feed(&chunk);
        }
        c.feed(b"b\n");
        let c = c.finish(20);
        assert!(c.found, "the needle at the very end");
        assert_eq!(c.total, 100 * CHUNK as u64 + 2);
        assert_eq!(c.head.len(), 1);
        assert_eq!(c.head[0].len(), KEEP_BYTES + '…'.len_utf8());
        assert!(c.head[0].ends_with('…'));
        assert_eq!(c.tail.len(), 1);
        assert!(
            c.tail[0].starts_with('…') && c.tail[0].ends_with("ab"),
            "{}",
            &c.tail[0][..10]
        );
        assert_eq!(c.elided, c.total - 2 * KEEP_BYTES as u64);
    }

    #[test]
    fn phrases_cut_between_chunks_are_found() {
        let c = captured(&[b"xxxxnee", b"dlexx"], 20);
        assert!(c.found);
        let c = captured(&[b"xxxxnee", b"xdle"], 20);
        assert!(!c.found);
        let c = captured(&[b"test result: running 0 te", b"sts\n"], 20);
        assert!(c.scan.no_tests_found(0));
        let c = captured(&[b"running 0 tests\nrunning 3 te", b"sts\n"], 20);
        assert!(!c.scan.no_tests_found(0));
    }

    #[test]
    fn a_files_last_lines_are_read_from_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, numbered(50_000)).unwrap();
        assert_eq!(lines_tail(&path, 2), ["line 49999", "line 50000"]);
        std::fs::write(&path, "a\nb").unwrap();
        assert_eq!(lines_tail(&path, 5), ["a", "b"]);
        assert!(lines_tail(&dir.path().join("missing"), 5).is_empty());
    }
}
