//! `read_history` over JSONL and Jepsen EDN: fixtures in the shapes Jepsen
//! writes, a round trip of a real history through EDN, and malformed inputs
//! whose errors name the line.

// Prints a test's measurements for the person running it. The ban on print
// macros (clippy.toml) guards gauntlet's own output, not its tests'.
#![allow(clippy::disallowed_macros)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use gauntlet_history::{
    Call, Format, History, Op, OpType, PairErrorKind, Process, read_history, read_history_str,
    read_jsonl,
};
use serde_json::{Value, json};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn err(name: &str, text: &str) -> String {
    read_history_str(name, text).unwrap_err().to_string()
}

// ---- Jepsen EDN fixtures ----

#[test]
fn one_op_per_line() {
    let h = read_history(&fixture("jepsen-lines.edn")).unwrap();
    assert_eq!(h.format, Format::Edn);
    assert_eq!(h.source, fixture("jepsen-lines.edn"));
    assert_eq!(h.ops.len(), 16);
    // Line 1 is a comment and line 8 is blank.
    assert_eq!(
        h.lines,
        vec![2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]
    );
    check_jepsen_fixture(&h);
}

#[test]
fn one_vector_over_many_lines() {
    let h = read_history(&fixture("jepsen-vector.edn")).unwrap();
    assert_eq!(h.format, Format::Edn);
    assert_eq!(
        h.lines,
        vec![3, 4, 10, 11, 17, 18, 27, 27, 28, 43, 44, 45, 47, 48, 50, 51]
    );
    check_jepsen_fixture(&h);
    let lines = read_history(&fixture("jepsen-lines.edn")).unwrap();
    assert_eq!(h.ops, lines.ops);
}

fn check_jepsen_fixture(h: &History) {
    let ops = &h.ops;
    for (i, op) in ops.iter().enumerate() {
        assert_eq!(op.index, i as u64);
    }
    assert_eq!(
        ops[0],
        Op {
            time: Some(11959500),
            ..Op::invoke(0, "write", json!(3))
        }
    );
    // A tagged jepsen.history.Op record.
    assert_eq!(ops[3].kind, OpType::Ok);
    assert_eq!(ops[3].process, Process::Client(1));
    assert_eq!(ops[3].f, "read");
    assert_eq!(ops[3].value, json!(3));
    // Nemesis ops: keywords and a nested map of sets.
    assert_eq!(ops[4].process, Process::Nemesis);
    assert_eq!(ops[4].f, "start-partition");
    assert_eq!(ops[4].value, json!("majority"));
    assert_eq!(
        ops[5].value,
        json!(["isolated", {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}])
    );
    // A plain pair stays a value.
    assert_eq!(ops[6].key, None);
    assert_eq!(ops[6].value, json!([3, 4]));
    assert_eq!(ops[7].value, json!([["append", "x", 1], ["r", "y", null]]));
    // `:error` wins over `:exception`.
    assert_eq!(ops[8].kind, OpType::Info);
    assert_eq!(ops[8].error, Some(json!("timeout")));
    assert_eq!(
        ops[9].value,
        json!([["append", "x", 1], ["r", "y", [1, 2]]])
    );
    // Tagged independent tuples.
    assert_eq!(ops[10].key, Some(json!("k1")));
    assert_eq!(ops[10].value, json!(5));
    assert_eq!(ops[11].kind, OpType::Fail);
    assert_eq!(
        ops[11].error,
        Some(json!(["not-leader", {"node": "n2", "term": 3}]))
    );
    // An exception alone becomes its message.
    assert_eq!(
        ops[13].error,
        Some(json!("java.lang.RuntimeException: boom"))
    );
    // `:f` as a string; unknown keys dropped.
    assert_eq!(ops[15].f, "read");
    assert_eq!(ops[15].time, Some(41000000));

    let calls = h.pair_calls().unwrap();
    assert_eq!(
        calls,
        vec![
            Call {
                invoke: 0,
                completion: Some(2)
            },
            Call {
                invoke: 1,
                completion: Some(3)
            },
            Call {
                invoke: 6,
                completion: Some(8)
            },
            Call {
                invoke: 7,
                completion: Some(9)
            },
            Call {
                invoke: 10,
                completion: Some(11)
            },
            Call {
                invoke: 12,
                completion: Some(13)
            },
            Call {
                invoke: 15,
                completion: None
            },
        ]
    );
}

#[test]
fn format_is_sniffed_without_a_known_extension() {
    let edn = std::fs::read_to_string(fixture("jepsen-lines.edn")).unwrap();
    let h = read_history_str("history.txt", &edn).unwrap();
    assert_eq!(h.format, Format::Edn);
    assert_eq!(h.ops.len(), 16);
    let h = read_history_str("-", "\n{:type :invoke, :f :read, :process 0}\n").unwrap();
    assert_eq!((h.format, h.lines.clone()), (Format::Edn, vec![2]));
    let h = read_history_str(
        "-",
        "\n\n{\"type\":\"invoke\",\"f\":\"read\",\"process\":0}\n",
    )
    .unwrap();
    assert_eq!((h.format, h.lines.clone()), (Format::Jsonl, vec![3]));
    assert_eq!(Format::sniff("  [ {:type"), Format::Edn);
    assert_eq!(Format::sniff("#jepsen.history.Op{"), Format::Edn);
    assert_eq!(Format::sniff(""), Format::Jsonl);
}

#[test]
fn jsonl_records_lines() {
    let text = "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n\n\n{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":1}\n";
    let h = read_history_str("h.jsonl", text).unwrap();
    assert_eq!(h.format, Format::Jsonl);
    assert_eq!(h.lines, vec![1, 4]);
    assert_eq!(h.ops[1].index, 1);
}

#[test]
fn pair_error_names_the_line() {
    let text = "{:type :invoke, :f :read, :process 0, :index 0}\n\n{:type :ok, :f :write, :process 0, :index 1}\n";
    let h = read_history_str("h.edn", text).unwrap();
    let e = h.pair_calls().unwrap_err();
    assert_eq!(e.line, Some(3));
    assert!(matches!(e.kind, PairErrorKind::FunctionMismatch { .. }));
    assert_eq!(
        e.to_string(),
        "op 1 (line 3): completes \"write\" but its invoke (op 0) was \"read\""
    );
}

#[test]
fn split_independent_tuples_on_request() {
    let text = r#"{:type :invoke, :f :cas, :process 0, :value [:x [1 2]]}
{:type :info, :f :start, :process :nemesis, :value [:n1 :n2]}
{:type :ok, :f :cas, :process 0, :value #jepsen.independent/tuple [:x [1 2]]}
{:type :invoke, :f :read, :process 1, :value nil}
"#;
    let mut h = read_history_str("h.edn", text).unwrap();
    assert_eq!(h.ops[0].key, None);
    assert_eq!(h.split_independent_tuples(), 1);
    assert_eq!(h.ops[0].key, Some(json!("x")));
    assert_eq!(h.ops[0].value, json!([1, 2]));
    // The nemesis, already keyed ops and non-pairs are left alone.
    assert_eq!(h.ops[1].value, json!(["n1", "n2"]));
    assert_eq!(h.ops[2].key, Some(json!("x")));
    assert_eq!(h.ops[2].value, json!([1, 2]));
    assert_eq!(h.ops[3].key, None);
}

// ---- Round trip: a real history through EDN ----

/// Writes a JSON value as EDN: object keys that can be keywords become
/// keywords, strings stay strings.
fn edn_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("nil"),
        Value::Bool(b) => write!(out, "{b}").unwrap(),
        Value::Number(n) => write!(out, "{n}").unwrap(),
        Value::String(s) => edn_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                edn_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let keyword = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_?!*".contains(c));
                if keyword {
                    write!(out, ":{k} ").unwrap();
                } else {
                    edn_string(out, k);
                    out.push(' ');
                }
                edn_value(out, v);
            }
            out.push('}');
        }
    }
}

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

/// One op as Jepsen would print it; the key, if any, as a tagged tuple.
fn edn_op(op: &Op, tagged: bool) -> String {
    let mut out = String::new();
    if tagged {
        out.push_str("#jepsen.history.Op");
    }
    write!(out, "{{:index {}", op.index).unwrap();
    if let Some(t) = op.time {
        write!(out, ", :time {t}").unwrap();
    }
    let kind = serde_json::to_value(op.kind).unwrap();
    write!(out, ", :type :{}", kind.as_str().unwrap()).unwrap();
    match op.process {
        Process::Client(p) => write!(out, ", :process {p}").unwrap(),
        Process::Nemesis => out.push_str(", :process :nemesis"),
    }
    write!(out, ", :f :{}, :value ", op.f).unwrap();
    if let Some(k) = &op.key {
        out.push_str("#jepsen.independent/tuple [");
        edn_value(&mut out, k);
        out.push(' ');
        edn_value(&mut out, &op.value);
        out.push(']');
    } else {
        edn_value(&mut out, &op.value);
    }
    if let Some(e) = &op.error {
        out.push_str(", :error ");
        edn_value(&mut out, e);
    }
    if op.is_final {
        out.push_str(", :final true");
    }
    out.push('}');
    out
}

fn round_trip(path: &Path) {
    let original = read_history(path).unwrap();
    assert_eq!(original.format, Format::Jsonl);
    assert_eq!(original.ops, read_jsonl(path).unwrap());

    // One op per line.
    let lines: Vec<String> = original.ops.iter().map(|op| edn_op(op, false)).collect();
    let back = read_history_str("h.edn", &lines.join("\n")).unwrap();
    assert_eq!(back.ops, original.ops, "{}", path.display());
    assert_eq!(back.lines, (1..=original.ops.len()).collect::<Vec<_>>());

    // One vector of tagged records, two lines per op.
    let mut text = String::from("[\n");
    for op in &original.ops {
        writeln!(text, "  ; op {}\n  {}", op.index, edn_op(op, true)).unwrap();
    }
    text.push(']');
    let back = read_history_str("h.edn", &text).unwrap();
    assert_eq!(back.ops, original.ops, "{}", path.display());
    assert_eq!(
        back.lines,
        (0..original.ops.len())
            .map(|i| 3 + 2 * i)
            .collect::<Vec<_>>()
    );
}

#[test]
fn etcd_history_round_trips_through_edn() {
    let path = fixture("etcd_000.jsonl");
    round_trip(&path);
    let h = read_history(&path).unwrap();
    assert_eq!(h.ops.len(), 170);
    assert!(h.ops.iter().any(|op| op.f == "cas"));
    h.pair_calls().unwrap();
}

/// The reference histories kept in the repository (`testdata/histories`).
#[test]
fn reference_histories_round_trip_and_pair() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/histories");
    let sets = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (the repository's test data)", dir.display()));
    let mut seen = 0;
    for set in sets.flatten().filter(|e| e.path().is_dir()) {
        for file in std::fs::read_dir(set.path()).unwrap().flatten() {
            let path = file.path();
            if path.extension().is_some_and(|e| e == "jsonl") {
                round_trip(&path);
                read_history(&path)
                    .unwrap()
                    .pair_calls()
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                seen += 1;
            }
        }
    }
    assert!(seen > 0, "no histories under {}", dir.display());
}

// ---- Malformed input: every error names the line ----

#[test]
fn truncated_map_in_a_one_per_line_file() {
    let text = "{:type :invoke, :f :read, :process 0}\n{:type :ok, :f :read, :process 0, :value [1 2\n{:type :invoke, :f :read, :process 1}\n";
    let e = err("h.edn", text);
    assert!(e.starts_with("h.edn:2: "), "{e}");
    assert!(
        e.contains("truncated") && e.contains("line 3 starts another"),
        "{e}"
    );
}

#[test]
fn truncated_map_inside_a_vector() {
    let text = "[{:type :invoke, :f :read, :process 0}\n {:type :ok, :f :read\n {:type :invoke, :f :read, :process 1}\n]\n";
    let e = err("h.edn", text);
    assert!(e.starts_with("h.edn:2: "), "{e}");
    assert!(e.contains("not closed"), "{e}");
}

#[test]
fn truncated_file() {
    let text = "[{:type :invoke, :f :read, :process 0}\n {:type :ok, :f :read, :process 0}\n";
    let e = err("h.edn", text);
    assert_eq!(e, "h.edn:1: the history's opening [ is never closed by a ]");
    let text = "{:type :invoke, :f :read, :process 0}\n\n{:type :ok, :f :read, :proc";
    let e = err("h.edn", text);
    assert!(e.starts_with("h.edn:3: "), "{e}");
    assert!(e.contains("not closed") && e.contains("file ends"), "{e}");
    let text = "{:type :invoke, :f :read, :process 0, :value \"abc}\n";
    let e = err("h.edn", text);
    assert!(
        e.starts_with("h.edn:1: ") && e.contains("not closed"),
        "{e}"
    );
}

#[test]
fn missing_fields() {
    let text = "{:type :invoke, :f :read, :process 0}\n;\n\n{:type :ok, :f :read, :value 1}\n";
    assert_eq!(err("h.edn", text), "h.edn:4: missing `:process`");
    let text = "{:process 0, :f :read}";
    assert_eq!(err("h.edn", text), "h.edn:1: missing `:type`");
    let text = "[\n{:process 0, :type :ok}]";
    assert_eq!(err("h.edn", text), "h.edn:2: missing `:f`");
}

#[test]
fn unknown_type_and_bad_fields() {
    let text = "{:type :invoke, :f :read, :process 0}\n{:type :crashed, :f :read, :process 0}\n";
    assert_eq!(
        err("h.edn", text),
        "h.edn:2: unknown `:type` :crashed (expected :invoke, :ok, :fail or :info)"
    );
    assert_eq!(
        err("h.edn", "{:type :ok, :f :read, :process -1}"),
        "h.edn:1: `:process` -1 is negative"
    );
    assert_eq!(
        err("h.edn", "{:type :ok, :f :read, :process :c1}"),
        "h.edn:1: `:process` must be an integer or :nemesis, found :c1"
    );
    assert_eq!(
        err("h.edn", "{:type :ok, :f :read, :process 1, :time \"now\"}"),
        "h.edn:1: `:time` must be a non-negative integer, found \"now\""
    );
    assert_eq!(
        err("h.edn", "{:type :ok, :f [1], :process 1}"),
        "h.edn:1: `:f` must be a keyword or a string"
    );
}

#[test]
fn not_an_op_map() {
    let text = "{:type :invoke, :f :read, :process 0}\n[:oops]\n";
    assert_eq!(
        err("h.edn", text),
        "h.edn:2: expected an op map, found a vector [:oops]"
    );
}

#[test]
fn reader_errors_name_line_and_column() {
    let text = "{:type :invoke, :f :read, :process 0}\n{:type :ok, :f :read, :process 0, :value \"caf\\u00e9\"}\n";
    let e = err("h.edn", text);
    assert!(e.starts_with("h.edn:2: column "), "{e}");
    assert!(e.contains("escape"), "{e}");

    let e = err("h.edn", "{:type :ok, :f :read, :process 0, :value}");
    assert!(
        e.starts_with("h.edn:1: column 41: a map has a key without a value"),
        "{e}"
    );

    let e = err("h.edn", "\n{:type :ok, :f :read, :process 0, :type :info}");
    assert!(
        e.starts_with("h.edn:2: ") && e.contains("same key twice"),
        "{e}"
    );

    let e = err("h.edn", "{:type :ok, :f :read, :process 0}}\n");
    assert!(
        e.starts_with("h.edn:1: ") && e.contains("unexpected `}`"),
        "{e}"
    );

    let e = err(
        "h.edn",
        "{:type :ok, :f :read, :process 0}\n{:type :ok, :f :read, :process 0, :value ##NaN}",
    );
    assert_eq!(
        e,
        "h.edn:2: column 42: ##NaN, ##Inf and ##-Inf are not supported"
    );

    // Columns count characters; errors next to multi-byte ones.
    let e = err("h.edn", "{:type :ok, :f :読む, :process 0, :value é}}");
    assert_eq!(e, "h.edn:1: column 42: unexpected `}`");
    let e = err("h.edn", "{:type :ok, :f :読む, :process 0, :value [é}");
    assert!(e.starts_with("h.edn:1: "), "{e}");

    let e = err("h.edn", "[{:type :ok, :f :read, :process 0}]\n{:type :ok}");
    assert!(e.starts_with("h.edn:2: unexpected content after"), "{e}");
}

#[test]
fn multi_line_op_error_points_inside_it() {
    let text = "[{:type :ok,\n  :f :read,\n  :process 0,\n  :value 12abc}]";
    let e = err("h.edn", text);
    assert!(e.starts_with("h.edn:4: column "), "{e}");
    assert!(e.contains("invalid number"), "{e}");
}

#[test]
fn wrong_extension_gets_a_hint() {
    let e = err("h.jsonl", "{:type :ok, :f :read, :process 0}\n");
    assert!(e.starts_with("h.jsonl:1: "), "{e}");
    assert!(e.contains("looks like EDN"), "{e}");
}

#[test]
fn invalid_utf8_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.edn");
    std::fs::write(&path, b"{:type :ok, :f :read, :process 0}\n{:f \"\xff\"}\n").unwrap();
    let e = read_history(&path).unwrap_err().to_string();
    assert!(
        e.ends_with("h.edn:2: column 6: the file is not valid UTF-8"),
        "{e}"
    );
}

#[test]
fn missing_file_names_the_file() {
    let e = read_history(Path::new("/nonexistent/h.edn"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("/nonexistent/h.edn: "), "{e}");
}

// ---- Metadata ----

#[test]
fn edn_with_metadata_is_edn_and_the_metadata_is_dropped() {
    let text = "^:meta {:type :invoke, :f :read, :process 0}\n\
                ^{:doc \"x\"} {:type :ok, :f :read, :process 0, :value ^:unsorted [1 2]}\n";
    for name in ["history.txt", "-", "h.edn"] {
        let h = read_history_str(name, text).unwrap();
        assert_eq!(h.format, Format::Edn, "{name}");
        assert_eq!(h.lines, vec![1, 2]);
        assert_eq!(h.ops[1].kind, OpType::Ok);
        assert_eq!(h.ops[1].value, json!([1, 2]));
    }
    assert_eq!(Format::sniff("\n ^:meta {:type"), Format::Edn);
    // Metadata on the history, and on a key: nothing shifts.
    let h = read_history_str(
        "-",
        "^{:jepsen \"0.3\"}\n[{:type :invoke, ^:k :f :read, :process 0}\n {:type :ok :f :read :process 0}]",
    )
    .unwrap();
    assert_eq!(h.ops.len(), 2);
    assert_eq!((h.ops[0].f.as_str(), h.lines.clone()), ("read", vec![2, 3]));
    // Metadata with nothing after it is an error, not a shifted map.
    let e = err("h.edn", "{:type :ok, :f :read, :process 0, :value ^:m}");
    assert!(e.starts_with("h.edn:1: "), "{e}");
}

// ---- Streams, devices and garbage ----

#[test]
fn a_fifo_is_streamed() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("h.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let text = std::fs::read(fixture("jepsen-vector.edn")).unwrap();
            std::fs::write(&fifo, text).unwrap();
        })
    };
    let h = read_history(&fifo).unwrap();
    writer.join().unwrap();
    assert_eq!(h.format, Format::Edn);
    assert_eq!(
        h.ops,
        read_history(&fixture("jepsen-lines.edn")).unwrap().ops
    );
}

#[test]
fn binary_devices_fail_at_once() {
    let t = std::time::Instant::now();
    let e = read_history(Path::new("/dev/zero")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/dev/zero:1: column 1: a NUL byte: this is binary data, not a history (JSONL or EDN text)"
    );
    let e = read_history(Path::new("/dev/urandom")).unwrap_err();
    assert!(
        matches!(e, gauntlet_history::HistoryError::Malformed { line, .. } if line < 20),
        "{e}"
    );
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn an_endless_line_stops_at_the_limit() {
    let input = std::io::Read::chain(
        &b"{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n"[..],
        std::io::repeat(b' '),
    );
    let e = gauntlet_history::read_history_from(Path::new("-"), input, None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "-:2: the line is longer than 16 MiB (the limit for one op)"
    );
    assert_eq!(e.line(), Some(2));
    let input = std::io::Read::chain(
        &b"[{:type :ok, :f :read, :value \""[..],
        std::io::repeat(b'x'),
    );
    let e = gauntlet_history::read_history_from(Path::new("-"), input, None).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("-:1: the op that starts on this line"),
        "{e}"
    );
}

/// Inputs the fuzzer found (fuzz/, `history_jsonl` and `history_edn`):
/// binary data after a few lines sent those lines to parser threads,
/// which a small input never needs (and LeakSanitizer flagged the threads'
/// leftovers). Now read on the calling thread, they fail at their first
/// bad line, before the binary bytes (lines 4 and 8).
#[test]
fn fuzz_found_binary_after_good_lines() {
    for (file, name, line) in [
        ("jsonl-binary-after-lines", "h.jsonl", 1),
        ("edn-binary-after-lines", "h.edn", 4),
    ] {
        let bytes = std::fs::read(fixture("fuzz").join(file)).unwrap();
        let e = gauntlet_history::read_history_from(
            Path::new(name),
            &bytes[..],
            Format::from_extension(Path::new(name)),
        )
        .unwrap_err();
        assert_eq!(e.line(), Some(line), "{file}: {e}");
    }
}

#[test]
fn a_directory_is_an_io_error() {
    let e = read_history(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap_err();
    assert!(
        matches!(e, gauntlet_history::HistoryError::Io { .. }),
        "{e}"
    );
}

// ---- Large input ----

/// 200k ops in both formats. Run with
/// `cargo test --release -p gauntlet-history --test read_history -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn large_history_read_time() {
    let n = 200_000;
    let mut lines = String::new();
    let mut jsonl = String::new();
    for i in 0..n {
        let p = (i / 2) % 50;
        let mut op = if i % 2 == 0 {
            Op::invoke(p, if i % 6 == 0 { "write" } else { "read" }, json!(i))
        } else {
            Op::invoke(p, if i % 6 == 1 { "write" } else { "read" }, json!(null))
                .complete(OpType::Ok, json!([i, {"k": "v"}]))
        };
        op.index = i;
        op.time = Some(i * 1000);
        lines.push_str(&edn_op(&op, i % 3 == 0));
        lines.push('\n');
        jsonl.push_str(&serde_json::to_string(&op).unwrap());
        jsonl.push('\n');
    }
    let vector = format!("[{lines}]");
    for (name, text) in [("h.edn", &lines), ("h.edn", &vector), ("h.jsonl", &jsonl)] {
        // The best of five: a shared machine is noisy.
        let mut took = std::time::Duration::MAX;
        let mut h = None;
        for _ in 0..5 {
            let t = std::time::Instant::now();
            let read = read_history_str(name, text).unwrap();
            took = took.min(t.elapsed());
            h = Some(read);
        }
        let h = h.unwrap();
        assert_eq!(h.ops.len(), n as usize);
        eprintln!(
            "{name} ({:?}, {} MB): {n} ops in {took:?}",
            h.format,
            text.len() / 1_000_000
        );
        let t = std::time::Instant::now();
        h.pair_calls().unwrap();
        eprintln!("  pair_calls: {:?}", t.elapsed());
    }
}
