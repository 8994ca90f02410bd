//! The CLI's one way to print: results, tables and JSON to stdout (`out!`),
//! notes, progress and errors to stderr (`note!`).
//!
//! Output to a closed pipe ends the printing, never the run, and never its
//! record: `gauntlet run plan.toml | head -1` or `| true` closes stdout
//! while the run goes on, and `println!` would then panic ("failed printing
//! to stdout"), skipping the exit code the run earned. Here the first
//! failed write marks its stream closed and every later write to it is
//! skipped; the other stream goes on. The exit code stays the run's.
//!
//! `std::print!`, `println!`, `eprint!`, `eprintln!` and `dbg!` are
//! disallowed in the workspace (clippy.toml), so new output comes here.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn closed(self) -> &'static AtomicBool {
        match self {
            Stream::Stdout => &STDOUT_CLOSED,
            Stream::Stderr => &STDERR_CLOSED,
        }
    }
}

/// Writes `args`, and a newline when `newline`, under one lock (so lines
/// from the runtime's threads do not interleave) and flushes. Returns
/// whether it was written; a stream that failed once is never written to
/// again.
pub fn write(stream: Stream, args: fmt::Arguments, newline: bool) -> bool {
    let closed = stream.closed();
    if closed.load(Relaxed) {
        return false;
    }
    fn put(mut w: impl Write, args: fmt::Arguments, newline: bool) -> io::Result<()> {
        w.write_fmt(args)?;
        if newline {
            w.write_all(b"\n")?;
        }
        w.flush()
    }
    let written = match stream {
        Stream::Stdout => put(io::stdout().lock(), args, newline),
        Stream::Stderr => put(io::stderr().lock(), args, newline),
    };
    if written.is_err() {
        // EPIPE (the reader left), EBADF, ENOSPC: whatever it was, the
        // next line would fail the same way.
        closed.store(true, Relaxed);
        return false;
    }
    true
}

/// Writes `text` to stdout as it is (no newline added).
pub fn stdout_text(text: &str) -> bool {
    write(Stream::Stdout, format_args!("{text}"), false)
}

/// A line to stdout, as `println!` without the panic.
macro_rules! out {
    () => {{
        $crate::out::write($crate::out::Stream::Stdout, format_args!(""), true);
    }};
    ($($arg:tt)*) => {{
        $crate::out::write($crate::out::Stream::Stdout, format_args!($($arg)*), true);
    }};
}

/// A line to stderr, as `eprintln!` without the panic.
macro_rules! note {
    ($($arg:tt)*) => {{
        $crate::out::write($crate::out::Stream::Stderr, format_args!($($arg)*), true);
    }};
}

pub(crate) use {note, out};
