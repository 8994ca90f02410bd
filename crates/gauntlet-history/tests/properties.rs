//! Property tests of the history readers: any history written as JSONL or
//! as EDN (in the layouts Jepsen and people write) reads back as itself,
//! with each op's line; any input at all reads or fails with a typed error
//! that names a line of it, and never panics.

use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

use gauntlet_history::{Format, History, HistoryError, Op, OpType, Process, read_history_from};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// A reader that gives at most `n` bytes a call, as a pipe may.
struct Trickle<'a> {
    bytes: &'a [u8],
    n: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.bytes.len().min(self.n).min(buf.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

fn read(name: &str, bytes: &[u8], trickle: usize) -> Result<History, HistoryError> {
    let path = Path::new(name);
    read_history_from(
        path,
        Trickle { bytes, n: trickle },
        Format::from_extension(path),
    )
}

// ---- Strategies ----

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,6}"
}

/// JSON values EDN can say too: no floats (EDN has its own), integers in
/// i64, object keys that are keywords.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[ -~]{0,8}".prop_map(Value::String),
        "\\PC{0,6}".prop_map(Value::String),
        "[a\"\\\\\n\t\r]{0,4}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(name(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn op() -> impl Strategy<Value = Op> {
    (
        prop_oneof![(0u64..10).prop_map(Process::Client), Just(Process::Nemesis)],
        prop_oneof![
            Just(OpType::Invoke),
            Just(OpType::Ok),
            Just(OpType::Fail),
            Just(OpType::Info)
        ],
        name(),
        prop::option::of(prop_oneof![
            (0i64..100).prop_map(Value::from),
            name().prop_map(Value::String)
        ]),
        value(),
        prop::option::of(0u64..=i64::MAX as u64),
        // `"error": null` is no error in JSONL.
        prop::option::of(value().prop_filter("not null", |v| !v.is_null())),
        any::<bool>(),
    )
        .prop_map(|(process, kind, f, key, value, time, error, is_final)| Op {
            index: 0,
            time,
            process,
            kind,
            f,
            key,
            value,
            error,
            is_final,
        })
}

fn history() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 0..12).prop_map(|mut ops| {
        for (i, op) in ops.iter_mut().enumerate() {
            op.index = i as u64;
        }
        ops
    })
}

// ---- Writing EDN ----

fn edn_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `meta` puts metadata in front of collections.
fn edn_value(out: &mut String, v: &Value, meta: bool) {
    match v {
        Value::Null => out.push_str("nil"),
        Value::Bool(b) => write!(out, "{b}").unwrap(),
        Value::Number(n) => write!(out, "{n}").unwrap(),
        Value::String(s) => edn_string(out, s),
        Value::Array(items) => {
            if meta {
                out.push_str("^:v ");
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                edn_value(out, item, meta);
            }
            out.push(']');
        }
        Value::Object(map) => {
            if meta {
                out.push_str("^{:tag \"]\"} ");
            }
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write!(out, ":{k} ").unwrap();
                edn_value(out, v, meta);
            }
            out.push('}');
        }
    }
}

/// How an EDN history is laid out.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// One vector of ops rather than one op per line.
    vector: bool,
    /// Each key on its own line, as pretty-printers do.
    pretty: bool,
    /// `#jepsen.history.Op{...}` records.
    tagged: bool,
    /// Metadata on ops and values.
    meta: bool,
    /// Comments and discarded forms between ops.
    noise: bool,
}

fn layout() -> impl Strategy<Value = Layout> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(vector, pretty, tagged, meta, noise)| Layout {
            vector,
            pretty,
            tagged,
            meta,
            noise,
        })
}

/// The EDN text and the line each op starts on.
fn edn_history(ops: &[Op], l: Layout) -> (String, Vec<usize>) {
    let mut out = String::new();
    let mut lines = Vec::new();
    let mut line = 1;
    if l.vector {
        out.push_str("[\n");
        line += 1;
    }
    let sep = if l.pretty { ",\n  " } else { ", " };
    for op in ops {
        if l.noise {
            out.push_str("; an op follows {\n#_ {:dropped [1 2]}\n");
            line += 2;
        }
        if l.meta {
            out.push_str("^:op ");
        }
        lines.push(line);
        if l.tagged {
            out.push_str("#jepsen.history.Op");
        }
        write!(out, "{{:index {}", op.index).unwrap();
        if let Some(t) = op.time {
            write!(out, "{sep}:time {t}").unwrap();
        }
        let kind = serde_json::to_value(op.kind).unwrap();
        write!(out, "{sep}:type :{}", kind.as_str().unwrap()).unwrap();
        match op.process {
            Process::Client(p) => write!(out, "{sep}:process {p}").unwrap(),
            Process::Nemesis => write!(out, "{sep}:process :nemesis").unwrap(),
        }
        write!(out, "{sep}:f :{}{sep}:value ", op.f).unwrap();
        if let Some(k) = &op.key {
            out.push_str("#jepsen.independent/tuple [");
            edn_value(&mut out, k, false);
            out.push(' ');
            edn_value(&mut out, &op.value, l.meta);
            out.push(']');
        } else {
            edn_value(&mut out, &op.value, l.meta);
        }
        if let Some(e) = &op.error {
            write!(out, "{sep}:error ").unwrap();
            edn_value(&mut out, e, l.meta);
        }
        if op.is_final {
            write!(out, "{sep}:final true").unwrap();
        }
        out.push_str("}\n");
        // Newlines inside strings count too.
        line = 1 + out.matches('\n').count();
    }
    if l.vector {
        out.push(']');
    }
    (out, lines)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// JSONL, with blank lines anywhere, reads back as written, each op
    /// with its line, however the bytes trickle in.
    #[test]
    fn jsonl_round_trips(ops in history(), blanks in prop::collection::vec(0usize..3, 12), trickle in 1usize..40) {
        let mut text = String::new();
        let mut lines = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            for _ in 0..blanks[i] {
                text.push_str(" \n");
            }
            lines.push(1 + text.matches('\n').count());
            text.push_str(&serde_json::to_string(op).unwrap());
            text.push('\n');
        }
        let h = read("h.jsonl", text.as_bytes(), trickle).unwrap();
        prop_assert_eq!(h.format, Format::Jsonl);
        prop_assert_eq!(&h.ops, &ops);
        prop_assert_eq!(&h.lines, &lines);
        // Sniffed, the same.
        let sniffed = read("-", text.as_bytes(), trickle).unwrap();
        prop_assert_eq!(sniffed.ops, ops);
    }

    /// EDN in any layout reads back as the history it says, each op on the
    /// line it starts on.
    #[test]
    fn edn_round_trips(ops in history(), layout in layout(), trickle in 1usize..40) {
        let (text, lines) = edn_history(&ops, layout);
        let h = read("h.edn", text.as_bytes(), trickle)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&h.ops, &ops, "{}", text);
        prop_assert_eq!(&h.lines, &lines, "{}", text);
        if !ops.is_empty() || layout.vector {
            let sniffed = read("history", text.as_bytes(), usize::MAX).unwrap();
            prop_assert_eq!(sniffed.format, Format::Edn, "{}", text);
            prop_assert_eq!(sniffed.ops, ops);
        }
    }

    /// Bytes of any kind: a history or a typed error naming a line of the
    /// input; never a panic.
    #[test]
    fn any_bytes_read_or_fail_at_a_line(bytes in prop::collection::vec(any::<u8>(), 0..400), name in "h\\.jsonl|h\\.edn|-", trickle in 1usize..50) {
        check_any(&name, &bytes, trickle)?;
    }

    /// Text made of the pieces histories are made of, shuffled: the same.
    #[test]
    fn history_like_text_reads_or_fails_at_a_line(
        pieces in prop::collection::vec(
            prop_oneof![
                Just("{"), Just("}"), Just("["), Just("]"), Just("("), Just(")"), Just("\""),
                Just("\\"), Just("#"), Just("#_"), Just("^"), Just("^:m "), Just(";"), Just("\n"),
                Just(" "), Just(","), Just(":type"), Just(":invoke"), Just(":ok"), Just(":f"),
                Just(":read"), Just(":process"), Just("0"), Just("-1"), Just(":value"), Just("nil"),
                Just("#jepsen.history.Op"), Just("#jepsen.independent/tuple"), Just("\"type\":"),
                Just("\"invoke\""), Just("\"process\":"), Just("\"f\":"), Just("\"r\""), Just("é"),
                Just("\u{feff}"), Just("##Inf"), Just("1N"), Just("1/2"), Just("\\newline"),
            ],
            0..60,
        ),
        name in "h\\.jsonl|h\\.edn|-",
        trickle in 1usize..50,
    ) {
        let text: String = pieces.concat();
        check_any(&name, text.as_bytes(), trickle)?;
    }
}

fn check_any(name: &str, bytes: &[u8], trickle: usize) -> Result<(), TestCaseError> {
    let lines = 1 + bytes.iter().filter(|&&b| b == b'\n').count();
    match read(name, bytes, trickle) {
        Ok(h) => {
            prop_assert_eq!(h.ops.len(), h.lines.len());
            prop_assert!(h.lines.windows(2).all(|w| w[0] <= w[1]));
            prop_assert!(h.lines.iter().all(|&l| (1..=lines).contains(&l)));
            // The same bytes all at once read the same.
            prop_assert_eq!(read(name, bytes, usize::MAX).ok(), Some(h));
        }
        Err(e) => {
            let line = e.line();
            prop_assert!(
                line.is_some_and(|l| (1..=lines).contains(&l)),
                "{e}: line outside 1..={lines}"
            );
            prop_assert!(e.to_string().starts_with(&format!("{name}:")), "{e}");
            let whole = read(name, bytes, usize::MAX)
                .map(|_| ())
                .map_err(|e| e.to_string());
            prop_assert_eq!(whole, Err(e.to_string()));
        }
    }
    Ok(())
}
