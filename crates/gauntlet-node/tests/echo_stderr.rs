//! `echo_stderr` hands each stderr line to the caller's sink, in order,
//! besides the log and the tail; the library itself prints nothing.

use std::sync::{Arc, Mutex};

use gauntlet_node::{LineSink, NodeProcess, NodeSpec};

#[test]
fn stderr_lines_go_to_the_sink_in_order() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let exit = runtime.block_on(async {
        let mut spec = NodeSpec::new("sh")
            .arg("-c")
            .arg("echo one >&2; printf 'two\\nthree' >&2");
        let sink = seen.clone();
        spec.echo_stderr = Some(LineSink::new(move |line| {
            sink.lock().unwrap().push(line.to_owned())
        }));
        NodeProcess::spawn(&spec).unwrap().wait().await
    });
    assert!(exit.success());
    // The last line has no newline and still comes, once the pipe closes.
    assert_eq!(*seen.lock().unwrap(), ["one", "two", "three"]);
    assert_eq!(exit.stderr_tail, ["one", "two", "three"]);
}
