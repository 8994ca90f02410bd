//! One entry point for a history file in any format a user has: Gauntlet's
//! JSONL or a Jepsen EDN history.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::calls::{Call, PairError, pair_calls};
use crate::io::HistoryError;
use crate::{Op, Process, stream};

/// A history's on-disk format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Gauntlet's JSON lines (DESIGN.md "Formats").
    Jsonl,
    /// Jepsen's EDN: one op map per line, or one vector (or list) of op maps.
    Edn,
}

impl Format {
    /// The format an extension names: `.jsonl`, `.ndjson` and `.json` are
    /// JSONL, `.edn` is EDN; anything else is `None`.
    pub fn from_extension(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
            "edn" => Some(Format::Edn),
            _ => None,
        }
    }

    /// Guesses the format from the first non-blank character: `[`, `(`, `#`,
    /// `;` and `^` (Clojure metadata) are EDN; `{` is JSONL when the next
    /// non-blank character is `"` (or `}`), else EDN (`{:type ...`). Anything
    /// else, including an empty text, is taken as JSONL.
    pub fn sniff(text: &str) -> Format {
        let mut chars = text
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '\u{feff}');
        match chars.next() {
            Some('[' | '(' | '#' | ';' | '^') => Format::Edn,
            Some('{') => match chars.next() {
                Some('"' | '}') | None => Format::Jsonl,
                Some(_) => Format::Edn,
            },
            _ => Format::Jsonl,
        }
    }

    /// The format of `text` named `path`: by extension, else by sniffing.
    pub fn detect(path: &Path, text: &str) -> Format {
        Format::from_extension(path).unwrap_or_else(|| Format::sniff(text))
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(match self {
            Format::Jsonl => "JSONL",
            Format::Edn => "EDN",
        })
    }
}

/// A history read from a file, with where each op came from.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// The ops in file order (the history's real-time order).
    pub ops: Vec<Op>,
    /// `ops[i]` starts on line `lines[i]` (1-based) of `source`.
    pub lines: Vec<usize>,
    /// The file the history was read from (or the name given to
    /// [`read_history_str`]).
    pub source: PathBuf,
    /// The format it was read as.
    pub format: Format,
}

impl History {
    /// The 1-based line `ops[i]` starts on.
    pub fn line_of(&self, i: usize) -> Option<usize> {
        self.lines.get(i).copied()
    }

    /// [`pair_calls`] over this history, with the offending op's line filled
    /// in on error.
    pub fn pair_calls(&self) -> Result<Vec<Call>, PairError> {
        pair_calls(&self.ops).map_err(|mut e| {
            e.line = self.line_of(e.at);
            e
        })
    }

    /// [`split_independent_tuples`] over this history's ops.
    pub fn split_independent_tuples(&mut self) -> usize {
        split_independent_tuples(&mut self.ops)
    }
}

/// Reads a history file, JSONL or Jepsen EDN (by extension, else by sniffing
/// the first non-blank character; see [`Format`]), returning ops in file
/// order with the 1-based line each op starts on.
///
/// The file is streamed, never held whole, so a FIFO or a device is read
/// like a file: a line (JSONL) or an op (EDN) longer than
/// [`MAX_LINE_BYTES`](crate::MAX_LINE_BYTES), a NUL byte or invalid UTF-8
/// stops the read at once with an error naming the line. Big histories are
/// parsed on several threads; results and errors are those of a sequential
/// read (the first bad line wins).
///
/// EDN ops map onto [`Op`] like this: `:process` an integer is a client,
/// `:nemesis` the nemesis; `:type` must be `:invoke`, `:ok`, `:fail` or
/// `:info`; `:f` is a keyword or string (kept without the colon); `:value`
/// becomes JSON (keywords and symbols as strings without the colon, vectors,
/// lists and sets as arrays, maps as objects with keys rendered as strings,
/// nil as null; ratios, big decimals and integers beyond 64 bits as strings);
/// `:time` and `:index` are kept when present (a missing index is the op's
/// position). `:error` becomes `error` as converted; without it, an
/// `:exception` map becomes `"Type: message"` when it has a message, else its
/// converted value. A `:value` tagged `#jepsen.independent/tuple [k v]` sets
/// `key` to `k` and `value` to `v`; a plain `[k v]` stays a value (see
/// [`split_independent_tuples`]). Other keys (`:node`, ...) are dropped.
/// Tagged ops (`#jepsen.history.Op{...}`) read as maps. Clojure metadata
/// (`^:kw`, `^Sym`, `^{...}`), on an op, inside one or on the whole
/// history, is read and dropped, as it is not part of any value; `#_`
/// discards the form after it.
///
/// Every error names the file and a line: for an op that is not closed, the
/// line it starts on; for anything else, where it is.
pub fn read_history(path: &Path) -> Result<History, HistoryError> {
    let file = std::fs::File::open(path).map_err(|source| HistoryError::Io {
        path: path.to_owned(),
        source,
    })?;
    read_history_from(path, file, Format::from_extension(path))
}

/// [`read_history`] from any reader (stdin, a socket, a decompressor):
/// `source` names it in errors and in the result; `format` is the format to
/// read it as, or `None` to sniff it.
pub fn read_history_from(
    source: &Path,
    reader: impl std::io::Read,
    format: Option<Format>,
) -> Result<History, HistoryError> {
    stream::read_from(source, reader, format, &stream::Tuning::default())
}

/// What [`for_each_op`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visited {
    /// How many ops were handed over.
    pub ops: usize,
    /// The format the history was read as.
    pub format: Format,
    /// The visitor stopped the reading (returned false).
    pub stopped: bool,
}

/// [`read_history`] without keeping the ops: each is handed to `visit`
/// with the line it starts on, in file order, as soon as it is read, and
/// dropped after. The same reader, the same rules and the same errors as
/// [`read_history`] (an error is returned after the ops before it were
/// visited); memory stays a few batches however long the history is.
/// `visit` returning false stops the reading there.
pub fn for_each_op(
    path: &Path,
    mut visit: impl FnMut(Op, usize) -> bool,
) -> Result<Visited, HistoryError> {
    let file = std::fs::File::open(path).map_err(|source| HistoryError::Io {
        path: path.to_owned(),
        source,
    })?;
    for_each_op_from(path, file, Format::from_extension(path), &mut visit)
}

/// [`for_each_op`] from any reader, as [`read_history_from`].
pub fn for_each_op_from(
    source: &Path,
    reader: impl std::io::Read,
    format: Option<Format>,
    visit: &mut dyn FnMut(Op, usize) -> bool,
) -> Result<Visited, HistoryError> {
    let (format, ops, stopped) =
        stream::read_each(source, reader, format, &stream::Tuning::default(), visit)?;
    Ok(Visited {
        ops,
        format,
        stopped,
    })
}

/// [`read_history`] for a text held in memory (stdin, a test). `name` picks
/// the format by extension, as a path would, else the text is sniffed; it is
/// also the name errors use.
pub fn read_history_str(name: &str, text: &str) -> Result<History, HistoryError> {
    let path = Path::new(name);
    read_history_from(path, text.as_bytes(), Format::from_extension(path))
}

/// Reads `text` as `format`. `source` names it in errors and in the result.
/// When reading fails and the text looks like the other format, the error
/// says so.
pub fn parse_history(source: &Path, text: &str, format: Format) -> Result<History, HistoryError> {
    read_history_from(source, text.as_bytes(), Some(format))
}

/// Splits `[k v]` values of client ops into `key: k`, `value: v`, as
/// `jepsen.independent` histories need, and returns how many ops it split.
///
/// Jepsen's independent tuples are `clojure.lang.MapEntry`s, which print as
/// plain two-element vectors: in a history file they look exactly like any
/// other pair, such as a `cas` op's `[from to]`. So this is never done on
/// read; a caller that knows the history is independent (a CLI flag) asks for
/// it. Ops that already have a key, nemesis ops, and values that are not
/// two-element arrays are left alone: as in Jepsen, such ops belong to no key
/// (or to every key).
pub fn split_independent_tuples(ops: &mut [Op]) -> usize {
    let mut split = 0;
    for op in ops {
        if op.key.is_some() || op.process == Process::Nemesis {
            continue;
        }
        if let Value::Array(pair) = &mut op.value
            && pair.len() == 2
        {
            let v = pair.pop().expect("two elements");
            let k = pair.pop().expect("two elements");
            op.key = Some(k);
            op.value = v;
            split += 1;
        }
    }
    split
}
