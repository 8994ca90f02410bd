//! A custom invariant over a cluster test's history: examples/cluster/lock.toml
//! runs our own lock server on a lab host under kills, and a checker
//! program (examples/python/one_holder.py) checks that no two processes
//! hold a lock at once. The forgetful server (the deliberate bug: holders
//! in memory only) fails with the checker's own evidence, both grants put
//! beside the kill between them; the durable one (`--set server_flags=`,
//! the negative control) passes. Each run is the shipped example with a
//! shorter time limit; they need root and python3, and say they skipped
//! otherwise.

mod common;

use common::{
    ClusterRun, example, explain, gauntlet, have, history_of, lab_allowed, read_json, stdout,
};

/// The example's text with `time_limit` shortened and the checker found
/// from wherever the text is written.
fn shortened(time_limit: &str) -> String {
    let text = common::example_variant(
        "cluster/lock.toml",
        &[("time_limit", &format!("\"{time_limit}\""))],
    );
    let checker = "${plan_dir}/../python/one_holder.py";
    assert!(text.contains(checker), "lock.toml runs {checker}");
    text.replace(
        checker,
        &example("python/one_holder.py").display().to_string(),
    )
}

#[test]
fn a_forgetful_lock_server_grants_held_locks_after_a_kill_and_a_durable_one_does_not() {
    if !lab_allowed() || !have("python3", "python3") {
        return;
    }
    let cluster = ClusterRun::new("lock");
    let text = shortened("12s");
    // The example programs are this gauntlet's own.
    let bin_dir = format!("bin_dir={}", gauntlet().parent().unwrap().display());

    // Forgetful: after a kill and a start, locks still held are granted
    // to others. The checker's evidence names both grants.
    let out = cluster.test("lock.toml", &text, &["--seed", "7", "--set", &bin_dir]);
    assert_eq!(out.status.code(), Some(1), "{}", explain(&out));
    let dir = cluster.latest();
    let results = read_json(&dir.join("results.json"));
    assert_eq!(results["valid"], false, "{results}");
    let check = &results["checks"]["one-holder"]["result"];
    assert_eq!(check["problem"], "two holders", "{check}");
    let evidence = check["evidence"].as_array().unwrap();
    assert!(!evidence.is_empty(), "{check}");
    for e in evidence {
        let (first, second) = (&e["first"]["process"], &e["second"]["process"]);
        assert!(
            first.is_u64() && second.is_u64() && first != second,
            "two processes: {e}"
        );
        assert!(e["first"]["index"].is_u64() && e["second"]["index"].is_u64());
        assert!(e["key"].is_u64(), "{e}");
    }
    let anomalies = std::fs::read_to_string(dir.join("checks/one-holder/anomalies.txt"))
        .expect("the grants are put beside the faults");
    assert!(anomalies.contains("kill locks-n1"), "{anomalies}");
    let marked = anomalies
        .lines()
        .find(|l| l.ends_with('◀'))
        .expect("the second grant is marked");
    assert!(marked.contains("acquire on key"), "{anomalies}");
    assert!(stdout(&out).contains("FAIL"), "{}", explain(&out));

    // Durable: the holders are on disk before a grant is answered, and
    // the restarted server still knows them.
    let out = cluster.test(
        "lock.toml",
        &text,
        &["--seed", "7", "--set", "server_flags=", "--set", &bin_dir],
    );
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let dir = cluster.latest();
    let results = read_json(&dir.join("results.json"));
    assert_eq!(results["valid"], true, "{results}");
    let h = history_of(&dir);
    let granted = h
        .iter()
        .filter(|o| o["f"] == "acquire" && o["type"] == "ok")
        .count();
    assert!(
        granted > 20,
        "too little was checked: {granted} ok acquires"
    );
    assert_eq!(
        results["checks"]["one-holder"]["result"]["acquired"],
        granted
    );
    let kills = h
        .iter()
        .filter(|o| o["process"] == "nemesis" && o["f"] == "kill")
        .count();
    assert!(kills >= 1, "the nemesis never killed the server");
    assert!(!dir.join("data").exists(), "data directories are removed");
}
