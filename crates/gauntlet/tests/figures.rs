//! `gauntlet run` judging a command stage on the figures it prints: a
//! JSON pointer and a regex capture within bounds pass and are recorded;
//! below a floor the run holds naming the figure; a figure that is not in
//! the output holds it too — never a pass for "not measured".

mod common;

use common::{Bench, explain, read_json, stderr};

/// A plan whose one command prints `output` and is judged on two figures.
fn plan(output: &str) -> String {
    format!(
        r#"[[stage]]
name = "tool"
kind = "command"
command = ["printf", '%s\n', '{output}', 'throughput 9.43 Gbits/sec']
[[stage.figure]]
name = "read_iops"
json = "/jobs/0/read/iops"
min = 5000
unit = "iops"
[[stage.figure]]
name = "gbits"
regex = '([\d.]+) Gbits/sec'
min = 1
unit = "Gbit/s"
"#
    )
}

#[test]
fn figures_within_bounds_pass_and_are_recorded() {
    let bench = Bench::new();
    let path = bench.write_plan("ok.toml", &plan(r#"{"jobs":[{"read":{"iops":6100}}]}"#));
    let out = bench.gauntlet(&["run", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let run = bench.runs().into_iter().next().unwrap();
    let report = read_json(&bench.artifact_dir(&run).join("REPORT.json"));
    let text = report.to_string();
    assert!(
        text.contains("\"read_iops\"") && text.contains("6100"),
        "the figure is in the report: {report:#}"
    );
}

#[test]
fn a_figure_below_its_floor_or_missing_holds_the_run() {
    let bench = Bench::new();
    let path = bench.write_plan("low.toml", &plan(r#"{"jobs":[{"read":{"iops":4000}}]}"#));
    let out = bench.gauntlet(&["run", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "held: {}", explain(&out));
    assert!(
        stderr(&out).contains("read_iops = 4000 iops, below its min 5000 iops"),
        "{}",
        explain(&out)
    );

    let path = bench.write_plan("none.toml", &plan(r#"{"jobs":[]}"#));
    let out = bench.gauntlet(&["run", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "held: {}", explain(&out));
    assert!(
        stderr(&out).contains("figure read_iops not read: /jobs/0/read/iops names nothing"),
        "{}",
        explain(&out)
    );
}
