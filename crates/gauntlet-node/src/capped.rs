//! An output file that stops growing at a limit: a node's stderr log, a
//! service's stdout beside it, a command's output. Past the limit bytes are
//! counted, not written, and [`CappedLog::finish`] ends the file with a note
//! saying how many: a program printing without end fills no disk.
//!
//! Writes are plain `write(2)` into the page cache, done on the runtime like
//! the stderr copier's. The limit is judged on the file's real size, read
//! before each write, so two writers appending to one file (a service's
//! stdout and stderr) share it.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// How large a node's stderr log may grow by default (64 MiB): what
/// follows is counted, and noted at the end of the log.
pub const DEFAULT_STDERR_LOG_LIMIT: u64 = 64 * 1024 * 1024;

/// A file appended to up to a limit.
#[derive(Debug)]
pub struct CappedLog {
    file: File,
    limit: u64,
    /// Bytes handed to [`write`](Self::write) that were not written.
    skipped: u64,
}

impl CappedLog {
    /// Opens `path` for appending (creating it and its directory).
    pub fn append(path: &Path, limit: u64) -> io::Result<CappedLog> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = File::options().create(true).append(true).open(path)?;
        Ok(CappedLog {
            file,
            limit,
            skipped: 0,
        })
    }

    /// Its size now, as the file system says (other writers included).
    pub fn len(&self) -> u64 {
        self.file.metadata().map_or(0, |m| m.len())
    }

    /// Whether it holds nothing yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether it has reached its limit.
    pub fn is_full(&self) -> bool {
        self.len() >= self.limit
    }

    /// Writes what fits under the limit and counts the rest. An error is
    /// the file system's (disk full, say); the caller stops writing.
    pub fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        let room = self.limit.saturating_sub(self.len());
        let keep = chunk.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        self.skipped += (chunk.len() - keep) as u64;
        if keep > 0 {
            self.file.write_all(&chunk[..keep])?;
        }
        Ok(())
    }

    /// Whether any bytes were left out so far.
    pub fn cut(&self) -> bool {
        self.skipped > 0
    }

    /// Ends this writer's part: the note when bytes were left out (the
    /// note itself may pass the limit by its own few bytes). Returns
    /// whether bytes were left out.
    pub fn finish(mut self) -> bool {
        if self.skipped > 0 {
            let note = truncation_note(self.limit, self.skipped);
            let _ = self.file.write_all(note.as_bytes());
        }
        self.skipped > 0
    }
}

/// The line that ends an output file cut at `limit` bytes, `more` bytes
/// short.
pub fn truncation_note(limit: u64, more: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    let limit = if limit.is_multiple_of(MIB) {
        format!("{} MiB", limit / MIB)
    } else {
        format!("{limit} bytes")
    };
    format!("\n[gauntlet: output truncated at {limit}; {more} more bytes were not kept]\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_writers_share_one_limit_and_each_notes_its_own_loss() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.log");
        let mut a = CappedLog::append(&path, 10).unwrap();
        let mut b = CappedLog::append(&path, 10).unwrap();
        a.write(b"123456").unwrap();
        b.write(b"abcdef").unwrap();
        assert!(a.is_full() && b.is_full());
        a.write(b"xy").unwrap();
        assert!(b.cut() && a.cut());
        assert!(b.finish());
        assert!(a.finish());
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "123456abcd\n[gauntlet: output truncated at 10 bytes; 2 more bytes were not kept]\n\
             \n[gauntlet: output truncated at 10 bytes; 2 more bytes were not kept]\n"
        );
    }

    #[test]
    fn a_log_under_its_limit_gets_no_note() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        let mut log = CappedLog::append(&path, 1 << 20).unwrap();
        log.write(b"hello\n").unwrap();
        assert!(!log.finish());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "hello\n");
        assert_eq!(
            truncation_note(64 << 20, 5).trim(),
            "[gauntlet: output truncated at 64 MiB; 5 more bytes were not kept]"
        );
    }
}
