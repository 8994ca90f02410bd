//! A client program in the shell: answers, fails, and misbehaves on
//! request. Each misbehaviour is `info`, counted with the worker and the
//! line, and the program is replaced for the next op.

use std::sync::Arc;
use std::time::Duration;

use gauntlet_client::protocol::{Outcome, request};
use gauntlet_client::{Problems, ProgramClient};
use gauntlet_node::{LocalBackend, NodeSpec};
use serde_json::json;

/// Reads a key's value from a file per key under `$DIR`; `hang`, `garbage`
/// and `crash` keys misbehave.
const CLIENT: &str = r#"
while IFS= read -r line; do
  case "$line" in
    *'"key":"hang"'*) sleep 30 ;;
    *'"key":"garbage"'*) echo 'hello there' ;;
    *'"key":"crash"'*) echo 'dying' >&2; exit 3 ;;
    *'"key":"nope"'*) echo '{"type":"fail","error":"not found"}' ;;
    *'"f":"write"'*) echo '{"type":"ok"}' ;;
    *) echo "{\"type\":\"ok\",\"value\":$$}" ;;
  esac
done
"#;

fn client(problems: &Arc<Problems>) -> ProgramClient {
    let spec = NodeSpec::new("sh").arg("-c").arg(CLIENT);
    ProgramClient::new(
        7,
        LocalBackend::shared(),
        spec,
        Duration::from_millis(500),
        problems.clone(),
    )
}

#[tokio::test]
async fn answers_and_misbehaviour() {
    let problems = Arc::new(Problems::default());
    let mut c = client(&problems);
    let read = request("read", Some(&json!("k1")), None);
    let Outcome::Ok { value: pid } = c.invoke(&read).await else {
        panic!("a read answers ok")
    };
    assert_eq!(c.generation(), 1);
    // The same program answers the next op (its pid is the value).
    assert_eq!(c.invoke(&read).await, Outcome::Ok { value: pid.clone() });
    assert_eq!(
        c.invoke(&request("write", Some(&json!("k1")), Some(&json!(3))))
            .await,
        Outcome::Ok {
            value: serde_json::Value::Null
        }
    );
    assert_eq!(
        c.invoke(&request("read", Some(&json!("nope")), None)).await,
        Outcome::Fail {
            error: json!("not found")
        }
    );
    assert!(
        problems.counts().is_empty(),
        "fail is an answer, not a problem"
    );

    for key in ["garbage", "hang", "crash"] {
        let out = c.invoke(&request("read", Some(&json!(key)), None)).await;
        assert!(
            matches!(
                out,
                Outcome::Info {
                    problem: Some(_),
                    ..
                }
            ),
            "{key}: {out:?}"
        );
        // Replaced: the next op runs in a new program.
        let Outcome::Ok { value } = c.invoke(&read).await else {
            panic!("a new client answers after {key}")
        };
        assert_ne!(value, pid, "{key}: the old program answered");
    }
    assert_eq!(c.generation(), 4);
    let counts = problems.counts();
    assert_eq!(
        (counts["garbage"], counts["hang"], counts["crash"]),
        (1, 1, 1),
        "{counts:?}"
    );
    let kept = problems.kept();
    assert_eq!(kept.len(), 3);
    assert!(kept.iter().all(|k| k.worker == 7));
    assert!(kept[0].detail.contains("hello there"), "{:?}", kept[0]);
    assert!(kept[2].request.contains("crash"));
    assert!(
        kept[2].stderr.iter().any(|l| l.contains("dying")),
        "{:?}",
        kept[2]
    );
}

#[tokio::test]
async fn a_client_that_cannot_start_fails_the_op() {
    let problems = Arc::new(Problems::default());
    let spec = NodeSpec::new("/nonexistent/gauntlet-client");
    let mut c = ProgramClient::new(
        0,
        LocalBackend::shared(),
        spec,
        Duration::from_secs(1),
        problems.clone(),
    );
    let out = c.invoke(&request("read", Some(&json!("k")), None)).await;
    assert!(
        matches!(&out, Outcome::Fail { error } if error.as_str().unwrap().contains("could not start")),
        "{out:?}"
    );
    assert_eq!(problems.counts()["start"], 1);
}
