use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::stream::Part;
use crate::{Format, Op};

/// A history that could not be read, with the place that is wrong.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Malformed {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A line (JSONL) or an op (EDN) longer than the limit
    /// ([`crate::MAX_LINE_BYTES`]); reading stopped there.
    #[error("{path}:{line}: {what} is longer than {} (the limit for one op)", show_bytes(*limit))]
    TooLong {
        path: PathBuf,
        line: usize,
        limit: usize,
        /// What is too long: the line, or the op that starts on the line.
        what: &'static str,
    },
}

impl HistoryError {
    /// The 1-based line the error is about, if any.
    pub fn line(&self) -> Option<usize> {
        match self {
            HistoryError::Io { .. } => None,
            HistoryError::Malformed { line, .. } | HistoryError::TooLong { line, .. } => {
                Some(*line)
            }
        }
    }
}

fn show_bytes(n: usize) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

/// Reads a JSONL history file, streamed (see [`crate::read_history`]).
/// Blank lines are skipped; a missing `index` is taken from the op's
/// position.
pub fn read_jsonl(path: &Path) -> Result<Vec<Op>, HistoryError> {
    let file = File::open(path).map_err(|source| HistoryError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(crate::stream::read_from(path, file, Some(Format::Jsonl), &Default::default())?.ops)
}

/// Reads a JSONL history held in memory; `name` is used in errors.
pub fn read_jsonl_str(name: &str, text: &str) -> Result<Vec<Op>, HistoryError> {
    Ok(crate::history::parse_history(Path::new(name), text, Format::Jsonl)?.ops)
}

/// The ops of whole lines of a JSONL history, the first on `first_line`.
pub(crate) fn parse_part(
    path: &Path,
    first_line: usize,
    text: &str,
    mut part: Part,
) -> Result<Part, HistoryError> {
    for (n, line) in text.lines().enumerate() {
        if let Some(op) = parse_line(path, first_line + n, line)? {
            if op.index == 0 {
                part.unindexed.push(part.ops.len());
            }
            part.ops.push(op);
            part.lines.push(first_line + n);
        }
    }
    Ok(part)
}

/// One line: `None` when blank.
fn parse_line(path: &Path, line: usize, text: &str) -> Result<Option<Op>, HistoryError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let op: Op = serde_json::from_str(text).map_err(|e| {
        // serde_json says "... at line 1 column N" of the one line it saw.
        let message = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = match message.strip_suffix(&suffix) {
            Some(what) if e.column() > 0 => format!("column {}: {what}", e.column()),
            Some(what) => what.to_owned(),
            None => message,
        };
        HistoryError::Malformed {
            path: path.to_owned(),
            line,
            message,
        }
    })?;
    Ok(Some(op))
}

/// Appends ops to a JSONL file, numbering them as they come.
pub struct HistoryWriter {
    out: BufWriter<File>,
    next_index: u64,
}

impl HistoryWriter {
    pub fn create(path: &Path) -> std::io::Result<HistoryWriter> {
        Ok(HistoryWriter {
            out: BufWriter::new(File::create(path)?),
            next_index: 0,
        })
    }

    /// Writes `op` with the next index and returns that index.
    pub fn append(&mut self, op: &mut Op) -> std::io::Result<u64> {
        op.index = self.next_index;
        self.next_index += 1;
        serde_json::to_writer(&mut self.out, op)?;
        self.out.write_all(b"\n")?;
        Ok(op.index)
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OpType, Process};

    #[test]
    fn reads_the_design_example() {
        let text = r#"{"index":0,"time":1200,"process":0,"type":"invoke","f":"write","value":3}
{"index":1,"time":5400,"process":0,"type":"ok","f":"write","value":3}
{"index":2,"time":6000,"process":1,"type":"invoke","f":"cas","key":"x","value":[3,4]}
{"index":3,"time":9100,"process":1,"type":"fail","f":"cas","key":"x","value":[3,4],"error":"precondition"}
{"index":4,"time":9900,"process":"nemesis","type":"info","f":"partition","value":{"n1":["n2","n3"]}}
"#;
        let ops = read_jsonl_str("h.jsonl", text).unwrap();
        assert_eq!(ops.len(), 5);
        assert_eq!(ops[3].kind, OpType::Fail);
        assert_eq!(ops[3].key, Some(serde_json::json!("x")));
        assert_eq!(ops[4].process, Process::Nemesis);
        assert_eq!(ops[4].index, 4);
    }

    #[test]
    fn malformed_line_names_file_and_line() {
        let text = "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n\n{\"process\":0,\"type\":\"done\"}\n";
        let err = read_jsonl_str("bad.jsonl", text).unwrap_err().to_string();
        assert!(err.starts_with("bad.jsonl:3:"), "{err}");
        assert!(err.contains("done"), "{err}");
    }

    #[test]
    fn negative_process_is_an_error() {
        let err = read_jsonl_str("h", r#"{"process":-1,"type":"ok","f":"r"}"#).unwrap_err();
        assert!(err.to_string().contains("negative"), "{err}");
    }

    #[test]
    fn writer_numbers_ops_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        let mut w = HistoryWriter::create(&path).unwrap();
        let mut a = Op::invoke(0, "read", serde_json::Value::Null);
        a.time = Some(10);
        let mut b = a.complete(OpType::Ok, serde_json::json!(5));
        b.is_final = true;
        let mut n = Op::nemesis("kill", serde_json::json!(["n1"]));
        w.append(&mut a).unwrap();
        w.append(&mut b).unwrap();
        w.append(&mut n).unwrap();
        w.flush().unwrap();
        let back = read_jsonl(&path).unwrap();
        assert_eq!(back, vec![a, b, n]);
        assert_eq!(back[2].index, 2);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"final\":true"));
        assert!(!text.lines().next().unwrap().contains("final"));
    }
}
