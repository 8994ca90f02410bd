//! Jepsen's EDN histories: one op map per line (`history.edn`), or a single
//! vector or list of op maps spanning many lines. Ops may be plain maps or
//! tagged records (`#jepsen.history.Op{...}`).
//!
//! The history is streamed (`stream.rs`): the input is cut between top-level
//! forms (`scan.rs`, which also blanks out Clojure metadata), and each
//! stretch is read here. The EDN reader (clojure-reader) gives no positions
//! for the forms it returns, so ops are read one at a time: the top-level
//! vector's `[` is consumed here, then each element is read with
//! [`clojure_reader::edn::read`], which returns the unread rest. The byte
//! offset where each read starts gives the op's line; the reader's own error
//! positions are relative to that start.

use std::mem;

use clojure_reader::edn::{self, Edn};
use clojure_reader::error::{Code, Error as EdnError};
use serde_json::{Map, Number, Value};

use crate::stream::Part;
use crate::{Op, OpType, Process};

/// The tag of an independent tuple written as a tagged literal. Jepsen's
/// `jepsen.independent/tuple` is a `clojure.lang.MapEntry`, which prints as a
/// plain `[k v]` vector; the tagged form is accepted where a writer used it.
pub(crate) const TUPLE_TAG: &str = "jepsen.independent/tuple";

/// Values nested deeper than this are refused rather than risk the stack.
const MAX_DEPTH: usize = 256;

/// The history's opening bracket, when it is one vector or list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Open {
    /// The bracket that closes it.
    pub(crate) close: u8,
    /// The 1-based line it is on.
    pub(crate) line: usize,
}

/// Reads the ops of `text`, a stretch of an EDN history that starts on
/// `first_line` and holds whole top-level forms (the stream cut it where
/// [`crate::scan::Scanner`] said so). `open` is the history's opening
/// bracket, if it is one vector or list; `opens` says that bracket is in
/// this stretch, before its first form.
///
/// Returns the line of the first non-blank character (an error if an
/// earlier stretch closed the history), and the ops or the line to blame
/// and a message.
pub(crate) fn parse_part(
    text: &str,
    first_line: usize,
    open: Option<Open>,
    opens: bool,
    truncated: bool,
    mut part: Part,
) -> (Option<usize>, Result<Part, (usize, String)>) {
    let mut cur = Cursor {
        text,
        pos: 0,
        line: first_line,
    };
    cur.skip_blank();
    let first_content = cur.peek().map(|_| cur.line);
    if let Some(open) = open.filter(|_| opens)
        && cur.peek() == Some(opening(open.close) as u8)
    {
        cur.advance_to(cur.pos + 1);
    }
    let read = read_forms(cur, open.map(|o| o.close), truncated, &mut part);
    (first_content, read.map(|()| part))
}

/// Reads ops from `cur` to the end of its text, or to the history's
/// closing bracket `close` (after which only blanks may follow). Errors are
/// the line to blame and a message. A `truncated` text (the stream stopped
/// at a bad byte) may end inside an op: that is no error here.
fn read_forms(
    mut cur: Cursor<'_>,
    close: Option<u8>,
    truncated: bool,
    out: &mut Part,
) -> Result<(), (usize, String)> {
    let text = cur.text;
    let cut_short = |start: usize, e: &EdnError| {
        truncated
            && matches!(e.code, Code::UnexpectedEOF)
            && e.ptr.is_none_or(|p| start + p >= text.len())
    };
    loop {
        cur.skip_blank();
        match cur.peek() {
            None => return Ok(()),
            Some(c) if Some(c) == close => {
                let close_line = cur.line;
                cur.advance_to(cur.pos + 1);
                cur.skip_blank();
                if cur.peek().is_some() {
                    return Err((
                        cur.line,
                        format!(
                            "unexpected content after the history's closing {} (line {close_line})",
                            c as char
                        ),
                    ));
                }
                out.closed = Some(close_line);
                return Ok(());
            }
            _ => {}
        }

        let start = cur.pos;
        let start_line = cur.line;
        // `#_ form` discards the form: read it and drop it here, so a
        // discard is the same wherever the stream was cut.
        if text[start..].starts_with("#_") {
            let after = start + 2;
            match edn::read(&text[after..]) {
                Ok((_, rest)) => cur.advance_to(text.len() - rest.len()),
                Err(e) if cut_short(after, &e) => return Ok(()),
                Err(e) if e.ptr.is_none() => {
                    return Err((
                        start_line,
                        format!(
                            "column {}: `#_` is not followed by a form to discard",
                            column_of(text, start)
                        ),
                    ));
                }
                Err(e) => return Err(diagnose(text, after, start_line, close, &e)),
            }
            continue;
        }
        let (form, rest) = match edn::read(&text[start..]) {
            Ok(read) => read,
            Err(e) if cut_short(start, &e) => return Ok(()),
            Err(e) => return Err(diagnose(text, start, start_line, close, &e)),
        };
        let (op, indexed) = op_from_edn(form).map_err(|m| (start_line, m))?;
        if !indexed {
            out.unindexed.push(out.ops.len());
        }
        out.ops.push(op);
        out.lines.push(start_line);
        cur.advance_to(text.len() - rest.len());
    }
}

/// The 1-based column (in characters) of `text[at]`.
fn column_of(text: &str, at: usize) -> usize {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    text[line_start..at].chars().count() + 1
}

pub(crate) fn opening(close: u8) -> char {
    if close == b']' { '[' } else { '(' }
}

/// A position in the text that knows its line.
struct Cursor<'t> {
    text: &'t str,
    pos: usize,
    line: usize,
}

impl<'t> Cursor<'t> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn advance_to(&mut self, to: usize) {
        self.line += count_newlines(&self.text.as_bytes()[self.pos..to]);
        self.pos = to;
    }

    /// Skips whitespace, commas and `;` comments.
    fn skip_blank(&mut self) {
        let bytes = self.text.as_bytes();
        while let Some(&b) = bytes.get(self.pos) {
            match b {
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                b' ' | b'\t' | b'\r' | b',' | b'\x0c' => self.pos += 1,
                b';' => {
                    while bytes.get(self.pos).is_some_and(|&b| b != b'\n') {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }
}

fn count_newlines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// Turns a reader error inside the form that starts at `start` into the line
/// to blame and a message. An unclosed op is blamed on the line it starts on
/// (the reader notices only later, at the end of the input or at someone
/// else's closing bracket); anything else on the line where it is.
fn diagnose(
    text: &str,
    start: usize,
    start_line: usize,
    close: Option<u8>,
    e: &EdnError,
) -> (usize, String) {
    let mut at = (start + e.ptr.unwrap_or(0)).min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let line = start_line + count_newlines(&text.as_bytes()[start..at]);
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..at].chars().count() + 1;
    let here = if line == start_line {
        format!("column {column}")
    } else {
        format!("line {line}, column {column}")
    };
    // clojure-reader does not read Clojure's `##NaN`, `##Inf` and `##-Inf`,
    // and fails on them with errors that say something else.
    let past = text[at..].chars().next().map_or(at, |c| at + c.len_utf8());
    let scanned = &text[start..past];
    if scanned.contains("##NaN") || scanned.contains("##Inf") || scanned.contains("##-Inf") {
        let hash = start + scanned.find("##").expect("found above");
        let line = start_line + count_newlines(&text.as_bytes()[start..hash]);
        let line_start = text[..hash].rfind('\n').map_or(0, |i| i + 1);
        let column = text[line_start..hash].chars().count() + 1;
        return (
            line,
            format!("column {column}: ##NaN, ##Inf and ##-Inf are not supported"),
        );
    }
    let simple = |what: &str| (line, format!("column {column}: {what}"));
    match &e.code {
        Code::UnexpectedEOF if text.as_bytes().get(at) == Some(&b'}') => {
            simple("a map has a key without a value")
        }
        Code::UnexpectedEOF if at >= text.len() => {
            let what = if close.is_some() {
                "the input ends inside it"
            } else {
                "the file ends inside it"
            };
            (start_line, unclosed(text, start, start_line, what))
        }
        Code::UnmatchedDelimiter(c) => {
            let what = format!("`{c}` at {here} closes the wrong bracket");
            if at == start || (line == start_line && first_line_complete(text, start)) {
                (line, format!("column {column}: unexpected `{c}`"))
            } else {
                (start_line, unclosed(text, start, start_line, &what))
            }
        }
        Code::UnexpectedEOF => simple("unexpected end of a form"),
        Code::InvalidEscape => {
            simple("unsupported escape in a string (the reader knows \\t \\r \\n \\\\ and \\\")")
        }
        Code::InvalidChar => simple("invalid character literal"),
        Code::InvalidKeyword => simple("invalid keyword"),
        Code::InvalidNumber => simple("invalid number"),
        Code::InvalidRadix(_) => simple("invalid radix in a number"),
        Code::InvalidTag => simple("invalid tag"),
        Code::HashMapDuplicateKey => simple("a map has the same key twice"),
        Code::SetDuplicateKey => simple("a set has the same element twice"),
        other => simple(&format!("cannot read EDN: {other:?}")),
    }
}

/// Whether the form starting at `start` would be complete by the end of its
/// first line.
fn first_line_complete(text: &str, start: usize) -> bool {
    let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    edn::read(&text[start..end]).is_ok()
}

fn unclosed(text: &str, start: usize, start_line: usize, what: &str) -> String {
    let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let next = text[end..].trim_start();
    if !first_line_complete(text, start) && (next.starts_with('{') || next.starts_with('#')) {
        format!(
            "this op is not closed on its line (truncated?) and line {} starts another; {what}",
            start_line + 1 + count_newlines(&text.as_bytes()[end + 1..text.len() - next.len()])
        )
    } else {
        format!("the op that starts on this line is not closed: {what}")
    }
}

/// Converts one top-level form into an op, and says whether it had an
/// `:index` (without one, the index is left 0 for the caller to fill).
fn op_from_edn(mut form: Edn<'_>) -> Result<(Op, bool), String> {
    let map = match &mut form {
        Edn::Map(map) => mem::take(map),
        Edn::Tagged(tag, inner) => match inner.as_mut() {
            Edn::Map(map) => mem::take(map),
            other => {
                return Err(format!(
                    "expected an op map, found #{tag} {}",
                    describe(other)
                ));
            }
        },
        other => return Err(format!("expected an op map, found {}", describe(other))),
    };

    let mut kind = None;
    let mut process = None;
    let mut f = None;
    let mut index = None;
    let mut time = None;
    let mut key = None;
    let mut value = Value::Null;
    let mut error = None;
    let mut exception = None;
    let mut is_final = false;
    for (k, v) in map {
        let Edn::Key(name) = &k else { continue };
        match name.as_ref() {
            "type" => kind = Some(op_type(v)?),
            "process" => process = Some(process_of(v)?),
            "f" => {
                f = Some(name_of(v).ok_or_else(|| "`:f` must be a keyword or a string".to_owned())?)
            }
            "index" => index = Some(non_negative("index", &v)?),
            "time" => {
                time = match v {
                    Edn::Nil => None,
                    v => Some(non_negative("time", &v)?),
                }
            }
            "value" => match v {
                mut v @ Edn::Tagged(..) if is_tuple(&v) => {
                    let Edn::Tagged(_, inner) = &mut v else {
                        unreachable!("checked by is_tuple")
                    };
                    let Edn::Vector(kv) = inner.as_mut() else {
                        return Err(format!("a #{TUPLE_TAG} must be a [key value] vector"));
                    };
                    let mut kv = mem::take(kv);
                    if kv.len() != 2 {
                        return Err(format!(
                            "a #{TUPLE_TAG} must be a [key value] vector, found {} elements",
                            kv.len()
                        ));
                    }
                    let v = kv.pop().expect("two elements");
                    let k = kv.pop().expect("two elements");
                    key = Some(to_json(k, 0)?);
                    value = to_json(v, 0)?;
                }
                v => value = to_json(v, 0)?,
            },
            "key" => key = Some(to_json(v, 0)?),
            "error" => error = Some(to_json(v, 0)?),
            "exception" => exception = Some(v),
            "final" => is_final = matches!(v, Edn::Bool(true)),
            _ => {}
        }
    }
    let error = match (error, exception) {
        (Some(e), _) => Some(e),
        (None, Some(ex)) => Some(match exception_message(&ex) {
            Some(message) => Value::String(message),
            None => to_json(ex, 0)?,
        }),
        (None, None) => None,
    };
    let op = Op {
        index: index.unwrap_or(0),
        time,
        process: process.ok_or("missing `:process`")?,
        kind: kind.ok_or("missing `:type`")?,
        f: f.ok_or("missing `:f`")?,
        key,
        value,
        error,
        is_final,
    };
    Ok((op, index.is_some()))
}

fn is_tuple(v: &Edn<'_>) -> bool {
    matches!(v, Edn::Tagged(tag, _) if tag == TUPLE_TAG)
}

fn op_type(v: Edn<'_>) -> Result<OpType, String> {
    let name = match &v {
        Edn::Key(s) | Edn::Str(s) => s.as_ref(),
        other => {
            return Err(format!(
                "`:type` must be a keyword, found {}",
                describe(other)
            ));
        }
    };
    match name {
        "invoke" => Ok(OpType::Invoke),
        "ok" => Ok(OpType::Ok),
        "fail" => Ok(OpType::Fail),
        "info" => Ok(OpType::Info),
        _ => Err(format!(
            "unknown `:type` {} (expected :invoke, :ok, :fail or :info)",
            describe(&v)
        )),
    }
}

fn process_of(v: Edn<'_>) -> Result<Process, String> {
    match &v {
        Edn::Int(n) => u64::try_from(*n)
            .map(Process::Client)
            .map_err(|_| format!("`:process` {n} is negative")),
        Edn::Key(s) | Edn::Str(s) | Edn::Symbol(s) if s == "nemesis" => Ok(Process::Nemesis),
        other => Err(format!(
            "`:process` must be an integer or :nemesis, found {}",
            describe(other)
        )),
    }
}

fn name_of(mut v: Edn<'_>) -> Option<String> {
    match &mut v {
        Edn::Key(s) | Edn::Str(s) | Edn::Symbol(s) => Some(mem::take(s).into_owned()),
        _ => None,
    }
}

fn non_negative(field: &str, v: &Edn<'_>) -> Result<u64, String> {
    match v {
        Edn::Int(n) if *n >= 0 => Ok(*n as u64),
        other => Err(format!(
            "`:{field}` must be a non-negative integer, found {}",
            describe(other)
        )),
    }
}

/// `"java.net.SocketTimeoutException: Read timed out"` from a
/// `Throwable->map` exception (`{:via [{:type ... :message ...}] :cause ...}`),
/// or `None` when it has no message to show.
fn exception_message(ex: &Edn<'_>) -> Option<String> {
    let text = |e: Option<&Edn<'_>>| match e {
        Some(Edn::Str(s) | Edn::Symbol(s) | Edn::Key(s)) => Some(s.to_string()),
        _ => None,
    };
    let cause = text(ex.get(&Edn::key("cause")));
    let root = match ex.get(&Edn::key("via")) {
        Some(Edn::Vector(via) | Edn::List(via)) => via.last(),
        _ => None,
    };
    let kind = root.and_then(|r| text(r.get(&Edn::key("type"))));
    let message = cause.or_else(|| root.and_then(|r| text(r.get(&Edn::key("message")))));
    match (kind, message) {
        (Some(k), Some(m)) => Some(format!("{k}: {m}")),
        (None, Some(m)) => Some(m),
        (Some(k), None) => Some(k),
        (None, None) => None,
    }
}

/// A short description of a form for error messages.
fn describe(e: &Edn<'_>) -> String {
    let text = e.to_string();
    let what = match e {
        Edn::Vector(_) => "a vector ",
        Edn::List(_) => "a list ",
        Edn::Set(_) => "a set ",
        Edn::Map(_) => "a map ",
        _ => "",
    };
    if text.chars().count() > 40 {
        let cut: String = text.chars().take(40).collect();
        format!("{what}{cut}...")
    } else {
        format!("{what}{text}")
    }
}

/// Converts an EDN value to JSON: keywords and symbols become strings without
/// the colon; vectors, lists and sets become arrays; maps become objects whose
/// keys are rendered as strings; nil is null. Tags are dropped (`#inst "..."`
/// becomes its string). Ratios, big decimals and big integers beyond 64 bits
/// become strings, to stay exact; non-finite floats become `"##NaN"`,
/// `"##Inf"` or `"##-Inf"`.
fn to_json(mut e: Edn<'_>, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!("a value is nested deeper than {MAX_DEPTH} levels"));
    }
    Ok(match &mut e {
        Edn::Nil => Value::Null,
        Edn::Bool(b) => Value::Bool(*b),
        Edn::Int(n) => Value::from(*n),
        Edn::Double(d) => {
            let d = d.into_inner();
            Number::from_f64(d).map_or_else(
                || {
                    Value::from(if d.is_nan() {
                        "##NaN"
                    } else if d > 0.0 {
                        "##Inf"
                    } else {
                        "##-Inf"
                    })
                },
                Value::Number,
            )
        }
        Edn::Rational((n, d)) => Value::String(format!("{n}/{d}")),
        Edn::BigInt(n) => {
            if let Ok(n) = i64::try_from(&*n) {
                Value::from(n)
            } else if let Ok(n) = u64::try_from(&*n) {
                Value::from(n)
            } else {
                Value::String(n.to_string())
            }
        }
        Edn::BigDec(d) => Value::String(d.to_string()),
        Edn::Char(c) => Value::String(c.to_string()),
        Edn::Str(s) | Edn::Key(s) | Edn::Symbol(s) => Value::String(mem::take(s).into_owned()),
        Edn::Vector(items) | Edn::List(items) => Value::Array(
            mem::take(items)
                .into_iter()
                .map(|i| to_json(i, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Edn::Set(items) => Value::Array(
            mem::take(items)
                .into_iter()
                .map(|i| to_json(i, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Edn::Map(entries) => {
            let mut object = Map::new();
            for (k, v) in mem::take(entries) {
                object.insert(key_string(k), to_json(v, depth + 1)?);
            }
            Value::Object(object)
        }
        Edn::Tagged(_, inner) => to_json(mem::replace(inner.as_mut(), Edn::Nil), depth + 1)?,
        other => Value::String(other.to_string()),
    })
}

/// A map key as a JSON object key: names without the colon, numbers as
/// digits, anything else as its EDN text.
fn key_string(mut k: Edn<'_>) -> String {
    match &mut k {
        Edn::Key(s) | Edn::Str(s) | Edn::Symbol(s) => mem::take(s).into_owned(),
        Edn::Int(n) => n.to_string(),
        Edn::Char(c) => c.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Result<Vec<Op>, String> {
        crate::read_history_str("t.edn", text)
            .map(|h| h.ops)
            .map_err(|e| e.to_string())
    }

    fn one(text: &str) -> Op {
        let ops = parse(text).unwrap();
        assert_eq!(ops.len(), 1);
        ops.into_iter().next().unwrap()
    }

    #[test]
    fn values_convert_to_json() {
        let op = one(
            r#"{:type :ok, :f :txn, :process 3, :value [[:r 1 #{2 1}] (:w "x" \c) {:a {1 nil}, "s" 1/3} 123456789012345678901234N 1.5M 2.5 sym/bol]}"#,
        );
        assert_eq!(
            op.value,
            json!([["r", 1, [1, 2]], ["w", "x", "c"], {"a": {"1": null}, "s": "1/3"}, "123456789012345678901234", "1.5", 2.5, "sym/bol"])
        );
    }

    #[test]
    fn small_bigints_are_numbers() {
        let op = one("{:type :ok, :f :read, :process 0, :value [1N 18446744073709551615]}");
        assert_eq!(op.value, json!([1, 18446744073709551615u64]));
    }

    #[test]
    fn composite_map_keys_render_as_edn() {
        let op = one("{:type :ok, :f :read, :process 0, :value {[1 2] :x, :k/ns :y}}");
        assert_eq!(op.value, json!({"[1 2]": "x", "k/ns": "y"}));
    }

    #[test]
    fn exception_becomes_a_message() {
        let op = one(
            r#"{:type :info, :f :write, :process 1, :value 3, :exception {:via [{:type java.io.IOException, :message "outer", :at [a.B c "B.java" 1]} {:type java.net.SocketTimeoutException, :message "Read timed out", :at [java.net.SocketInputStream socketRead0 "SocketInputStream.java" -2]}], :trace [[a b "c" 1]], :cause "Read timed out"}}"#,
        );
        assert_eq!(
            op.error,
            Some(json!("java.net.SocketTimeoutException: Read timed out"))
        );
    }

    #[test]
    fn error_wins_over_exception_and_keeps_its_shape() {
        let op = one(
            r#"{:type :fail, :f :cas, :process 1, :value [1 2], :error [:not-found "no key"], :exception {:cause "x"}}"#,
        );
        assert_eq!(op.error, Some(json!(["not-found", "no key"])));
    }

    #[test]
    fn exception_without_message_is_converted() {
        let op = one("{:type :info, :f :write, :process 1, :exception {:data {:code 7}}}");
        assert_eq!(op.error, Some(json!({"data": {"code": 7}})));
    }

    #[test]
    fn tagged_tuple_sets_key() {
        let op = one(
            "{:type :invoke, :f :cas, :process 1, :value #jepsen.independent/tuple [:k1 [1 2]]}",
        );
        assert_eq!(op.key, Some(json!("k1")));
        assert_eq!(op.value, json!([1, 2]));
        let bad =
            parse("{:type :invoke, :f :cas, :process 1, :value #jepsen.independent/tuple [1 2 3]}")
                .unwrap_err();
        assert!(bad.to_string().contains("[key value]"), "{bad}");
    }

    #[test]
    fn non_finite_doubles_are_strings() {
        let op = one("{:type :ok, :f :read, :process 0, :value [1e400 -1e400]}");
        assert_eq!(op.value, json!(["##Inf", "##-Inf"]));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = format!(
            "{{:type :ok, :f :read, :process 0, :value {}{}}}",
            "[".repeat(1000),
            "]".repeat(1000)
        );
        let err = parse(&deep).unwrap_err();
        assert!(err.contains("nested deeper"), "{err}");
    }
}
