//! Reading a history as a stream: the input is read in chunks and cut into
//! batches of whole lines (JSONL) or whole ops (EDN, cut where
//! [`Scanner`] says every top-level form is complete); batches are parsed on
//! a few threads and joined in order. Nothing holds the whole file, so a
//! FIFO, `/dev/stdin` or a file bigger than memory is read like any other,
//! and garbage is refused at its first bad line:
//!
//! - a line (JSONL) or an op with the blank lines and comments before it
//!   (EDN) longer than [`MAX_LINE_BYTES`] is an error naming its line, found
//!   as soon as that many bytes have been read;
//! - a NUL byte or invalid UTF-8 is an error naming its line and column, found
//!   as soon as the chunk holding it has been read.
//!
//! Errors are those of a sequential read: the first bad line in file order
//! wins, whatever batch or thread found it.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError, mpsc};

use crate::Op;
use crate::edn::{self, Open};
use crate::history::{Format, History};
use crate::io::{self as jsonl, HistoryError};
use crate::scan::Scanner;

/// The longest line of a JSONL history, or the longest op of an EDN history
/// (with the blank lines and comments before it), in bytes: 16 MiB. Longer
/// is refused as not a history, without reading further.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// How the input is read; tests shrink these to put cuts everywhere.
#[derive(Debug, Clone)]
pub(crate) struct Tuning {
    /// Bytes asked of the reader at a time.
    pub(crate) read: usize,
    /// A batch is handed to a parser once it holds this many bytes.
    pub(crate) batch: usize,
    pub(crate) max_line: usize,
    /// Parser threads; 1 parses on the calling thread.
    pub(crate) threads: usize,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            read: 1 << 20,
            batch: 1 << 20,
            max_line: MAX_LINE_BYTES,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
        }
    }
}

/// Reads a history from `reader`, named `source` in errors and in the
/// result, as `format`, or as the format its first non-blank characters
/// suggest ([`Format::sniff`]).
pub(crate) fn read_from(
    source: &Path,
    reader: impl Read,
    format: Option<Format>,
    tuning: &Tuning,
) -> Result<History, HistoryError> {
    let (format, joined) = read_with(source, reader, format, tuning, None)?;
    Ok(History {
        ops: joined.ops,
        lines: joined.lines,
        source: source.to_owned(),
        format,
    })
}

/// Hands each op with its line to `sink`, in order, as soon as its batch
/// is joined, keeping none; `sink` returning false stops the reading.
/// Returns the format, how many ops were handed over, and whether the
/// sink stopped the reading.
pub(crate) fn read_each(
    source: &Path,
    reader: impl Read,
    format: Option<Format>,
    tuning: &Tuning,
    sink: &mut dyn FnMut(Op, usize) -> bool,
) -> Result<(Format, usize, bool), HistoryError> {
    let (format, joined) = read_with(source, reader, format, tuning, Some(sink))?;
    Ok((format, joined.count, joined.stopped))
}

/// What the joiner ends with: the ops (unless a sink took them), their
/// lines, how many there were and whether the sink stopped the reading.
struct Joined {
    ops: Vec<Op>,
    lines: Vec<usize>,
    count: usize,
    stopped: bool,
}

fn read_with<'a>(
    source: &'a Path,
    reader: impl Read,
    format: Option<Format>,
    tuning: &Tuning,
    sink: Option<&'a mut dyn FnMut(Op, usize) -> bool>,
) -> Result<(Format, Joined), HistoryError> {
    let mut batcher = Batcher::new(source, reader, tuning);
    let sniffed = batcher.start()?;
    let format = format.unwrap_or(sniffed);
    // When reading fails and the text looks like the other format, say so.
    let hint = |e: HistoryError| match e {
        HistoryError::Malformed {
            path,
            line,
            mut message,
        } if sniffed != format => {
            message.push_str(&format!(
                " (read as {format}, but the file looks like {sniffed})"
            ));
            HistoryError::Malformed {
                path,
                line,
                message,
            }
        }
        e => e,
    };
    if format == Format::Edn {
        batcher.scanner = Some(Scanner::new());
    }
    let first = batcher.next_batch().map_err(hint)?;
    let mut joiner = Joiner::new(source);
    joiner.sink = sink;
    let reader_err = match first {
        None => None,
        Some(first) if first.last || tuning.threads <= 1 => {
            parse_here(&mut batcher, first, format, &mut joiner)
        }
        Some(first) => parse_on_threads(&mut batcher, first, format, tuning.threads, &mut joiner),
    };
    let joined = joiner.finish(reader_err, batcher.open).map_err(hint)?;
    Ok((format, joined))
}

/// Whole lines or ops, as read.
struct Batch {
    bytes: Vec<u8>,
    /// The 1-based line `bytes` starts on.
    first_line: usize,
    /// How many lines end in it (about as many ops as a batch holds).
    newlines: usize,
    /// The history is one vector or list (EDN) opened by this bracket.
    open: Option<Open>,
    /// The history's opening bracket is in this batch.
    opens: bool,
    /// Nothing follows.
    last: bool,
    /// It stops where the input turned bad, maybe inside an op.
    truncated: bool,
}

/// A batch's ops, or the error that stopped its reading.
struct Parsed {
    /// The line of the batch's first non-blank character (EDN), which is
    /// an error when an earlier batch closed the history with `close`.
    first_content: Option<usize>,
    close: Option<u8>,
    result: Result<Part, HistoryError>,
}

/// Ops read from a stretch of the input.
#[derive(Default)]
pub(crate) struct Part {
    pub(crate) ops: Vec<Op>,
    pub(crate) lines: Vec<usize>,
    /// Positions (within `ops`) of ops without an index: each gets its
    /// position in the whole history.
    pub(crate) unindexed: Vec<usize>,
    /// The line of the history's closing bracket, when this stretch has it.
    pub(crate) closed: Option<usize>,
}

impl Part {
    fn with_capacity(ops: usize) -> Part {
        Part {
            ops: Vec::with_capacity(ops),
            lines: Vec::with_capacity(ops),
            ..Part::default()
        }
    }
}

fn parse_batch(source: &Path, format: Format, batch: Batch) -> Parsed {
    let first_line = batch.first_line;
    let malformed = |(line, message)| HistoryError::Malformed {
        path: source.to_owned(),
        line,
        message,
    };
    // The batcher checked the bytes; this cannot fail, but costs little.
    let text = match String::from_utf8(batch.bytes) {
        Ok(text) => text,
        Err(_) => {
            return Parsed {
                first_content: None,
                close: None,
                result: Err(malformed((
                    first_line,
                    "the file is not valid UTF-8".to_owned(),
                ))),
            };
        }
    };
    let part = Part::with_capacity(batch.newlines + 1);
    match format {
        Format::Jsonl => Parsed {
            first_content: None,
            close: None,
            result: jsonl::parse_part(source, first_line, &text, part),
        },
        Format::Edn => {
            let (first_content, result) = edn::parse_part(
                &text,
                first_line,
                batch.open,
                batch.opens,
                batch.truncated,
                part,
            );
            Parsed {
                first_content,
                close: batch.open.map(|o| o.close),
                result: result.map_err(malformed),
            }
        }
    }
}

/// Parses batch after batch on this thread, stopping at the first error.
/// Returns the reader's error, if reading failed.
fn parse_here<R: Read>(
    batcher: &mut Batcher<'_, R>,
    first: Batch,
    format: Format,
    joiner: &mut Joiner<'_>,
) -> Option<HistoryError> {
    let mut next = Some(first);
    while let Some(batch) = next.take() {
        let last = batch.last;
        joiner.push(joiner.sent, parse_batch(joiner.source, format, batch));
        joiner.sent += 1;
        if joiner.failed() || last {
            break;
        }
        match batcher.next_batch() {
            Ok(batch) => next = batch,
            Err(e) => return Some(e),
        }
    }
    batcher.error.take()
}

/// Reads batches on this thread while `threads` threads parse them, joining
/// what they return as it comes. Once a batch fails, reading stops and
/// later batches are skipped. Returns the reader's error, if reading
/// failed.
fn parse_on_threads<R: Read>(
    batcher: &mut Batcher<'_, R>,
    first: Batch,
    format: Format,
    threads: usize,
    joiner: &mut Joiner<'_>,
) -> Option<HistoryError> {
    let source = joiner.source;
    let (task_tx, task_rx) = mpsc::sync_channel::<(usize, Batch)>(threads * 2);
    let task_rx = Mutex::new(task_rx);
    let (done_tx, done_rx) = mpsc::channel::<(usize, Parsed)>();
    let first_err = AtomicUsize::new(usize::MAX);
    std::thread::scope(|scope| {
        let mut workers = 0;
        for _ in 0..threads {
            let done_tx = done_tx.clone();
            let (task_rx, first_err) = (&task_rx, &first_err);
            let spawned = std::thread::Builder::new()
                .name("history-parse".into())
                .spawn_scoped(scope, move || {
                    loop {
                        let task = task_rx
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .recv();
                        let Ok((i, batch)) = task else { break };
                        if i > first_err.load(Ordering::Relaxed) {
                            continue;
                        }
                        let p = parse_batch(source, format, batch);
                        if p.result.is_err() {
                            first_err.fetch_min(i, Ordering::Relaxed);
                        }
                        if done_tx.send((i, p)).is_err() {
                            break;
                        }
                    }
                });
            if spawned.is_err() {
                break;
            }
            workers += 1;
        }
        drop(done_tx);
        if workers == 0 {
            return parse_here(batcher, first, format, joiner);
        }

        let mut reader_err = None;
        let mut next = Some(first);
        while let Some(batch) = next.take() {
            let last = batch.last;
            if task_tx.send((joiner.sent, batch)).is_err() {
                break;
            }
            joiner.sent += 1;
            // Join what is parsed, so parsed batches do not pile up.
            while let Ok((i, p)) = done_rx.try_recv() {
                joiner.push(i, p);
            }
            if last || joiner.failed() || first_err.load(Ordering::Relaxed) != usize::MAX {
                break;
            }
            match batcher.next_batch() {
                Ok(batch) => next = batch,
                Err(e) => reader_err = Some(e),
            }
        }
        drop(task_tx);
        for (i, p) in done_rx {
            joiner.push(i, p);
        }
        reader_err.or_else(|| batcher.error.take())
    })
}

/// Puts parsed batches together in order, each op with its index, and keeps
/// the first error in file order.
struct Joiner<'a> {
    source: &'a Path,
    ops: Vec<Op>,
    lines: Vec<usize>,
    /// Where ops go instead of `ops`, when set.
    sink: Option<&'a mut dyn FnMut(Op, usize) -> bool>,
    /// Ops joined so far.
    count: usize,
    /// The sink asked to stop.
    stopped: bool,
    /// The line of the history's closing bracket, once seen.
    closed: Option<usize>,
    error: Option<HistoryError>,
    /// Batches handed out, and the next one to join.
    sent: usize,
    next: usize,
    /// Parsed batches that came early.
    waiting: BTreeMap<usize, Parsed>,
}

impl<'a> Joiner<'a> {
    fn new(source: &'a Path) -> Self {
        Joiner {
            source,
            ops: Vec::new(),
            lines: Vec::new(),
            sink: None,
            count: 0,
            stopped: false,
            closed: None,
            error: None,
            sent: 0,
            next: 0,
            waiting: BTreeMap::new(),
        }
    }

    /// Reading should stop: an error, or the sink had enough.
    fn failed(&self) -> bool {
        self.error.is_some() || self.stopped
    }

    /// Batch `i`, parsed.
    fn push(&mut self, i: usize, p: Parsed) {
        self.waiting.insert(i, p);
        while let Some(p) = self.waiting.remove(&self.next) {
            self.next += 1;
            if !self.failed() {
                self.join(p);
            }
        }
    }

    fn join(&mut self, p: Parsed) {
        if let (Some(at), Some(content), Some(close)) = (self.closed, p.first_content, p.close) {
            self.error = Some(HistoryError::Malformed {
                path: self.source.to_owned(),
                line: content,
                message: format!(
                    "unexpected content after the history's closing {} (line {at})",
                    close as char
                ),
            });
            return;
        }
        let part = match p.result {
            Ok(part) => part,
            Err(e) => {
                self.error = Some(e);
                return;
            }
        };
        self.closed = self.closed.or(part.closed);
        let base = self.count;
        let mut ops = part.ops;
        for i in part.unindexed {
            if let Some(op) = ops.get_mut(i) {
                op.index = (base + i) as u64;
            }
        }
        match &mut self.sink {
            None => {
                self.count += ops.len();
                self.ops.append(&mut ops);
                self.lines.extend(part.lines);
            }
            Some(sink) => {
                for (op, line) in ops.into_iter().zip(part.lines) {
                    self.count += 1;
                    if !sink(op, line) {
                        self.stopped = true;
                        return;
                    }
                }
            }
        }
    }

    /// The history's ops and lines, or the first error (a reader's error
    /// comes after every batch it cut).
    fn finish(
        self,
        reader_err: Option<HistoryError>,
        open: Option<Open>,
    ) -> Result<Joined, HistoryError> {
        // Whatever comes after the place the sink stopped is not read.
        let joined = Joined {
            ops: self.ops,
            lines: self.lines,
            count: self.count,
            stopped: self.stopped,
        };
        if joined.stopped {
            return Ok(joined);
        }
        if let Some(e) = self.error.or(reader_err) {
            return Err(e);
        }
        // Batches are skipped only after a failed one.
        if self.next < self.sent {
            return Err(HistoryError::Io {
                path: self.source.to_owned(),
                source: std::io::Error::other("a part of the history was not read"),
            });
        }
        if let Some(open) = open
            && self.closed.is_none()
        {
            return Err(HistoryError::Malformed {
                path: self.source.to_owned(),
                line: open.line,
                message: format!(
                    "the history's opening {} is never closed by a {}",
                    edn::opening(open.close),
                    open.close as char
                ),
            });
        }
        Ok(joined)
    }
}

/// What is wrong with the bytes at [`Batcher::checked`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bad {
    Nul,
    Utf8,
}

/// Reads the input and cuts it into batches.
struct Batcher<'a, R> {
    source: &'a Path,
    reader: R,
    tuning: &'a Tuning,
    /// Bytes read are `buf[..len]`; the rest is room for the next read.
    buf: Vec<u8>,
    len: usize,
    /// The 1-based line `buf` starts on.
    line: usize,
    /// `buf[..checked]` is UTF-8 without NUL bytes.
    checked: usize,
    /// What is at `checked`, when reading stopped there.
    bad: Option<Bad>,
    /// `buf[..scanned]` has been scanned for places to cut.
    scanned: usize,
    /// `buf[..cut]` is whole lines or ops.
    cut: usize,
    eof: bool,
    /// Where an EDN history may be cut; `None` for JSONL (every line end).
    scanner: Option<Scanner>,
    /// The line the scanner started on.
    scan_line: usize,
    open: Option<Open>,
    /// Where the opening bracket is, counted in bytes scanned, as is
    /// `scan_base`, where `buf` starts.
    open_at: usize,
    scan_base: usize,
    /// An error to report once the batch before it is out (and parsed:
    /// callers take it after the last batch).
    error: Option<HistoryError>,
    /// Where that last batch ends, past `cut`: the start of a bad byte's
    /// line.
    upto: Option<usize>,
    done: bool,
}

impl<'a, R: Read> Batcher<'a, R> {
    fn new(source: &'a Path, reader: R, tuning: &'a Tuning) -> Self {
        Batcher {
            source,
            reader,
            tuning,
            buf: Vec::new(),
            len: 0,
            line: 1,
            checked: 0,
            bad: None,
            scanned: 0,
            cut: 0,
            eof: false,
            scanner: None,
            scan_line: 1,
            open: None,
            open_at: 0,
            scan_base: 0,
            error: None,
            upto: None,
            done: false,
        }
    }

    /// Reads past a byte order mark and blank lines, far enough to sniff
    /// the format, which it returns.
    fn start(&mut self) -> Result<Format, HistoryError> {
        while self.len < 3 && self.more() {
            self.fill()?;
        }
        if self.buf[..self.len].starts_with("\u{feff}".as_bytes()) {
            self.consume(3);
            self.checked = self.checked.saturating_sub(3);
        }
        loop {
            let text = std::str::from_utf8(&self.buf[..self.checked]).unwrap_or_default();
            let blank = text.len() - text.trim_start().len();
            // Drop whole blank lines (so columns stay right), counting them.
            if let Some(nl) = memchr::memrchr(b'\n', &self.buf[..blank]) {
                self.line += count_newlines(&self.buf[..=nl]);
                self.consume(nl + 1);
                self.checked -= nl + 1;
                continue;
            }
            let mut chars = text
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '\u{feff}');
            let enough = match chars.next() {
                Some('{') => chars.next().is_some(),
                Some(_) => true,
                None => false,
            };
            if enough || !self.more() || self.checked > self.tuning.max_line {
                self.scan_line = self.line;
                return Ok(Format::sniff(text));
            }
            self.fill()?;
        }
    }

    /// Whether reading may give more bytes.
    fn more(&self) -> bool {
        !self.eof && self.bad.is_none()
    }

    /// Reads the next chunk and checks it.
    fn fill(&mut self) -> Result<(), HistoryError> {
        if !self.more() {
            return Ok(());
        }
        // Read into the buffer's free end, making room (once, not per
        // read: a pipe gives a few KiB a read) when little is left; small
        // inputs get a small buffer.
        let want = self.len.clamp(16 << 10, self.tuning.read.max(16 << 10));
        let want = want.min(self.tuning.read.max(1));
        if self.buf.len() - self.len < want.div_ceil(2) {
            self.buf.resize(self.len + want, 0);
        }
        let start = self.len;
        let read = loop {
            match self.reader.read(&mut self.buf[start..]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        let n = match read {
            Ok(n) => n,
            Err(source) => {
                return Err(HistoryError::Io {
                    path: self.source.to_owned(),
                    source,
                });
            }
        };
        self.len = start + n;
        self.eof = n == 0;
        let fresh = &self.buf[self.checked..self.len];
        let nul = memchr::memchr(0, fresh);
        let text = &fresh[..nul.unwrap_or(fresh.len())];
        match std::str::from_utf8(text) {
            Ok(_) => {
                self.checked += text.len();
                if nul.is_some() {
                    self.bad = Some(Bad::Nul);
                }
            }
            Err(e) => {
                self.checked += e.valid_up_to();
                // A character cut by the chunk's end waits for the next one.
                if e.error_len().is_some() || nul.is_some() || self.eof {
                    self.bad = Some(Bad::Utf8);
                }
            }
        }
        Ok(())
    }

    /// The 1-based line of `buf[at]`.
    fn line_at(&self, at: usize) -> usize {
        self.line + count_newlines(&self.buf[..at])
    }

    /// The next batch: `None` after the last one, an error once the
    /// batches before it are out.
    fn next_batch(&mut self) -> Result<Option<Batch>, HistoryError> {
        loop {
            if self.done {
                return Ok(None);
            }
            if let Some(e) = self.error.take() {
                self.done = true;
                // Before a bad byte, the lines before its line go too, even
                // if they end inside an op: an error there comes first.
                let end = self.upto.take().map_or(self.cut, |at| at.max(self.cut));
                if end > 0 {
                    // The last batch; the error waits in `error` for the
                    // caller to take once the batch is parsed.
                    self.error = Some(e);
                    let truncated = end > self.cut;
                    let mut batch = self.take(end, true);
                    batch.truncated = truncated;
                    return Ok(Some(batch));
                }
                return Err(e);
            }
            self.scan()?;
            if self.error.is_some() {
                continue;
            }
            if let Some(bad) = self.bad {
                self.error = Some(self.bad_error(bad));
                self.upto = memchr::memrchr(b'\n', &self.buf[..self.checked]).map(|i| i + 1);
                continue;
            }
            if self.eof {
                self.done = true;
                return Ok(Some(self.take(self.len, true)));
            }
            if self.cut >= self.tuning.batch {
                return Ok(Some(self.take(self.cut, false)));
            }
            self.fill()?;
        }
    }

    /// Finds the places to cut in what has been checked, and refuses a
    /// line or op that is too long.
    fn scan(&mut self) -> Result<(), HistoryError> {
        let max = self.tuning.max_line;
        while self.scanned < self.checked {
            let region = &mut self.buf[self.scanned..self.checked];
            let found = match &mut self.scanner {
                Some(scanner) => scanner.next_boundary(region),
                None => memchr::memchr(b'\n', region).map(|k| k + 1),
            };
            let Some(k) = found else {
                self.scanned = self.checked;
                break;
            };
            let at = self.scanned + k;
            self.scanned = at;
            if at - self.cut > max {
                self.error = Some(self.too_long(self.cut));
                return Ok(());
            }
            self.cut = at;
        }
        if let (Some(scanner), None) = (&self.scanner, self.open) {
            self.open = scanner.open().map(|(close, line, at)| {
                self.open_at = at;
                Open {
                    close,
                    line: self.scan_line + line,
                }
            });
        }
        if self.checked - self.cut > max {
            self.error = Some(self.too_long(self.cut));
        }
        Ok(())
    }

    fn too_long(&self, at: usize) -> HistoryError {
        HistoryError::TooLong {
            path: self.source.to_owned(),
            line: self.line_at(at),
            limit: self.tuning.max_line,
            what: if self.scanner.is_some() {
                "the op that starts on this line (or one never closed)"
            } else {
                "the line"
            },
        }
    }

    fn bad_error(&self, bad: Bad) -> HistoryError {
        let at = self.checked;
        let line_start = memchr::memrchr(b'\n', &self.buf[..at]).map_or(0, |i| i + 1);
        let column = std::str::from_utf8(&self.buf[line_start..at])
            .map_or(at - line_start, |s| s.chars().count())
            + 1;
        HistoryError::Malformed {
            path: self.source.to_owned(),
            line: self.line_at(at),
            message: match bad {
                Bad::Nul => format!(
                    "column {column}: a NUL byte: this is binary data, not a history (JSONL or EDN text)"
                ),
                Bad::Utf8 => format!("column {column}: the file is not valid UTF-8"),
            },
        }
    }

    /// Takes `buf[..at]` as a batch.
    /// Drops `buf[..n]`, keeping the rest at the front.
    fn consume(&mut self, n: usize) {
        self.buf.copy_within(n..self.len, 0);
        self.len -= n;
    }

    fn take(&mut self, at: usize, last: bool) -> Batch {
        // The read buffer stays (and keeps its pages); the batch is a copy.
        let bytes = if at == self.len {
            let mut bytes = std::mem::take(&mut self.buf);
            bytes.truncate(at);
            self.len = 0;
            bytes
        } else {
            let bytes = self.buf[..at].to_vec();
            self.consume(at);
            bytes
        };
        let first_line = self.line;
        let newlines = count_newlines(&bytes);
        self.line += newlines;
        self.checked -= at;
        self.scanned -= at;
        self.cut -= at.min(self.cut);
        let opens =
            self.open.is_some() && (self.scan_base..self.scan_base + at).contains(&self.open_at);
        self.scan_base += at;
        Batch {
            bytes,
            first_line,
            newlines,
            open: self.open,
            opens,
            last,
            truncated: false,
        }
    }
}

fn count_newlines(bytes: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', bytes).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that returns at most `n` bytes per call.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn read(
        text: &[u8],
        format: Option<Format>,
        tuning: &Tuning,
        trickle: usize,
    ) -> Result<History, String> {
        read_from(Path::new("h"), Trickle(text, trickle), format, tuning).map_err(|e| e.to_string())
    }

    /// Inputs in every shape, good and bad, EDN and JSONL.
    fn texts() -> Vec<Vec<u8>> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut texts: Vec<String> = ["jepsen-lines.edn", "jepsen-vector.edn", "etcd_000.jsonl"]
            .iter()
            .map(|f| std::fs::read_to_string(dir.join(f)).unwrap())
            .collect();
        // Multi-line strings whose lines look like ops, ops without an
        // index, an indented vector, a list, metadata, discards.
        let mut tricky = String::new();
        for i in 0..60 {
            match i % 5 {
                0 => tricky.push_str(&format!(
                    "{{:type :invoke, :f :w, :process {i}, :value \"x\n{{:type :ok}}\n#{{}}\"}}\n"
                )),
                1 => tricky.push_str(&format!(
                    "#jepsen.history.Op{{:index {i}, :type :ok, :f :w, :process {i},\n :value {{:a\n{{:b 1}}}}}}\n"
                )),
                2 => tricky.push_str(&format!(
                    "^{{:line {i}}}\n{{:type :ok, :f :w, :process ^:p {i}, :value [\\] \\[ \\\" ^\"m\" ;c\n 1]}}\n"
                )),
                3 => tricky.push_str(&format!("#_ {{:a\n 1}} #_\n #_ 1 2 {{:type :info, :f :r, :process :nemesis, :value #{{{i}}}}}\n")),
                _ => tricky.push_str(&format!("{{:type :info, :f :r, :process :nemesis, :value #{{{i}}}}}\n")),
            }
        }
        texts.push(tricky.clone());
        texts.push(format!("\u{feff}[\n  {}]", tricky.replace('\n', "\n  ")));
        texts.push(format!("^:history ({tricky})"));
        // Errors early, late and at the very end.
        texts.push(format!("{{:type :bogus, :f :r, :process 0}}\n{tricky}"));
        texts.push(format!("{tricky}{{:type :ok, :f :r}}\n{tricky}"));
        texts.push(format!("[{tricky}"));
        texts.push(format!("[{tricky}]]"));
        texts.push(format!("[{tricky}]\n\n ; done\n"));
        texts.push(format!("[{tricky}]\n\n{{}}"));
        texts.push(format!("{tricky}{{:type :ok, :f :r, :process 0"));
        texts.push(format!(
            "{tricky}{{:type :ok, :f :r, :process 0 :value #_}}"
        ));
        texts.push(format!("{tricky}#_"));
        let mut texts: Vec<Vec<u8>> = texts.into_iter().map(String::into_bytes).collect();
        texts.extend([
            b"{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n\n{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":\"\xc3\xa9\"}\n".to_vec(),
            b"\xef\xbb\xbf\n\n[{:type :invoke, :f :read, :process 0}\n {:type :ok,\n  :f :read, :process 0 :value \"\xc3\xa9\"}]\n".to_vec(),
            b"[{:type :invoke, :f :read, :process 0}]\n{:type :ok}".to_vec(),
            b"{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\nnot json\n\x00".to_vec(),
            b"{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n{\"f\":\"\xff\"}\n".to_vec(),
            b"\n \n".to_vec(),
            Vec::new(),
        ]);
        texts
    }

    /// Read in one batch, a history is read as a whole text was: cut
    /// anywhere the scanner allows, read a byte at a time, parsed on
    /// threads, it reads the same, errors included.
    #[test]
    fn tiny_batches_and_reads_change_nothing() {
        for text in texts() {
            let whole = read(
                &text,
                None,
                &Tuning {
                    threads: 1,
                    ..Tuning::default()
                },
                usize::MAX,
            );
            for (threads, size, trickle) in [
                (1, 1, 1),
                (2, 1, 5),
                (3, 7, 1),
                (2, 64, 3),
                (2, 1000, usize::MAX),
                (1, 7, usize::MAX),
            ] {
                let tuning = Tuning {
                    read: size,
                    batch: size,
                    max_line: 1 << 20,
                    threads,
                };
                assert_eq!(
                    read(&text, None, &tuning, trickle),
                    whole,
                    "{threads} threads, {size}-byte batches, {trickle}-byte reads: {}",
                    String::from_utf8_lossy(&text)
                );
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

        /// Any text cut into tiny batches on threads reads as it does in
        /// one batch: same ops, lines and indexes, or the same error.
        #[test]
        fn any_cut_reads_as_one_batch(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    &b"{"[..], b"}", b"[", b"]", b"(", b")", b"\"", b"\\", b"#", b"#_", b"^", b"^:m ",
                    b";", b"\n", b" ", b":type", b":ok", b":invoke", b":f", b":r", b":process", b"0",
                    b":value", b"#jepsen.history.Op", b"\"type\":\"ok\",", b"\"process\":1,",
                    b"\"f\":\"r\"", b"{:type :ok, :f :r, :process 0}\n",
                    b"{\"type\":\"ok\",\"f\":\"r\",\"process\":0}\n", b"\xc3\xa9", b"\xff", b"\x00",
                ]),
                0..80,
            ),
            size in 1usize..16,
            threads in 1usize..4,
        ) {
            let text = pieces.concat();
            let whole = read(&text, None, &Tuning { threads: 1, ..Tuning::default() }, usize::MAX);
            let tuning = Tuning { read: size, batch: size, max_line: 1 << 20, threads };
            proptest::prop_assert_eq!(read(&text, None, &tuning, size), whole, "{:?}", String::from_utf8_lossy(&text));
        }
    }

    /// The visiting read sees what the collecting read keeps, op by op,
    /// or fails with the same error; a visitor can stop it early.
    #[test]
    fn each_op_is_visited_as_read() {
        for text in texts() {
            for tuning in [
                Tuning::default(),
                Tuning {
                    read: 7,
                    batch: 7,
                    max_line: 1 << 20,
                    threads: 3,
                },
            ] {
                let whole = read(&text, None, &tuning, usize::MAX);
                let mut seen = Vec::new();
                let each = read_each(Path::new("h"), &text[..], None, &tuning, &mut |op, line| {
                    seen.push((op, line));
                    true
                });
                match (whole, each) {
                    (Ok(h), Ok((format, n, stopped))) => {
                        assert_eq!((format, n, stopped), (h.format, h.ops.len(), false));
                        let (ops, lines): (Vec<Op>, Vec<usize>) = seen.into_iter().unzip();
                        assert_eq!((ops, lines), (h.ops, h.lines));
                    }
                    (Err(a), Err(b)) => assert_eq!(a, b.to_string()),
                    (a, b) => panic!("{a:?} vs {b:?}"),
                }
            }
        }
        let text = texts().swap_remove(3);
        let mut n = 0;
        let (_, count, stopped) = read_each(
            Path::new("h"),
            &text[..],
            None,
            &Tuning::default(),
            &mut |_, _| {
                n += 1;
                n < 5
            },
        )
        .unwrap();
        assert_eq!((n, count, stopped), (5, 5, true));
    }

    #[test]
    fn tricky_edn_reads_as_expected() {
        let texts = texts();
        let text = String::from_utf8(texts[3].clone()).unwrap();
        let h = read_from(Path::new("h"), text.as_bytes(), None, &Tuning::default()).unwrap();
        assert_eq!(h.format, Format::Edn);
        assert_eq!(h.ops.len(), 60);
        assert_eq!(h.ops[2].process, crate::Process::Client(2));
        assert_eq!(h.ops[2].value, serde_json::json!(["]", "[", "\"", 1]));
        assert_eq!(h.ops[0].value, serde_json::json!("x\n{:type :ok}\n#{}"));
        for (i, op) in h.ops.iter().enumerate() {
            assert_eq!(op.index, i as u64);
        }
        for k in [4, 5, 10] {
            let h = read(&texts[k], None, &Tuning::default(), usize::MAX).unwrap();
            assert_eq!(h.ops.len(), 60);
        }
        for k in [6, 7, 8, 9, 11, 12, 13, 14] {
            assert!(
                read(&texts[k], None, &Tuning::default(), usize::MAX).is_err(),
                "{k}"
            );
        }
    }

    /// The good lines before a bad byte are the last batch (so a small
    /// input is parsed on the calling thread), and the error waits until
    /// they are parsed.
    #[test]
    fn the_batch_before_a_bad_byte_is_the_last() {
        let tuning = Tuning::default();
        let input: &[u8] = b"{\"process\":0,\"type\":\"invoke\",\"f\":\"r\"}\n{\"f\":\"\xff\"}\n";
        let mut batcher = Batcher::new(Path::new("h"), input, &tuning);
        assert_eq!(batcher.start().unwrap(), Format::Jsonl);
        let batch = batcher.next_batch().unwrap().unwrap();
        assert!(batch.last);
        assert_eq!(batch.bytes, input[..38]);
        assert!(batcher.next_batch().unwrap().is_none());
        let e = batcher.error.take().unwrap();
        assert_eq!(e.to_string(), "h:2: column 7: the file is not valid UTF-8");
    }

    /// Before a bad byte, an error in an op that the bad byte cuts short
    /// comes first; the op being cut short is no error of its own.
    #[test]
    fn an_error_before_a_bad_byte_wins() {
        let tuning = Tuning::default();
        let text = b"{:type :ok, :f :r, :process 0}\n{:type :ok, :value [1 2)\n :f :r}\n\xff\n";
        let e = read(text, None, &tuning, usize::MAX).unwrap_err();
        assert!(e.starts_with("h:2: "), "{e}");
        let text = b"{:type :ok, :f :r, :process 0}\n{:type :ok, :value \"a\n\xff\"}\n";
        let e = read(text, None, &tuning, usize::MAX).unwrap_err();
        assert_eq!(e, "h:3: column 1: the file is not valid UTF-8");
    }

    #[test]
    fn a_long_line_is_refused_at_its_line() {
        let tuning = Tuning {
            read: 4,
            batch: 4,
            max_line: 64,
            threads: 2,
        };
        let line = "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n";
        let text = format!("{line}{line}{{\"f\":\"{}\"}}\n{line}", "x".repeat(100));
        let e = read(text.as_bytes(), None, &tuning, usize::MAX).unwrap_err();
        assert_eq!(
            e,
            "h:3: the line is longer than 64 bytes (the limit for one op)"
        );
        // Found without reading it all.
        let mut endless = std::io::repeat(b'x');
        let e = read_from(Path::new("/dev/x"), &mut endless, None, &tuning).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/dev/x:1: the line is longer than 64 bytes (the limit for one op)"
        );
        let e = read(
            format!("{{:a\n{}}}", "[1]\n".repeat(30)).as_bytes(),
            None,
            &tuning,
            3,
        )
        .unwrap_err();
        assert!(e.starts_with("h:1: the op that starts on this line"), "{e}");
    }

    #[test]
    fn binary_data_fails_at_its_line() {
        let tuning = Tuning::default();
        let e = read(
            b"{\"a\":1}\n\n{\"b\x00\n",
            Some(Format::Jsonl),
            &tuning,
            usize::MAX,
        )
        .unwrap_err();
        // The first line is bad first.
        assert!(e.starts_with("h:1: "), "{e}");
        let e = read(b"\n\nab\x00", None, &tuning, usize::MAX).unwrap_err();
        assert_eq!(
            e,
            "h:3: column 3: a NUL byte: this is binary data, not a history (JSONL or EDN text)"
        );
        let e = read(b"{:a 1\n\xe9t\xe9}", None, &tuning, 1).unwrap_err();
        assert_eq!(e, "h:2: column 1: the file is not valid UTF-8");
        let e = read(b"{:a \"\xc3", None, &tuning, 1).unwrap_err();
        assert_eq!(e, "h:1: column 6: the file is not valid UTF-8");
    }
}
