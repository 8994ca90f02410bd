//! `gauntlet check` on real histories with known verdicts, on bad input, and
//! `gauntlet test -w lin-kv` end to end.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{TestRun, gauntlet, stderr, stdout};

fn reference_histories() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/histories")
}

fn check(args: &[&str]) -> std::process::Output {
    Command::new(gauntlet())
        .arg("check")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn every_reference_history_gets_its_expected_verdict() {
    let dir = reference_histories();
    let table =
        std::fs::read_to_string(dir.join("expected.tsv")).expect("testdata/histories/expected.tsv");
    let mut checked = 0;
    for line in table.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, model, expected) = (cols[0], cols[1], cols[2]);
        let path = dir.join(file);
        let out = check(&["--model", model, path.to_str().unwrap()]);
        let want = match expected {
            "valid" => 0,
            "invalid" => 1,
            other => panic!("unexpected verdict {other:?} in expected.tsv"),
        };
        assert_eq!(
            out.status.code(),
            Some(want),
            "{file}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        checked += 1;
    }
    assert!(checked >= 24, "only {checked} histories listed");
}

#[test]
fn the_html_of_an_invalid_history_shows_where_it_broke() {
    let tmp = tempfile::tempdir().unwrap();
    let html = tmp.path().join("linear.html");
    let history = reference_histories().join("kv/c10-bad.jsonl");
    let out = check(&[
        "--model",
        "kv",
        history.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("longest linearizable prefix"), "{text}");
    let page = std::fs::read_to_string(&html).unwrap();
    // The failing key's ops as bars, the prefix numbered, the stuck op in red.
    assert!(
        page.contains("key &quot;0&quot;"),
        "the page names the failing key"
    );
    assert!(page.contains("#1 "), "the linearization is numbered");
    assert!(
        page.contains(r##"stroke="#d00""##),
        "a stuck op is outlined"
    );
    assert!(
        page.contains("<polyline"),
        "the partial linearization is drawn"
    );
    assert!(
        !page.contains("<script src") && !page.contains("<link"),
        "self-contained"
    );
}

#[test]
fn json_output_has_the_common_result_shape() {
    let history = reference_histories().join("etcd/etcd_002.jsonl");
    let out = check(&[
        "--model",
        "cas-register",
        history.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["valid"], true);
    assert_eq!(result["checker"], "linearizable");
}

#[test]
fn jepsen_edn_histories_are_read() {
    let tmp = tempfile::tempdir().unwrap();
    let edn = tmp.path().join("history.edn");
    std::fs::write(
        &edn,
        "{:type :invoke, :f :write, :value 1, :process 0, :time 10, :index 0}\n\
         {:type :ok, :f :write, :value 1, :process 0, :time 20, :index 1}\n\
         {:type :info, :f :start-partition, :value [:isolated {\"n1\" #{\"n2\"}}], :process :nemesis, :time 25, :index 2}\n\
         {:type :invoke, :f :read, :value nil, :process 1, :time 30, :index 3}\n\
         {:type :ok, :f :read, :value 2, :process 1, :time 40, :index 4}\n",
    )
    .unwrap();
    let out = check(&["--model", "register", edn.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("read → 2"), "{}", stdout(&out));
}

#[test]
fn bad_input_names_the_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("h.jsonl");
    std::fs::write(
        &path,
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n\
         {\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":1}\n\
         {\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":1}\n",
    )
    .unwrap();
    let out = check(&["--model", "register", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(254));
    let err = stderr(&out);
    assert!(err.contains("h.jsonl:3"), "{err}");

    std::fs::write(&path, "{\"process\":0,\"type\":\"invoke\"\n").unwrap();
    let out = check(&["--model", "register", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(254));
    assert!(stderr(&out).contains("h.jsonl:1"), "{}", stderr(&out));

    let out = check(&["--model", "registr", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(254));
    assert!(
        stderr(&out).contains("cas-register"),
        "lists the models: {}",
        stderr(&out)
    );

    let out = check(&["--model", "register", "/no/such/history.jsonl"]);
    assert_eq!(out.status.code(), Some(254));
    assert!(stderr(&out).contains("/no/such/history.jsonl"));
}

#[test]
fn binary_input_fails_at_its_first_line_without_reading_on() {
    for device in ["/dev/urandom", "/dev/zero"] {
        let started = std::time::Instant::now();
        let out = check(&["--model", "register", device]);
        assert_eq!(out.status.code(), Some(254), "{device}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(&format!("{device}:")), "{err}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{device} took {:?}",
            started.elapsed()
        );
    }
    let out = check(&["--model", "register", "/dev/zero"]);
    assert!(
        stderr(&out).contains("/dev/zero:1: column 1: a NUL byte: this is binary data"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn edn_with_metadata_is_read_as_edn() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("history"); // no extension: sniffed
    std::fs::write(
        &path,
        "^:jepsen {:type :invoke, :f :write, :value 1, :process 0}\n\
         ^{:node \"n1\"} {:type :ok, :f :write, :value ^:v 1, :process 0}\n",
    )
    .unwrap();
    let out = check(&["--model", "register", path.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("1 calls (1 ok"), "{}", stdout(&out));
}

/// An empty history, or one where nothing completed ok, has nothing to
/// check: `unknown` (exit 2), and the text says why, as the JSON does.
#[test]
fn nothing_to_check_is_unknown_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let info = tmp.path().join("info.jsonl");
    std::fs::write(
        &info,
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n\
         {\"process\":0,\"type\":\"info\",\"f\":\"write\",\"value\":1}\n",
    )
    .unwrap();
    for path in [&empty, &info] {
        let out = check(&["--model", "register", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
        let text = stdout(&out);
        assert!(
            text.contains("unknown: nothing to check (no operation completed ok)"),
            "{text}"
        );
        assert!(!text.contains("in time"), "{text}");

        let out = check(&["--model", "register", "--json", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2));
        let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(json["valid"], "unknown");
        assert!(
            json["evidence"][0]["problem"]
                .as_str()
                .is_some_and(|p| p.contains("nothing to check")),
            "{json}"
        );
    }
}

#[test]
fn out_of_time_is_unknown_never_valid() {
    let history = reference_histories().join("kv/c10-ok.jsonl");
    let out = check(&[
        "--model",
        "kv",
        "--no-split",
        "--timeout",
        "0ms",
        history.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("unknown: the check could not decide in time"),
        "{}",
        stdout(&out)
    );
}

fn lin_kv(example: &str, nemesis: &str) -> TestRun {
    TestRun::new("lin-kv", example)
        .arg("--node-count", 3)
        .arg("--concurrency", "2n")
        .arg("--time-limit", 5)
        .arg("--rate", 60)
        .arg("--latency", 5)
        .arg("--nemesis", nemesis)
        .arg("--nemesis-interval", 0.5)
        .arg("--rpc-timeout", 1)
        .arg("--seed", 4)
}

#[test]
fn a_lin_kv_proxy_is_linearizable_under_faults() {
    let run = lin_kv("node-lin-kv-proxy", "partition,kill,pause");
    let out = run.run();
    let results = run.results();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let wl = &results["checks"]["workload"];
    assert_eq!(wl["checker"], "linearizable");
    assert!(wl["ok-count"].as_u64().unwrap() > 50, "{wl}");
}

#[test]
fn a_node_serving_reads_from_a_local_cache_is_not_linearizable() {
    let run = lin_kv("broken-lin-kv-cache", "");
    let out = run.run();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let wl = &run.results()["checks"]["workload"];
    assert_eq!(wl["valid"], false);
    assert!(
        wl["evidence"][0]["explanation"]
            .as_str()
            .unwrap()
            .contains("longest linearizable prefix")
    );
}

#[test]
fn independent_tuples_are_split_by_key_on_request() {
    let tmp = tempfile::tempdir().unwrap();
    let edn = tmp.path().join("history.edn");
    // Two keys, each fine on its own; as one register they would clash.
    std::fs::write(
        &edn,
        "[{:type :invoke, :f :write, :value [1 5], :process 0}\n\
          {:type :ok, :f :write, :value [1 5], :process 0}\n\
          {:type :invoke, :f :write, :value [2 7], :process 1}\n\
          {:type :ok, :f :write, :value [2 7], :process 1}\n\
          {:type :invoke, :f :read, :value [1 nil], :process 0}\n\
          {:type :ok, :f :read, :value [1 5], :process 0}]\n",
    )
    .unwrap();
    let out = check(&[
        "--model",
        "cas-register",
        "--independent",
        edn.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("2 keys"), "{}", stdout(&out));
}
